//! Embedded CPU workers: `otedama-node --mine N`.
//!
//! Each worker thread takes its jobs straight from the node's [`JobSource`] (the same one the
//! Stratum server serves) and hands what it finds to the same found-share channel as a Stratum
//! submission ([`FoundShare`]), so validation, accounting and block submission are the same.
//!
//! * **Extranonce.** The coinbase reserves `extranonce1 (4) + extranonce2 (8)` bytes. A worker
//!   thread uses extranonce1 `ff ff TT TT` (`TT TT` its index; Stratum connections draw theirs
//!   at random) and starts extranonce2 at a random 64-bit value, so no two threads, runs or
//!   Stratum miners grind the same header.
//! * **Rolling.** Per header a worker sweeps all 2^32 nonces, in chunks of ~10 ms; then it rolls
//!   the version bits it is allowed ([`WorkerConfig::version_mask`]: BIP 320's `0x1fffe000` for
//!   SHA256d, none for scrypt, whose nonces last days), then extranonce2, refreshing the header
//!   time each time.
//! * **Switching.** Between chunks a worker checks the job source's epoch; on any change it
//!   drops its work and takes the new job at once. Before handing on a share it checks again:
//!   if the work changed and the current job has another parent block or parent share, the
//!   share is stale and is dropped, never submitted.
//! * **Checking.** Kernels only nominate candidates; each is hashed again with the reference
//!   implementation ([`PowAlgo::hash`]) and submitted only if that meets the share target.
//! * **Pacing.** After a share a worker waits (at most [`AFTER_SHARE_WAIT`]) for the new work
//!   its share causes, so that on test chains, where half of all hashes are shares, it does
//!   not flood the sharechain with siblings.
//!
//! Hashrates per thread and in total are logged every [`WorkerConfig::log_interval`] and kept
//! in [`WorkerStats`] for the node's status.

pub mod bench;
mod lanes;
pub mod randomx;
pub mod scrypt;
pub mod sha256d;
#[cfg(target_arch = "x86_64")]
mod sha_ni;

pub use scrypt::{ScryptHasher, ScryptKernel, ScryptWork};
pub use sha256d::{Sha256dKernel, Sha256dWork};

use crate::job::{FoundShare, FoundSink, Job, JobSource};
use crate::stratum::difficulty::build_header;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::work::Target;
use otedama_consensus::PayoutScript;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Longest a worker waits for new work after handing on a share.
pub const AFTER_SHARE_WAIT: Duration = Duration::from_millis(500);

/// How long one scan chunk should take: the bound on reacting to new work.
const CHUNK_TARGET: Duration = Duration::from_millis(10);

/// The BIP 320 general-purpose version bits.
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// What the workers do.
#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// Worker threads; 0 starts none.
    pub threads: usize,
    /// Who the shares pay.
    pub payout: PayoutScript,
    pub pow: PowAlgo,
    /// Header version bits the workers may roll (0: none).
    pub version_mask: u32,
    /// How often hashrates are logged (and [`WorkerStats`]' rates refreshed).
    pub log_interval: Duration,
    /// Scheduling niceness of the worker threads (Linux), so that the node's own tasks
    /// (Stratum replies, the sharechain) run first. 0 leaves it alone.
    pub nice: i32,
    /// Force a kernel (benchmarks, tests); `None`: the fastest this CPU runs.
    pub sha256d_kernel: Option<Sha256dKernel>,
    pub scrypt_kernel: Option<ScryptKernel>,
}

impl WorkerConfig {
    pub fn new(threads: usize, payout: PayoutScript, pow: PowAlgo) -> WorkerConfig {
        WorkerConfig {
            threads,
            payout,
            pow,
            version_mask: match pow {
                PowAlgo::Sha256d => VERSION_ROLLING_MASK,
                // 2^32 scrypt nonces last days: no need.
                PowAlgo::Scrypt1024 => 0,
            },
            log_interval: Duration::from_secs(30),
            nice: 10,
            sha256d_kernel: None,
            scrypt_kernel: None,
        }
    }

    fn kernel_name(&self) -> &'static str {
        match self.pow {
            PowAlgo::Sha256d => self
                .sha256d_kernel
                .unwrap_or_else(Sha256dKernel::best)
                .name(),
            PowAlgo::Scrypt1024 => self.scrypt_kernel.unwrap_or_else(ScryptKernel::best).name(),
        }
    }
}

/// Counters of one worker thread.
#[derive(Debug, Default)]
pub struct ThreadStats {
    /// Hashes computed.
    pub hashes: AtomicU64,
    /// Shares handed on.
    pub shares: AtomicU64,
    /// Shares found but dropped because the work changed under them.
    pub stale: AtomicU64,
    /// Candidates a fast kernel nominated that the reference hash did not confirm as meeting
    /// the target (SHA256d: expected, its prefilter looks at 32 bits; scrypt: a kernel bug).
    pub unconfirmed: AtomicU64,
    /// Times a share waited because the found-share channel was full.
    pub backpressure: AtomicU64,
    /// Jobs started.
    pub jobs: AtomicU64,
    /// Id of the job being worked on (0: none).
    pub current_job: AtomicU64,
    /// GPU workers: the device was dropped (an error it kept having, or wrong results).
    pub disabled: AtomicBool,
    /// GPU workers: log2 of nonces per dispatch (0 until the device is open).
    pub intensity: AtomicU64,
    /// Hashes per second over the last log interval (`f64` bits).
    pub(crate) rate_bits: AtomicU64,
}

impl ThreadStats {
    /// Hashes per second over the last log interval.
    pub fn rate(&self) -> f64 {
        f64::from_bits(self.rate_bits.load(Ordering::Relaxed))
    }
}

/// What the workers report, for logs and the node's status.
#[derive(Debug)]
pub struct WorkerStats {
    /// How the rates are shown.
    pub unit: RateUnit,
    /// The kernel in use (`sha-ni`, `avx512`, ...).
    pub kernel: &'static str,
    pub started: Instant,
    pub threads: Vec<ThreadStats>,
    /// Each thread's worker name (`cpu-0`, `gpu-1`: GPU workers are named by device index).
    pub names: Vec<String>,
}

impl WorkerStats {
    pub fn new(unit: RateUnit, kernel: &'static str, names: Vec<String>) -> WorkerStats {
        WorkerStats {
            unit,
            kernel,
            started: Instant::now(),
            threads: names.iter().map(|_| ThreadStats::default()).collect(),
            names,
        }
    }

    /// Total hashes per second over the last log interval.
    pub fn rate(&self) -> f64 {
        self.threads.iter().map(ThreadStats::rate).sum()
    }

    /// Total hashes per second since the start.
    pub fn average_rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs <= 0.0 {
            return 0.0;
        }
        self.total(|t| &t.hashes) as f64 / secs
    }

    /// Sum of one counter over the threads.
    pub fn total(&self, f: impl Fn(&ThreadStats) -> &AtomicU64) -> u64 {
        self.threads
            .iter()
            .map(|t| f(t).load(Ordering::Relaxed))
            .sum()
    }
}

/// The unit a hash rate is shown in, by what one hash costs: MH/s for SHA256d (a CPU core does
/// millions), kH/s for scrypt (thousands), H/s for RandomX (hundreds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateUnit {
    MegaHashes,
    KiloHashes,
    Hashes,
}

impl RateUnit {
    /// The divisor and the unit's name.
    pub fn scale(self) -> (f64, &'static str) {
        match self {
            RateUnit::MegaHashes => (1e6, "MH/s"),
            RateUnit::KiloHashes => (1e3, "kH/s"),
            RateUnit::Hashes => (1.0, "H/s"),
        }
    }

    /// `hashes_per_sec` in this unit, two decimals.
    pub fn format(self, hashes_per_sec: f64) -> String {
        let (scale, unit) = self.scale();
        format!("{:.2} {unit}", hashes_per_sec / scale)
    }
}

impl From<PowAlgo> for RateUnit {
    fn from(pow: PowAlgo) -> RateUnit {
        match pow {
            PowAlgo::Sha256d => RateUnit::MegaHashes,
            PowAlgo::Scrypt1024 => RateUnit::KiloHashes,
        }
    }
}

/// A hashrate of a header-hash algorithm with its unit ([`RateUnit`]).
pub fn format_rate(pow: PowAlgo, hashes_per_sec: f64) -> String {
    RateUnit::from(pow).format(hashes_per_sec)
}

struct Shared {
    config: WorkerConfig,
    /// GPU workers: the device of each thread; empty for CPU workers.
    gpus: Vec<crate::gpu::GpuSettings>,
    source: Arc<dyn JobSource>,
    found: FoundSink,
    stats: Arc<WorkerStats>,
    stop: AtomicBool,
}

/// The monitor's stop flag and its wake-up.
type Wake = (Mutex<bool>, std::sync::Condvar);

/// Running workers; stopped (and joined) by [`Workers::stop`] or on drop.
pub struct Workers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    monitor: Option<(JoinHandle<()>, Arc<Wake>)>,
}

impl Workers {
    /// Starts `config.threads` worker threads (none for 0) and, with any, a monitor thread
    /// that logs hashrates.
    pub fn spawn(
        config: WorkerConfig,
        source: Arc<dyn JobSource>,
        found: impl Into<FoundSink>,
    ) -> Workers {
        let names = (0..config.threads).map(|i| format!("cpu-{i}")).collect();
        let stats = Arc::new(WorkerStats::new(
            config.pow.into(),
            config.kernel_name(),
            names,
        ));
        Workers::start(config, Vec::new(), stats, source, found.into())
    }

    /// Starts one worker thread per GPU device in `gpus` (none for an empty list), mining as
    /// `config` says (its `threads` is ignored). A device that cannot be opened or fails is
    /// logged and dropped without affecting the others.
    pub fn spawn_gpus(
        config: WorkerConfig,
        gpus: Vec<crate::gpu::GpuSettings>,
        source: Arc<dyn JobSource>,
        found: impl Into<FoundSink>,
    ) -> Workers {
        let names = gpus.iter().map(|g| format!("gpu-{}", g.index)).collect();
        let stats = Arc::new(WorkerStats::new(config.pow.into(), "opencl", names));
        Workers::start(config, gpus, stats, source, found.into())
    }

    fn start(
        config: WorkerConfig,
        gpus: Vec<crate::gpu::GpuSettings>,
        stats: Arc<WorkerStats>,
        source: Arc<dyn JobSource>,
        found: FoundSink,
    ) -> Workers {
        let n = stats.threads.len();
        let kind = if gpus.is_empty() { "cpu" } else { "gpu" };
        let shared = Arc::new(Shared {
            config,
            gpus,
            source,
            found,
            stats,
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let s = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("otedama-{kind}-{i}"))
                .spawn(move || {
                    if s.gpus.is_empty() {
                        worker_main(i, &s)
                    } else {
                        gpu_worker_main(i, &s)
                    }
                })
                .expect("spawn a worker thread");
            threads.push(h);
        }
        let monitor = if n > 0 {
            let s = shared.clone();
            let wake = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
            let w = wake.clone();
            let h = std::thread::Builder::new()
                .name(format!("otedama-{kind}-log"))
                .spawn(move || monitor_main(&s, &w))
                .expect("spawn the worker monitor");
            tracing::info!(
                threads = n,
                algo = shared.config.pow.name(),
                kernel = shared.stats.kernel,
                "{kind} workers started"
            );
            Some((h, wake))
        } else {
            None
        };
        Workers {
            shared,
            threads,
            monitor,
        }
    }

    /// Worker threads running.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.stats.clone()
    }

    /// Stops every thread and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some((h, wake)) = self.monitor.take() {
            *wake.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
            wake.1.notify_all();
            let _ = h.join();
        }
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn monitor_main(shared: &Shared, wake: &Wake) {
    let stats = &shared.stats;
    let mut last: Vec<u64> = vec![0; stats.threads.len()];
    let mut last_t = Instant::now();
    loop {
        {
            let guard = wake.0.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = wake
                .1
                .wait_timeout_while(guard, shared.config.log_interval, |stopped| !*stopped)
                .unwrap_or_else(|e| e.into_inner());
            if *guard {
                return;
            }
        }
        let now = Instant::now();
        let secs = now.duration_since(last_t).as_secs_f64().max(1e-9);
        last_t = now;
        let mut per = Vec::with_capacity(last.len());
        for (t, l) in stats.threads.iter().zip(last.iter_mut()) {
            let h = t.hashes.load(Ordering::Relaxed);
            let r = (h - *l) as f64 / secs;
            *l = h;
            t.rate_bits.store(r.to_bits(), Ordering::Relaxed);
            per.push(format_rate(shared.config.pow, r));
        }
        tracing::info!(
            total = %format_rate(shared.config.pow, stats.rate()),
            per_thread = %per.join(", "),
            kernel = stats.kernel,
            shares = stats.total(|t| &t.shares),
            stale = stats.total(|t| &t.stale),
            "{} workers hashrate",
            if shared.gpus.is_empty() { "cpu" } else { "gpu" }
        );
    }
}

/// The extranonce1 of local worker `index`: `ff ff` then the index.
pub fn local_extranonce1(index: usize) -> [u8; 4] {
    let i = (index as u16).to_be_bytes();
    [0xff, 0xff, i[0], i[1]]
}

fn random_u64(index: usize) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_usize(index);
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Spreads the low bits of `n` over the set bits of `mask`.
fn deposit(mut n: u32, mask: u32) -> u32 {
    let mut out = 0;
    let mut m = mask;
    while m != 0 && n != 0 {
        let bit = m & m.wrapping_neg();
        if n & 1 != 0 {
            out |= bit;
        }
        n >>= 1;
        m &= m - 1;
    }
    out
}

#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    // SAFETY: plain syscalls on this thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, nice) != 0 {
            tracing::debug!("cannot lower the worker thread's priority");
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(_nice: i32) {}

/// The hashing engine of one thread.
enum Engine {
    Sha {
        kernel: Sha256dKernel,
        work: Option<Sha256dWork>,
    },
    Scrypt {
        hasher: Box<ScryptHasher>,
        work: Option<ScryptWork>,
    },
    /// An OpenCL device ([`crate::gpu`]); it nominates candidates by the same 32-bit
    /// prefilter for both algorithms.
    Gpu(Box<crate::gpu::GpuDevice>),
}

impl Engine {
    fn new(config: &WorkerConfig) -> Engine {
        match config.pow {
            PowAlgo::Sha256d => Engine::Sha {
                kernel: config.sha256d_kernel.unwrap_or_else(Sha256dKernel::best),
                work: None,
            },
            PowAlgo::Scrypt1024 => Engine::Scrypt {
                hasher: Box::new(ScryptHasher::new(
                    config.scrypt_kernel.unwrap_or_else(ScryptKernel::best),
                )),
                work: None,
            },
        }
    }

    fn step(&self) -> u32 {
        match self {
            Engine::Sha { kernel, .. } => kernel.step(),
            Engine::Scrypt { hasher, .. } => hasher.batch() as u32,
            Engine::Gpu(d) => d.batch(),
        }
    }

    fn set_header(&mut self, header: &[u8; 80]) -> Result<(), crate::gpu::GpuError> {
        match self {
            Engine::Sha { work, .. } => *work = Some(Sha256dWork::new(header)),
            Engine::Scrypt { work, .. } => *work = Some(ScryptWork::new(header)),
            Engine::Gpu(d) => d.set_header(header)?,
        }
        Ok(())
    }

    /// Scans the `count` nonce positions from `pos`; appends candidate nonces.
    fn scan(
        &mut self,
        pos: u32,
        count: u32,
        target: &Target,
        out: &mut Vec<u32>,
    ) -> Result<(), crate::gpu::GpuError> {
        match self {
            Engine::Gpu(d) => {
                let limit = sha256d::target_limit(&target.0.to_little_endian());
                d.scan(pos, count, limit, out)?;
            }
            Engine::Sha { kernel, work } => {
                if let Some(w) = work {
                    let limit = sha256d::target_limit(&target.0.to_little_endian());
                    kernel.scan(w, pos, count, limit, out);
                }
            }
            Engine::Scrypt { hasher, work } => {
                if let Some(w) = work {
                    hasher.scan(w, pos, count, target, out);
                }
            }
        }
        Ok(())
    }
}

enum Next {
    /// Take the (possibly new) current job.
    NewWork,
    Stop,
    /// The GPU device failed: reopen it (or drop it, when the error is permanent).
    Fault(crate::gpu::GpuError),
}

fn worker_main(index: usize, shared: &Shared) {
    lower_priority(shared.config.nice);
    let engine = Engine::new(&shared.config);
    run_worker(index, shared, engine, local_extranonce1(index));
}

/// The extranonce1 of the GPU worker of device `index`: `ff fe` then the index (CPU threads
/// have `ff ff`).
pub fn gpu_extranonce1(index: usize) -> [u8; 4] {
    let i = (index as u16).to_be_bytes();
    [0xff, 0xfe, i[0], i[1]]
}

/// A GPU worker thread: opens its device, mines with it, and on a device error reopens it
/// after a pause (dropping it after [`crate::gpu::MAX_REOPENS`] failures in a row, or at once
/// for errors reopening cannot fix: no such device, a kernel that does not build, wrong
/// results). The node and the other devices go on either way.
fn gpu_worker_main(slot: usize, shared: &Shared) {
    let settings = shared.gpus[slot].clone();
    let stats = &shared.stats.threads[slot];
    let name = &shared.stats.names[slot];
    let mut failures = 0u32;
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        let started = Instant::now();
        let err = match crate::gpu::GpuDevice::open(&settings, shared.config.pow) {
            Ok(dev) => {
                tracing::info!(
                    worker = %name,
                    device = %dev.info.name,
                    intensity = dev.intensity(),
                    lookup_gap = settings.lookup_gap,
                    "gpu device ready"
                );
                stats
                    .intensity
                    .store(dev.intensity() as u64, Ordering::Relaxed);
                let e1 = gpu_extranonce1(settings.index);
                match run_worker(slot, shared, Engine::Gpu(Box::new(dev)), e1) {
                    Next::Fault(e) => e,
                    Next::Stop | Next::NewWork => return,
                }
            }
            Err(e) => e,
        };
        stats.intensity.store(0, Ordering::Relaxed);
        if err.is_permanent() {
            tracing::error!(worker = %name, error = %err, "gpu device disabled");
            stats.disabled.store(true, Ordering::Relaxed);
            return;
        }
        // A device that ran a while before failing starts its count afresh.
        if started.elapsed() > Duration::from_secs(60) {
            failures = 0;
        }
        failures += 1;
        if failures > crate::gpu::MAX_REOPENS {
            tracing::error!(worker = %name, error = %err, failures, "gpu device dropped");
            stats.disabled.store(true, Ordering::Relaxed);
            return;
        }
        let pause = Duration::from_secs(1 << (failures - 1).min(5));
        tracing::warn!(worker = %name, error = %err, retry_in = ?pause, "gpu device error");
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if shared.stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Mines with `engine` until the workers stop (`Next::Stop`) or the engine fails
/// (`Next::Fault`).
fn run_worker(index: usize, shared: &Shared, engine: Engine, e1: [u8; 4]) -> Next {
    let mut w = Worker {
        shared,
        stats: &shared.stats.threads[index],
        epoch: shared.source.subscribe(),
        engine,
        e1,
        e2: random_u64(index),
        name: shared.stats.names[index].clone(),
        chunk: 0,
    };
    w.chunk = w.engine.step().max(64).next_power_of_two();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Next::Stop;
        }
        w.epoch.borrow_and_update();
        let job = match shared.source.job_for(&shared.config.payout) {
            Some(j) if j.share_job.coinbase.extranonce_len > 4 => j,
            Some(j) => {
                tracing::warn!(
                    job = j.id,
                    "job reserves {} extranonce bytes, embedded workers need at least 5",
                    j.share_job.coinbase.extranonce_len
                );
                if let Next::Stop = w.wait_for_work(Duration::from_secs(1)) {
                    return Next::Stop;
                }
                continue;
            }
            None => {
                if let Next::Stop = w.wait_for_work(Duration::from_secs(1)) {
                    return Next::Stop;
                }
                continue;
            }
        };
        match w.mine(&job) {
            Next::NewWork => {}
            other => return other,
        }
    }
}

struct Worker<'a> {
    shared: &'a Shared,
    stats: &'a ThreadStats,
    epoch: watch::Receiver<crate::job::WorkEpoch>,
    engine: Engine,
    e1: [u8; 4],
    e2: u64,
    name: String,
    /// Nonces per chunk (adapted so that a chunk takes about [`CHUNK_TARGET`]).
    chunk: u32,
}

impl Worker<'_> {
    fn stopped(&self) -> bool {
        self.shared.stop.load(Ordering::Relaxed)
    }

    /// Waits until the work changes, `timeout` passes or the workers stop.
    fn wait_for_work(&mut self, timeout: Duration) -> Next {
        let deadline = Instant::now() + timeout;
        loop {
            if self.stopped() {
                return Next::Stop;
            }
            if self.epoch.has_changed().unwrap_or(false) || Instant::now() >= deadline {
                return Next::NewWork;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Whether `job` may no longer be submitted: the work changed and the current job builds
    /// on another parent block or parent share (or there is no work at all).
    fn is_stale(&self, job: &Job) -> bool {
        if !self.epoch.has_changed().unwrap_or(true) {
            return false;
        }
        match self.shared.source.job_for(&self.shared.config.payout) {
            Some(cur) => {
                cur.share_job.prev_blockhash != job.share_job.prev_blockhash
                    || cur.share_job.side.prev_share != job.share_job.side.prev_share
            }
            None => true,
        }
    }

    /// Works on `job` until the work changes.
    fn mine(&mut self, job: &Arc<Job>) -> Next {
        let sj = &job.share_job;
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        self.stats.current_job.store(job.id, Ordering::Relaxed);
        let target = sj.side.target();
        let job_version = sj.version.to_consensus() as u32;
        let mask = self.shared.config.version_mask;
        let rolls = 1u64 << mask.count_ones();
        let e2_len = sj.coinbase.extranonce_len - 4;
        let mut extranonce = Vec::with_capacity(4 + e2_len);
        let mut candidates = Vec::new();
        let mut roll = 0u64;
        loop {
            // Next header: version bits first, then extranonce2.
            let vbits = deposit((roll % rolls) as u32, mask);
            if roll % rolls == 0 {
                self.e2 = self.e2.wrapping_add(1);
            }
            roll += 1;
            // XOR, so the first header carries the template's version as it is.
            let version = job_version ^ vbits;
            extranonce.clear();
            extranonce.extend_from_slice(&self.e1);
            extranonce.extend_from_slice(&self.e2.to_be_bytes()[8 - e2_len.min(8)..]);
            extranonce.resize(4 + e2_len, 0);
            let ntime = unix_now().max(sj.min_time).min(u32::MAX as u64) as u32;
            let header = build_header(sj, &extranonce, version, ntime, 0);
            if let Err(e) = self.engine.set_header(&header) {
                return Next::Fault(e);
            }
            let mut pos: u64 = 0;
            while pos < 1 << 32 {
                let count = (self.chunk as u64).min((1 << 32) - pos) as u32;
                let t0 = Instant::now();
                candidates.clear();
                if let Err(e) = self
                    .engine
                    .scan(pos as u32, count, &target, &mut candidates)
                {
                    return Next::Fault(e);
                }
                self.adapt_chunk(t0.elapsed());
                let step = self.engine.step() as u64;
                let done = (count as u64).div_ceil(step) * step;
                self.stats.hashes.fetch_add(done, Ordering::Relaxed);
                pos += done;
                for &nonce in &candidates {
                    let mut h = header;
                    h[76..].copy_from_slice(&nonce.to_le_bytes());
                    let hash = self.shared.config.pow.hash(&h);
                    if !target.is_met_by(&hash) {
                        self.stats.unconfirmed.fetch_add(1, Ordering::Relaxed);
                        if let Engine::Gpu(d) = &mut self.engine {
                            // The device nominated it by the top 32 bits: if even those fail,
                            // the device computed a wrong hash.
                            let top = u32::from_le_bytes([hash[28], hash[29], hash[30], hash[31]]);
                            let limit = sha256d::target_limit(&target.0.to_little_endian());
                            if top > limit {
                                d.wrong += 1;
                                tracing::warn!(
                                    worker = %self.name,
                                    nonce,
                                    wrong = d.wrong,
                                    "gpu result differs from the reference hash: dropped"
                                );
                                if d.wrong >= crate::gpu::MAX_WRONG_RESULTS {
                                    return Next::Fault(crate::gpu::GpuError::WrongResults(
                                        format!(
                                            "{} reported nonces failed the reference hash",
                                            d.wrong
                                        ),
                                    ));
                                }
                            }
                            continue;
                        }
                        if self.shared.config.pow == PowAlgo::Scrypt1024 {
                            tracing::error!(
                                worker = %self.name,
                                nonce,
                                "scrypt kernel result differs from the reference: dropped"
                            );
                        }
                        continue;
                    }
                    return self.hand_on(job, &extranonce, version, ntime, nonce, &h);
                }
                if self.stopped() {
                    return Next::Stop;
                }
                if self.epoch.has_changed().unwrap_or(false) {
                    return Next::NewWork;
                }
            }
        }
    }

    fn adapt_chunk(&mut self, took: Duration) {
        // A GPU's dispatch size was tuned when it opened; a chunk is one dispatch.
        if matches!(self.engine, Engine::Gpu(_)) {
            return;
        }
        let step = self.engine.step().next_power_of_two();
        if took < CHUNK_TARGET / 2 && self.chunk < 1 << 30 {
            self.chunk *= 2;
        } else if took > CHUNK_TARGET * 2 && self.chunk > step {
            self.chunk /= 2;
        }
    }

    /// Submits a confirmed share unless its job went stale; then waits for the new work.
    fn hand_on(
        &mut self,
        job: &Job,
        extranonce: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
        header: &[u8; 80],
    ) -> Next {
        let share = match job.share_job.share(
            extranonce,
            bitcoin::block::Version::from_consensus(version as i32),
            ntime,
            nonce,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "cannot build the found share");
                return Next::NewWork;
            }
        };
        debug_assert_eq!(
            share
                .candidate
                .as_bitcoin()
                .map(|c| c.header_bytes())
                .as_ref(),
            Some(header)
        );
        let id = share.id();
        let mut found = FoundShare {
            share,
            job_id: job.id,
            worker: self.name.clone(),
        };
        let is_block = self.shared.found.offer_block(&found, job);
        loop {
            if !is_block && self.is_stale(job) {
                self.stats.stale.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(share = %id, worker = %self.name, "stale share dropped");
                return Next::NewWork;
            }
            match self.shared.found.try_send(found) {
                Ok(()) => break,
                Err(mpsc::error::TrySendError::Full(f)) => {
                    self.stats.backpressure.fetch_add(1, Ordering::Relaxed);
                    if self.stopped() {
                        return Next::Stop;
                    }
                    found = f;
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Next::Stop,
            }
        }
        self.stats.shares.fetch_add(1, Ordering::Relaxed);
        if matches!(self.engine, Engine::Gpu(_)) {
            tracing::info!(share = %id, worker = %self.name, job = job.id, "gpu share found");
        } else {
            tracing::info!(share = %id, worker = %self.name, job = job.id, "cpu share found");
        }
        self.wait_for_work(AFTER_SHARE_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deposit_spreads_bits_over_the_mask() {
        assert_eq!(deposit(0, VERSION_ROLLING_MASK), 0);
        assert_eq!(deposit(1, VERSION_ROLLING_MASK), 0x2000);
        assert_eq!(deposit(0xffff, VERSION_ROLLING_MASK), VERSION_ROLLING_MASK);
        assert_eq!(deposit(0b101, 0b1_0110), 0b1_0010);
    }
}
