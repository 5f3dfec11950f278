//! `otedama-node bench`: the workers' hashing loops alone, against baselines measured in the
//! same run on the same threads.
//!
//! * SHA256d: the kernel's nonce scan (as a worker runs it: ~10 ms chunks over one header,
//!   prefiltering on the top 32 bits of a realistic target) against the machine's limit for 2
//!   compressions per nonce: the `sha2` crate's `compress256` throughput over 64-byte blocks,
//!   divided by 2.
//! * scrypt: the kernel's batches against the `scrypt` crate's `scrypt()` on the same headers.
//! * Scaling (`ALGO-scaling`): the kernel's rate on N threads against its rate on 1 thread
//!   (ideal: ratio N).
//!
//! The main lines are labelled with the algorithm alone (`sha256d`, `scrypt`) and measure the
//! kernel the workers use; `ALGO/KERNEL` lines measure the CPU's other kernels on one thread.

use super::{RateUnit, ScryptHasher, ScryptKernel, ScryptWork, Sha256dKernel, Sha256dWork};
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::work::{Target, U256};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// One line of `otedama-node bench`.
#[derive(Clone, Debug)]
pub struct Measure {
    /// `sha256d`, `scrypt` (the workers' kernel), `sha256d-scaling`, `sha256d/avx2` (another
    /// kernel), ...
    pub label: String,
    pub threads: usize,
    /// Hashes per second.
    pub rate: f64,
    /// The baseline's hashes per second.
    pub baseline: f64,
    pub unit: RateUnit,
    /// Cores' worth of CPU that other processes used while this was measured (Linux; `None`
    /// elsewhere): a measure taken on a busy machine says so.
    pub other_cores: Option<f64>,
}

impl Measure {
    pub fn ratio(&self) -> f64 {
        if self.baseline > 0.0 {
            self.rate / self.baseline
        } else {
            0.0
        }
    }
}

impl std::fmt::Display for Measure {
    /// `ALGO threads=N rate=R UNIT baseline=B UNIT ratio=X`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scale, unit) = self.unit.scale();
        write!(
            f,
            "{} threads={} rate={:.3} {unit} baseline={:.3} {unit} ratio={:.2}",
            self.label,
            self.threads,
            self.rate / scale,
            self.baseline / scale,
            self.ratio()
        )
    }
}

/// Runs `body(thread_index, deadline)` on `threads` threads started together; each returns
/// the hashes it did. Returns hashes per second.
pub fn on_threads<F>(threads: usize, dur: Duration, body: F) -> f64
where
    F: Fn(usize, Instant) -> u64 + Send + Sync + 'static,
{
    let body = Arc::new(body);
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let body = body.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                let n = body(i, start + dur);
                (n, start.elapsed())
            })
        })
        .collect();
    barrier.wait();
    let mut total = 0.0;
    for h in handles {
        let (n, took) = h.join().expect("bench thread");
        total += n as f64 / took.as_secs_f64();
    }
    total
}

/// Busy CPU ticks of the machine and of this process, from `/proc` (Linux).
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let busy = cpu.iter().take(8).sum::<u64>() - cpu.get(3)? - cpu.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3; utime 14, stime 15.
    let rest = own.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let me = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((busy, me))
}

/// Runs `f` and returns its result with the cores other processes used meanwhile.
pub(crate) fn watching_others<T>(f: impl FnOnce() -> T) -> (T, Option<f64>) {
    let t0 = Instant::now();
    let a = cpu_ticks();
    let r = f();
    let b = cpu_ticks();
    let secs = t0.elapsed().as_secs_f64();
    let others = match (a, b) {
        // USER_HZ is 100 on every Linux build that matters.
        (Some((busy0, me0)), Some((busy1, me1))) if secs > 0.0 => {
            let other = busy1.saturating_sub(busy0) as f64 - me1.saturating_sub(me0) as f64;
            Some((other / 100.0 / secs).max(0.0))
        }
        _ => None,
    };
    (r, others)
}

fn header(thread: usize) -> [u8; 80] {
    let mut h = [0u8; 80];
    for (i, b) in h.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(13) ^ thread as u8;
    }
    h
}

/// Hashes per second of a SHA256d kernel: scans in 2^18-nonce chunks (~10 ms) with the
/// prefilter of a pool share target (`2^224`: top 32 bits zero).
pub fn sha256d_rate(kernel: Sha256dKernel, threads: usize, dur: Duration) -> f64 {
    on_threads(threads, dur, move |i, deadline| {
        let work = Sha256dWork::new(&header(i));
        let mut out = Vec::new();
        let mut pos = 0u32;
        let chunk = 1u32 << 18;
        let mut n = 0u64;
        while Instant::now() < deadline {
            out.clear();
            kernel.scan(&work, pos, chunk, 0, &mut out);
            pos = pos.wrapping_add(chunk);
            n += chunk as u64;
        }
        std::hint::black_box(&out);
        n
    })
}

/// The machine's limit for 2 compressions per nonce: `compress256` blocks per second / 2.
pub fn sha256_limit(threads: usize, dur: Duration) -> f64 {
    on_threads(threads, dur, move |i, deadline| {
        let blocks = vec![[i as u8; 64]; 1024];
        let mut state = super::sha256d::IV;
        let mut n = 0u64;
        while Instant::now() < deadline {
            sha2::block_api::compress256(&mut state, std::hint::black_box(&blocks));
            n += blocks.len() as u64;
        }
        std::hint::black_box(state);
        n / 2
    })
}

/// Like [`sha256_limit`] with a plain-Rust compression (what a CPU without SHA-NI would have
/// from `sha2`'s software backend, near enough): blocks per second / 2.
pub fn sha256_soft_limit(threads: usize, dur: Duration) -> f64 {
    on_threads(threads, dur, move |i, deadline| {
        let block = [i as u8; 64];
        let mut state = super::sha256d::IV;
        let mut n = 0u64;
        while Instant::now() < deadline {
            for _ in 0..1024 {
                super::sha256d::compress(&mut state, std::hint::black_box(&block));
            }
            n += 1024;
        }
        std::hint::black_box(state);
        n / 2
    })
}

/// Hashes per second of a scrypt kernel.
pub fn scrypt_rate(kernel: ScryptKernel, threads: usize, dur: Duration) -> f64 {
    on_threads(threads, dur, move |i, deadline| {
        let work = ScryptWork::new(&header(i));
        let mut hasher = ScryptHasher::new(kernel);
        let batch = hasher.batch() as u32;
        let none = Target(U256::zero());
        let mut out = Vec::new();
        let mut pos = 0u32;
        let mut n = 0u64;
        while Instant::now() < deadline {
            hasher.scan(&work, pos, batch, &none, &mut out);
            pos = pos.wrapping_add(batch);
            n += batch as u64;
        }
        n
    })
}

/// Hashes per second of the `scrypt` crate (the reference implementation).
pub fn scrypt_crate_rate(threads: usize, dur: Duration) -> f64 {
    on_threads(threads, dur, move |i, deadline| {
        let params = scrypt::Params::new(10, 1, 1).expect("scrypt params");
        let mut h = header(i);
        let mut out = [0u8; 32];
        let mut n = 0u64;
        while Instant::now() < deadline {
            h[76..].copy_from_slice(&(n as u32).to_le_bytes());
            scrypt::scrypt(&h, &h, &params, &mut out).expect("scrypt");
            n += 1;
        }
        std::hint::black_box(out);
        n
    })
}

/// Every measure of `otedama-node bench` for one algorithm: the best kernel on 1 and on
/// `threads` threads against the baseline, the scaling from 1 to `threads`, and (1 thread)
/// every other kernel the CPU runs.
pub fn run(pow: PowAlgo, threads: usize, dur: Duration, mut each: impl FnMut(&Measure)) {
    let threads = threads.max(1);
    let name = pow.name();
    let mut counts = vec![1];
    if threads > 1 {
        counts.push(threads);
    }
    let mut one = 0.0;
    for &t in &counts {
        let ((rate, baseline), other_cores) = watching_others(|| match pow {
            PowAlgo::Sha256d => (
                sha256d_rate(Sha256dKernel::best(), t, dur),
                sha256_limit(t, dur),
            ),
            PowAlgo::Scrypt1024 => (
                scrypt_rate(ScryptKernel::best(), t, dur),
                scrypt_crate_rate(t, dur),
            ),
        });
        let kernel = match pow {
            PowAlgo::Sha256d => Sha256dKernel::best().name(),
            PowAlgo::Scrypt1024 => ScryptKernel::best().name(),
        };
        tracing::debug!(kernel, threads = t, "measured");
        each(&Measure {
            label: name.to_string(),
            threads: t,
            rate,
            baseline,
            unit: pow.into(),
            other_cores,
        });
        if t == 1 {
            one = rate;
        } else {
            each(&Measure {
                label: format!("{name}-scaling"),
                threads: t,
                rate,
                baseline: one,
                unit: pow.into(),
                other_cores,
            });
        }
    }
    // The other kernels, one thread, against the same baseline.
    let others: Vec<String> = match pow {
        PowAlgo::Sha256d => Sha256dKernel::available()
            .into_iter()
            .skip(1)
            .map(|k| k.name().to_string())
            .collect(),
        PowAlgo::Scrypt1024 => ScryptKernel::available()
            .into_iter()
            .skip(1)
            .map(|k| k.name().to_string())
            .collect(),
    };
    if others.is_empty() {
        return;
    }
    let (baseline, base_others) = watching_others(|| match pow {
        PowAlgo::Sha256d => sha256_limit(1, dur),
        PowAlgo::Scrypt1024 => scrypt_crate_rate(1, dur),
    });
    for k in others {
        let (rate, other_cores) = watching_others(|| match pow {
            PowAlgo::Sha256d => {
                let kernel = Sha256dKernel::available()
                    .into_iter()
                    .find(|x| x.name() == k)
                    .expect("listed");
                sha256d_rate(kernel, 1, dur)
            }
            PowAlgo::Scrypt1024 => {
                let kernel = ScryptKernel::available()
                    .into_iter()
                    .find(|x| x.name() == k)
                    .expect("listed");
                scrypt_rate(kernel, 1, dur)
            }
        });
        each(&Measure {
            label: format!("{name}/{k}"),
            threads: 1,
            rate,
            baseline,
            unit: pow.into(),
            other_cores: match (other_cores, base_others) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
        });
    }
}

/// The `bench` subcommand's arguments, checked: the algorithms (`None`: both), the CPU threads
/// (`None`: every CPU) and how long each measure runs. Shared by the CPU and GPU benches.
pub fn bench_args(
    algo: Option<&str>,
    threads: Option<usize>,
    seconds: f64,
) -> Result<(Vec<PowAlgo>, usize, Duration), String> {
    let algos = match algo {
        None => vec![PowAlgo::Sha256d, PowAlgo::Scrypt1024],
        Some("sha256d") => vec![PowAlgo::Sha256d],
        Some("scrypt") => vec![PowAlgo::Scrypt1024],
        Some(other) => return Err(format!("unknown algorithm {other:?} (sha256d or scrypt)")),
    };
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0) {
        return Err("--seconds must be above 0 and at most 3600".into());
    }
    let threads = match threads {
        Some(0) => return Err("--threads must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    Ok((algos, threads, Duration::from_secs_f64(seconds)))
}

/// `otedama-node bench [--algo sha256d|scrypt|randomx] [--threads N] [--seconds S]`: prints every
/// measure's line to stdout, and to stderr a note for measures other processes disturbed.
///
/// `--algo randomx` (never part of the default) runs [`super::randomx::bench`]: 2 GiB of
/// dataset and its initialisation first.
pub fn cli(
    algo: Option<&str>,
    threads: Option<usize>,
    seconds: f64,
    xmrig: Option<&std::path::Path>,
) -> Result<(), String> {
    if algo == Some("randomx") {
        return super::randomx::bench::cli(threads, seconds, xmrig);
    }
    if xmrig.is_some() {
        return Err("--xmrig compares the RandomX worker: it needs --algo randomx".into());
    }
    let (algos, threads, dur) = bench_args(algo, threads, seconds)?;
    for pow in algos {
        run(pow, threads, dur, |m| {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{m}");
            let _ = out.flush();
            if let Some(o) = m.other_cores.filter(|o| *o > 0.1) {
                eprintln!(
                    "note: other processes used {o:.2} cores while `{} threads={}` was measured",
                    m.label, m.threads
                );
            }
        });
    }
    Ok(())
}
