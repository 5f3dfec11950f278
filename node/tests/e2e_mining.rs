//! End to end, everything real: two litecoind regtest daemons, the `otedama-node` binary, and
//! two Stratum rigs written here that grind scrypt over TCP (one with BIP 310 version rolling,
//! one with a per-miner address username). Blocks must be accepted by litecoind and each
//! block's coinbase must pay exactly the PPLNS split recomputed from the node's sharechain.

use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::PayoutScript;
use otedama_sharechain::Sharechain;
use otedama_tests::litecoind::{self, Litecoind, RPC_PASSWORD, RPC_USER};

#[path = "support/rig.rs"]
mod rig;
#[path = "support/split.rs"]
mod split;
use rig::Rig;
use serde_json::{json, Value};
use split::assert_coinbase_is_the_split;
use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rltc(program: [u8; 20]) -> String {
    use bitcoin::bech32::{segwit, Hrp};
    segwit::encode_v0(Hrp::parse("rltc").unwrap(), &program).unwrap()
}

/// The node process, interrupted (Ctrl-C) and reaped on drop.
struct Node {
    child: Option<Child>,
    log: PathBuf,
    /// Port of the node's API.
    api: u16,
}

impl Node {
    fn interrupt_and_wait(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        otedama_tests::node::interrupt_and_wait(&mut child)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `otedama-node` on litecoin-regtest against `a`, paying `node_addr`; returns the
/// process, its Stratum port and its directory (data and log).
fn start_node(a: &Litecoind, tag: &str, node_addr: &str) -> (Node, u16, PathBuf) {
    start_node_with(a, tag, node_addr, &[])
}

/// [`start_node`] with `extra` flags (e.g. `--mine 1`).
fn start_node_with(
    a: &Litecoind,
    tag: &str,
    node_addr: &str,
    extra: &[&str],
) -> (Node, u16, PathBuf) {
    let dir = std::env::temp_dir().join(format!("otedama-e2e-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (stratum_port, api_port) = litecoind::free_ports();
    let log = dir.join("node.log");
    let child = Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(["--chain", "litecoin-regtest", "--pool", "main"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--node-rpc", &a.rpc_url(), "--node-rpc-user", RPC_USER])
        .args([
            "--node-rpc-password",
            RPC_PASSWORD,
            "--payout-address",
            node_addr,
        ])
        .args(["--stratum", &format!("127.0.0.1:{stratum_port}")])
        .args(["--rpc", &format!("127.0.0.1:{api_port}")])
        .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"])
        .args(extra)
        .env(
            "RUST_LOG",
            std::env::var("OTEDAMA_E2E_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start otedama-node");
    (
        Node {
            child: Some(child),
            log,
            api: api_port,
        },
        stratum_port,
        dir,
    )
}

fn block_count(a: &Litecoind) -> u64 {
    a.call("getblockcount", json!([])).as_u64().unwrap_or(0)
}

/// `--mine 1` and no rig at all: the node's embedded CPU worker takes the board's jobs, its
/// shares go through the sharechain like a rig's, and litecoind accepts the blocks, whose
/// coinbases pay the node's address.
#[test]
fn embedded_cpu_worker_mines_blocks_that_litecoind_accepts() {
    if !litecoind::available("e2e_mining --mine") {
        return;
    }
    let a = Litecoind::start("e2e-cpu-a", &[]);
    let _b = a.start_peer("e2e-cpu-b");
    a.activate_mweb();
    let start_height = block_count(&a);
    let node_addr = rltc([0x55; 20]);
    let (mut node, _stratum, dir) = start_node_with(&a, "cpu", &node_addr, &["--mine", "1"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while block_count(&a) < start_height + 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let end_height = block_count(&a);
    let log = node.log();
    assert!(
        end_height >= start_height + 3,
        "blocks accepted: {}\n--- node log ---\n{log}",
        end_height - start_height
    );
    assert!(log.contains("cpu workers started"), "{log}");
    assert!(log.contains("cpu share found"), "{log}");
    assert!(log.contains("BLOCK FOUND"), "{log}");
    let node_script = PayoutScript::from(
        otedama_consensus::chain::address::parse_address(
            Chain::LitecoinRegtest.bitcoin_params().unwrap(),
            &node_addr,
        )
        .unwrap(),
    );
    for h in start_height + 1..=end_height {
        let hash = a.call_str("getblockhash", json!([h]));
        let block = a.call("getblock", json!([hash, 2]));
        let paid: Vec<(Vec<u8>, f64)> = block["tx"][0]["vout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    hex::decode(o["scriptPubKey"]["hex"].as_str().unwrap()).unwrap(),
                    o["value"].as_f64().unwrap(),
                )
            })
            .filter(|(_, v)| *v > 0.0)
            .collect();
        // The node is the only miner: the whole reward goes to its address.
        assert!(
            !paid.is_empty() && paid.iter().all(|(s, _)| s == node_script.as_bytes()),
            "block {h} does not pay the node's address: {paid:?}"
        );
    }
    let status = node.interrupt_and_wait();
    assert!(
        status.is_some_and(|s| s.success()),
        "node did not stop cleanly with a worker running: {status:?}\n{}",
        node.log()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_node_restart_mid_run_recovers_and_rigs_get_fresh_work() {
    if !litecoind::available("e2e_mining restart") {
        return;
    }
    let mut a = Litecoind::start("e2e-r-a", &[]);
    let _b = a.start_peer("e2e-r-b");
    a.activate_mweb();
    let (mut node, port, dir) = start_node(&a, "restart", &rltc([0x33; 20]));
    let mut rig = Rig::connect(port);
    rig.start("rig-restart", false);
    let mut counter = 0u64;
    let before = block_count(&a);
    let deadline = Instant::now() + Duration::from_secs(60);
    while block_count(&a) < before + 2 && Instant::now() < deadline {
        rig.mine_one(&mut counter);
    }
    let mid = block_count(&a);
    assert!(
        mid >= before + 2,
        "no blocks before the restart\n{}",
        node.log()
    );

    // The full node goes away and comes back on the same ports and data.
    a.restart();
    a.wait_for_peers(1);
    // The rig keeps its connection: it gets fresh work (a new job on the restarted node's tip)
    // and its blocks are accepted again.
    rig.job = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while block_count(&a) < mid + 2 && Instant::now() < deadline {
        rig.mine_one(&mut counter);
    }
    let end = block_count(&a);
    let log = node.log();
    assert!(
        end >= mid + 2,
        "no blocks after the full node restarted\n{log}"
    );
    // Whether the source saw the node down depends on timing (a restart between two polls
    // is invisible to it); what matters is asserted above: blocks are accepted again.
    let status = node.interrupt_and_wait();
    assert!(status.is_some_and(|s| s.success()), "{}", node.log());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rigs_mine_blocks_that_litecoind_accepts_and_coinbases_pay_the_sharechain_split() {
    if !litecoind::available("e2e_mining") {
        return;
    }
    let a = Litecoind::start("e2e-a", &[]);
    let _b = a.start_peer("e2e-b");
    a.activate_mweb();
    let start_height = a.call("getblockcount", json!([])).as_u64().unwrap();

    let node_addr = rltc([0x11; 20]);
    let rig_addr = rltc([0x22; 20]);
    let (mut node, stratum_port, dir) = start_node(&a, "mine", &node_addr);

    // Rig 1: worker name only (pays the node's address), with version rolling.
    // Rig 2: a per-miner address username.
    let mut rig1 = Rig::connect(stratum_port);
    rig1.start("rig1", true);
    let mut rig2 = Rig::connect(stratum_port);
    rig2.start(&format!("{rig_addr}.w2"), false);
    let stop = Arc::new(AtomicBool::new(false));
    let mut counter1 = 0u64;
    let mut counter2 = 1u64 << 40;
    let mut accepted = 0;
    let deadline = Instant::now()
        + Duration::from_secs(
            std::env::var("OTEDAMA_E2E_SECS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(120),
        );
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        if rig1.mine_one(&mut counter1) {
            accepted += 1;
        }
        if rig2.mine_one(&mut counter2) {
            accepted += 1;
        }
        let height = a.call("getblockcount", json!([])).as_u64().unwrap();
        if height >= start_height + 4 && accepted >= 6 {
            break;
        }
    }
    let end_height = a.call("getblockcount", json!([])).as_u64().unwrap();
    assert!(
        end_height >= start_height + 4,
        "blocks accepted: {}\n--- node log ---\n{}",
        end_height - start_height,
        node.log()
    );

    // Clean shutdown on Ctrl-C.
    let status = node.interrupt_and_wait();
    assert!(
        status.is_some_and(|s| s.success()),
        "node did not stop cleanly: {status:?}\n{}",
        node.log()
    );

    // Every block above the start pays exactly the PPLNS split recomputed from the sharechain.
    let pool = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
    let chain =
        Sharechain::open(&dir.join("data").join("sharechain"), pool.clone()).expect("reopen store");
    let node_script = PayoutScript::from(
        otedama_consensus::chain::address::parse_address(
            Chain::LitecoinRegtest.bitcoin_params().unwrap(),
            &node_addr,
        )
        .unwrap(),
    );
    let rig_script = PayoutScript::from(
        otedama_consensus::chain::address::parse_address(
            Chain::LitecoinRegtest.bitcoin_params().unwrap(),
            &rig_addr,
        )
        .unwrap(),
    );
    let mut paid_both = false;
    for h in start_height + 1..=end_height {
        let hash = a.call_str("getblockhash", json!([h]));
        let block = a.call("getblock", json!([hash, 2]));
        let paid = assert_coinbase_is_the_split(&chain, &pool, &block, h);
        let subsidy = Chain::LitecoinRegtest.subsidy(h as u32);
        assert_eq!(
            paid.iter().map(|(_, v)| v).sum::<u64>(),
            subsidy,
            "block {h} pays the whole subsidy"
        );
        if paid.iter().any(|(s, _)| s == node_script.as_bytes())
            && paid.iter().any(|(s, _)| s == rig_script.as_bytes())
        {
            paid_both = true;
        }
    }
    assert!(
        paid_both,
        "no block paid both the node's address and the rig's own address"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn api_cli_metrics_and_events_report_the_running_node() {
    use otedama_rpc::client::Client;
    use std::io::Read;
    if !litecoind::available("e2e_mining api") {
        return;
    }
    let a = Litecoind::start("e2e-api-a", &[]);
    let _b = a.start_peer("e2e-api-b");
    a.activate_mweb();
    let node_addr = rltc([0x44; 20]);
    let (mut node, port, dir) = start_node(&a, "api", &node_addr);
    let api = Client::new(&format!("http://127.0.0.1:{}", node.api)).unwrap();
    // The API answers as soon as the node is up.
    let start = Instant::now();
    while api.call("getstatus", json!({})).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "API never came up\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Live events: subscribe before mining.
    let mut events = TcpStream::connect(("127.0.0.1", node.api)).unwrap();
    events
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    events
        .write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();

    let mut rig = Rig::connect(port);
    rig.start("rig-api", false);
    let mut counter = 0u64;
    let before = block_count(&a);
    let deadline = Instant::now() + Duration::from_secs(60);
    while block_count(&a) < before + 2 && Instant::now() < deadline {
        rig.mine_one(&mut counter);
    }
    assert!(block_count(&a) >= before + 2, "{}", node.log());

    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("event: block") {
        let n = events.read(&mut buf).expect("events stream");
        assert!(n > 0, "event stream closed");
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.contains("text/event-stream") && text.contains("event: share"),
        "{text}"
    );

    let status = api.call("getstatus", json!({})).unwrap();
    assert_eq!(status["chain"], "litecoin-regtest");
    assert_eq!(status["pool"], "main");
    assert!(
        status["best_share"]["height"].as_u64().unwrap() >= 1,
        "{status}"
    );
    assert_eq!(status["parent_chain"]["full_node"], "ready");
    assert_eq!(status["payout_address"], node_addr.as_str());
    let shares = api.call("getshares", json!({"limit": 3})).unwrap();
    let shares = shares["shares"].as_array().unwrap();
    assert!(!shares.is_empty() && shares.len() <= 3);
    assert!(shares
        .windows(2)
        .all(|w| w[0]["height"].as_u64() > w[1]["height"].as_u64()));
    let one = api
        .call("getshare", json!({"id": shares[0]["id"]}))
        .unwrap();
    assert_eq!(one["on_best_chain"], json!(true));
    assert!(api.call("getshare", json!({"id": "zz"})).is_err());
    let payouts = api.call("getpayouts", json!({})).unwrap();
    let outs = payouts["outputs"].as_array().unwrap();
    let sum: u64 = outs.iter().map(|o| o["amount"].as_u64().unwrap()).sum();
    assert_eq!(sum, payouts["reward"].as_u64().unwrap());
    assert!(
        outs.iter().any(|o| o["address"] == node_addr.as_str()),
        "{payouts}"
    );
    let miners = api.call("getminers", json!({})).unwrap();
    let m = miners["miners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["worker"] == "rig-api")
        .cloned()
        .unwrap();
    assert!(m["accepted"].as_u64().unwrap() >= 2, "{m}");
    let blocks = api.call("getblocks", json!({})).unwrap();
    let blocks = blocks["blocks"].as_array().unwrap();
    // Every block the full node took as its tip is confirmed and pays us; a block that lost a
    // race at the same height (regtest finds them faster than templates change) is shown with
    // the full node's answer, never silently dropped.
    let accepted: Vec<&Value> = blocks
        .iter()
        .filter(|b| b["submission"] == "accepted")
        .collect();
    assert!(accepted.len() >= 2, "{blocks:?}");
    assert!(
        accepted
            .iter()
            .all(|b| b["status"] == "confirmed" && b["our_payout"].as_u64().unwrap() > 0),
        "{blocks:?}"
    );
    assert!(
        blocks.iter().all(|b| b["submission"] != "rejected"),
        "{blocks:?}"
    );
    let (code, metrics) = api.request("GET", "/metrics", b"").unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("otedama_blocks_total{outcome=\"accepted\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("otedama_blocks_total{outcome=\"accepted\"} 0\n"),
        "{metrics}"
    );
    // Full-node RPC statistics: real calls counted, latency histogram consistent.
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    assert!(
        value("otedama_node_rpc_calls_total{method=\"getblocktemplate\"} ") > 0,
        "{metrics}"
    );
    assert!(
        value("otedama_node_rpc_calls_total{method=\"submitblock\"} ") >= 2,
        "{metrics}"
    );
    assert_eq!(
        value("otedama_node_rpc_latency_seconds_bucket{le=\"+Inf\"} "),
        value("otedama_node_rpc_latency_seconds_count ")
    );
    assert!(api.call("nosuchmethod", json!({})).is_err());
    // State-changing P2P methods need the cookie too; bad params are refused clearly.
    for (method, params) in [
        ("addpeer", json!({"address": "/ip4/127.0.0.1/tcp/1"})),
        (
            "banpeer",
            json!({"peer_id": "12D3KooWJimgftHNN9kgwrxAhXNzrtCrbQ9dLGMCQd8iQHoD5Mfy"}),
        ),
    ] {
        let err = api.call(method, params).unwrap_err().to_string();
        assert!(err.contains("cookie"), "{method}: {err}");
    }

    // otedama-cli, when built alongside (cargo test --workspace builds every binary).
    let cli = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("otedama-cli");
    if cli.exists() {
        let url = format!("http://127.0.0.1:{}", node.api);
        for cmd in ["status", "shares", "payouts", "miners", "blocks", "peers"] {
            let out = Command::new(&cli)
                .args(["--rpc", &url, cmd])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "otedama-cli {cmd}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!out.stdout.is_empty());
        }
        let out = Command::new(&cli)
            .args(["--rpc", &url, "--json", "blocks"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(v["blocks"].as_array().unwrap().len() >= 2);
    }

    // Stopping needs the cookie.
    let err = api.call("stop", json!({})).unwrap_err().to_string();
    assert!(err.contains("cookie"), "{err}");
    let cookie = otedama_rpc::cookie::read(&dir.join("data").join(".cookie")).unwrap();
    let authed = Client::new(&format!("http://127.0.0.1:{}", node.api))
        .unwrap()
        .with_cookie(&cookie);
    let err = authed
        .call("addpeer", json!({"address": "not a multiaddr"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("multiaddr"), "{err}");
    let err = authed
        .call("banpeer", json!({"peer_id": "nobody"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("peer id"), "{err}");
    let banned = authed
        .call(
            "banpeer",
            json!({"peer_id": "12D3KooWJimgftHNN9kgwrxAhXNzrtCrbQ9dLGMCQd8iQHoD5Mfy", "seconds": 60}),
        )
        .unwrap();
    assert_eq!(banned["seconds"], json!(60));
    assert_eq!(banned["was_connected"], json!(false));
    assert!(authed
        .call(
            "banpeer",
            json!({"peer_id": "12D3KooWJimgftHNN9kgwrxAhXNzrtCrbQ9dLGMCQd8iQHoD5Mfy", "seconds": 0})
        )
        .is_err());
    assert_eq!(
        authed
            .call("addpeer", json!({"address": "/ip4/127.0.0.1/tcp/1"}))
            .unwrap()["dialing"],
        json!("/ip4/127.0.0.1/tcp/1")
    );
    assert_eq!(authed.call("stop", json!({})).unwrap(), json!("stopping"));
    let start = Instant::now();
    let child = node.child.as_mut().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    node.child = None;
    assert!(status.success());
    assert!(
        !dir.join("data").join(".cookie").exists(),
        "cookie left behind"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
