//! The pool as a network, measured with real `otedama-node` processes on 127.0.0.1.
//!
//! (a) Propagation: one source node beside a real regtest `litecoind`, mining with its embedded
//!     CPU worker (`--mine 1`, litecoin-regtest, pool main), and N-1 relay nodes without a full
//!     node, connected as a random graph (each relay is given `--peer` to 2-3 earlier relays;
//!     the source, started last once the relays are connected, to 3 of them; Kademlia adds
//!     more). Every node logs each share it accepts with a microsecond timestamp (same machine,
//!     same clock); the propagation of a share is the latest arrival among all N nodes minus the
//!     source's own acceptance. Shares found in the first `--warmup-secs` of mining are left out
//!     (the source's mesh forms, and regtest's share difficulty starts at the floor, so the first
//!     seconds are a flood of dozens of shares a second); the shares of the next
//!     `--measure-secs` are measured. Their latency is also shown by the source's share rate at
//!     the time, and by each relay's distance from the source in the connection graph.
//! (b) Sync: the store of a serving archive node (`--no-prune`: a full sync is measured, not a
//!     join from a trusted base) is seeded with a chain of valid SHA256d shares (bitcoin-regtest,
//!     pool main, window 2160, 500 distinct payout scripts so coinbases carry 202 outputs, one
//!     share every 10 s ending a minute ago), then a fresh node is started with `--peer` to it;
//!     measured is the time from starting the fresh process until its `getstatus`
//!     shows the serving node's tip (polled every 20 ms). Baseline, same run: the seeding itself,
//!     i.e. the same shares decoded and inserted into a fresh `Sharechain` (stateless and
//!     contextual validation, RocksDB) in a fresh child process of the bench, no network.
//!     `ratio` = sync / baseline.
//!
//! `cargo bench -p otedama-node --bench p2p -- [--nodes 10,20] [--sync 4320,100000]`
//! (either flag alone runs only that measure; neither runs both with these defaults). More:
//! `--warmup-secs S` (10), `--measure-secs S` (120), `--seed N` (1), `--miners N` (500).
//! Cargo builds the release `otedama-node` binary for the bench (`CARGO_BIN_EXE_otedama-node`).
//! Needs `/usr/lib/litecoin/litecoind` for (a). Only meaningful on an otherwise idle machine:
//! before each measure the bench waits (up to 3 minutes) until other processes use less than a
//! quarter of the CPU, and prints the load.

#[path = "../tests/support/chains.rs"]
mod chains;

use chains::{address as addr, bin, pool as bitcoin_regtest_pool};
use otedama_consensus::testkit::make_share;
use otedama_consensus::{MemoryChain, Share};
use otedama_sharechain::{InsertOutcome, Sharechain};
use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::{NodeProc, NO_FULL_NODE};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

struct Args {
    nodes: Vec<usize>,
    sync: Vec<u64>,
    warmup: Duration,
    measure: Duration,
    seed: u64,
    miners: u32,
}

fn list<T: std::str::FromStr>(v: &str) -> Vec<T> {
    v.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| panic!("bad number {s:?}"))
        })
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        nodes: vec![],
        sync: vec![],
        warmup: Duration::from_secs(10),
        measure: Duration::from_secs(120),
        seed: 1,
        miners: 500,
    };
    let (mut nodes, mut sync) = (None, None);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--nodes" => nodes = Some(list(&value())),
            "--sync" => sync = Some(list(&value())),
            "--warmup-secs" => a.warmup = Duration::from_secs(list::<u64>(&value())[0]),
            "--measure-secs" => a.measure = Duration::from_secs(list::<u64>(&value())[0]),
            "--seed" => a.seed = list::<u64>(&value())[0],
            "--miners" => a.miners = list::<u32>(&value())[0],
            // `cargo bench` passes `--bench`; filters are not used.
            _ => {}
        }
    }
    match (nodes, sync) {
        (None, None) => {
            a.nodes = vec![10, 20];
            a.sync = vec![4320, 100_000];
        }
        (n, s) => {
            a.nodes = n.unwrap_or_default();
            a.sync = s.unwrap_or_default();
        }
    }
    a
}

// ---------------------------------------------------------------------------------------------
// The machine.

/// (busy, total) jiffies of all CPUs from /proc/stat.
fn cpu_jiffies() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Cores busy between two `cpu_jiffies` readings.
fn busy_cores(a: (u64, u64), b: (u64, u64)) -> f64 {
    let total = b.1.saturating_sub(a.1).max(1) as f64;
    b.0.saturating_sub(a.0) as f64 / total * cores()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Waits until the machine is idle (under a quarter core busy over 2 s, for at most 3 minutes)
/// and says how busy it was.
fn wait_idle(what: &str) -> String {
    let start = Instant::now();
    loop {
        let a = cpu_jiffies();
        std::thread::sleep(Duration::from_secs(2));
        let busy = busy_cores(a, cpu_jiffies());
        if busy < 0.25 || start.elapsed() > Duration::from_secs(180) {
            let note = format!(
                "load={} busy_before={busy:.2}cores waited={:.0}s",
                loadavg().replace(' ', "/"),
                start.elapsed().as_secs_f64()
            );
            eprintln!("{what}: machine {note}");
            if busy >= 0.25 {
                eprintln!("note: {what} starts on a busy machine ({busy:.2} cores used by others)");
            }
            return note;
        }
    }
}

/// CPU seconds (user + system) of the process whose command line names `dir`.
fn cpu_secs_of(dir: &Path) -> Option<f64> {
    let needle = dir.to_string_lossy().into_owned();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmd).contains(&needle) {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        return Some(ticks as f64 / 100.0);
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Logs.

/// Microseconds since the Unix epoch of an RFC 3339 UTC timestamp (`2026-11-21T05:36:02.411223Z`).
fn parse_ts(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>());
    let (hh, mm, ss) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let mut frac = frac.to_string();
    frac.truncate(6);
    while frac.len() < 6 {
        frac.push('0');
    }
    let us: i64 = frac.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000) + us)
}

/// First acceptance time of every share a node's log mentions as accepted (new best tip, side
/// chain, or connected through a fetch), and which of them its own worker found.
fn arrivals(log: &str) -> (HashMap<String, i64>, Vec<(String, i64)>) {
    let mut first = HashMap::new();
    let mut own = Vec::new();
    for line in log.lines() {
        if !(line.contains("new best tip") || line.contains("accepted on a side chain")) {
            continue;
        }
        let Some(ts) = line.split_whitespace().next().and_then(parse_ts) else {
            continue;
        };
        let Some(id) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("id="))
            .map(String::from)
        else {
            continue;
        };
        if line.contains("worker=\"cpu-") {
            own.push((id.clone(), ts));
        }
        first.entry(id).or_insert(ts);
    }
    (first, own)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50_ms={:.1} p99_ms={:.1} max_ms={:.1}",
        pct(v, 0.5),
        pct(v, 0.99),
        v.last().copied().unwrap_or(f64::NAN)
    )
}

// ---------------------------------------------------------------------------------------------
// (a) Propagation.

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// `k` distinct indices below `n`.
    fn pick(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in (1..all.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            all.swap(i, j);
        }
        all.truncate(k.min(n));
        all
    }
}

fn propagation(n: usize, args: &Args) {
    assert!(n >= 2, "--nodes needs at least 2");
    if !litecoind::available("propagation") {
        return;
    }
    // Shares that reach a relay through a fetch (parent of a held gossip) are logged at debug.
    std::env::set_var("OTEDAMA_E2E_LOG", "info,otedama_node::chain_task=debug");
    let la = Litecoind::start("p2pbench-a", &[]);
    // getblocktemplate needs the full node to have a peer, and to be out of initial download.
    let lb = la.start_peer("p2pbench-b");
    la.activate_mweb();
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut relays: Vec<NodeProc> = Vec::new();
    let mut named = 0usize;
    for i in 1..n {
        let k = (2 + (rng.next() % 2) as usize).min(relays.len());
        let mut extra: Vec<String> = Vec::new();
        for j in rng.pick(relays.len(), k) {
            extra.push("--peer".into());
            extra.push(relays[j].multiaddr());
            named += 1;
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        relays.push(NodeProc::start(
            bin(),
            &format!("p2pbench{n}-{i}"),
            "litecoin-regtest",
            NO_FULL_NODE,
            &addr("rltc", i as u8),
            &extra,
        ));
    }
    for r in &relays {
        if relays.len() > 1 {
            r.wait_until(Duration::from_secs(60), "a peer", |r| r.peer_count() >= 1);
        }
    }
    // Let Kademlia walks and gossipsub meshes settle (walks every 5 s while below 8 outbound);
    // the relays' CPU while idle is measured over the last 5 s.
    std::thread::sleep(Duration::from_secs(5));
    let relay_dirs: Vec<&Path> = relays.iter().map(|r| r.dir.as_path()).collect();
    let relays_cpu =
        |dirs: &[&Path]| -> f64 { dirs.iter().map(|d| cpu_secs_of(d).unwrap_or(0.0)).sum() };
    let idle0 = (relays_cpu(&relay_dirs), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let idle_cores = (relays_cpu(&relay_dirs) - idle0.0) / idle0.1.elapsed().as_secs_f64();
    let load = wait_idle(&format!("propagation nodes={n}"));
    let mut extra: Vec<String> = vec!["--mine".into(), "1".into()];
    for j in rng.pick(relays.len(), 3) {
        extra.push("--peer".into());
        extra.push(relays[j].multiaddr());
        named += 1;
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut source = NodeProc::start(
        bin(),
        &format!("p2pbench{n}-0"),
        "litecoin-regtest",
        &la.rpc_url(),
        &addr("rltc", 0),
        &extra,
    );
    source.wait_until(Duration::from_secs(120), "its first share", |s| {
        s.status()["best_share"]["id"].is_string()
    });
    let first_share = Instant::now();
    std::thread::sleep(args.warmup);
    // CPU seconds of the source, the relays and the two litecoinds over the window.
    let dirs: Vec<&Path> = std::iter::once(source.dir.as_path())
        .chain(relays.iter().map(|r| r.dir.as_path()))
        .chain([la.datadir(), lb.datadir()])
        .collect();
    let cpu_of = |dirs: &[&Path]| -> Vec<f64> {
        dirs.iter().map(|d| cpu_secs_of(d).unwrap_or(0.0)).collect()
    };
    let proc0 = cpu_of(&dirs);
    let cpu0 = cpu_jiffies();
    let wall = Instant::now();
    let window_start = unix_us();
    std::thread::sleep(args.measure);
    let window_end = unix_us();
    let busy = busy_cores(cpu0, cpu_jiffies());
    let proc1 = cpu_of(&dirs);
    let measured_secs = wall.elapsed().as_secs_f64();
    // The connection graph as it stands now.
    let all: Vec<&NodeProc> = std::iter::once(&source).chain(relays.iter()).collect();
    let index: HashMap<String, usize> = all
        .iter()
        .enumerate()
        .map(|(i, p)| (p.peer_id(), i))
        .collect();
    let adj: Vec<Vec<usize>> = all
        .iter()
        .map(|p| {
            p.peer_ids()
                .iter()
                .filter_map(|id| index.get(id).copied())
                .collect()
        })
        .collect();
    let mut dist = vec![usize::MAX; all.len()];
    dist[0] = 0;
    let mut queue = VecDeque::from([0usize]);
    while let Some(u) = queue.pop_front() {
        for &v in &adj[u] {
            if dist[v] == usize::MAX {
                dist[v] = dist[u] + 1;
                queue.push_back(v);
            }
        }
    }
    let degrees: Vec<usize> = adj.iter().map(Vec::len).collect();
    // Stop mining, give the last shares time to arrive, then read every log.
    source.stop();
    std::thread::sleep(Duration::from_secs(2));
    let (_, own) = arrivals(&source.log_text());
    let relay_logs: Vec<HashMap<String, i64>> =
        relays.iter().map(|r| arrivals(&r.log_text()).0).collect();
    let mined_total = own.len();
    let measured: Vec<&(String, i64)> = own
        .iter()
        .filter(|(_, t)| *t >= window_start && *t < window_end)
        .collect();
    let mut props = Vec::new();
    let mut by_rate: [(Vec<f64>, &str); 3] = [
        (vec![], "rate<2/s"),
        (vec![], "rate=2-10/s"),
        (vec![], "rate>=10/s"),
    ];
    let mut by_dist: HashMap<usize, Vec<f64>> = HashMap::new();
    let mut missing = 0usize;
    // Per share, the first relay's, the median relay's and the last relay's arrival.
    let mut ranks: [Vec<f64>; 3] = [vec![], vec![], vec![]];
    for (id, t0) in &measured {
        let mut latest = 0i64;
        let mut complete = true;
        let mut each = Vec::with_capacity(relay_logs.len());
        for (r, log) in relay_logs.iter().enumerate() {
            match log.get(id) {
                Some(t) => {
                    latest = latest.max(t - t0);
                    each.push(t - t0);
                    by_dist
                        .entry(dist[r + 1])
                        .or_default()
                        .push((t - t0) as f64 / 1000.0);
                }
                None => complete = false,
            }
        }
        if !complete {
            missing += 1;
            continue;
        }
        each.sort_unstable();
        for (k, i) in [0, (each.len() - 1) / 2, each.len() - 1]
            .into_iter()
            .enumerate()
        {
            ranks[k].push(each[i] as f64 / 1000.0);
        }
        let ms = latest as f64 / 1000.0;
        props.push(ms);
        // The source's share rate around this share: shares within +-1 s.
        let near = own
            .iter()
            .filter(|(_, t)| (t - t0).abs() <= 1_000_000)
            .count();
        let rate = (near as f64 - 1.0) / 2.0;
        let band = if rate < 2.0 {
            0
        } else if rate < 10.0 {
            1
        } else {
            2
        };
        by_rate[band].0.push(ms);
    }
    let p99 = {
        let mut v = props.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        pct(&v, 0.99)
    };
    let goal = if p99 <= 100.0 { "met" } else { "NOT met" };
    println!(
        "propagation nodes={n} shares={} {} goal_p99<=100ms={goal} missing={missing} mined_in_window={} share_rate={:.1}/s warmup_s={:.0} window_s={measured_secs:.0} machine_busy={busy:.2}/{:.0}cores {load}",
        props.len(),
        summary(&mut props),
        measured.len(),
        measured.len() as f64 / measured_secs,
        args.warmup.as_secs_f64(),
        cores(),
    );
    for (v, label) in by_rate.iter_mut() {
        if !v.is_empty() {
            println!(
                "propagation-by-rate nodes={n} {label} shares={} {}",
                v.len(),
                summary(v)
            );
        }
    }
    for (v, label) in ranks.iter_mut().zip(["first", "median", "last"]) {
        println!(
            "propagation-by-rank nodes={n} relay={label} shares={} {}",
            v.len(),
            summary(v)
        );
    }
    let relays_cpu: f64 = (1..n).map(|i| proc1[i] - proc0[i]).sum();
    let secs = measured_secs;
    // What one share costs a relay: its CPU over the window, less what it uses idle.
    let per_share_ms =
        (relays_cpu - idle_cores * secs) / (n - 1) as f64 / measured.len().max(1) as f64 * 1000.0;
    let source_cores = (proc1[0] - proc0[0]) / secs;
    let ltc_cores = (proc1[n] - proc0[n] + proc1[n + 1] - proc0[n + 1]) / secs;
    let others = busy - source_cores - relays_cpu / secs - ltc_cores;
    println!(
        "propagation-cpu nodes={n} source={source_cores:.2}cores relays={:.2}cores ({:.3} each; idle {:.3} each) relay_cpu_per_share_ms={per_share_ms:.2} litecoind={ltc_cores:.2}cores machine={busy:.2}cores other_processes={others:.2}cores",
        relays_cpu / secs,
        relays_cpu / secs / (n - 1) as f64,
        idle_cores / (n - 1) as f64,
    );
    if others > 0.25 {
        eprintln!(
            "note: other processes used {others:.2} cores during propagation nodes={n}: the figures are pessimistic"
        );
    }
    let mut ds: Vec<_> = by_dist.into_iter().collect();
    ds.sort_by_key(|(d, _)| *d);
    for (d, mut v) in ds {
        let count = dist.iter().skip(1).filter(|x| **x == d).count();
        let label = if d == usize::MAX {
            "unconnected".to_string()
        } else {
            d.to_string()
        };
        println!(
            "propagation-by-distance nodes={n} distance={label} relays={count} arrivals={} {}",
            v.len(),
            summary(&mut v)
        );
    }
    println!(
        "propagation-graph nodes={n} peers_named={named} degree_min={} degree_mean={:.1} degree_max={} source_degree={} shares_mined={mined_total} first_share_to_window_s={:.0}",
        degrees.iter().min().copied().unwrap_or(0),
        degrees.iter().sum::<usize>() as f64 / degrees.len() as f64,
        degrees.iter().max().copied().unwrap_or(0),
        degrees[0],
        (wall - first_share).as_secs_f64(),
    );
    drop(source);
    drop(relays);
}

fn unix_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// (b) Sync.

/// Set in the child process that seeds a store (the baseline): the file of encoded shares.
const SEED_FILE_ENV: &str = "OTEDAMA_P2P_BENCH_SEED_FILE";
/// ... and the store's directory.
const SEED_STORE_ENV: &str = "OTEDAMA_P2P_BENCH_SEED_STORE";

/// The child: reads the shares (`u32` little-endian length, then the encoding, each), decodes
/// them all once to time decoding alone, then decodes and inserts each into a fresh
/// `Sharechain` (the timed baseline), and prints one line of results. A fresh process, like the
/// node: in the parent, whose heap is full of the generator's garbage, glibc's `_int_malloc` was
/// half of the insert time.
fn seed_child(file: &Path, store: &Path) {
    let data = std::fs::read(file).expect("read shares");
    let mut items = Vec::new();
    let mut rest = &data[..];
    while rest.len() >= 4 {
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        items.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    let t = Instant::now();
    for b in &items {
        drop(Share::decode(b).expect("decode"));
    }
    let decode = t.elapsed();
    let now = unix_us() as u64 / 1_000_000;
    let t = Instant::now();
    let mut chain = Sharechain::open(store, bitcoin_regtest_pool()).expect("open");
    for b in &items {
        let share = Share::decode(b).expect("decode");
        let out = chain.insert(share, now).expect("insert");
        assert!(
            matches!(out[..], [InsertOutcome::NewBest { reorg_depth: 0, .. }]),
            "{out:?}"
        );
    }
    let insert = t.elapsed();
    drop(chain);
    println!(
        "SEED n={} insert_us={} decode_us={}",
        items.len(),
        insert.as_micros(),
        decode.as_micros()
    );
}

fn sync(count: u64, args: &Args) {
    std::env::set_var("OTEDAMA_E2E_LOG", "info");
    let pool = bitcoin_regtest_pool();
    let now = unix_us() as u64 / 1_000_000;
    let start = now - count * 10 - 60;
    let setup = Instant::now();
    let mut view = MemoryChain::new();
    let mut encoded: Vec<u8> = Vec::new();
    let mut parent = None;
    let mut last_outputs = 0;
    for i in 0..count {
        let t = start + i * 10;
        let s = make_share(
            &pool,
            &view,
            parent,
            (i % args.miners as u64) as u32,
            t,
            vec![],
            i,
        )
        .expect("a share on a known parent builds");
        let info = view.validate_and_insert(&pool, &s, t).expect("valid");
        // Only the tip's window is needed to build the next share.
        view.windows.remove(&info.prev);
        parent = Some(info.id);
        let bytes = s.encode();
        encoded.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        encoded.extend_from_slice(&bytes);
        last_outputs = s.candidate.as_bitcoin().unwrap().coinbase.output.len();
    }
    drop(view);
    let tip = parent.expect("shares").to_string();
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("shares.bin");
    std::fs::write(&file, &encoded).expect("write shares");
    eprintln!(
        "sync setup: {count} shares built in {:.1} s, {:.1} MB encoded ({last_outputs} outputs in the last coinbase)",
        setup.elapsed().as_secs_f64(),
        (encoded.len() - 4 * count as usize) as f64 / 1e6,
    );
    drop(encoded);

    // Baseline: the same shares into a fresh store, in a fresh process, no network. The store
    // it fills is the serving node's.
    let load_base = wait_idle(&format!("sync baseline shares={count}"));
    let dir_a = NodeProc::fresh_dir(&format!("p2pbench-sync{count}-a"));
    let out = std::process::Command::new(std::env::current_exe().expect("bench binary"))
        .env(SEED_FILE_ENV, &file)
        .env(SEED_STORE_ENV, dir_a.join("data").join("sharechain"))
        .output()
        .expect("run the seeding child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "seeding child failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    drop(tmp);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("SEED "))
        .expect("seed line");
    let get = |key: &str| -> f64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{key} missing in {line}"))
    };
    let baseline = get("insert_us") / 1e6;
    let decode = get("decode_us") / 1e6;

    let a = NodeProc::start_in(
        bin(),
        "p2pbench-sync-a",
        dir_a.clone(),
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 1),
        // An archive node: the measure is a full sync, not a join from a trusted base.
        &["--no-prune"],
    );
    assert_eq!(a.best().1, tip, "the serving node has the seeded tip");
    let load = wait_idle(&format!("sync shares={count}"));
    let cpu_a0 = cpu_secs_of(&dir_a).unwrap_or(0.0);
    let cpu0 = cpu_jiffies();
    let t = Instant::now();
    let c = NodeProc::start(
        bin(),
        &format!("p2pbench-sync{count}-c"),
        "bitcoin-regtest",
        NO_FULL_NODE,
        &addr("bcrt", 2),
        &["--peer", &a.multiaddr()],
    );
    let api_up = t.elapsed().as_secs_f64();
    let deadline = Duration::from_secs(120 + count / 500);
    loop {
        if c.best().1 == tip {
            break;
        }
        assert!(
            t.elapsed() < deadline,
            "no sync within {deadline:?}\n{}",
            c.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = t.elapsed().as_secs_f64();
    let busy = busy_cores(cpu0, cpu_jiffies());
    let cpu_c = cpu_secs_of(&c.dir).unwrap_or(f64::NAN);
    let cpu_a = cpu_secs_of(&dir_a).unwrap_or(f64::NAN) - cpu_a0;
    // The fresh node's own view: first log line, "sync started", "sync finished".
    std::thread::sleep(Duration::from_millis(1500));
    let log = c.log_text();
    let ts_of = |needle: &str| {
        log.lines()
            .find(|l| l.contains(needle))
            .and_then(|l| l.split_whitespace().next())
            .and_then(parse_ts)
    };
    let first = log
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(parse_ts);
    let (started, finished) = (ts_of("sync started"), ts_of("sync finished"));
    let ms = |a: Option<i64>, b: Option<i64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.0}", (b - a) as f64 / 1000.0),
        _ => "?".into(),
    };
    let others = busy - (cpu_c + cpu_a) / secs;
    if others > 0.25 {
        eprintln!("note: other processes used {others:.2} cores during sync shares={count}");
    }
    let goal = match count {
        4320 if secs <= 2.0 => " goal<=2s=met",
        4320 => " goal<=2s=NOT met",
        _ => "",
    };
    println!(
        "sync shares={count} secs={secs:.2}{goal} rate={:.0} shares/s baseline_secs={baseline:.2} baseline_rate={:.0} shares/s ratio={:.2}x decode_alone_secs={decode:.2} api_up_ms={:.0} log_start_to_sync_started_ms={} sync_started_to_finished_ms={} cpu_fresh_s={cpu_c:.2} cpu_serving_s={cpu_a:.2} machine_busy={busy:.2}/{:.0}cores other_processes={others:.2}cores {load} (baseline {load_base})",
        count as f64 / secs,
        count as f64 / baseline,
        secs / baseline,
        api_up * 1000.0,
        ms(first, started),
        ms(started, finished),
        cores(),
    );
    drop(c);
    drop(a);
}

fn main() {
    if let (Some(file), Some(store)) = (
        std::env::var_os(SEED_FILE_ENV),
        std::env::var_os(SEED_STORE_ENV),
    ) {
        seed_child(Path::new(&file), Path::new(&store));
        return;
    }
    let args = parse_args();
    for &n in &args.nodes {
        propagation(n, &args);
    }
    for &count in &args.sync {
        sync(count, &args);
    }
}
