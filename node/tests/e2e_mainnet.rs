//! Blocks under the conditions of the real chains, end to end with real litecoind daemons and
//! the real `otedama-node` binary: MWEB active (Litecoin mainnet since 2022) with peg-ins and
//! wallet transactions in the templates; a mempool holding several blocks' worth of
//! transactions while the window pays more than a hundred miners; a full node that freezes
//! while blocks are found, and a pool node restarted while a block waits for it.

#[path = "support/rig.rs"]
mod rig;
#[path = "support/split.rs"]
mod split;

use otedama_consensus::chain::address::parse_address;
use otedama_consensus::chain::Chain;
use otedama_consensus::PayoutScript;
use otedama_rpc::client::Client;
use otedama_tests::litecoind::{self, Litecoind, MWEB_HEIGHT};
use otedama_tests::mempool::fill_mempool;
use otedama_tests::node::NodeProc;
use rig::Rig;
use serde_json::{json, Value};
use split::assert_coinbase_is_the_split;
use std::path::Path;
use std::time::{Duration, Instant};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_otedama-node"))
}

fn rltc(program: [u8; 20]) -> String {
    use bitcoin::bech32::{segwit, Hrp};
    segwit::encode_v0(Hrp::parse("rltc").expect("hrp"), &program).expect("address")
}

fn script(addr: &str) -> Vec<u8> {
    PayoutScript::from(
        parse_address(Chain::LitecoinRegtest.bitcoin_params().unwrap(), addr).expect("address"),
    )
    .as_bytes()
    .to_vec()
}

/// Waits (polling every 200 ms) until `cond`, panicking with the node's log after `secs`.
fn wait(node: &NodeProc, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{what}: not within {secs} s\n--- node log ---\n{}",
        node.log_text()
    );
}

/// The node's `getblocks` list.
fn blocks(node: &NodeProc) -> Vec<Value> {
    node.call("getblocks", json!({"limit": 1000}))
        .ok()
        .and_then(|v| v["blocks"].as_array().cloned())
        .unwrap_or_default()
}

/// Whether a block (verbosity 2) pays `script` in its coinbase and carries Otedama's share
/// commitment (`OP_RETURN "OTDM" ...`).
fn is_pool_block(block: &Value) -> bool {
    block["tx"][0]["vout"].as_array().is_some_and(|v| {
        v.iter().any(|o| {
            o["scriptPubKey"]["hex"]
                .as_str()
                .is_some_and(|h| h.starts_with("6a244f54444d"))
        })
    })
}

/// MWEB on as on mainnet: the node mines (embedded CPU worker) at least 20 blocks above
/// activation that litecoind accepts, with wallet transactions and peg-ins (one sent while the
/// pool runs) in them, HogEx last, each coinbase paying the node.
#[test]
fn mweb_blocks_with_transactions_and_peg_ins_are_accepted() {
    if !litecoind::available("e2e_mainnet mweb") {
        return;
    }
    let a = Litecoind::start("mn-mweb-a", &[]);
    let _b = a.start_peer("mn-mweb-b");
    a.activate_mweb();
    let start = a.height();
    assert!(start >= MWEB_HEIGHT);
    // Real transactions for the first templates: wallet payments (with witnesses) and a peg-in.
    let wallet_addr = a.call_str("getnewaddress", json!([]));
    for _ in 0..3 {
        a.call_str("sendtoaddress", json!([wallet_addr, 0.5]));
    }
    // More than the wallet's MWEB balance: real peg-ins, spending canonical coins.
    let first_peg_in = a.peg_in(50.0);
    let node_addr = rltc([0x61; 20]);
    let node = NodeProc::start(
        bin(),
        "mn-mweb",
        "litecoin-regtest",
        &a.rpc_url(),
        &node_addr,
        &["--mine", "1"],
    );
    // A peg-in after activation, while the pool mines.
    wait(&node, 180, "3 pool blocks", || a.height() >= start + 3);
    let later_peg_in = a.peg_in(120.0);
    a.call_str("sendtoaddress", json!([wallet_addr, 0.25]));
    let mined = |txid: &str| {
        a.call("gettransaction", json!([txid]))["confirmations"]
            .as_i64()
            .is_some_and(|c| c > 0)
    };
    wait(
        &node,
        600,
        "20 pool blocks above MWEB activation, both peg-ins mined",
        || a.height() >= start + 20 && mined(&first_peg_in) && mined(&later_peg_in),
    );
    let end = a.height();

    let node_script = hex::encode(script(&node_addr));
    let mut peg_ins_mined = Vec::new();
    let mut txs_mined = 0;
    for h in start + 1..=end {
        let hash = a.call_str("getblockhash", json!([h]));
        let block = a.call("getblock", json!([hash, 2]));
        assert!(
            is_pool_block(&block),
            "block {h} is not the pool's: {block}"
        );
        let txs = block["tx"].as_array().expect("tx array");
        // The HogEx is last in every MWEB block.
        let last = txs.last().expect("a transaction");
        assert!(
            txs.len() >= 2,
            "block {h} has no HogEx (MWEB blocks always carry one)"
        );
        let cb_outputs = txs[0]["vout"].as_array().expect("vout");
        let paid: Vec<&Value> = cb_outputs
            .iter()
            .filter(|o| o["value"].as_f64().unwrap_or(0.0) > 0.0)
            .collect();
        assert!(
            !paid.is_empty()
                && paid
                    .iter()
                    .all(|o| o["scriptPubKey"]["hex"].as_str() == Some(node_script.as_str())),
            "block {h}: the coinbase pays someone else: {paid:?}"
        );
        for tx in &txs[1..txs.len() - 1] {
            txs_mined += 1;
            let txid = tx["txid"].as_str().unwrap_or_default().to_string();
            if txid == first_peg_in || txid == later_peg_in {
                peg_ins_mined.push(txid);
            }
        }
        assert!(last["txid"].is_string());
    }
    assert!(
        peg_ins_mined.contains(&later_peg_in) && peg_ins_mined.contains(&first_peg_in),
        "the peg-ins were not mined in pool blocks: {peg_ins_mined:?}"
    );
    // Wallet payments may be paid from MWEB coins (peg-outs through the HogEx), so fewer than
    // the six sent show as canonical transactions; the peg-ins always do.
    assert!(txs_mined >= 4, "only {txs_mined} transactions mined");
    // Every block the node found ended accepted (or a duplicate of its own): none refused.
    let mut node = node;
    let log = node.log_text();
    assert!(!log.contains("BUG"), "{log}");
    assert!(!log.contains("full node refused the block"), "{log}");
    let found = blocks(&node);
    assert!(
        found.iter().all(|b| b["submission"] != json!("rejected")),
        "{found:?}"
    );
    // Each coinbase is exactly the PPLNS split of its share, recomputed from the node's store.
    node.stop();
    let pool = otedama_consensus::pool::PoolParams::preset(
        Chain::LitecoinRegtest,
        otedama_consensus::pool::Preset::Main,
    );
    let store = otedama_sharechain::Sharechain::open(
        &node.dir.join("data").join("sharechain"),
        pool.clone(),
    )
    .expect("reopen the store");
    for h in start + 1..=end {
        let hash = a.call_str("getblockhash", json!([h]));
        let block = a.call("getblock", json!([hash, 2]));
        assert_coinbase_is_the_split(&store, &pool, &block, h);
    }
    drop(store);
    eprintln!(
        "MWEB: {} pool blocks above activation (heights {}..={end}), {txs_mined} transactions, \
         peg-ins mined: {}",
        end - start,
        start + 1,
        peg_ins_mined.len()
    );
}

/// A mempool with several blocks' worth of transactions and more than a hundred miners in the
/// window: blocks are accepted, pay every miner, and fill the block to within a few kWU.
#[test]
fn full_mempool_blocks_pay_every_miner_and_fill_the_block() {
    if !litecoind::available("e2e_mainnet full mempool") {
        return;
    }
    const MINERS: u8 = 110;
    let a = Litecoind::start("mn-full-a", &[]);
    let _b = a.start_peer("mn-full-b");
    a.activate_mweb();
    let node = NodeProc::start(
        bin(),
        "mn-full",
        "litecoin-regtest",
        &a.rpc_url(),
        &rltc([0x70; 20]),
        &[],
    );
    // 110 rigs, each paying its own address, each with a share in the window.
    let mut counter = 0u64;
    let mut last_rig = None;
    for i in 0..MINERS {
        let mut rig = Rig::connect(node.stratum);
        rig.start(
            &format!("{}.rig{i}", rltc([0x80u8.wrapping_add(i); 20])),
            false,
        );
        let mut tries = 0;
        while !rig.mine_one(&mut counter) {
            tries += 1;
            assert!(
                tries < 20,
                "rig {i}: no share accepted\n{}",
                node.log_text()
            );
        }
        last_rig = Some(rig);
    }
    let mut rig = last_rig.expect("a rig");
    // Several blocks' worth of transactions at varied fee rates.
    let filled = fill_mempool(&a, 3 * 4_000_000);
    let mempool = a.call("getmempoolinfo", json!([]));
    eprintln!(
        "mempool: {} transactions, {} WU put in ({} fees); litecoind: {mempool}",
        filled.transactions, filled.weight, filled.fees
    );
    // The pool picks the transactions up at its next template refresh; mine until two pool
    // blocks carry them (at most 12 blocks).
    let before = a.height();
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut full_blocks = Vec::new();
    let mut checked = before;
    while full_blocks.len() < 2 {
        assert!(
            Instant::now() < deadline && a.height() < before + 12,
            "no full pool blocks on the full mempool\n{}",
            node.log_text()
        );
        rig.mine_one(&mut counter);
        while checked < a.height() {
            checked += 1;
            let hash = a.call_str("getblockhash", json!([checked]));
            let block = a.call("getblock", json!([hash, 2]));
            assert!(is_pool_block(&block), "block {checked} is not the pool's");
            let weight = block["weight"].as_u64().expect("weight");
            let txs = block["tx"].as_array().map_or(0, Vec::len);
            let payees = block["tx"][0]["vout"].as_array().map_or(0, |v| {
                v.iter().filter(|o| o["value"].as_f64() > Some(0.0)).count()
            });
            eprintln!("block {checked}: weight {weight}, {txs} transactions, {payees} payouts");
            // Every miner in the window: 110 rigs, less the few whose share lost a race and
            // became a side share (paid only once included as an uncle).
            assert!(
                payees >= 100,
                "block {checked} pays {payees} outputs, not the 100+ miners of its window"
            );
            assert!(
                weight <= 4_000_000,
                "block {checked} over the limit: {weight}"
            );
            if txs > 100 {
                full_blocks.push(weight);
            }
        }
    }
    // Within a few kWU of the limit: the coinbase's room is sized for the miners it pays.
    let heaviest = full_blocks.iter().copied().max().unwrap_or(0);
    assert!(
        heaviest >= 4_000_000 - 12_000,
        "the pool wastes block space: full blocks weigh {full_blocks:?} WU"
    );
    let log = node.log_text();
    assert!(
        log.contains("block template trimmed to leave room for the payout coinbase"),
        "{log}"
    );
    assert!(!log.contains("BUG"), "{log}");
    let found = blocks(&node);
    assert!(
        found.iter().all(|b| b["submission"] != json!("rejected")),
        "{found:?}"
    );
}

/// The full node freezes (SIGSTOP) while blocks are found: the API keeps answering, and once it
/// resumes every block found during the freeze ends accepted or with the full node's answer.
/// Then a block found during a second freeze waits on disk through a restart of the pool node
/// and is submitted by the new process.
#[test]
fn frozen_full_node_loses_no_block_and_the_api_keeps_answering() {
    if !litecoind::available("e2e_mainnet freeze") {
        return;
    }
    let a = Litecoind::start("mn-freeze-a", &[]);
    let _b = a.start_peer("mn-freeze-b");
    a.activate_mweb();
    let start = a.height();
    let node_addr = rltc([0x62; 20]);
    let node = NodeProc::start(
        bin(),
        "mn-freeze",
        "litecoin-regtest",
        &a.rpc_url(),
        &node_addr,
        &["--mine", "1"],
    );
    wait(&node, 180, "2 pool blocks", || a.height() >= start + 2);
    let api = Client::new(&format!("http://127.0.0.1:{}", node.api))
        .expect("client")
        .with_timeout(Duration::from_secs(3));

    a.freeze();
    let frozen_at = unix_now();
    let mut calls = 0;
    let freeze_end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < freeze_end {
        for method in ["getstatus", "getpayouts", "getblocks", "getshares"] {
            if let Err(e) = api.call(method, json!({})) {
                a.thaw();
                panic!(
                    "{method} failed while the full node was frozen: {e}\n{}",
                    node.log_text()
                );
            }
            calls += 1;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let during: Vec<Value> = blocks(&node)
        .into_iter()
        .filter(|b| b["time"].as_u64().is_some_and(|t| t >= frozen_at))
        .collect();
    assert!(
        !during.is_empty(),
        "no block found during the freeze\n{}",
        node.log_text()
    );
    assert!(
        during
            .iter()
            .any(|b| b["submission"] == json!("submitting")),
        "no block waits for the frozen full node: {during:?}"
    );
    a.thaw();
    // Every block found during the freeze gets a final answer.
    wait(
        &node,
        120,
        "final answers for the blocks found during the freeze",
        || {
            let now: Vec<Value> = blocks(&node)
                .into_iter()
                .filter(|b| b["time"].as_u64().is_some_and(|t| t >= frozen_at))
                .collect();
            now.len() >= during.len() && now.iter().all(|b| b["submission"] != json!("submitting"))
        },
    );
    let settled: Vec<Value> = blocks(&node)
        .into_iter()
        .filter(|b| b["time"].as_u64().is_some_and(|t| t >= frozen_at))
        .collect();
    let accepted = settled
        .iter()
        .filter(|b| b["submission"] == json!("accepted"))
        .count();
    let mut by_status = std::collections::BTreeMap::new();
    for b in &settled {
        *by_status
            .entry(format!("{} {}", b["submission"], b["reason"]))
            .or_insert(0u32) += 1;
    }
    eprintln!(
        "freeze: {calls} API calls answered; {} blocks found during the freeze, {accepted} \
         accepted; by answer: {by_status:?}",
        settled.len()
    );
    assert!(accepted >= 1, "{settled:?}");
    assert!(
        settled
            .iter()
            .all(|b| b["submission"] != json!("rejected") || b["reason"] != json!("")),
        "a refusal without the full node's reason: {settled:?}"
    );

    // A second freeze, and the pool node restarts while a block waits for the full node: the
    // block is kept on disk and the new process submits it.
    let second = a.height();
    a.freeze();
    let frozen_at = unix_now();
    wait(&node, 60, "a block found during the second freeze", || {
        blocks(&node)
            .iter()
            .any(|b| b["time"].as_u64().is_some_and(|t| t >= frozen_at))
    });
    let waiting: Vec<String> = std::fs::read_dir(node.dir.join("data").join("found-blocks"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".block"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !waiting.is_empty(),
        "no block waits on disk during the freeze"
    );
    let mut node = node;
    node.restart();
    a.thaw();
    wait(
        &node,
        120,
        "the block kept through the restart is submitted",
        || {
            blocks(&node).iter().any(|b| {
                b["time"].as_u64().is_some_and(|t| t >= frozen_at)
                    && b["submission"] != json!("submitting")
            })
        },
    );
    let log = node.log_text();
    assert!(
        log.contains("resuming submission of blocks found before the restart"),
        "{log}"
    );
    assert!(!log.contains("BUG"), "{log}");
    eprintln!(
        "restart: {} block(s) waited on disk; height {second} -> {}",
        waiting.len(),
        a.height()
    );
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
