//! `otedama-node` as a daemon: the README's command against a real litecoind on the default
//! API port, SIGTERM and SIGINT stops, exit codes (0 clean, 1 runtime, 2 configuration), the
//! supervision of a task that panics, JSON logs, credentials from the environment, and the CLI
//! finding the node's cookie in its data dir.

#[path = "support/chains.rs"]
mod chains;

use chains::{address, bin};
use otedama_rpc::client::Client;
use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::{free_port, NodeProc, NO_FULL_NODE};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn cli() -> PathBuf {
    otedama_tests::node::cli_bin()
}

fn strings(words: &[&str]) -> Vec<String> {
    words.iter().map(|s| s.to_string()).collect()
}

/// Flags of a bitcoin-regtest node in `data` on loopback with any free ports, whose full node
/// is given by `full_node` (flags naming its URL and credentials), then `extra`.
fn loopback_node(full_node: &[&str], payout: &str, data: &str, extra: &[&str]) -> Vec<String> {
    let mut v = strings(&["--chain", "bitcoin-regtest"]);
    v.extend(strings(full_node));
    v.extend(strings(&[
        "--payout-address",
        payout,
        "--data-dir",
        data,
        "--stratum",
        "127.0.0.1:0",
        "--p2p-listen",
        "/ip4/127.0.0.1/tcp/0",
    ]));
    v.extend(strings(extra));
    v
}

/// A full node where nothing listens (the node waits for it).
const NO_NODE: [&str; 6] = [
    "--node-rpc",
    NO_FULL_NODE,
    "--node-rpc-user",
    "u",
    "--node-rpc-password",
    "p",
];

/// Starts the node with `args` and `env`, stderr to `log`, and a HOME of its own (so the
/// default data dir is the test's).
fn spawn(args: &[String], env: &[(&str, String)], home: &Path, log: &Path) -> Child {
    let file = std::fs::File::create(log).expect("create log");
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("HOME", home)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(file);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start otedama-node")
}

fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{name} failed");
}

fn wait_api(url: &str, child: &mut Child, log: &Path) {
    let client = Client::new(url).expect("API URL");
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if client.call("getstatus", serde_json::json!({})).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "node exited ({status}) before its API answered:\n{}",
                read(log)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the API at {url} never answered:\n{}", read(log));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn run_cli(args: &[&str], home: &Path) -> (i32, String, String) {
    let out = Command::new(cli())
        .args(args)
        .env("HOME", home)
        .output()
        .expect("run otedama-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The README's `otedama-node` command: the lines of its first `sh` block that start with
/// `otedama-node`, continuation backslashes joined.
fn readme_node_command() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README.md");
    let start = readme
        .find("\notedama-node ")
        .expect("README has an otedama-node command");
    let mut command = String::new();
    for line in readme[start + 1..].lines() {
        let (text, more) = match line.trim_end().strip_suffix('\\') {
            Some(t) => (t, true),
            None => (line, false),
        };
        command.push_str(text);
        command.push(' ');
        if !more {
            break;
        }
    }
    command.split_whitespace().map(str::to_string).collect()
}

/// The README's command works verbatim against litecoind's default ports, so the node's API
/// must not take one: with only the chain, the full node's URL and cookie, the payout address
/// and the Stratum port replaced for regtest (and the example peer left out), the node comes up
/// with its API on the default port and data in the default data dir under HOME, and
/// `otedama-cli` without `--rpc` reaches it and finds its cookie.
#[test]
fn the_readme_command_comes_up_on_the_default_api_port() {
    if !litecoind::available("daemon readme") {
        return;
    }
    let words = readme_node_command();
    assert_eq!(words[0], "otedama-node");
    assert!(
        !words.iter().any(|w| w == "--rpc" || w == "--data-dir"),
        "the README command should rely on the defaults: {words:?}"
    );
    let node_rpc_at = words
        .iter()
        .position(|w| w == "--node-rpc")
        .expect("--node-rpc");
    assert_eq!(
        words[node_rpc_at + 1],
        "http://127.0.0.1:9332",
        "the README talks to litecoind's default mainnet RPC port"
    );
    let ltc = Litecoind::start("daemon-readme", &[]);
    let home = tempfile::tempdir().expect("home");
    let mut args: Vec<String> = Vec::new();
    let mut i = 1;
    while i < words.len() {
        let flag = words[i].as_str();
        let replaced = match flag {
            "--chain" => Some("litecoin-regtest".to_string()),
            "--node-rpc" => Some(ltc.rpc_url()),
            "--node-rpc-cookie" => Some(ltc.cookie_path().display().to_string()),
            "--payout-address" => Some(address("rltc", 7)),
            "--stratum" => Some("127.0.0.1:0".to_string()),
            "--peer" => None,
            other => panic!("README flag {other} not expected by this test; teach it"),
        };
        if let Some(v) = replaced {
            args.push(flag.to_string());
            args.push(v);
        }
        i += 2;
    }
    let log = home.path().join("node.log");
    let mut node = spawn(&args, &[], home.path(), &log);
    wait_api(otedama_rpc::DEFAULT_RPC_URL, &mut node, &log);
    let data_dir = home.path().join(".otedama").join("litecoin-regtest-main");
    assert!(
        data_dir.join("sharechain").is_dir() && data_dir.join(".cookie").is_file(),
        "default data dir {} not used",
        data_dir.display()
    );
    let text = read(&log);
    assert!(text.contains("127.0.0.1:9334"), "{text}");
    // The default P2P addresses: IPv4 and, where the host has it, IPv6.
    assert!(
        text.contains("/ip4/0.0.0.0/tcp/9339") || text.contains("tcp/9339"),
        "{text}"
    );

    // otedama-cli: default URL; --data-dir finds the cookie; `call` passes params through.
    let dir = data_dir.display().to_string();
    let (code, out, err) = run_cli(&["status"], home.path());
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run_cli(
        &["--data-dir", &dir, "call", "getshares", "{\"limit\": 1}"],
        home.path(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("shares"), "{out}");
    // A privileged method needs the cookie: found in the default data dir of --chain/--pool.
    let (code, out, err) = run_cli(&["--chain", "litecoin-regtest", "stop"], home.path());
    assert_eq!(code, 0, "{out}{err}");
    let status = wait_exit(&mut node, Duration::from_secs(30)).expect("node stops");
    assert_eq!(status.code(), Some(0), "{}", read(&log));
    assert!(!data_dir.join(".cookie").exists(), "cookie left behind");
}

/// SIGTERM (kill, docker stop, systemctl stop) and SIGINT both stop the node cleanly: exit 0,
/// the cookie removed, the store reopened by the next start. Credentials come from the
/// environment (never on the command line, where `ps` shows them), and `--log-format json`
/// writes one JSON object per line.
#[test]
fn sigterm_and_sigint_stop_cleanly_with_secrets_from_the_environment() {
    if !litecoind::available("daemon signals") {
        return;
    }
    let ltc = Litecoind::start("daemon-signals", &[]);
    let _peer = ltc.start_peer("daemon-signals-peer");
    ltc.generate(101);
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("data");
    let api = free_port();
    let url = format!("http://127.0.0.1:{api}");
    let args: Vec<String> = [
        "--chain",
        "litecoin-regtest",
        "--payout-address",
        &address("rltc", 9),
        "--rpc",
        &format!("127.0.0.1:{api}"),
        "--stratum",
        "127.0.0.1:0",
        "--p2p-listen",
        "/ip4/127.0.0.1/tcp/0",
        "--log-format",
        "json",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let env = [
        ("OTEDAMA_NODE_RPC", ltc.rpc_url()),
        ("OTEDAMA_NODE_RPC_USER", litecoind::RPC_USER.to_string()),
        (
            "OTEDAMA_NODE_RPC_PASSWORD",
            litecoind::RPC_PASSWORD.to_string(),
        ),
        ("OTEDAMA_DATA_DIR", data.display().to_string()),
    ];
    assert!(!args.iter().any(|a| a.contains(litecoind::RPC_PASSWORD)));
    for (round, sig) in ["TERM", "INT"].iter().enumerate() {
        let log = home.path().join(format!("node-{round}.log"));
        let mut node = spawn(&args, &env, home.path(), &log);
        wait_api(&url, &mut node, &log);
        // The environment's credentials reach litecoind: the node gets templates.
        let client = Client::new(&url).expect("url");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = client
                .call("getstatus", serde_json::json!({}))
                .expect("getstatus");
            if status["parent_chain"]["full_node"] == "ready" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "full node never ready: {status}\n{}",
                read(&log)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(data.join(".cookie").is_file());
        signal(&node, sig);
        let status = wait_exit(&mut node, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("SIG{sig} did not stop the node:\n{}", read(&log)));
        let text = read(&log);
        assert_eq!(status.code(), Some(0), "SIG{sig}:\n{text}");
        assert!(!data.join(".cookie").exists(), "SIG{sig} left the cookie");
        assert!(text.contains(&format!("SIG{sig} received")), "{text}");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
        }
    }
}

/// A configuration error exits 2 (systemd's `RestartPreventExitStatus=2` does not restart it):
/// a bad flag, a missing setting, a bad log filter, a store of another pool, a full node of
/// another chain. A runtime failure exits 1.
#[test]
fn configuration_errors_exit_2_and_runtime_failures_exit_1() {
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("data").display().to_string();
    let payout = address("bcrt", 3);
    let base = |extra: &[&str]| loopback_node(&NO_NODE, &payout, &data, extra);
    let exit = |args: Vec<String>, env: &[(&str, String)]| -> (Option<i32>, String) {
        let log = home.path().join("exit.log");
        let mut child = spawn(&args, env, home.path(), &log);
        let status = wait_exit(&mut child, Duration::from_secs(60));
        (status.and_then(|s| s.code()), read(&log))
    };
    let (code, log) = exit(vec!["--max-peers".into(), "many".into()], &[]);
    assert_eq!(code, Some(2), "{log}");
    let (code, log) = exit(vec!["--chain".into(), "litecoin-regtest".into()], &[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("--node-rpc URL is required"), "{log}");
    let (code, log) = exit(base(&["--log-level", "info,[="]), &[]);
    assert_eq!(code, Some(2), "{log}");
    let (code, log) = exit(base(&[]), &[("OTEDAMA_MINE", "lots".into())]);
    assert_eq!(code, Some(2), "an invalid environment value: {log}");

    // A runtime failure: the API port is taken.
    let blocker = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = blocker.local_addr().expect("addr").to_string();
    let (code, log) = exit(base(&["--rpc", &taken]), &[]);
    assert_eq!(code, Some(1), "{log}");
    assert!(log.contains("cannot serve the API"), "{log}");

    // A store of another pool: start once with main, then ask for mini in the same dir. The
    // first start serves the API on every interface, which the node warns about.
    let api = free_port();
    let mut args = base(&["--rpc", &format!("0.0.0.0:{api}")]);
    let log = home.path().join("main.log");
    let mut node = spawn(&args, &[], home.path(), &log);
    wait_api(&format!("http://127.0.0.1:{api}"), &mut node, &log);
    let text = read(&log);
    assert!(text.contains("which is not loopback"), "{text}");
    signal(&node, "TERM");
    assert_eq!(
        wait_exit(&mut node, Duration::from_secs(30)).and_then(|s| s.code()),
        Some(0)
    );
    args.extend(["--pool".to_string(), "mini".to_string()]);
    let (code, log) = exit(args, &[]);
    assert_eq!(code, Some(2), "{log}");
    assert!(log.contains("use another data directory"), "{log}");

    // A full node of another chain.
    if litecoind::available("daemon wrong chain") {
        let ltc = Litecoind::start("daemon-wrong-chain", &[]);
        let other = tempfile::tempdir().expect("dir");
        let url = ltc.rpc_url();
        let cookie = ltc.cookie_path().display().to_string();
        let args = loopback_node(
            &["--node-rpc", &url, "--node-rpc-cookie", &cookie],
            &payout,
            &other.path().display().to_string(),
            &["--rpc", "127.0.0.1:0"],
        );
        let (code, log) = exit(args, &[]);
        assert_eq!(code, Some(2), "{log}");
        assert!(log.contains("wrong chain"), "{log}");
    }
}

/// A task that panics (injected with the debug-build fault point of the template task) stops
/// the whole node with exit code 1 and a log line naming the task; the cookie is removed. The
/// node never goes on serving stale work without its template task.
#[test]
fn a_panicking_task_stops_the_node_with_exit_1() {
    let dir = NodeProc::fresh_dir("daemon-fault");
    let home = tempfile::tempdir().expect("home");
    let data: PathBuf = dir.join("data");
    let args = loopback_node(
        &NO_NODE,
        &address("bcrt", 4),
        &data.display().to_string(),
        &["--rpc", "127.0.0.1:0"],
    );
    let log = dir.join("node.log");
    let mut node = spawn(
        &args,
        &[("OTEDAMA_TEST_FAULT", "templates".to_string())],
        home.path(),
        &log,
    );
    let status = wait_exit(&mut node, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the node kept running without its template task"));
    let text = read(&log);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("the templates task stopped unexpectedly (panicked: test fault templates"),
        "{text}"
    );
    assert!(!data.join(".cookie").exists(), "cookie left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--version` names the commit and the build date.
#[test]
fn version_names_the_commit_and_build_date() {
    for bin in [bin().to_path_buf(), cli()] {
        let out = Command::new(&bin).arg("--version").output().expect("run");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("commit ") && text.contains("built "),
            "{}: {text}",
            bin.display()
        );
    }
}
