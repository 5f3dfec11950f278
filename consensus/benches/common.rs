//! What the consensus benches share: the median of timed batches.

use std::time::{Duration, Instant};

/// Median time per call over `rounds` batches of `iters` calls.
pub fn measure(rounds: usize, iters: u32, mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            start.elapsed() / iters
        })
        .collect();
    samples.sort();
    samples[samples.len() / 2]
}
