//! End to end, everything real: two litecoind regtest daemons, the `otedama-node` binary, and
//! two Stratum rigs written here that grind scrypt over TCP (one with BIP 310 version rolling,
//! one with a per-miner address username). Blocks must be accepted by litecoind and each
//! block's coinbase must pay exactly the PPLNS split recomputed from the node's sharechain.

use bitcoin::hashes::{sha256d, Hash};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::pplns::{lottery_seed, payout_outputs, SplitParams, WindowWeights};
use otedama_consensus::{ChainView, PayoutScript, ShareHash};
use otedama_sharechain::Sharechain;
use otedama_tests::litecoind::{self, Litecoind, RPC_PASSWORD, RPC_USER};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
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

/// A blocking Stratum client that grinds scrypt.
struct Rig {
    stream: BufReader<TcpStream>,
    next_id: u64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    difficulty: f64,
    job: Option<Value>,
    version_mask: u32,
    user: String,
}

impl Rig {
    fn connect(port: u16) -> Rig {
        let start = Instant::now();
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("stratum port {port}: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Rig {
            stream: BufReader::new(stream),
            next_id: 1,
            extranonce1: vec![],
            extranonce2_size: 0,
            difficulty: 1.0,
            job: None,
            version_mask: 0,
            user: String::new(),
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.stream.get_mut().write_all(line.as_bytes()).unwrap();
        id
    }

    /// Reads until the reply to `id`, handling notifications on the way.
    fn reply(&mut self, id: u64) -> Value {
        loop {
            let msg = self.read();
            if msg["id"] == json!(id) && msg.get("method").is_none_or(|m| m.is_null()) {
                return msg;
            }
            self.handle(&msg);
        }
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stream.read_line(&mut line).expect("read from node");
        assert!(n > 0, "node closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    fn handle(&mut self, msg: &Value) {
        match msg["method"].as_str() {
            Some("mining.set_difficulty") => self.difficulty = msg["params"][0].as_f64().unwrap(),
            Some("mining.notify") => self.job = Some(msg["params"].clone()),
            _ => {}
        }
    }

    fn start(&mut self, user: &str, version_rolling: bool) {
        if version_rolling {
            let id = self.send("mining.configure", json!([["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]));
            let r = self.reply(id);
            assert_eq!(r["result"]["version-rolling"], json!(true), "{r}");
            self.version_mask =
                u32::from_str_radix(r["result"]["version-rolling.mask"].as_str().unwrap(), 16)
                    .unwrap();
            assert_ne!(self.version_mask, 0);
        }
        let id = self.send("mining.subscribe", json!(["otedama-e2e-rig/1.0"]));
        let r = self.reply(id);
        self.extranonce1 = hex::decode(r["result"][1].as_str().unwrap()).unwrap();
        self.extranonce2_size = r["result"][2].as_u64().unwrap() as usize;
        self.user = user.to_string();
        let id = self.send("mining.authorize", json!([user, "x"]));
        let r = self.reply(id);
        assert_eq!(r["result"], json!(true), "{r}");
    }

    /// Waits for a job, grinds until a hash meets the connection's difficulty, submits it and
    /// returns whether it was accepted.
    fn mine_one(&mut self, counter: &mut u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.job.is_none() {
            assert!(Instant::now() < deadline, "no job from the node");
            let msg = self.read();
            self.handle(&msg);
        }
        let job = self.job.clone().unwrap();
        let job_id = job[0].as_str().unwrap().to_string();
        let prev = hex::decode(job[1].as_str().unwrap()).unwrap();
        let coinb1 = hex::decode(job[2].as_str().unwrap()).unwrap();
        let coinb2 = hex::decode(job[3].as_str().unwrap()).unwrap();
        let branch: Vec<Vec<u8>> = job[4]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
            .collect();
        let version = u32::from_str_radix(job[5].as_str().unwrap(), 16).unwrap();
        let nbits = u32::from_str_radix(job[6].as_str().unwrap(), 16).unwrap();
        let ntime = u32::from_str_radix(job[7].as_str().unwrap(), 16).unwrap();
        // Stratum's prevhash is the header's bytes with each 4-byte word reversed.
        let mut prev_header = [0u8; 32];
        for (i, w) in prev.chunks(4).enumerate() {
            for (j, b) in w.iter().rev().enumerate() {
                prev_header[i * 4 + j] = *b;
            }
        }
        let target =
            otedama_mining::stratum::difficulty::difficulty_to_target(self.difficulty, 65536);
        *counter += 1;
        let en2 = counter.to_le_bytes()[..self.extranonce2_size].to_vec();
        let mut coinbase = coinb1.clone();
        coinbase.extend_from_slice(&self.extranonce1);
        coinbase.extend_from_slice(&en2);
        coinbase.extend_from_slice(&coinb2);
        let mut root = sha256d::Hash::hash(&coinbase).to_byte_array();
        for b in &branch {
            let mut buf = root.to_vec();
            buf.extend_from_slice(b);
            root = sha256d::Hash::hash(&buf).to_byte_array();
        }
        let rolled = if self.version_mask != 0 {
            (version & !self.version_mask) | (0x0000_2000 & self.version_mask)
        } else {
            version
        };
        let mut header = [0u8; 80];
        header[..4].copy_from_slice(&rolled.to_le_bytes());
        header[4..36].copy_from_slice(&prev_header);
        header[36..68].copy_from_slice(&root);
        header[68..72].copy_from_slice(&ntime.to_le_bytes());
        header[72..76].copy_from_slice(&nbits.to_le_bytes());
        for nonce in 0u32..1_000_000 {
            header[76..].copy_from_slice(&nonce.to_le_bytes());
            if target.is_met_by(&PowAlgo::Scrypt1024.hash(&header)) {
                let mut params = vec![
                    json!(self.user),
                    json!(job_id),
                    json!(hex::encode(&en2)),
                    json!(format!("{ntime:08x}")),
                    json!(format!("{nonce:08x}")),
                ];
                if self.version_mask != 0 {
                    params.push(json!(format!("{:08x}", rolled & self.version_mask)));
                }
                let id = self.send("mining.submit", Value::Array(params));
                let r = self.reply(id);
                // On regtest every other hash is a share: pace the rig far below the server's
                // per-connection request limit (100/s), as real hardware on a real chain is.
                std::thread::sleep(Duration::from_millis(30));
                if r["result"] != json!(true) {
                    eprintln!("submit refused: {r}");
                }
                return r["result"] == json!(true);
            }
        }
        false
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
    a.generate(1);
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
            Chain::LitecoinRegtest.params(),
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
    a.generate(1);
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
    a.generate(1);
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
            Chain::LitecoinRegtest.params(),
            &node_addr,
        )
        .unwrap(),
    );
    let rig_script = PayoutScript::from(
        otedama_consensus::chain::address::parse_address(
            Chain::LitecoinRegtest.params(),
            &rig_addr,
        )
        .unwrap(),
    );
    let mut paid_both = false;
    for h in start_height + 1..=end_height {
        let hash = a.call_str("getblockhash", json!([h]));
        let block = a.call("getblock", json!([hash, 2]));
        let coinbase = &block["tx"][0];
        let outputs: Vec<(Vec<u8>, u64)> = coinbase["vout"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                let script = hex::decode(o["scriptPubKey"]["hex"].as_str().unwrap()).unwrap();
                let sats = (o["value"].as_f64().unwrap() * 1e8).round() as u64;
                (script, sats)
            })
            .collect();
        // The block's hash is the share id.
        let id: ShareHash = hash.parse().expect("hash");
        let info = chain
            .state()
            .share_info(&id)
            .cloned()
            .unwrap_or_else(|| panic!("block {h} ({hash}) is not a share of the node"));
        let share = chain.store().share(&id).unwrap().unwrap();
        let window = WindowWeights::from_scratch(chain.state(), &pool, &info).expect("window");
        let reward: u64 = share
            .candidate
            .coinbase
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .sum();
        let seed = lottery_seed(
            share.candidate.header.prev_blockhash.as_byte_array(),
            share.side.prev_share.as_byte_array(),
        );
        let expect = payout_outputs(
            &window,
            reward,
            &SplitParams {
                min_payout: pool.min_payout,
                max_outputs: pool.max_payout_outputs,
            },
            &seed,
        );
        let paid: Vec<(Vec<u8>, u64)> = outputs.iter().filter(|(_, v)| *v > 0).cloned().collect();
        let expect: Vec<(Vec<u8>, u64)> = expect
            .iter()
            .map(|(s, a)| (s.as_bytes().to_vec(), *a))
            .collect();
        assert_eq!(
            paid, expect,
            "block {h}: coinbase differs from the sharechain's split"
        );
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
    a.generate(1);
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
        .write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
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
    assert!(blocks.len() >= 2, "{blocks:?}");
    assert!(
        blocks
            .iter()
            .all(|b| b["status"] == "confirmed" && b["our_payout"].as_u64().unwrap() > 0),
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
