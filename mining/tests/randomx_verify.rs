//! The validating node's RandomX hasher (issue 17): the memo of results, `prehash` on all cores,
//! and the dataset policies. Hashes are compared with a light machine made directly from
//! `otedama-randomx`, never with remembered values. Every seed costs a 256 MiB cache and about
//! a second; the one dataset (2 GiB, a minute or more on two busy cores) is built in
//! `always_policy_builds_a_dataset_and_fast_equals_light` only, which also saves it and loads it
//! back into a second hasher (a restarted node).

use std::sync::Arc;
use std::time::{Duration, Instant};

use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_mining::randomx_pow::{
    dataset_file, DatasetPolicy, HashMode, PrehashReport, RandomXConfig, RandomXHasher,
};
use otedama_randomx::{Cache, Flags, LargePages, Vm};

const SEED_A: [u8; 32] = *b"otedama randomx_verify seed A 01";
const SEED_B: [u8; 32] = *b"otedama randomx_verify seed B 02";
const UNKNOWN: [u8; 32] = [0xee; 32];

/// `n` distinct 76-byte blobs (a Monero hashing blob's size), the index in the nonce's place.
fn blobs(n: u32, tag: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut b = vec![tag; 76];
            b[39..43].copy_from_slice(&i.to_le_bytes());
            b
        })
        .collect()
}

/// Light hashes straight from the binding, the reference every test compares with.
fn reference(seed: &[u8; 32], blobs: &[Vec<u8>]) -> Vec<[u8; 32]> {
    let cache = Cache::new(seed, Flags::recommended(), LargePages::Off).unwrap();
    let mut vm = Vm::light(Arc::new(cache)).unwrap();
    blobs.iter().map(|b| vm.hash(b)).collect()
}

fn hasher(dataset: DatasetPolicy) -> RandomXHasher {
    RandomXHasher::with_config(RandomXConfig {
        dataset,
        ..RandomXConfig::default()
    })
}

fn pow(h: &RandomXHasher, seed: &[u8; 32], blob: &[u8]) -> Result<[u8; 32], PowError> {
    h.pow_hash(PowInput::RandomX { seed, blob })
}

fn inputs<'a>(seed: &'a [u8; 32], blobs: &'a [Vec<u8>]) -> Vec<PowInput<'a>> {
    blobs
        .iter()
        .map(|blob| PowInput::RandomX { seed, blob })
        .collect()
}

#[test]
fn memo_answers_as_a_fresh_light_hash() {
    let blobs = blobs(4, 0x11);
    let want = reference(&SEED_A, &blobs);
    let h = hasher(DatasetPolicy::Never);
    h.set_seeds(SEED_A, None).unwrap();
    for (blob, want) in blobs.iter().zip(&want) {
        assert_eq!(pow(&h, &SEED_A, blob), Ok(*want), "computed");
    }
    let s = h.stats();
    assert_eq!((s.memo_hits, s.memo_misses, s.light_hashes), (0, 4, 4));
    assert_eq!(s.memo_entries, 4);
    for (blob, want) in blobs.iter().zip(&want) {
        assert_eq!(pow(&h, &SEED_A, blob), Ok(*want), "remembered");
    }
    let s = h.stats();
    assert_eq!((s.memo_hits, s.memo_misses, s.light_hashes), (4, 4, 4));

    // A dropped seed's results are forgotten with it: the answer is UnknownSeed, not the memo.
    h.set_seeds(SEED_B, None).unwrap();
    assert_eq!(
        pow(&h, &SEED_A, &blobs[0]),
        Err(PowError::UnknownSeed(SEED_A))
    );
    assert_eq!(h.stats().memo_entries, 0);

    // Memo off: every call hashes, still the same hash.
    let off = RandomXHasher::with_config(RandomXConfig {
        memo_capacity: 0,
        ..RandomXConfig::default()
    });
    off.set_seeds(SEED_A, None).unwrap();
    for _ in 0..2 {
        assert_eq!(pow(&off, &SEED_A, &blobs[0]), Ok(want[0]));
    }
    let s = off.stats();
    assert_eq!((s.memo_hits, s.light_hashes, s.memo_entries), (0, 2, 0));
}

#[test]
fn prehash_fills_the_memo_and_skips_unknown_seeds() {
    let a = blobs(12, 0x22);
    let b = blobs(3, 0x33);
    let want_a = reference(&SEED_A, &a);
    let want_b = reference(&SEED_B, &b);
    let h = RandomXHasher::with_config(RandomXConfig {
        // More threads than the machine may have, so the work is really shared out.
        threads: 3,
        ..RandomXConfig::default()
    });
    h.set_seeds(SEED_A, Some(SEED_B)).unwrap();

    let mut batch = inputs(&SEED_A, &a);
    batch.extend(inputs(&SEED_B, &b));
    batch.extend(inputs(&UNKNOWN, &a[..2]));
    batch.push(PowInput::RandomX {
        seed: &SEED_A,
        blob: &a[0],
    });
    batch.push(PowInput::Header(&[0u8; 80]));
    let report = h.prehash(&batch);
    assert_eq!(
        report,
        PrehashReport {
            hashed: 15,
            known: 1,
            unknown_seed: 2,
            skipped: 1,
            failed: 0,
        }
    );
    let s = h.stats();
    assert_eq!((s.light_hashes, s.memo_entries, s.memo_hits), (15, 15, 0));

    // The writer's calls are lookups now, with the light machine's hashes.
    for (blob, want) in a.iter().zip(&want_a) {
        assert_eq!(pow(&h, &SEED_A, blob), Ok(*want));
    }
    for (blob, want) in b.iter().zip(&want_b) {
        assert_eq!(pow(&h, &SEED_B, blob), Ok(*want));
    }
    assert_eq!(
        pow(&h, &UNKNOWN, &a[0]),
        Err(PowError::UnknownSeed(UNKNOWN))
    );
    let s = h.stats();
    assert_eq!((s.memo_hits, s.memo_misses, s.light_hashes), (15, 0, 15));

    // A second call finds everything remembered and hashes nothing.
    let again = h.prehash(&batch);
    assert_eq!((again.hashed, again.known), (0, 16));
    assert_eq!(h.stats().light_hashes, 15);

    // Only unknown seeds (or nothing at all): nothing to do, no error.
    let none = h.prehash(&inputs(&UNKNOWN, &a));
    assert_eq!(
        none,
        PrehashReport {
            unknown_seed: 12,
            ..PrehashReport::default()
        }
    );
    assert_eq!(h.prehash(&[]), PrehashReport::default());
    let empty = hasher(DatasetPolicy::Never);
    assert_eq!(empty.prehash(&batch).unknown_seed, 18);
}

#[test]
fn never_policy_never_builds_a_dataset() {
    let h = hasher(DatasetPolicy::Never);
    assert_eq!(h.mode(), HashMode::NoSeed);
    h.set_seeds(SEED_A, Some(SEED_B)).unwrap();
    assert_eq!(
        h.mode(),
        HashMode::Light,
        "decided at once, no build pending"
    );
    assert!(!h.wait_for_dataset(Duration::from_secs(1)));
    let blobs = blobs(4, 0x44);
    h.prehash(&inputs(&SEED_A, &blobs));
    h.set_seeds(SEED_B, None).unwrap();
    assert_eq!(h.mode(), HashMode::Light);
    h.prehash(&inputs(&SEED_B, &blobs));
    let s = h.stats();
    assert_eq!((s.datasets_built, s.fast_hashes, s.light_hashes), (0, 0, 8));
}

#[test]
fn always_policy_builds_a_dataset_and_fast_equals_light() {
    let blobs = blobs(24, 0x55);
    let want = reference(&SEED_A, &blobs);
    let dir = std::env::temp_dir().join(format!("otedama-rx-saved-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = RandomXConfig {
        dataset: DatasetPolicy::Always,
        // The batch below is large enough to wait for the dataset rather than hash light.
        prehash_wait_min: 8,
        dataset_dir: Some(dir.clone()),
        ..RandomXConfig::default()
    };
    let h = RandomXHasher::with_config(config.clone());
    h.set_seeds(SEED_A, None).unwrap();
    assert_eq!(h.mode(), HashMode::BuildingDataset);
    // Until the dataset is ready, hashes are light and right.
    assert_eq!(pow(&h, &SEED_A, &blobs[0]), Ok(want[0]));
    assert_eq!(h.stats().light_hashes, 1);

    // blobs[0] is remembered; the batch waits for the dataset, then fast machines hash the
    // other 23, equal to the light machine's hashes.
    let start = Instant::now();
    let report = h.prehash(&inputs(&SEED_A, &blobs));
    eprintln!(
        "dataset build and 23 fast hashes: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert_eq!((report.hashed, report.known), (23, 1));
    assert_eq!(h.mode(), HashMode::Fast, "{:?}", h.stats());
    assert!(h.wait_for_dataset(Duration::ZERO));
    let s = h.stats();
    assert_eq!(
        (s.datasets_built, s.fast_hashes, s.light_hashes),
        (1, 23, 1)
    );
    for (blob, want) in blobs.iter().zip(&want) {
        assert_eq!(pow(&h, &SEED_A, blob), Ok(*want));
    }
    // Fresh fast hashes through pow_hash too (blobs the memo has not seen).
    let more = self::blobs(3, 0x56);
    let more_want = reference(&SEED_A, &more);
    for (blob, want) in more.iter().zip(&more_want) {
        assert_eq!(pow(&h, &SEED_A, blob), Ok(*want));
    }
    assert_eq!(h.stats().fast_hashes, 26);

    // The next seed is announced: it stays light, the current one keeps its dataset.
    h.set_seeds(SEED_A, Some(SEED_B)).unwrap();
    assert_eq!(h.mode(), HashMode::Fast);
    let b_want = reference(&SEED_B, &more[..1]);
    assert_eq!(pow(&h, &SEED_B, &more[0]), Ok(b_want[0]));
    let s = h.stats();
    assert_eq!((s.light_hashes, s.fast_hashes), (2, 26));
    assert_eq!(s.datasets_built, 1, "one dataset at most");

    // The dataset was saved for the next start (after it went into use).
    let saved = dataset_file::path_for(&dir, &SEED_A);
    let deadline = Instant::now() + Duration::from_secs(300);
    while !saved.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(saved.exists(), "no saved dataset at {}", saved.display());
    assert_eq!(
        std::fs::metadata(&saved).unwrap().len(),
        64 + otedama_randomx::dataset_item_count() * 64
    );
    drop(h);

    // A restarted node loads it instead of building, and its fast hashes are the light ones.
    let start = Instant::now();
    let h2 = RandomXHasher::with_config(config);
    h2.set_seeds(SEED_A, None).unwrap();
    assert!(h2.wait_for_dataset(Duration::from_secs(300)));
    eprintln!(
        "saved dataset loaded and checked: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let fresh = self::blobs(4, 0x57);
    let fresh_want = reference(&SEED_A, &fresh);
    for (blob, want) in fresh.iter().zip(&fresh_want) {
        assert_eq!(pow(&h2, &SEED_A, blob), Ok(*want));
    }
    let s = h2.stats();
    assert_eq!(
        (
            s.datasets_built,
            s.datasets_loaded,
            s.fast_hashes,
            s.light_hashes
        ),
        (0, 1, 4, 0)
    );
    drop(h2);

    // One byte changed on disk: the file is refused for its checksum.
    {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&saved)
            .unwrap();
        let at = SeekFrom::Start(64 + 1_000_000_007);
        let mut byte = [0u8; 1];
        f.seek(at).unwrap();
        f.read_exact(&mut byte).unwrap();
        f.seek(at).unwrap();
        f.write_all(&[!byte[0]]).unwrap();
    }
    let cache = Cache::new(&SEED_A, Flags::recommended(), LargePages::Off).unwrap();
    assert!(matches!(
        dataset_file::load(&dir, &cache, LargePages::Off),
        Err(dataset_file::DatasetFileError::Checksum { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
