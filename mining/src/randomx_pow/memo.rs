//! Results of recent RandomX hashes, `(seed, blob) -> hash`, so that a share whose proof of work
//! was computed ahead ([`super::RandomXHasher::prehash`]) costs the store's writer a lookup.
//!
//! Keyed by the exact seed and blob (no digest of them: nothing to trust but equality), bounded
//! by entries and by blob length, oldest entry out first. The values are hashes this node
//! computed itself, so a peer can fill the memo only with true results.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Longest blob the memo keeps. A Monero hashing blob is a block header (at most 48 bytes), a
/// 32-byte tree root and a varint (at most 10): 90 bytes at most, 76 in practice. Longer blobs
/// are hashed but not remembered, so an entry costs at most about 300 bytes.
pub(super) const MAX_BLOB: usize = 256;

/// One seed's results, keyed by blob.
type SeedMemo = HashMap<Arc<[u8]>, [u8; 32]>;

pub(super) struct Memo {
    capacity: usize,
    /// One map per seed (two or three seeds at most, so a list).
    seeds: Vec<([u8; 32], SeedMemo)>,
    /// Insertion order of the live entries, oldest first.
    order: VecDeque<([u8; 32], Arc<[u8]>)>,
}

impl Memo {
    pub(super) fn new(capacity: usize) -> Memo {
        Memo {
            capacity,
            seeds: Vec::new(),
            order: VecDeque::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether a blob of this length would be kept.
    pub(super) fn keeps(&self, blob: &[u8]) -> bool {
        self.capacity > 0 && blob.len() <= MAX_BLOB
    }

    pub(super) fn get(&self, seed: &[u8; 32], blob: &[u8]) -> Option<[u8; 32]> {
        self.seeds
            .iter()
            .find(|(s, _)| s == seed)
            .and_then(|(_, map)| map.get(blob).copied())
    }

    pub(super) fn insert(&mut self, seed: &[u8; 32], blob: &[u8], hash: [u8; 32]) {
        if !self.keeps(blob) {
            return;
        }
        let i = match self.seeds.iter().position(|(s, _)| s == seed) {
            Some(i) => i,
            None => {
                self.seeds.push((*seed, HashMap::new()));
                self.seeds.len() - 1
            }
        };
        let map = &mut self.seeds[i].1;
        if map.contains_key(blob) {
            return;
        }
        let key: Arc<[u8]> = Arc::from(blob);
        map.insert(Arc::clone(&key), hash);
        self.order.push_back((*seed, key));
        while self.order.len() > self.capacity {
            let Some((seed, key)) = self.order.pop_front() else {
                break;
            };
            if let Some((_, map)) = self.seeds.iter_mut().find(|(s, _)| *s == seed) {
                map.remove(&*key);
            }
        }
    }

    /// Forgets every entry of a seed not in `keep` (the hasher dropped that seed).
    pub(super) fn retain_seeds(&mut self, keep: &[[u8; 32]]) {
        self.seeds.retain(|(s, _)| keep.contains(s));
        self.order.retain(|(s, _)| keep.contains(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 32] = [1; 32];
    const B: [u8; 32] = [2; 32];

    #[test]
    fn bounded_oldest_out_and_per_seed() {
        let mut m = Memo::new(3);
        for i in 0u8..3 {
            m.insert(&A, &[i], [i; 32]);
        }
        assert_eq!(m.get(&A, &[0]), Some([0; 32]));
        assert_eq!(m.get(&B, &[0]), None, "the seed is part of the key");
        m.insert(&A, &[1], [9; 32]);
        assert_eq!(
            m.get(&A, &[1]),
            Some([1; 32]),
            "a known entry is not replaced"
        );
        assert_eq!(m.len(), 3);
        m.insert(&B, &[0], [7; 32]);
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&A, &[0]), None, "the oldest entry left");
        assert_eq!(m.get(&B, &[0]), Some([7; 32]));
        m.retain_seeds(&[B]);
        assert_eq!(m.len(), 1);
        assert_eq!(m.get(&A, &[2]), None);
        m.insert(&A, &[0u8; MAX_BLOB + 1], [3; 32]);
        assert_eq!(m.len(), 1, "an overlong blob is not kept");
        let mut off = Memo::new(0);
        off.insert(&A, &[0], [0; 32]);
        assert_eq!((off.len(), off.get(&A, &[0])), (0, None));
    }
}
