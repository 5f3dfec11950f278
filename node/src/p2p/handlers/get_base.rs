//! `GetBase`: a trusted base for a peer that cannot connect to our chain because we pruned its
//! beginning (docs/consensus.md section 13): the best-chain share two windows below our tip with
//! its index entry, read from the store.

use super::tip_info;
use crate::p2p::wire::{BaseData, Response};
use otedama_sharechain::{codec, Sharechain};

pub fn answer(chain: &mut Sharechain) -> Response {
    let base = match chain.base_for_peer() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!("cannot read a base a peer asked for: {e}");
            None
        }
    };
    if let Some((share, _)) = &base {
        tracing::debug!(id = %share.id(), height = share.side.height, "serving a trusted base");
    }
    Response::Base {
        tip: tip_info(chain),
        base: base.map(|(share, info)| BaseData {
            share: share.encode(),
            info: codec::encode_info(&info),
        }),
    }
}
