//! `GetHeaders`: ids of our best chain after the peer's locator, and our tip (which is how a
//! peer learns whether we have more work than it).

use super::tip_info;
use crate::p2p::wire::{Response, MAX_HEADERS};
use otedama_consensus::ShareHash;
use otedama_sharechain::Sharechain;

pub fn answer(chain: &Sharechain, locator: &[ShareHash], max: u16) -> Response {
    let infos = chain.headers_after(locator, (max as usize).min(MAX_HEADERS));
    Response::Headers {
        tip: tip_info(chain),
        start_height: infos.first().map_or(0, |i| i.height),
        ids: infos.iter().map(|i| i.id).collect(),
    }
}
