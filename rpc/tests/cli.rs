//! Behaviour of the `otedama-cli` binary without a node (with a node: node/tests/e2e_api.rs).

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-cli"))
        .args(args)
        .output()
        .expect("run otedama-cli")
}

/// A loopback port nothing listens on.
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

#[test]
fn help_lists_every_command() {
    let out = cli(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--rpc", "--json", "status", "peers", "shares", "share", "payouts", "miners", "blocks",
        "addpeer", "banpeer",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
}

#[test]
fn every_command_fails_with_one_line_when_the_node_is_not_running() {
    let url = dead_url();
    let commands: [&[&str]; 7] = [
        &["status"],
        &["peers"],
        &["shares"],
        &["share", "00ff"],
        &["payouts"],
        &["miners"],
        &["blocks"],
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
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with(&format!("error: cannot reach otedama-node at {url}")),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn a_bad_url_is_refused_clearly() {
    let out = cli(&["--rpc", "ftp://x", "status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid --rpc URL"), "{err}");
}
