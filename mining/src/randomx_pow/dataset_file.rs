//! A RandomX dataset saved on disk per seed, so a restarted node verifies in fast mode within
//! seconds instead of rebuilding 2 GiB for minutes (58-84 s of the 83-102 s a cold 4,320-share
//! sync took here, docs/performance.md). Seeds change every 2,048 Monero blocks (~2.8 days), so
//! one file serves every restart in between.
//!
//! File `DIR/<seed hex>.rxds`: a 64-byte header, then the dataset's bytes as the library laid
//! them out in memory (a file is only ever read by the machine and library build that wrote
//! it; the sampled items below catch any other).
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `OTDMRXDS` |
//! | 8..12 | format version, u32 LE (1) |
//! | 12..16 | item size, u32 LE (64) |
//! | 16..24 | item count, u64 LE |
//! | 24..56 | the seed (RandomX key) |
//! | 56..64 | [`checksum`] of the body, u64 LE |
//!
//! Loading checks the header against the seed and the library's item count and size, the
//! checksum of every byte read, and [`SAMPLE_ITEMS`] items recomputed from the cache at
//! positions this process draws at random (another key or library gives other items). Anything
//! wrong: the file is deleted and the dataset built as without it. Writes go to a temporary name
//! renamed into place, so a crash never leaves a partial file under the real name.

use otedama_randomx::{Cache, Dataset, LargePages, LoadError, DATASET_ITEM_SIZE};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"OTDMRXDS";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 64;
const EXTENSION: &str = "rxds";
/// Items recomputed from the cache on load: 65,536 of 34 million (0.2 %), about 0.2 s of CPU
/// here, a tiny fraction of the build they replace.
pub const SAMPLE_ITEMS: usize = 65_536;
/// Bytes read or checksummed per step (a multiple of the checksum's 32-byte block).
const CHUNK: usize = 8 << 20;

/// Why a saved dataset was not used.
#[derive(Debug, thiserror::Error)]
pub enum DatasetFileError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not a dataset file of this format (magic or version)")]
    Format,
    #[error("saved for another seed or library (item size {item_size}, count {items})")]
    OtherLayout { item_size: u32, items: u64 },
    #[error("body checksum {found:016x} differs from the header's {want:016x}: damaged")]
    Checksum { want: u64, found: u64 },
    #[error(transparent)]
    Load(#[from] LoadError<io::Error>),
}

/// Where the dataset of `seed` is saved in `dir`.
pub fn path_for(dir: &Path, seed: &[u8; 32]) -> PathBuf {
    dir.join(format!("{}.{EXTENSION}", hex::encode(seed)))
}

/// A fast, non-cryptographic 64-bit checksum of `bytes` (a multiple of 32 bytes): four lanes of
/// 64-bit words, each `lane = rotl(lane ^ word, 29) * K` with an odd multiplier, folded at the
/// end. It detects damage on disk, not tampering: the file lives in the node's own data dir.
/// Streaming: feed chunks in order through one [`Checksum`].
#[derive(Clone, Debug)]
pub struct Checksum {
    lanes: [u64; 4],
}

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            lanes: [K, K.rotate_left(16), K.rotate_left(32), K.rotate_left(48)],
        }
    }
}

impl Checksum {
    /// Adds `bytes`; its length must be a multiple of 32 (every chunk here is).
    pub fn update(&mut self, bytes: &[u8]) {
        for block in bytes.chunks_exact(32) {
            for (lane, word) in self.lanes.iter_mut().zip(block.chunks_exact(8)) {
                let mut w = [0u8; 8];
                w.copy_from_slice(word);
                *lane = (*lane ^ u64::from_le_bytes(w))
                    .rotate_left(29)
                    .wrapping_mul(K);
            }
        }
    }

    pub fn finish(&self) -> u64 {
        self.lanes
            .iter()
            .fold(0u64, |acc, l| (acc ^ l).rotate_left(17).wrapping_mul(K))
    }
}

/// The checksum of a whole buffer.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut c = Checksum::default();
    c.update(bytes);
    c.finish()
}

fn header(seed: &[u8; 32], items: u64, sum: u64) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(DATASET_ITEM_SIZE as u32).to_le_bytes());
    h[16..24].copy_from_slice(&items.to_le_bytes());
    h[24..56].copy_from_slice(seed);
    h[56..64].copy_from_slice(&sum.to_le_bytes());
    h
}

/// Saves `dataset` (built for `seed`) in `dir`, replacing any file for that seed, and deletes
/// the files of other seeds (only the current seed gets a dataset, so they would never be read
/// again). Returns the path written.
pub fn save(dir: &Path, seed: &[u8; 32], dataset: &Dataset) -> io::Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let body = dataset.memory();
    let mut sum = Checksum::default();
    for chunk in body.chunks(CHUNK) {
        sum.update(chunk);
    }
    let path = path_for(dir, seed);
    let tmp = path.with_extension(format!("{EXTENSION}.tmp"));
    let write = || -> io::Result<()> {
        let mut out = BufWriter::with_capacity(CHUNK, File::create(&tmp)?);
        out.write_all(&header(seed, dataset.item_count(), sum.finish()))?;
        out.write_all(body)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &path)?;
    for entry in fs::read_dir(dir)?.flatten() {
        let other = entry.path();
        let ours = other == path;
        let saved = other
            .extension()
            .is_some_and(|e| e == EXTENSION || e == "tmp");
        if saved && !ours {
            let _ = fs::remove_file(&other);
        }
    }
    Ok(path)
}

/// Item positions to recompute on load: [`SAMPLE_ITEMS`] drawn from this process's random
/// state (std's `RandomState`), so no file can be made to pass by knowing them in advance.
fn sample_positions(items: u64) -> Vec<u64> {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    (0..SAMPLE_ITEMS as u64)
        .map(|i| {
            let mut h = state.build_hasher();
            h.write_u64(i);
            h.finish() % items.max(1)
        })
        .collect()
}

/// The saved dataset of `cache`'s seed in `dir`, checked (header, checksum, sampled items).
/// `Ok(None)` when there is none; an error when there is one that cannot be used (the caller
/// deletes it and builds).
pub fn load(
    dir: &Path,
    cache: &Cache,
    large_pages: LargePages,
) -> Result<Option<Dataset>, DatasetFileError> {
    let Ok(seed) = <[u8; 32]>::try_from(cache.key()) else {
        return Ok(None);
    };
    let path = path_for(dir, &seed);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut h = [0u8; HEADER_BYTES];
    file.read_exact(&mut h)?;
    if &h[0..8] != MAGIC || h[8..12] != VERSION.to_le_bytes() {
        return Err(DatasetFileError::Format);
    }
    let item_size = u32::from_le_bytes([h[12], h[13], h[14], h[15]]);
    let mut items = [0u8; 8];
    items.copy_from_slice(&h[16..24]);
    let items = u64::from_le_bytes(items);
    let want_items = otedama_randomx::dataset_item_count();
    if item_size as usize != DATASET_ITEM_SIZE || items != want_items || h[24..56] != seed {
        return Err(DatasetFileError::OtherLayout { item_size, items });
    }
    let mut want = [0u8; 8];
    want.copy_from_slice(&h[56..64]);
    let want = u64::from_le_bytes(want);
    let expected_len = HEADER_BYTES as u64 + items.saturating_mul(DATASET_ITEM_SIZE as u64);
    if file.metadata()?.len() != expected_len {
        return Err(DatasetFileError::Format);
    }
    let mut found = 0u64;
    let dataset = Dataset::load_with(cache, large_pages, &sample_positions(items), |memory| {
        let mut sum = Checksum::default();
        for chunk in memory.chunks_mut(CHUNK) {
            file.read_exact(chunk)?;
            sum.update(chunk);
        }
        found = sum.finish();
        if found == want {
            Ok(())
        } else {
            Err(io::Error::new(io::ErrorKind::InvalidData, "checksum"))
        }
    });
    match dataset {
        Ok(d) => Ok(Some(d)),
        Err(LoadError::Fill(e)) if e.kind() == io::ErrorKind::InvalidData && found != want => {
            Err(DatasetFileError::Checksum { want, found })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_sees_every_word_and_its_place() {
        let mut a = vec![0u8; 4096];
        let base = checksum(&a);
        a[4095] = 1;
        let last = checksum(&a);
        assert_ne!(base, last);
        a[4095] = 0;
        a[0] = 1;
        assert_ne!(checksum(&a), base);
        assert_ne!(checksum(&a), last);
        // Streaming in chunks equals one pass.
        let mut c = Checksum::default();
        for part in a.chunks(64) {
            c.update(part);
        }
        assert_eq!(c.finish(), checksum(&a));
        // Swapping two words changes it (lanes are positional).
        let mut b = vec![0u8; 64];
        b[0] = 1;
        let mut swapped = vec![0u8; 64];
        swapped[32] = 1;
        assert_ne!(checksum(&b), checksum(&swapped));
    }

    #[test]
    fn header_layout() {
        let h = header(&[7; 32], 34_078_719, 0x0102_0304_0506_0708);
        assert_eq!(&h[0..8], b"OTDMRXDS");
        assert_eq!(h[8..12], 1u32.to_le_bytes());
        assert_eq!(h[12..16], 64u32.to_le_bytes());
        assert_eq!(h[16..24], 34_078_719u64.to_le_bytes());
        assert_eq!(h[24..56], [7; 32]);
        assert_eq!(h[56..64], 0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(
            path_for(Path::new("/d"), &[0xab; 32]),
            PathBuf::from(format!("/d/{}.rxds", "ab".repeat(32)))
        );
    }

    #[test]
    fn wrong_files_are_refused_and_absent_ones_are_none() {
        let dir = std::env::temp_dir().join(format!("otedama-rxds-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let seed = [0x42; 32];
        let cache = Cache::new(
            &seed,
            otedama_randomx::Flags::recommended(),
            LargePages::Off,
        )
        .expect("cache");
        assert!(matches!(load(&dir, &cache, LargePages::Off), Ok(None)));
        // Garbage under the seed's name.
        fs::write(path_for(&dir, &seed), b"not a dataset").unwrap();
        assert!(load(&dir, &cache, LargePages::Off).is_err());
        // A right header for another seed.
        fs::write(
            path_for(&dir, &seed),
            header(&[1; 32], otedama_randomx::dataset_item_count(), 0),
        )
        .unwrap();
        assert!(matches!(
            load(&dir, &cache, LargePages::Off),
            Err(DatasetFileError::OtherLayout { .. })
        ));
        // The right header but a short body.
        fs::write(
            path_for(&dir, &seed),
            header(&seed, otedama_randomx::dataset_item_count(), 0),
        )
        .unwrap();
        assert!(matches!(
            load(&dir, &cache, LargePages::Off),
            Err(DatasetFileError::Format)
        ));
        let _ = fs::remove_dir_all(&dir);
    }
}
