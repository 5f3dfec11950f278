//! Behaviour of the `otedama-cli` binary: without a node, and against a real API server
//! (`ApiServer`) started in-process with a small `NodeApi`, so the cookie lookup, `call` and the
//! exit statuses are checked end to end (the whole node: node/tests/e2e_mining.rs).
//!
//! Every run gets its own `HOME`, so the default data dir (`$HOME/.otedama/CHAIN-POOL`) is the
//! test's and never the user's.

use otedama_rpc::server::{ApiConfig, ApiError, ApiServer, NodeApi};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// Runs otedama-cli with `HOME` set to `home`.
fn cli_in(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-cli"))
        .args(args)
        .env("HOME", home)
        .output()
        .expect("run otedama-cli")
}

/// Runs otedama-cli with an empty `HOME` of its own.
fn cli(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    cli_in(home.path(), args)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A loopback port nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

/// A node with a handful of methods: `echo` answers its method and params, `secret_echo` the same
/// but privileged, `stop` is privileged as in the real node, `fail` always errs.
struct FakeNode;

impl NodeApi for FakeNode {
    async fn call(&self, method: &str, params: &Value) -> Result<Value, ApiError> {
        match method {
            "getstatus" => Ok(json!({"chain": "litecoin-regtest", "uptime_secs": 5})),
            "echo" | "secret_echo" => Ok(json!({"method": method, "params": params})),
            "stop" => Ok(json!("stopping")),
            "fail" => Err(ApiError::InvalidParams("limit must be 1..=1000".into())),
            other => Err(ApiError::MethodNotFound(other.into())),
        }
    }

    async fn metrics(&self) -> String {
        String::new()
    }
}

/// An API server on 127.0.0.1:0 in a thread of its own; stopped when dropped.
struct TestNode {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestNode {
    /// Serves with `secret` as the cookie secret.
    fn start(secret: &str) -> TestNode {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ApiConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            cookie_secret: secret.to_string(),
            privileged: ["stop", "addpeer", "banpeer", "secret_echo"]
                .map(String::from)
                .to_vec(),
            allowed_hosts: vec![],
        };
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let (events, _) = tokio::sync::broadcast::channel(16);
                let server = ApiServer::bind(config, Arc::new(FakeNode), events)
                    .await
                    .unwrap();
                addr_tx.send(server.local_addr().unwrap()).unwrap();
                server
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("API server started");
        TestNode {
            url: format!("http://{addr}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A temporary home, and a data dir with a fresh cookie in it (its secret returned).
struct Dirs {
    _tmp: tempfile::TempDir,
    home: PathBuf,
    data: PathBuf,
    secret: String,
}

fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let secret = otedama_rpc::cookie::create(&data).unwrap();
    Dirs {
        _tmp: tmp,
        home,
        data,
        secret,
    }
}

/// A data dir holding a cookie the node does not accept.
fn wrong_cookie_dir(parent: &Path) -> PathBuf {
    let dir = parent.join("wrong");
    std::fs::create_dir_all(&dir).unwrap();
    otedama_rpc::cookie::create(&dir).unwrap();
    dir
}

#[test]
fn help_lists_every_command_and_the_exit_statuses() {
    let out = cli(&["--help"]);
    assert!(out.status.success());
    let help = stdout(&out);
    for word in [
        "--rpc",
        "--json",
        "--data-dir",
        "--rpc-cookie",
        "--chain",
        "--pool",
        "status",
        "peers",
        "shares",
        "share",
        "payouts",
        "miners",
        "blocks",
        "addpeer",
        "banpeer",
        "stop",
        "call",
        "Exit status",
        "$HOME/.otedama/CHAIN-POOL/.cookie",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
}

#[test]
fn version_names_the_commit_and_build_date() {
    let out = cli(&["--version"]);
    assert!(out.status.success());
    let v = stdout(&out);
    assert!(
        v.starts_with(&format!(
            "otedama-cli {} (commit ",
            env!("CARGO_PKG_VERSION")
        )),
        "{v}"
    );
    assert!(v.contains(", built "), "{v}");
    assert!(v.trim_end().ends_with(')'), "{v}");
}

#[test]
fn every_command_fails_with_one_line_when_the_node_is_not_running() {
    let url = dead_url();
    let commands: [&[&str]; 8] = [
        &["status"],
        &["peers"],
        &["shares"],
        &["share", "00ff"],
        &["payouts"],
        &["miners"],
        &["blocks"],
        &["call", "getstatus"],
    ];
    for args in commands {
        let mut full = vec!["--rpc", url.as_str()];
        full.extend_from_slice(args);
        let out = cli(&full);
        assert_eq!(out.status.code(), Some(1), "otedama-cli {args:?}");
        assert!(
            out.stdout.is_empty(),
            "otedama-cli {args:?} printed to stdout"
        );
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!("error: cannot reach otedama-node at {url}")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn a_bad_url_is_a_usage_error() {
    let out = cli(&["--rpc", "ftp://x", "status", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid --rpc URL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn data_dir_gives_the_cookie_for_privileged_methods() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    let data = d.data.to_str().unwrap();
    let out = cli_in(&d.home, &["--rpc", &node.url, "--data-dir", data, "stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "stopping\n");

    let out = cli_in(
        &d.home,
        &[
            "--rpc",
            &node.url,
            "--data-dir",
            data,
            "call",
            "secret_echo",
            "[7]",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v, json!({"method": "secret_echo", "params": [7]}));
}

#[test]
fn without_a_cookie_privileged_commands_fail_clearly_and_reading_still_works() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    let empty = d.home.join("no-node-here");
    std::fs::create_dir_all(&empty).unwrap();
    let empty_str = empty.to_str().unwrap();
    let cookie_path = empty.join(".cookie").display().to_string();

    let out = cli_in(
        &d.home,
        &["--rpc", &node.url, "--data-dir", empty_str, "stop"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains(&cookie_path), "{err}");
    assert!(err.contains("not running"), "{err}");
    assert!(err.contains("another data dir"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // `call` cannot know which methods are privileged: the node says, and the CLI adds where it
    // looked for the cookie.
    let out = cli_in(
        &d.home,
        &[
            "--rpc",
            &node.url,
            "--data-dir",
            empty_str,
            "call",
            "secret_echo",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("cookie"), "{err}");
    assert!(err.contains(&cookie_path), "{err}");

    for args in [
        vec!["--rpc", &node.url, "--data-dir", empty_str, "status"],
        vec!["--rpc", &node.url, "status"], // no cookie in the default data dir either
        vec!["--rpc", &node.url, "call", "echo"],
    ] {
        let out = cli_in(&d.home, &args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn the_default_data_dir_is_home_dot_otedama_chain_pool() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    let default = d.home.join(".otedama").join("litecoin-main");
    std::fs::create_dir_all(&default).unwrap();
    std::fs::copy(d.data.join(".cookie"), default.join(".cookie")).unwrap();

    let out = cli_in(&d.home, &["--rpc", &node.url, "stop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "stopping\n");

    let out = cli_in(
        &d.home,
        &[
            "--rpc",
            &node.url,
            "--chain",
            "litecoin-regtest",
            "--pool",
            "mini",
            "stop",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let other = d.home.join(".otedama/litecoin-regtest-mini/.cookie");
    assert!(err.contains(&other.display().to_string()), "{err}");
    assert!(
        err.contains("--chain litecoin-regtest --pool mini"),
        "{err}"
    );
}

#[test]
fn rpc_cookie_beats_data_dir_beats_the_default_dir() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    let good_dir = d.data.to_str().unwrap();
    let good_cookie = d.data.join(".cookie");
    let good_cookie = good_cookie.to_str().unwrap();
    let wrong = wrong_cookie_dir(d.home.parent().unwrap());
    let wrong_dir = wrong.to_str().unwrap();
    let wrong_cookie = wrong.join(".cookie");
    let wrong_cookie = wrong_cookie.to_str().unwrap();
    // The default data dir holds the wrong cookie.
    let default = d.home.join(".otedama").join("litecoin-main");
    std::fs::create_dir_all(&default).unwrap();
    std::fs::copy(wrong.join(".cookie"), default.join(".cookie")).unwrap();

    let ok = |args: &[&str]| {
        let mut full = vec!["--rpc", node.url.as_str()];
        full.extend_from_slice(args);
        full.push("stop");
        let out = cli_in(&d.home, &full);
        (out.status.code(), stderr(&out))
    };
    // The first source that applies is used, whatever the others hold.
    assert_eq!(
        ok(&["--rpc-cookie", good_cookie, "--data-dir", wrong_dir]).0,
        Some(0)
    );
    assert_eq!(
        ok(&["--rpc-cookie", wrong_cookie, "--data-dir", good_dir]).0,
        Some(1)
    );
    assert_eq!(ok(&["--data-dir", good_dir]).0, Some(0));
    assert_eq!(ok(&[]).0, Some(1)); // the default dir's wrong cookie
    let (code, err) = ok(&[
        "--rpc-cookie",
        "/nonexistent/otedama/.cookie",
        "--data-dir",
        good_dir,
    ]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot read cookie /nonexistent/otedama/.cookie"),
        "{err}"
    );
}

#[test]
fn call_passes_params_through_and_prints_the_result_as_json() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    for (params, expected) in [
        (
            Some(r#"{"limit": 5, "ids": ["ab", "cd"], "deep": {"x": null}}"#),
            json!({"limit": 5, "ids": ["ab", "cd"], "deep": {"x": null}}),
        ),
        (Some("[1, 2]"), json!([1, 2])),
        (None, json!({})),
    ] {
        let mut args = vec!["--rpc", node.url.as_str(), "call", "echo"];
        args.extend(params);
        let out = cli_in(&d.home, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v, json!({"method": "echo", "params": expected}));
        assert_eq!(
            text,
            format!("{}\n", serde_json::to_string_pretty(&v).unwrap())
        );
    }
}

#[test]
fn bad_params_are_a_usage_error_before_asking_the_node() {
    // The node is not running: a usage error is found first, and is exit status 2.
    let url = dead_url();
    for params in ["{", "{limit: 5}", "5", "\"getstatus\""] {
        let out = cli(&["--rpc", &url, "call", "echo", params]);
        assert_eq!(out.status.code(), Some(2), "{params}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.contains("PARAMS"), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // clap's own usage errors are 2 as well.
    assert_eq!(cli(&["call"]).status.code(), Some(2));
    assert_eq!(
        cli(&["--chain", "dogecoin", "status"]).status.code(),
        Some(2)
    );
}

#[test]
fn an_error_answer_is_exit_status_1() {
    let d = dirs();
    let node = TestNode::start(&d.secret);
    for (method, says) in [
        ("fail", "limit must be 1..=1000"),
        ("nosuch", "method not found"),
    ] {
        let out = cli_in(&d.home, &["--rpc", &node.url, "call", method]);
        assert_eq!(out.status.code(), Some(1), "{method}");
        assert!(out.stdout.is_empty());
        let err = stderr(&out);
        assert!(err.contains(says), "{err}");
    }
    // A wrong cookie is the node's answer too.
    let wrong = wrong_cookie_dir(d.home.parent().unwrap());
    let out = cli_in(
        &d.home,
        &[
            "--rpc",
            &node.url,
            "--data-dir",
            wrong.to_str().unwrap(),
            "stop",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cookie"), "{}", stderr(&out));
}
