//! Regtest `monerod` daemons for tests: started offline in temporary directories on free
//! loopback ports, stopped (and their directories removed) on drop, panics included; plus a
//! blocking JSON-RPC client for the daemon's `/json_rpc` endpoint and for `monero-wallet-rpc`.
//!
//! Needs `/usr/bin/monerod` and `/usr/bin/monero-wallet-rpc` (`apt-get install -y monero`);
//! tests call [`available`] first, which skips them when it is missing, unless
//! `OTEDAMA_REQUIRE_FULL_NODES` is set (the same switch as the litecoind tests).
//!
//! `--fixed-difficulty N` sets the main chain's difficulty, so a test chooses how much proof of
//! work a block needs. Regtest runs hard fork 16 rules (RandomX, view tags) from height 1 and
//! uses mainnet's genesis block and address tags.

use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::difficulty::meets_difficulty;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::share::Candidate;
use otedama_consensus::Share;
use otedama_http::blocking::BlockingClient;
use otedama_http::{Config, Origin, Request};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const MONEROD: &str = "/usr/bin/monerod";
pub const WALLET_RPC: &str = "/usr/bin/monero-wallet-rpc";
pub use crate::litecoind::REQUIRE_ENV;
/// Longest wait for a daemon or wallet to answer after start-up (2.5 to 5 s measured).
pub const WAIT: Duration = Duration::from_secs(60);

/// Whether [`MONEROD`] and [`WALLET_RPC`] are installed. When not: panics if [`REQUIRE_ENV`] is
/// set, otherwise prints that `test` is skipped and returns `false`.
pub fn available(test: &str) -> bool {
    if Path::new(MONEROD).exists() && Path::new(WALLET_RPC).exists() {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE_ENV).is_none(),
        "{MONEROD} or {WALLET_RPC} is missing and {REQUIRE_ENV} is set: install them with \
         `apt-get install -y monero`"
    );
    eprintln!(
        "SKIPPED {test}: {MONEROD} not found (apt-get install -y monero; set {REQUIRE_ENV}=1 \
         to fail instead of skipping)"
    );
    false
}

/// A JSON-RPC error or transport failure: the same two cases as litecoind's.
pub use crate::litecoind::RpcError;

/// Blocking JSON-RPC 2.0 over `POST /json_rpc` (monerod and monero-wallet-rpc alike), through
/// the workspace's one HTTP client.
#[derive(Clone, Debug)]
pub struct JsonRpc {
    client: BlockingClient,
    pub timeout: Duration,
}

impl JsonRpc {
    pub fn new(port: u16) -> JsonRpc {
        let origin = Origin::parse(&format!("http://127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("origin for port {port}: {e}"));
        JsonRpc {
            client: BlockingClient::new(origin, Config::default()),
            timeout: Duration::from_secs(120),
        }
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params});
        let request = Request::post(body.to_string())
            .path("/json_rpc")
            .header("Content-Type", "application/json")
            .timeout(Some(self.timeout));
        let response = self
            .client
            .send(request)
            .map_err(|e| RpcError::Transport(e.to_string()))?;
        let v: Value = serde_json::from_slice(&response.body)
            .map_err(|e| RpcError::Transport(format!("HTTP {}: not JSON: {e}", response.status)))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(RpcError::Node {
                code: err["code"].as_i64().unwrap_or(0),
                message: err["message"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(v["result"].clone())
    }
}

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique_dir(name: &str) -> PathBuf {
    let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir =
        std::env::temp_dir().join(format!("otedama-monerod-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

use crate::ports::free_port;

/// A child process killed (and its directory removed) on drop.
struct Proc {
    name: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, dir: PathBuf, program: &str, args: &[String]) -> Proc {
        let log = std::fs::File::create(dir.join("console.log"))
            .unwrap_or_else(|e| panic!("{name}: cannot create console.log: {e}"));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("{name}: cannot clone console.log: {e}"));
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot run {program}: {e}"));
        Proc {
            name: name.to_owned(),
            dir,
            child: Some(child),
        }
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("console.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until `probe` answers, or panics with the log.
    fn wait_ready(&mut self, probe: impl Fn() -> Result<Value, RpcError>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.exited() {
                panic!(
                    "{}: exited at start-up with {status}\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
            match probe() {
                Ok(_) => return,
                Err(e) if Instant::now() > deadline => panic!(
                    "{}: no RPC after {WAIT:?} ({e})\n{}",
                    self.name,
                    self.log_tail(30)
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("OTEDAMA_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A regtest monerod, offline, on free loopback ports.
pub struct Monerod {
    proc: Proc,
    pub rpc_port: u16,
    rpc: JsonRpc,
}

impl Monerod {
    /// Starts a fresh regtest chain whose every block needs `fixed_difficulty`.
    pub fn start(name: &str, fixed_difficulty: u64) -> Monerod {
        let dir = unique_dir(name);
        let (rpc_port, p2p_port) = (free_port(), free_port());
        let args: Vec<String> = vec![
            "--regtest".into(),
            "--offline".into(),
            "--fixed-difficulty".into(),
            fixed_difficulty.to_string(),
            "--data-dir".into(),
            dir.display().to_string(),
            "--rpc-bind-ip".into(),
            "127.0.0.1".into(),
            "--rpc-bind-port".into(),
            rpc_port.to_string(),
            "--p2p-bind-ip".into(),
            "127.0.0.1".into(),
            "--p2p-bind-port".into(),
            p2p_port.to_string(),
            "--no-igd".into(),
            "--no-zmq".into(),
            "--non-interactive".into(),
            "--log-level".into(),
            "0".into(),
        ];
        let mut proc = Proc::spawn(name, dir, MONEROD, &args);
        let rpc = JsonRpc::new(rpc_port);
        let probe = rpc.clone();
        proc.wait_ready(|| probe.call("get_info", json!({})));
        Monerod {
            proc,
            rpc_port,
            rpc,
        }
    }

    pub fn rpc(&self) -> &JsonRpc {
        &self.rpc
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    pub fn height(&self) -> u64 {
        let info = self
            .rpc
            .call("get_info", json!({}))
            .unwrap_or_else(|e| panic!("get_info: {e}"));
        info["height"].as_u64().expect("get_info height")
    }

    /// Mines `count` blocks to `address` with monerod's own miner.
    pub fn generate_blocks(&self, count: u64, address: &str) {
        self.rpc
            .call(
                "generateblocks",
                json!({"amount_of_blocks": count, "wallet_address": address}),
            )
            .unwrap_or_else(|e| panic!("generateblocks: {e}\n{}", self.log_tail(20)));
    }
}

/// A monero-wallet-rpc connected to a [`Monerod`], with wallets in its own directory.
pub struct WalletRpc {
    proc: Proc,
    rpc: JsonRpc,
}

impl WalletRpc {
    pub fn start(name: &str, daemon: &Monerod) -> WalletRpc {
        let dir = unique_dir(name);
        let port = free_port();
        let args: Vec<String> = vec![
            "--daemon-address".into(),
            format!("127.0.0.1:{}", daemon.rpc_port),
            "--trusted-daemon".into(),
            "--rpc-bind-ip".into(),
            "127.0.0.1".into(),
            "--rpc-bind-port".into(),
            port.to_string(),
            "--disable-rpc-login".into(),
            "--wallet-dir".into(),
            dir.display().to_string(),
            "--log-file".into(),
            dir.join("wallet-rpc.log").display().to_string(),
            "--non-interactive".into(),
        ];
        let mut proc = Proc::spawn(name, dir, WALLET_RPC, &args);
        let rpc = JsonRpc::new(port);
        let probe = rpc.clone();
        proc.wait_ready(|| probe.call("get_version", json!({})));
        WalletRpc { proc, rpc }
    }

    pub fn rpc(&self) -> &JsonRpc {
        &self.rpc
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.proc.log_tail(lines)
    }

    /// Restores a wallet from its keys (restore height 0) and makes it the open wallet.
    pub fn restore(&self, file: &str, address: &str, spend_secret: &str, view_secret: &str) {
        self.rpc
            .call(
                "generate_from_keys",
                json!({
                    "filename": file,
                    "address": address,
                    "spendkey": spend_secret,
                    "viewkey": view_secret,
                    "password": "",
                    "restore_height": 0,
                    "autosave_current": false,
                }),
            )
            .unwrap_or_else(|e| panic!("generate_from_keys {file}: {e}\n{}", self.log_tail(20)));
    }

    /// Refreshes the open wallet and returns its total balance (locked outputs included).
    pub fn refreshed_balance(&self) -> u64 {
        self.rpc
            .call("refresh", json!({"start_height": 0}))
            .unwrap_or_else(|e| panic!("refresh: {e}"));
        let b = self
            .rpc
            .call("get_balance", json!({"account_index": 0}))
            .unwrap_or_else(|e| panic!("get_balance: {e}"));
        b["balance"].as_u64().expect("balance")
    }

    /// Incoming transfers of the open wallet (`get_transfers` with `in`), as returned.
    pub fn incoming(&self) -> Value {
        self.rpc
            .call("get_transfers", json!({"in": true}))
            .unwrap_or_else(|e| panic!("get_transfers: {e}"))
    }
}

/// The arguments of a regtest monerod on `dir` and `rpc_port` (a fresh P2P port each time):
/// ZMQ publishing on `zmq_pub_port` (with the ZMQ RPC server on a free port, not the fixed
/// default that concurrent daemons would share) or none at all (`--no-zmq`), and
/// `--restricted-rpc` when `restricted`.
fn regtest_args(
    dir: &Path,
    fixed_difficulty: u64,
    rpc_port: u16,
    zmq_pub_port: Option<u16>,
    restricted: bool,
) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--regtest".into(),
        "--offline".into(),
        "--fixed-difficulty".into(),
        fixed_difficulty.to_string(),
        "--data-dir".into(),
        dir.display().to_string(),
        "--rpc-bind-ip".into(),
        "127.0.0.1".into(),
        "--rpc-bind-port".into(),
        rpc_port.to_string(),
        "--p2p-bind-ip".into(),
        "127.0.0.1".into(),
        "--p2p-bind-port".into(),
        free_port().to_string(),
        "--no-igd".into(),
        "--non-interactive".into(),
        "--log-level".into(),
        "0".into(),
    ];
    match zmq_pub_port {
        Some(port) => args.extend([
            "--zmq-pub".into(),
            format!("tcp://127.0.0.1:{port}"),
            "--zmq-rpc-bind-ip".into(),
            "127.0.0.1".into(),
            "--zmq-rpc-bind-port".into(),
            free_port().to_string(),
        ]),
        None => args.push("--no-zmq".into()),
    }
    if restricted {
        args.push("--restricted-rpc".into());
    }
    args
}

/// Starts `program` with its output appended to `dir/console.log` (a restart keeps the log of
/// the run before).
fn spawn_appending(name: &str, dir: &Path, program: &str, args: &[String]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("console.log"))
        .unwrap_or_else(|e| panic!("{name}: cannot open console.log: {e}"));
    let log2 = log
        .try_clone()
        .unwrap_or_else(|e| panic!("{name}: cannot clone console.log: {e}"));
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .unwrap_or_else(|e| panic!("{name}: cannot run {program}: {e}"))
}

impl Monerod {
    fn start_with(
        name: &str,
        fixed_difficulty: u64,
        zmq_pub_port: Option<u16>,
        restricted: bool,
    ) -> Monerod {
        let dir = unique_dir(name);
        let rpc_port = free_port();
        let args = regtest_args(&dir, fixed_difficulty, rpc_port, zmq_pub_port, restricted);
        let mut proc = Proc::spawn(name, dir, MONEROD, &args);
        let rpc = JsonRpc::new(rpc_port);
        let probe = rpc.clone();
        proc.wait_ready(|| probe.call("get_info", json!({})));
        Monerod {
            proc,
            rpc_port,
            rpc,
        }
    }

    /// [`Monerod::start`] publishing ZMQ notifications (`--zmq-pub tcp://127.0.0.1:PORT`
    /// instead of `--no-zmq`); returns the daemon and PORT.
    pub fn start_with_zmq(name: &str, fixed_difficulty: u64) -> (Monerod, u16) {
        let zmq_port = free_port();
        (
            Monerod::start_with(name, fixed_difficulty, Some(zmq_port), false),
            zmq_port,
        )
    }

    /// [`Monerod::start`] with `--restricted-rpc`: the RPC port a public node offers
    /// (`generateblocks` and other admin calls refused; the mining calls are served).
    pub fn start_restricted(name: &str, fixed_difficulty: u64) -> Monerod {
        Monerod::start_with(name, fixed_difficulty, None, true)
    }

    /// Kills the daemon (as a crash would), keeping its data directory for
    /// [`Monerod::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.proc.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the daemon again (after [`Monerod::kill`]) on the same data directory and RPC
    /// port, publishing ZMQ on `zmq_pub_port` when given, and waits until it answers. The chain
    /// is the one it had (blocks not yet flushed by the kill may be gone).
    pub fn restart(&mut self, fixed_difficulty: u64, zmq_pub_port: Option<u16>) {
        self.kill();
        let name = self.proc.name.clone();
        let dir = self.proc.dir.clone();
        let args = regtest_args(&dir, fixed_difficulty, self.rpc_port, zmq_pub_port, false);
        self.proc.child = Some(spawn_appending(&name, &dir, MONEROD, &args));
        let probe = self.rpc.clone();
        self.proc.wait_ready(|| probe.call("get_info", json!({})));
    }
}

/// Hashes nonces of `block` from `start` with `hash` until `want` is whether the hash meets
/// `difficulty`; returns the block with that nonce.
pub fn grind(
    block: &Block,
    hash: &mut dyn FnMut(&[u8]) -> Hash32,
    difficulty: u128,
    start: u32,
    want: bool,
) -> Block {
    let mut b = block.clone();
    let blob = b.hashing_blob();
    let at = b.header.nonce_offset();
    let mut hashing = blob.clone();
    for nonce in start.. {
        hashing[at..at + 4].copy_from_slice(&nonce.to_le_bytes());
        if meets_difficulty(&hash(&hashing), difficulty) == want {
            b.header.nonce = nonce;
            assert_eq!(b.hashing_blob(), hashing);
            return b;
        }
    }
    unreachable!("2^32 nonces without the wanted outcome")
}

/// The block a Monero share's candidate is, with the template's other transactions (what the
/// node's `PendingMonero::assemble` submits).
pub fn block_of(share: &Share, template: &MoneroTemplate) -> Block {
    let Candidate::Monero(c) = &share.candidate else {
        panic!("a Monero share")
    };
    Block {
        header: c.header.clone(),
        miner_tx: c.miner_tx.clone(),
        tx_hashes: template.tx_hashes.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// A full transaction pool.

/// Coinbase outputs unlock after 60 blocks; the fan-out spends two each.
pub const MATURITY: u64 = 60;
/// Fan-out transactions: each turns two coinbase outputs into 15 outputs (and change) of
/// [`FAN_OUT_AMOUNT`], so the filling transactions find distinct unlocked inputs.
pub const FAN_OUTS: u64 = 8;
pub const FAN_OUT_AMOUNT: u64 = 4_000_000_000_000;
/// Transactions of the pool: 16 outputs each (15 destinations and change; 16 is the most a
/// Bulletproof+ proves), 6.2 kB of weight with one input and 6.8 kB with two (the wallet's
/// choice), the Bulletproof+ clawback included: 345 to 382 kB in all.
pub const FILLERS: u64 = 56;
/// Destinations per transaction.
pub const OUTPUTS: u64 = 15;

/// `transfer` of [`OUTPUTS`] destinations of `amount` each to `address` at `priority`; returns
/// the transaction's id (hex).
pub fn transfer(wallets: &WalletRpc, address: &str, amount: u64, priority: u64) -> String {
    let destinations: Vec<Value> = (0..OUTPUTS)
        .map(|i| json!({"amount": amount + i, "address": address}))
        .collect();
    let params = json!({"destinations": destinations, "priority": priority});
    let call = || wallets.rpc().call("transfer", params.clone());
    // Seen once in a dozen runs: wallet2 lost its connection to monerod while sending
    // (error -38, "no connection to daemon"); the next call connects again. Should the lost
    // transaction have reached the pool after all, the check of the pool against what was
    // sent fails.
    let answer = match call() {
        Err(RpcError::Node { code: -38, message }) => {
            eprintln!("transfer: {message}; trying once more");
            call()
        }
        other => other,
    };
    let answer = answer.unwrap_or_else(|e| panic!("transfer: {e}\n{}", wallets.log_tail(20)));
    answer["tx_hash"].as_str().expect("tx_hash").to_owned()
}

/// Waits until `get_miner_data` lists every one of `txs` as mineable. monerod takes a
/// transaction the wallet sent into its templates (and that backlog) only once it is fluffed,
/// which happens on its p2p strand after `sendrawtransaction` has answered (the Dandelion++ stem
/// fails offline, then the transaction is fluffed). Bounded only to turn a hang into a failure.
pub fn until_mineable(daemon: &Monerod, txs: &HashSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let md = daemon
            .rpc()
            .call("get_miner_data", json!({}))
            .unwrap_or_else(|e| panic!("get_miner_data: {e}"));
        let listed: HashSet<String> = md["tx_backlog"]
            .as_array()
            .map(|b| {
                b.iter()
                    .filter_map(|e| e["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if txs.is_subset(&listed) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "monerod lists {} of the {} transactions sent as mineable",
            txs.intersection(&listed).count(),
            txs.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn refresh(wallets: &WalletRpc) {
    wallets
        .rpc()
        .call("refresh", json!({"start_height": 0}))
        .unwrap_or_else(|e| panic!("refresh: {e}"));
}

/// A transaction pool fuller than Monero's 300,000-byte full-reward zone, as on mainnet at busy
/// times: what [`fill_pool`] made.
pub struct FullPool {
    /// The wallet that sent them (keep it: it holds the wallet process).
    pub wallets: WalletRpc,
    /// Its address (it mined the blocks that fund it).
    pub funder: String,
    /// The ids (hex) of the transactions in the pool, all mineable.
    pub sent: HashSet<String>,
}

/// Fills `daemon`'s pool with [`FILLERS`] transactions of 16 outputs (345 to 382 kB of weight in
/// all): a wallet (`name`) mines [`MATURITY`] + 18 blocks to itself, fans two coinbase outputs
/// each out into 15 (8 transactions, mined and unlocked with 10 more blocks), then sends the
/// fillers, most at priority 3 so that monerod's own template goes past the zone. About 30 s.
pub fn fill_pool(daemon: &Monerod, name: &str) -> FullPool {
    // A funded wallet: enough mature coinbase outputs for the fan-out.
    let wallets = WalletRpc::start(name, daemon);
    wallets
        .rpc()
        .call(
            "create_wallet",
            json!({"filename": "funder", "password": "", "language": "English"}),
        )
        .unwrap_or_else(|e| panic!("create_wallet: {e}\n{}", wallets.log_tail(20)));
    let funder = wallets
        .rpc()
        .call("get_address", json!({"account_index": 0}))
        .unwrap_or_else(|e| panic!("get_address: {e}"))["address"]
        .as_str()
        .expect("address")
        .to_owned();
    daemon.generate_blocks(MATURITY + 2 * FAN_OUTS + 2, &funder);
    refresh(&wallets);
    let fan_out: HashSet<String> = (0..FAN_OUTS)
        .map(|_| transfer(&wallets, &funder, FAN_OUT_AMOUNT, 1))
        .collect();
    // The fan-out mined, and its outputs unlocked (10 blocks).
    until_mineable(daemon, &fan_out);
    daemon.generate_blocks(10, &funder);
    let info = daemon
        .rpc()
        .call("get_info", json!({}))
        .unwrap_or_else(|e| panic!("get_info: {e}"));
    assert_eq!(info["tx_pool_size"], 0, "the fan-out is mined");
    refresh(&wallets);

    // The pool: every 14th transaction at priority 1, the others at 3 (16 times the fee per
    //    weight: monerod's template takes them about 24 kB into the penalty zone).
    let sent: HashSet<String> = (0..FILLERS)
        .map(|i| {
            let priority = if i % 14 == 13 { 1 } else { 3 };
            transfer(&wallets, &funder, 1_000_000_000, priority)
        })
        .collect();
    until_mineable(daemon, &sent);
    FullPool {
        wallets,
        funder,
        sent,
    }
}
