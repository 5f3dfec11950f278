//! Shares waiting for a parent or uncle, bounded in count and in bytes, evicted oldest first.

use otedama_consensus::{Share, ShareHash};
use std::collections::{HashMap, VecDeque};

/// Most shares held while waiting for data: 4096 is about 11 hours of 10 s shares, more than any
/// honest sync gap, and at ~2 kB a share about 8 MB at worst.
pub const MAX_ORPHANS: usize = 4096;
/// Most bytes of encoded shares held: a share with 200 payout outputs is about 6.6 kB and the
/// largest allowed is tens of kB, so a count bound alone would let large shares take hundreds
/// of MB. 32 MiB holds 4,096 shares of 8 kB.
pub const MAX_ORPHAN_BYTES: usize = 32 << 20;

#[derive(Default)]
pub struct OrphanPool {
    /// Share, the id it waits for, and its encoded size.
    by_id: HashMap<ShareHash, (Share, ShareHash, usize)>,
    /// Missing share id -> orphans waiting for it.
    waiting: HashMap<ShareHash, Vec<ShareHash>>,
    order: VecDeque<ShareHash>,
    capacity: usize,
    byte_capacity: usize,
    bytes: usize,
}

impl OrphanPool {
    pub fn new(capacity: usize) -> OrphanPool {
        OrphanPool::with_limits(capacity, MAX_ORPHAN_BYTES)
    }

    /// A pool holding at most `capacity` shares and `byte_capacity` encoded bytes.
    pub fn with_limits(capacity: usize, byte_capacity: usize) -> OrphanPool {
        OrphanPool {
            capacity: capacity.max(1),
            byte_capacity,
            ..OrphanPool::default()
        }
    }

    /// Encoded bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn contains(&self, id: &ShareHash) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Holds `share` until `missing` arrives; evicts the oldest orphan when full.
    pub fn add(&mut self, id: ShareHash, share: Share, missing: ShareHash) {
        if self.by_id.contains_key(&id) {
            return;
        }
        let size = share.encode().len();
        if size > self.byte_capacity {
            return;
        }
        while self.by_id.len() >= self.capacity || self.bytes + size > self.byte_capacity {
            match self.order.pop_front() {
                Some(old) => self.remove(&old),
                None => break,
            }
        }
        self.bytes += size;
        self.by_id.insert(id, (share, missing, size));
        self.waiting.entry(missing).or_default().push(id);
        self.order.push_back(id);
    }

    fn remove(&mut self, id: &ShareHash) {
        if let Some((_, missing, size)) = self.by_id.remove(id) {
            self.bytes -= size;
            if let Some(list) = self.waiting.get_mut(&missing) {
                list.retain(|x| x != id);
                if list.is_empty() {
                    self.waiting.remove(&missing);
                }
            }
        }
    }

    /// Takes the orphans that were waiting for `arrived`.
    pub fn take_waiting_for(&mut self, arrived: &ShareHash) -> Vec<Share> {
        let ids = self.waiting.remove(arrived).unwrap_or_default();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some((share, _, size)) = self.by_id.remove(&id) {
                self.bytes -= size;
                self.order.retain(|x| *x != id);
                out.push(share);
            }
        }
        out
    }

    /// Ids the pool is waiting for (to request from peers).
    pub fn missing(&self) -> impl Iterator<Item = &ShareHash> {
        self.waiting.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};
    use otedama_consensus::MemoryChain;

    #[test]
    fn bounded_in_bytes_oldest_evicted_and_accounted() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let mem = MemoryChain::new();
        let shares: Vec<Share> = (0..6u64)
            .map(|i| make_share(&pool, &mem, None, i as u32, T0 + i, vec![], i).expect("share"))
            .collect();
        let size = shares[0].encode().len();
        // Room for three shares by bytes, ten by count.
        let mut pool_ = OrphanPool::with_limits(10, 3 * size + size / 2);
        let missing = ShareHash::from_byte_array([9; 32]);
        for s in &shares {
            pool_.add(s.id(), s.clone(), missing);
        }
        assert_eq!(pool_.len(), 3);
        assert!(pool_.bytes() <= 3 * size + size / 2);
        assert!(!pool_.contains(&shares[0].id()), "oldest evicted first");
        assert!(pool_.contains(&shares[5].id()));
        let back = pool_.take_waiting_for(&missing);
        assert_eq!(back.len(), 3);
        assert_eq!(pool_.bytes(), 0);
        assert!(pool_.is_empty());
        // A share larger than the whole budget is not held at all.
        let mut tiny = OrphanPool::with_limits(10, size - 1);
        tiny.add(shares[0].id(), shares[0].clone(), missing);
        assert!(tiny.is_empty());
    }
}
