//! A real `otedama-node` process for end-to-end tests: started with its own data dir, log file,
//! loopback ports (Stratum, API, P2P), interrupted (Ctrl-C) and reaped on drop.

use otedama_rpc::client::Client;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A full-node URL where nothing listens: nodes that only relay and sync need no litecoind
/// (they log that the full node is unreachable and keep running).
pub const NO_FULL_NODE: &str = "http://127.0.0.1:9";

pub struct NodeProc {
    child: Option<Child>,
    /// The binary and its arguments, for [`NodeProc::restart`].
    command: (PathBuf, Vec<String>),
    pub tag: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    pub api: u16,
    pub stratum: u16,
    pub p2p: u16,
}

/// `otedama-cli`, built beside the test binaries by `cargo nextest run --workspace`
/// (scripts/test does); panics with what to do when it is missing.
pub fn cli_bin() -> PathBuf {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("otedama-cli")))
        .unwrap_or_else(|| PathBuf::from("otedama-cli"));
    assert!(
        path.exists(),
        "{} is missing: build the workspace (cargo build --workspace) first",
        path.display()
    );
    path
}

pub use crate::ports::free_port;

impl NodeProc {
    /// A fresh directory for a node's data and log.
    pub fn fresh_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("otedama-node-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        dir
    }

    /// Starts `bin` on `chain` (a regtest), pool main, against the full node at `rpc_url`
    /// (user and password of the test harness), paying `payout`, with `extra` flags.
    pub fn start(
        bin: &Path,
        tag: &str,
        chain: &str,
        rpc_url: &str,
        payout: &str,
        extra: &[&str],
    ) -> NodeProc {
        NodeProc::start_in(
            bin,
            tag,
            NodeProc::fresh_dir(tag),
            chain,
            rpc_url,
            payout,
            extra,
        )
    }

    /// [`NodeProc::start`] in an existing directory (its `data` store is kept).
    #[allow(clippy::too_many_arguments)]
    pub fn start_in(
        bin: &Path,
        tag: &str,
        dir: PathBuf,
        chain: &str,
        rpc_url: &str,
        payout: &str,
        extra: &[&str],
    ) -> NodeProc {
        let mut args: Vec<String> = vec![
            "--chain".into(),
            chain.into(),
            "--pool".into(),
            "main".into(),
            "--data-dir".into(),
            dir.join("data").display().to_string(),
            "--node-rpc".into(),
            rpc_url.into(),
            "--payout-address".into(),
            payout.into(),
        ];
        // monerod has no login; Core needs the harness's.
        if !chain.starts_with("monero") {
            args.extend([
                "--node-rpc-user".into(),
                crate::litecoind::RPC_USER.into(),
                "--node-rpc-password".into(),
                crate::litecoind::RPC_PASSWORD.into(),
            ]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        NodeProc::start_with_args(bin, tag, dir, args)
    }

    /// Starts `bin` with `args` plus loopback ports of its own for Stratum, the API and P2P, in
    /// `dir` (its log is `dir/node.log`); waits until the API answers.
    pub fn start_with_args(bin: &Path, tag: &str, dir: PathBuf, base: Vec<String>) -> NodeProc {
        // Another test process can take a port between our pick and the node's bind: the
        // node then exits with "Address already in use", and it is started again on fresh
        // ports (a bounded number of times).
        const ATTEMPTS: usize = 3;
        let log = dir.join("node.log");
        for attempt in 1..=ATTEMPTS {
            let [stratum, api, p2p] = crate::ports::free_ports::<3>();
            let mut args = base.clone();
            args.extend([
                "--stratum".into(),
                format!("127.0.0.1:{stratum}"),
                "--rpc".into(),
                format!("127.0.0.1:{api}"),
                "--p2p-listen".into(),
                format!("/ip4/127.0.0.1/tcp/{p2p}"),
            ]);
            let command = (bin.to_path_buf(), args);
            let log_len_before = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let child = spawn(&command, &log);
            let mut node = NodeProc {
                child: Some(child),
                command,
                tag: tag.to_string(),
                dir: dir.clone(),
                log: log.clone(),
                api,
                stratum,
                p2p,
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if node.call("getstatus", json!({})).is_ok() {
                    return node;
                }
                if node.exited() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let text = node.log_text();
            let this_run = text.get(log_len_before as usize..).unwrap_or(&text);
            if node.exited() && this_run.contains("Address already in use") && attempt < ATTEMPTS {
                continue;
            }
            panic!(
                "node {tag}: the API did not answer within 30s (attempt {attempt})\n--- log ---\n{text}"
            );
        }
        unreachable!("the last attempt returns or panics")
    }

    /// Whether the process has exited (it is reaped then).
    fn exited(&mut self) -> bool {
        match self.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(Some(_))) => true,
            Some(Ok(None)) => false,
            Some(Err(_)) | None => true,
        }
    }

    /// The address other nodes dial (`--peer`).
    pub fn multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.p2p)
    }

    pub fn client(&self) -> Client {
        Client::new(&format!("http://127.0.0.1:{}", self.api))
            .unwrap_or_else(|e| panic!("client: {e}"))
    }

    pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        self.client()
            .call(method, params)
            .map_err(|e| e.to_string())
    }

    /// The last `limit` shares of the node's best chain as `getshares` shows them (ids,
    /// payees, work, uncles: what a PPLNS window and so the payouts are made of); null when
    /// the API does not answer. Tests compare nodes' windows with it when no full node is
    /// there for `getpayouts`.
    pub fn recent_shares(&self, limit: u32) -> Value {
        self.call("getshares", serde_json::json!({ "limit": limit }))
            .map(|v| v["shares"].clone())
            .unwrap_or_default()
    }

    /// A privileged call, authenticated with the node's cookie file.
    pub fn call_privileged(&self, method: &str, params: Value) -> Result<Value, String> {
        let cookie = std::fs::read_to_string(self.dir.join("data").join(".cookie"))
            .map_err(|e| format!("cookie: {e}"))?;
        self.client()
            .with_cookie(cookie.trim())
            .call(method, params)
            .map_err(|e| e.to_string())
    }

    pub fn status(&self) -> Value {
        self.call("getstatus", json!({})).unwrap_or(Value::Null)
    }

    /// Best share (height, id) from `getstatus`.
    pub fn best(&self) -> (u64, String) {
        let s = self.status();
        (
            s["best_share"]["height"].as_u64().unwrap_or(0),
            s["best_share"]["id"].as_str().unwrap_or("").to_string(),
        )
    }

    pub fn peer_count(&self) -> usize {
        self.peer_ids().len()
    }

    /// Peer ids of the connected peers (`getpeers`).
    pub fn peer_ids(&self) -> Vec<String> {
        self.call("getpeers", json!({}))
            .ok()
            .and_then(|v| {
                v["peers"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|p| p["peer_id"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// The value of the unlabelled (or fully labelled, e.g. `name{k="v"}`) series `name` in
    /// `/metrics`.
    pub fn metric(&self, name: &str) -> Option<u64> {
        let (_, body) = self.client().request("GET", "/metrics", b"").ok()?;
        String::from_utf8_lossy(&body)
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    pub fn peer_id(&self) -> String {
        self.status()["p2p"]["peer_id"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `cond` every 100 ms until it holds; panics with the node's log after `timeout`.
    pub fn wait_until(&self, timeout: Duration, what: &str, cond: impl Fn(&NodeProc) -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if cond(self) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "node {}: {what} did not happen within {timeout:?}\n--- log ---\n{}",
            self.tag,
            self.log_text()
        );
    }

    /// Sends Ctrl-C and waits (up to 20 s, then kills).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        interrupt_and_wait(&mut child)
    }

    /// Stops the process (Ctrl-C) and starts it again with the same data, ports and flags; its
    /// log continues in the same file. Waits until the API answers.
    pub fn restart(&mut self) {
        self.stop();
        self.child = Some(spawn(&self.command, &self.log));
        self.wait_until(
            Duration::from_secs(60),
            "the API answers after a restart",
            |n| n.call("getstatus", json!({})).is_ok(),
        );
    }

    /// Kills the process at once (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        self.stop();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Sends `child` Ctrl-C (SIGINT) and reaps it; kills it when it has not exited within 20 s
/// (`None` then).
pub fn interrupt_and_wait(child: &mut Child) -> Option<std::process::ExitStatus> {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Polls `cond` every 100 ms; false after `timeout`.
pub fn eventually(timeout: Duration, cond: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Starts the node process, appending its stderr to `log`.
fn spawn((bin, args): &(PathBuf, Vec<String>), log: &Path) -> Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    Command::new(bin)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("OTEDAMA_E2E_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()))
}
