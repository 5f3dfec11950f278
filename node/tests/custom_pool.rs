//! A custom pool (`--pool-config FILE`) end to end: two real `otedama-node` processes with the
//! same pool file peer; a node whose file differs in one value is refused as another pool.
//! No full node is needed (peering happens before any share is mined).

#[path = "support/chains.rs"]
mod chains;

use chains::{address, bin, CHAIN};
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use std::time::Duration;

/// The id `otedama-node consensus-id` prints for `file` on [`CHAIN`] (pool main underneath).
fn cli_id(file: &str) -> String {
    let out = std::process::Command::new(bin())
        .args(["consensus-id", "--chain", CHAIN, "--pool", "main"])
        .args(["--pool-config", file])
        .output()
        .expect("run otedama-node consensus-id");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    line.rsplit_once("consensus_id=")
        .map(|(_, id)| id.to_string())
        .unwrap_or_else(|| panic!("no consensus id in {line:?}"))
}

#[test]
fn nodes_with_the_same_pool_file_peer_and_another_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write pool file");
        path.display().to_string()
    };
    let club = write(
        "club.toml",
        "name = \"club\"\npplns-window = 30\nshare-period-secs = 10\n",
    );
    let other = write(
        "other.toml",
        "name = \"club\"\npplns-window = 31\nshare-period-secs = 10\n",
    );
    let club_id = cli_id(&club);
    assert_ne!(club_id, cli_id(&other));

    let a = NodeProc::start(
        bin(),
        "club-a",
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 1),
        &["--pool-config", &club],
    );
    // The running node uses the file: its status shows the file's consensus id.
    assert_eq!(a.status()["consensus_id"], club_id.as_str());
    let b = NodeProc::start(
        bin(),
        "club-b",
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 2),
        &["--pool-config", &club, "--peer", &a.multiaddr()],
    );
    b.wait_until(
        Duration::from_secs(20),
        "B peers with A (same pool file)",
        |b| b.peer_ids().contains(&a.peer_id()),
    );
    let c = NodeProc::start(
        bin(),
        "club-c",
        CHAIN,
        NO_FULL_NODE,
        &address("bcrt", 3),
        &["--pool-config", &other, "--peer", &a.multiaddr()],
    );
    c.wait_until(
        Duration::from_secs(20),
        "C is refused as another pool",
        |c| {
            c.log_text().contains("belongs to another pool")
                || a.log_text().contains("belongs to another pool")
        },
    );
    let c_id = c.peer_id();
    assert!(
        eventually(Duration::from_secs(5), || c.peer_count() == 0
            && !a.peer_ids().contains(&c_id)),
        "C stays connected to A: C's peers {:?}, A's peers {:?}",
        c.peer_ids(),
        a.peer_ids()
    );
    // A still has B.
    assert!(a.peer_ids().contains(&b.peer_id()));
}
