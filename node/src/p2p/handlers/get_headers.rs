//! `GetHeaders`: ids of our best chain after the peer's locator, and our tip (which is how a
//! peer learns whether we have more work than it).

use super::tip_info;
use crate::p2p::wire::{Response, MAX_HEADERS};
use otedama_consensus::ShareHash;
use otedama_sharechain::Sharechain;

pub fn answer(chain: &mut Sharechain, locator: &[ShareHash], max: u16) -> Response {
    let (start_height, ids) = chain
        .best_ids_after(locator, (max as usize).min(MAX_HEADERS))
        .unwrap_or_else(|e| {
            tracing::warn!("cannot read headers a peer asked for: {e}");
            (0, Vec::new())
        });
    Response::Headers {
        tip: tip_info(chain),
        start_height,
        ids,
    }
}
