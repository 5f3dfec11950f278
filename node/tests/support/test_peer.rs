//! A peer of the pool run inside a test process: its own libp2p swarm (TCP + Noise + Yamux, the
//! node's real [`Behaviour`], a fresh identity) on a tokio runtime in a thread of its own, driven
//! through blocking methods. It speaks the protocols like a node but decides nothing itself: a
//! test (or a benchmark) makes it publish what it likes, ask what it likes and watch what comes
//! back.
//!
//! It takes shares on the full-share topic, as a node that cannot rebuild compact shares does,
//! and publishes on both share topics, so a node receives what it publishes whichever topic it
//! takes (docs/p2p.md, "Compact relay").
//!
//! Gossip it receives is recorded and never forwarded; requests from peers are answered by a
//! responder (by default: "no shares"), so a node never penalises it for silence. Besides the
//! node's behaviour it carries one outbound-only request-response behaviour on the sync
//! protocol that sends raw frame bodies, to hand a node requests that do not decode.
#![allow(dead_code)]

use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, identity::Keypair, noise, tcp, yamux, Multiaddr, PeerId, StreamProtocol};
use otedama_consensus::ConsensusId;
use otedama_node::p2p::behaviour::{Behaviour, BehaviourEvent, Limits};
use otedama_node::p2p::protocol::Protocols;
use otedama_node::p2p::wire::{
    read_frame, write_frame, Request, Response, MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES,
};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How a test peer answers the requests of the nodes it is connected to.
pub type Responder = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// The answer of a peer with no shares.
pub fn empty_responder() -> Responder {
    Arc::new(|req| match req {
        Request::GetHeaders { .. } => Response::Headers {
            tip: None,
            start_height: 0,
            ids: vec![],
        },
        Request::GetShares { .. } => Response::Shares { shares: vec![] },
        Request::GetBase => Response::Base {
            tip: None,
            base: None,
        },
    })
}

/// One gossip message received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The peer that sent it to us (not necessarily its author).
    pub source: PeerId,
    pub data: Vec<u8>,
}

/// What the swarm thread saw, read by the blocking methods.
#[derive(Default)]
struct State {
    connected: HashSet<PeerId>,
    /// Peers subscribed to one of the pool's share topics, with the topic.
    subscribed: HashSet<(PeerId, gossipsub::TopicHash)>,
    received: Vec<Received>,
}

type Reply<T> = std_mpsc::Sender<Result<T, String>>;

enum Command {
    Dial(Multiaddr, Reply<PeerId>),
    Publish(Vec<u8>, Reply<()>),
    /// Full form on the full topic, compact form on the compact topic.
    PublishShare(Vec<u8>, Vec<u8>, Reply<()>),
    Request(PeerId, Request, Reply<Response>),
    Raw(PeerId, Vec<u8>, Reply<Vec<u8>>),
}

/// The node's behaviour plus the raw sync sender.
#[derive(NetworkBehaviour)]
struct PeerBehaviour {
    node: Behaviour,
    raw: request_response::Behaviour<RawCodec>,
}

/// The sync protocol's framing around bytes the test chooses.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

impl request_response::Codec for RawCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> std::io::Result<Vec<u8>>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        read_frame(io, MAX_MESSAGE_BYTES).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res).await
    }
}

/// How long a dial may take before it counts as refused.
const DIAL_TIMEOUT: Duration = Duration::from_secs(20);
/// A request's limit: the node's own request timeout and a little more.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(25);

pub struct TestPeer {
    pub peer_id: PeerId,
    commands: Option<mpsc::UnboundedSender<Command>>,
    state: Arc<Mutex<State>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestPeer {
    /// A peer of the pool `consensus_id` with a fresh identity, answering "no shares".
    pub fn new(consensus_id: &ConsensusId) -> TestPeer {
        TestPeer::with_responder(consensus_id, empty_responder())
    }

    pub fn with_responder(consensus_id: &ConsensusId, responder: Responder) -> TestPeer {
        let key = Keypair::generate_ed25519();
        let peer_id = key.public().to_peer_id();
        let protocols = Protocols::new(consensus_id);
        let state = Arc::new(Mutex::new(State::default()));
        let (commands, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let st = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("test-peer-{peer_id}"))
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("tokio runtime: {e}")));
                        return;
                    }
                };
                rt.block_on(async move {
                    match build_swarm(key, &protocols) {
                        Ok(mut swarm) => {
                            let topic = IdentTopic::new(protocols.topic.clone());
                            let compact = IdentTopic::new(protocols.compact_topic.clone());
                            if let Err(e) = swarm.behaviour_mut().node.gossip.subscribe(&topic) {
                                let _ = ready_tx.send(Err(format!("subscribe: {e}")));
                                return;
                            }
                            let _ = ready_tx.send(Ok(()));
                            run(swarm, [topic, compact], rx, st, responder).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .expect("spawn the test peer's thread");
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("test peer did not start: {e}"),
            Err(_) => panic!("test peer thread died at start"),
        }
        TestPeer {
            peer_id,
            commands: Some(commands),
            state,
            thread: Some(thread),
        }
    }

    fn call<T>(
        &self,
        timeout: Duration,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, String> {
        let (tx, rx) = std_mpsc::channel();
        self.commands
            .as_ref()
            .ok_or("test peer stopped")?
            .send(make(tx))
            .map_err(|_| "test peer stopped".to_string())?;
        match rx.recv_timeout(timeout) {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// Dials `addr` and waits until the remote identified itself (so it runs its protocols
    /// with us); returns its peer id.
    pub fn connect(&self, addr: &Multiaddr) -> Result<PeerId, String> {
        self.call(DIAL_TIMEOUT, |r| Command::Dial(addr.clone(), r))
    }

    /// Dials `addr` again: `Err` when the remote refuses us (closes the connection before it
    /// identifies itself, or the dial fails).
    pub fn redial(&self, addr: &Multiaddr) -> Result<(), String> {
        self.connect(addr).map(|_| ())
    }

    /// Waits until `peer` is subscribed to a share topic, so a publish reaches it.
    pub fn wait_subscribed(&self, peer: PeerId, timeout: Duration) -> bool {
        self.wait(timeout, |s| s.subscribed.iter().any(|(p, _)| *p == peer))
    }

    /// Waits until no connection to `peer` is left.
    pub fn wait_disconnected(&self, peer: PeerId, timeout: Duration) -> bool {
        self.wait(timeout, |s| !s.connected.contains(&peer))
    }

    pub fn is_connected(&self, peer: PeerId) -> bool {
        self.lock().connected.contains(&peer)
    }

    /// Gossips `data` on both share topics (to every subscribed peer of each): a node gets it
    /// whichever topic it takes.
    pub fn publish(&self, data: Vec<u8>) -> Result<(), String> {
        self.call(Duration::from_secs(10), |r| Command::Publish(data, r))
    }

    /// Gossips a share as a node gossips its own: the full form on the full-share topic, the
    /// compact form on the compact one.
    pub fn publish_share(&self, share: &otedama_consensus::Share) -> Result<(), String> {
        let full = otedama_node::p2p::gossip::encode(share);
        let compact = otedama_node::p2p::gossip::encode_compact(share)
            .ok_or("the share has no compact form")?;
        self.call(Duration::from_secs(10), |r| {
            Command::PublishShare(full, compact, r)
        })
    }

    /// Asks `peer` a sync question.
    pub fn request(&self, peer: PeerId, request: Request) -> Result<Response, String> {
        self.call(REQUEST_TIMEOUT, |r| Command::Request(peer, request, r))
    }

    /// Sends `body` as a sync request frame, whatever it is; returns the raw answer.
    pub fn request_raw(&self, peer: PeerId, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.call(REQUEST_TIMEOUT, |r| Command::Raw(peer, body, r))
    }

    /// Gossip messages received so far.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait(&self, timeout: Duration, cond: impl Fn(&State) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if cond(&self.lock()) {
                return true;
            }
            if start.elapsed() >= timeout {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for TestPeer {
    fn drop(&mut self) {
        // Closing the command channel ends the swarm task; the runtime and swarm go with it.
        self.commands = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn build_swarm(
    key: Keypair,
    protocols: &Protocols,
) -> Result<libp2p::Swarm<PeerBehaviour>, String> {
    let limits = Limits {
        max_peers: 16,
        ..Limits::default()
    };
    let node = Behaviour::new(&key, protocols, limits, "otedama-test-peer".into())
        .map_err(|e| e.to_string())?;
    let raw = request_response::Behaviour::with_codec(
        RawCodec,
        [(protocols.sync.clone(), ProtocolSupport::Outbound)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(20)),
    );
    Ok(libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| e.to_string())?
        .with_behaviour(|_| PeerBehaviour { node, raw })
        .map_err(|e| e.to_string())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build())
}

/// The swarm task: executes commands, records what it sees, answers dials and requests.
struct Driver {
    swarm: libp2p::Swarm<PeerBehaviour>,
    /// The full-share topic (ours) and the compact one.
    topics: [IdentTopic; 2],
    state: Arc<Mutex<State>>,
    responder: Responder,
    /// Dials waiting for the remote to identify itself.
    dials: HashMap<ConnectionId, Reply<PeerId>>,
    requests: HashMap<OutboundRequestId, Reply<Response>>,
    raw: HashMap<OutboundRequestId, Reply<Vec<u8>>>,
}

async fn run(
    swarm: libp2p::Swarm<PeerBehaviour>,
    topics: [IdentTopic; 2],
    mut commands: mpsc::UnboundedReceiver<Command>,
    state: Arc<Mutex<State>>,
    responder: Responder,
) {
    use futures::StreamExt;
    let mut d = Driver {
        swarm,
        topics,
        state,
        responder,
        dials: HashMap::new(),
        requests: HashMap::new(),
        raw: HashMap::new(),
    };
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                Some(cmd) => d.on_command(cmd),
                None => break,
            },
            ev = d.swarm.select_next_some() => d.on_event(ev),
        }
    }
}

impl Driver {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Dial(addr, reply) => {
                let opts = DialOpts::unknown_peer_id().address(addr).build();
                let id = opts.connection_id();
                match self.swarm.dial(opts) {
                    Ok(()) => {
                        self.dials.insert(id, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(format!("dial: {e}")));
                    }
                }
            }
            Command::Publish(data, reply) => {
                let [full, compact] = self.topics.clone();
                let _ = reply.send(self.publish_each([(full, data.clone()), (compact, data)]));
            }
            Command::PublishShare(full_data, compact_data, reply) => {
                let [full, compact] = self.topics.clone();
                let _ = reply.send(self.publish_each([(full, full_data), (compact, compact_data)]));
            }
            Command::Request(peer, request, reply) => {
                let sync = &mut self.swarm.behaviour_mut().node.sync;
                let id = sync.send_request(&peer, Ok(request));
                self.requests.insert(id, reply);
            }
            Command::Raw(peer, body, reply) => {
                let id = self.swarm.behaviour_mut().raw.send_request(&peer, body);
                self.raw.insert(id, reply);
            }
        }
    }

    /// Publishes each message on its topic: `Ok` when at least one topic had a subscriber to
    /// send to.
    fn publish_each(&mut self, messages: [(IdentTopic, Vec<u8>); 2]) -> Result<(), String> {
        let mut r = Err("no topic".to_string());
        for (topic, data) in messages {
            match self.swarm.behaviour_mut().node.gossip.publish(topic, data) {
                Ok(_) => r = Ok(()),
                Err(e) if r.is_err() => r = Err(format!("publish: {e}")),
                Err(_) => {}
            }
        }
        r
    }

    fn on_event(&mut self, ev: SwarmEvent<PeerBehaviourEvent>) {
        match ev {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.lock().connected.insert(peer_id);
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                cause,
                ..
            } => {
                if num_established == 0 {
                    let mut s = self.lock();
                    s.connected.remove(&peer_id);
                    s.subscribed.retain(|(p, _)| *p != peer_id);
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let why = cause.map_or("closed".to_string(), |c| c.to_string());
                    let _ = reply.send(Err(format!(
                        "{peer_id} closed the connection before identifying itself: {why}"
                    )));
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                error,
                ..
            } => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(format!("cannot connect: {error}")));
                }
            }
            SwarmEvent::Behaviour(PeerBehaviourEvent::Node(ev)) => self.on_node(ev),
            SwarmEvent::Behaviour(PeerBehaviourEvent::Raw(ev)) => self.on_raw(ev),
            _ => {}
        }
    }

    fn on_node(&mut self, ev: BehaviourEvent) {
        match ev {
            BehaviourEvent::Identify(identify::Event::Received {
                connection_id,
                peer_id,
                ..
            }) => {
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
            }
            BehaviourEvent::Gossip(gossipsub::Event::Subscribed { peer_id, topic })
                if self.topics.iter().any(|t| t.hash() == topic) =>
            {
                self.lock().subscribed.insert((peer_id, topic));
            }
            BehaviourEvent::Gossip(gossipsub::Event::Unsubscribed { peer_id, topic }) => {
                self.lock().subscribed.remove(&(peer_id, topic));
            }
            BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                self.lock().received.push(Received {
                    source: propagation_source,
                    data: message.data,
                });
                // Recorded, never forwarded.
                self.swarm
                    .behaviour_mut()
                    .node
                    .gossip
                    .report_message_validation_result(
                        &message_id,
                        &propagation_source,
                        MessageAcceptance::Ignore,
                    );
            }
            BehaviourEvent::Sync(request_response::Event::Message { message, .. }) => {
                match message {
                    request_response::Message::Request {
                        request, channel, ..
                    } => {
                        // Undecodable requests (a node never sends one) go unanswered.
                        if let Ok(request) = request {
                            let response = (self.responder)(&request);
                            let sync = &mut self.swarm.behaviour_mut().node.sync;
                            let _ = sync.send_response(channel, response);
                        }
                    }
                    request_response::Message::Response {
                        request_id,
                        response,
                    } => {
                        if let Some(reply) = self.requests.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                }
            }
            BehaviourEvent::Sync(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                if let Some(reply) = self.requests.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }

    fn on_raw(&mut self, ev: request_response::Event<Vec<u8>, Vec<u8>>) {
        match ev {
            request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                if let Some(reply) = self.raw.remove(&request_id) {
                    let _ = reply.send(Ok(response));
                }
            }
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.raw.remove(&request_id) {
                    let _ = reply.send(Err(error.to_string()));
                }
            }
            _ => {}
        }
    }
}
