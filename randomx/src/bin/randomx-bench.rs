//! RandomX throughput on this machine through `otedama-randomx`: cache and dataset
//! initialisation times, and light- and fast-mode hashes per second on 1 and on N threads.
//!
//! `cargo run --release -p otedama-randomx --bin randomx-bench [-- THREADS]` (default: all
//! cores). `OTEDAMA_BENCH_QUICK=1` hashes less, for a smoke run. Numbers: docs/performance.md.

use otedama_randomx::{Cache, Dataset, Flags, LargePages, Vm};
use std::sync::Arc;
use std::time::Instant;

/// Hashes `count` distinct 76-byte blobs (the size of a Monero hashing blob) on `threads`
/// threads, one machine each; returns hashes per second.
fn rate(threads: usize, count: u64, make_vm: &(dyn Fn() -> Vm + Sync)) -> f64 {
    let t = Instant::now();
    std::thread::scope(|s| {
        for part in 0..threads as u64 {
            s.spawn(move || {
                let mut vm = make_vm();
                let mut blob = [0x5au8; 76];
                blob[..8].copy_from_slice(&part.to_le_bytes());
                for nonce in 0..count / threads as u64 {
                    blob[39..43].copy_from_slice(&(nonce as u32).to_le_bytes());
                    std::hint::black_box(vm.hash(&blob));
                }
            });
        }
    });
    (count / threads as u64 * threads as u64) as f64 / t.elapsed().as_secs_f64()
}

fn main() -> Result<(), otedama_randomx::Error> {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(cores)
        .max(1);
    let (light_n, fast_n) = if quick { (20, 200) } else { (400, 4000) };
    let flags = Flags::recommended();
    println!(
        "flags {:#x}, {cores} cores, {threads} threads",
        flags.bits()
    );

    let t = Instant::now();
    let cache = Arc::new(Cache::new(&[7u8; 32], flags, LargePages::Prefer)?);
    println!(
        "cache init: {:.2} s (large pages: {})",
        t.elapsed().as_secs_f64(),
        cache.large_pages()
    );
    let mk_light = || Vm::light(Arc::clone(&cache)).expect("light machine");
    println!("light, 1 thread: {:.1} H/s", rate(1, light_n, &mk_light));
    if threads > 1 {
        println!(
            "light, {threads} threads: {:.1} H/s",
            rate(threads, light_n * threads as u64, &mk_light)
        );
    }

    let mut init_threads = vec![1];
    if threads > 1 {
        init_threads.push(threads);
    }
    for n in init_threads {
        let t = Instant::now();
        let dataset = Arc::new(Dataset::new(&cache, n, LargePages::Prefer)?);
        println!(
            "dataset init, {n} thread(s): {:.1} s (large pages: {})",
            t.elapsed().as_secs_f64(),
            dataset.large_pages()
        );
        if n == 1 {
            continue;
        }
        let mk_fast = || Vm::fast(Arc::clone(&dataset)).expect("fast machine");
        println!("fast, 1 thread: {:.1} H/s", rate(1, fast_n, &mk_fast));
        println!(
            "fast, {threads} threads: {:.1} H/s",
            rate(threads, fast_n * threads as u64, &mk_fast)
        );
    }
    Ok(())
}
