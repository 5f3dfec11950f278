//! Embedded RandomX workers: `otedama-node --mine N` on a Monero chain.
//!
//! The Monero counterpart of the SHA256d / scrypt workers ([`super::Workers`]): threads that
//! take [`MoneroJob`]s straight from the node's [`MoneroJobSource`] (the one the xmrig-dialect
//! Stratum server serves) and hand what they find to the same [`MoneroFoundSink`], blocks
//! first. Their statistics are the same [`WorkerStats`], so the API and the dashboard show them
//! unchanged (kernel `randomx-fast` or `randomx-light`).
//!
//! * **Fast mode** ([`RandomXMode::Fast`], the default): each thread hashes with its own
//!   machine over one shared 2 GiB dataset per seed. The dataset is initialised by *all* worker
//!   threads: it is cut into chunks ([`DatasetBuilder`]) that the threads claim one at a time, so
//!   a thread is never more than one chunk (~0.1 s) away from noticing new work or a stop.
//!   Memory: large pages when the administrator reserved them, else the kernel's transparent
//!   huge pages when it grants them (`madvise`), else 4 KB pages; one log line says which and
//!   why, since it doubles the hashrate or halves it ([`seeds`]).
//! * **Light mode** ([`RandomXMode::Light`], and the fallback when the 2 GiB are not there):
//!   machines over the 256 MiB cache, about 8 times slower; what tests use.
//! * **Re-keying without stopping.** A keeper thread follows the jobs' seeds: it builds the cache
//!   of a job's seed, and as soon as monerod announces the next seed (`next_seed_hash`, about 64
//!   blocks ahead) it builds that seed's cache and, when memory allows, allocates its dataset,
//!   which the workers then fill one chunk after each batch of hashing (halving their rate for
//!   a minute or two, hours before it is needed). When a job with the new seed arrives each
//!   thread switches machines at once. A dataset that is not ready when its seed is needed (at
//!   start, or without memory for two) is built by all threads at full speed; while its last
//!   chunks are being finished by other threads, a thread hashes in light mode from the cache
//!   rather than idle. A thread idles only while a cache is being built (about a second per
//!   seed change).
//! * **Extra nonces.** Thread `i` puts `i` (4 bytes little-endian), `ff ff` and a 16-bit roll
//!   into the miner transaction's 8-byte extra nonce ([`thread_extra_nonce`]). Stratum
//!   connections use their extranonce in bytes 0..4 and a notification counter (big-endian)
//!   in bytes 4..8, which reaches `ff ff` only after 2^32 - 2^16 jobs on one connection, so no
//!   two threads, and no thread and rig, hash the same blob. The roll starts at random (two
//!   nodes paying one wallet do not repeat each other's work) and moves on with every job a
//!   thread takes (so it never hashes a blob twice, even when the board rebuilds an identical
//!   job) and when a thread has hashed all 2^32 header nonces of a blob.
//! * **Hashing.** A thread rolls the blob's 4-byte header nonce through pipelined hashes
//!   ([`Vm::hash_next`], the reference library's `randomx_calculate_hash_next`), checks each
//!   against the share target, and in between batches of [`BATCH`] looks at the job source:
//!   new work is taken at once (within one hash, ~3 ms fast), and a share whose work went
//!   stale is dropped, as the other workers do.

pub mod bench;
mod seeds;
mod xmrig_compare;

use super::{lower_priority, random_u64, RateUnit, ThreadStats, WorkerStats, AFTER_SHARE_WAIT};
use crate::job::{FoundShare, WorkEpoch};
use crate::monero::job::hashing_blob;
use crate::monero::{ExtraNonce, MoneroFoundSink, MoneroJob, MoneroJobSource, EXTRA_NONCE_LEN};
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::{PayoutScript, Share, Target};
use otedama_randomx::{Flags, LargePages, Vm, HASH_SIZE};
use seeds::Seeds;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

pub use otedama_randomx::DatasetBuilder;

/// How long a thread hashes between looks at the dataset builders and its statistics. New work
/// and stops are noticed after every hash, not only between batches.
pub const BATCH: Duration = Duration::from_millis(200);

/// Fast (2 GiB dataset per seed) or light (256 MiB cache per seed) hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RandomXMode {
    /// A dataset per seed: what miners use. Falls back to light mode when the memory is not
    /// there.
    #[default]
    Fast,
    /// The cache only, about 8 times slower; no 2 GiB allocation (tests, small machines).
    Light,
}

impl RandomXMode {
    /// The kernel name the statistics show.
    pub fn kernel(self) -> &'static str {
        match self {
            RandomXMode::Fast => "randomx-fast",
            RandomXMode::Light => "randomx-light",
        }
    }
}

/// What the RandomX workers do.
#[derive(Clone, Debug)]
pub struct RandomXWorkerConfig {
    /// Worker threads; 0 starts none.
    pub threads: usize,
    /// Who the shares pay.
    pub payout: PayoutScript,
    /// Large pages for the caches and datasets: `Prefer` (the default) takes reserved large
    /// pages when there are any and otherwise advises the dataset to transparent huge pages.
    pub large_pages: LargePages,
    /// The library's flags, usually [`Flags::recommended`] (JIT, hardware AES).
    pub flags: Flags,
    pub mode: RandomXMode,
    /// How often hashrates are logged (and [`WorkerStats`]' rates refreshed).
    pub log_interval: Duration,
    /// Scheduling niceness of the worker threads (Linux), as for the other workers.
    pub nice: i32,
    /// The node's share verifier, handed each dataset the workers complete
    /// ([`RandomXHasher::offer_dataset`]), so a mining node verifies peers' shares in fast mode
    /// on the same 2 GiB rather than in light mode (about 8 times slower per hash) beside its
    /// workers.
    pub verifier: Option<Arc<crate::randomx_pow::RandomXHasher>>,
}

impl RandomXWorkerConfig {
    /// `threads` fast-mode threads paying `payout`, large pages preferred, recommended flags.
    pub fn new(threads: usize, payout: PayoutScript) -> RandomXWorkerConfig {
        RandomXWorkerConfig {
            threads,
            payout,
            large_pages: LargePages::Prefer,
            flags: Flags::recommended(),
            mode: RandomXMode::Fast,
            log_interval: Duration::from_secs(30),
            nice: 10,
            verifier: None,
        }
    }
}

/// What the workers hold for one RandomX seed ([`RandomXWorkers::seeds`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedStatus {
    pub seed: Hash32,
    /// Whether its cache (256 MiB) is built.
    pub cache: bool,
    pub dataset: DatasetStatus,
}

/// Where a seed's dataset stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetStatus {
    /// None wanted (light mode), or not yet allocated.
    None,
    /// Being initialised by the worker threads.
    Building {
        chunks_done: u64,
        chunks: u64,
    },
    Ready,
    /// Not allocated for want of memory: light mode until a retry.
    Failed,
}

/// The extra nonce of worker thread `index` at roll `roll`: `index` as 4 bytes little-endian,
/// then `ff ff` (a marker no Stratum connection reaches, see the module documentation), then
/// `roll` big-endian.
pub fn thread_extra_nonce(index: usize, roll: u16) -> ExtraNonce {
    let mut e = [0u8; EXTRA_NONCE_LEN];
    e[..4].copy_from_slice(&(index as u32).to_le_bytes());
    e[4] = 0xff;
    e[5] = 0xff;
    e[6..].copy_from_slice(&roll.to_be_bytes());
    e
}

/// Hashes per second with its unit.
pub fn format_hashrate(hashes_per_sec: f64) -> String {
    if hashes_per_sec >= 10_000.0 {
        format!("{:.2} kH/s", hashes_per_sec / 1e3)
    } else {
        format!("{hashes_per_sec:.1} H/s")
    }
}

/// The consecutive header nonces of one hashing blob, hashed through a machine's pipeline.
///
/// The loop every worker thread runs, and what `otedama-node bench --algo randomx` measures:
/// one [`Vm::hash_next`] per nonce (which returns the previous nonce's hash and starts the
/// next), a target check, and a call of `keep_going` (an atomic load or two).
pub struct NonceScan {
    blob: Vec<u8>,
    at: usize,
    /// The nonce whose hash the machine has begun, if any.
    begun: Option<u32>,
    /// The next nonce to begin; 2^32 once every nonce has been begun.
    next: u64,
}

/// Why [`NonceScan::scan`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanEnd {
    /// The batch's time is up.
    Deadline,
    /// `keep_going` said stop.
    Interrupted,
    /// A nonce whose hash meets the target.
    Hit { nonce: u32, hash: [u8; HASH_SIZE] },
    /// Every nonce of the blob has been hashed.
    Exhausted,
}

impl NonceScan {
    /// A scan of `blob` whose nonce is at `at..at + 4`, from nonce 0; `None` if the blob is
    /// too short for that.
    pub fn new(blob: Vec<u8>, at: usize) -> Option<NonceScan> {
        (at.checked_add(4)? <= blob.len()).then_some(NonceScan {
            blob,
            at,
            begun: None,
            next: 0,
        })
    }

    /// Starts again from the next nonce not yet hashed on a fresh machine (after the thread
    /// changed machines, whose pipeline is not this scan's).
    pub fn restart(&mut self) {
        if let Some(n) = self.begun.take() {
            self.next = u64::from(n);
        }
    }

    /// The blob with `nonce` in place.
    pub fn blob_with(&self, nonce: u32) -> Vec<u8> {
        let mut b = self.blob.clone();
        b[self.at..self.at + 4].copy_from_slice(&nonce.to_le_bytes());
        b
    }

    fn set_nonce(&mut self, nonce: u32) {
        self.blob[self.at..self.at + 4].copy_from_slice(&nonce.to_le_bytes());
    }

    /// Hashes nonces with `vm` until the deadline, a hit, `keep_going()` returning false
    /// (asked after every hash) or the end of the nonces; adds the hashes done to `hashes`.
    /// `vm` must be the machine of the previous call (or call [`NonceScan::restart`] first).
    pub fn scan(
        &mut self,
        vm: &mut Vm,
        target: &Target,
        deadline: Instant,
        hashes: &mut u64,
        mut keep_going: impl FnMut() -> bool,
    ) -> ScanEnd {
        const END: u64 = 1 << 32;
        if self.begun.is_none() || !vm.is_pending() {
            self.restart();
            if self.next >= END {
                return ScanEnd::Exhausted;
            }
            let n = self.next as u32;
            self.set_nonce(n);
            vm.hash_first(&self.blob);
            self.begun = Some(n);
            self.next += 1;
        }
        loop {
            let Some(done) = self.begun else {
                return ScanEnd::Exhausted;
            };
            let hash = if self.next < END {
                let n = self.next as u32;
                self.set_nonce(n);
                let h = vm.hash_next(&self.blob);
                self.begun = Some(n);
                self.next += 1;
                h
            } else {
                self.begun = None;
                vm.hash_last()
            };
            let Some(hash) = hash else {
                // The machine lost its pipeline (cannot happen: checked above); begin again.
                self.restart();
                return ScanEnd::Interrupted;
            };
            *hashes += 1;
            if target.is_met_by(&hash) {
                return ScanEnd::Hit { nonce: done, hash };
            }
            if self.begun.is_none() {
                return ScanEnd::Exhausted;
            }
            if !keep_going() {
                return ScanEnd::Interrupted;
            }
            if Instant::now() >= deadline {
                return ScanEnd::Deadline;
            }
        }
    }
}

struct Shared {
    config: RandomXWorkerConfig,
    source: Arc<dyn MoneroJobSource>,
    found: MoneroFoundSink,
    stats: Arc<WorkerStats>,
    seeds: Seeds,
    stop: AtomicBool,
}

/// Running RandomX workers; stopped (and joined) by [`RandomXWorkers::stop`] or on drop.
pub struct RandomXWorkers {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    keeper: Option<JoinHandle<()>>,
}

impl RandomXWorkers {
    /// Starts `config.threads` worker threads (none for 0) and, with any, the keeper thread
    /// that builds caches and allocates datasets for the jobs' seeds and logs hashrates.
    pub fn spawn(
        config: RandomXWorkerConfig,
        source: Arc<dyn MoneroJobSource>,
        found: MoneroFoundSink,
    ) -> RandomXWorkers {
        let names: Vec<String> = (0..config.threads).map(|i| format!("cpu-{i}")).collect();
        let stats = Arc::new(WorkerStats::new(
            RateUnit::Hashes,
            config.mode.kernel(),
            names,
        ));
        let n = config.threads;
        let shared = Arc::new(Shared {
            seeds: Seeds::new(&config),
            config,
            source,
            found,
            stats,
            stop: AtomicBool::new(false),
        });
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let s = shared.clone();
            match std::thread::Builder::new()
                .name(format!("otedama-rx-{i}"))
                .spawn(move || worker_main(i, &s))
            {
                Ok(h) => threads.push(h),
                Err(e) => {
                    tracing::error!(thread = i, error = %e, "cannot start a RandomX worker thread")
                }
            }
        }
        let keeper = if threads.is_empty() {
            None
        } else {
            let s = shared.clone();
            match std::thread::Builder::new()
                .name("otedama-rx-keeper".into())
                .spawn(move || seeds::keeper_main(&s))
            {
                Ok(h) => Some(h),
                Err(e) => {
                    // Without the keeper no cache is ever built: the threads would only wait.
                    tracing::error!(error = %e, "cannot start the RandomX keeper thread; RandomX workers not started");
                    shared.stop.store(true, Ordering::Relaxed);
                    None
                }
            }
        };
        if keeper.is_some() {
            tracing::info!(
                threads = threads.len(),
                mode = shared.config.mode.kernel(),
                flags = format_args!("{:#x}", shared.config.flags.bits()),
                large_pages = ?shared.config.large_pages,
                "randomx workers started"
            );
        }
        RandomXWorkers {
            shared,
            threads,
            keeper,
        }
    }

    /// Worker threads running.
    pub fn threads(&self) -> usize {
        self.threads.len()
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        self.shared.stats.clone()
    }

    /// The seeds held now (the current one first, then the next when monerod named it) and
    /// what is ready for each.
    pub fn seeds(&self) -> Vec<SeedStatus> {
        self.shared.seeds.status()
    }

    /// Stops every thread and waits for them (a thread in the middle of a dataset chunk or a
    /// hash finishes it first: well under a second; the keeper may be finishing a cache, about
    /// a second).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for h in self.threads.drain(..) {
            let _ = h.join();
        }
        if let Some(h) = self.keeper.take() {
            let _ = h.join();
        }
    }
}

impl Drop for RandomXWorkers {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Next {
    NewWork,
    Stop,
}

/// One thread's machine and the seed it hashes under.
struct Machine {
    seed: Hash32,
    vm: Vm,
}

struct Worker<'a> {
    index: usize,
    shared: &'a Shared,
    stats: &'a ThreadStats,
    epoch: watch::Receiver<WorkEpoch>,
    name: String,
    roll: u16,
    machine: Option<Machine>,
    /// Bumped whenever `machine` is replaced, so a scan knows to restart its pipeline.
    machine_gen: u64,
    /// When this thread last did a chunk of a dataset prepared ahead.
    ahead_at: Instant,
}

fn worker_main(index: usize, shared: &Shared) {
    lower_priority(shared.config.nice);
    let mut w = Worker {
        index,
        shared,
        stats: &shared.stats.threads[index],
        epoch: shared.source.subscribe(),
        name: shared.stats.names[index].clone(),
        roll: random_u64(index) as u16,
        machine: None,
        machine_gen: 0,
        ahead_at: Instant::now(),
    };
    loop {
        if w.stopped() {
            return;
        }
        w.epoch.borrow_and_update();
        let Some(job) = shared.source.job_for(&shared.config.payout) else {
            if let Next::Stop = w.wait_for_work(Duration::from_secs(1)) {
                return;
            }
            continue;
        };
        if let Next::Stop = w.mine(&job) {
            return;
        }
    }
}

/// What a thread should do next for a seed.
enum Step {
    /// Hash with `self.machine`.
    Hash,
    /// It did a chunk of the seed's dataset (no hashing this round).
    Built,
    /// Nothing to hash with yet (the cache is being built).
    Wait,
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

    fn replace_machine(&mut self, m: Option<Machine>) {
        self.machine = m;
        self.machine_gen += 1;
    }

    /// Gets a machine for `seed` ready, or helps build its dataset, or says to wait.
    fn prepare(&mut self, seed: &Hash32) -> Step {
        let view = self.shared.seeds.view(seed);
        let have = match &self.machine {
            Some(m) if m.seed == *seed => Some(m.vm.is_fast()),
            Some(_) => {
                // Another seed's machine: let its dataset go (the keeper may be waiting for
                // the memory).
                self.replace_machine(None);
                None
            }
            None => None,
        };
        if have == Some(true) {
            return Step::Hash;
        }
        if let Some(ds) = view.dataset {
            match Vm::fast(ds) {
                Ok(vm) => {
                    self.replace_machine(Some(Machine { seed: *seed, vm }));
                    return Step::Hash;
                }
                Err(e) => {
                    if self.shared.seeds.note_fast_vm_failure() {
                        tracing::error!(worker = %self.name, error = %e, "cannot create a fast-mode RandomX machine; hashing in light mode");
                    }
                }
            }
        }
        if let Some(b) = &view.builder {
            if b.work() {
                return Step::Built;
            }
        }
        if have == Some(false) {
            return Step::Hash;
        }
        if let Some(cache) = view.cache {
            match Vm::light(cache) {
                Ok(vm) => {
                    self.replace_machine(Some(Machine { seed: *seed, vm }));
                    return Step::Hash;
                }
                Err(e) => {
                    tracing::error!(worker = %self.name, error = %e, "cannot create a light-mode RandomX machine");
                    return Step::Wait;
                }
            }
        }
        Step::Wait
    }

    /// Works on `job` until the work changes.
    fn mine(&mut self, job: &Arc<MoneroJob>) -> Next {
        // A fresh roll for every job taken, so that a thread never hashes a blob twice, even
        // when it takes the same job again (after a share) or the board rebuilds an identical
        // one (same template, tip and second).
        self.roll = self.roll.wrapping_add(1);
        let extra = thread_extra_nonce(self.index, self.roll);
        let Some(share) = job.share_for(&extra) else {
            tracing::error!(job = job.id, "BUG: a Monero job without a Monero share");
            return self.wait_for_work(Duration::from_secs(1));
        };
        let Some(mut scan) = hashing_blob(&share).and_then(|(blob, at)| NonceScan::new(blob, at))
        else {
            tracing::error!(job = job.id, "Monero job's hashing blob has no nonce");
            return self.wait_for_work(Duration::from_secs(1));
        };
        let seed = share
            .candidate
            .as_monero()
            .map_or_else(|| job.seed_hash(), |c| c.seed_hash);
        let target = job.share_target();
        self.stats.jobs.fetch_add(1, Ordering::Relaxed);
        self.stats.current_job.store(job.id, Ordering::Relaxed);
        let mut gen = self.machine_gen;
        loop {
            if self.stopped() {
                return Next::Stop;
            }
            if self.epoch.has_changed().unwrap_or(false) {
                return Next::NewWork;
            }
            match self.prepare(&seed) {
                Step::Hash => {}
                Step::Built => continue,
                Step::Wait => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
            if gen != self.machine_gen {
                scan.restart();
                gen = self.machine_gen;
            }
            let Some(machine) = self.machine.as_mut() else {
                continue;
            };
            // One chunk of the next seed's dataset, if one is being prepared, per batch of
            // time (so shares found in quick succession do not starve it).
            if machine.vm.is_fast() && self.ahead_at.elapsed() >= BATCH {
                self.ahead_at = Instant::now();
                if let Some(b) = self.shared.seeds.ahead_builder(&seed) {
                    b.work();
                }
            }
            let mut hashes = 0u64;
            let stop = &self.shared.stop;
            let epoch = &self.epoch;
            let end = scan.scan(
                &mut machine.vm,
                &target,
                Instant::now() + BATCH,
                &mut hashes,
                || !stop.load(Ordering::Relaxed) && !epoch.has_changed().unwrap_or(false),
            );
            self.stats.hashes.fetch_add(hashes, Ordering::Relaxed);
            match end {
                ScanEnd::Hit { nonce, hash } => {
                    return self.hand_on(job, &share, &scan, nonce, &hash);
                }
                ScanEnd::Exhausted => {
                    // Every header nonce of this blob is done: the next blob has another roll.
                    return Next::NewWork;
                }
                ScanEnd::Interrupted | ScanEnd::Deadline => {}
            }
        }
    }

    /// Whether `job` may no longer be submitted: the work changed and the current job builds
    /// on another Monero block or parent share (or there is no work at all).
    fn is_stale(&self, job: &MoneroJob) -> bool {
        if !self.epoch.has_changed().unwrap_or(true) {
            return false;
        }
        match self.shared.source.job_for(&self.shared.config.payout) {
            Some(cur) => {
                cur.work.template.prev_id != job.work.template.prev_id
                    || cur.share.side.prev_share != job.share.side.prev_share
            }
            None => true,
        }
    }

    /// Submits a share (to the block queue too when it is a block) unless its job went stale;
    /// then waits for the new work it causes.
    fn hand_on(
        &mut self,
        job: &MoneroJob,
        share: &Share,
        scan: &NonceScan,
        nonce: u32,
        hash: &[u8; HASH_SIZE],
    ) -> Next {
        let mut share = share.clone();
        let Some(c) = share.candidate.as_monero_mut() else {
            return Next::NewWork;
        };
        c.header.nonce = nonce;
        debug_assert_eq!(
            hashing_blob(&share).map(|(b, _)| b),
            Some(scan.blob_with(nonce))
        );
        let id = share.id();
        let mut found = FoundShare {
            share,
            job_id: job.id,
            worker: self.name.clone(),
        };
        let is_block = self.shared.found.offer_block(&found, job, hash);
        if is_block {
            tracing::info!(share = %id, worker = %self.name, height = job.height(), "randomx worker found a Monero block");
        }
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
        tracing::info!(share = %id, worker = %self.name, job = job.id, "randomx share found");
        self.wait_for_work(AFTER_SHARE_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_nonces_differ_per_thread_and_carry_the_marker() {
        let a = thread_extra_nonce(0, 7);
        let b = thread_extra_nonce(1, 7);
        assert_ne!(a, b);
        assert_eq!(a, [0, 0, 0, 0, 0xff, 0xff, 0, 7]);
        assert_eq!(
            thread_extra_nonce(0x0102_0304, 0xabcd),
            [4, 3, 2, 1, 0xff, 0xff, 0xab, 0xcd]
        );
    }

    #[test]
    fn scan_needs_room_for_the_nonce() {
        assert!(NonceScan::new(vec![0; 43], 39).is_some());
        assert!(NonceScan::new(vec![0; 42], 39).is_none());
        assert!(NonceScan::new(vec![], usize::MAX).is_none());
    }
}
