//! Behaviour of the `otedama-cli` binary.

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-cli"))
        .args(args)
        .output()
        .expect("run otedama-cli")
}

#[test]
fn help_lists_every_command() {
    let out = cli(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--rpc", "--json", "status", "peers", "shares", "share", "payouts", "miners", "blocks",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
}

#[test]
fn every_command_fails_honestly_until_the_node_api_exists() {
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
        let out = cli(args);
        assert_eq!(out.status.code(), Some(1), "otedama-cli {args:?}");
        assert!(
            out.stdout.is_empty(),
            "otedama-cli {args:?} printed to stdout"
        );
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            "error: cannot reach otedama-node at http://127.0.0.1:9332: \
             the node API is not implemented yet\n",
            "otedama-cli {args:?}"
        );
    }
}

#[test]
fn rpc_url_and_json_flags_are_accepted() {
    let out = cli(&["--rpc", "http://10.0.0.2:1234", "status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "error: cannot reach otedama-node at http://10.0.0.2:1234: \
         the node API is not implemented yet\n"
    );
}
