//! The embedded workers' kernels against their baselines, measured in the same run (the same
//! measures as `otedama-node bench`, see `otedama_mining::workers::bench`).
//!
//! `cargo bench -p otedama-mining --bench workers [-- --algo sha256d|scrypt --threads N
//! --seconds S]`; defaults: both algorithms, every CPU, 3 s per measure. `OTEDAMA_BENCH_QUICK=1`
//! measures 0.5 s each (a smoke run). `--explore` instead measures the kernels' variants (SHA-NI
//! with 1..4 nonces interleaved, scrypt with 1..4 registers interleaved) on 1 and N threads.
//! `--hold S [--nice K]` keeps N threads hashing scrypt for S seconds (at niceness K), as
//! `--mine N` would, to measure what that costs other work (e.g. `stratum_load` alongside).

use otedama_consensus::pow::PowAlgo;
use otedama_consensus::work::{Target, U256};
use otedama_mining::workers::{bench, sha256d, ScryptHasher, ScryptKernel, ScryptWork};
use std::time::{Duration, Instant};

fn explore(algos: &[PowAlgo], threads: usize, dur: Duration) {
    let counts: Vec<usize> = if threads > 1 {
        vec![1, threads]
    } else {
        vec![1]
    };
    let kernels = otedama_mining::workers::Sha256dKernel::available();
    for &t in counts.iter().filter(|_| algos.contains(&PowAlgo::Sha256d)) {
        let limit = bench::sha256_limit(t, dur);
        println!("sha256 compress256/2 threads={t} {:.3} MH/s", limit / 1e6);
        let soft = bench::sha256_soft_limit(t, dur);
        println!(
            "sha256 plain-Rust compress/2 threads={t} {:.3} MH/s (a CPU without SHA-NI)",
            soft / 1e6
        );
        #[cfg(target_arch = "x86_64")]
        if kernels.contains(&otedama_mining::workers::Sha256dKernel::ShaNi) {
            for ways in [1, 2, 3, 4, 5, 6, 8] {
                let rate = bench::on_threads(t, dur, move |i, deadline| {
                    let mut h = [7u8; 80];
                    h[0] = i as u8;
                    let work = otedama_mining::workers::Sha256dWork::new(&h);
                    let mut out = Vec::new();
                    let (mut pos, mut n) = (0u32, 0u64);
                    while Instant::now() < deadline {
                        sha256d::scan_sha_ni_ways(ways, &work, pos, 1 << 18, 0, &mut out);
                        pos = pos.wrapping_add(1 << 18);
                        n += 1 << 18;
                    }
                    n
                });
                println!(
                    "sha256d sha-ni x{ways} threads={t} {:.3} MH/s ratio={:.2}",
                    rate / 1e6,
                    rate / limit
                );
            }
        }
        for &k in &kernels {
            let rate = bench::sha256d_rate(k, t, dur);
            println!(
                "sha256d {} threads={t} {:.3} MH/s ratio={:.2}",
                k.name(),
                rate / 1e6,
                rate / limit
            );
        }
    }
    for &t in counts
        .iter()
        .filter(|_| algos.contains(&PowAlgo::Scrypt1024))
    {
        let base = bench::scrypt_crate_rate(t, dur);
        println!("scrypt crate threads={t} {:.3} kH/s", base / 1e3);
        for k in ScryptKernel::available() {
            for ways in 1..=4 {
                let rate = bench::on_threads(t, dur, move |i, deadline| {
                    let mut h = [9u8; 80];
                    h[0] = i as u8;
                    let work = ScryptWork::new(&h);
                    let mut hasher = ScryptHasher::with_interleave(k, ways);
                    let b = hasher.batch() as u32;
                    let none = Target(U256::zero());
                    let mut out = Vec::new();
                    let (mut pos, mut n) = (0u32, 0u64);
                    while Instant::now() < deadline {
                        hasher.scan(&work, pos, b, &none, &mut out);
                        pos = pos.wrapping_add(b);
                        n += b as u64;
                    }
                    n
                });
                println!(
                    "scrypt {} x{ways} threads={t} {:.3} kH/s ratio={:.2}",
                    k.name(),
                    rate / 1e3,
                    rate / base
                );
            }
        }
    }
}

fn main() {
    let mut algos = vec![PowAlgo::Sha256d, PowAlgo::Scrypt1024];
    let mut threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut secs: f64 = if std::env::var_os("OTEDAMA_BENCH_QUICK").is_some() {
        0.5
    } else {
        3.0
    };
    let mut explore_variants = false;
    let mut hold: Option<f64> = None;
    let mut nice = 0i32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--algo" => {
                algos = match args.next().as_deref() {
                    Some("sha256d") => vec![PowAlgo::Sha256d],
                    Some("scrypt") => vec![PowAlgo::Scrypt1024],
                    other => panic!("--algo sha256d|scrypt, not {other:?}"),
                }
            }
            "--threads" => threads = args.next().and_then(|s| s.parse().ok()).expect("N"),
            "--seconds" => secs = args.next().and_then(|s| s.parse().ok()).expect("S"),
            "--explore" => explore_variants = true,
            "--hold" => hold = args.next().and_then(|s| s.parse().ok()),
            "--nice" => nice = args.next().and_then(|s| s.parse().ok()).expect("K"),
            // `cargo bench` passes `--bench`.
            _ => {}
        }
    }
    if let Some(secs) = hold {
        let rate = bench::on_threads(
            threads,
            Duration::from_secs_f64(secs),
            move |i, deadline| {
                #[cfg(target_os = "linux")]
                if nice != 0 {
                    // SAFETY: plain syscalls on this thread's own id.
                    unsafe {
                        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
                    }
                }
                let mut h = [3u8; 80];
                h[0] = i as u8;
                let work = ScryptWork::new(&h);
                let mut hasher = ScryptHasher::new(ScryptKernel::best());
                let b = hasher.batch() as u32;
                let none = Target(U256::zero());
                let mut out = Vec::new();
                let (mut pos, mut n) = (0u32, 0u64);
                while Instant::now() < deadline {
                    hasher.scan(&work, pos, b, &none, &mut out);
                    pos = pos.wrapping_add(b);
                    n += b as u64;
                }
                n
            },
        );
        println!(
            "hold scrypt threads={threads} nice={nice} rate={:.3} kH/s",
            rate / 1e3
        );
        return;
    }
    if explore_variants {
        explore(&algos, threads, Duration::from_secs_f64(secs));
        return;
    }
    for algo in algos {
        bench::run(algo, threads, Duration::from_secs_f64(secs), |m| {
            println!("{m}");
            if let Some(o) = m.other_cores.filter(|o| *o > 0.1) {
                eprintln!("  note: other processes used {o:.2} cores during this measure");
            }
        });
    }
}
