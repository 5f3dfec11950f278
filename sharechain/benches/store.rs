//! The sharechain store's costs, each against a baseline measured in the same run.
//!
//! (a) Insert and validate 100,000 SHA256d shares at minimum difficulty (regtest, main preset:
//!     PPLNS window 2160, 500 distinct payout scripts, so coinbases carry 200 payout outputs):
//!     shares per second through `Sharechain::insert` (stateless and contextual validation,
//!     the RocksDB batch, the incremental tip window), against the same shares validated and
//!     inserted into the in-memory reference `MemoryChain` (no disk; like the store's state it
//!     keeps only the tip's window). `ratio` = baseline rate / store rate: what the store costs.
//!     The shares are generated beforehand, outside the timing.
//! (b) Reopen a store of N shares: time until `Sharechain::open` returns (best tip and its
//!     window loaded, ready to validate), and the resident memory it added (VmRSS from
//!     /proc/self/status before and after), in a fresh process so nothing from filling the store
//!     is counted. Measured at 100,000 shares and again after filling towards 1,000,000, to show
//!     that the cost follows the window (2160 + margin index entries), not the store's size. The
//!     first reopen after the writer closed replays RocksDB's write-ahead log (`wal_mb_before`
//!     says how much there was); `ready_ms_again` is the median of three more.
//!
//! `cargo bench -p otedama-sharechain --bench store` prints one line per measure. Set
//! `OTEDAMA_BENCH_QUICK=1` for a short smoke run.

#[path = "common.rs"]
mod common;
use common::{disk_bytes, status_kb};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::testkit::{make_share, T0};
use otedama_consensus::{MemoryChain, Share};
use otedama_sharechain::{InsertOutcome, Sharechain, Store};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WINDOW: u64 = 2160;
const MINERS: u64 = 500;
/// Set in the child process that measures one reopen: the store's directory.
const REOPEN_ENV: &str = "OTEDAMA_BENCH_REOPEN_DIR";

fn pool() -> PoolParams {
    let mut p = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    p.pplns_window = WINDOW;
    p
}

/// The child: one timed open, one line of `key=value` results.
fn reopen_child(dir: &Path) {
    let rss_before = status_kb("VmRSS");
    let start = Instant::now();
    let chain = Sharechain::open(dir, pool()).expect("open");
    let ready = start.elapsed();
    let rss_after = status_kb("VmRSS");
    let best = chain.best().expect("best tip");
    let scripts = chain.state().best_window().map_or(0, |w| w.len());
    println!(
        "REOPEN us={} rss_before_kb={rss_before} rss_after_kb={rss_after} hwm_kb={} loaded={} best_height={} window_scripts={scripts}",
        ready.as_micros(),
        status_kb("VmHWM"),
        chain.state().len(),
        best.height,
    );
}

struct Reopen {
    ready: Duration,
    rss_added_kb: u64,
    rss_total_kb: u64,
    loaded: u64,
    window_scripts: u64,
}

fn reopen_in_child(dir: &Path) -> Reopen {
    let out = Command::new(std::env::current_exe().expect("bench binary"))
        .env(REOPEN_ENV, dir)
        .output()
        .expect("run reopen child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "reopen child failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("REOPEN "))
        .expect("reopen line");
    let get = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} missing in {line}"))
    };
    Reopen {
        ready: Duration::from_micros(get("us")),
        rss_added_kb: get("rss_after_kb").saturating_sub(get("rss_before_kb")),
        rss_total_kb: get("rss_after_kb"),
        loaded: get("loaded"),
        window_scripts: get("window_scripts"),
    }
}

/// The first reopen after the writer closed, then the median of three more.
fn measure_reopen(dir: &Path, shares: u64, note: &str) {
    // RocksDB's write-ahead log left by the writer: what the first open replays.
    let wal = disk_bytes(dir, ".log");
    let first = reopen_in_child(dir);
    let mut again: Vec<Reopen> = (0..3).map(|_| reopen_in_child(dir)).collect();
    again.sort_by_key(|r| r.ready);
    let again = &again[1];
    println!(
        "reopen shares={shares} ready_ms={:.1} rss_store_mb={:.1} ready_ms_again={:.1} rss_store_mb_again={:.1} rss_total_mb={:.1} loaded_entries={} window_scripts={} wal_mb_before={:.0} disk_mb_after={:.0}{note}",
        first.ready.as_secs_f64() * 1e3,
        first.rss_added_kb as f64 / 1024.0,
        again.ready.as_secs_f64() * 1e3,
        again.rss_added_kb as f64 / 1024.0,
        first.rss_total_kb as f64 / 1024.0,
        first.loaded,
        first.window_scripts,
        wal as f64 / 1e6,
        disk_bytes(dir, "") as f64 / 1e6,
    );
}

fn main() {
    if let Some(dir) = std::env::var_os(REOPEN_ENV) {
        reopen_child(Path::new(&dir));
        return;
    }
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let (n_insert, n_reopen, fill_goal, fill_cap) = if quick {
        (
            3_000u64,
            6_000u64,
            Duration::from_secs(20),
            Duration::from_secs(10),
        )
    } else {
        (
            100_000,
            1_000_000,
            Duration::from_secs(180),
            Duration::from_secs(120),
        )
    };
    let pool = pool();
    let late = T0 + 10 * n_reopen + 1_000_000;

    // The shares, generated on a reference chain that keeps only the tip's window.
    let setup = Instant::now();
    let mut source = MemoryChain::new();
    let mut shares: Vec<Share> = Vec::with_capacity(n_insert as usize);
    let mut parent = None;
    for h in 0..n_insert {
        let now = T0 + 10 * h;
        let s = make_share(&pool, &source, parent, (h % MINERS) as u32, now, vec![], h)
            .expect("make share");
        let info = source.validate_and_insert(&pool, &s, now).expect("valid");
        source.windows.remove(&info.prev);
        parent = Some(info.id);
        shares.push(s);
    }
    let per_share_gen = setup.elapsed() / n_insert as u32;
    eprintln!(
        "setup: {n_insert} shares in {:.1} s (the last {} bytes encoded, {} outputs); window holds {} scripts",
        setup.elapsed().as_secs_f64(),
        shares[shares.len() - 1].encode().len(),
        shares[shares.len() - 1].candidate.as_bitcoin().unwrap().coinbase.output.len(),
        source.windows[&parent.expect("tip")].len(),
    );

    // (a) Baseline: validate and insert into the in-memory reference chain.
    let mut mem = MemoryChain::new();
    let start = Instant::now();
    for s in &shares {
        let info = mem.validate_and_insert(&pool, s, late).expect("valid");
        mem.windows.remove(&info.prev);
    }
    let baseline = start.elapsed();
    drop(mem);

    // (a) The store: the same shares through `Sharechain::insert`.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut chain = Sharechain::open(dir.path(), pool.clone()).expect("open");
    let start = Instant::now();
    for s in shares {
        let out = chain.insert(s, late).expect("insert");
        assert!(
            matches!(out[..], [InsertOutcome::NewBest { reorg_depth: 0, .. }]),
            "{out:?}"
        );
    }
    let stored = start.elapsed();
    let rate = n_insert as f64 / stored.as_secs_f64();
    let base_rate = n_insert as f64 / baseline.as_secs_f64();
    println!(
        "insert shares={n_insert} window={WINDOW} scripts={MINERS} rate={rate:.0} shares/s baseline_memory={base_rate:.0} shares/s ratio={:.2}x",
        base_rate / rate
    );
    let per_share_insert = stored / n_insert as u32;
    drop(chain);

    // (b) Reopen at the first size.
    measure_reopen(dir.path(), n_insert, "");

    // Fill towards the second size, bounded in time: shares built and validated on the
    // reference chain (it holds every index entry), each stored with the batch `insert` writes
    // (`Store::put_share`: share, index entry, height key, best tip). Not through a reopened
    // `Sharechain::insert`: a reopened chain cannot yet extend past a height whose skip-list
    // ancestor lies below the loaded range (tests/crash.rs finds this).
    let remaining = n_reopen - n_insert;
    let projected = (per_share_gen + per_share_insert) * remaining as u32;
    let budget = if projected <= fill_goal {
        fill_goal + fill_goal / 2
    } else {
        fill_cap
    };
    eprintln!(
        "fill: {remaining} more shares projected at {:.0} s; budget {:.0} s",
        projected.as_secs_f64(),
        budget.as_secs_f64()
    );
    let store = Store::open(dir.path(), &pool.consensus_id()).expect("open store");
    let start = Instant::now();
    let mut total = n_insert;
    while total < n_reopen && start.elapsed() < budget {
        let h = total;
        let now = T0 + 10 * h;
        let s = make_share(&pool, &source, parent, (h % MINERS) as u32, now, vec![], h)
            .expect("make share");
        let info = source.validate_and_insert(&pool, &s, now).expect("valid");
        source.windows.remove(&info.prev);
        store
            .put_share(&s, &info, Some(&info.id))
            .expect("put share");
        parent = Some(info.id);
        total += 1;
    }
    eprintln!(
        "fill: {} shares in {:.1} s",
        total - n_insert,
        start.elapsed().as_secs_f64()
    );
    drop(store);
    drop(source);
    let note = if total < n_reopen {
        format!(
            " (goal {n_reopen} not reached: generating it was projected at {:.0} s, so the store was filled for {:.0} s)",
            (projected + (per_share_gen * n_insert as u32)).as_secs_f64(),
            budget.as_secs_f64()
        )
    } else {
        String::new()
    };
    measure_reopen(dir.path(), total, &note);
}
