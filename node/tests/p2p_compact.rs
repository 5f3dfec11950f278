//! Compact relay between real `otedama-node` processes over libp2p on 127.0.0.1 (no full node):
//! synced nodes take shares on the compact topic and rebuild them from their own windows; a node
//! that cannot rebuild one (it lacks an uncle that was gossiped before it joined, and sync only
//! fetches the best chain) asks the sender for the full share, at no cost to the sender, and
//! ends on the same tip and the same window as the others.

#[path = "support/chains.rs"]
mod chains;
#[path = "support/test_peer.rs"]
mod test_peer;

use chains::{address, bin, grow, pool, seed, unix_now, CHAIN};
use libp2p::{Multiaddr, PeerId};
use otedama_consensus::testkit::make_share;
use otedama_consensus::MemoryChain;
use otedama_node::p2p::service::TOPIC_OVERLAP;
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use serde_json::json;
use std::time::Duration;
use test_peer::TestPeer;

const WAIT: Duration = Duration::from_secs(60);
/// The log line of a node that switched to the compact topic (`chain_task`).
const ON_COMPACT: &str = "taking shares on the Compact topic now";

fn compact(n: &NodeProc, outcome: &str) -> u64 {
    n.metric(&format!(
        "otedama_compact_shares_total{{outcome=\"{outcome}\"}}"
    ))
    .unwrap_or(0)
}

fn has_share(n: &NodeProc, id: &otedama_consensus::ShareHash) -> bool {
    n.call("getshare", json!({"id": id.to_string()})).is_ok()
}

/// The last 50 shares of `n`'s best chain as the API shows them: ids, payees, work and uncles,
/// everything the window and so the payouts are made of.
fn window(n: &NodeProc) -> serde_json::Value {
    n.recent_shares(50)
}

#[test]
fn synced_nodes_relay_compact_and_a_node_that_cannot_rebuild_fetches_the_full_share() {
    let pool = pool();
    let mut view = MemoryChain::new();
    let now = unix_now();
    let shares = grow(&mut view, None, 30, now - 30 * 10 - 60, 0, 12);
    let dir_a = NodeProc::fresh_dir("cmp-a");
    let dir_b = NodeProc::fresh_dir("cmp-b");
    let dir_c = NodeProc::fresh_dir("cmp-c");
    for d in [&dir_a, &dir_b, &dir_c] {
        seed(d, &shares);
    }
    let a = NodeProc::start_in(
        bin(),
        "cmp-a",
        dir_a,
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 1),
        &[],
    );
    let b = NodeProc::start_in(
        bin(),
        "cmp-b",
        dir_b,
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 2),
        &["--peer", &a.multiaddr()],
    );
    for n in [&a, &b] {
        n.wait_until(WAIT, "synced: shares on the compact topic", |n| {
            n.log_text().contains(ON_COMPACT)
        });
    }
    // They leave the full topic after the overlap; until then a share comes in both forms.
    std::thread::sleep(TOPIC_OVERLAP + Duration::from_secs(1));

    // An outside author (a test peer: it publishes as a node publishes its own shares, full on
    // the full topic, compact on the compact one) gives A a share and a sibling of it.
    let author = TestPeer::new(&pool.consensus_id());
    let a_addr: Multiaddr = a.multiaddr().parse().expect("multiaddr");
    let a_id: PeerId = a.peer_id().parse().expect("peer id");
    assert_eq!(author.connect(&a_addr), Ok(a_id));
    assert!(author.wait_subscribed(a_id, WAIT));
    let tip = shares.last().expect("shares").id();
    let t = unix_now();
    let s1 = make_share(&pool, &view, Some(tip), 100, t, vec![], 100).expect("share");
    view.validate_and_insert(&pool, &s1, t).expect("valid");
    let uncle = make_share(&pool, &view, Some(tip), 101, t, vec![], 101).expect("sibling");
    view.validate_and_insert(&pool, &uncle, t).expect("valid");
    for s in [&s1, &uncle] {
        author.publish_share(s).expect("publish");
        let id = s.id();
        for n in [&a, &b] {
            n.wait_until(WAIT, "the share arrives", |n| has_share(n, &id));
        }
    }
    assert_eq!(b.best().1, s1.id().to_string());
    // B heard both from A, compact, and rebuilt them from its own window.
    assert!(
        compact(&b, "rebuilt") >= 2,
        "B rebuilt {}",
        compact(&b, "rebuilt")
    );
    assert_eq!(compact(&b, "fallback"), 0);

    // C joins later: sync brings it the best chain (s1), not the side share. Gossipsub's
    // message cache (5 heartbeats of 700 ms) must have forgotten the side share by then, or an
    // IHAVE could hand it to C.
    std::thread::sleep(Duration::from_secs(4));
    let dir_c_peer = ["--peer", &b.multiaddr()];
    let c = NodeProc::start_in(
        bin(),
        "cmp-c",
        dir_c,
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 3),
        &dir_c_peer,
    );
    let s1_id = s1.id().to_string();
    c.wait_until(WAIT, "C syncs to s1", |c| c.best().1 == s1_id);
    c.wait_until(WAIT, "C takes shares on the compact topic", |c| {
        c.log_text().contains(ON_COMPACT)
    });
    std::thread::sleep(TOPIC_OVERLAP + Duration::from_secs(1));
    assert!(
        !has_share(&c, &uncle.id()),
        "C got the side share before the test could withhold it\n{}",
        c.log_text()
    );

    // The next share includes the side share as an uncle: A and B rebuild it, C cannot (the
    // uncle's credit is in the window) and fetches it in full from B, then the uncle.
    let t = unix_now().max(t);
    let s2 = make_share(&pool, &view, Some(s1.id()), 102, t, vec![uncle.id()], 102).expect("s2");
    view.validate_and_insert(&pool, &s2, t).expect("valid");
    let rebuilt_b = compact(&b, "rebuilt");
    author.publish_share(&s2).expect("publish");
    let s2_id = s2.id().to_string();
    for n in [&a, &b, &c] {
        n.wait_until(WAIT, "every node ends on s2", |n| n.best().1 == s2_id);
    }
    assert!(compact(&b, "rebuilt") > rebuilt_b);
    assert!(
        eventually(WAIT, || compact(&c, "fallback") >= 1),
        "C never fell back\n{}",
        c.log_text()
    );
    assert!(compact(&c, "received") >= 1);
    assert!(has_share(&c, &uncle.id()), "C fetched the uncle too");
    // No penalty for the honest mismatch: nobody was penalised or banned.
    for n in [&a, &b, &c] {
        assert_eq!(
            n.metric("otedama_p2p_offences_total"),
            Some(0),
            "{}: {}",
            n.tag,
            n.log_text()
        );
    }
    // One chain, one window: what the payouts of the next share are computed from.
    let w = window(&a);
    assert!(w.as_array().is_some_and(|s| s.len() == 32), "{w}");
    assert_eq!(window(&b), w);
    assert_eq!(window(&c), w);
    eprintln!(
        "compact received/rebuilt/fallback: A {}/{}/{}, B {}/{}/{}, C {}/{}/{}",
        compact(&a, "received"),
        compact(&a, "rebuilt"),
        compact(&a, "fallback"),
        compact(&b, "received"),
        compact(&b, "rebuilt"),
        compact(&b, "fallback"),
        compact(&c, "received"),
        compact(&c, "rebuilt"),
        compact(&c, "fallback"),
    );
}
