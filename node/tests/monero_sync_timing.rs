//! Measurement, run by hand: how long a fresh `otedama-node --chain monero-regtest` (B) takes to
//! sync a Monero sharechain of 4,320 shares (`OTEDAMA_SYNC_SHARES` for another count) from one
//! peer (A), each node beside its own real `monerod --regtest --offline --fixed-difficulty N`.
//!
//! The chain is built here before A starts, with the real Monero share builder over the main
//! preset of monero-regtest (what `--pool main` runs), 200 wallets (every fourth a subaddress)
//! and a new Monero parent every 12 shares, one share per 10 s ending just before now. Proof of
//! work is real RandomX under monerod's seed (at regtest heights the genesis block's hash, the
//! key the nodes take from monerod's template), so B checks every share as it would a peer's.
//! The first parent is monerod's real template (genesis, height 1); later parents are made-up
//! ids at the following heights: syncing never asks monerod about a share's parent (only the
//! gossip relay policy looks at it, `node/src/relay_policy.rs`).
//!
//! `OTEDAMA_NODE_BIN` runs another build of the node (e.g. target/release/otedama-node).
//!
//! cargo nextest run -p otedama-node --test monero_sync_timing --run-ignored ignored-only --no-capture

use otedama_consensus::chain::monero::address::{Address, AddressKind, Network};
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::keccak256_concat;
use otedama_consensus::chain::monero::keys;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::pow::PowHasher;
use otedama_consensus::testkit::monero_pool_chain;
use otedama_consensus::{Chain, PoolParams, Preset};
use otedama_mining::randomx_pow::{DatasetPolicy, RandomXConfig, RandomXHasher};
use otedama_sharechain::Sharechain;
use otedama_tests::monerod::{available, Monerod};
use otedama_tests::node::NodeProc;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WALLETS: usize = 200;
const SHARES_PER_PARENT: u64 = 12;
/// monerod's block difficulty: far above the share floor, so no synced share is a block.
const BLOCK_DIFFICULTY: u64 = 1_000_000_000;

fn bin() -> PathBuf {
    std::env::var_os("OTEDAMA_NODE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_otedama-node")))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn uptime() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

/// A node's payout address (mainnet format, as regtest uses).
fn node_address(name: &str) -> String {
    let spend = keys::hash_to_scalar(name.as_bytes()).to_bytes();
    let view = keys::hash_to_scalar(&spend).to_bytes();
    Address {
        network: Network::Mainnet,
        kind: AddressKind::Standard,
        spend_public: keys::secret_key_to_public_key(&spend).expect("spend key"),
        view_public: keys::secret_key_to_public_key(&view).expect("view key"),
    }
    .to_string()
}

/// `OTEDAMA_SYNC_LOG_LEVEL` (e.g. `info,otedama_node::prehash=debug`) as B's and C's `--log-level`.
fn log_flags() -> Vec<&'static str> {
    match std::env::var("OTEDAMA_SYNC_LOG_LEVEL") {
        Ok(l) => vec!["--log-level", Box::leak(l.into_boxed_str())],
        Err(_) => vec![],
    }
}

fn log_lines(log: &str, needle: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.to_lowercase().contains(needle))
        .map(String::from)
        .collect()
}

struct Timing {
    total: Duration,
    api_up: Duration,
    first_peer: Option<Duration>,
    first_share: Option<Duration>,
    mode_fast_at: Option<Duration>,
}

/// Polls `b` every 100 ms from `started` until its best share is `tip`. Only B's log from byte
/// `log_from` on is this run's (a restarted node appends to the log of its first run).
fn wait_synced(
    b: &NodeProc,
    started: Instant,
    api_up: Duration,
    log_from: usize,
    tip: &str,
    limit: Duration,
) -> Timing {
    let mut t = Timing {
        total: Duration::ZERO,
        api_up,
        first_peer: None,
        first_share: None,
        mode_fast_at: None,
    };
    let mut last_print = Instant::now();
    loop {
        let s = b.status();
        let el = started.elapsed();
        if t.first_peer.is_none() && s["p2p"]["peers"].as_u64().unwrap_or(0) > 0 {
            t.first_peer = Some(el);
        }
        if t.first_peer.is_none() && b.peer_count() > 0 {
            t.first_peer = Some(el);
        }
        let h = s["best_share"]["height"].as_u64();
        if t.first_share.is_none()
            && s["best_share"]["id"]
                .as_str()
                .is_some_and(|i| !i.is_empty())
        {
            t.first_share = Some(el);
        }
        if t.mode_fast_at.is_none()
            && b.log_text()
                .get(log_from..)
                .is_some_and(|l| l.contains("RandomX dataset ready"))
        {
            t.mode_fast_at = Some(el);
        }
        if s["best_share"]["id"].as_str() == Some(tip) {
            t.total = el;
            return t;
        }
        if last_print.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "  {:>6.1} s: B at height {h:?}, sync {}",
                el.as_secs_f64(),
                s["sync"]
            );
            last_print = Instant::now();
        }
        assert!(
            el < limit,
            "B did not sync within {limit:?}; status {s}\n--- B log ---\n{}",
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn report(label: &str, t: &Timing, b: &NodeProc) {
    let ms = |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()));
    eprintln!(
        "{label}: synced in {:.1} s from B's start (API up {:.1} s, first peer {}, first share {}, dataset ready {})",
        t.total.as_secs_f64(),
        t.api_up.as_secs_f64(),
        ms(t.first_peer),
        ms(t.first_share),
        ms(t.mode_fast_at),
    );
    if let Some(p) = t.first_peer {
        eprintln!(
            "{label}: from B's first peer: {:.1} s",
            (t.total - p).as_secs_f64()
        );
    }
    if let Some(d) = t.mode_fast_at {
        if d < t.total {
            eprintln!(
                "{label}: after the dataset was ready: {:.1} s",
                (t.total - d).as_secs_f64()
            );
        }
    }
    let log = b.log_text();
    let file = std::env::temp_dir().join(format!(
        "otedama-sync-timing-{}.log",
        label.replace(' ', "-")
    ));
    let _ = std::fs::write(&file, &log);
    eprintln!("{label}: B's log saved as {}", file.display());
    let (mut batches, mut hashed, mut ms) = (0u64, 0u64, 0u64);
    for l in log_lines(&log, "hashed ahead of validation") {
        let num = |k: &str| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|v| v.trim_matches('"').parse::<u64>().ok())
                .unwrap_or(0)
        };
        batches += 1;
        hashed += num("shares=");
        ms += num("ms=");
    }
    if batches > 0 {
        eprintln!(
            "{label}: prehash (all runs in this log): {batches} batches, {hashed} shares, {:.1} s in RandomX ({:.1} ms/share over all threads)",
            ms as f64 / 1e3,
            ms as f64 / hashed.max(1) as f64
        );
    }
    for l in log_lines(&log, "randomx")
        .into_iter()
        .chain(log_lines(&log, "sync "))
    {
        eprintln!("  B log: {l}");
    }
}

#[test]
#[ignore = "measurement: run by hand, prints the sync time"]
fn measure_a_fresh_node_syncing_4320_monero_shares_from_one_peer() {
    if !available("monero_sync_timing") {
        return;
    }
    let n: u64 = std::env::var("OTEDAMA_SYNC_SHARES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_320);
    eprintln!("load before: {}", uptime());
    let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
    let daemon_a = Monerod::start("xmr-sync-a", BLOCK_DIFFICULTY);
    let addr_a = node_address("otedama sync timing A");
    let addr_b = node_address("otedama sync timing B");

    // monerod's template: the seed the nodes will hold, the first parent, versions and reward.
    let tpl = daemon_a
        .rpc()
        .call(
            "get_block_template",
            json!({"wallet_address": addr_a, "reserve_size": 60}),
        )
        .expect("get_block_template");
    let seed: [u8; 32] = hex::decode(tpl["seed_hash"].as_str().expect("seed_hash"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let blob = hex::decode(tpl["blocktemplate_blob"].as_str().expect("blob")).expect("hex");
    let real = Block::parse(&blob).expect("monerod's template parses");
    let height0 = tpl["height"].as_u64().expect("height");
    let reward = tpl["expected_reward"].as_u64().expect("expected_reward");
    eprintln!(
        "monerod template: height {height0}, seed {}, prev {}, reward {reward}, version {}.{}",
        hex::encode(seed),
        hex::encode(real.header.prev_id),
        real.header.major_version,
        real.header.minor_version
    );

    // RandomX for grinding and seeding: fast mode (a dataset built once here).
    let t = Instant::now();
    let hasher = Arc::new(RandomXHasher::with_config(RandomXConfig {
        dataset: DatasetPolicy::Always,
        ..RandomXConfig::default()
    }));
    hasher.set_seeds(seed, None).expect("seed");
    let fast = hasher.wait_for_dataset(Duration::from_secs(900));
    eprintln!(
        "test's own RandomX: fast {fast}, ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The chain.
    let t = Instant::now();
    let t0 = unix_now() - 10 * n - 60;
    let template = |i: u64| {
        let k = i / SHARES_PER_PARENT;
        let height = height0 + k;
        MoneroTemplate {
            major_version: real.header.major_version,
            minor_version: real.header.minor_version,
            timestamp: t0 + 10 * i,
            prev_id: if k == 0 {
                real.header.prev_id
            } else {
                keccak256_concat(&[b"otedama sync timing parent", &height.to_le_bytes()])
            },
            height,
            seed_hash: seed,
            tx_hashes: vec![],
            reward,
        }
    };
    let shares = monero_pool_chain(&pool, n, WALLETS, t0, template, &*hasher);
    let payouts: usize = shares
        .iter()
        .filter_map(|s| s.candidate.as_monero())
        .map(|c| c.miner_tx.outputs.len())
        .sum();
    let tip = shares.last().expect("shares").id().to_string();
    eprintln!(
        "chain: {n} shares, {WALLETS} wallets, {:.1} miner-tx outputs per share (avg), last share {:.1} per share; built in {:.1} s",
        payouts as f64 / n as f64,
        shares
            .last()
            .and_then(|s| s.candidate.as_monero())
            .map_or(0.0, |c| c.miner_tx.outputs.len() as f64),
        t.elapsed().as_secs_f64()
    );

    // A's store.
    let t = Instant::now();
    let dir_a = NodeProc::fresh_dir("xmr-sync-a");
    {
        let mut store = Sharechain::open(&dir_a.join("data").join("sharechain"), pool.clone())
            .expect("open A's store");
        store.set_pow_hasher(hasher.clone() as Arc<dyn PowHasher>);
        let now = unix_now();
        for s in &shares {
            store.insert(s.clone(), now).expect("insert");
        }
        assert_eq!(
            store.best().map(|b| b.id.to_string()),
            Some(tip.clone()),
            "every seeded share valid"
        );
    }
    eprintln!("seeded A's store in {:.1} s", t.elapsed().as_secs_f64());
    let stats = hasher.stats();
    eprintln!("test hasher: {stats:?}");
    drop(hasher);

    let a = NodeProc::start_in(
        &bin(),
        "xmr-sync-a",
        dir_a,
        "monero-regtest",
        &format!("http://127.0.0.1:{}", daemon_a.rpc_port),
        &addr_a,
        &["--randomx-verify", "light"],
    );
    assert_eq!(a.best().1, tip, "A serves the seeded chain");
    let a_log = std::env::temp_dir().join("otedama-sync-timing-A.log");
    let daemon_b = Monerod::start("xmr-sync-b", BLOCK_DIFFICULTY);
    // Let A settle (its caches) before B starts.
    std::thread::sleep(Duration::from_secs(5));
    eprintln!("load before B: {}", uptime());

    let dir_b = NodeProc::fresh_dir("xmr-sync-b");
    let started = Instant::now();
    let mut b = NodeProc::start_in(
        &bin(),
        "xmr-sync-b",
        dir_b.clone(),
        "monero-regtest",
        &format!("http://127.0.0.1:{}", daemon_b.rpc_port),
        &addr_b,
        &[&["--peer", a.multiaddr().as_str()][..], &log_flags()[..]].concat(),
    );
    let api_up = started.elapsed();
    let first = wait_synced(&b, started, api_up, 0, &tip, Duration::from_secs(900));
    eprintln!(
        "=== {n} shares, {:.1} payees/share, fresh B (default --randomx-verify auto) ===",
        payouts as f64 / n as f64
    );
    report("fresh B", &first, &b);
    eprintln!("load after: {}", uptime());

    // Again with B's saved dataset: a restarted B with an empty sharechain.
    if std::env::var_os("OTEDAMA_SYNC_SKIP_RESTART").is_none() {
        let saved = dir_b.join("data").join("randomx");
        let ok = (0..600).any(|_| {
            let done = b.log_text().contains("RandomX dataset saved");
            if !done {
                std::thread::sleep(Duration::from_millis(100));
            }
            done
        });
        eprintln!("B's dataset saved: {ok} ({})", saved.display());
        b.stop();
        let _ = std::fs::remove_dir_all(dir_b.join("data").join("sharechain"));
        let log_before = b.log_text().len();
        let started = Instant::now();
        b.restart();
        let api_up = started.elapsed();
        let second = wait_synced(
            &b,
            started,
            api_up,
            log_before,
            &tip,
            Duration::from_secs(600),
        );
        report("restarted B (saved dataset)", &second, &b);
        let log = b.log_text();
        for l in log_lines(log.get(log_before..).unwrap_or(""), "dataset") {
            eprintln!("  B log (restart): {l}");
        }
        eprintln!("load after restart run: {}", uptime());
    }
    // Once more with the seed's dataset in place before any peer: a node C with B's saved
    // dataset (hard-linked), started without peers; A is added once C is in fast mode. This
    // is the sync alone, without start-up races.
    if std::env::var_os("OTEDAMA_SYNC_SKIP_RESTART").is_none() {
        b.stop();
        let dir_c = NodeProc::fresh_dir("xmr-sync-c");
        let rx_c = dir_c.join("data").join("randomx");
        std::fs::create_dir_all(&rx_c).expect("randomx dir");
        for e in std::fs::read_dir(dir_b.join("data").join("randomx")).expect("B's randomx dir") {
            let e = e.expect("entry");
            std::fs::hard_link(e.path(), rx_c.join(e.file_name())).expect("link the dataset");
        }
        let c = NodeProc::start_in(
            &bin(),
            "xmr-sync-c",
            dir_c,
            "monero-regtest",
            &format!("http://127.0.0.1:{}", daemon_b.rpc_port),
            &addr_b,
            &log_flags(),
        );
        c.wait_until(Duration::from_secs(120), "C's dataset is loaded", |c| {
            c.log_text().contains("RandomX dataset ready")
        });
        std::thread::sleep(Duration::from_secs(2));
        eprintln!("load before C: {}", uptime());
        let started = Instant::now();
        c.call_privileged("addpeer", json!({"address": a.multiaddr()}))
            .expect("addpeer");
        let third = wait_synced(
            &c,
            started,
            Duration::ZERO,
            0,
            &tip,
            Duration::from_secs(600),
        );
        report("C in fast mode before its peer (from addpeer)", &third, &c);
        eprintln!("load after C: {}", uptime());
    }
    let _ = std::fs::write(&a_log, a.log_text());
}
