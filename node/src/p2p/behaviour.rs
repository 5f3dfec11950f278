//! The swarm's behaviours and their configuration.

use super::gossip::{message_id, MAX_GOSSIP_MESSAGE};
use super::protocol::Protocols;
use super::wire::SyncCodec;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    allow_block_list, connection_limits, gossipsub, identify, identity::Keypair, kad, ping,
    request_response,
};
use std::time::Duration;

/// How long one sync request may take before it is retried elsewhere.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Streams one connection may have open for sync (each side).
pub const MAX_SYNC_STREAMS: usize = 16;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub limits: connection_limits::Behaviour,
    pub inbound: super::inbound::InboundGuard,
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub gossip: gossipsub::Behaviour,
    /// Rate-limited per connection ([`super::stream_limit`]): kad has no per-peer hook.
    pub kad: super::stream_limit::InboundLimited<kad::Behaviour<kad::store::MemoryStore>>,
    pub sync: request_response::Behaviour<SyncCodec>,
}

/// Gossipsub mesh degree: the peers each share is pushed to. 12 from the simulation
/// (docs/simulation.md, "Compact relay and the mesh"): with compact relay at 1000 nodes and
/// realistic latency, degree 8 / 10 / 12 / 16 gave 2.01 / 1.94 / 1.76 / 1.80 % stale shares on
/// main and 2.18 / 1.94 / 1.86 / 1.75 % on mini, at 1.4 / 1.75 / 2.1 / 2.8 kB/s a node. The
/// bandwidth budget is a quarter of what full-share relay at degree 8 cost (10.3 kB/s): 12 is
/// the largest degree within it, and beyond it the gain is inside the seed-to-seed spread.
pub const MESH_N: usize = 12;
/// Below this many mesh peers a heartbeat grafts more; above [`MESH_N_HIGH`] it prunes.
pub const MESH_N_LOW: usize = 8;
pub const MESH_N_HIGH: usize = 16;
/// Gossipsub heartbeat (mesh maintenance and IHAVE/IWANT repair), ms.
pub const MESH_HEARTBEAT_MS: u64 = 700;

/// Connection limits derived from `--max-peers`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_peers: u32,
    /// Outbound peers the node keeps; their slots are reserved
    /// ([`super::inbound::reserved_outbound`]).
    pub target_outbound: usize,
    pub inbound: super::inbound::InboundLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_peers: super::service::DEFAULT_MAX_PEERS,
            target_outbound: super::service::DEFAULT_TARGET_OUTBOUND,
            inbound: super::inbound::InboundLimits::default(),
        }
    }
}

/// Connections accepted beyond the inbound slots for a moment, so a newcomer can be weighed
/// against the peers it would replace (eviction) instead of being refused outright.
pub const EVICTION_SLACK: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[error("cannot configure {what}: {reason}")]
pub struct BehaviourError {
    what: &'static str,
    reason: String,
}

impl Behaviour {
    pub fn new(
        key: &Keypair,
        protocols: &Protocols,
        limits: Limits,
        agent: String,
    ) -> Result<Behaviour, BehaviourError> {
        let local = key.public().to_peer_id();
        let inbound_slots = super::inbound::inbound_slots(limits.max_peers, limits.target_outbound);
        let conn_limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(limits.max_peers + EVICTION_SLACK))
            .with_max_established_incoming(Some(inbound_slots + EVICTION_SLACK))
            .with_max_established_per_peer(Some(2))
            .with_max_pending_incoming(Some(limits.max_peers))
            .with_max_pending_outgoing(Some(limits.max_peers));

        let gossip_config = gossipsub::ConfigBuilder::default()
            .protocol_id_prefix(protocols.gossip_prefix.clone())
            // Held until the sharechain validated the share (NetEvent::Gossip).
            .validate_messages()
            .validation_mode(gossipsub::ValidationMode::Strict)
            .message_id_fn(|m: &gossipsub::Message| message_id(m.topic.as_str(), &m.data))
            .max_transmit_size(MAX_GOSSIP_MESSAGE + 1024)
            // A share is worth most in its first second: beat faster than the 1 s default so
            // IHAVE/IWANT repair happens within the share interval of mini pools. (The
            // simulation pushes to the whole mesh and loses nothing, so it cannot weigh the
            // heartbeat; it stays where it was.)
            .heartbeat_interval(Duration::from_millis(MESH_HEARTBEAT_MS))
            .mesh_n_low(MESH_N_LOW)
            .mesh_n(MESH_N)
            .mesh_n_high(MESH_N_HIGH)
            .mesh_outbound_min(2)
            .duplicate_cache_time(Duration::from_secs(120))
            .build()
            .map_err(|e| BehaviourError {
                what: "gossipsub",
                reason: e.to_string(),
            })?;
        let gossip = gossipsub::Behaviour::new(
            gossipsub::MessageAuthenticity::Signed(key.clone()),
            gossip_config,
        )
        .map_err(|e| BehaviourError {
            what: "gossipsub",
            reason: e.to_string(),
        })?;

        let mut kad_config = kad::Config::new(protocols.kad.clone());
        kad_config.set_query_timeout(Duration::from_secs(30));
        // The swarm task runs its own random walks (and only when peers are known).
        kad_config.set_periodic_bootstrap_interval(None);
        // Only routing is used (finding peers); records and provider entries that peers PUT are
        // never stored, so nobody can fill the node's memory through the DHT.
        kad_config.set_record_filtering(kad::StoreInserts::FilterBoth);
        let store = kad::store::MemoryStore::with_config(
            local,
            kad::store::MemoryStoreConfig {
                max_records: 0,
                max_value_bytes: 0,
                max_providers_per_key: 0,
                max_provided_keys: 0,
            },
        );
        let mut kad = kad::Behaviour::with_config(local, store, kad_config);
        // Every node serves the DHT: pools are small and run on reachable hosts (or loopback in
        // tests), where the automatic mode would wait for a confirmed external address.
        kad.set_mode(Some(kad::Mode::Server));

        let identify = identify::Behaviour::new(
            identify::Config::new(protocols.identify.clone(), key.public())
                .with_agent_version(agent)
                .with_interval(Duration::from_secs(300)),
        );
        let sync = request_response::Behaviour::with_codec(
            SyncCodec,
            [(
                protocols.sync.clone(),
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(REQUEST_TIMEOUT)
                .with_max_concurrent_streams(MAX_SYNC_STREAMS),
        );
        Ok(Behaviour {
            limits: connection_limits::Behaviour::new(conn_limits),
            inbound: super::inbound::InboundGuard::new(limits.inbound),
            blocked: allow_block_list::Behaviour::default(),
            identify,
            ping: ping::Behaviour::new(ping::Config::new()),
            gossip,
            kad: super::stream_limit::InboundLimited::new(
                kad,
                super::stream_limit::KAD_INBOUND_BURST,
                super::stream_limit::KAD_INBOUND_PER_SEC,
            ),
            sync,
        })
    }
}
