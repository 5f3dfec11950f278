//! The in-memory chain state: index entries of every share that can still matter, the leaves
//! (tips), and the PPLNS window weights of each leaf, maintained incrementally.

use otedama_consensus::chain::monero::derivation_memo::DerivationMemo;
use otedama_consensus::chain_view::ChainView;
use otedama_consensus::pplns::{window_after, WindowWeights};
use otedama_consensus::{PoolParams, ShareHash, ShareInfo};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Leaves more than this many shares below the best tip lose their cached window (a stale branch
/// nobody builds on); it is rebuilt from the index if one is ever extended. Bounds the cache to
/// the live tips: 16 shares is beyond any uncle depth and a few minutes of a competing branch.
pub const LEAF_WINDOW_KEEP: u64 = 16;

/// Index, leaves and their windows. Implements [`ChainView`] for contextual validation.
#[derive(Default)]
pub struct ChainState {
    infos: HashMap<ShareHash, ShareInfo>,
    /// Shares with no known child, each with its window weights.
    leaf_windows: HashMap<ShareHash, WindowWeights>,
    best: Option<ShareHash>,
    pool: Option<PoolParams>,
    /// The trusted base (docs/consensus.md section 13), while it is loaded.
    trusted_base: Option<ShareHash>,
    /// What Monero payout checks of earlier shares derived (a bounded cache; no result depends
    /// on it).
    memo: DerivationMemo,
}

impl ChainView for ChainState {
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        self.infos.get(id)
    }

    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>> {
        if let Some(w) = self.leaf_windows.get(id) {
            return Some(Cow::Borrowed(w));
        }
        // A share that already has children: a side branch forking below a tip. Rare; rebuilt
        // from the index (O(window)).
        let pool = self.pool.as_ref()?;
        let info = self.infos.get(id)?;
        WindowWeights::from_scratch(self, pool, info).map(Cow::Owned)
    }

    fn trusted_base(&self) -> Option<&ShareInfo> {
        self.trusted_base.and_then(|b| self.infos.get(&b))
    }

    fn derivation_memo(&self) -> Option<&DerivationMemo> {
        Some(&self.memo)
    }
}

impl ChainState {
    pub fn new(pool: PoolParams) -> ChainState {
        ChainState {
            pool: Some(pool),
            ..ChainState::default()
        }
    }

    pub fn best(&self) -> Option<ShareHash> {
        self.best
    }

    /// Marks the share whose ancestors validation must not ask for (a trusted base).
    pub fn set_trusted_base(&mut self, base: Option<ShareHash>) {
        self.trusted_base = base;
    }

    pub fn best_info(&self) -> Option<&ShareInfo> {
        self.best.and_then(|b| self.infos.get(&b))
    }

    /// A loaded share's index entry.
    pub fn info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        self.infos.get(id)
    }

    /// Height of a loaded share.
    pub fn height_of(&self, id: &ShareHash) -> Option<u64> {
        self.infos.get(id).map(|i| i.height)
    }

    pub fn contains(&self, id: &ShareHash) -> bool {
        self.infos.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }

    pub fn leaves(&self) -> impl Iterator<Item = &ShareHash> {
        self.leaf_windows.keys()
    }

    /// Window weights of the best tip: the payouts of the next share are a split of these.
    pub fn best_window(&self) -> Option<&WindowWeights> {
        self.best.and_then(|b| self.leaf_windows.get(&b))
    }

    /// Adds a validated share; returns whether it became the best tip.
    pub fn insert(&mut self, pool: &PoolParams, info: ShareInfo) -> bool {
        // Validation built this window already, so it is available; if it ever were not, no
        // window is cached rather than a partial one (it is rebuilt when asked for, or reported
        // missing).
        let window = window_after(&*self, pool, &info).map(Cow::into_owned);
        let better = otedama_consensus::fork_choice::is_better(self.best_info(), &info);
        // The parent stops being a leaf (its window stays derivable from the index).
        self.leaf_windows.remove(&info.prev);
        if let Some(window) = window {
            self.leaf_windows.insert(info.id, window);
        }
        if better {
            self.best = Some(info.id);
            let floor = info.height.saturating_sub(LEAF_WINDOW_KEEP);
            let infos = &self.infos;
            self.leaf_windows
                .retain(|id, _| infos.get(id).is_none_or(|i| i.height >= floor));
        }
        self.infos.insert(info.id, info);
        better
    }

    /// Index entries with heights in `from..=to` (a scan of the index: callers ask for a few
    /// heights near the tip).
    pub fn infos_in_heights(&self, from: u64, to: u64) -> impl Iterator<Item = &ShareInfo> {
        self.infos
            .values()
            .filter(move |i| i.height >= from && i.height <= to)
    }

    /// Number of cached leaf windows (bounded by [`LEAF_WINDOW_KEEP`]).
    pub fn cached_windows(&self) -> usize {
        self.leaf_windows.len()
    }

    /// Loads index entries from the store at start-up (parents before children), without
    /// validation: they were validated before they were stored.
    pub fn load(&mut self, pool: &PoolParams, infos: Vec<ShareInfo>, best: Option<ShareHash>) {
        let mut has_child: HashSet<ShareHash> = HashSet::with_capacity(infos.len());
        for info in &infos {
            has_child.insert(info.prev);
        }
        for info in infos {
            self.infos.insert(info.id, info);
        }
        let leaves: Vec<ShareHash> = self
            .infos
            .keys()
            .filter(|id| !has_child.contains(*id))
            .copied()
            .collect();
        for leaf in leaves {
            // A leaf whose window reaches below the loaded range (a stale branch at the bottom)
            // gets no window: a partial one would be a wrong one. Extending it makes the
            // sharechain load deeper first.
            let w = self
                .infos
                .get(&leaf)
                .and_then(|info| WindowWeights::from_scratch(&*self, pool, info));
            if let Some(w) = w {
                self.leaf_windows.insert(leaf, w);
            }
        }
        self.best = best.filter(|b| self.infos.contains_key(b));
    }

    /// The common ancestor of two shares and the depth of `from` above it.
    pub fn fork_depth(&self, from: &ShareHash, to: &ShareHash) -> Option<u64> {
        let mut a = self.infos.get(from)?;
        let mut b = self.infos.get(to)?;
        let start = a.height;
        while a.id != b.id {
            if a.height >= b.height {
                a = self.infos.get(&a.prev)?;
            } else {
                b = self.infos.get(&b.prev)?;
            }
        }
        Some(start - a.height)
    }

    /// Drops index entries below `height` (after the store pruned them).
    pub fn prune_below(&mut self, height: u64) {
        self.infos.retain(|_, i| i.height >= height);
        self.leaf_windows
            .retain(|id, _| self.infos.contains_key(id));
    }
}
