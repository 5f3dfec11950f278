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

use otedama_http::blocking::BlockingClient;
use otedama_http::{Config, Origin, Request};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, TcpListener};
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

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"))
}

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
