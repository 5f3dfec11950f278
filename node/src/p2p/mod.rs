//! The pool as a network: a libp2p swarm (TCP + Noise + Yamux, identify, ping, connection
//! limits, allow/block list) with gossipsub for new shares, Kademlia for discovery and a
//! request-response sync protocol. See docs/p2p.md.
//!
//! Two tasks split the work so that the store keeps one owner:
//! - the swarm task ([`service`]) owns the network: connections, scores and bans, rate limits,
//!   discovery. It turns network input into [`NetEvent`]s and executes [`SwarmCommand`]s.
//! - the sharechain task ([`crate::chain_task`]) owns the store: it answers requests with the
//!   [`handlers`], validates gossiped shares before gossipsub may forward them, and drives
//!   [`sync`].

pub mod address_book;
pub mod behaviour;
pub mod forwarded;
pub mod gossip;
pub mod handlers;
pub mod identity;
pub mod inbound;
pub mod protocol;
pub mod scoring;
pub mod service;
pub mod stream_limit;
pub mod sync;
pub mod wire;

use libp2p::gossipsub::MessageId;
use libp2p::{Multiaddr, PeerId};
use std::time::Duration;
use tokio::sync::oneshot;
use wire::{Request, Response};

pub use scoring::Offence;

/// What the network tells the sharechain task.
#[derive(Debug)]
pub enum NetEvent {
    PeerConnected {
        peer: PeerId,
    },
    PeerDisconnected {
        peer: PeerId,
    },
    /// A gossiped share, held by gossipsub until the sharechain task says whether to forward.
    Gossip {
        peer: PeerId,
        msg_id: MessageId,
        /// The share topic it came on (gossipsub forwards it there).
        topic: ShareTopic,
        data: Vec<u8>,
    },
    /// A peer's question; the answer goes back through `reply`.
    Request {
        peer: PeerId,
        request: Request,
        reply: oneshot::Sender<Response>,
    },
    /// The answer (or failure) to one of our requests.
    Response {
        peer: PeerId,
        request: Request,
        result: Result<Response, String>,
    },
    /// Addresses a peer listens on (identify), for the address book.
    PeerAddrs {
        peer: PeerId,
        addrs: Vec<Multiaddr>,
    },
    /// A peer was banned until `until_unix`: to be kept across restarts.
    Banned {
        peer: PeerId,
        until_unix: u64,
    },
    /// A ban ended.
    Unbanned {
        peer: PeerId,
    },
    /// Dialing a known peer failed (its address book entry loses credit).
    DialFailed {
        peer: PeerId,
    },
}

/// What gossipsub should do with a held message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acceptance {
    /// Valid: forward to the mesh.
    Accept,
    /// Not forwarded, no penalty (duplicate, stale, unknown parent that never came).
    Ignore,
    /// Invalid: not forwarded, and gossipsub's own score of the source drops too.
    Reject,
}

/// What the sharechain task (and the API) ask of the swarm task.
#[derive(Debug)]
pub enum SwarmCommand {
    /// Gossip a message on both share topics (found blocks: every node takes one of them).
    Publish(Vec<u8>),
    /// Gossip a message on one share topic: a share's full form on [`ShareTopic::Full`], its
    /// compact form on [`ShareTopic::Compact`] (docs/p2p.md, "Compact relay").
    PublishOn {
        topic: ShareTopic,
        data: Vec<u8>,
    },
    /// Take shares on this topic only (and leave the other after
    /// [`service::TOPIC_OVERLAP`]): the node's capability, which peers learn from the
    /// subscription.
    Subscribe(ShareTopic),
    Validation {
        msg_id: MessageId,
        source: PeerId,
        acceptance: Acceptance,
    },
    Send {
        peer: PeerId,
        request: Request,
    },
    Penalise {
        peer: PeerId,
        offence: Offence,
    },
    /// Connected peers (API `getpeers`).
    Peers(oneshot::Sender<Vec<PeerSummary>>),
    /// Dial an address (API `addpeer`).
    Dial {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// Ban a peer for a while (API `banpeer`); it is disconnected at once.
    Ban {
        peer: PeerId,
        duration: Duration,
        reply: oneshot::Sender<bool>,
    },
}

/// One connected peer, as the API shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PeerSummary {
    pub peer_id: String,
    pub address: String,
    pub direction: &'static str,
    pub agent: String,
    pub score: i32,
    pub ping_ms: Option<u64>,
    pub connected_secs: u64,
}

/// Where sync stands, for logs and the API.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SyncStatus {
    /// "synced", "syncing" or "waiting" (peers claim more work but nothing is downloading).
    pub state: &'static str,
    pub best_height: u64,
    /// Highest tip height a connected peer claims (with more work than ours).
    pub target_height: u64,
    /// Shares inserted by this sync so far, and how many it expects in all.
    pub done: u64,
    pub total: u64,
    /// Shares per second over the sync so far.
    pub rate: f64,
    pub eta_secs: Option<u64>,
    pub peers: usize,
}

/// Gossip payload format versions (the first byte of every gossip message).
pub const GOSSIP_FULL_SHARE: u8 = 1;
/// A found parent-chain block, whole, for every node to submit to its own full node.
pub const GOSSIP_FOUND_BLOCK: u8 = 2;
/// A share without its payout outputs, rebuilt by the receiver from its own PPLNS window
/// (`otedama_consensus::share::compact`).
pub const GOSSIP_COMPACT_SHARE: u8 = 3;

/// The two share topics. A node subscribes to exactly one: [`ShareTopic::Compact`] while it is
/// synced (it holds the windows that rebuild compact shares), [`ShareTopic::Full`] otherwise.
/// Gossipsub delivers each topic's messages to that topic's subscribers only, so the
/// subscription is the capability: no handshake, no per-peer state, and a peer that changes
/// its mind re-subscribes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShareTopic {
    Full,
    Compact,
}
