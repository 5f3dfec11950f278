//! Inbound connection policy: the defence against eclipse attacks.
//!
//! An attacker who holds every connection of a node decides what it sees: it can hide the
//! honest chain and feed it its own. Three rules make that expensive:
//!
//! * **Reserved outbound slots** ([`reserved_outbound`]): inbound connections never take the
//!   slots of the peers the node chose itself, so a node always keeps its own picks, however many
//!   identities dial it.
//! * **Per-address limits** ([`InboundGuard`]): at most [`MAX_INBOUND_PER_IP`] inbound
//!   connections from one IP and [`MAX_INBOUND_PER_SUBNET`] from one /24 (IPv4) or /64 (IPv6), so
//!   fifty throwaway identities on one host or one rented block take a handful of slots, not all.
//! * **Eviction** ([`choose_eviction`]): when inbound slots are full a newcomer may still get in
//!   by evicting the least useful inbound peer, as Bitcoin Core does: peers with the lowest ping,
//!   those that recently delivered valid shares and the longest-connected are protected, and the
//!   victim comes from the subnet with the most connections. An attacker must be faster, more
//!   useful and older than the honest peers to keep a slot.
//!
//! The host itself (`127.0.0.1`, `::1`) is exempt from the per-address limits unless configured
//! otherwise: connections from it are the operator's own processes (a second node, tests).

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Inbound connections from one IP address: a host may run two or three nodes (each with up to
/// two connections to us while a redial overlaps), and no honest host needs more.
pub const MAX_INBOUND_PER_IP: usize = 4;
/// Inbound connections from one /24 (IPv4) or /64 (IPv6): the block a provider hands one
/// customer or a rented server range; twice the per-IP limit leaves room for a few honest
/// neighbours behind one provider.
pub const MAX_INBOUND_PER_SUBNET: usize = 8;
/// Peers protected from eviction for the lowest ping: good connectivity is what share relay
/// needs, and an attacker cannot fake a short round trip.
pub const PROTECT_BY_PING: usize = 4;
/// Peers protected for the most recent valid share they delivered first: useful peers.
pub const PROTECT_BY_SHARES: usize = 4;
/// Peers protected for how long they have been connected (Core protects half of what remains;
/// a fixed count keeps small `--max-peers` meaningful).
pub const PROTECT_BY_AGE: usize = 4;

/// The per-address limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLimits {
    pub per_ip: usize,
    pub per_subnet: usize,
    /// Connections from 127.0.0.1 and ::1 are counted like any other (else exempt).
    pub limit_loopback: bool,
}

impl Default for InboundLimits {
    fn default() -> Self {
        InboundLimits {
            per_ip: MAX_INBOUND_PER_IP,
            per_subnet: MAX_INBOUND_PER_SUBNET,
            limit_loopback: false,
        }
    }
}

/// Outbound slots no inbound connection may take: the node's target of outbound peers, but at
/// most half of `max_peers` so a small node still accepts inbound connections.
pub fn reserved_outbound(max_peers: u32, target_outbound: usize) -> u32 {
    (target_outbound as u32).min(max_peers / 2)
}

/// Inbound connections allowed: what the reserved outbound slots leave.
pub fn inbound_slots(max_peers: u32, target_outbound: usize) -> u32 {
    max_peers.saturating_sub(reserved_outbound(max_peers, target_outbound))
}

/// The network block an address belongs to: /24 for IPv4, /64 for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subnet {
    V4([u8; 3]),
    V6([u8; 8]),
}

pub fn subnet_of(ip: IpAddr) -> Subnet {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Subnet::V4([o[0], o[1], o[2]])
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => subnet_of(IpAddr::V4(v4)),
            None => {
                let o = v6.octets();
                let mut p = [0u8; 8];
                p.copy_from_slice(&o[..8]);
                Subnet::V6(p)
            }
        },
    }
}

/// The IP of a multiaddr (`/ip4/..` or `/ip6/..` first), if any.
pub fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// Counts established inbound connections per IP and subnet, and refuses a connection (before
/// its handshake where possible) that would exceed [`InboundLimits`].
pub struct InboundGuard {
    limits: InboundLimits,
    by_ip: HashMap<IpAddr, usize>,
    by_subnet: HashMap<Subnet, usize>,
    /// Inbound connections counted, with their address (to uncount them when they close).
    counted: HashMap<ConnectionId, IpAddr>,
    /// Connections refused, for `/metrics`.
    pub refused_ip: u64,
    pub refused_subnet: u64,
}

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum InboundRefused {
    #[error("{ip} already has {count} inbound connections (limit {limit})")]
    PerIp {
        ip: IpAddr,
        count: usize,
        limit: usize,
    },
    #[error("the subnet of {ip} already has {count} inbound connections (limit {limit})")]
    PerSubnet {
        ip: IpAddr,
        count: usize,
        limit: usize,
    },
}

impl InboundGuard {
    pub fn new(limits: InboundLimits) -> InboundGuard {
        InboundGuard {
            limits,
            by_ip: HashMap::new(),
            by_subnet: HashMap::new(),
            counted: HashMap::new(),
            refused_ip: 0,
            refused_subnet: 0,
        }
    }

    fn exempt(&self, ip: IpAddr) -> bool {
        !self.limits.limit_loopback
            && match ip {
                IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
                IpAddr::V6(v6) => v6 == std::net::Ipv6Addr::LOCALHOST,
            }
    }

    /// Whether one more inbound connection from `ip` fits.
    pub fn check(&mut self, ip: IpAddr) -> Result<(), InboundRefused> {
        if self.exempt(ip) {
            return Ok(());
        }
        let count = self.by_ip.get(&ip).copied().unwrap_or(0);
        if count >= self.limits.per_ip {
            self.refused_ip += 1;
            return Err(InboundRefused::PerIp {
                ip,
                count,
                limit: self.limits.per_ip,
            });
        }
        let count = self.by_subnet.get(&subnet_of(ip)).copied().unwrap_or(0);
        if count >= self.limits.per_subnet {
            self.refused_subnet += 1;
            return Err(InboundRefused::PerSubnet {
                ip,
                count,
                limit: self.limits.per_subnet,
            });
        }
        Ok(())
    }

    fn count(&mut self, id: ConnectionId, ip: IpAddr) {
        if self.exempt(ip) || self.counted.contains_key(&id) {
            return;
        }
        self.counted.insert(id, ip);
        *self.by_ip.entry(ip).or_default() += 1;
        *self.by_subnet.entry(subnet_of(ip)).or_default() += 1;
    }

    fn uncount(&mut self, id: ConnectionId) {
        let Some(ip) = self.counted.remove(&id) else {
            return;
        };
        if let Some(n) = self.by_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
        let subnet = subnet_of(ip);
        if let Some(n) = self.by_subnet.get_mut(&subnet) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_subnet.remove(&subnet);
            }
        }
    }
}

impl NetworkBehaviour for InboundGuard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        // Before the Noise handshake: a refused flood costs no crypto.
        match ip_of(remote) {
            Some(ip) => self.check(ip).map_err(ConnectionDenied::new),
            None => Ok(()),
        }
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Checked again: several handshakes from one address may have been pending at once.
        if let Some(ip) = ip_of(remote) {
            self.check(ip).map_err(ConnectionDenied::new)?;
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            // Counted only once every behaviour accepted the connection.
            FromSwarm::ConnectionEstablished(e) => {
                if let libp2p::core::ConnectedPoint::Listener { send_back_addr, .. } = e.endpoint {
                    if let Some(ip) = ip_of(send_back_addr) {
                        self.count(e.connection_id, ip);
                    }
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.uncount(connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// What eviction knows of one inbound peer.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub peer: PeerId,
    pub subnet: Option<Subnet>,
    pub rtt: Option<Duration>,
    /// When it last delivered a valid share first (gossip accepted from it).
    pub last_share: Option<Instant>,
    pub since: Instant,
}

/// The inbound peer to disconnect so a newcomer fits, or `None` when every candidate is
/// protected (the newcomer, one of the candidates, then goes). Core's rule, in short: protect the
/// lowest pings, the most recent share deliverers and the longest connected, then evict the
/// youngest peer of the most crowded subnet.
pub fn choose_eviction(candidates: &[Candidate]) -> Option<PeerId> {
    let mut left: Vec<&Candidate> = candidates.iter().collect();
    // Lowest ping first; unknown pings last (never measured: no evidence of a good link).
    left.sort_by_key(|c| (c.rtt.is_none(), c.rtt));
    left.drain(..PROTECT_BY_PING.min(left.len()));
    // Most recent share first; peers that never delivered one last.
    left.sort_by_key(|c| std::cmp::Reverse(c.last_share));
    let deliverers = left
        .iter()
        .take(PROTECT_BY_SHARES)
        .filter(|c| c.last_share.is_some())
        .count();
    left.drain(..deliverers);
    // Oldest first.
    left.sort_by_key(|c| c.since);
    left.drain(..PROTECT_BY_AGE.min(left.len()));
    if left.is_empty() {
        return None;
    }
    let mut per_subnet: HashMap<Option<Subnet>, usize> = HashMap::new();
    for c in &left {
        *per_subnet.entry(c.subnet).or_default() += 1;
    }
    // The most crowded subnet (ties: the one with the youngest member, as Core).
    let youngest_in = |s: &Option<Subnet>| {
        left.iter()
            .filter(|c| &c.subnet == s)
            .map(|c| c.since)
            .max()
    };
    let crowded = per_subnet
        .iter()
        .max_by(|a, b| {
            a.1.cmp(b.1)
                .then_with(|| youngest_in(a.0).cmp(&youngest_in(b.0)))
        })
        .map(|(s, _)| *s)?;
    left.iter()
        .filter(|c| c.subnet == crowded)
        .max_by_key(|c| c.since)
        .map(|c| c.peer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn subnets_are_slash_24_and_slash_64() {
        let a = subnet_of(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)));
        assert_eq!(a, subnet_of(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 200))));
        assert_ne!(a, subnet_of(IpAddr::V4(Ipv4Addr::new(203, 0, 114, 5))));
        let v6 = |s: &str| subnet_of(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()));
        assert_eq!(v6("2001:db8:1:2::1"), v6("2001:db8:1:2:ffff::9"));
        assert_ne!(v6("2001:db8:1:2::1"), v6("2001:db8:1:3::1"));
        // IPv4-mapped addresses count as their IPv4 block.
        assert_eq!(v6("::ffff:203.0.113.9"), a);
    }

    #[test]
    fn per_ip_and_per_subnet_limits_refuse_the_excess_and_free_on_close() {
        let mut g = InboundGuard::new(InboundLimits::default());
        let ip = |d: u8| IpAddr::V4(Ipv4Addr::new(198, 51, 100, d));
        let mut next = 0usize;
        let mut open = |g: &mut InboundGuard, ip: IpAddr| -> Option<ConnectionId> {
            g.check(ip).ok()?;
            let id = ConnectionId::new_unchecked(next);
            next += 1;
            g.count(id, ip);
            Some(id)
        };
        let first: Vec<_> = (0..MAX_INBOUND_PER_IP)
            .map(|_| open(&mut g, ip(1)).expect("under the per-IP limit"))
            .collect();
        assert!(matches!(g.check(ip(1)), Err(InboundRefused::PerIp { .. })));
        for d in 2..=(MAX_INBOUND_PER_SUBNET - MAX_INBOUND_PER_IP + 1) as u8 {
            open(&mut g, ip(d)).expect("under the subnet limit");
        }
        assert!(matches!(
            g.check(ip(99)),
            Err(InboundRefused::PerSubnet { .. })
        ));
        // Another subnet is unaffected; closing frees the slot.
        assert!(g.check(IpAddr::V4(Ipv4Addr::new(198, 51, 101, 1))).is_ok());
        g.uncount(first[0]);
        assert!(g.check(ip(99)).is_ok());
        assert_eq!((g.refused_ip, g.refused_subnet), (1, 1));
    }

    #[test]
    fn the_host_itself_is_exempt_unless_configured() {
        let mut g = InboundGuard::new(InboundLimits::default());
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for n in 0..100 {
            assert!(g.check(local).is_ok());
            g.count(ConnectionId::new_unchecked(n), local);
        }
        // Other loopback addresses are ordinary.
        let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7));
        for n in 0..MAX_INBOUND_PER_IP {
            assert!(g.check(other).is_ok());
            g.count(ConnectionId::new_unchecked(1000 + n), other);
        }
        assert!(g.check(other).is_err());
        let mut strict = InboundGuard::new(InboundLimits {
            limit_loopback: true,
            ..InboundLimits::default()
        });
        for n in 0..MAX_INBOUND_PER_IP {
            strict.count(ConnectionId::new_unchecked(n), local);
        }
        assert!(strict.check(local).is_err());
    }

    #[test]
    fn reserved_outbound_slots() {
        assert_eq!(reserved_outbound(50, 8), 8);
        assert_eq!(inbound_slots(50, 8), 42);
        assert_eq!(reserved_outbound(10, 8), 5);
        assert_eq!(inbound_slots(10, 8), 5);
        assert_eq!(inbound_slots(1, 8), 1);
    }

    fn candidate(
        _n: u8,
        subnet: u8,
        rtt_ms: Option<u64>,
        share_ago: Option<u64>,
        age: u64,
    ) -> Candidate {
        let now = Instant::now() + Duration::from_secs(100_000);
        Candidate {
            peer: PeerId::random(),
            subnet: Some(Subnet::V4([10, subnet, 0])),
            rtt: rtt_ms.map(Duration::from_millis),
            last_share: share_ago.map(|s| now - Duration::from_secs(s)),
            since: now - Duration::from_secs(age),
        }
    }

    #[test]
    fn eviction_protects_the_useful_and_picks_the_crowded_subnet() {
        let mut c = Vec::new();
        // Four honest, fast peers; four that delivered shares; four old ones.
        for i in 0..4 {
            c.push(candidate(i, 1, Some(10 + i as u64), None, 50));
        }
        for i in 0..4 {
            c.push(candidate(i, 2, Some(500), Some(5 + i as u64), 40));
        }
        for i in 0..4 {
            c.push(candidate(i, 3, Some(600), None, 90_000 + i as u64));
        }
        // Attackers: one crowded subnet, slow, useless, young.
        let attackers: Vec<Candidate> = (0..6)
            .map(|i| candidate(i, 9, Some(900), None, 10 + i as u64))
            .collect();
        c.extend(attackers.iter().cloned());
        // And one lone newcomer elsewhere.
        c.push(candidate(0, 7, None, None, 1));
        let victim = choose_eviction(&c).expect("someone is evictable");
        let youngest_attacker = attackers
            .iter()
            .min_by_key(|a| std::time::Instant::now() - a.since)
            .unwrap();
        assert!(attackers.iter().any(|a| a.peer == victim));
        assert_eq!(victim, youngest_attacker.peer);
        // With only protected peers, nobody is evicted.
        assert_eq!(choose_eviction(&c[..12]), None);
    }

    proptest! {
        /// Never a protected peer: the 4 lowest pings are never chosen.
        #[test]
        fn the_fastest_peers_are_never_evicted(
            rtts in proptest::collection::vec(proptest::option::of(1u64..2000), 1..40),
            subnets in proptest::collection::vec(0u8..5, 40),
        ) {
            let c: Vec<Candidate> = rtts.iter().enumerate()
                .map(|(i, r)| candidate(i as u8, subnets[i], *r, None, (i as u64) * 7 + 1))
                .collect();
            if let Some(v) = choose_eviction(&c) {
                let mut by_rtt: Vec<&Candidate> = c.iter().collect();
                by_rtt.sort_by_key(|c| (c.rtt.is_none(), c.rtt));
                let fastest: Vec<PeerId> = by_rtt.iter().take(PROTECT_BY_PING).map(|c| c.peer).collect();
                prop_assert!(!fastest.contains(&v));
                prop_assert!(c.len() > PROTECT_BY_PING);
            }
        }
    }
}
