//! `GetShares`: the bodies we have of the asked ids, in order; unknown ids are left out (the
//! asker tries another peer). Reads stop at the reply size limit.

use crate::p2p::wire::{Response, MAX_MESSAGE_BYTES, MAX_SHARES_PER_REQUEST};
use otedama_consensus::ShareHash;
use otedama_sharechain::Sharechain;

pub fn answer(chain: &Sharechain, ids: &[ShareHash]) -> Response {
    let mut shares = Vec::new();
    let mut bytes = 0usize;
    for id in ids.iter().take(MAX_SHARES_PER_REQUEST) {
        match chain.store().share(id) {
            Ok(Some(share)) => {
                let encoded = share.encode();
                if bytes + encoded.len() + 64 > MAX_MESSAGE_BYTES {
                    break;
                }
                bytes += encoded.len() + 4;
                shares.push(encoded);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%id, "cannot read a share a peer asked for: {e}");
            }
        }
    }
    Response::Shares { shares }
}
