//! Several real `otedama-node` processes peered over libp2p on 127.0.0.1: shares found on one
//! reach all, every node agrees on the tip and the payouts, blocks pay miners of every node,
//! Kademlia finds peers nobody named, and partitions heal onto the most-work chain.

#[path = "support/chains.rs"]
mod chains;

use chains::{address as addr, bin, id_at};
use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use serde_json::{json, Value};
use std::time::Duration;

/// C is told only about B, B only about A: C must find A through Kademlia and connect to it.
#[test]
fn kademlia_discovery_finds_a_peer_nobody_named() {
    let a = NodeProc::start(
        bin(),
        "disc-a",
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 1),
        &[],
    );
    let b = NodeProc::start(
        bin(),
        "disc-b",
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 2),
        &["--peer", &a.multiaddr()],
    );
    b.wait_until(Duration::from_secs(30), "B connects to A", |b| {
        b.peer_count() >= 1
    });
    let c = NodeProc::start(
        bin(),
        "disc-c",
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 3),
        &["--peer", &b.multiaddr()],
    );
    let a_id = a.peer_id();
    assert!(!a_id.is_empty());
    c.wait_until(Duration::from_secs(60), "C finds A", |c| {
        c.peer_ids().contains(&a_id)
    });
    // The address book remembers A: after a restart with no --peer at all, C reconnects.
    let dir = c.dir.clone();
    let mut c = c;
    c.stop();
    let keep = dir.with_extension("kept");
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::rename(&dir, &keep).unwrap();
    drop(c);
    let c = NodeProc::start_in(
        bin(),
        "disc-c2",
        keep,
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 3),
        &[],
    );
    c.wait_until(
        Duration::from_secs(60),
        "C reconnects from its address book",
        |c| c.peer_count() >= 1,
    );
    let status = c.status();
    assert_eq!(
        status["peers"]["out"].as_u64().map(|n| n >= 1),
        Some(true),
        "{status}"
    );
}

/// Three nodes, each beside its own litecoind (the three daemons peered), two of them mining
/// with their embedded CPU worker: shares of each appear on all, the best chains agree, and
/// blocks found pay the miners of both mining nodes.
#[test]
fn three_nodes_share_one_sharechain_and_blocks_pay_across_nodes() {
    if !litecoind::available("p2p three nodes") {
        return;
    }
    let la = Litecoind::start("p2p3-a", &[]);
    let lb = la.start_peer("p2p3-b");
    let lc = la.start_peer("p2p3-c");
    la.activate_mweb();
    let (addr1, addr2, addr3) = (addr("rltc", 0x31), addr("rltc", 0x32), addr("rltc", 0x33));
    let n1 = NodeProc::start(
        bin(),
        "p2p3-1",
        "litecoin-regtest",
        &la.rpc_url(),
        &addr1,
        &["--mine", "1"],
    );
    let n2 = NodeProc::start(
        bin(),
        "p2p3-2",
        "litecoin-regtest",
        &lb.rpc_url(),
        &addr2,
        &["--mine", "1", "--peer", &n1.multiaddr()],
    );
    let n3 = NodeProc::start(
        bin(),
        "p2p3-3",
        "litecoin-regtest",
        &lc.rpc_url(),
        &addr3,
        &["--peer", &n2.multiaddr()],
    );
    let nodes = [&n1, &n2, &n3];
    // Every node reaches height 30.
    for n in nodes {
        n.wait_until(Duration::from_secs(180), "height 30", |n| n.best().0 >= 30);
    }
    // The best chains agree: the share 5 below the lowest tip is the same everywhere, and it is
    // one of the shares each node sees as on its best chain.
    let agreed = eventually(Duration::from_secs(60), || {
        let low = nodes.iter().map(|n| n.best().0).min().unwrap_or(0);
        let h = low.saturating_sub(5);
        let ids: Vec<Option<String>> = nodes.iter().map(|n| id_at(n, h)).collect();
        ids[0].is_some() && ids.iter().all(|i| *i == ids[0])
    });
    assert!(
        agreed,
        "best chains differ\n{}\n{}\n{}",
        n1.log_text(),
        n2.log_text(),
        n3.log_text()
    );
    // Shares of both miners are on everyone's chain: the window weights agree on who is in it.
    let paid = |n: &NodeProc| -> Vec<String> {
        n.call("getpayouts", json!({}))
            .ok()
            .and_then(|v| {
                v["outputs"].as_array().map(|a| {
                    a.iter()
                        .filter(|o| o["weight"].as_str() != Some("0"))
                        .filter_map(|o| o["address"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default()
    };
    for n in nodes {
        let p = paid(n);
        assert!(
            p.contains(&addr1) && p.contains(&addr2),
            "node {}: {p:?}",
            n.tag
        );
    }
    // Blocks found by any node pay the window across nodes: some block's coinbase pays both
    // miners' addresses.
    let both = eventually(Duration::from_secs(120), || {
        let height = la.call("getblockcount", json!([])).as_u64().unwrap_or(0);
        (2..=height).rev().take(30).any(|h| {
            let hash = la.call("getblockhash", json!([h]));
            let block = la.call("getblock", json!([hash, 2]));
            let outs: Vec<String> = block["tx"][0]["vout"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .flat_map(|o| {
                            // Litecoin Core 0.21 lists `addresses`; later versions `address`.
                            let spk = &o["scriptPubKey"];
                            let mut v: Vec<String> = spk["addresses"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str().map(String::from))
                                        .collect()
                                })
                                .unwrap_or_default();
                            v.extend(spk["address"].as_str().map(String::from));
                            v
                        })
                        .collect()
                })
                .unwrap_or_default();
            outs.contains(&addr1) && outs.contains(&addr2)
        })
    });
    assert!(both, "no block pays both mining nodes\n{}", n1.log_text());
    // The relay-only node saw the others' shares by gossip.
    let metrics = n3.client().request("GET", "/metrics", b"").unwrap().1;
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains("otedama_p2p_gossip_received_total"),
        "{metrics}"
    );
    let status: Value = n3.status();
    assert_eq!(status["sync"]["state"], "synced", "{status}");
    // Found blocks are gossiped whole: the relay-only node hands the miners' blocks to its own
    // full node, which takes them (or already had them from its peer).
    let relayed = eventually(Duration::from_secs(60), || {
        n3.call("getblocks", json!({}))
            .ok()
            .and_then(|v| v["blocks"].as_array().cloned())
            .is_some_and(|b| {
                b.iter().any(|b| {
                    matches!(
                        b["submission"].as_str(),
                        Some("accepted" | "duplicate" | "inconclusive")
                    )
                })
            })
    });
    assert!(
        relayed,
        "no gossiped block reached the relay node's full node\n{}",
        n3.log_text()
    );
    let blocks = n3.call("getblocks", json!({})).unwrap_or_default();
    assert!(
        !blocks.to_string().contains("\"rejected\""),
        "a gossiped block was refused: {blocks}"
    );
    assert!(n3.log_text().contains("a peer's node found a block"));
}
