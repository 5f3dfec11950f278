//! Names that keep pools apart: every protocol and the gossip topic carry the consensus id, so
//! two nodes of different pools (another chain, preset or rule version) never negotiate a
//! stream, share a Kademlia table or a gossip mesh.

use libp2p::StreamProtocol;
use otedama_consensus::ConsensusId;

/// The pool-specific names of one node.
#[derive(Clone, Debug)]
pub struct Protocols {
    /// Identify's `protocol_version`: peers announcing another one are refused at once.
    pub identify: String,
    pub sync: StreamProtocol,
    pub kad: StreamProtocol,
    /// Gossipsub protocol id prefix (`/1.1.0` and `/1.0.0` are appended by gossipsub).
    pub gossip_prefix: String,
    /// Full shares (and found blocks): for nodes that cannot rebuild compact shares.
    pub topic: String,
    /// Compact shares (and found blocks): for synced nodes.
    pub compact_topic: String,
}

impl Protocols {
    pub fn new(id: &ConsensusId) -> Protocols {
        let id = id.to_string();
        Protocols {
            identify: format!("/otedama/{id}/1"),
            sync: StreamProtocol::try_from_owned(format!("/otedama/{id}/sync/1"))
                .unwrap_or(StreamProtocol::new("/otedama/invalid/sync/1")),
            kad: StreamProtocol::try_from_owned(format!("/otedama/{id}/kad/1"))
                .unwrap_or(StreamProtocol::new("/otedama/invalid/kad/1")),
            gossip_prefix: format!("/otedama/{id}/meshsub"),
            topic: format!("otedama/{id}/shares/1"),
            compact_topic: format!("otedama/{id}/shares-compact/1"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};

    #[test]
    fn pools_get_distinct_names() {
        let a = Protocols::new(
            &PoolParams::preset(Chain::LitecoinRegtest, Preset::Main).consensus_id(),
        );
        let b = Protocols::new(
            &PoolParams::preset(Chain::LitecoinRegtest, Preset::Mini).consensus_id(),
        );
        assert_ne!(a.sync, b.sync);
        assert_ne!(a.kad, b.kad);
        assert_ne!(a.topic, b.topic);
        assert_ne!(a.compact_topic, b.compact_topic);
        assert_ne!(a.topic, a.compact_topic);
        assert_ne!(a.identify, b.identify);
        assert!(a.sync.as_ref().starts_with("/otedama/"));
    }
}
