//! Eclipse attempts against a real node: a victim V with `--max-peers 10` dials one honest peer
//! H; a dozen attacker identities then dial V. V keeps its own outbound connection to H (the
//! outbound slots are reserved), holds no more inbound peers than its inbound slots (newcomers
//! beyond them are evicted by the usefulness policy), and keeps following and relaying the
//! honest chain. A second victim applying the per-IP limit to loopback refuses all but
//! `MAX_INBOUND_PER_IP` connections from the attackers' one address, before any handshake.

#[path = "support/chains.rs"]
mod chains;
#[path = "support/test_peer.rs"]
mod test_peer;

use chains::{address, bin, grow, pool, seed, unix_now, CHAIN};
use libp2p::{Multiaddr, PeerId};
use otedama_consensus::testkit::make_share;
use otedama_consensus::MemoryChain;
use otedama_node::p2p::gossip;
use otedama_node::p2p::inbound::{inbound_slots, MAX_INBOUND_PER_IP};
use otedama_node::p2p::service::DEFAULT_TARGET_OUTBOUND;
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use serde_json::json;
use std::time::Duration;
use test_peer::TestPeer;

const WAIT: Duration = Duration::from_secs(20);
const ATTACKERS: usize = 12;

/// V's peers as (peer id, direction).
fn peers(n: &NodeProc) -> Vec<(String, String)> {
    n.call("getpeers", json!({}))
        .ok()
        .and_then(|v| {
            v["peers"].as_array().map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p["peer_id"].as_str().unwrap_or("").to_string(),
                            p["direction"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
        })
        .unwrap_or_default()
}

fn inbound(n: &NodeProc) -> usize {
    peers(n).iter().filter(|(_, d)| d == "in").count()
}

/// Attackers dial `v` (each a fresh identity); returns those whose dial got through.
fn attack(v: &NodeProc) -> Vec<TestPeer> {
    let addr: Multiaddr = v.multiaddr().parse().expect("multiaddr");
    (0..ATTACKERS)
        .map(|_| {
            let a = TestPeer::new(&pool().consensus_id());
            let _ = a.connect(&addr);
            a
        })
        .collect()
}

#[test]
fn attackers_cannot_take_the_outbound_peer_or_more_than_the_inbound_slots() {
    let pool = pool();
    let mut view = MemoryChain::new();
    let shares = grow(&mut view, None, 20, unix_now() - 20 * 10 - 60, 0, 5);
    let dir_h = NodeProc::fresh_dir("eclipse-h");
    let dir_v = NodeProc::fresh_dir("eclipse-v");
    seed(&dir_h, &shares);
    seed(&dir_v, &shares[..5]);
    let h = NodeProc::start_in(
        bin(),
        "eclipse-h",
        dir_h,
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 1),
        &[],
    );
    let v = NodeProc::start_in(
        bin(),
        "eclipse-v",
        dir_v,
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 2),
        &["--max-peers", "10", "--peer", &h.multiaddr()],
    );
    let h_id = h.peer_id();
    let v_id: PeerId = v.peer_id().parse().expect("peer id");
    v.wait_until(WAIT, "V syncs H's chain over its outbound link", |v| {
        v.best() == h.best()
    });

    let attackers = attack(&v);
    let slots = inbound_slots(10, DEFAULT_TARGET_OUTBOUND) as usize;
    v.wait_until(WAIT, "V is back within its inbound slots", |v| {
        inbound(v) <= slots
    });
    let ps = peers(&v);
    assert!(
        ps.contains(&(h_id.clone(), "out".to_string())),
        "V lost its outbound peer H: {ps:?}\n{}",
        v.log_text()
    );
    let evicted = v.metric("otedama_p2p_inbound_evicted_total").unwrap_or(0);
    assert!(
        evicted as usize >= ATTACKERS - slots,
        "{ATTACKERS} attackers into {slots} slots, only {evicted} evicted"
    );

    // The honest chain still flows: shares published to H reach V through its outbound link,
    // and V relays them on to the attackers it kept (it does not stop relaying). Gossipsub
    // forwards to the peers in V's mesh, which the kept attackers join at a heartbeat after
    // they connected (700 ms), and a share forwarded before that never reaches them (sync, not
    // gossip, repairs that for honest peers): so shares keep coming, as on a live pool, until
    // one of them is relayed, each after V followed the one before.
    let publisher = TestPeer::new(&pool.consensus_id());
    let h_addr: Multiaddr = h.multiaddr().parse().expect("multiaddr");
    let h_peer: PeerId = h_id.parse().expect("peer id");
    assert_eq!(publisher.connect(&h_addr), Ok(h_peer));
    assert!(publisher.wait_subscribed(h_peer, WAIT));
    let mut tip = shares.last().expect("shares").id();
    let relayed_by_v = |data: &[u8]| {
        attackers.iter().any(|a| {
            a.is_connected(v_id)
                && a.received()
                    .iter()
                    .any(|r| r.source == v_id && r.data == data)
        })
    };
    let started = std::time::Instant::now();
    let mut published = 0u32;
    let mut relayed = false;
    while !relayed && started.elapsed() < 3 * WAIT {
        let now = unix_now();
        let s =
            make_share(&pool, &view, Some(tip), 100 + published, now, vec![], 100).expect("share");
        view.validate_and_insert(&pool, &s, now).expect("valid");
        let data = gossip::encode(&s);
        publisher.publish(data.clone()).expect("publish");
        published += 1;
        tip = s.id();
        let want = tip.to_string();
        v.wait_until(WAIT, "V follows the honest chain under attack", |v| {
            v.best().1 == want
        });
        // V forwards after it validated the share, which is also when its tip moves: the copy
        // to the attackers may still be in flight when the tip is seen.
        relayed = eventually(Duration::from_secs(1), || relayed_by_v(&data));
    }
    assert!(
        relayed,
        "V relayed none of {published} shares to the inbound peers it kept\n{}",
        v.log_text()
    );
    let ps = peers(&v);
    assert!(ps.contains(&(h_id, "out".to_string())), "{ps:?}");
    assert_eq!(
        v.metric("otedama_p2p_bans_total"),
        Some(0),
        "an honest peer was banned"
    );
}

/// With the per-IP limit applied to loopback, attackers sharing one address get at most
/// `MAX_INBOUND_PER_IP` connections; the rest are refused before their handshake.
#[test]
fn one_address_gets_at_most_the_per_ip_limit() {
    let v = NodeProc::start(
        bin(),
        "eclipse-ip",
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 3),
        &["--p2p-limit-loopback"],
    );
    let _attackers = attack(&v);
    assert!(
        eventually(WAIT, || inbound(&v) <= MAX_INBOUND_PER_IP),
        "more than {MAX_INBOUND_PER_IP} inbound from one IP: {:?}",
        peers(&v)
    );
    assert!(inbound(&v) >= 1, "the first connections are accepted");
    let refused = v
        .metric("otedama_p2p_inbound_refused_ip_total")
        .unwrap_or(0);
    assert!(
        refused as usize >= ATTACKERS - MAX_INBOUND_PER_IP,
        "refused {refused}\n{}",
        v.log_text()
    );
}
