//! Memory and disk over a long run: a million shares (16 weeks of 10 s shares) through
//! `Sharechain::insert` as the node's sharechain task does it, trimming the in-memory index
//! (`Sharechain::trim_memory`) and pruning the store (`Sharechain::prune_if_due`) as the task
//! does every second ("prune", the default node), against the same run without pruning ("trim",
//! an archive node with `--no-prune`) and without either ("keep": memory as it grew before
//! trimming). Each run is a fresh child process so its resident memory (VmRSS) is its own;
//! every tenth of the run it reports RSS, index entries and the store's size on disk. The shares are generated in the same process on a reference chain
//! that itself keeps only the last window (so the generator stays flat too).
//!
//! `cargo bench -p otedama-sharechain --bench memory` (`OTEDAMA_BENCH_QUICK=1`: 30,000 shares;
//! `-- --shares N`). Numbers: docs/performance.md.

#[path = "common.rs"]
mod common;
use common::{disk_bytes, status_kb};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::testkit::{make_share, T0};
use otedama_consensus::MemoryChain;
use otedama_sharechain::Sharechain;
use std::process::Command;
use std::time::{Duration, Instant};

const MINERS: u64 = 50;
/// Set in a child: "prune", "trim" or "keep", then the share count.
const CHILD_ENV: &str = "OTEDAMA_BENCH_MEMORY_CHILD";
/// Longest a child runs (it reports how far it got).
const BUDGET: Duration = Duration::from_secs(300);

fn child(mode: &str, n: u64) {
    let prune = mode == "prune";
    let trim = prune || mode == "trim";
    let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    let keep = pool.pplns_window + pool.uncle_depth + 16;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut chain = Sharechain::open(dir.path(), pool.clone()).expect("open");
    let mut source = MemoryChain::new();
    let mut parent = None;
    let late = T0 + 10 * n + 1_000_000;
    let start = Instant::now();
    let step = (n / 10).max(1);
    for h in 0..n {
        let now = T0 + 10 * h;
        let s = make_share(&pool, &source, parent, (h % MINERS) as u32, now, vec![], h)
            .expect("make share");
        let info = source.validate_and_insert(&pool, &s, now).expect("valid");
        source.windows.remove(&info.prev);
        if h % 1000 == 0 {
            source.infos.retain(|_, i| i.height + keep >= h);
        }
        parent = Some(info.id);
        chain.insert(s, late).expect("insert");
        if trim {
            chain.trim_memory();
        }
        if prune {
            chain.prune_if_due().expect("prune");
        }
        if (h + 1) % step == 0 || start.elapsed() > BUDGET {
            println!(
                "MEM mode={mode} shares={} rss_mb={:.1} index_entries={} store_mb={:.1} secs={:.0}",
                h + 1,
                status_kb("VmRSS") as f64 / 1024.0,
                chain.state().len(),
                disk_bytes(dir.path(), "") as f64 / 1e6,
                start.elapsed().as_secs_f64()
            );
            if start.elapsed() > BUDGET {
                break;
            }
        }
    }
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (mode, n) = spec.split_once(':').expect("mode:n");
        child(mode, n.parse().expect("n"));
        return;
    }
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .iter()
        .position(|a| a == "--shares")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 30_000 } else { 1_000_000 });
    let exe = std::env::current_exe().expect("own path");
    let mut last = Vec::new();
    for mode in ["prune", "trim", "keep"] {
        let out = Command::new(&exe)
            .env(CHILD_ENV, format!("{mode}:{n}"))
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        print!("{text}");
        let field = |name: &str| {
            text.lines()
                .rfind(|l| l.starts_with("MEM"))
                .and_then(|l| l.split(&format!("{name}=")).nth(1))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        last.push((field("rss_mb"), field("store_mb")));
    }
    println!(
        "memory shares={n} rss_pruned_mb={:.1} store_pruned_mb={:.1} rss_trimmed_mb={:.1} store_trimmed_mb={:.1} rss_untrimmed_mb={:.1} store_untrimmed_mb={:.1}",
        last[0].0, last[0].1, last[1].0, last[1].1, last[2].0, last[2].1
    );
}
