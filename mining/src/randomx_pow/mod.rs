//! The node's RandomX hasher: what validation calls, through [`PowHasher`], to check the proof
//! of work of Monero shares.
//!
//! RandomX is keyed by a seed block id that changes every 2048 Monero blocks, and a share may
//! only use the seed of its parent-chain height. Around a seed change both the current seed and
//! the next one are valid for a while, so the hasher holds at most two 256 MiB caches, chosen by
//! the node from the parent chain's tip ([`RandomXHasher::set_seeds`]) and never by a peer: a
//! seed a share names but the node does not hold is refused with [`PowError::UnknownSeed`],
//! because building a cache on demand would let anyone make the node spend a second of CPU and
//! 256 MiB per invented seed.
//!
//! Three ways to make verification cheaper (issue 17), none of which changes a hash:
//!
//! * **Fast mode for the current seed** ([`DatasetPolicy`]): after `set_seeds`, one background
//!   thread builds the current seed's 2 GiB dataset on all cores when the policy (and, for
//!   [`DatasetPolicy::WhenMemoryAllows`], `MemAvailable`) allows; hashes use the light cache
//!   until it is ready and fast machines after. The next seed stays light until it becomes the
//!   current one, so the hasher never holds more than one dataset (a build for a seed that
//!   stopped being current meanwhile is dropped when it ends, before the next one starts).
//! * **A memo of recent results** (`(seed, blob) -> hash`, [`RandomXConfig::memo_capacity`]
//!   entries, oldest out first): a share hashed once, by [`RandomXHasher::prehash`], by the
//!   Stratum server or by an earlier validation, costs a lookup the next time.
//! * **[`RandomXHasher::prehash`]**: a batch (a sync response) hashed on all cores ahead of the
//!   store's single writer, which then finds every result in the memo.

mod dataset;
pub mod dataset_file;
mod memo;

pub use dataset::{dataset_bytes, DatasetPolicy, MEMORY_MARGIN};

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_randomx::{Cache, Dataset, Error, Flags, LargePages, Vm};

use memo::Memo;

/// How the hasher allocates its caches, datasets and machines.
#[derive(Clone, Debug)]
pub struct RandomXConfig {
    /// Flags of the caches and machines, usually [`Flags::recommended`] (JIT, hardware AES).
    pub flags: Flags,
    /// Large pages make hashing faster but need pages the administrator reserved; a node that
    /// asks for them without having them should still validate, hence `Prefer` at most.
    pub large_pages: LargePages,
    /// Idle machines kept per seed (and per dataset). Each holds a 2 MiB scratchpad; more idle
    /// machines than threads that hash at once would only hold memory, so the default is the
    /// available parallelism. Machines beyond it are created when needed and dropped after use.
    pub max_idle_vms: usize,
    /// Whether the current seed gets a 2 GiB dataset. The default is [`DatasetPolicy::Never`]:
    /// a dataset costs 2 GiB and all cores for a while, so the node asks for it.
    pub dataset: DatasetPolicy,
    /// Threads of a dataset build and of [`RandomXHasher::prehash`] (default: the available
    /// parallelism; 0 counts as 1).
    pub threads: usize,
    /// Results remembered (`(seed, blob) -> hash`, oldest out first); 0 turns the memo off.
    /// The default, 16,384, holds more than a PPLNS window of Monero shares (4,320 on main).
    pub memo_capacity: usize,
    /// A [`RandomXHasher::prehash`] batch with at least this many hashes to do, arriving while
    /// the current seed's dataset is being built, waits for the dataset (at most
    /// [`PREHASH_MAX_WAIT`]) instead of hashing in light mode beside the build: the two would
    /// share the cores, so the batch would take twice its light time and delay the build too.
    /// Each light hash computes 16,384 dataset items on the fly and the dataset has 34 million,
    /// so from about 1,000 hashes on (fewer once the build is under way) waiting and hashing in
    /// fast mode ends first. `usize::MAX` never waits.
    pub prehash_wait_min: usize,
    /// Where datasets are saved per seed and loaded from at the next start
    /// ([`dataset_file`]); `None` keeps them in memory only.
    pub dataset_dir: Option<std::path::PathBuf>,
}

/// Default of [`RandomXConfig::memo_capacity`].
pub const DEFAULT_MEMO_CAPACITY: usize = 16_384;
/// Default of [`RandomXConfig::prehash_wait_min`].
pub const DEFAULT_PREHASH_WAIT_MIN: usize = 1_024;
/// The longest a `prehash` batch waits for a dataset being built.
pub const PREHASH_MAX_WAIT: Duration = Duration::from_secs(600);

impl Default for RandomXConfig {
    fn default() -> Self {
        RandomXConfig {
            flags: Flags::recommended(),
            large_pages: LargePages::Off,
            max_idle_vms: available_parallelism(),
            dataset: DatasetPolicy::Never,
            threads: available_parallelism(),
            memo_capacity: DEFAULT_MEMO_CAPACITY,
            prehash_wait_min: DEFAULT_PREHASH_WAIT_MIN,
            dataset_dir: None,
        }
    }
}

fn available_parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// How the hasher hashes under its current seed right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashMode {
    /// No seed set yet.
    NoSeed,
    /// Light mode, and no dataset is coming for this seed (policy, memory or a failed build).
    Light,
    /// Light mode while the dataset is being built (or about to be).
    BuildingDataset,
    /// Fast mode over the dataset.
    Fast,
}

/// Counters since the hasher was made, and its state now ([`RandomXHasher::stats`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HasherStats {
    pub mode: HashMode,
    /// [`PowHasher::pow_hash`] calls answered from the memo.
    pub memo_hits: u64,
    /// [`PowHasher::pow_hash`] calls that had to hash (seed held, result not in the memo).
    pub memo_misses: u64,
    /// Entries in the memo now.
    pub memo_entries: usize,
    /// RandomX hashes computed with a light machine, by `pow_hash` and `prehash` together.
    pub light_hashes: u64,
    /// RandomX hashes computed with a fast machine.
    pub fast_hashes: u64,
    /// Datasets built and installed.
    pub datasets_built: u64,
    /// Datasets loaded from [`RandomXConfig::dataset_dir`] and installed.
    pub datasets_loaded: u64,
}

/// What one [`RandomXHasher::prehash`] call did with its inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrehashReport {
    /// Hashed now and remembered.
    pub hashed: usize,
    /// In the memo already (or repeated within the batch).
    pub known: usize,
    /// Under a seed the hasher does not hold (or dropped by `set_seeds` during the batch):
    /// left for the writer, which refuses them.
    pub unknown_seed: usize,
    /// Not RandomX, or a blob too long for the memo: left for the writer.
    pub skipped: usize,
    /// No machine could be made (no memory): left for the writer.
    pub failed: usize,
}

#[derive(Default)]
struct Counters {
    memo_hits: AtomicU64,
    memo_misses: AtomicU64,
    light_hashes: AtomicU64,
    fast_hashes: AtomicU64,
    datasets_built: AtomicU64,
    datasets_loaded: AtomicU64,
}

/// Idle machines of one backing. A `Vm` is not `Sync`, so each hash takes one out (or makes one)
/// and the lock is held only to pop and push, never while hashing.
struct Pool {
    idle: Mutex<Vec<Vm>>,
    max_idle: usize,
}

impl Pool {
    fn new(max_idle: usize) -> Pool {
        Pool {
            idle: Mutex::new(Vec::new()),
            max_idle,
        }
    }

    fn take(&self) -> Option<Vm> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    fn put(&self, vm: Vm) {
        let surplus = {
            let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() < self.max_idle {
                idle.push(vm);
                None
            } else {
                Some(vm)
            }
        };
        // Freeing the scratchpad is a syscall; the other threads need not wait for it.
        drop(surplus);
    }

    #[cfg(test)]
    fn idle_len(&self) -> usize {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// A dataset and the fast machines over it.
struct Fast {
    dataset: Arc<Dataset>,
    pool: Pool,
}

/// The fast-mode state of one seed.
enum FastState {
    /// Not the current seed (or not yet looked at): light.
    Undecided,
    /// Light, and no dataset for this seed while it stays current.
    Light,
    /// Current, and the builder thread will decide and build.
    Pending,
    Ready(Arc<Fast>),
}

/// One seed's cache, its optional dataset and the machines over them. Shared as an `Arc` so
/// that a hash in flight keeps its slot alive while `set_seeds` drops it from the hasher: the
/// hash completes under the seed it started with, and the cache is freed when the last such
/// hash returns.
struct Slot {
    seed: [u8; 32],
    cache: Arc<Cache>,
    light: Pool,
    fast: Mutex<FastState>,
    /// Set when `set_seeds` drops the seed: a prehash batch still holding the slot stops
    /// hashing under it, and nothing more is remembered for it.
    retired: AtomicBool,
}

/// A machine taken out of a slot's pools, and the dataset it belongs to if it is a fast one.
struct Lease {
    vm: Vm,
    fast: Option<Arc<Fast>>,
}

impl Slot {
    fn build(seed: [u8; 32], config: &RandomXConfig) -> Result<Slot, Error> {
        let start = Instant::now();
        let cache = Cache::new(&seed, config.flags, config.large_pages)?;
        tracing::info!(
            seed = %hex::encode(seed),
            ms = start.elapsed().as_millis() as u64,
            large_pages = cache.large_pages(),
            "RandomX cache built"
        );
        Ok(Slot {
            seed,
            cache: Arc::new(cache),
            light: Pool::new(config.max_idle_vms),
            fast: Mutex::new(FastState::Undecided),
            retired: AtomicBool::new(false),
        })
    }

    fn fast_state(&self) -> std::sync::MutexGuard<'_, FastState> {
        self.fast.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ready(&self) -> Option<Arc<Fast>> {
        match &*self.fast_state() {
            FastState::Ready(f) => Some(Arc::clone(f)),
            _ => None,
        }
    }

    fn fast_is_pending(&self) -> bool {
        matches!(*self.fast_state(), FastState::Pending)
    }

    /// Moves a pending slot to `to`; false (and `to` dropped) if the slot is no longer pending.
    fn set_fast_if_pending(&self, to: FastState) -> bool {
        let mut state = self.fast_state();
        if matches!(*state, FastState::Pending) {
            *state = to;
            true
        } else {
            false
        }
    }

    fn mode(&self) -> HashMode {
        match &*self.fast_state() {
            FastState::Undecided | FastState::Light => HashMode::Light,
            FastState::Pending => HashMode::BuildingDataset,
            FastState::Ready(_) => HashMode::Fast,
        }
    }

    /// A fast machine if the dataset is ready (light if a fast one cannot be made), else light.
    fn lease(&self) -> Result<Lease, Error> {
        if let Some(fast) = self.ready() {
            let vm = match fast.pool.take() {
                Some(vm) => Ok(vm),
                None => Vm::fast(Arc::clone(&fast.dataset)),
            };
            match vm {
                Ok(vm) => {
                    return Ok(Lease {
                        vm,
                        fast: Some(fast),
                    })
                }
                Err(e) => tracing::warn!(error = %e, "RandomX fast machine failed; light hash"),
            }
        }
        let vm = match self.light.take() {
            Some(vm) => vm,
            None => Vm::light(Arc::clone(&self.cache))?,
        };
        Ok(Lease { vm, fast: None })
    }

    /// Whether a lease no longer matches the slot's backing (the dataset arrived or left).
    fn is_stale(&self, lease: &Lease) -> bool {
        match (&lease.fast, self.ready()) {
            (None, None) => false,
            (Some(had), Some(now)) => !Arc::ptr_eq(had, &now),
            _ => true,
        }
    }

    fn give_back(&self, lease: Lease) {
        match lease.fast {
            None => self.light.put(lease.vm),
            Some(fast) => {
                // A machine of a dataset that left is dropped with it.
                if self.ready().is_some_and(|now| Arc::ptr_eq(&now, &fast)) {
                    fast.pool.put(lease.vm);
                }
            }
        }
    }

    fn hash_with(&self, lease: &mut Lease, blob: &[u8], counters: &Counters) -> [u8; 32] {
        let hash = lease.vm.hash(blob);
        let counter = if lease.fast.is_some() {
            &counters.fast_hashes
        } else {
            &counters.light_hashes
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hash
    }

    fn hash(&self, blob: &[u8], counters: &Counters) -> Result<[u8; 32], Error> {
        let mut lease = self.lease()?;
        let hash = self.hash_with(&mut lease, blob, counters);
        self.give_back(lease);
        Ok(hash)
    }
}

/// What the hasher shares with its dataset thread.
struct Inner {
    config: RandomXConfig,
    /// The seeds' slots, the current seed first.
    slots: RwLock<Vec<Arc<Slot>>>,
    memo: Mutex<Memo>,
    counters: Counters,
    /// Whether the dataset thread runs (it exits when the current seed needs no build).
    builder_running: Mutex<bool>,
    /// A dataset built elsewhere ([`RandomXHasher::offer_dataset`]), for a seed that is (or
    /// may become) current.
    offered: Mutex<Option<([u8; 32], Arc<Dataset>)>>,
}

impl Inner {
    fn current_slot(&self) -> Option<Arc<Slot>> {
        self.slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .first()
            .cloned()
    }

    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        self.memo.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a result, unless its seed was dropped meanwhile (`set_seeds` has already
    /// cleared the memo of it).
    fn remember(&self, slot: &Slot, blob: &[u8], hash: [u8; 32]) {
        let mut memo = self.memo();
        if !slot.retired.load(Ordering::Relaxed) {
            memo.insert(&slot.seed, blob, hash);
        }
    }
}

/// RandomX over the seeds the node chose, for any number of validating threads at once.
///
/// The seed list is behind a read-write lock held only to find a slot (cloning its `Arc`) or to
/// swap the list, so a cache being built for the next seed never delays the hashes of the
/// current one; a dataset is built on its own thread and swapped in when ready.
pub struct RandomXHasher {
    inner: Arc<Inner>,
}

impl RandomXHasher {
    /// A light-mode hasher with no seed yet (every hash is `UnknownSeed` until
    /// [`Self::set_seeds`]).
    pub fn new(flags: Flags) -> Self {
        Self::with_config(RandomXConfig {
            flags,
            ..RandomXConfig::default()
        })
    }

    pub fn with_config(config: RandomXConfig) -> Self {
        RandomXHasher {
            inner: Arc::new(Inner {
                memo: Mutex::new(Memo::new(config.memo_capacity)),
                config,
                slots: RwLock::new(Vec::new()),
                counters: Counters::default(),
                builder_running: Mutex::new(false),
                offered: Mutex::new(None),
            }),
        }
    }

    pub fn config(&self) -> &RandomXConfig {
        &self.inner.config
    }

    /// Makes `current` and `next` the seeds shares may use, as the parent chain's tip moves.
    /// Caches of seeds still wanted are kept (a seed change every 2048 blocks then costs one
    /// cache, not two); missing ones are built before anything is swapped, outside every lock,
    /// so hashing under the kept seeds goes on meanwhile; the others are dropped, with their
    /// remembered results.
    ///
    /// All or nothing: if a cache cannot be allocated the seeds stay as they were and the error
    /// is returned, so the caller can retry without having lost the seeds it had. Until the swap
    /// the old caches and the new one coexist (up to three caches, 768 MiB).
    ///
    /// Only the current seed may have a dataset: a seed that stops being current loses its own
    /// at once (hashes in flight finish on it), and when the policy allows one the current seed's
    /// dataset is built in the background; this call does not wait for it.
    ///
    /// Meant to be called by the one task that follows the parent chain's tip: two concurrent
    /// calls each build what they miss and the last to finish decides the seeds.
    pub fn set_seeds(&self, current: [u8; 32], next: Option<[u8; 32]>) -> Result<(), Error> {
        let inner = &self.inner;
        let mut wanted = vec![current];
        if let Some(next) = next.filter(|n| *n != current) {
            wanted.push(next);
        }
        let mut built: Vec<Arc<Slot>> = Vec::new();
        let (dropped, now) = loop {
            let held = self.seeds();
            for seed in &wanted {
                if !held.contains(seed) && !built.iter().any(|s| s.seed == *seed) {
                    built.push(Arc::new(Slot::build(*seed, &inner.config)?));
                }
            }
            let mut slots = inner.slots.write().unwrap_or_else(PoisonError::into_inner);
            // A concurrent call may have dropped a seed seen as held above: build it, retry.
            let missing = wanted.iter().any(|seed| {
                !slots.iter().any(|s| s.seed == *seed) && !built.iter().any(|s| s.seed == *seed)
            });
            if missing {
                continue;
            }
            let mut old = std::mem::take(&mut *slots);
            for seed in &wanted {
                // A slot held now (possibly added by a concurrent call) is kept rather than
                // replaced, so its idle machines (and its dataset) survive.
                if let Some(slot) =
                    take_slot(&mut old, seed).or_else(|| take_slot(&mut built, seed))
                {
                    slots.push(slot);
                }
            }
            break (old, slots.clone());
        };
        let mut released = Vec::new();
        let mut released_offer = None;
        for slot in &dropped {
            slot.retired.store(true, Ordering::Relaxed);
            // Its dataset goes now, not when the last batch holding the slot ends.
            if let FastState::Ready(fast) =
                std::mem::replace(&mut *slot.fast_state(), FastState::Undecided)
            {
                released.push(fast);
            }
            tracing::info!(seed = %hex::encode(slot.seed), "RandomX cache dropped");
        }
        inner.memo().retain_seeds(&wanted);
        {
            let mut offered = inner.offered.lock().unwrap_or_else(PoisonError::into_inner);
            if offered
                .as_ref()
                .is_some_and(|(seed, _)| !wanted.contains(seed))
            {
                released_offer = offered.take();
            }
        }

        let mut start_builder = false;
        for (i, slot) in now.iter().enumerate() {
            let mut state = slot.fast_state();
            if i > 0 {
                // Not current (any more): light, and its dataset (if any) goes.
                let old = std::mem::replace(&mut *state, FastState::Undecided);
                if let FastState::Ready(fast) = old {
                    tracing::info!(
                        seed = %hex::encode(slot.seed),
                        "RandomX dataset dropped: its seed is no longer the current one"
                    );
                    released.push(fast);
                }
            } else if matches!(*state, FastState::Undecided) {
                if let Some(fast) = self.offered_for(&slot.seed) {
                    *state = FastState::Ready(fast);
                    tracing::info!(
                        seed = %hex::encode(slot.seed),
                        "RandomX fast mode on the workers' dataset"
                    );
                } else if inner.config.dataset == DatasetPolicy::Never {
                    *state = FastState::Light;
                    tracing::info!(
                        seed = %hex::encode(slot.seed),
                        "RandomX light mode (dataset policy: never)"
                    );
                } else {
                    *state = FastState::Pending;
                    start_builder = true;
                }
            } else if matches!(*state, FastState::Pending) {
                start_builder = true;
            }
        }
        if start_builder {
            dataset::ensure_builder(inner);
        }
        // The caches (256 MiB each) and a dataset (2 GiB) are unmapped here, after every lock is
        // released; a hash still running under one of them keeps it until it returns.
        drop((dropped, released, released_offer, now));
        Ok(())
    }

    /// A dataset the node built anyway for `seed` (its own RandomX workers' 2 GiB): shares are
    /// then verified in fast mode on it, with no second dataset and no light hashing beside the
    /// workers (a mining node's default is light: `DatasetPolicy::Never`). Taken at once when
    /// `seed` is current and has no dataset of its own ready (a build of its own in progress is
    /// discarded when it ends); otherwise kept for when `seed` becomes current, until
    /// [`Self::set_seeds`] no longer wants it. The workers keep their own reference, so this
    /// costs no memory while they hold the dataset.
    pub fn offer_dataset(&self, seed: [u8; 32], dataset: Arc<Dataset>) {
        let inner = &self.inner;
        let previous = inner
            .offered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace((seed, dataset));
        drop(previous);
        let Some(slot) = inner.current_slot().filter(|s| s.seed == seed) else {
            return;
        };
        let mut state = slot.fast_state();
        match &*state {
            FastState::Ready(_) => {}
            FastState::Undecided | FastState::Light | FastState::Pending => {
                if let Some(fast) = self.offered_for(&seed) {
                    *state = FastState::Ready(fast);
                    tracing::info!(
                        seed = %hex::encode(seed),
                        "RandomX fast mode on the workers' dataset"
                    );
                }
            }
        }
    }

    /// Fast machines' backing from the offered dataset, if it is `seed`'s.
    fn offered_for(&self, seed: &[u8; 32]) -> Option<Arc<Fast>> {
        let offered = self
            .inner
            .offered
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (s, dataset) = offered.as_ref()?;
        (s == seed).then(|| {
            Arc::new(Fast {
                dataset: Arc::clone(dataset),
                pool: Pool::new(self.inner.config.max_idle_vms),
            })
        })
    }

    /// The seeds held, the current one first.
    pub fn seeds(&self) -> Vec<[u8; 32]> {
        self.inner
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| s.seed)
            .collect()
    }

    /// How the current seed is hashed now.
    pub fn mode(&self) -> HashMode {
        self.inner
            .current_slot()
            .map_or(HashMode::NoSeed, |s| s.mode())
    }

    /// Waits until the current seed's dataset is ready (true) or no dataset is coming, or
    /// `timeout` passed (false). For tests, benches and a caller with a large batch to hash
    /// that prefers fast mode; validation never needs to wait.
    pub fn wait_for_dataset(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.mode() {
                HashMode::Fast => return true,
                HashMode::BuildingDataset if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => return false,
            }
        }
    }

    pub fn stats(&self) -> HasherStats {
        let c = &self.inner.counters;
        HasherStats {
            mode: self.mode(),
            memo_hits: c.memo_hits.load(Ordering::Relaxed),
            memo_misses: c.memo_misses.load(Ordering::Relaxed),
            memo_entries: self.inner.memo().len(),
            light_hashes: c.light_hashes.load(Ordering::Relaxed),
            fast_hashes: c.fast_hashes.load(Ordering::Relaxed),
            datasets_built: c.datasets_built.load(Ordering::Relaxed),
            datasets_loaded: c.datasets_loaded.load(Ordering::Relaxed),
        }
    }

    /// Hashes the RandomX inputs of a batch (a sync response) on
    /// [`RandomXConfig::threads`] threads, one machine each from the pools, and remembers the
    /// results, so that validating them afterwards ([`PowHasher::pow_hash`], on the store's
    /// single writer) costs a lookup each. Blocks until the batch is done: call it from a
    /// blocking thread. Inputs under a seed the hasher does not hold are skipped (the writer
    /// then refuses them with `UnknownSeed` as ever), as are headers and overlong blobs.
    ///
    /// Fast machines are used as soon as the current seed's dataset is ready, also in the
    /// middle of a batch; a large batch waits for a dataset being built
    /// ([`RandomXConfig::prehash_wait_min`]). A caller that knows a long sync lies ahead in
    /// small batches can wait itself with [`Self::wait_for_dataset`]. A batch larger than [`RandomXConfig::memo_capacity`] pushes its own
    /// first results out of the memo: hand the writer batches of at most that many shares.
    pub fn prehash(&self, inputs: &[PowInput<'_>]) -> PrehashReport {
        let inner = &self.inner;
        let mut report = PrehashReport::default();
        let slots: Vec<Arc<Slot>> = inner
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut seen: HashSet<(&[u8; 32], &[u8])> = HashSet::new();
        let mut work: Vec<(&Arc<Slot>, &[u8])> = Vec::new();
        {
            let memo = inner.memo();
            for input in inputs {
                let PowInput::RandomX { seed, blob } = *input else {
                    report.skipped += 1;
                    continue;
                };
                let Some(slot) = slots.iter().find(|s| s.seed == *seed) else {
                    report.unknown_seed += 1;
                    continue;
                };
                if !memo.keeps(blob) {
                    report.skipped += 1;
                } else if !seen.insert((seed, blob)) || memo.get(seed, blob).is_some() {
                    report.known += 1;
                } else {
                    work.push((slot, blob));
                }
            }
        }
        if work.len() >= inner.config.prehash_wait_min && self.mode() == HashMode::BuildingDataset {
            let start = Instant::now();
            let ready = self.wait_for_dataset(PREHASH_MAX_WAIT);
            tracing::info!(
                hashes = work.len(),
                waited_s = format_args!("{:.1}", start.elapsed().as_secs_f64()),
                fast = ready,
                "RandomX prehash waited for the dataset"
            );
        }
        let threads = inner.config.threads.max(1).min(work.len());
        if threads == 0 {
            return report;
        }
        let next = AtomicUsize::new(0);
        let results: Vec<PrehashReport> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| prehash_worker(inner, &work, &next)))
                .collect();
            handles
                .into_iter()
                // A worker only panics if RandomX itself does; its inputs are left undone.
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for r in results {
            report.hashed += r.hashed;
            report.failed += r.failed;
            report.unknown_seed += r.unknown_seed;
        }
        // Inputs a panicked worker had claimed count as failed.
        report.failed += work
            .len()
            .saturating_sub(report.hashed + report.failed + report.unknown_seed);
        report
    }

    fn slot(&self, seed: &[u8; 32]) -> Option<Arc<Slot>> {
        self.inner
            .slots
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|s| s.seed == *seed)
            .cloned()
    }
}

/// One prehash thread: takes inputs by index until none is left, keeping one machine per seed
/// (swapped when the seed's dataset arrives or leaves). Returns what it did in `hashed`,
/// `failed` and `unknown_seed` (inputs of a seed dropped during the batch).
fn prehash_worker(
    inner: &Inner,
    work: &[(&Arc<Slot>, &[u8])],
    next: &AtomicUsize,
) -> PrehashReport {
    let mut leases: Vec<(&Arc<Slot>, Lease)> = Vec::new();
    let mut done = PrehashReport::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&(slot, blob)) = work.get(i) else {
            break;
        };
        if slot.retired.load(Ordering::Relaxed) {
            done.unknown_seed += 1;
            continue;
        }
        let held = leases.iter().position(|(s, _)| Arc::ptr_eq(s, slot));
        if let Some(j) = held.filter(|&j| slot.is_stale(&leases[j].1)) {
            let (_, stale) = leases.swap_remove(j);
            slot.give_back(stale);
        }
        let j = match leases.iter().position(|(s, _)| Arc::ptr_eq(s, slot)) {
            Some(j) => j,
            None => match slot.lease() {
                Ok(lease) => {
                    leases.push((slot, lease));
                    leases.len() - 1
                }
                Err(e) => {
                    tracing::warn!(error = %e, "RandomX prehash: no machine");
                    done.failed += 1;
                    continue;
                }
            },
        };
        let hash = slot.hash_with(&mut leases[j].1, blob, &inner.counters);
        inner.remember(slot, blob, hash);
        done.hashed += 1;
    }
    for (slot, lease) in leases {
        slot.give_back(lease);
    }
    done
}

fn take_slot(slots: &mut Vec<Arc<Slot>>, seed: &[u8; 32]) -> Option<Arc<Slot>> {
    let i = slots.iter().position(|s| s.seed == *seed)?;
    Some(slots.swap_remove(i))
}

impl PowHasher for RandomXHasher {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        match input {
            PowInput::RandomX { seed, blob } => {
                // The seed first: a remembered result of a seed dropped since is not an answer.
                let slot = self.slot(seed).ok_or(PowError::UnknownSeed(*seed))?;
                let counters = &self.inner.counters;
                if let Some(hash) = self.inner.memo().get(seed, blob) {
                    counters.memo_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(hash);
                }
                counters.memo_misses.fetch_add(1, Ordering::Relaxed);
                let hash = slot.hash(blob, counters).map_err(|e| {
                    // Only machine creation can fail (no memory for a scratchpad or the JIT):
                    // a fault of this node, not of the share, so it must not read as a reject.
                    tracing::warn!(seed = %hex::encode(seed), error = %e, "RandomX hash failed");
                    PowError::NodeResources("no memory for a RandomX virtual machine")
                })?;
                self.inner.remember(&slot, blob, hash);
                Ok(hash)
            }
            PowInput::Header(_) => Err(PowError::Unsupported(
                "SHA256d/scrypt header on a RandomX hasher",
            )),
        }
    }
}

impl std::fmt::Debug for RandomXHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seeds: Vec<String> = self.seeds().iter().map(hex::encode).collect();
        f.debug_struct("RandomXHasher")
            .field("seeds", &seeds)
            .field("mode", &self.mode())
            .field("config", &self.inner.config)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    //! Every seed costs a 256 MiB cache and about a second to build, so the module uses two
    //! seeds in all (plus the official vector's key) and each test reuses one hasher.

    use super::*;

    const SEED_A: [u8; 32] = [0xa5; 32];
    const SEED_B: [u8; 32] = [0x5b; 32];
    const INPUTS: [&[u8]; 3] = [b"", b"This is a test", &[0u8; 76]];

    fn hash(h: &RandomXHasher, seed: &[u8; 32], blob: &[u8]) -> Result<[u8; 32], PowError> {
        h.pow_hash(PowInput::RandomX { seed, blob })
    }

    fn direct(key: &[u8], inputs: &[&[u8]]) -> Vec<[u8; 32]> {
        let start = Instant::now();
        let cache = Cache::new(key, Flags::recommended(), LargePages::Off).expect("cache");
        let built = start.elapsed();
        let mut vm = Vm::light(Arc::new(cache)).expect("vm");
        let start = Instant::now();
        let out: Vec<[u8; 32]> = inputs.iter().map(|i| vm.hash(i)).collect();
        eprintln!(
            "cache {} ms, light hash {:.1} ms",
            built.as_millis(),
            start.elapsed().as_secs_f64() * 1e3 / inputs.len().max(1) as f64
        );
        out
    }

    #[test]
    fn hashes_as_a_direct_light_vm_and_refuses_what_it_lacks() {
        let vector = direct(b"test key 000", &[b"This is a test"]);
        assert_eq!(
            hex::encode(vector[0]),
            "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f"
        );
        let expected = direct(&SEED_A, &INPUTS);

        let h = RandomXHasher::new(Flags::recommended());
        assert_eq!(hash(&h, &SEED_A, b"x"), Err(PowError::UnknownSeed(SEED_A)));
        h.set_seeds(SEED_A, Some(SEED_A)).expect("set_seeds");
        assert_eq!(h.seeds(), vec![SEED_A], "a repeated seed is held once");
        // Twice, so the second round runs on machines taken back from the pool.
        for _ in 0..2 {
            for (input, want) in INPUTS.iter().zip(&expected) {
                assert_eq!(hash(&h, &SEED_A, input), Ok(*want));
            }
        }
        assert_eq!(hash(&h, &SEED_B, b"x"), Err(PowError::UnknownSeed(SEED_B)));
        assert_eq!(h.seeds(), vec![SEED_A], "an unknown seed builds nothing");
        assert!(matches!(
            h.pow_hash(PowInput::Header(&[0u8; 80])),
            Err(PowError::Unsupported(_))
        ));
    }

    #[test]
    fn set_seeds_keeps_wanted_caches_and_hashes_concurrently() {
        let h = RandomXHasher::with_config(RandomXConfig {
            max_idle_vms: 1,
            ..RandomXConfig::default()
        });
        h.set_seeds(SEED_A, None).expect("set_seeds A");
        let a_cache = Arc::downgrade(&h.slot(&SEED_A).expect("slot A").cache);
        let a_before = hash(&h, &SEED_A, b"kept").expect("hash A");

        // The tip reaches the next seed's announcement: A stays, B is added.
        h.set_seeds(SEED_A, Some(SEED_B)).expect("set_seeds A, B");
        assert_eq!(h.seeds(), vec![SEED_A, SEED_B]);
        let a_now = Arc::downgrade(&h.slot(&SEED_A).expect("slot A").cache);
        assert!(a_cache.ptr_eq(&a_now), "A's cache was kept, not rebuilt");

        // Concurrent hashing under both seeds gives the sequential results.
        let jobs: Vec<([u8; 32], Vec<u8>)> = (0u8..4)
            .flat_map(|i| [(SEED_A, vec![i; 43]), (SEED_B, vec![i; 43])])
            .collect();
        let sequential: Vec<[u8; 32]> = jobs
            .iter()
            .map(|(s, b)| hash(&h, s, b).expect("hash"))
            .collect();
        let concurrent: Vec<Vec<[u8; 32]>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    scope.spawn(|| {
                        jobs.iter()
                            .map(|(s, b)| hash(&h, s, b).expect("hash"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|t| t.join().expect("thread"))
                .collect()
        });
        assert!(concurrent.iter().all(|c| *c == sequential));
        assert_ne!(sequential[0], sequential[1], "the seed keys the hash");
        for seed in [SEED_A, SEED_B] {
            let slot = h.slot(&seed).expect("slot");
            let idle = slot.light.idle_len();
            assert!(idle <= 1, "at most max_idle_vms idle machines, got {idle}");
        }

        // The seed changes: B becomes current, A is dropped and its cache freed even though
        // one of its machines was idle.
        let a_slot = h.slot(&SEED_A).expect("slot A");
        h.set_seeds(SEED_B, None).expect("set_seeds B");
        assert_eq!(h.seeds(), vec![SEED_B]);
        assert_eq!(
            hash(&h, &SEED_A, b"kept"),
            Err(PowError::UnknownSeed(SEED_A))
        );
        assert!(h.stats().memo_entries > 0, "B's results are kept");
        assert!(
            h.inner.memo().get(&SEED_A, b"kept").is_none(),
            "A's results are forgotten"
        );
        // A prehash batch that still holds A's slot neither hashes nor remembers under it.
        assert!(a_slot.retired.load(Ordering::Relaxed));
        let light_before = h.stats().light_hashes;
        let work = [(&a_slot, &b"late"[..])];
        let done = prehash_worker(&h.inner, &work, &AtomicUsize::new(0));
        assert_eq!((done.hashed, done.unknown_seed), (0, 1));
        h.inner.remember(&a_slot, b"late", [1; 32]);
        assert!(h.inner.memo().get(&SEED_A, b"late").is_none());
        assert_eq!(h.stats().light_hashes, light_before);
        drop(a_slot);
        assert!(a_cache.upgrade().is_none(), "A's cache was freed");
        assert_eq!(hash(&h, &SEED_B, &jobs[1].1), Ok(sequential[1]));
        assert_ne!(hash(&h, &SEED_B, b"kept"), Ok(a_before));
    }
}
