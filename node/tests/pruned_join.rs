//! Joining a pool whose peers have pruned (docs/consensus.md section 13, docs/p2p.md "Joining a
//! pruned pool"), with real `otedama-node` processes, real RocksDB and real libp2p on
//! 127.0.0.1, in a custom pool with a 30-share window (prune depth 169 shares).
//!
//! A holds a chain of 400 shares (over 13 windows) and prunes its store at start-up: its genesis
//! is gone. C starts empty with only A as peer: A's headers say "pruned below you", C takes a
//! trusted base two windows below A's tip and syncs the shares above it. D brings 60 new shares
//! to C; A takes them from C and validates them in full. Nobody is banned, C keeps its base
//! across a restart.

#[path = "support/chains.rs"]
mod chains;

use chains::{address, bin, grow_in, seed_in, unix_now, CHAIN};
use otedama_consensus::MemoryChain;
use otedama_sharechain::chain::prune_depth;
use otedama_sharechain::Sharechain;
use otedama_tests::node::{NodeProc, NO_FULL_NODE};
use std::time::{Duration, Instant};

const N: u64 = 400;
const EXTRA: u64 = 60;
const WINDOW: u64 = 30;

#[test]
fn a_new_node_joins_a_pruned_pool_through_a_trusted_base() {
    let dir = NodeProc::fresh_dir("prunejoin-pool");
    let pool_file = dir.join("pool.toml");
    std::fs::write(
        &pool_file,
        format!("name = \"prunejoin\"\npplns-window = {WINDOW}\n"),
    )
    .unwrap();
    let pool_file = pool_file.display().to_string();
    let mut pool = chains::pool();
    pool.name = "prunejoin".into();
    pool.pplns_window = WINDOW;
    let depth = prune_depth(&pool);
    assert_eq!(depth, 5 * WINDOW + 3 + 16);

    let now = unix_now();
    let start = now - (N + EXTRA) * 10 - 100;
    let mut view = MemoryChain::new();
    let chain = grow_in(&pool, &mut view, None, N, start, 0, 7);
    let extra = grow_in(
        &pool,
        &mut view,
        chain.last().map(|s| s.id()),
        EXTRA,
        start + N * 10,
        20,
        3,
    );
    let genesis = chain[0].id();
    let tip = chain.last().unwrap().id().to_string();
    let new_tip = extra.last().unwrap().id().to_string();
    let start_node = |tag: &str, shares: &[otedama_consensus::Share], n: u8, extra: &[&str]| {
        let dir = NodeProc::fresh_dir(tag);
        if !shares.is_empty() {
            seed_in(&pool, &dir, shares);
        }
        let mut args = vec!["--pool-config", pool_file.as_str()];
        args.extend_from_slice(extra);
        NodeProc::start_in(
            bin(),
            tag,
            dir,
            CHAIN,
            NO_FULL_NODE,
            &address("bcrt", n),
            &args,
        )
    };

    // A prunes at its first tick: everything below 399 - 169 = 230 goes.
    let mut a = start_node("prunejoin-a", &chain, 1, &[]);
    a.wait_until(Duration::from_secs(30), "A prunes its store", |a| {
        a.log_text().contains("store pruned")
    });
    assert_eq!(a.best().1, tip);

    // C joins with nothing but A.
    let started = Instant::now();
    let c_extra = ["--peer".to_string(), a.multiaddr()];
    let c_args: Vec<&str> = c_extra.iter().map(String::as_str).collect();
    let mut c = start_node("prunejoin-c", &[], 3, &c_args);
    c.wait_until(Duration::from_secs(120), "C syncs to A's tip", |c| {
        c.best().1 == tip
    });
    let sync_secs = started.elapsed().as_secs_f64();
    let c_log = c.log_text();
    assert!(c_log.contains("asking it for a trusted base"), "{c_log}");
    assert!(c_log.contains("trusted base stored"), "{c_log}");
    assert!(
        c_log.contains("without_payout_check=29"),
        "the first window above the base skipped its payout check, the rest did not: {c_log}"
    );
    // The same window (and payouts follow from it: getpayouts needs a full node's template).
    let window = |n: &NodeProc| n.recent_shares(40);
    assert_eq!(window(&c), window(&a));
    assert_eq!(window(&c).as_array().map(Vec::len), Some(40));
    eprintln!(
        "C joined through a trusted base and synced {} shares in {sync_secs:.2} s",
        2 * WINDOW
    );

    // New shares reach the pool through C: D (seeded with them) talks to C only; A takes them
    // from C and validates them in full.
    let d_extra = ["--peer".to_string(), c.multiaddr()];
    let d_args: Vec<&str> = d_extra.iter().map(String::as_str).collect();
    let all: Vec<_> = chain.iter().chain(&extra).cloned().collect();
    let d = start_node("prunejoin-d", &all, 4, &d_args);
    for n in [&c, &a] {
        n.wait_until(Duration::from_secs(120), "the new shares arrive", |n| {
            n.best().1 == new_tip
        });
    }
    assert_eq!(window(&c), window(&a));
    for n in [&a, &c, &d] {
        let log = n.log_text();
        assert!(!log.contains("banned"), "{log}");
        assert!(!log.contains("invalid share"), "{log}");
    }

    // C restarts with its trusted base and its chain.
    c.restart();
    assert_eq!(c.best().1, new_tip);
    c.wait_until(Duration::from_secs(10), "C says it keeps its base", |c| {
        c.log_text()
            .contains("the store was synced from a trusted base")
    });

    // A's store no longer has its genesis (nor anything below 230).
    a.stop();
    let store = Sharechain::open(&a.dir.join("data").join("sharechain"), pool.clone())
        .expect("open A's store");
    assert!(store.store().share(&genesis).unwrap().is_none());
    assert!(store.store().min_height().unwrap().unwrap() >= N - 1 - depth);
    let _ = std::fs::remove_dir_all(&dir);
}
