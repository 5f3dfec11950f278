//! The optional fast-mode backing of the current seed: whether to build a dataset
//! ([`DatasetPolicy`], `/proc/meminfo`), and the one background thread that builds it.

use std::sync::{Arc, PoisonError, Weak};
use std::time::Instant;

use otedama_randomx::{dataset_item_count, Dataset, DATASET_ITEM_SIZE};

use super::{Fast, FastState, Inner, Pool};

/// Whether the hasher backs its current seed with a 2 GiB dataset (fast mode, about 8 times
/// faster per hash than the light cache, built in the background on all cores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DatasetPolicy {
    /// Light mode only.
    #[default]
    Never,
    /// A dataset when `/proc/meminfo`'s `MemAvailable` is at least the dataset's size plus
    /// [`MEMORY_MARGIN`] at the time it would be built; light mode otherwise (and where
    /// `/proc/meminfo` cannot be read).
    WhenMemoryAllows,
    /// A dataset whatever the memory; if it cannot be allocated the seed stays in light mode.
    Always,
}

/// Memory left to everything else after the dataset, for [`DatasetPolicy::WhenMemoryAllows`].
pub const MEMORY_MARGIN: u64 = 1 << 30;

/// Bytes of a dataset: 34,078,719 items of 64 bytes (2,080 MiB).
pub fn dataset_bytes() -> u64 {
    dataset_item_count().saturating_mul(DATASET_ITEM_SIZE as u64)
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
pub(super) fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

fn mem_available() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .as_deref()
        .and_then(parse_mem_available)
}

const MIB: u64 = 1 << 20;

/// Whether to build a dataset now, logging the decision with its numbers.
fn decide(policy: DatasetPolicy, seed: &[u8; 32], threads: usize) -> bool {
    let seed = hex::encode(seed);
    let need = dataset_bytes();
    match policy {
        DatasetPolicy::Never => false,
        DatasetPolicy::Always => {
            tracing::info!(
                %seed,
                dataset_mib = need / MIB,
                threads,
                "RandomX dataset policy always: building the dataset; light mode until it is ready"
            );
            true
        }
        DatasetPolicy::WhenMemoryAllows => match mem_available() {
            Some(avail) if avail >= need.saturating_add(MEMORY_MARGIN) => {
                tracing::info!(
                    %seed,
                    mem_available_mib = avail / MIB,
                    dataset_mib = need / MIB,
                    margin_mib = MEMORY_MARGIN / MIB,
                    threads,
                    "RandomX: MemAvailable {} MiB >= dataset {} MiB + margin {} MiB, building \
                     the dataset (fast mode); light mode until it is ready",
                    avail / MIB,
                    need / MIB,
                    MEMORY_MARGIN / MIB
                );
                true
            }
            Some(avail) => {
                tracing::info!(
                    %seed,
                    mem_available_mib = avail / MIB,
                    dataset_mib = need / MIB,
                    margin_mib = MEMORY_MARGIN / MIB,
                    "RandomX: MemAvailable {} MiB < dataset {} MiB + margin {} MiB, light mode",
                    avail / MIB,
                    need / MIB,
                    MEMORY_MARGIN / MIB
                );
                false
            }
            None => {
                tracing::info!(
                    %seed,
                    "RandomX: /proc/meminfo gives no MemAvailable, light mode"
                );
                false
            }
        },
    }
}

/// Starts the builder thread unless it runs already (it then picks the new current seed up
/// when its build ends).
pub(super) fn ensure_builder(inner: &Arc<Inner>) {
    let mut running = inner
        .builder_running
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if *running {
        return;
    }
    let weak = Arc::downgrade(inner);
    let spawned = std::thread::Builder::new()
        .name("randomx-dataset".into())
        .spawn(move || build_loop(weak));
    match spawned {
        Ok(_) => *running = true,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the RandomX dataset thread; light mode");
            if let Some(slot) = inner.current_slot() {
                slot.set_fast_if_pending(FastState::Light);
            }
        }
    }
}

/// Builds datasets one at a time, for the current seed only, until the current seed needs none.
/// Holds the hasher only weakly while building, so dropping the hasher frees everything once
/// the build in progress returns.
fn build_loop(weak: Weak<Inner>) {
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let slot = {
            let mut running = inner
                .builder_running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // Under the builder lock: `set_seeds` marks the slot before it looks at this flag,
            // so a seed set after this check finds the flag cleared and starts a new thread.
            match inner.current_slot().filter(|s| s.fast_is_pending()) {
                Some(slot) => slot,
                None => {
                    *running = false;
                    return;
                }
            }
        };
        let threads = inner.config.threads.max(1);
        if !decide(inner.config.dataset, &slot.seed, threads) {
            slot.set_fast_if_pending(FastState::Light);
            continue;
        }
        let large_pages = inner.config.large_pages;
        let cache = Arc::clone(&slot.cache);
        let seed = slot.seed;
        let weak_slot = Arc::downgrade(&slot);
        let dir = inner.config.dataset_dir.clone();
        drop((slot, inner));

        let start = Instant::now();
        let loaded = dir
            .as_deref()
            .and_then(|dir| load_saved(dir, &cache, large_pages));
        let from_file = loaded.is_some();
        let built = match loaded {
            Some(d) => Ok(d),
            None => Dataset::new(&cache, threads, large_pages),
        };
        drop(cache);
        let secs = start.elapsed().as_secs_f64();

        let Some(inner) = weak.upgrade() else {
            return;
        };
        let slot = weak_slot.upgrade();
        let current = slot
            .as_ref()
            .filter(|s| inner.current_slot().is_some_and(|c| Arc::ptr_eq(&c, s)));
        match (built, current) {
            (Ok(dataset), Some(slot)) => {
                let fast = Arc::new(Fast {
                    dataset: Arc::new(dataset),
                    pool: Pool::new(inner.config.max_idle_vms),
                });
                let large = fast.dataset.large_pages();
                let dataset = Arc::clone(&fast.dataset);
                if slot.set_fast_if_pending(FastState::Ready(fast)) {
                    let counter = if from_file {
                        &inner.counters.datasets_loaded
                    } else {
                        &inner.counters.datasets_built
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(
                        seed = %hex::encode(seed),
                        secs = format_args!("{secs:.1}"),
                        threads,
                        large_pages = large,
                        source = if from_file { "saved file" } else { "built" },
                        "RandomX dataset ready: fast mode"
                    );
                    // Saving reads 2 GiB for seconds: not while holding the hasher alive.
                    drop(inner);
                    if let (Some(dir), false) = (dir, from_file) {
                        save_built(&dir, &seed, &dataset);
                    }
                }
            }
            (Ok(_), None) => tracing::info!(
                seed = %hex::encode(seed),
                secs = format_args!("{secs:.1}"),
                "RandomX dataset dropped: its seed is no longer the current one"
            ),
            (Err(e), _) => {
                tracing::warn!(
                    seed = %hex::encode(seed),
                    error = %e,
                    "RandomX dataset not built; light mode for this seed"
                );
                if let Some(slot) = slot {
                    slot.set_fast_if_pending(FastState::Light);
                }
            }
        }
    }
}

/// The dataset saved for `cache`'s seed in `dir`, if there is a usable one; a file that is
/// there but unusable is deleted with a warning saying why (the dataset is then built).
fn load_saved(
    dir: &std::path::Path,
    cache: &otedama_randomx::Cache,
    large_pages: otedama_randomx::LargePages,
) -> Option<Dataset> {
    let start = Instant::now();
    match super::dataset_file::load(dir, cache, large_pages) {
        Ok(Some(d)) => {
            tracing::info!(
                path = %super::dataset_file::path_for(dir, &seed_of(cache)).display(),
                secs = format_args!("{:.1}", start.elapsed().as_secs_f64()),
                "RandomX dataset loaded from its saved file (checksum and {} sampled items \
                 checked)",
                super::dataset_file::SAMPLE_ITEMS
            );
            Some(d)
        }
        Ok(None) => None,
        Err(e) => {
            let path = super::dataset_file::path_for(dir, &seed_of(cache));
            tracing::warn!(
                path = %path.display(),
                error = %e,
                "saved RandomX dataset not usable: deleting it and building the dataset"
            );
            let _ = std::fs::remove_file(&path);
            None
        }
    }
}

fn seed_of(cache: &otedama_randomx::Cache) -> [u8; 32] {
    <[u8; 32]>::try_from(cache.key()).unwrap_or_default()
}

/// Saves a dataset just built, so the next start loads it in seconds.
fn save_built(dir: &std::path::Path, seed: &[u8; 32], dataset: &Dataset) {
    let start = Instant::now();
    match super::dataset_file::save(dir, seed, dataset) {
        Ok(path) => tracing::info!(
            path = %path.display(),
            mib = dataset.bytes() / MIB,
            secs = format_args!("{:.1}", start.elapsed().as_secs_f64()),
            "RandomX dataset saved for the next start"
        ),
        Err(e) => tracing::warn!(
            dir = %dir.display(),
            error = %e,
            "cannot save the RandomX dataset (the next start builds it again)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_parsed_in_bytes() {
        let text = "MemTotal:       24576000 kB\nMemFree:         1000 kB\n\
                    MemAvailable:   22020096 kB\nBuffers: 1 kB\n";
        assert_eq!(parse_mem_available(text), Some(22_020_096 * 1024));
        assert_eq!(parse_mem_available("MemFree: 5 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: x kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: 5 MB\n"), None);
        assert_eq!(dataset_bytes(), 34_078_719 * 64);
    }
}
