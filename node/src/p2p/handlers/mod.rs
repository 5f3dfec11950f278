//! One file per inbound message: each is a plain function of the sharechain and the message,
//! run by the sharechain task, testable without a swarm.

pub mod get_base;
pub mod get_headers;
pub mod get_shares;
pub mod gossip_block;
pub mod gossip_monero_block;
pub mod gossip_share;

use otedama_sharechain::Sharechain;

use super::wire::TipInfo;

/// Our best tip as peers see it.
pub fn tip_info(chain: &Sharechain) -> Option<TipInfo> {
    chain.best().map(|b| TipInfo {
        id: b.id,
        height: b.height,
        cumulative_work: b.cumulative_work.0,
    })
}
