//! `otedama-node bench --gpu N`: a device's kernel rate against the node's own CPU workers on
//! all cores, measured in the same run (one after the other, so that a CPU OpenCL device such
//! as PoCL does not share the cores with its baseline).
//!
//! The line is the usual one ([`crate::workers::bench::Measure`]), labelled `ALGO/gpu-N`, with
//! `threads` the CPU threads of the baseline.

use super::{GpuDevice, GpuSettings};
use crate::workers::bench::{scrypt_rate, sha256d_rate, Measure};
use crate::workers::{ScryptKernel, Sha256dKernel};
use otedama_consensus::pow::PowAlgo;
use std::time::{Duration, Instant};

/// Hashes per second of an open device over `dur`: whole dispatches on one header with a
/// limit no hash passes (as a worker between shares), so what is measured is the kernel and
/// its launch and read-back overhead.
pub fn device_rate(dev: &mut GpuDevice, dur: Duration) -> Result<f64, super::GpuError> {
    let mut header = [0u8; 80];
    for (i, b) in header.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7);
    }
    dev.set_header(&header)?;
    let batch = dev.batch();
    let mut out = Vec::new();
    let mut pos = 0u32;
    let mut n = 0u64;
    let t0 = Instant::now();
    while t0.elapsed() < dur {
        out.clear();
        dev.scan(pos, batch, 0, &mut out)?;
        pos = pos.wrapping_add(batch);
        n += batch as u64;
    }
    Ok(n as f64 / t0.elapsed().as_secs_f64())
}

/// The measure of device `settings.index` for `pow` against the CPU workers on `threads`
/// threads.
pub fn measure(
    settings: &GpuSettings,
    pow: PowAlgo,
    threads: usize,
    dur: Duration,
) -> Result<Measure, super::GpuError> {
    let mut dev = GpuDevice::open(settings, pow)?;
    let rate = device_rate(&mut dev, dur)?;
    drop(dev);
    let baseline = match pow {
        PowAlgo::Sha256d => sha256d_rate(Sha256dKernel::best(), threads, dur),
        PowAlgo::Scrypt1024 => scrypt_rate(ScryptKernel::best(), threads, dur),
    };
    Ok(Measure {
        label: format!("{}/gpu-{}", pow.name(), settings.index),
        threads,
        rate,
        baseline,
        unit: pow.into(),
        other_cores: None,
    })
}

/// `otedama-node bench --gpu N [--algo A] [--threads T] [--seconds S]`: prints a line per
/// algorithm, and the device's intensity to stderr.
pub fn cli(
    device: usize,
    algo: Option<&str>,
    threads: Option<usize>,
    seconds: f64,
    lookup_gap: u32,
) -> Result<(), String> {
    let (algos, threads, dur) = crate::workers::bench::bench_args(algo, threads, seconds)?;
    let mut settings = GpuSettings::new(device);
    settings.lookup_gap = lookup_gap;
    for pow in algos {
        let m = measure(&settings, pow, threads, dur).map_err(|e| format!("gpu {device}: {e}"))?;
        println!("{m}");
    }
    Ok(())
}
