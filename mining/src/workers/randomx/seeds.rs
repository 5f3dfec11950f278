//! The RandomX keys the workers hash under: per seed a cache and (fast mode) a dataset, built by
//! the keeper thread (caches, allocations) and the worker threads (dataset chunks), and the
//! log lines that say what memory the dataset got and why.

use super::{format_hashrate, RandomXMode, RandomXWorkerConfig, Shared};
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_randomx::{Cache, Dataset, DatasetBuilder, Flags, LargePages, Pages};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

/// How often the keeper looks at the jobs' seeds and the builders.
const TICK: Duration = Duration::from_millis(50);
/// How long to wait before trying again to get a dataset after memory ran short.
const RETRY_DATASET: Duration = Duration::from_secs(300);
/// How long to wait for the workers to let go of an old seed's dataset before deciding that
/// there is no memory for the new one.
const RELEASE_WAIT: Duration = Duration::from_secs(10);
/// Memory left for everything else when a dataset is allocated.
const HEADROOM: u64 = 256 << 20;
const MIB: u64 = 1 << 20;

/// One seed's cache and dataset.
struct Slot {
    seed: Hash32,
    cache: Option<Arc<Cache>>,
    /// A cache build failed at this time (retried after [`RETRY_DATASET`]).
    cache_failed: Option<Instant>,
    builder: Option<Arc<DatasetBuilder>>,
    dataset: Option<Arc<Dataset>>,
    /// When the dataset was completed (for the keeper's log line; taken when logged).
    completed: Option<(Instant, Duration)>,
    /// No dataset could be had at this time (memory): light mode until a retry.
    dataset_failed: Option<Instant>,
    /// Since when an allocation waits for an old dataset to be released.
    waiting_since: Option<Instant>,
    /// The keeper said why this seed's dataset is not prepared ahead.
    ahead_refused: bool,
}

impl Slot {
    fn new(seed: Hash32) -> Slot {
        Slot {
            seed,
            cache: None,
            cache_failed: None,
            builder: None,
            dataset: None,
            completed: None,
            dataset_failed: None,
            waiting_since: None,
            ahead_refused: false,
        }
    }

    /// Moves a completed builder's dataset into the slot.
    fn promote(&mut self) {
        if let Some(b) = &self.builder {
            if let Some(ds) = b.dataset() {
                self.completed = Some((Instant::now(), b.started().elapsed()));
                self.dataset = Some(ds);
                self.builder = None;
            }
        }
    }
}

/// What a worker thread sees of one seed.
pub(super) struct SeedView {
    pub cache: Option<Arc<Cache>>,
    /// The seed's dataset being built.
    pub builder: Option<Arc<DatasetBuilder>>,
    pub dataset: Option<Arc<Dataset>>,
}

/// The seeds' caches and datasets: the current seed's and, once monerod names it, the next.
pub(super) struct Seeds {
    mode: RandomXMode,
    flags: Flags,
    large_pages: LargePages,
    slots: Mutex<Vec<Slot>>,
    /// Datasets of seeds no longer wanted, until the last machine using one lets it go.
    retired: Mutex<Vec<Weak<Dataset>>>,
    fast_vm_failed: AtomicBool,
    /// Handed each completed dataset (`RandomXWorkerConfig::verifier`).
    verifier: Option<Arc<crate::randomx_pow::RandomXHasher>>,
}

impl Seeds {
    pub(super) fn new(config: &RandomXWorkerConfig) -> Seeds {
        Seeds {
            mode: config.mode,
            flags: config.flags,
            large_pages: config.large_pages,
            slots: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            fast_vm_failed: AtomicBool::new(false),
            verifier: config.verifier.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        // Every update is a few assignments: a panic elsewhere cannot leave one half done.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What there is for `seed` now.
    pub(super) fn view(&self, seed: &Hash32) -> SeedView {
        let mut slots = self.lock();
        match slots.iter_mut().find(|s| s.seed == *seed) {
            Some(s) => {
                s.promote();
                SeedView {
                    cache: s.cache.clone(),
                    builder: s.builder.clone(),
                    dataset: s.dataset.clone(),
                }
            }
            None => SeedView {
                cache: None,
                builder: None,
                dataset: None,
            },
        }
    }

    /// Every seed held, current first, and what is ready for it.
    pub(super) fn status(&self) -> Vec<super::SeedStatus> {
        let mut slots = self.lock();
        slots
            .iter_mut()
            .map(|s| {
                s.promote();
                super::SeedStatus {
                    seed: s.seed,
                    cache: s.cache.is_some(),
                    dataset: match (&s.dataset, &s.builder) {
                        (Some(_), _) => super::DatasetStatus::Ready,
                        (None, Some(b)) => super::DatasetStatus::Building {
                            chunks_done: b.chunks_done(),
                            chunks: b.chunks(),
                        },
                        (None, None) if s.dataset_failed.is_some() => super::DatasetStatus::Failed,
                        (None, None) => super::DatasetStatus::None,
                    },
                }
            })
            .collect()
    }

    /// A dataset being prepared ahead for a seed other than `current`, with chunks left.
    pub(super) fn ahead_builder(&self, current: &Hash32) -> Option<Arc<DatasetBuilder>> {
        let mut slots = self.lock();
        for s in slots.iter_mut().filter(|s| s.seed != *current) {
            s.promote();
            if let Some(b) = &s.builder {
                if !b.all_claimed() {
                    return Some(b.clone());
                }
            }
        }
        None
    }

    /// Records that a fast machine could not be created; true the first time (to log once).
    pub(super) fn note_fast_vm_failure(&self) -> bool {
        !self.fast_vm_failed.swap(true, Ordering::Relaxed)
    }

    /// The seeds wanted now: drops the others' slots (their datasets are retired until the
    /// machines using them are gone) and adds slots for new ones.
    fn want(&self, current: Hash32, next: Option<Hash32>) {
        let mut slots = self.lock();
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|s| {
            let keep = s.seed == current || Some(s.seed) == next;
            if !keep {
                tracing::info!(seed = %hex::encode(s.seed), "RandomX seed no longer used; its cache and dataset are released");
                if let Some(ds) = &s.dataset {
                    retired.push(Arc::downgrade(ds));
                }
            }
            keep
        });
        retired.retain(|w| w.strong_count() > 0);
        for seed in std::iter::once(current).chain(next) {
            if !slots.iter().any(|s| s.seed == seed) {
                slots.push(Slot::new(seed));
            }
        }
        // The current seed first (status and logs read it there).
        slots.sort_by_key(|s| s.seed != current);
    }

    fn old_datasets_alive(&self) -> bool {
        let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
        retired.retain(|w| w.strong_count() > 0);
        !retired.is_empty()
    }

    /// One step of the keeper's work for `current` (and `next`), the most urgent first; a
    /// cache build blocks for about a second.
    fn tick(&self, current: Hash32, next: Option<Hash32>, threads: usize) {
        self.want(current, next);
        self.log_completed(threads);
        // 1. The current seed's cache.
        if self.build_cache_if_missing(&current) {
            return;
        }
        // 2. The current seed's dataset.
        if self.mode == RandomXMode::Fast && self.allocate_dataset(&current, false) {
            return;
        }
        // 3. The next seed's cache, ahead.
        if let Some(next) = next {
            if self.build_cache_if_missing(&next) {
                return;
            }
            // 4. The next seed's dataset, ahead, once the current one is complete.
            let current_ready = self
                .lock()
                .iter()
                .any(|s| s.seed == current && s.dataset.is_some());
            if self.mode == RandomXMode::Fast && current_ready {
                self.allocate_dataset(&next, true);
            }
        }
    }

    /// Builds `seed`'s cache if its slot has none (nor a recent failure); whether it tried.
    fn build_cache_if_missing(&self, seed: &Hash32) -> bool {
        {
            let slots = self.lock();
            let Some(s) = slots.iter().find(|s| s.seed == *seed) else {
                return false;
            };
            if s.cache.is_some() || s.cache_failed.is_some_and(|t| t.elapsed() < RETRY_DATASET) {
                return false;
            }
        }
        // Built outside the lock: the workers keep hashing with what they have.
        let t0 = Instant::now();
        let built = Cache::new(seed, self.flags, self.large_pages);
        let mut slots = self.lock();
        let Some(s) = slots.iter_mut().find(|s| s.seed == *seed) else {
            return true;
        };
        match built {
            Ok(cache) => {
                tracing::info!(
                    seed = %hex::encode(seed),
                    ms = t0.elapsed().as_millis() as u64,
                    large_pages = cache.large_pages(),
                    "RandomX cache built"
                );
                s.cache = Some(Arc::new(cache));
                s.cache_failed = None;
            }
            Err(e) => {
                tracing::error!(
                    seed = %hex::encode(seed),
                    error = %e,
                    "cannot build a RandomX cache (256 MiB); retrying in {} s",
                    RETRY_DATASET.as_secs()
                );
                s.cache_failed = Some(Instant::now());
            }
        }
        true
    }

    /// Allocates `seed`'s dataset for the workers to fill, if it has a cache and no dataset
    /// and memory allows; whether it did anything worth a tick.
    fn allocate_dataset(&self, seed: &Hash32, ahead: bool) -> bool {
        let cache = {
            let mut slots = self.lock();
            let Some(s) = slots.iter_mut().find(|s| s.seed == *seed) else {
                return false;
            };
            let Some(cache) = s.cache.clone() else {
                return false;
            };
            if s.dataset.is_some()
                || s.builder.is_some()
                || s.dataset_failed
                    .is_some_and(|t| t.elapsed() < RETRY_DATASET)
                || (ahead && s.ahead_refused)
            {
                return false;
            }
            cache
        };
        let need = otedama_randomx::dataset_item_count()
            .saturating_mul(otedama_randomx::DATASET_ITEM_SIZE as u64);
        if let Some(avail) = mem_available() {
            if avail < need + HEADROOM {
                let mut slots = self.lock();
                let Some(s) = slots.iter_mut().find(|s| s.seed == *seed) else {
                    return false;
                };
                if ahead {
                    tracing::info!(
                        seed = %hex::encode(seed),
                        available_mib = avail / MIB,
                        needed_mib = (need + HEADROOM) / MIB,
                        "not preparing the next RandomX seed's dataset ahead (not enough memory for two); it is built when the seed changes"
                    );
                    s.ahead_refused = true;
                    return false;
                }
                // Wait a little for the machines on an old seed to let its dataset go.
                if self.old_datasets_alive() {
                    let since = *s.waiting_since.get_or_insert_with(Instant::now);
                    if since.elapsed() < RELEASE_WAIT {
                        return false;
                    }
                }
                s.waiting_since = None;
                s.dataset_failed = Some(Instant::now());
                tracing::warn!(
                    seed = %hex::encode(seed),
                    available_mib = avail / MIB,
                    needed_mib = (need + HEADROOM) / MIB,
                    "not enough memory for the RandomX dataset (2 GiB): hashing in light mode, about 8 times slower; trying again in {} s",
                    RETRY_DATASET.as_secs()
                );
                return true;
            }
        }
        let built = DatasetBuilder::new(cache, self.large_pages);
        let mut slots = self.lock();
        let Some(s) = slots.iter_mut().find(|s| s.seed == *seed) else {
            return true;
        };
        s.waiting_since = None;
        match built {
            Ok(b) => {
                tracing::info!(
                    seed = %hex::encode(seed),
                    ahead,
                    chunks = b.chunks(),
                    "RandomX dataset allocated; the worker threads are initialising it{}",
                    if ahead { " between batches" } else { "" }
                );
                s.builder = Some(Arc::new(b));
            }
            Err(e) => {
                s.dataset_failed = Some(Instant::now());
                tracing::warn!(
                    seed = %hex::encode(seed),
                    error = %e,
                    "cannot allocate the RandomX dataset: hashing in light mode, about 8 times slower; trying again in {} s",
                    RETRY_DATASET.as_secs()
                );
            }
        }
        true
    }

    /// Logs each dataset completed since the last tick, with what memory it got, and hands it
    /// to the share verifier.
    fn log_completed(&self, threads: usize) {
        let done: Vec<(Hash32, Duration, Arc<Dataset>)> = {
            let mut slots = self.lock();
            slots
                .iter_mut()
                .filter_map(|s| {
                    s.promote();
                    let (_, took) = s.completed.take()?;
                    Some((s.seed, took, s.dataset.clone()?))
                })
                .collect()
        };
        for (seed, took, ds) in done {
            tracing::info!(
                seed = %hex::encode(seed),
                secs = format_args!("{:.1}", took.as_secs_f64()),
                threads,
                mib = ds.bytes() / MIB,
                "RandomX dataset ready"
            );
            log_pages(&ds, self.large_pages);
            if let Some(v) = &self.verifier {
                v.offer_dataset(seed, ds);
            }
        }
    }
}

/// The one line that says what memory a dataset got, and why, with the fix when it matters.
pub(super) fn log_pages(ds: &Dataset, asked: LargePages) {
    let total = ds.bytes();
    const FIX: &str = "`sysctl vm.nr_hugepages=1280` (or `echo madvise > /sys/kernel/mm/transparent_hugepage/enabled`) makes fast-mode hashing up to twice as fast";
    let reserved = || meminfo("HugePages_Free:").map_or_else(|| "?".to_string(), |n| n.to_string());
    let thp = || thp_mode().unwrap_or_else(|| "unavailable".into());
    match ds.pages() {
        Pages::Large => {
            tracing::info!(
                mib = total / MIB,
                "RandomX dataset on reserved large pages (2 MiB)"
            );
        }
        Pages::TransparentAdvised => {
            let huge = ds.huge_page_bytes().unwrap_or(0);
            if huge >= total / 10 * 9 {
                tracing::info!(
                    "RandomX dataset on transparent huge pages ({} of {} MiB): the OS has no large pages reserved (HugePages_Free: {}), the kernel granted transparent ones; `sysctl vm.nr_hugepages=1280` would reserve them",
                    huge / MIB,
                    total / MIB,
                    reserved()
                );
            } else {
                let mode = thp();
                let why = if mode == "never" {
                    "transparent huge pages are disabled (`never`)".to_string()
                } else {
                    format!(
                        "the kernel granted only {} MiB as transparent huge pages (mode `{mode}`; memory fragmented?)",
                        huge / MIB
                    )
                };
                tracing::warn!(
                    "RandomX dataset on 4 KB pages ({} of {} MiB on huge pages): the OS has no large pages reserved (HugePages_Free: {}) and {why}; {FIX}",
                    huge / MIB,
                    total / MIB,
                    reserved()
                );
            }
        }
        Pages::Small => {
            let why = if asked == LargePages::Off {
                "large pages are off in the configuration".to_string()
            } else {
                format!(
                    "the OS has no large pages reserved (HugePages_Free: {}) and transparent huge pages are `{}`",
                    reserved(),
                    thp()
                )
            };
            tracing::warn!("RandomX dataset on 4 KB pages: {why}; {FIX}");
        }
    }
}

/// A value of `/proc/meminfo` (`kB` values in bytes, counts as they are).
fn meminfo(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    let rest = line[key.len()..].trim();
    match rest.strip_suffix("kB") {
        Some(kb) => kb.trim().parse::<u64>().ok()?.checked_mul(1024),
        None => rest.parse().ok(),
    }
}

/// Memory the kernel can give without swapping (`MemAvailable`); `None` off Linux.
pub(super) fn mem_available() -> Option<u64> {
    meminfo("MemAvailable:")
}

/// The transparent huge page mode (`always`, `madvise`, `never`).
fn thp_mode() -> Option<String> {
    let s = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    let start = s.find('[')?;
    let end = s[start..].find(']')?;
    Some(s[start + 1..start + end].to_string())
}

/// The keeper thread: follows the jobs' seeds (building caches, allocating datasets) and logs
/// hashrates every `log_interval`.
pub(super) fn keeper_main(shared: &Shared) {
    let mut epoch = shared.source.subscribe();
    let mut seeds: Option<(Hash32, Option<Hash32>)> = None;
    let mut last_look = Instant::now() - Duration::from_secs(1);
    let stats = &shared.stats;
    let mut last: Vec<u64> = vec![0; stats.threads.len()];
    let mut last_log = Instant::now();
    let threads = stats.threads.len();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if epoch.has_changed().unwrap_or(false) || last_look.elapsed() >= Duration::from_secs(1) {
            epoch.borrow_and_update();
            last_look = Instant::now();
            if let Some(job) = shared.source.job_for(&shared.config.payout) {
                let current = job
                    .share
                    .candidate
                    .as_monero()
                    .map_or_else(|| job.seed_hash(), |c| c.seed_hash);
                let next = job.work.next_seed_hash.filter(|n| *n != current);
                seeds = Some((current, next));
            }
        }
        if let Some((current, next)) = seeds {
            shared.seeds.tick(current, next, threads);
        }
        if last_log.elapsed() >= shared.config.log_interval {
            let secs = last_log.elapsed().as_secs_f64().max(1e-9);
            last_log = Instant::now();
            let mut per = Vec::with_capacity(last.len());
            for (t, l) in stats.threads.iter().zip(last.iter_mut()) {
                let h = t.hashes.load(Ordering::Relaxed);
                let r = h.saturating_sub(*l) as f64 / secs;
                *l = h;
                t.rate_bits.store(r.to_bits(), Ordering::Relaxed);
                per.push(format_hashrate(r));
            }
            let dataset = match shared.seeds.status().first().map(|s| s.dataset) {
                Some(super::DatasetStatus::Ready) => "ready".to_string(),
                Some(super::DatasetStatus::Building {
                    chunks_done,
                    chunks,
                }) => format!("building {}%", chunks_done * 100 / chunks.max(1)),
                Some(super::DatasetStatus::Failed) => "none (light mode)".to_string(),
                Some(super::DatasetStatus::None) | None => "none".to_string(),
            };
            tracing::info!(
                total = %format_hashrate(stats.rate()),
                per_thread = %per.join(", "),
                kernel = stats.kernel,
                dataset,
                shares = stats.total(|t| &t.shares),
                stale = stats.total(|t| &t.stale),
                "randomx workers hashrate"
            );
        }
        std::thread::sleep(TICK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_reads_this_machine() {
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(mem_available().is_some_and(|m| m > 0));
        }
    }
}
