//! `otedama-node bench --algo randomx`: the RandomX workers' hashing loop against the reference
//! library's own loop, measured in the same run on the same dataset and threads.
//!
//! * `randomx-cache`: building the seed's cache (Argon2d over 256 MiB, one thread).
//! * `randomx-dataset`: initialising the 2 GiB dataset on N threads the way the workers do
//!   ([`DatasetBuilder`] chunks claimed by every thread), its memory and the pages it got.
//! * `randomx`: the workers' loop ([`NonceScan::scan`]: pipelined `randomx_calculate_hash_next`
//!   per nonce, the target check, the stop checks, batches of [`BATCH`]) against the baseline,
//!   plain `randomx_calculate_hash` per nonce (one machine per thread, same dataset, same
//!   threads), on 1 and on N threads, taking turns in four slices each so that load from other
//!   processes weighs on both alike; `randomx-scaling` compares N threads with 1.
//! * `randomx-memory`: the process's resident memory and its peak.
//! * `randomx-xmrig` (with `--xmrig PATH` only): the workers' loop against that xmrig binary's
//!   offline benchmark on the same threads, the two taking turns in slices
//!   ([`super::xmrig_compare`]): `baseline=` is xmrig.

use super::super::bench::{bench_args, on_threads, watching_others, Measure};
use super::super::RateUnit;
use super::xmrig_compare::Xmrig;
use super::{NonceScan, ScanEnd, BATCH};
use otedama_consensus::work::{Target, Work};
use otedama_randomx::{Cache, Dataset, DatasetBuilder, Flags, LargePages, Pages, Vm};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A 76-byte blob like a Monero block's hashing blob, distinct per thread; nonce at 39.
fn blob(thread: usize) -> Vec<u8> {
    (0..76u8)
        .map(|i| i.wrapping_mul(29) ^ thread as u8)
        .collect()
}
const NONCE_AT: usize = 39;

/// Hashes per second of the workers' loop on `threads` threads over `dataset`, each thread on a
/// machine made before the clock starts (a machine that cannot be made counts as 0 H/s).
pub fn worker_loop_rate(dataset: &Arc<Dataset>, threads: usize, dur: Duration) -> f64 {
    let mut vms: Vec<Vm> = (0..threads)
        .filter_map(|_| Vm::fast(dataset.clone()).ok())
        .collect();
    worker_loop_rate_on(&mut vms, dur)
}

/// The workers' loop on machine `vm` as thread `i` of a measure, until `deadline`: its hashes.
fn scan_until(vm: &mut Vm, i: usize, deadline: Instant) -> u64 {
    // The main preset's share floor as the target: hits are rare, as on a real pool.
    let target = Target::from_work(Work(1_000_000));
    let Some(mut scan) = NonceScan::new(blob(i), NONCE_AT) else {
        return 0;
    };
    let stop = AtomicBool::new(false);
    let mut hashes = 0u64;
    while Instant::now() < deadline {
        let end = scan.scan(
            vm,
            &target,
            (Instant::now() + BATCH).min(deadline),
            &mut hashes,
            || !stop.load(Ordering::Relaxed),
        );
        if end == ScanEnd::Exhausted {
            break;
        }
    }
    hashes
}

/// The workers' loop on the given machines, one thread each, for `dur`: the sum of the threads'
/// hashes per second. Machines can be kept across measures, as a miner keeps them (their
/// scratchpads keep the pages they got when they were made).
fn worker_loop_rate_on(vms: &mut [Vm], dur: Duration) -> f64 {
    let barrier = std::sync::Barrier::new(vms.len());
    std::thread::scope(|s| {
        let handles: Vec<_> = vms
            .iter_mut()
            .enumerate()
            .map(|(i, vm)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let n = scan_until(vm, i, start + dur);
                    n as f64 / start.elapsed().as_secs_f64()
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).sum()
    })
}

/// Hashes per second of the reference loop: `randomx_calculate_hash` per nonce.
pub fn reference_loop_rate(dataset: &Arc<Dataset>, threads: usize, dur: Duration) -> f64 {
    let dataset = dataset.clone();
    on_threads(threads, dur, move |i, deadline| {
        let Ok(mut vm) = Vm::fast(dataset.clone()) else {
            return 0;
        };
        let mut b = blob(i);
        let mut n = 0u64;
        while Instant::now() < deadline {
            b[NONCE_AT..NONCE_AT + 4].copy_from_slice(&(n as u32).to_le_bytes());
            std::hint::black_box(vm.hash(&b));
            n += 1;
        }
        n
    })
}

/// Slices each loop's time is cut into, the two loops taking turns (ABBA...), so that a change
/// in the machine's load during the measure weighs on both alike.
const ROUNDS: u32 = 4;

/// The workers' loop and the reference loop, `dur` each, in alternating slices: their rates.
fn interleaved(dataset: &Arc<Dataset>, threads: usize, dur: Duration) -> (f64, f64) {
    let slice = dur / ROUNDS;
    let (mut rate, mut baseline) = (0.0, 0.0);
    for k in 0..ROUNDS {
        if k % 2 == 0 {
            rate += worker_loop_rate(dataset, threads, slice);
            baseline += reference_loop_rate(dataset, threads, slice);
        } else {
            baseline += reference_loop_rate(dataset, threads, slice);
            rate += worker_loop_rate(dataset, threads, slice);
        }
    }
    (rate / f64::from(ROUNDS), baseline / f64::from(ROUNDS))
}

/// Builds the dataset of `cache` the way the workers do: `threads` threads claiming chunks.
pub fn build_dataset(
    cache: Arc<Cache>,
    threads: usize,
    large_pages: LargePages,
) -> Result<Arc<Dataset>, otedama_randomx::Error> {
    let builder = DatasetBuilder::new(cache, large_pages)?;
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(|| while builder.work() {});
        }
        while builder.work() {}
    });
    builder.dataset().ok_or(otedama_randomx::Error::InitThread)
}

/// `VmRSS` and `VmHWM` of this process in bytes (Linux).
fn rss() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let get = |k: &str| -> Option<u64> {
        let l = s.lines().find(|l| l.starts_with(k))?;
        l[k.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    Some((get("VmRSS:")?, get("VmHWM:")?))
}

fn note_others(label: &str, threads: usize, others: Option<f64>) {
    if let Some(o) = others.filter(|o| *o > 0.1) {
        eprintln!("note: other processes used {o:.2} cores while `{label} threads={threads}` was measured");
    }
}

/// Every measure of `otedama-node bench --algo randomx`, as lines, to `out`.
pub fn run(
    threads: usize,
    dur: Duration,
    xmrig: Option<&Path>,
    mut out: impl FnMut(&str),
) -> Result<(), String> {
    let threads = threads.max(1);
    let flags = Flags::recommended();
    let seed = [0x5eu8; 32];
    let t0 = Instant::now();
    let (cache, others) = watching_others(|| Cache::new(&seed, flags, LargePages::Prefer));
    let cache = cache.map_err(|e| e.to_string())?;
    out(&format!(
        "randomx-cache threads=1 init={:.2} s memory={} MiB flags={:#x} large_pages={}",
        t0.elapsed().as_secs_f64(),
        otedama_randomx::CACHE_BYTES >> 20,
        flags.bits(),
        cache.large_pages()
    ));
    note_others("randomx-cache", 1, others);
    let t0 = Instant::now();
    let (dataset, others) =
        watching_others(|| build_dataset(Arc::new(cache), threads, LargePages::Prefer));
    let dataset = dataset.map_err(|e| format!("{e} (fast mode needs about 2.3 GiB free)"))?;
    let pages = match dataset.pages() {
        Pages::Large => "large".to_string(),
        Pages::TransparentAdvised => format!(
            "transparent ({} MiB on 2 MiB pages)",
            dataset.huge_page_bytes().unwrap_or(0) >> 20
        ),
        Pages::Small => "4KB".to_string(),
    };
    out(&format!(
        "randomx-dataset threads={threads} init={:.2} s memory={} MiB pages={pages}",
        t0.elapsed().as_secs_f64(),
        dataset.bytes() >> 20
    ));
    note_others("randomx-dataset", threads, others);
    let mut counts = vec![1];
    if threads > 1 {
        counts.push(threads);
    }
    let mut one = 0.0;
    for &t in &counts {
        let ((rate, baseline), others) = watching_others(|| interleaved(&dataset, t, dur));
        let m = Measure {
            label: "randomx".into(),
            threads: t,
            rate,
            baseline,
            unit: RateUnit::Hashes,
            other_cores: others,
        };
        out(&m.to_string());
        note_others("randomx", t, others);
        if t == 1 {
            one = rate;
        } else {
            let scaling = Measure {
                label: "randomx-scaling".into(),
                baseline: one,
                ..m
            };
            out(&scaling.to_string());
        }
    }
    if let Some((now, peak)) = rss() {
        out(&format!(
            "randomx-memory rss={} MiB peak={} MiB",
            now >> 20,
            peak >> 20
        ));
    }
    if let Some(path) = xmrig {
        let (rates, others) = watching_others(|| against_xmrig(&dataset, path, threads, dur));
        let (rate, baseline) = rates?;
        let m = Measure {
            label: "randomx-xmrig".into(),
            threads,
            rate,
            baseline,
            unit: RateUnit::Hashes,
            other_cores: others,
        };
        out(&m.to_string());
    }
    Ok(())
}

/// Slices of each side in the comparison with xmrig (ABBA...): more than the other baselines'
/// four, since the host's drift, not the loop, is what a long slice would measure.
const XMRIG_ROUNDS: u32 = 6;

/// The workers' loop and xmrig's benchmark, `dur` each, in alternating slices on `threads`
/// threads: (workers' rate, xmrig's rate). xmrig's dataset is built first, with ours idle.
fn against_xmrig(
    dataset: &Arc<Dataset>,
    path: &Path,
    threads: usize,
    dur: Duration,
) -> Result<(f64, f64), String> {
    // Our machines are made before xmrig starts, so that its reservation of large pages (as
    // root it reserves what it needs) cannot leave our scratchpads the small ones.
    let mut vms = (0..threads)
        .map(|_| Vm::fast(dataset.clone()))
        .collect::<Result<Vec<Vm>, _>>()
        .map_err(|e| e.to_string())?;
    let mut x = Xmrig::start(path, threads)?;
    let slice = dur / XMRIG_ROUNDS;
    let (mut ours, mut theirs, mut counted) = (0.0, 0.0, 0u32);
    for k in 0..XMRIG_ROUNDS {
        let (a, b) = if k % 2 == 0 {
            let a = worker_loop_rate_on(&mut vms, slice);
            (a, x.slice(slice)?)
        } else {
            let b = x.slice(slice)?;
            (worker_loop_rate_on(&mut vms, slice), b)
        };
        // A slice without two progress lines (too short a slice) is left out on both sides,
        // so the two averages keep the same slices.
        if let Some(b) = b {
            ours += a;
            theirs += b;
            counted += 1;
        }
    }
    if counted == 0 {
        return Err(
            "xmrig printed no benchmark progress in its slices (use --seconds 30 or more)".into(),
        );
    }
    Ok((ours / f64::from(counted), theirs / f64::from(counted)))
}

/// `otedama-node bench --algo randomx [--threads N] [--seconds S]`: prints every line to
/// stdout, and to stderr a note for measures other processes disturbed.
pub fn cli(threads: Option<usize>, seconds: f64, xmrig: Option<&Path>) -> Result<(), String> {
    let (_, threads, dur) = bench_args(None, threads, seconds)?;
    run(threads, dur, xmrig, |l| {
        use std::io::Write;
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{l}");
        let _ = o.flush();
    })
}
