//! Safe binding to RandomX, the proof of work of Monero, through the system's reference library
//! (Debian's `librandomx-dev` 1.1.10, tevador's own C++ implementation).
//!
//! Why a binding of our own rather than `rust-randomx` or `randomx-rs` is written down in
//! docs/architecture.md ("RandomX"). In short: the reference library computes the hashes (a
//! re-implementation would be a consensus risk), and this crate only owns what a binding gets
//! wrong easily — lifetimes, thread safety and the split of the dataset's initialisation:
//!
//! * [`Cache`]: light mode, 256 MiB, keyed by the seed. Read-only once built, so `Send + Sync`
//!   and shared between threads behind an [`Arc`].
//! * [`Dataset`]: fast mode, about 2 GiB, built from a cache by `n` threads that split
//!   `[0, item_count)` into `n` contiguous ranges whose union is exactly the whole
//!   ([`split_items`]). Read-only once built, so `Send + Sync`.
//! * [`DatasetBuilder`]: the same dataset initialised chunk by chunk by whichever threads call
//!   [`DatasetBuilder::work`] (each chunk claimed by exactly one of them), handed out only once
//!   every chunk is written: how miners build a dataset on their own worker threads, between
//!   batches of hashing, without a separate pool of threads.
//! * [`Vm`]: a virtual machine over a cache or a dataset that it keeps alive. Hashing mutates the
//!   machine's scratchpad and registers, so [`Vm::hash`] takes `&mut self` and `Vm` is `Send`
//!   but not `Sync`: one machine per thread, enforced by the compiler. [`Vm::hash_first`] /
//!   [`Vm::hash_next`] pipeline consecutive hashes (the library fills the next input's
//!   scratchpad while it hashes the current one's), which is how a miner hashes.
//!
//! ```
//! fn send<T: Send>() {}
//! send::<otedama_randomx::Vm>(); // a machine moves to a worker thread
//! fn send_sync<T: Send + Sync>() {}
//! send_sync::<otedama_randomx::Cache>();
//! send_sync::<otedama_randomx::Dataset>();
//! ```
//!
//! ```compile_fail,E0277
//! fn sync<T: Sync>() {}
//! sync::<otedama_randomx::Vm>(); // a machine cannot be shared between threads
//! ```
//!
//! Allocation failures (no memory, no large pages, no executable memory for the JIT) are
//! [`Error`]s, never panics or aborts: the library returns null and this crate checks every
//! pointer.

mod ffi;

/// The pipelined hashing functions of `randomx.h` (1.1.10), declared as in [`ffi`].
mod ffi_pipeline {
    use super::ffi::randomx_vm;
    use std::ffi::c_void;

    #[link(name = "randomx")]
    extern "C" {
        pub fn randomx_calculate_hash_first(
            vm: *mut randomx_vm,
            input: *const c_void,
            input_size: usize,
        );
        pub fn randomx_calculate_hash_next(
            vm: *mut randomx_vm,
            next_input: *const c_void,
            next_input_size: usize,
            output: *mut c_void,
        );
        pub fn randomx_calculate_hash_last(vm: *mut randomx_vm, output: *mut c_void);
    }
}

use std::ffi::{c_ulong, c_void};
use std::marker::PhantomData;
use std::ops::Range;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bytes of a RandomX hash (`RANDOMX_HASH_SIZE`).
pub const HASH_SIZE: usize = ffi::HASH_SIZE;
/// Bytes of one dataset item (`RANDOMX_DATASET_ITEM_SIZE`).
pub const DATASET_ITEM_SIZE: usize = ffi::DATASET_ITEM_SIZE;
/// Bytes of a cache: `RANDOMX_ARGON_MEMORY` = 262,144 KiB of Argon2d memory (Monero's
/// configuration, the library's default).
pub const CACHE_BYTES: u64 = 262_144 * 1024;

/// What went wrong; allocation failures are reported, not turned into panics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `randomx_alloc_cache` returned null: out of memory, or no large pages (when required),
    /// or no executable memory for the JIT compiler.
    #[error(
        "RandomX could not allocate a cache ({CACHE_BYTES} bytes, large pages: {large_pages})"
    )]
    CacheAlloc { large_pages: bool },
    /// `randomx_alloc_dataset` returned null (about 2 GiB are needed).
    #[error("RandomX could not allocate a dataset ({bytes} bytes, large pages: {large_pages})")]
    DatasetAlloc { bytes: u64, large_pages: bool },
    /// `randomx_create_vm` returned null (scratchpad allocation or JIT memory failed).
    #[error("RandomX could not create a virtual machine (flags {flags:#x})")]
    VmCreate { flags: u32 },
    /// A dataset needs at least one initialisation thread.
    #[error("dataset initialisation needs at least one thread")]
    NoThreads,
    /// The operating system refused to start an initialisation thread.
    #[error("cannot start a dataset initialisation thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// An initialisation thread ended abnormally; the dataset is not used.
    #[error("a dataset initialisation thread failed")]
    InitThread,
    /// The library reports a dataset size this platform cannot address.
    #[error("dataset of {items} items does not fit this platform's address space")]
    DatasetTooLarge { items: u64 },
}

/// Why [`Dataset::load_with`] refused a saved dataset.
#[derive(Debug, thiserror::Error)]
pub enum LoadError<E> {
    #[error(transparent)]
    Alloc(Error),
    #[error("filling the dataset: {0}")]
    Fill(E),
    #[error("sample item {item} is past the dataset's end")]
    SampleOutOfRange { item: u64 },
    /// The saved item differs from the one the cache computes: another key, another library,
    /// or damage.
    #[error("dataset item {item} differs from the one the cache computes")]
    Mismatch { item: u64 },
}

/// Whether to back memory with large (2 MiB) pages. They make hashing about a third faster but
/// need pages reserved by the administrator (`vm.nr_hugepages`), which most machines lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LargePages {
    /// Ordinary pages only.
    #[default]
    Off,
    /// Large pages if the system has them, else ordinary pages (see `large_pages()` on the
    /// object for what was obtained). A [`Dataset`] on ordinary pages is then also advised to
    /// the kernel's transparent huge pages (Linux `madvise(MADV_HUGEPAGE)`, honoured when
    /// `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise`): with no pages
    /// reserved, that is what makes fast-mode hashing about twice as fast on 4 KB-page systems
    /// ([`Dataset::pages`], [`Dataset::huge_page_bytes`] say what was obtained).
    Prefer,
    /// Large pages or an error.
    Require,
}

/// The library's flags (`randomx_flags`), a bit set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flags(u32);

impl Flags {
    /// Portable interpreter, software AES: works everywhere, slowest.
    pub const DEFAULT: Flags = Flags(ffi::FLAG_DEFAULT as u32);
    pub const LARGE_PAGES: Flags = Flags(ffi::FLAG_LARGE_PAGES as u32);
    pub const HARD_AES: Flags = Flags(ffi::FLAG_HARD_AES as u32);
    pub const FULL_MEM: Flags = Flags(ffi::FLAG_FULL_MEM as u32);
    pub const JIT: Flags = Flags(ffi::FLAG_JIT as u32);
    /// W^X JIT pages, for systems that forbid writable executable memory.
    pub const SECURE: Flags = Flags(ffi::FLAG_SECURE as u32);
    pub const ARGON2_SSSE3: Flags = Flags(ffi::FLAG_ARGON2_SSSE3 as u32);
    pub const ARGON2_AVX2: Flags = Flags(ffi::FLAG_ARGON2_AVX2 as u32);

    /// What the library recommends for this CPU (`randomx_get_flags`): JIT, hardware AES and
    /// the Argon2 SIMD variant when the CPU has them. Never large pages or full memory: those
    /// are choices of the caller.
    pub fn recommended() -> Flags {
        // SAFETY: no arguments, no state; the result is a plain bit set.
        Flags(unsafe { ffi::randomx_get_flags() } as u32)
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    fn raw(self) -> ffi::Flags {
        // Every defined flag is below 2^7, far inside `int`.
        self.0 as ffi::Flags
    }
}

/// Number of items in a dataset (`randomx_dataset_item_count`): 34,078,719 for Monero's
/// configuration, (2 GiB + 32 MiB - 64) / 64.
pub fn dataset_item_count() -> u64 {
    // SAFETY: a constant of the library's configuration.
    #[allow(clippy::useless_conversion)] // c_ulong is u32 on some platforms
    u64::from(unsafe { ffi::randomx_dataset_item_count() })
}

/// Splits the items `[0, count)` into `parts` contiguous ranges for the initialisation threads:
/// range `i` is `[count*i/parts, count*(i+1)/parts)`. The ranges are in order, the first starts
/// at 0, each starts where the previous ends and the last ends at `count` (because
/// `count*parts/parts = count`), so together they cover every item exactly once, whatever the
/// remainder of `count / parts`. Sizes differ by at most one. Products are taken in `u128`, so
/// no value of `count` or `parts` overflows. `parts = 0` gives no ranges.
pub fn split_items(count: u64, parts: u64) -> impl Iterator<Item = Range<u64>> {
    let bound = move |i: u64| -> u64 {
        // count*i/parts <= count because i <= parts, so the quotient fits in u64.
        (u128::from(count) * u128::from(i) / u128::from(parts.max(1))) as u64
    };
    (0..parts).map(move |i| bound(i)..bound(i + 1))
}

/// Allocates with large pages first when asked, falling back to ordinary pages for
/// [`LargePages::Prefer`]. Returns the pointer and whether it has large pages.
fn alloc_with<T>(
    base: Flags,
    large_pages: LargePages,
    alloc: impl Fn(Flags) -> *mut T,
) -> Option<(NonNull<T>, bool)> {
    let base = base.without(Flags::LARGE_PAGES);
    if large_pages != LargePages::Off {
        if let Some(p) = NonNull::new(alloc(base.with(Flags::LARGE_PAGES))) {
            return Some((p, true));
        }
        if large_pages == LargePages::Require {
            return None;
        }
    }
    NonNull::new(alloc(base)).map(|p| (p, false))
}

/// A light-mode cache for one key (Monero: the seed block's hash). Building one runs Argon2d
/// over 256 MiB (about half a second per core).
pub struct Cache {
    ptr: NonNull<ffi::randomx_cache>,
    flags: Flags,
    large_pages: bool,
    key: Vec<u8>,
}

// SAFETY: after `randomx_init_cache` (inside `Cache::new`) the library only reads the cache:
// light-mode machines and `randomx_init_dataset` take it as input. Nothing in this crate writes
// it again, so sharing and sending it between threads is sound; the reference miner does the
// same.
unsafe impl Send for Cache {}
unsafe impl Sync for Cache {}

impl Cache {
    /// Allocates a cache and initialises it with `key`. `flags` are usually
    /// [`Flags::recommended`]; `FULL_MEM` and `LARGE_PAGES` in them are ignored (large pages are
    /// the `large_pages` argument). Machines made from this cache use the same flags, since a
    /// JIT machine needs a cache allocated for the JIT.
    pub fn new(key: &[u8], flags: Flags, large_pages: LargePages) -> Result<Cache, Error> {
        let flags = flags.without(Flags::FULL_MEM).without(Flags::LARGE_PAGES);
        // SAFETY: the allocator takes flags only and returns null on failure.
        let (ptr, large) = alloc_with(flags, large_pages, |f| unsafe {
            ffi::randomx_alloc_cache(f.raw())
        })
        .ok_or(Error::CacheAlloc {
            large_pages: large_pages == LargePages::Require,
        })?;
        // SAFETY: `ptr` is a fresh cache; the key is read for `key.len()` bytes only.
        unsafe { ffi::randomx_init_cache(ptr.as_ptr(), key.as_ptr().cast::<c_void>(), key.len()) };
        Ok(Cache {
            ptr,
            flags,
            large_pages: large,
            key: key.to_vec(),
        })
    }

    pub fn key(&self) -> &[u8] {
        &self.key
    }

    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether the cache got large pages.
    pub fn large_pages(&self) -> bool {
        self.large_pages
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SAFETY: allocated by `randomx_alloc_cache`, released once; every machine using it
        // holds an `Arc<Cache>`, so none outlives it.
        unsafe { ffi::randomx_release_cache(self.ptr.as_ptr()) }
    }
}

/// A raw pointer handed to the initialisation threads, each of which writes only its own range
/// of items.
struct SendPtr<T>(*mut T);
// SAFETY: see `Dataset::new`: the threads write disjoint item ranges and only read the cache.
unsafe impl<T> Send for SendPtr<T> {}
impl<T> SendPtr<T> {
    /// Taking `&self` makes closures capture the whole wrapper, not its non-`Send` field.
    fn get(&self) -> *mut T {
        self.0
    }
}

/// What backs a dataset's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pages {
    /// Large pages the administrator reserved (`vm.nr_hugepages`), from the library's
    /// `RANDOMX_FLAG_LARGE_PAGES` allocation.
    Large,
    /// Ordinary pages advised to the kernel's transparent huge pages
    /// (`madvise(MADV_HUGEPAGE)`); how much the kernel granted is
    /// [`Dataset::huge_page_bytes`].
    TransparentAdvised,
    /// Ordinary (4 KB) pages.
    Small,
}

/// Linux's `MADV_HUGEPAGE` (asm-generic/mman-common.h), declared here rather than taking the
/// `libc` crate for one call.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod thp {
    use std::ffi::{c_int, c_void};
    const MADV_HUGEPAGE: c_int = 14;
    const PAGE: usize = 4096;
    extern "C" {
        fn madvise(addr: *mut c_void, length: usize, advice: c_int) -> c_int;
    }

    /// Advises `[ptr, ptr + len)` (widened to whole 4 KB pages) to transparent huge pages;
    /// whether the kernel took the advice.
    pub(super) fn advise(ptr: *mut u8, len: usize) -> bool {
        let start = ptr as usize & !(PAGE - 1);
        let end = (ptr as usize).saturating_add(len).saturating_add(PAGE - 1) & !(PAGE - 1);
        // SAFETY: MADV_HUGEPAGE only sets a hint on the mappings in the range (the dataset's own
        // allocation, widened to the pages holding its first and last bytes, which belong to the
        // same anonymous mapping); it never changes their contents or frees anything.
        unsafe { madvise(start as *mut c_void, end - start, MADV_HUGEPAGE) == 0 }
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod thp {
    pub(super) fn advise(_ptr: *mut u8, _len: usize) -> bool {
        false
    }
}

/// Bytes of `[start, start + len)`'s mappings that the kernel backs with transparent huge pages
/// (`AnonHugePages` of the overlapping mappings in `/proc/self/smaps`); `None` where that file
/// cannot be read (not Linux).
fn anon_huge_bytes(start: usize, len: usize) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let end = start.saturating_add(len);
    let mut inside = false;
    let mut total = 0u64;
    for line in smaps.lines() {
        // A mapping starts with "lo-hi perms offset dev inode [path]".
        if let Some((range, _)) = line.split_once(' ') {
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = lo < end && hi > start;
                    continue;
                }
            }
        }
        if inside {
            if let Some(v) = line.strip_prefix("AnonHugePages:") {
                let kb = v.trim().trim_end_matches("kB").trim();
                total += kb.parse::<u64>().unwrap_or(0) * 1024;
            }
        }
    }
    Some(total)
}

/// A fast-mode dataset (about 2 GiB), built from a cache. It does not need the cache afterwards.
pub struct Dataset {
    ptr: NonNull<ffi::randomx_dataset>,
    flags: Flags,
    pages: Pages,
    items: u64,
    key: Vec<u8>,
}

// SAFETY: written only inside `Dataset::new` or by a `DatasetBuilder` (which hands the dataset
// out only once every item is written); afterwards fast-mode machines only read it.
unsafe impl Send for Dataset {}
unsafe impl Sync for Dataset {}

impl Dataset {
    /// Allocates a dataset for `cache`'s key, not yet initialised; with `Prefer`, memory on
    /// ordinary pages is advised to transparent huge pages before anything touches it.
    fn alloc(cache: &Cache, large_pages: LargePages) -> Result<Dataset, Error> {
        let items = dataset_item_count();
        let bytes = items.saturating_mul(DATASET_ITEM_SIZE as u64);
        if usize::try_from(bytes).is_err() || c_ulong::try_from(items).is_err() {
            return Err(Error::DatasetTooLarge { items });
        }
        // SAFETY: the allocator takes flags only and returns null on failure.
        let (ptr, large) = alloc_with(Flags::DEFAULT, large_pages, |f| unsafe {
            ffi::randomx_alloc_dataset(f.raw())
        })
        .ok_or(Error::DatasetAlloc {
            bytes,
            large_pages: large_pages == LargePages::Require,
        })?;
        let mut dataset = Dataset {
            ptr,
            flags: cache.flags,
            pages: if large { Pages::Large } else { Pages::Small },
            items,
            key: cache.key.clone(),
        };
        if !large && large_pages == LargePages::Prefer {
            // SAFETY: the start of the allocation just made; no item is written yet.
            let mem = unsafe { ffi::randomx_get_dataset_memory(dataset.ptr.as_ptr()) };
            // `bytes` fits usize (checked above).
            if !mem.is_null() && thp::advise(mem.cast::<u8>(), bytes as usize) {
                dataset.pages = Pages::TransparentAdvised;
            }
        }
        Ok(dataset)
    }

    /// Allocates a dataset and initialises every item from `cache` with `threads` threads, each
    /// computing one range of [`split_items`]. The machines made from it use the cache's flags
    /// plus `FULL_MEM`.
    pub fn new(cache: &Cache, threads: usize, large_pages: LargePages) -> Result<Dataset, Error> {
        if threads == 0 {
            return Err(Error::NoThreads);
        }
        let dataset = Dataset::alloc(cache, large_pages)?;
        let items = dataset.items;
        // More threads than items would only add empty ranges.
        let parts = u64::try_from(threads).unwrap_or(u64::MAX).min(items.max(1));
        let result = std::thread::scope(|scope| -> Result<(), Error> {
            let mut handles = Vec::new();
            for range in split_items(items, parts) {
                let ds = SendPtr(dataset.ptr.as_ptr());
                let cp = SendPtr(cache.ptr.as_ptr());
                // Both bounds fit in c_ulong: they are at most `items`, checked in `alloc`.
                let start = range.start as c_ulong;
                let count = (range.end - range.start) as c_ulong;
                let handle = std::thread::Builder::new()
                    .name("randomx-init".into())
                    .spawn_scoped(scope, move || {
                        // SAFETY: the dataset is live for the whole scope; this thread writes
                        // items [start, start+count) only, disjoint from every other thread's
                        // (split_items), and inside [0, items); the cache is only read.
                        unsafe { ffi::randomx_init_dataset(ds.get(), cp.get(), start, count) }
                    });
                match handle {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        // The threads already started finish when the scope ends; the dataset
                        // is then dropped unused.
                        return Err(Error::Spawn(e));
                    }
                }
            }
            let mut ok = true;
            for h in handles {
                ok &= h.join().is_ok();
            }
            if ok {
                Ok(())
            } else {
                Err(Error::InitThread)
            }
        });
        result.map(|()| dataset)
    }

    /// A dataset for `cache`'s key whose bytes come from `fill` (a copy this machine saved
    /// earlier) instead of being computed, then checked against the cache: each item of
    /// `samples` is recomputed from the cache and must equal what `fill` wrote. `fill` gets the
    /// whole memory (`item_count() * DATASET_ITEM_SIZE` bytes) and must write all of it.
    ///
    /// Why: building a dataset costs minutes of CPU on a small machine, reading 2 GiB back costs
    /// seconds. The samples catch a copy made for another key or by another library version;
    /// the caller's own checksum catches damage to single bytes.
    pub fn load_with<E>(
        cache: &Cache,
        large_pages: LargePages,
        samples: &[u64],
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Dataset, LoadError<E>> {
        let dataset = Dataset::alloc(cache, large_pages).map_err(LoadError::Alloc)?;
        let len = dataset.items as usize * DATASET_ITEM_SIZE;
        // SAFETY: the allocation holds `items` items (size checked in `alloc`) and is owned by
        // `dataset` alone: no machine exists yet, so this is the only reference to it.
        let memory = unsafe {
            let p = ffi::randomx_get_dataset_memory(dataset.ptr.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts_mut(p, len)
        };
        fill(memory).map_err(LoadError::Fill)?;
        for &item in samples {
            if item >= dataset.items {
                return Err(LoadError::SampleOutOfRange { item });
            }
            let at = item as usize * DATASET_ITEM_SIZE;
            let mut loaded = [0u8; DATASET_ITEM_SIZE];
            loaded.copy_from_slice(&memory[at..at + DATASET_ITEM_SIZE]);
            // SAFETY: item < items (checked), exclusive as above; the cache is only read. The
            // library writes exactly that one item.
            unsafe {
                ffi::randomx_init_dataset(
                    dataset.ptr.as_ptr(),
                    cache.ptr.as_ptr(),
                    item as c_ulong,
                    1,
                )
            };
            if memory[at..at + DATASET_ITEM_SIZE] != loaded {
                return Err(LoadError::Mismatch { item });
            }
        }
        Ok(dataset)
    }

    pub fn item_count(&self) -> u64 {
        self.items
    }

    /// Bytes of the dataset: `item_count() * DATASET_ITEM_SIZE` (2,181,038,016 for Monero).
    pub fn bytes(&self) -> u64 {
        self.items * DATASET_ITEM_SIZE as u64
    }

    /// The key of the cache this dataset was built from.
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Whether the dataset got reserved large pages ([`Pages::Large`]).
    pub fn large_pages(&self) -> bool {
        self.pages == Pages::Large
    }

    /// What backs the dataset's memory.
    pub fn pages(&self) -> Pages {
        self.pages
    }

    /// Bytes of the dataset on 2 MiB pages: all of it for [`Pages::Large`]; for the others what
    /// the kernel backs with transparent huge pages now (Linux `/proc/self/smaps`; `None`
    /// elsewhere). Reads a file of the size of the process's mappings: for logs, not loops.
    pub fn huge_page_bytes(&self) -> Option<u64> {
        if self.pages == Pages::Large {
            return Some(self.bytes());
        }
        // SAFETY: the start of the dataset's allocation; nothing is read or written through it.
        let mem = unsafe { ffi::randomx_get_dataset_memory(self.ptr.as_ptr()) };
        anon_huge_bytes(mem as usize, self.bytes() as usize)
    }

    /// The dataset's bytes: `item_count() * DATASET_ITEM_SIZE`, every item initialised.
    pub fn memory(&self) -> &[u8] {
        // SAFETY: the library returns the start of the dataset's allocation, which holds
        // `items` items (size checked to fit `usize` in `alloc`), all written by `new` or a
        // completed `DatasetBuilder` and never written again; the slice borrows `self`, which
        // owns the allocation.
        unsafe {
            let p = ffi::randomx_get_dataset_memory(self.ptr.as_ptr()).cast::<u8>();
            std::slice::from_raw_parts(p, self.items as usize * DATASET_ITEM_SIZE)
        }
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: allocated by `randomx_alloc_dataset`, released once; machines hold an Arc.
        unsafe { ffi::randomx_release_dataset(self.ptr.as_ptr()) }
    }
}

/// A dataset initialised chunk by chunk by any threads that call [`DatasetBuilder::work`].
///
/// The items `[0, item_count)` are cut into chunks of [`DatasetBuilder::chunk_items`] items;
/// `work` claims the next chunk with an atomic counter (so each chunk is written by exactly one
/// thread, and no two threads write the same item) and initialises it on the calling thread.
/// The dataset is handed out by [`DatasetBuilder::dataset`] only after every chunk is written
/// (each chunk's completion is released, the hand-out acquires them all), so no machine ever
/// reads an item being written. A miner's worker threads call `work` between batches of
/// hashing: the dataset is built by all of them, however busy each one is, and a thread
/// returns to its own work after at most one chunk (~0.1 s on a current core at the default
/// size).
pub struct DatasetBuilder {
    dataset: Arc<Dataset>,
    cache: Arc<Cache>,
    chunk_items: u64,
    chunks: u64,
    claimed: AtomicU64,
    done: AtomicU64,
    started: std::time::Instant,
}

impl DatasetBuilder {
    /// Items per chunk by default: 65,536 (4 MiB of dataset, 521 chunks in all).
    pub const DEFAULT_CHUNK_ITEMS: u64 = 1 << 16;

    /// Allocates a dataset for `cache`'s key (nothing is computed yet), in chunks of
    /// [`DatasetBuilder::DEFAULT_CHUNK_ITEMS`].
    pub fn new(cache: Arc<Cache>, large_pages: LargePages) -> Result<DatasetBuilder, Error> {
        DatasetBuilder::with_chunk_items(cache, large_pages, Self::DEFAULT_CHUNK_ITEMS)
    }

    /// Like [`DatasetBuilder::new`] with `chunk_items` items per chunk (at least 1).
    pub fn with_chunk_items(
        cache: Arc<Cache>,
        large_pages: LargePages,
        chunk_items: u64,
    ) -> Result<DatasetBuilder, Error> {
        let dataset = Dataset::alloc(&cache, large_pages)?;
        let chunk_items = chunk_items.max(1);
        let chunks = dataset.items.div_ceil(chunk_items);
        Ok(DatasetBuilder {
            dataset: Arc::new(dataset),
            cache,
            chunk_items,
            chunks,
            claimed: AtomicU64::new(0),
            done: AtomicU64::new(0),
            started: std::time::Instant::now(),
        })
    }

    /// Claims the next chunk nobody has claimed and initialises it on this thread. `false`
    /// (and nothing done) when every chunk is already claimed; the dataset is complete once
    /// the threads working on the last chunks return.
    pub fn work(&self) -> bool {
        let chunk = self.claimed.fetch_add(1, Ordering::Relaxed);
        if chunk >= self.chunks {
            return false;
        }
        let items = self.dataset.items;
        let start = chunk * self.chunk_items;
        let count = self.chunk_items.min(items - start);
        // SAFETY: `chunk` was handed to this thread alone by the counter, so items
        // [start, start+count) (inside [0, items), which fits c_ulong: checked in `alloc`) are
        // written by this call only; nobody reads them before `done` reaches `chunks`, since
        // the dataset is not handed out before; the cache is only read, and both are kept
        // alive by `self`.
        unsafe {
            ffi::randomx_init_dataset(
                self.dataset.ptr.as_ptr(),
                self.cache.ptr.as_ptr(),
                start as c_ulong,
                count as c_ulong,
            )
        };
        self.done.fetch_add(1, Ordering::Release);
        true
    }

    /// Whether every chunk has been claimed (the dataset may still be waiting for the last
    /// ones to finish).
    pub fn all_claimed(&self) -> bool {
        self.claimed.load(Ordering::Relaxed) >= self.chunks
    }

    /// Chunks written so far.
    pub fn chunks_done(&self) -> u64 {
        self.done.load(Ordering::Relaxed).min(self.chunks)
    }

    /// Chunks in all.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    pub fn chunk_items(&self) -> u64 {
        self.chunk_items
    }

    /// The complete dataset, once every chunk is written; `None` before.
    pub fn dataset(&self) -> Option<Arc<Dataset>> {
        // Acquire pairs with every chunk's Release increment (a release sequence of RMWs): all
        // items written by all threads are visible to whoever gets the dataset.
        (self.done.load(Ordering::Acquire) >= self.chunks).then(|| self.dataset.clone())
    }

    /// The key the dataset is built for.
    pub fn key(&self) -> &[u8] {
        self.dataset.key()
    }

    /// What backs the dataset's memory.
    pub fn pages(&self) -> Pages {
        self.dataset.pages()
    }

    /// When the builder was created (the dataset allocated).
    pub fn started(&self) -> std::time::Instant {
        self.started
    }
}

/// What a machine reads its dataset items from; kept alive as long as the machine.
enum Backing {
    Light(Arc<Cache>),
    Fast(Arc<Dataset>),
}

/// A RandomX virtual machine. Hashing rewrites its 2 MiB scratchpad, so it is `Send` (move it
/// to a worker thread) but not `Sync` (never two hashes at once).
pub struct Vm {
    ptr: NonNull<ffi::randomx_vm>,
    flags: Flags,
    backing: Backing,
    /// A hash begun by [`Vm::hash_first`] / [`Vm::hash_next`] whose result is still due.
    pending: bool,
    /// `NonNull` already makes `Vm` neither `Send` nor `Sync`; this says so on purpose.
    _not_sync: PhantomData<std::cell::Cell<()>>,
}

// SAFETY: a machine has no thread affinity; moving it moves exclusive ownership of its
// scratchpad, and its cache or dataset is `Sync`.
unsafe impl Send for Vm {}

impl Vm {
    /// A light-mode machine: about 8 times slower per hash than fast mode, but only the 256 MiB
    /// cache (shared) and a 2 MiB scratchpad. What a validating node uses.
    pub fn light(cache: Arc<Cache>) -> Result<Vm, Error> {
        let flags = cache.flags;
        let large = if cache.large_pages {
            LargePages::Prefer
        } else {
            LargePages::Off
        };
        let cp = cache.ptr.as_ptr();
        // SAFETY: `cp` is an initialised cache allocated with these flags (JIT included), and it
        // lives as long as the machine through the Arc stored in it.
        let (ptr, _) = alloc_with(flags, large, |f| unsafe {
            ffi::randomx_create_vm(f.raw(), cp, std::ptr::null_mut())
        })
        .ok_or(Error::VmCreate { flags: flags.0 })?;
        Ok(Vm {
            ptr,
            flags,
            backing: Backing::Light(cache),
            pending: false,
            _not_sync: PhantomData,
        })
    }

    /// A fast-mode machine over a full dataset: what a miner uses.
    pub fn fast(dataset: Arc<Dataset>) -> Result<Vm, Error> {
        let flags = dataset.flags.with(Flags::FULL_MEM);
        let large = if dataset.large_pages() {
            LargePages::Prefer
        } else {
            LargePages::Off
        };
        let dp = dataset.ptr.as_ptr();
        // SAFETY: `dp` is an initialised dataset that lives as long as the machine; with
        // FULL_MEM the library needs no cache.
        let (ptr, _) = alloc_with(flags, large, |f| unsafe {
            ffi::randomx_create_vm(f.raw(), std::ptr::null_mut(), dp)
        })
        .ok_or(Error::VmCreate { flags: flags.0 })?;
        Ok(Vm {
            ptr,
            flags,
            backing: Backing::Fast(dataset),
            pending: false,
            _not_sync: PhantomData,
        })
    }

    /// The RandomX hash of `input` (any length) under this machine's key. Discards a pipelined
    /// hash in progress ([`Vm::hash_first`]): this one overwrites the scratchpad it filled.
    pub fn hash(&mut self, input: &[u8]) -> [u8; HASH_SIZE] {
        self.pending = false;
        let mut out = [0u8; HASH_SIZE];
        // SAFETY: `&mut self` gives exclusive use of the machine; input is read for its length,
        // output has RANDOMX_HASH_SIZE bytes.
        unsafe {
            ffi::randomx_calculate_hash(
                self.ptr.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
            )
        };
        out
    }

    /// Begins a pipelined hash of `input` (`randomx_calculate_hash_first`): hashes the input
    /// and fills the scratchpad from it. Its result comes from the next [`Vm::hash_next`] or
    /// [`Vm::hash_last`]. A hash begun earlier and not yet taken is discarded.
    ///
    /// Pipelining is how a miner hashes consecutive nonces: `hash_next` finishes the previous
    /// input and fills the scratchpad for the next in one pass over it (the reference
    /// `randomx_calculate_hash_next`), saving one of the two passes a plain [`Vm::hash`] makes.
    /// The results are exactly [`Vm::hash`]'s. Like the library's own functions, these may
    /// leave the thread's floating-point rounding mode changed.
    pub fn hash_first(&mut self, input: &[u8]) {
        // SAFETY: `&mut self` gives exclusive use of the machine; input is read for its length
        // (the library hashes it at once and keeps no pointer to it).
        unsafe {
            ffi_pipeline::randomx_calculate_hash_first(
                self.ptr.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
            )
        };
        self.pending = true;
    }

    /// The hash of the input begun last ([`Vm::hash_first`] or the previous `hash_next`), and
    /// begins `next_input`'s. With nothing begun, begins `next_input` and returns `None`.
    pub fn hash_next(&mut self, next_input: &[u8]) -> Option<[u8; HASH_SIZE]> {
        if !self.pending {
            self.hash_first(next_input);
            return None;
        }
        let mut out = [0u8; HASH_SIZE];
        // SAFETY: exclusive use of the machine, whose pending state was set by a `first` or
        // `next` call (the `pending` flag); the next input is read for its length and not kept;
        // output has RANDOMX_HASH_SIZE bytes.
        unsafe {
            ffi_pipeline::randomx_calculate_hash_next(
                self.ptr.as_ptr(),
                next_input.as_ptr().cast::<c_void>(),
                next_input.len(),
                out.as_mut_ptr().cast::<c_void>(),
            )
        };
        Some(out)
    }

    /// The hash of the input begun last, ending the pipeline; `None` with nothing begun.
    pub fn hash_last(&mut self) -> Option<[u8; HASH_SIZE]> {
        if !self.pending {
            return None;
        }
        let mut out = [0u8; HASH_SIZE];
        // SAFETY: as in `hash_next`, without a next input.
        unsafe {
            ffi_pipeline::randomx_calculate_hash_last(self.ptr.as_ptr(), out.as_mut_ptr().cast())
        };
        self.pending = false;
        Some(out)
    }

    /// Whether a pipelined hash has been begun and not yet taken.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether this machine reads a full dataset (fast mode).
    pub fn is_fast(&self) -> bool {
        matches!(self.backing, Backing::Fast(_))
    }

    /// The key the machine hashes under.
    pub fn key(&self) -> &[u8] {
        match &self.backing {
            Backing::Light(c) => c.key(),
            Backing::Fast(d) => d.key(),
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        // SAFETY: created by `randomx_create_vm`, destroyed once, before its backing (fields
        // drop after this).
        unsafe { ffi::randomx_destroy_vm(self.ptr.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_split(count: u64, parts: u64) {
        let ranges: Vec<Range<u64>> = split_items(count, parts).collect();
        assert_eq!(ranges.len() as u64, parts);
        if parts == 0 {
            return;
        }
        assert_eq!(ranges[0].start, 0);
        assert_eq!(ranges[ranges.len() - 1].end, count);
        for w in ranges.windows(2) {
            assert_eq!(w[0].end, w[1].start, "gap or overlap");
        }
        let (min, max) = ranges.iter().fold((u64::MAX, 0), |(lo, hi), r| {
            let n = r.end - r.start;
            (lo.min(n), hi.max(n))
        });
        assert!(max - min <= 1, "unbalanced split {min}..{max}");
        assert_eq!(ranges.iter().map(|r| r.end - r.start).sum::<u64>(), count);
    }

    #[test]
    fn split_covers_the_real_dataset_exactly() {
        let items = dataset_item_count();
        assert_eq!(items, 34_078_719, "Monero's configuration");
        for parts in 1..=64 {
            check_split(items, parts);
        }
    }

    proptest! {
        #[test]
        fn split_covers_every_item_once(count in any::<u64>(), parts in 1u64..10_000) {
            check_split(count, parts);
        }
    }

    #[test]
    fn split_extremes() {
        check_split(0, 3);
        check_split(u64::MAX, 7);
        check_split(u64::MAX, 1);
        check_split(5, 0);
        check_split(2, 7);
    }

    #[test]
    fn flags_arithmetic() {
        let f = Flags::JIT.with(Flags::HARD_AES);
        assert!(f.contains(Flags::JIT) && !f.contains(Flags::FULL_MEM));
        assert_eq!(f.without(Flags::JIT), Flags::HARD_AES);
        assert!(!Flags::recommended().contains(Flags::LARGE_PAGES));
    }

    #[test]
    fn pipelined_hashes_equal_plain_hashes() {
        let cache =
            Arc::new(Cache::new(b"pipeline", Flags::recommended(), LargePages::Off).unwrap());
        let mut plain = Vm::light(cache.clone()).unwrap();
        let mut piped = Vm::light(cache).unwrap();
        let inputs: Vec<Vec<u8>> = (0u8..4).map(|i| vec![i; 76 + i as usize]).collect();
        let want: Vec<_> = inputs.iter().map(|i| plain.hash(i)).collect();
        assert_eq!(piped.hash_last(), None, "nothing begun");
        assert_eq!(
            piped.hash_next(&inputs[0]),
            None,
            "next with nothing begun begins"
        );
        assert!(piped.is_pending());
        let mut got = Vec::new();
        for i in &inputs[1..] {
            got.extend(piped.hash_next(i));
        }
        got.extend(piped.hash_last());
        assert!(!piped.is_pending());
        assert_eq!(got, want);
        // A plain hash in between discards the pipeline; starting again works.
        piped.hash_first(&inputs[0]);
        assert_eq!(piped.hash(&inputs[1]), want[1]);
        assert_eq!(piped.hash_last(), None);
        piped.hash_first(&inputs[2]);
        piped.hash_first(&inputs[3]);
        assert_eq!(
            piped.hash_last(),
            Some(want[3]),
            "a second first replaces the first"
        );
    }

    #[test]
    fn no_threads_is_an_error() {
        let cache = Cache::new(b"k", Flags::recommended(), LargePages::Off).expect("cache");
        assert!(matches!(
            Dataset::new(&cache, 0, LargePages::Off),
            Err(Error::NoThreads)
        ));
    }
}
