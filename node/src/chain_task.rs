//! The sharechain task: the store's single owner. Inserts shares found by local miners and
//! received from peers, publishes every new tip to the job board, submits blocks, answers the
//! API and peers' requests, validates gossip before it is forwarded, and drives sync.

use crate::api::{ChainCounters, ChainQuery, ChainSummary};
use crate::p2p::address_book::{self, MAX_ADDRESS_BOOK};
use crate::p2p::forwarded::ForwardedForms;
use crate::p2p::handlers::{
    get_base, get_headers, get_shares, gossip_block, gossip_monero_block, gossip_share,
};
use crate::p2p::sync::SyncState;
use crate::p2p::wire::{Request, Response};
use crate::p2p::{gossip, Acceptance, NetEvent, Offence, ShareTopic, SwarmCommand, SyncStatus};
use crate::work_board::WorkBoard;
use libp2p::gossipsub::MessageId;
use libp2p::PeerId;
use otedama_consensus::validation::Severity;
use otedama_consensus::{ChainView, MemoryChain, Share, ShareHash};
use otedama_mining::board::TipWork;
use otedama_mining::job::FoundShare;
use otedama_sharechain::{BlockStatus, FoundBlock, InsertOutcome, Sharechain};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

/// Gossiped shares held while their missing parent or uncle is fetched.
pub const MAX_HELD_GOSSIP: usize = 256;
/// How long a held gossip message waits for its missing share before it is ignored (gossipsub
/// drops unvalidated messages from its cache after a few heartbeats anyway).
pub const HELD_GOSSIP_TTL: Duration = Duration::from_secs(3);
/// Gossiped shares from the future (our clock is behind the sender's) kept to be inserted when
/// their time comes; beyond this the oldest is dropped (sync fetches it later if it matters).
pub const MAX_FUTURE_SHARES: usize = 64;
/// Longest a share from the future is kept: one that is still early after this is not an
/// honest clock difference.
pub const FUTURE_SHARE_TTL: Duration = Duration::from_secs(600);
/// How often every peer is asked for its tip.
pub const PROBE_EVERY: Duration = Duration::from_secs(30);
/// How long sync must have said the same thing before the share topic follows it (compact
/// while synced, full otherwise): a peer's new tip can make us "syncing" for a moment, and
/// every switch re-forms the mesh.
pub const TOPIC_SETTLE: Duration = Duration::from_secs(5);

/// The P2P side of the sharechain task.
pub struct NetLink {
    pub traffic: mpsc::Receiver<NetEvent>,
    /// Peers' requests, apart from gossip (see `NetSinks::requests`).
    pub requests: mpsc::Receiver<NetEvent>,
    pub control: mpsc::UnboundedReceiver<NetEvent>,
    pub commands: mpsc::UnboundedSender<SwarmCommand>,
}

pub struct ChainTask {
    pub chain: Sharechain,
    pub board: WorkBoard,
    pub found: mpsc::Receiver<FoundShare>,
    /// Status changes of found blocks, from the submitter task ([`crate::block_submit`]).
    pub block_updates: mpsc::Receiver<FoundBlock>,
    /// Blocks peers found: how they are judged here, and the submitter they go to.
    pub peer_blocks: PeerBlocks,
    pub queries: mpsc::Receiver<ChainQuery>,
    pub events: broadcast::Sender<serde_json::Value>,
    pub counters: Arc<ChainCounters>,
    pub net: Option<NetLink>,
    pub sync_status: watch::Sender<SyncStatus>,
    /// Prune the store as the chain grows (`--no-prune` turns it off: an archive node).
    pub prune: bool,
}

struct Held {
    msg_id: MessageId,
    source: PeerId,
    since: Instant,
    /// The topic it came on: once the share is accepted, the other topic gets the share in
    /// its form too ([`republish`]).
    topic: ShareTopic,
}

/// Where a share came from, for logs and events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin<'a> {
    Local(&'a str),
    Gossip,
    Sync,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn tip_work(chain: &Sharechain) -> TipWork {
    match chain.tip_snapshot() {
        Some(snap) => TipWork {
            tip: Some(snap.tip.id),
            uncles: snap.uncle_ids(),
            payees: (snap.window.len() + 1 + snap.uncles.len()).min(u32::MAX as usize) as u32,
            view: Arc::new(snap),
        },
        None => TipWork {
            view: Arc::new(MemoryChain::new()),
            tip: None,
            uncles: vec![],
            payees: 1,
        },
    }
}

struct Runner {
    t: ChainTask,
    /// The swarm task's command queue (none when the node runs without P2P).
    commands: Option<mpsc::UnboundedSender<SwarmCommand>>,
    sync: SyncState,
    /// Our full node's recent tips, for the relay policy.
    parent_tips: crate::relay_policy::ParentTips,
    held: HashMap<ShareHash, Vec<Held>>,
    held_count: usize,
    /// The forms of shares whose messages we let gossipsub forward (each at most once).
    forwarded: ForwardedForms,
    /// Valid-looking shares whose timestamp is ahead of our clock, retried every tick.
    future: std::collections::VecDeque<(Share, Instant)>,
    /// Sync moved our best tip: gossip it once sync is idle, so peers that only talk to us
    /// learn of the better chain (they fetch what they miss).
    announce_tip: bool,
    last_probe: Instant,
    /// The share topic we take gossip on, and the other one sync has wanted since when.
    topic: ShareTopic,
    topic_wanted: Option<(ShareTopic, Instant)>,
}

impl ChainTask {
    pub async fn run(mut self, stop: watch::Receiver<bool>) {
        let net = self.net.take();
        let (traffic, requests, control, commands) = match net {
            Some(n) => (
                Some(n.traffic),
                Some(n.requests),
                Some(n.control),
                Some(n.commands),
            ),
            None => (None, None, None, None),
        };
        let mut r = Runner {
            t: self,
            commands,
            sync: SyncState::new(),
            parent_tips: Default::default(),
            held: HashMap::new(),
            held_count: 0,
            forwarded: ForwardedForms::default(),
            future: Default::default(),
            announce_tip: false,
            last_probe: Instant::now(),
            topic: ShareTopic::Full,
            topic_wanted: None,
        };
        r.run(traffic, requests, control, stop).await;
    }
}

impl Runner {
    async fn run(
        &mut self,
        traffic: Option<mpsc::Receiver<NetEvent>>,
        requests: Option<mpsc::Receiver<NetEvent>>,
        control: Option<mpsc::UnboundedReceiver<NetEvent>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // Without P2P the network branches are disabled (`has_net`); the receivers of closed
        // channels only stand in for them.
        let has_net = traffic.is_some();
        let mut traffic = traffic.unwrap_or_else(|| mpsc::channel(1).1);
        let mut requests = requests.unwrap_or_else(|| mpsc::channel(1).1);
        let mut control = control.unwrap_or_else(|| mpsc::unbounded_channel().1);
        loop {
            let found = tokio::select! {
                f = self.t.found.recv() => match f {
                    Some(f) => f,
                    None => break,
                },
                Some(q) = self.t.queries.recv() => { answer(&self.t.chain, q); continue; }
                Some(b) = self.t.block_updates.recv() => { self.on_block_update(b); continue; }
                Some(ev) = control.recv(), if has_net => { self.on_net(ev); continue; }
                // tokio::select! polls ready branches in random order: gossip and requests
                // each get their turn, neither can starve the other.
                Some(ev) = traffic.recv(), if has_net => { self.on_net(ev); continue; }
                Some(ev) = requests.recv(), if has_net => { self.on_net(ev); continue; }
                _ = tick.tick() => { self.on_tick(); continue; }
                _ = stop.wait_for(|s| *s) => break,
            };
            self.on_found(found);
        }
        info!("sharechain closed");
    }

    /// Holds a gossip message whose share waits for data (its verdict comes when the data
    /// arrives), or, when the held set is full or `ignore` says it must not be relayed, tells
    /// gossipsub to ignore it now.
    fn hold_or_ignore(
        &mut self,
        id: ShareHash,
        msg_id: MessageId,
        peer: PeerId,
        topic: ShareTopic,
        ignore: bool,
    ) {
        if ignore || self.held_count >= MAX_HELD_GOSSIP {
            self.send([SwarmCommand::Validation {
                msg_id,
                source: peer,
                acceptance: Acceptance::Ignore,
            }]);
        } else {
            self.held_count += 1;
            self.held.entry(id).or_default().push(Held {
                msg_id,
                source: peer,
                since: Instant::now(),
                topic,
            });
        }
    }

    fn send(&self, cmds: impl IntoIterator<Item = SwarmCommand>) {
        if let Some(commands) = &self.commands {
            for c in cmds {
                let _ = commands.send(c);
            }
        }
    }

    fn on_tick(&mut self) {
        self.publish_status();
        self.retry_future_shares();
        // Memory follows the window, not the chain's age (the store keeps the rest).
        let trimmed = self.t.chain.trim_memory();
        if trimmed > 0 {
            debug!(
                trimmed,
                loaded = self.t.chain.state().len(),
                "in-memory index trimmed"
            );
        }
        // The store follows it (one batch a window; `prune_if_due` logs what it deleted).
        if self.t.prune {
            if let Err(e) = self.t.chain.prune_if_due() {
                warn!("cannot prune the store: {e}");
            }
        }
        // Held gossip whose missing share never came: not forwarded.
        let now = Instant::now();
        let mut expired = Vec::new();
        self.held.retain(|_, v| {
            v.retain(|h| {
                let keep = now.duration_since(h.since) < HELD_GOSSIP_TTL;
                if !keep {
                    expired.push((h.msg_id.clone(), h.source));
                }
                keep
            });
            !v.is_empty()
        });
        self.held_count -= expired.len().min(self.held_count);
        self.send(
            expired
                .into_iter()
                .map(|(msg_id, source)| SwarmCommand::Validation {
                    msg_id,
                    source,
                    acceptance: Acceptance::Ignore,
                }),
        );
        // Gossip may have brought shares that sync was waiting for, or a peer may have
        // answered nothing: keep requests flowing.
        let mut cmds = self.sync.schedule(&self.t.chain);
        if now.duration_since(self.last_probe) >= PROBE_EVERY {
            self.last_probe = now;
            cmds.extend(self.sync.probe(&self.t.chain));
        }
        if self.announce_tip && self.sync.queued() == 0 && self.sync.inflight() == 0 {
            self.announce_tip = false;
            let tip = self.t.chain.best().map(|b| b.id);
            if let Some(Ok(Some(share))) = tip.map(|id| self.t.chain.store().share(&id)) {
                cmds.extend(publish_share(&share));
            }
        }
        self.send(cmds);
    }

    fn publish_status(&mut self) {
        let status = self.sync.status(&self.t.chain);
        self.follow_sync_topic(&status);
        self.t.sync_status.send_if_modified(|s| {
            if *s != status {
                *s = status;
                true
            } else {
                false
            }
        });
    }

    fn on_net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::PeerConnected { peer } => {
                let cmds = self.sync.peer_connected(peer, &self.t.chain);
                self.send(cmds);
            }
            NetEvent::PeerDisconnected { peer } => {
                let cmds = self.sync.peer_disconnected(&peer, &self.t.chain);
                self.send(cmds);
            }
            NetEvent::PeerAddrs { peer, addrs } => self.save_peer(peer, &addrs),
            NetEvent::DialFailed { peer } => self.dial_failed(peer),
            NetEvent::Banned { peer, until_unix } => {
                if let Err(e) = self.t.chain.store().put_ban(&peer.to_bytes(), until_unix) {
                    warn!(%peer, "cannot record the ban: {e}");
                }
            }
            NetEvent::Unbanned { peer } => {
                if let Err(e) = self.t.chain.store().remove_ban(&peer.to_bytes()) {
                    debug!(%peer, "cannot remove the ban record: {e}");
                }
            }
            NetEvent::Request { request, reply, .. } => {
                let response = match &request {
                    Request::GetHeaders { locator, max } => {
                        get_headers::answer(&mut self.t.chain, locator, *max)
                    }
                    Request::GetShares { ids } => get_shares::answer(&self.t.chain, ids),
                    Request::GetBase => get_base::answer(&mut self.t.chain),
                };
                let _ = reply.send(response);
            }
            NetEvent::Response {
                peer,
                request,
                result,
            } => {
                self.on_response(peer, request, result);
                self.publish_status();
            }
            NetEvent::Gossip {
                peer,
                msg_id,
                topic,
                data,
            } => self.on_gossip(peer, msg_id, topic, &data),
        }
    }

    fn on_response(&mut self, peer: PeerId, request: Request, result: Result<Response, String>) {
        let cmds = match (&request, result) {
            (
                Request::GetHeaders { max, .. },
                Ok(Response::Headers {
                    tip,
                    start_height,
                    ids,
                }),
            ) => self
                .sync
                .on_headers(peer, tip, start_height, ids, *max, &self.t.chain),
            (Request::GetShares { ids }, Ok(Response::Shares { shares })) => {
                match self
                    .sync
                    .on_shares(peer, ids, shares, &mut self.t.chain, unix_now())
                {
                    Ok(applied) => {
                        self.after_insert(&applied.outcomes, Origin::Sync);
                        applied.commands
                    }
                    Err(e) => {
                        warn!("cannot store synced shares: {e}");
                        vec![]
                    }
                }
            }
            (Request::GetBase, Ok(Response::Base { tip, base })) => {
                match self
                    .sync
                    .on_base(peer, tip, base, &mut self.t.chain, unix_now())
                {
                    Ok(applied) => {
                        self.after_insert(&applied.outcomes, Origin::Sync);
                        applied.commands
                    }
                    Err(e) => {
                        warn!("cannot store a trusted base: {e}");
                        vec![]
                    }
                }
            }
            (_, Ok(Response::Busy)) | (_, Err(_)) => {
                self.sync.on_failure(peer, &request, &self.t.chain)
            }
            (_, Ok(_)) => {
                // A reply of the wrong kind.
                let mut c = self.sync.on_failure(peer, &request, &self.t.chain);
                c.push(SwarmCommand::Penalise {
                    peer,
                    offence: Offence::Unrequested,
                });
                c
            }
        };
        self.send(cmds);
    }

    /// Compact relay while synced, full shares otherwise (docs/p2p.md, "Compact relay"):
    /// switches the subscription once sync has said the same for [`TOPIC_SETTLE`].
    fn follow_sync_topic(&mut self, status: &SyncStatus) {
        let want = if status.state == "synced" && self.t.chain.best().is_some() {
            ShareTopic::Compact
        } else {
            ShareTopic::Full
        };
        if want == self.topic {
            self.topic_wanted = None;
            return;
        }
        let now = Instant::now();
        match self.topic_wanted {
            Some((w, since)) if w == want && now.duration_since(since) >= TOPIC_SETTLE => {
                info!(topic = ?want, "taking shares on the {want:?} topic now");
                self.topic = want;
                self.topic_wanted = None;
                self.send([SwarmCommand::Subscribe(want)]);
            }
            Some((w, _)) if w == want => {}
            _ => self.topic_wanted = Some((want, now)),
        }
    }

    fn on_gossip(&mut self, peer: PeerId, msg_id: MessageId, topic: ShareTopic, data: &[u8]) {
        match data.first() {
            Some(&crate::p2p::GOSSIP_FOUND_BLOCK) => self.on_block_gossip(peer, msg_id, data),
            Some(&crate::p2p::GOSSIP_COMPACT_SHARE) => {
                self.on_compact_gossip(peer, msg_id, topic, data)
            }
            _ => {
                let result = gossip_share::handle(&mut self.t.chain, data, unix_now());
                self.on_share_gossip(peer, msg_id, topic, result);
            }
        }
    }

    /// A compact share: rebuilt from our window and judged like a full one, or, when we cannot
    /// rebuild it, held while the full share is fetched from the sender (no penalty: our view
    /// may be the one that differs; the full share is judged when it comes).
    fn on_compact_gossip(
        &mut self,
        peer: PeerId,
        msg_id: MessageId,
        topic: ShareTopic,
        data: &[u8],
    ) {
        let counters = &self.t.counters;
        counters.compact_received.fetch_add(1, Ordering::Relaxed);
        let result = match gossip_share::handle_compact(&mut self.t.chain, data, unix_now()) {
            Ok(gossip_share::CompactResult::Rebuilt(r)) => {
                counters.compact_rebuilt.fetch_add(1, Ordering::Relaxed);
                Ok(r)
            }
            Ok(gossip_share::CompactResult::Done(r)) => Ok(r),
            Ok(gossip_share::CompactResult::Fallback { id, why }) => {
                counters.compact_fallback.fetch_add(1, Ordering::Relaxed);
                debug!(%peer, %id, "compact share not rebuilt here ({why}): fetching it in full");
                self.hold_or_ignore(id, msg_id, peer, topic, false);
                let cmds = self.sync.fetch(peer, vec![id], &self.t.chain);
                self.send(cmds);
                return;
            }
            Err(e) => Err(e),
        };
        self.on_share_gossip(peer, msg_id, topic, result);
    }

    /// Decides a gossiped share (full, or rebuilt from its compact form) that came on `topic`.
    fn on_share_gossip(
        &mut self,
        peer: PeerId,
        msg_id: MessageId,
        topic: ShareTopic,
        result: Result<gossip_share::GossipResult, otedama_sharechain::StoreError>,
    ) {
        let result = match result {
            Ok(r) => r,
            Err(e) => {
                warn!("cannot store a gossiped share: {e}");
                self.send([SwarmCommand::Validation {
                    msg_id,
                    source: peer,
                    acceptance: Acceptance::Ignore,
                }]);
                return;
            }
        };
        if let Some(share) = &result.share {
            for o in &result.outcomes {
                if let InsertOutcome::Invalid { id, reason } = o {
                    if *id == share.id() {
                        warn!(%peer, %id, "peer gossiped an invalid share: {reason}");
                    }
                }
            }
        }
        self.after_insert(&result.outcomes, Origin::Gossip);
        // A share ahead of our clock is decided when its time comes.
        if let (Some(share), Some(InsertOutcome::Invalid { reason, .. })) =
            (&result.share, result.outcomes.first())
        {
            if reason.severity() == Severity::NotYet {
                if self.future.len() >= MAX_FUTURE_SHARES {
                    self.future.pop_front();
                }
                self.future.push_back((share.clone(), Instant::now()));
            }
        }
        // Relay policy (not consensus): a valid share that cannot be a block on our full node's
        // parent chain is kept but not forwarded, and costs its sender nothing.
        let not_relayed = result.share.as_ref().and_then(|share| {
            let now = Instant::now();
            let view = self.t.board.parent_view(self.t.chain.pool().chain);
            self.parent_tips.observe(view, now);
            self.parent_tips
                .judge(share, now)
                .err()
                .map(|why| (share.id(), why))
        });
        if let Some((id, why)) = &not_relayed {
            self.t
                .counters
                .shares_not_relayed
                .fetch_add(1, Ordering::Relaxed);
            debug!(%peer, %id, "valid share not relayed: {why}");
        }
        match result.verdict {
            gossip_share::Verdict::Done {
                acceptance,
                offence,
            } => {
                let acceptance = match (acceptance, &not_relayed) {
                    (Acceptance::Accept, Some(_)) => Acceptance::Ignore,
                    (a, _) => a,
                };
                let mut cmds = vec![SwarmCommand::Validation {
                    msg_id,
                    source: peer,
                    acceptance,
                }];
                if let (Acceptance::Accept, Some(share)) = (acceptance, &result.share) {
                    self.forwarded.insert(share.id(), topic);
                    cmds.extend(republish(share, topic));
                }
                if let Some(offence) = offence {
                    cmds.push(SwarmCommand::Penalise { peer, offence });
                }
                self.send(cmds);
            }
            // The other form of a share we accepted (or a copy gossipsub forgot): forwarded
            // the first time we see this form, when the share is one we relay at all.
            gossip_share::Verdict::Known { id } => {
                let acceptance = if not_relayed.is_none() && self.forwarded.insert(id, topic) {
                    debug!(%peer, %id, ?topic, "forwarding the other form of a known share");
                    Acceptance::Accept
                } else {
                    Acceptance::Ignore
                };
                self.send([SwarmCommand::Validation {
                    msg_id,
                    source: peer,
                    acceptance,
                }]);
            }
            gossip_share::Verdict::Held { id, missing } => {
                self.hold_or_ignore(id, msg_id, peer, topic, not_relayed.is_some());
                // Fetch what is missing from the sender, and ask for its headers: if it is far
                // ahead of us, sync takes over.
                let mut cmds = self.sync.fetch(peer, vec![missing], &self.t.chain);
                cmds.push(SwarmCommand::Send {
                    peer,
                    request: Request::GetHeaders {
                        locator: self.t.chain.locator().into_iter().take(64).collect(),
                        max: crate::p2p::wire::MAX_HEADERS as u16,
                    },
                });
                self.send(cmds);
            }
        }
    }

    /// Inserts the shares from the future whose time has come (a "not yet valid" share is
    /// decided later, never held against its sender).
    fn retry_future_shares(&mut self) {
        let now = Instant::now();
        let clock = unix_now();
        let max_future = self.t.chain.pool().max_future_secs;
        let mut due = Vec::new();
        self.future.retain(|(share, since)| {
            if share.side.timestamp <= clock.saturating_add(max_future) {
                due.push(share.clone());
                false
            } else {
                now.duration_since(*since) < FUTURE_SHARE_TTL
            }
        });
        for share in due {
            match self.t.chain.insert(share, clock) {
                Ok(outcomes) => self.after_insert(&outcomes, Origin::Gossip),
                Err(e) => warn!("cannot store a share from the future: {e}"),
            }
        }
    }

    /// A block a peer found: forwarded and handed to our full node when it is real (checked
    /// against our full node's tip, proof of work first); fakes cost the sender.
    fn on_block_gossip(&mut self, peer: PeerId, msg_id: MessageId, data: &[u8]) {
        let mut cmds = Vec::new();
        let acceptance = match &self.t.peer_blocks {
            PeerBlocks::Bitcoin { rules, submit } => {
                let template = self.t.board.bitcoin_template();
                match gossip_block::judge(data, template.as_deref(), rules, unix_now()) {
                    gossip_block::BlockVerdict::Submit(b) => {
                        let hash = b.hash;
                        info!(%peer, block = %hash, height = b.height, "a peer's node found a block: submitting it to ours too");
                        let pending = crate::block_submit::Pending {
                            hash,
                            height: b.height,
                            reward: b.reward,
                            time: unix_now(),
                            block: b.block,
                        };
                        if submit.try_send(pending).is_err() {
                            warn!(%peer, block = %hash, "block submission queue full: peer's block not submitted by us");
                        }
                        Acceptance::Accept
                    }
                    gossip_block::BlockVerdict::Drop {
                        acceptance,
                        offence,
                        why,
                    } => dropped_block(peer, acceptance, offence, &why, &mut cmds),
                }
            }
            PeerBlocks::Monero { hasher, submit } => {
                let work = self.t.board.monero_work();
                match gossip_monero_block::judge(data, work.as_deref(), &**hasher, unix_now()) {
                    gossip_monero_block::MoneroBlockVerdict::Submit(p) => {
                        let id = hex::encode(p.id);
                        info!(%peer, block = %id, height = p.height, "a peer's node found a block: submitting it to ours too");
                        if submit.try_send(p).is_err() {
                            warn!(%peer, block = %id, "block submission queue full: peer's block not submitted by us");
                        }
                        Acceptance::Accept
                    }
                    gossip_monero_block::MoneroBlockVerdict::Drop {
                        acceptance,
                        offence,
                        why,
                    } => dropped_block(peer, acceptance, offence, &why, &mut cmds),
                }
            }
        };
        cmds.push(SwarmCommand::Validation {
            msg_id,
            source: peer,
            acceptance,
        });
        self.send(cmds);
    }

    /// Records a peer we met (identify) in the address book, making room by evicting the entry
    /// least worth keeping when the book is full.
    fn save_peer(&mut self, peer: PeerId, addrs: &[libp2p::Multiaddr]) {
        let store = self.t.chain.store();
        let key = peer.to_bytes();
        // The whole book is read only when a new peer may need room.
        if store.peer(&key).ok().flatten().is_none() {
            let known = store.peers(MAX_ADDRESS_BOOK + 1).unwrap_or_default();
            if known.len() >= MAX_ADDRESS_BOOK {
                let entries: Vec<address_book::Entry> = known
                    .iter()
                    .filter_map(|(k, v)| address_book::Entry::decode(k, v))
                    .collect();
                if let Some(old) = address_book::evict(&entries) {
                    let _ = store.remove_peer(&old.peer.to_bytes());
                }
            }
        }
        let entry = address_book::Entry {
            peer,
            addrs: addrs.to_vec(),
            last_seen: unix_now(),
            failures: 0,
        };
        if let Err(e) = store.put_peer(&key, &entry.encode()) {
            debug!("cannot save peer address: {e}");
        }
    }

    /// A dial to a known peer failed: after a few in a row its entry is forgotten.
    fn dial_failed(&mut self, peer: PeerId) {
        let store = self.t.chain.store();
        let key = peer.to_bytes();
        let Some(mut entry) = store
            .peer(&key)
            .ok()
            .flatten()
            .and_then(|v| address_book::Entry::decode(&key, &v))
        else {
            return;
        };
        entry.failures = entry.failures.saturating_add(1);
        let result = if entry.failures >= address_book::MAX_DIAL_FAILURES {
            debug!(%peer, "address book: forgetting a peer that keeps failing");
            store.remove_peer(&key)
        } else {
            store.put_peer(&key, &entry.encode())
        };
        if let Err(e) = result {
            debug!("cannot update the address book: {e}");
        }
    }

    /// A share from a local miner. If it was also a block, the miner has already handed it to
    /// the submitter: nothing here can delay or stop that.
    fn on_found(&mut self, f: FoundShare) {
        let share = f.share;
        let id = share.id();
        let outcomes = match self.t.chain.insert(share.clone(), unix_now()) {
            Ok(o) => o,
            Err(e) => {
                warn!(%id, "cannot store share: {e}");
                return;
            }
        };
        self.after_insert(&outcomes, Origin::Local(&f.worker));
        let accepted = matches!(
            outcomes.first(),
            Some(InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. })
        );
        if accepted {
            self.send(publish_share(&share));
        }
    }

    /// Records a found block's new status (the store's single writer does the writing).
    fn on_block_update(&mut self, b: FoundBlock) {
        if let Err(e) = self.t.chain.store().put_found_block(&b) {
            warn!(block = %b.share, "cannot record found block: {e}");
        }
        match b.status {
            BlockStatus::Accepted | BlockStatus::Duplicate | BlockStatus::Inconclusive => {
                self.t.counters.blocks_found.fetch_add(1, Ordering::Relaxed);
            }
            BlockStatus::Rejected | BlockStatus::Stale => {
                self.t
                    .counters
                    .blocks_refused
                    .fetch_add(1, Ordering::Relaxed);
            }
            BlockStatus::Submitting => {}
        }
        let _ = self.t.events.send(json!({
            "type": "block",
            "hash": b.share.to_string(),
            "height": b.parent_height,
            "status": b.status.name(),
            "reason": b.reason,
        }));
    }

    /// Counts, logs and announces insert outcomes; publishes a new tip to the board; releases
    /// held gossip whose share got connected.
    fn after_insert(&mut self, outcomes: &[InsertOutcome], origin: Origin) {
        let mut new_tip = false;
        let worker = match origin {
            Origin::Local(w) => w,
            Origin::Gossip => "peer",
            Origin::Sync => "sync",
        };
        for o in outcomes {
            count(&self.t.counters, o);
            if let InsertOutcome::NewBest { id, .. } | InsertOutcome::SideChain { id } = o {
                if origin != Origin::Sync {
                    let _ = self.t.events.send(json!({
                        "type": "share",
                        "id": id.to_string(),
                        "height": self.t.chain.state().share_info(id).map(|i| i.height),
                        "best": matches!(o, InsertOutcome::NewBest { .. }),
                        "worker": worker,
                    }));
                }
                if let Some(held) = self.held.remove(id) {
                    self.held_count -= held.len().min(self.held_count);
                    // Released: gossipsub forwards each message on its topic; the other topic
                    // gets the share in its form from us.
                    let topics: Vec<ShareTopic> = [ShareTopic::Full, ShareTopic::Compact]
                        .into_iter()
                        .filter(|t| held.iter().any(|h| h.topic == *t))
                        .collect();
                    for t in &topics {
                        self.forwarded.insert(*id, *t);
                    }
                    let share = self.t.chain.store().share(id).ok().flatten();
                    let others: Vec<SwarmCommand> = share
                        .iter()
                        .flat_map(|s| topics.iter().flat_map(|t| republish(s, *t)))
                        .collect();
                    self.send(
                        held.into_iter()
                            .map(|h| SwarmCommand::Validation {
                                msg_id: h.msg_id,
                                source: h.source,
                                acceptance: Acceptance::Accept,
                            })
                            .chain(others),
                    );
                }
            }
            if let InsertOutcome::Invalid { id, .. } = o {
                if let Some(held) = self.held.remove(id) {
                    self.held_count -= held.len().min(self.held_count);
                    self.send(held.into_iter().flat_map(|h| {
                        [
                            SwarmCommand::Validation {
                                msg_id: h.msg_id,
                                source: h.source,
                                acceptance: Acceptance::Reject,
                            },
                            SwarmCommand::Penalise {
                                peer: h.source,
                                offence: Offence::InvalidShare,
                            },
                        ]
                    }));
                }
            }
            let quiet = origin == Origin::Sync;
            match o {
                InsertOutcome::NewBest { id, reorg_depth } => {
                    new_tip = true;
                    self.announce_tip |= quiet;
                    let height = self.t.chain.best().map_or(0, |b| b.height);
                    if quiet {
                        debug!(%id, height, "synced share: new best tip");
                    } else {
                        info!(%id, height, reorg_depth, worker, "share accepted: new best tip");
                    }
                }
                InsertOutcome::SideChain { id } if !quiet => {
                    info!(%id, worker, "share accepted on a side chain")
                }
                InsertOutcome::Orphan { id, missing } if !quiet => {
                    info!(%id, %missing, worker, "share waits for a missing share")
                }
                InsertOutcome::Duplicate { id } if !quiet => debug!(%id, worker, "duplicate share"),
                // Peers' invalid shares are logged with the peer where they arrive.
                InsertOutcome::Invalid { id, reason } if matches!(origin, Origin::Local(_)) => {
                    warn!(%id, worker, "share refused: {reason}")
                }
                _ => {}
            }
        }
        if new_tip {
            self.t.board.set_tip(tip_work(&self.t.chain));
        }
    }
}

/// Our own new share (or tip) for the network: the full form on the full topic, the compact
/// form on the compact topic; each reaches only the peers that took that topic.
fn publish_share(share: &Share) -> Vec<SwarmCommand> {
    let mut cmds = vec![SwarmCommand::PublishOn {
        topic: ShareTopic::Full,
        data: gossip::encode(share),
    }];
    if let Some(data) = gossip::encode_compact(share) {
        cmds.push(SwarmCommand::PublishOn {
            topic: ShareTopic::Compact,
            data,
        });
    }
    cmds
}

/// A share we accepted from `came_on`, for the other topic: gossipsub forwards the message on
/// its own topic, so the peers of the other one get the share from us in their form. From the
/// compact topic: the full share, for the nodes that cannot rebuild (syncing). From the full
/// topic: the compact form, for synced nodes, when the author did not publish one (a node of an
/// older version, a test peer); where it did, peers drop ours as a duplicate (same id).
fn republish(share: &Share, came_on: ShareTopic) -> Option<SwarmCommand> {
    match came_on {
        ShareTopic::Compact => Some(SwarmCommand::PublishOn {
            topic: ShareTopic::Full,
            data: gossip::encode(share),
        }),
        ShareTopic::Full => gossip::encode_compact(share).map(|data| SwarmCommand::PublishOn {
            topic: ShareTopic::Compact,
            data,
        }),
    }
}

fn count(c: &ChainCounters, o: &InsertOutcome) {
    let counter = match o {
        InsertOutcome::NewBest { .. } => &c.shares_new_best,
        InsertOutcome::SideChain { .. } => &c.shares_side,
        InsertOutcome::Orphan { .. } => &c.shares_orphan,
        InsertOutcome::Duplicate { .. } => &c.shares_duplicate,
        InsertOutcome::Invalid { .. } => &c.shares_invalid,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Shares over which the pool hashrate is estimated: about 20 minutes of 10 s shares.
const HASHRATE_SHARES: u64 = 120;

/// Answers one API question from the sharechain (in the owner task: reads only).
fn answer(chain: &Sharechain, q: ChainQuery) {
    let state = chain.state();
    match q {
        ChainQuery::Summary(reply) => {
            let best = chain.best().cloned();
            let pool_hashrate = best.as_ref().map_or(0.0, |b| {
                let from = b.height.saturating_sub(HASHRATE_SHARES);
                match state.ancestor_at(&b.id, from) {
                    Some(old) if b.timestamp > old.timestamp => {
                        let work = b.cumulative_work.0.saturating_sub(old.cumulative_work.0);
                        work as f64 / (b.timestamp - old.timestamp) as f64
                    }
                    _ => 0.0,
                }
            });
            let _ = reply.send(ChainSummary {
                best,
                shares: state.len(),
                orphans: chain.orphans().len(),
                pool_hashrate,
            });
        }
        ChainQuery::Shares {
            limit,
            before,
            reply,
        } => {
            let mut out = Vec::new();
            if let Some(best) = chain.best() {
                let mut h = before.map_or(best.height as i128, |b| b as i128 - 1);
                while h >= 0 && (out.len() as u64) < limit {
                    match state.ancestor_at(&best.id, h as u64) {
                        Some(i) => out.push(i.clone()),
                        None => break,
                    }
                    h -= 1;
                }
            }
            let _ = reply.send(out);
        }
        ChainQuery::Share { id, reply } => {
            let found = state.share_info(&id).map(|i| {
                let on_best = chain
                    .best()
                    .and_then(|b| state.ancestor_at(&b.id, i.height))
                    .is_some_and(|a| a.id == id);
                (i.clone(), on_best)
            });
            let _ = reply.send(found);
        }
        ChainQuery::Blocks {
            script,
            limit,
            reply,
        } => {
            let blocks = chain.store().found_blocks().unwrap_or_default();
            let out = blocks
                .into_iter()
                .take(limit)
                .map(|b| {
                    let ours = chain
                        .store()
                        .share(&b.share)
                        .ok()
                        .flatten()
                        .map_or(0, |s| s.paid_to(chain.pool(), &script));
                    (b, ours)
                })
                .collect();
            let _ = reply.send(out);
        }
        ChainQuery::Window(reply) => {
            let w = state.best_window().map_or((Vec::new(), 0), |w| {
                (w.iter().map(|(s, v)| (s.clone(), v)).collect(), w.total())
            });
            let _ = reply.send(w);
        }
    }
}

/// A gossiped block not relayed: a fake one costs its sender `offence`.
fn dropped_block(
    peer: PeerId,
    acceptance: Acceptance,
    offence: Option<Offence>,
    why: &str,
    cmds: &mut Vec<SwarmCommand>,
) -> Acceptance {
    if let Some(offence) = offence {
        warn!(%peer, "peer gossiped a fake block: {why}");
        cmds.push(SwarmCommand::Penalise { peer, offence });
    } else {
        debug!(%peer, "gossiped block not relayed: {why}");
    }
    acceptance
}

/// Where the blocks peers found go once this task judged them: the family's rules and its
/// submitter's queue.
pub enum PeerBlocks {
    Bitcoin {
        /// The full node's block rules.
        rules: otedama_consensus::block_check::BlockRules,
        submit: mpsc::Sender<crate::block_submit::Pending>,
    },
    Monero {
        /// The node's RandomX hasher (the prehash stage has the hash in its memo already).
        hasher: Arc<dyn otedama_consensus::pow::PowHasher>,
        submit: mpsc::Sender<crate::monero_submit::PendingMonero>,
    },
}
