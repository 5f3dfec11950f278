//! Shares waiting for a parent or uncle, bounded in count and evicted oldest first.

use otedama_consensus::{Share, ShareHash};
use std::collections::{HashMap, VecDeque};

/// Most shares held while waiting for data: 4096 is about 11 hours of 10 s shares, more than any
/// honest sync gap, and at ~2 kB a share about 8 MB at worst.
pub const MAX_ORPHANS: usize = 4096;

#[derive(Default)]
pub struct OrphanPool {
    by_id: HashMap<ShareHash, (Share, ShareHash)>,
    /// Missing share id -> orphans waiting for it.
    waiting: HashMap<ShareHash, Vec<ShareHash>>,
    order: VecDeque<ShareHash>,
    capacity: usize,
}

impl OrphanPool {
    pub fn new(capacity: usize) -> OrphanPool {
        OrphanPool {
            capacity: capacity.max(1),
            ..OrphanPool::default()
        }
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
        while self.by_id.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => self.remove(&old),
                None => break,
            }
        }
        self.by_id.insert(id, (share, missing));
        self.waiting.entry(missing).or_default().push(id);
        self.order.push_back(id);
    }

    fn remove(&mut self, id: &ShareHash) {
        if let Some((_, missing)) = self.by_id.remove(id) {
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
            if let Some((share, _)) = self.by_id.remove(&id) {
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
