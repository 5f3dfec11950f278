//! Honest peers at a fast share rate: three real nodes beside real litecoind daemons, each
//! mining with an embedded CPU worker at regtest's floor difficulty (tens of shares a second in
//! all, more than any real pool), for two minutes. Nobody bans anybody, and the nodes keep one
//! best chain.

#[path = "support/chains.rs"]
mod chains;

use chains::{address as addr, bin, id_at};
use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::{eventually, NodeProc};
use std::time::{Duration, Instant};

#[test]
fn three_nodes_at_a_fast_share_rate_ban_nobody_and_keep_one_chain() {
    if !litecoind::available("p2p rates") {
        return;
    }
    let secs: u64 = std::env::var("OTEDAMA_RATE_TEST_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    // A test pool whose difficulty stays near the floor for the whole run (the retarget's
    // half-life is the longest allowed), so the rate does not fall as ASERT catches up.
    let pool_dir = NodeProc::fresh_dir("rate-pool");
    let pool_file = pool_dir.join("fast.toml");
    std::fs::write(
        &pool_file,
        "name = \"fast\"\nshare-period-secs = 1\nretarget-half-life-secs = 16777216\n",
    )
    .expect("pool file");
    let pool_file = pool_file.display().to_string();
    let la = Litecoind::start("rate-a", &[]);
    let lb = la.start_peer("rate-b");
    let lc = la.start_peer("rate-c");
    la.activate_mweb();
    let n1 = NodeProc::start(
        bin(),
        "rate-1",
        "litecoin-regtest",
        &la.rpc_url(),
        &addr("rltc", 0x51),
        &["--mine", "1", "--pool-config", &pool_file],
    );
    let n2 = NodeProc::start(
        bin(),
        "rate-2",
        "litecoin-regtest",
        &lb.rpc_url(),
        &addr("rltc", 0x52),
        &[
            "--mine",
            "1",
            "--pool-config",
            &pool_file,
            "--peer",
            &n1.multiaddr(),
        ],
    );
    let n3 = NodeProc::start(
        bin(),
        "rate-3",
        "litecoin-regtest",
        &lc.rpc_url(),
        &addr("rltc", 0x53),
        &[
            "--mine",
            "1",
            "--pool-config",
            &pool_file,
            "--peer",
            &n2.multiaddr(),
        ],
    );
    let nodes = [&n1, &n2, &n3];
    let start = Instant::now();
    let h0 = n1.best().0;
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(5));
        for n in nodes {
            let log = n.log_text();
            assert!(
                !log.contains("peer banned"),
                "node {} banned a peer after {:?}\n{log}",
                n.tag,
                start.elapsed()
            );
        }
    }
    let h1 = n1.best().0;
    let rate = (h1 - h0) as f64 / start.elapsed().as_secs_f64();
    eprintln!(
        "best chain grew {} shares in {secs} s: {rate:.1} shares/s",
        h1 - h0
    );
    assert!(
        rate >= 10.0,
        "the test did not run fast: {rate:.1} shares/s"
    );
    // One chain: the share a few below the lowest tip is the same on every node.
    let agreed = eventually(Duration::from_secs(30), || {
        let low = nodes.iter().map(|n| n.best().0).min().unwrap_or(0);
        let h = low.saturating_sub(10);
        let ids: Vec<Option<String>> = nodes.iter().map(|n| id_at(n, h)).collect();
        ids[0].is_some() && ids.iter().all(|i| *i == ids[0])
    });
    assert!(agreed, "the nodes are on different chains");
    for n in nodes {
        assert!(n.peer_count() >= 1, "node {} lost its peers", n.tag);
        assert_eq!(
            n.metric("otedama_p2p_bans_total").unwrap_or(0),
            0,
            "{}",
            n.tag
        );
    }
}
