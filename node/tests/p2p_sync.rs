//! Sync between real `otedama-node` processes over libp2p on 127.0.0.1: a late joiner fetches
//! a long chain from two peers and survives one of them dying half-way; two partitions that
//! grew apart converge on the most-work chain when they reconnect.
//!
//! Chains are made here with the real share builder (SHA256d at regtest difficulty, so grinding
//! is instant) and written into each node's store before it starts; the nodes need no full node
//! to serve or sync shares.

#[path = "support/chains.rs"]
mod chains;

use chains::{address, bin, grow, grow_in, seed, seed_in, unix_now, CHAIN};
use otedama_consensus::{MemoryChain, Share};
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use serde_json::json;
use std::time::{Duration, Instant};

fn payout(n: u8) -> String {
    address("bcrt", n)
}

fn best_id(n: &NodeProc) -> String {
    n.best().1
}

/// A node that joins late syncs 12,000 shares from two peers; the first serving peer is killed
/// once a quarter has arrived, and the sync finishes from the other one.
#[test]
fn late_joiner_syncs_a_long_chain_and_survives_a_peer_dying() {
    const N: u64 = 12_000;
    let now = unix_now();
    let mut view = MemoryChain::new();
    let shares = grow(&mut view, None, N, now - N * 10 - 60, 0, 40);
    let tip = shares.last().unwrap().id().to_string();
    let dir_a = NodeProc::fresh_dir("sync-a");
    let dir_b = NodeProc::fresh_dir("sync-b");
    seed(&dir_a, &shares);
    seed(&dir_b, &shares);
    let mut a = NodeProc::start_in(bin(), "sync-a", dir_a, CHAIN, NO_FULL_NODE, &payout(1), &[]);
    let b = NodeProc::start_in(bin(), "sync-b", dir_b, CHAIN, NO_FULL_NODE, &payout(2), &[]);
    assert_eq!(best_id(&a), tip);
    assert_eq!(best_id(&b), tip);
    let started = Instant::now();
    let c = NodeProc::start(
        bin(),
        "sync-c",
        CHAIN,
        NO_FULL_NODE,
        &payout(3),
        &["--peer", &a.multiaddr(), "--peer", &b.multiaddr()],
    );
    let saw_syncing = std::cell::Cell::new(false);
    c.wait_until(
        Duration::from_secs(120),
        "a quarter of the chain arrives",
        |c| {
            let s = c.status();
            if s["sync"]["state"] == "syncing" {
                saw_syncing.set(true);
                let p = s["sync"]["progress"].as_f64().unwrap_or(-1.0);
                assert!((0.0..=1.0).contains(&p), "{s}");
            }
            s["best_share"]["height"].as_u64().unwrap_or(0) >= N / 4
        },
    );
    let killed_at = c.best().0;
    let served = |n: &NodeProc| n.metric("otedama_p2p_requests_served_total").unwrap_or(0);
    let served_by_a = served(&a);
    a.kill();
    c.wait_until(Duration::from_secs(180), "the sync finishes from B", |c| {
        let s = c.status();
        if s["sync"]["state"] == "syncing" {
            saw_syncing.set(true);
        }
        s["best_share"]["id"].as_str() == Some(tip.as_str())
    });
    let secs = started.elapsed().as_secs_f64();
    assert!(served_by_a > 0 || served(&b) > 0);
    eprintln!(
        "requests served by A before it was killed: {served_by_a}, by B in all: {}",
        served(&b)
    );
    eprintln!(
        "synced {N} shares in {secs:.2} s ({:.0} shares/s), serving peer killed at height {killed_at}",
        N as f64 / secs
    );
    let status = c.status();
    assert_eq!(status["best_share"]["height"], json!(N - 1));
    assert!(
        eventually(Duration::from_secs(10), || c.status()["sync"]["state"]
            == "synced"),
        "{}",
        c.status()
    );
    c.wait_until(
        Duration::from_secs(10),
        "the log says the sync finished",
        |c| c.log_text().contains("sync finished"),
    );
    assert!(c.log_text().contains("sync started"));
    eprintln!(
        "API showed state syncing during the sync: {}",
        saw_syncing.get()
    );
    // The synced node pays exactly what the serving node would: same window weights.
    let weights = |n: &NodeProc| n.recent_shares(50);
    assert_eq!(weights(&c), weights(&b));
}

/// Two groups of two nodes grow different branches from a common prefix; reconnected through
/// the cookie-guarded `addpeer`, all four converge on the branch with more work.
#[test]
fn partitions_converge_on_the_most_work_chain() {
    let now = unix_now();
    let start = now - 3000;
    let mut view = MemoryChain::new();
    let prefix = grow(&mut view, None, 60, start, 0, 40);
    let fork = prefix.last().unwrap().id();
    let t_fork = start + 600;
    let mut view_x = view.clone();
    let branch_x = grow(&mut view_x, Some(fork), 40, t_fork, 100, 40);
    let branch_y = grow(&mut view, Some(fork), 70, t_fork, 200, 40);
    let tip_x = branch_x.last().unwrap().id().to_string();
    let tip_y = branch_y.last().unwrap().id().to_string();
    let chain_x: Vec<Share> = prefix.iter().chain(&branch_x).cloned().collect();
    let chain_y: Vec<Share> = prefix.iter().chain(&branch_y).cloned().collect();

    let start_node = |tag: &str, shares: &[Share], n: u8, extra: &[&str]| {
        let dir = NodeProc::fresh_dir(tag);
        seed(&dir, shares);
        NodeProc::start_in(bin(), tag, dir, CHAIN, NO_FULL_NODE, &payout(n), extra)
    };
    let x1 = start_node("part-x1", &chain_x, 1, &[]);
    let x2 = start_node("part-x2", &prefix, 2, &["--peer", &x1.multiaddr()]);
    let y1 = start_node("part-y1", &chain_y, 3, &[]);
    let y2 = start_node("part-y2", &prefix, 4, &["--peer", &y1.multiaddr()]);
    // Each group agrees on its own branch.
    x2.wait_until(Duration::from_secs(60), "x2 follows x1", |n| {
        best_id(n) == tip_x
    });
    y2.wait_until(Duration::from_secs(60), "y2 follows y1", |n| {
        best_id(n) == tip_y
    });
    assert_eq!(best_id(&x1), tip_x);
    // addpeer needs the cookie.
    let err = x1
        .call("addpeer", json!({"address": y2.multiaddr()}))
        .unwrap_err();
    assert!(
        err.contains("cookie") || err.contains("401") || err.contains("auth"),
        "{err}"
    );
    x1.call_privileged("addpeer", json!({"address": y2.multiaddr()}))
        .unwrap();
    for n in [&x1, &x2, &y1, &y2] {
        n.wait_until(
            Duration::from_secs(60),
            "converges on the most-work branch",
            |n| best_id(n) == tip_y,
        );
    }
    // The losing branch's shares are still known (side chain), not on the best chain.
    let side = x2.call("getshare", json!({"id": tip_x})).unwrap();
    assert_eq!(side["on_best_chain"], json!(false));
    assert!(
        x1.log_text().contains("sharechain reorganised"),
        "{}",
        x1.log_text()
    );
}

/// A custom pool with a 30-share window: two nodes share a chain longer than the window, grow
/// branches apart well past what start-up loads (49 shares), one restarts, and they reconnect.
/// The node on the lighter branch reads the fork's ancestry back from its store, both end on
/// the heavier branch with identical payouts, and neither bans the other.
#[test]
fn a_deep_fork_across_a_restart_converges_without_bans() {
    let dir = NodeProc::fresh_dir("deepfork-pool");
    let pool_file = dir.join("pool.toml");
    std::fs::write(&pool_file, "name = \"deepfork\"\npplns-window = 30\n").unwrap();
    let pool_file = pool_file.display().to_string();
    let mut pool = chains::pool();
    pool.name = "deepfork".into();
    pool.pplns_window = 30;

    let now = unix_now();
    let start = now - 5000;
    let mut view = MemoryChain::new();
    let prefix = grow_in(&pool, &mut view, None, 80, start, 0, 10);
    let fork = prefix.last().unwrap().id();
    let t_fork = start + 800;
    let mut view_x = view.clone();
    let branch_x = grow_in(&pool, &mut view_x, Some(fork), 100, t_fork, 100, 10);
    let branch_y = grow_in(&pool, &mut view, Some(fork), 130, t_fork, 200, 10);
    let tip_y = branch_y.last().unwrap().id().to_string();
    let chain_x: Vec<Share> = prefix.iter().chain(&branch_x).cloned().collect();
    let chain_y: Vec<Share> = prefix.iter().chain(&branch_y).cloned().collect();

    let start_node = |tag: &str, shares: &[Share], n: u8| {
        let dir = NodeProc::fresh_dir(tag);
        seed_in(&pool, &dir, shares);
        NodeProc::start_in(
            bin(),
            tag,
            dir,
            CHAIN,
            NO_FULL_NODE,
            &payout(n),
            &["--pool-config", &pool_file],
        )
    };
    let mut x = start_node("deepfork-x", &chain_x, 1);
    let y = start_node("deepfork-y", &chain_y, 2);
    // X restarts: it loads 49 shares below its tip (height 179), far above the fork (79).
    x.restart();
    x.call_privileged("addpeer", json!({"address": y.multiaddr()}))
        .unwrap();
    for n in [&x, &y] {
        n.wait_until(
            Duration::from_secs(60),
            "converges on the heavier branch",
            |n| best_id(n) == tip_y,
        );
    }
    // The same best chain over the whole window (and then some): the same PPLNS window, so the
    // same payouts (getpayouts itself needs a full node's template, which these nodes lack).
    let window = |n: &NodeProc| n.recent_shares(40);
    assert_eq!(window(&x), window(&y));
    assert_eq!(window(&x).as_array().map(Vec::len), Some(40));
    assert!(x.peer_count() >= 1 && y.peer_count() >= 1, "still peered");
    for n in [&x, &y] {
        let log = n.log_text();
        assert!(!log.contains("banned"), "{log}");
    }
    assert!(
        x.log_text()
            .contains("loading deeper shares from the store for a fork below the loaded range"),
        "{}",
        x.log_text()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
