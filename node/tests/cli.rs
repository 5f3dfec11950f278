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
        "--pool-config",
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

/// `consensus-id --pool-config FILE` prints the custom pool's id on the usual one line, and
/// refuses a bad file with the key and range, exit code 2.
#[test]
fn consensus_id_of_a_pool_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write pool file");
        path.display().to_string()
    };
    let id_of = |file: &str, pool: &str| {
        let out = node(&[
            "consensus-id",
            "--chain",
            "bitcoin-regtest",
            "--pool",
            pool,
            "--pool-config",
            file,
        ]);
        assert!(
            out.status.success(),
            "consensus-id --pool-config failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let club = write("club.toml", "name = \"club\"\npplns-window = 30\n");
    let line = id_of(&club, "main");
    let id = line
        .strip_prefix("chain=bitcoin-regtest pool=club consensus_id=")
        .and_then(|l| l.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected output {line:?}"));
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(id, consensus_id("bitcoin-regtest", "main"));
    // One field more or less: another pool.
    let club31 = write("club31.toml", "name = \"club\"\npplns-window = 31\n");
    assert_ne!(id_of(&club31, "main"), line);
    // The same keys on another base preset: the keys left out differ, so does the id.
    assert_ne!(id_of(&club, "mini"), line);
    // An empty file is the preset itself.
    let empty = write("empty.toml", "");
    assert!(
        id_of(&empty, "main").ends_with(&format!(
            "consensus_id={}\n",
            consensus_id("bitcoin-regtest", "main")
        )),
        "an empty pool file is not the preset"
    );
    // The key in the node's --config file works as the flag does.
    let cfg = write("node.toml", &format!("pool-config = {club:?}\n"));
    let out = node(&[
        "consensus-id",
        "--chain",
        "bitcoin-regtest",
        "--config",
        &cfg,
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), line);
    // Errors: exit 2, the file, the key, the value, the range.
    for (text, expected) in [
        (
            "pplns-window = 0\n",
            "`pplns-window` = 0 is out of range (allowed: 1..=16384 shares)",
        ),
        ("window = 30\n", "unknown key `window`"),
        (
            "chain = \"litecoin\"\n",
            "`chain` = \"litecoin\" but the node runs on bitcoin-regtest",
        ),
        (
            "max-share-target = 504365055\n",
            "`max-share-target` must be a compact target",
        ),
    ] {
        let bad = write("bad.toml", text);
        let out = node(&[
            "consensus-id",
            "--chain",
            "bitcoin-regtest",
            "--pool-config",
            &bad,
        ]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with("error: pool config file ")
                && stderr.contains("bad.toml")
                && stderr.contains(expected),
            "{text}: {stderr}"
        );
    }
    let out = node(&["consensus-id", "--pool-config", "/nonexistent/club.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read pool config file"));
}
