//! Behaviour of the `otedama-node` binary.

use std::process::{Command, Output};

fn node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_otedama-node"))
        .args(args)
        .output()
        .expect("run otedama-node")
}

/// Runs `otedama-node consensus-id` and returns the hex id, checking the exact output format.
fn consensus_id(chain: &str, pool: &str) -> String {
    let out = node(&["consensus-id", "--chain", chain, "--pool", pool]);
    assert!(
        out.status.success(),
        "consensus-id failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let prefix = format!("chain={chain} pool={pool} consensus_id=");
    let line = stdout
        .strip_suffix('\n')
        .expect("one line ending in a newline");
    assert!(!line.contains('\n'), "more than one line: {stdout:?}");
    let id = line
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{stdout:?} does not start with {prefix:?}"));
    assert!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "consensus id is not hex: {id:?}"
    );
    id.to_owned()
}

#[test]
fn help_mentions_the_options() {
    let out = node(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for word in [
        "--chain",
        "--pool",
        "--data-dir",
        "--payout-address",
        "consensus-id",
        "litecoin-regtest",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
}

#[test]
fn main_and_mini_presets_have_different_consensus_ids() {
    let main = consensus_id("litecoin-regtest", "main");
    let mini = consensus_id("litecoin-regtest", "mini");
    assert_ne!(main, mini);
    // Deterministic: the same parameters always give the same id.
    assert_eq!(main, consensus_id("litecoin-regtest", "main"));
}

#[test]
fn every_chain_has_its_own_consensus_id() {
    let chains = [
        "bitcoin",
        "bitcoin-testnet4",
        "bitcoin-signet",
        "bitcoin-regtest",
        "litecoin",
        "litecoin-testnet",
        "litecoin-regtest",
    ];
    let mut ids: Vec<String> = chains.iter().map(|c| consensus_id(c, "main")).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), chains.len(), "two chains share a consensus id");
}

#[test]
fn defaults_are_litecoin_regtest_main() {
    let out = node(&["consensus-id"]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("chain=litecoin-regtest pool=main consensus_id="),
        "{stdout:?}"
    );
}

#[test]
fn unknown_chain_is_rejected() {
    let out = node(&["consensus-id", "--chain", "dogecoin"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn running_without_the_full_node_settings_says_which_flag_is_missing() {
    let out = node(&[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--node-rpc"), "{stderr}");
    let out = node(&[
        "--node-rpc",
        "http://127.0.0.1:1",
        "--node-rpc-cookie",
        "/nonexistent",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--payout-address"), "{stderr}");
}

#[test]
fn a_config_file_with_an_unknown_key_is_refused_clearly() {
    let dir = std::env::temp_dir().join(format!("otedama-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(&file, "chain = \"litecoin-regtest\"\nstratum-port = 1\n").unwrap();
    let out = node(&["--config", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("node.toml") && stderr.contains("stratum-port"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
