//! The swarm task: owns the libp2p swarm, peer scores, bans, rate limits and discovery. It
//! never touches the sharechain: validation and answers come from the sharechain task through
//! [`NetEvent`]s and [`SwarmCommand`]s.

use super::behaviour::{Behaviour, BehaviourError, BehaviourEvent, Limits};
use super::protocol::Protocols;
use super::scoring::{Admit, Offence, Scores, Verdict, BAN_DURATION};
use super::wire::{Request, Response, WireError};
use super::{Acceptance, NetEvent, PeerSummary, ShareTopic, SwarmCommand};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, kad, noise, ping, tcp, yamux, Multiaddr, PeerId, Swarm};
use otedama_consensus::ConsensusId;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

/// Gossip messages and peer requests waiting for the sharechain task; beyond it gossip is
/// ignored (not forwarded) and requests are answered `Busy`.
pub const NET_QUEUE: usize = 1024;
/// Outbound connections the node keeps by dialing discovered peers.
pub const DEFAULT_TARGET_OUTBOUND: usize = 8;
/// Default `--max-peers`.
pub const DEFAULT_MAX_PEERS: u32 = 50;
/// How often a random Kademlia walk looks for more peers (every 5 s while below target).
const WALK_EVERY: Duration = Duration::from_secs(30);
const WALK_EVERY_LOW: Duration = Duration::from_secs(5);
/// Idle connections are kept: gossip keeps them busy, and reconnecting costs a handshake.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

pub struct P2pConfig {
    pub key: Keypair,
    pub consensus_id: ConsensusId,
    pub listen: Vec<Multiaddr>,
    /// Listen where possible and warn about the rest (the default IPv4 and IPv6 wildcards: a
    /// host without IPv6 still serves IPv4); an address the operator named must work.
    pub listen_best_effort: bool,
    /// `--peer` addresses, dialed at start and whenever the node has no peers.
    pub bootstrap: Vec<Multiaddr>,
    /// Saved address book (peer id and its listen addresses).
    pub address_book: Vec<(PeerId, Vec<Multiaddr>)>,
    /// Bans that outlived the last run (peer, end in unix seconds).
    pub bans: Vec<(PeerId, u64)>,
    pub max_peers: u32,
    pub target_outbound: usize,
    /// Per-IP and per-subnet inbound limits (the eclipse defence, `p2p::inbound`).
    pub inbound_limits: super::inbound::InboundLimits,
}

#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    #[error("P2P transport: {0}")]
    Transport(String),
    #[error(transparent)]
    Behaviour(#[from] BehaviourError),
    #[error("cannot listen for peers on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
}

/// Counters for `/metrics` and `getstatus`.
#[derive(Debug, Default)]
pub struct P2pStats {
    pub peers_in: AtomicU64,
    pub peers_out: AtomicU64,
    pub gossip_received: AtomicU64,
    pub gossip_dropped: AtomicU64,
    pub requests_served: AtomicU64,
    pub requests_busy: AtomicU64,
    pub offences: AtomicU64,
    pub bans: AtomicU64,
    /// Inbound connections refused by the per-IP and per-subnet limits (before any handshake
    /// where possible), and inbound peers evicted to make room.
    pub inbound_refused_ip: AtomicU64,
    pub inbound_refused_subnet: AtomicU64,
    pub inbound_evicted: AtomicU64,
    /// Inbound Kademlia streams dropped over the per-connection rate
    /// ([`super::stream_limit`]); shared with the swarm's wrapper, which counts them.
    pub kad_inbound_refused: Arc<AtomicU64>,
    pub listen_addrs: Mutex<Vec<String>>,
}

/// The rest of the node's handle on the swarm task.
#[derive(Clone)]
pub struct P2pHandle {
    pub peer_id: PeerId,
    pub commands: mpsc::UnboundedSender<SwarmCommand>,
    pub stats: Arc<P2pStats>,
}

/// Where the swarm task sends what it hears.
pub struct NetSinks {
    /// Gossip (bounded: ignored when full).
    pub traffic: mpsc::Sender<NetEvent>,
    /// Peers' requests, in a queue of their own so that a flood of sync requests can never
    /// crowd out honest gossip (bounded: answered `Busy` when full).
    pub requests: mpsc::Sender<NetEvent>,
    /// Connection events and replies to our own requests (bounded by connections and our
    /// in-flight requests).
    pub control: mpsc::UnboundedSender<NetEvent>,
}

struct Conn {
    address: Multiaddr,
    outbound: bool,
    since: Instant,
    agent: String,
    rtt: Option<Duration>,
    /// When it last delivered a share that validated (eviction protects useful peers).
    last_share: Option<Instant>,
}

type Reply = Pin<
    Box<dyn std::future::Future<Output = (PeerId, ResponseChannel<Response>, Response)> + Send>,
>;

/// Bytes a reply puts on the wire (charged to the requester, `scoring::UPLOAD_BYTES`): the
/// shares' own bytes plus framing, without encoding the reply twice.
fn reply_bytes(response: &Response) -> u64 {
    match response {
        Response::Headers { ids, .. } => 64 + 32 * ids.len() as u64,
        Response::Shares { shares } => 8 + shares.iter().map(|s| s.len() as u64 + 4).sum::<u64>(),
        Response::Busy => 1,
        Response::Base { base, .. } => {
            64 + base
                .as_ref()
                .map_or(0, |b| (b.share.len() + b.info.len()) as u64 + 8)
        }
    }
}

struct Service {
    swarm: Swarm<Behaviour>,
    protocols: Protocols,
    /// Full shares; compact shares ([`ShareTopic`]): we subscribe to one at a time.
    topic: IdentTopic,
    compact_topic: IdentTopic,
    sinks: NetSinks,
    scores: Scores<PeerId>,
    conns: HashMap<PeerId, Conn>,
    outbound_requests: HashMap<OutboundRequestId, Request>,
    replies: FuturesUnordered<Reply>,
    stats: Arc<P2pStats>,
    bootstrap: Vec<Multiaddr>,
    target_outbound: usize,
    /// Inbound connections kept after eviction (`--max-peers` less the reserved outbound).
    inbound_slots: usize,
    last_walk: Option<Instant>,
    /// The share topic we are leaving and when we stop listening to it ([`TOPIC_OVERLAP`]).
    leaving: Option<(IdentTopic, Instant)>,
}

/// How long a node stays on the share topic it leaves after joining the other one. A peer
/// learns of our new subscription at once but keeps publishing on the old topic until it hears
/// the unsubscribe: without an overlap, a share it sends in that window is dropped here. Several
/// heartbeats (700 ms) plus an internet round trip.
pub const TOPIC_OVERLAP: Duration = Duration::from_secs(5);

/// Starts the swarm: listens, dials `--peer`s and the address book, and runs until `stop`.
pub fn start(
    config: P2pConfig,
    sinks: NetSinks,
    mut stop: watch::Receiver<bool>,
) -> Result<(P2pHandle, tokio::task::JoinHandle<()>), P2pError> {
    let protocols = Protocols::new(&config.consensus_id);
    let peer_id = config.key.public().to_peer_id();
    let agent = format!("otedama/{}", env!("CARGO_PKG_VERSION"));
    let limits = Limits {
        max_peers: config.max_peers,
        target_outbound: config.target_outbound,
        inbound: config.inbound_limits,
    };
    let inbound_slots =
        super::inbound::inbound_slots(config.max_peers, config.target_outbound) as usize;
    let behaviour = Behaviour::new(&config.key, &protocols, limits, agent)?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.key.clone())
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| P2pError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    let topic = IdentTopic::new(protocols.topic.clone());
    let compact_topic = IdentTopic::new(protocols.compact_topic.clone());
    // Full shares until the sharechain task says we are synced (`SwarmCommand::Subscribe`).
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| P2pError::Transport(format!("gossip subscription: {e}")))?;
    let mut listening = 0;
    for addr in &config.listen {
        match swarm.listen_on(addr.clone()) {
            Ok(_) => listening += 1,
            Err(e) if config.listen_best_effort => {
                warn!("cannot listen for peers on {addr} ({e}); going on without it")
            }
            Err(e) => {
                return Err(P2pError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })
            }
        }
    }
    if listening == 0 {
        if let Some(addr) = config.listen.first() {
            return Err(P2pError::Listen {
                addr: addr.clone(),
                reason: "no listen address could be used".into(),
            });
        }
    }
    for (peer, addrs) in &config.address_book {
        for a in addrs {
            swarm.behaviour_mut().kad.add_address(peer, a.clone());
        }
    }
    let (commands_tx, mut commands) = mpsc::unbounded_channel();
    let stats = Arc::new(P2pStats {
        kad_inbound_refused: swarm.behaviour().kad.refused(),
        ..P2pStats::default()
    });
    let mut service = Service {
        swarm,
        protocols,
        topic,
        compact_topic,
        sinks,
        scores: Scores::default(),
        conns: HashMap::new(),
        outbound_requests: HashMap::new(),
        replies: FuturesUnordered::new(),
        stats: stats.clone(),
        bootstrap: config.bootstrap,
        target_outbound: config.target_outbound,
        inbound_slots,
        last_walk: None,
        leaving: None,
    };
    info!(%peer_id, "P2P identity");
    let now_unix = unix_now();
    for (peer, until) in &config.bans {
        if *until > now_unix {
            service.scores.ban(
                *peer,
                Instant::now() + Duration::from_secs(until - now_unix),
            );
            service.swarm.behaviour_mut().blocked.block_peer(*peer);
        }
    }
    if !config.bans.is_empty() {
        info!(bans = config.bans.len(), "bans from the last run restored");
    }
    service.dial_bootstrap();
    for (peer, addrs) in config.address_book.iter().take(config.target_outbound) {
        service.dial_peer(*peer, addrs.clone());
    }
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                ev = service.swarm.select_next_some() => service.on_swarm_event(ev),
                Some(cmd) = commands.recv() => service.on_command(cmd),
                Some((peer, channel, response)) = service.replies.next(), if !service.replies.is_empty() => {
                    service.scores.charge_upload(peer, reply_bytes(&response), Instant::now());
                    let _ = service.swarm.behaviour_mut().sync.send_response(channel, response);
                }
                _ = tick.tick() => service.on_tick(),
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        info!("P2P stopped");
    });
    Ok((
        P2pHandle {
            peer_id,
            commands: commands_tx,
            stats,
        },
        task,
    ))
}

impl Service {
    /// Over the inbound slots (a newcomer got in through
    /// [`super::behaviour::EVICTION_SLACK`]): disconnects the
    /// least useful inbound peer, possibly the newcomer itself (`p2p::inbound`).
    fn evict_if_over(&mut self) {
        let inbound: Vec<super::inbound::Candidate> = self
            .conns
            .iter()
            .filter(|(_, c)| !c.outbound)
            .map(|(peer, c)| super::inbound::Candidate {
                peer: *peer,
                subnet: super::inbound::ip_of(&c.address).map(super::inbound::subnet_of),
                rtt: c.rtt,
                last_share: c.last_share,
                since: c.since,
            })
            .collect();
        if inbound.len() <= self.inbound_slots {
            return;
        }
        // Everyone protected: the youngest (the newcomer) goes.
        let victim = super::inbound::choose_eviction(&inbound)
            .or_else(|| inbound.iter().max_by_key(|c| c.since).map(|c| c.peer));
        if let Some(peer) = victim {
            info!(%peer, inbound = inbound.len(), slots = self.inbound_slots, "inbound slots full: evicting the least useful inbound peer");
            self.stats.inbound_evicted.fetch_add(1, Ordering::Relaxed);
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    fn outbound_count(&self) -> usize {
        self.conns.values().filter(|c| c.outbound).count()
    }

    fn dial_bootstrap(&mut self) {
        for addr in self.bootstrap.clone() {
            if let Err(e) = self.swarm.dial(addr.clone()) {
                warn!(%addr, "cannot dial peer: {e}");
            }
        }
    }

    fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        if peer == *self.swarm.local_peer_id()
            || self.conns.contains_key(&peer)
            || self.scores.is_banned(&peer, Instant::now())
            || addrs.is_empty()
        {
            return;
        }
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, "dial: {e}");
        }
    }

    fn ban(&mut self, peer: PeerId, duration: Duration, why: &str) {
        self.scores.ban(peer, Instant::now() + duration);
        // Kept across restarts: the sharechain task, the store's writer, records it.
        let _ = self.sinks.control.send(NetEvent::Banned {
            peer,
            until_unix: unix_now().saturating_add(duration.as_secs()),
        });
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        self.swarm.behaviour_mut().kad.remove_peer(&peer);
        self.stats.bans.fetch_add(1, Ordering::Relaxed);
        warn!(%peer, secs = duration.as_secs(), "peer banned: {why}");
    }

    fn penalise(&mut self, peer: PeerId, offence: Offence) {
        self.stats.offences.fetch_add(1, Ordering::Relaxed);
        let verdict = self.scores.penalise(peer, offence, Instant::now());
        debug!(%peer, offence = offence.label(), "peer penalised");
        if verdict == Verdict::Ban {
            self.ban(peer, BAN_DURATION, offence.label());
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if let Some((topic, at)) = self.leaving.take() {
            if now >= at {
                let _ = self.swarm.behaviour_mut().gossip.unsubscribe(&topic);
            } else {
                self.leaving = Some((topic, at));
            }
        }
        for peer in self.scores.expired_bans(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            let _ = self.sinks.control.send(NetEvent::Unbanned { peer });
            info!(%peer, "ban expired");
        }
        let below = self.outbound_count() < self.target_outbound;
        let every = if below { WALK_EVERY_LOW } else { WALK_EVERY };
        if self
            .last_walk
            .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.last_walk = Some(now);
            if self.conns.is_empty() {
                self.dial_bootstrap();
            }
            // A random walk: asking for the peers closest to a random id visits a different
            // part of the DHT each time and reports every peer met on the way.
            self.swarm
                .behaviour_mut()
                .kad
                .get_closest_peers(PeerId::random());
        }
    }

    fn on_command(&mut self, cmd: SwarmCommand) {
        match cmd {
            SwarmCommand::Publish(data) => {
                for topic in [self.topic.clone(), self.compact_topic.clone()] {
                    if let Err(e) = self
                        .swarm
                        .behaviour_mut()
                        .gossip
                        .publish(topic, data.clone())
                    {
                        debug!("not gossiped: {e}");
                    }
                }
            }
            SwarmCommand::PublishOn { topic, data } => {
                let topic = match topic {
                    ShareTopic::Full => self.topic.clone(),
                    ShareTopic::Compact => self.compact_topic.clone(),
                };
                // No subscriber of that topic among our peers, or already seen: nothing to do.
                if let Err(e) = self.swarm.behaviour_mut().gossip.publish(topic, data) {
                    debug!("share not gossiped: {e}");
                }
            }
            SwarmCommand::Subscribe(topic) => {
                let (on, off) = match topic {
                    ShareTopic::Full => (self.topic.clone(), self.compact_topic.clone()),
                    ShareTopic::Compact => (self.compact_topic.clone(), self.topic.clone()),
                };
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                if let Err(e) = gossip.subscribe(&on) {
                    warn!("cannot subscribe to the {topic:?} share topic: {e}");
                } else {
                    self.leaving = Some((off, Instant::now() + TOPIC_OVERLAP));
                }
            }
            SwarmCommand::Validation {
                msg_id,
                source,
                acceptance,
            } => {
                let a = match acceptance {
                    Acceptance::Accept => MessageAcceptance::Accept,
                    Acceptance::Ignore => MessageAcceptance::Ignore,
                    Acceptance::Reject => MessageAcceptance::Reject,
                };
                if a == MessageAcceptance::Accept {
                    if let Some(c) = self.conns.get_mut(&source) {
                        c.last_share = Some(Instant::now());
                    }
                }
                self.swarm
                    .behaviour_mut()
                    .gossip
                    .report_message_validation_result(&msg_id, &source, a);
            }
            SwarmCommand::Send { peer, request } => {
                let id = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_request(&peer, Ok(request.clone()));
                self.outbound_requests.insert(id, request);
            }
            SwarmCommand::Penalise { peer, offence } => self.penalise(peer, offence),
            SwarmCommand::Peers(reply) => {
                let now = Instant::now();
                let mut out: Vec<PeerSummary> = self
                    .conns
                    .iter()
                    .map(|(p, c)| PeerSummary {
                        peer_id: p.to_string(),
                        address: c.address.to_string(),
                        direction: if c.outbound { "out" } else { "in" },
                        agent: c.agent.clone(),
                        score: self.scores.score(*p, now),
                        ping_ms: c.rtt.map(|d| d.as_millis() as u64),
                        connected_secs: now.duration_since(c.since).as_secs(),
                    })
                    .collect();
                out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
                let _ = reply.send(out);
            }
            SwarmCommand::Dial { addr, reply } => {
                let r = self.swarm.dial(addr.clone()).map_err(|e| e.to_string());
                if r.is_ok() && !self.bootstrap.contains(&addr) && self.bootstrap.len() < 64 {
                    self.bootstrap.push(addr);
                }
                let _ = reply.send(r);
            }
            SwarmCommand::Ban {
                peer,
                duration,
                reply,
            } => {
                let was_connected = self.conns.contains_key(&peer);
                self.ban(peer, duration, "banned by the operator");
                let _ = reply.send(was_connected);
            }
        }
    }

    fn on_swarm_event(&mut self, ev: SwarmEvent<BehaviourEvent>) {
        match ev {
            SwarmEvent::NewListenAddr { address, .. } => {
                let full = address.clone().with(libp2p::multiaddr::Protocol::P2p(
                    *self.swarm.local_peer_id(),
                ));
                info!("P2P listening on {full}");
                if let Ok(mut l) = self.stats.listen_addrs.lock() {
                    l.push(full.to_string());
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if self.scores.is_banned(&peer_id, Instant::now()) {
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                if num_established.get() > 1 {
                    return;
                }
                let (address, outbound) = match &endpoint {
                    ConnectedPoint::Dialer { address, .. } => (address.clone(), true),
                    ConnectedPoint::Listener { send_back_addr, .. } => {
                        (send_back_addr.clone(), false)
                    }
                };
                if outbound {
                    self.stats.peers_out.fetch_add(1, Ordering::Relaxed);
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, address.clone());
                } else {
                    self.stats.peers_in.fetch_add(1, Ordering::Relaxed);
                }
                info!(peer = %peer_id, %address, direction = if outbound { "out" } else { "in" }, "peer connected");
                self.conns.insert(
                    peer_id,
                    Conn {
                        address,
                        outbound,
                        since: Instant::now(),
                        agent: String::new(),
                        rtt: None,
                        last_share: None,
                    },
                );
                if !outbound {
                    self.evict_if_over();
                }
                let _ = self
                    .sinks
                    .control
                    .send(NetEvent::PeerConnected { peer: peer_id });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                if let Some(c) = self.conns.remove(&peer_id) {
                    let counter = if c.outbound {
                        &self.stats.peers_out
                    } else {
                        &self.stats.peers_in
                    };
                    counter.fetch_sub(1, Ordering::Relaxed);
                    info!(peer = %peer_id, cause = ?cause.map(|c| c.to_string()), "peer disconnected");
                    self.scores.forget_if_clean(&peer_id);
                    let _ = self
                        .sinks
                        .control
                        .send(NetEvent::PeerDisconnected { peer: peer_id });
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                debug!(peer = ?peer_id, "cannot connect: {error}");
                if let Some(peer) = peer_id {
                    let _ = self.sinks.control.send(NetEvent::DialFailed { peer });
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                debug!("incoming connection failed: {error}");
                let guard = &self.swarm.behaviour().inbound;
                self.stats
                    .inbound_refused_ip
                    .store(guard.refused_ip, Ordering::Relaxed);
                self.stats
                    .inbound_refused_subnet
                    .store(guard.refused_subnet, Ordering::Relaxed);
            }
            SwarmEvent::Behaviour(ev) => self.on_behaviour_event(ev),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.protocols.identify {
                    warn!(peer = %peer_id, theirs = %info.protocol_version, "peer belongs to another pool (consensus id differs)");
                    self.penalise(peer_id, Offence::WrongPool);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                // Each one updates routing and the stored address book: rate-limited.
                match self.scores.admit_identify(peer_id, Instant::now()) {
                    Admit::Take => {}
                    Admit::Throttle => return,
                    Admit::Abuse => {
                        self.penalise(peer_id, Offence::Flood);
                        return;
                    }
                }
                if let Some(c) = self.conns.get_mut(&peer_id) {
                    c.agent = info.agent_version.chars().take(64).collect();
                }
                let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(16).collect();
                for a in &addrs {
                    self.swarm
                        .behaviour_mut()
                        .kad
                        .add_address(&peer_id, a.clone());
                }
                let _ = self.sinks.control.send(NetEvent::PeerAddrs {
                    peer: peer_id,
                    addrs,
                });
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                result: Ok(rtt),
                ..
            }) => {
                if let Some(c) = self.conns.get_mut(&peer) {
                    c.rtt = Some(rtt);
                }
            }
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.stats.gossip_received.fetch_add(1, Ordering::Relaxed);
                let source = propagation_source;
                match self.scores.admit_gossip(source, Instant::now()) {
                    Admit::Take => {}
                    // Over the rate: not taken, at no cost (an honest node bursts too).
                    Admit::Throttle => {
                        self.stats.gossip_dropped.fetch_add(1, Ordering::Relaxed);
                        self.validation(message_id, source, MessageAcceptance::Ignore);
                        return;
                    }
                    Admit::Abuse => {
                        self.stats.gossip_dropped.fetch_add(1, Ordering::Relaxed);
                        self.penalise(source, Offence::Flood);
                        self.validation(message_id, source, MessageAcceptance::Ignore);
                        return;
                    }
                }
                let topic = if message.topic == self.compact_topic.hash() {
                    ShareTopic::Compact
                } else {
                    ShareTopic::Full
                };
                let ev = NetEvent::Gossip {
                    peer: source,
                    msg_id: message_id.clone(),
                    topic,
                    data: message.data,
                };
                if self.sinks.traffic.try_send(ev).is_err() {
                    self.stats.gossip_dropped.fetch_add(1, Ordering::Relaxed);
                    self.validation(message_id, source, MessageAcceptance::Ignore);
                }
            }
            BehaviourEvent::Gossip(gossipsub::Event::GossipsubNotSupported { peer_id }) => {
                debug!(peer = %peer_id, "peer does not speak this pool's gossip");
            }
            BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => self.on_request(peer, request, channel),
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(request) = self.outbound_requests.remove(&request_id) {
                            let _ = self.sinks.control.send(NetEvent::Response {
                                peer,
                                request,
                                result: Ok(response),
                            });
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            }) => {
                if let Some(request) = self.outbound_requests.remove(&request_id) {
                    debug!(%peer, "sync request failed: {error}");
                    if matches!(error, request_response::OutboundFailure::Timeout) {
                        self.penalise(peer, Offence::Unresponsive);
                    }
                    let _ = self.sinks.control.send(NetEvent::Response {
                        peer,
                        request,
                        result: Err(error.to_string()),
                    });
                }
            }
            BehaviourEvent::Sync(request_response::Event::InboundFailure {
                peer, error, ..
            }) => {
                // Requests that do not decode arrive as `Err` requests (see `on_request`); what
                // fails here (a closed connection, our own timeout) is not the peer's fault.
                debug!(%peer, "inbound sync request failed: {error}");
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                result: kad::QueryResult::GetClosestPeers(Ok(ok)),
                ..
            }) => {
                for p in ok.peers {
                    if self.outbound_count() >= self.target_outbound {
                        break;
                    }
                    self.dial_peer(p.peer_id, p.addrs);
                }
            }
            BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, addresses, ..
            }) if self.outbound_count() < self.target_outbound => {
                self.dial_peer(peer, addresses.into_vec());
            }
            _ => {}
        }
    }

    fn validation(&mut self, id: gossipsub::MessageId, source: PeerId, a: MessageAcceptance) {
        self.swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(&id, &source, a);
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: Result<Request, WireError>,
        channel: ResponseChannel<Response>,
    ) {
        let request = match request {
            Ok(r) => r,
            Err(e) => {
                // Not answered: dropping the channel closes the stream.
                debug!(%peer, "undecodable sync request: {e}");
                self.penalise(peer, Offence::Malformed);
                return;
            }
        };
        // Over the rate the request is answered Busy, at no cost; far over it is an offence.
        let over_rate = match self.scores.admit_request(peer, Instant::now()) {
            Admit::Take => false,
            Admit::Throttle => true,
            Admit::Abuse => {
                self.penalise(peer, Offence::Flood);
                true
            }
        };
        let (tx, rx) = oneshot::channel();
        let queued = !over_rate
            && self
                .sinks
                .requests
                .try_send(NetEvent::Request {
                    peer,
                    request,
                    reply: tx,
                })
                .is_ok();
        if !queued {
            // Over its rate, or the sharechain task's queue is full: ask elsewhere or later.
            self.stats.requests_busy.fetch_add(1, Ordering::Relaxed);
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, Response::Busy);
            return;
        }
        self.stats.requests_served.fetch_add(1, Ordering::Relaxed);
        self.replies.push(Box::pin(async move {
            let response = rx.await.unwrap_or(Response::Busy);
            (peer, channel, response)
        }));
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
