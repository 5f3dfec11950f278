//! A per-connection rate limit on the inbound streams of a behaviour that offers no hook of
//! its own: Kademlia. `libp2p-kad` reports an inbound `FIND_NODE` without the asking peer and
//! keeps its connection handler private, so the node cannot count queries per peer at the
//! behaviour. It can at the connection: this wrapper sits between the swarm and the wrapped
//! behaviour's handler, and a stream negotiated while the connection's token bucket is empty is
//! dropped (the asker sees its stream closed) before the behaviour ever answers it.
//!
//! Over-rate streams are dropped and counted, not scored: an honest node that bootstraps
//! several times in a row must never be banned for it, and a flooder gains nothing, since the
//! bucket (not the peer) decides how much work its connection gets.

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::handler::{ConnectionEvent, ConnectionHandlerEvent, SubstreamProtocol};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Inbound Kademlia streams one connection may open at once: kad's own cap on concurrent
/// inbound streams per connection (32), so a burst the handler would accept anyway passes.
pub const KAD_INBOUND_BURST: u64 = 32;
/// Sustained inbound Kademlia streams per second per connection. An honest peer asks us
/// `FIND_NODE` once per lookup it runs, and a node runs one random walk every 5 s while short
/// of peers (plus one at start): about 0.2 a second. 2 a second is ten times that, and still
/// bounds a flooder to 2 replies of at most k = 20 peers (about 2 KB each) per second.
pub const KAD_INBOUND_PER_SEC: u64 = 2;

/// Token bucket in thousandths of a stream, so refill is integer maths.
#[derive(Debug)]
struct Bucket {
    milli_tokens: u64,
    last: Instant,
    burst: u64,
    per_sec: u64,
}

impl Bucket {
    fn new(burst: u64, per_sec: u64, now: Instant) -> Bucket {
        Bucket {
            milli_tokens: burst.saturating_mul(1000),
            last: now,
            burst,
            per_sec,
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed_ms =
            u64::try_from(now.saturating_duration_since(self.last).as_millis()).unwrap_or(u64::MAX);
        self.last = now;
        let refill = elapsed_ms.saturating_mul(self.per_sec);
        self.milli_tokens = self
            .milli_tokens
            .saturating_add(refill)
            .min(self.burst.saturating_mul(1000));
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

/// `inner` with every connection's inbound streams limited to `burst` at once and `per_sec`
/// sustained. Derefs to `inner`, so callers use it as the behaviour it wraps.
pub struct InboundLimited<B> {
    inner: B,
    burst: u64,
    per_sec: u64,
    refused: Arc<AtomicU64>,
}

impl<B> InboundLimited<B> {
    pub fn new(inner: B, burst: u64, per_sec: u64) -> InboundLimited<B> {
        InboundLimited {
            inner,
            burst,
            per_sec,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Streams dropped over the limit, on every connection so far (for `/metrics`).
    pub fn refused(&self) -> Arc<AtomicU64> {
        self.refused.clone()
    }

    fn wrap<H>(&self, inner: H, peer: PeerId) -> LimitedHandler<H> {
        LimitedHandler {
            inner,
            peer,
            bucket: Bucket::new(self.burst, self.per_sec, Instant::now()),
            refused: self.refused.clone(),
        }
    }
}

impl<B> Deref for InboundLimited<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.inner
    }
}

impl<B> DerefMut for InboundLimited<B> {
    fn deref_mut(&mut self) -> &mut B {
        &mut self.inner
    }
}

impl<B: NetworkBehaviour> NetworkBehaviour for InboundLimited<B> {
    type ConnectionHandler = LimitedHandler<THandler<B>>;
    type ToSwarm = B::ToSwarm;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner
            .handle_pending_inbound_connection(connection_id, local_addr, remote_addr)
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        local_addr: &Multiaddr,
        remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self.inner.handle_established_inbound_connection(
            connection_id,
            peer,
            local_addr,
            remote_addr,
        )?;
        Ok(self.wrap(h, peer))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        maybe_peer: Option<PeerId>,
        addresses: &[Multiaddr],
        effective_role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(
            connection_id,
            maybe_peer,
            addresses,
            effective_role,
        )
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection_id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role_override: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self.inner.handle_established_outbound_connection(
            connection_id,
            peer,
            addr,
            role_override,
            port_use,
        )?;
        Ok(self.wrap(h, peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        self.inner.on_swarm_event(event)
    }

    fn on_connection_handler_event(
        &mut self,
        peer_id: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.inner
            .on_connection_handler_event(peer_id, connection_id, event)
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

/// The wrapped behaviour's handler for one connection, with that connection's bucket.
pub struct LimitedHandler<H> {
    inner: H,
    peer: PeerId,
    bucket: Bucket,
    refused: Arc<AtomicU64>,
}

impl<H: ConnectionHandler> ConnectionHandler for LimitedHandler<H> {
    type FromBehaviour = H::FromBehaviour;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<
        ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>,
    > {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        self.inner.on_behaviour_event(event)
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(_) = &event {
            if !self.bucket.take(Instant::now()) {
                // Dropping the event drops the negotiated stream: the asker sees it closed.
                let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::debug!(peer = %self.peer, refused_total = n,
                        "inbound stream over the per-connection rate dropped");
                }
                return;
            }
        }
        self.inner.on_connection_event(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_bucket_passes_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(32, 2, t0);
        assert_eq!((0..100).filter(|_| b.take(t0)).count(), 32);
        // Half a second refills one token, a full second two; never more than the burst.
        assert!(b.take(t0 + Duration::from_millis(500)));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        let later = t0 + Duration::from_secs(3600);
        assert_eq!((0..100).filter(|_| b.take(later)).count(), 32);
        // A clock that goes backwards refills nothing and panics nowhere.
        assert!(!b.take(t0));
    }

    /// A real Kademlia client over TCP on loopback fires more `FIND_NODE` queries than the
    /// server's bucket holds: exactly the bucket's worth reach the server's Kademlia, every other
    /// stream is dropped and counted, and every one of the client's queries still ends (a
    /// dropped stream fails fast, it does not hang the asker).
    #[tokio::test]
    async fn a_kademlia_flood_gets_the_bucket_and_no_more() {
        use futures::StreamExt;
        use libp2p::kad;
        use libp2p::swarm::SwarmEvent;
        const BURST: u64 = 4;
        const QUERIES: usize = 20;
        let kad_behaviour = |key: &libp2p::identity::Keypair| {
            let id = key.public().to_peer_id();
            let mut config = kad::Config::new(libp2p::StreamProtocol::new("/otedama-test/kad/1"));
            config.set_query_timeout(Duration::from_secs(20));
            config.set_periodic_bootstrap_interval(None);
            let mut k = kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), config);
            k.set_mode(Some(kad::Mode::Server));
            k
        };
        fn swarm<B: NetworkBehaviour>(
            b: impl FnOnce(&libp2p::identity::Keypair) -> B,
        ) -> libp2p::Swarm<B> {
            libp2p::SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(
                    libp2p::tcp::Config::default(),
                    libp2p::noise::Config::new,
                    libp2p::yamux::Config::default,
                )
                .expect("tcp")
                .with_behaviour(b)
                .expect("behaviour")
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build()
        }
        // No refill: the server answers exactly BURST streams on the connection.
        let mut server =
            swarm(|k: &libp2p::identity::Keypair| InboundLimited::new(kad_behaviour(k), BURST, 0));
        let refused = server.behaviour().refused();
        let mut client = swarm(|k: &libp2p::identity::Keypair| kad_behaviour(k));
        server
            .listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
            .expect("listen");
        let addr = loop {
            if let SwarmEvent::NewListenAddr { address, .. } = server.select_next_some().await {
                break address;
            }
        };
        let server_id = *server.local_peer_id();
        client.behaviour_mut().add_address(&server_id, addr);
        for _ in 0..QUERIES {
            client.behaviour_mut().get_closest_peers(PeerId::random());
        }
        let (mut answered, mut finished) = (0usize, 0usize);
        let deadline = tokio::time::sleep(Duration::from_secs(60));
        tokio::pin!(deadline);
        while finished < QUERIES {
            tokio::select! {
                e = server.select_next_some() => {
                    if let SwarmEvent::Behaviour(kad::Event::InboundRequest {
                        request: kad::InboundRequest::FindNode { .. },
                    }) = e
                    {
                        answered += 1;
                    }
                }
                e = client.select_next_some() => {
                    if let SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed {
                        step, ..
                    }) = e
                    {
                        if step.last {
                            finished += 1;
                        }
                    }
                }
                _ = &mut deadline => panic!("only {finished} of {QUERIES} queries ended"),
            }
        }
        assert_eq!(
            answered as u64, BURST,
            "the server's Kademlia saw more than the bucket"
        );
        assert_eq!(refused.load(Ordering::Relaxed), QUERIES as u64 - BURST);
    }
}
