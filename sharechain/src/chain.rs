//! The sharechain: the store's single writer. Takes shares from any source in any order and
//! says what happened to each.

use crate::orphans::{OrphanPool, MAX_ORPHANS};
use crate::state::ChainState;
use crate::store::{Store, StoreError};
use otedama_consensus::validation::{check_contextual, check_stateless, RejectReason, Severity};
use otedama_consensus::{PoolParams, Share, ShareHash, ShareInfo};
use std::path::Path;

/// What happened to an inserted share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Became the best tip; `reorg_depth` shares of the old best chain were left (0: extended).
    NewBest { id: ShareHash, reorg_depth: u64 },
    /// Valid, on a chain with less work than the best.
    SideChain { id: ShareHash },
    /// Held until `missing` (parent or uncle) arrives.
    Orphan { id: ShareHash, missing: ShareHash },
    /// Already known.
    Duplicate { id: ShareHash },
    /// Refused for a consensus reason.
    Invalid { id: ShareHash, reason: RejectReason },
}

/// Most headers one `headers_after` reply carries (p2poolv2 and Bitcoin Core use 1500-2000).
pub const MAX_HEADERS_PER_REPLY: usize = 1500;

/// Shares kept below the best tip's window: a margin for reorgs and uncles, and for peers that
/// sync from us (a day of 10 s shares beyond the window).
pub const DEFAULT_KEEP_BELOW_WINDOW: u64 = 8640;
/// Stored ids per height a locator takes below the loaded range (the best share and a few side
/// shares at that height).
pub const LOCATOR_IDS_PER_STORED_HEIGHT: usize = 4;
/// Shares loaded below `window + uncle depth` under the best tip at start-up: room for a
/// short reorg without touching the store.
pub const LOAD_MARGIN: u64 = 16;
/// Shares the in-memory index may hold below `window + uncle depth + margin` under the best tip
/// before [`Sharechain::trim_memory`] drops them: trimming in steps keeps its O(index) pass rare
/// (once per 1,000 shares, under three hours of 10 s shares).
pub const TRIM_STEP: u64 = 1000;
/// Deepest fork (in windows below the best tip) whose missing data is read back from the store:
/// a branch forking deeper than this is not worth validating (it would need more work than the
/// whole window to win) and is refused as missing data.
pub const MAX_PAGE_IN_WINDOWS: u64 = 4;

pub struct Sharechain {
    pool: PoolParams,
    store: Store,
    state: ChainState,
    orphans: OrphanPool,
    /// Best-chain ids below the loaded index (heights `0..len`), read from the store the first
    /// time a peer syncs from that deep, keyed by the oldest loaded best-chain share they lead
    /// to. 32 bytes a share: 32 MB for a million shares, and only on nodes that serve deep sync.
    deep: Option<(ShareHash, Vec<ShareHash>)>,
    /// Lowest height loaded into `state` (everything stored at or above it is in memory).
    loaded_from: u64,
}

impl Sharechain {
    /// Opens the store and loads the shares that can still matter: every share within
    /// `window + uncle depth + margin` below the stored best tip (not below the highest stored
    /// height: a tall side chain must not push the best chain out of memory). Nothing is
    /// revalidated or replayed.
    pub fn open(path: &Path, pool: PoolParams) -> Result<Sharechain, StoreError> {
        let store = Store::open(path, &pool.consensus_id())?;
        let mut chain = Sharechain {
            state: ChainState::new(pool.clone()),
            pool,
            store,
            orphans: OrphanPool::new(MAX_ORPHANS),
            deep: None,
            loaded_from: 0,
        };
        let best_height = match chain.store.best()? {
            Some(best) => chain.store.info(&best)?.map(|i| i.height),
            None => None,
        };
        let top = match best_height {
            Some(h) => Some(h),
            None => chain.store.max_height()?,
        };
        if let Some(top) = top {
            let from = top.saturating_sub(chain.load_depth());
            chain.load_from(from)?;
            tracing::info!(
                shares = chain.state.len(),
                from_height = from,
                best_height,
                "sharechain loaded"
            );
        }
        Ok(chain)
    }

    /// Shares kept in memory below a tip: its window, uncle depth and a margin.
    fn load_depth(&self) -> u64 {
        self.pool.pplns_window + self.pool.uncle_depth + LOAD_MARGIN
    }

    /// (Re)builds the in-memory state from every stored share at or above `from`.
    fn load_from(&mut self, from: u64) -> Result<(), StoreError> {
        let infos = self.store.infos_from_height(from)?;
        let best = self.store.best()?;
        let mut state = ChainState::new(self.pool.clone());
        state.load(&self.pool, infos, best);
        self.state = state;
        self.loaded_from = from;
        self.deep = None;
        Ok(())
    }

    /// Validation missed data: when what it needs (the parent's and uncles' ancestry back one
    /// window) lies below what is loaded but is in the store, load it. Returns whether more was
    /// loaded (then validation is worth another try).
    fn page_in(&mut self, share: &Share) -> Result<bool, StoreError> {
        let mut lowest: Option<u64> = None;
        for id in std::iter::once(&share.side.prev_share).chain(share.side.uncles.iter()) {
            let height = match self.state.height_of(id) {
                Some(h) => Some(h),
                None => self.store.info(id)?.map(|i| i.height),
            };
            if let Some(h) = height {
                lowest = Some(lowest.map_or(h, |l: u64| l.min(h)));
            }
        }
        let Some(lowest) = lowest else {
            return Ok(false);
        };
        let from = lowest.saturating_sub(self.load_depth());
        let best = self.state.best_info().map_or(0, |b| b.height);
        let deepest = best.saturating_sub(MAX_PAGE_IN_WINDOWS * self.pool.pplns_window);
        if from >= self.loaded_from || lowest < deepest {
            return Ok(false);
        }
        tracing::info!(
            from_height = from,
            was = self.loaded_from,
            "loading deeper shares from the store for a fork below the loaded range"
        );
        self.load_from(from)?;
        Ok(true)
    }

    pub fn pool(&self) -> &PoolParams {
        &self.pool
    }

    pub fn state(&self) -> &ChainState {
        &self.state
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn orphans(&self) -> &OrphanPool {
        &self.orphans
    }

    pub fn best(&self) -> Option<&ShareInfo> {
        self.state.best_info()
    }

    /// Inserts one share, then every orphan it completes. Returns the outcomes in order: the
    /// share's own first.
    pub fn insert(&mut self, share: Share, now: u64) -> Result<Vec<InsertOutcome>, StoreError> {
        let mut outcomes = Vec::new();
        let mut queue = vec![share];
        while let Some(share) = queue.pop() {
            let outcome = self.insert_one(share, now)?;
            if let InsertOutcome::NewBest { id, .. } | InsertOutcome::SideChain { id } = &outcome {
                queue.extend(self.orphans.take_waiting_for(id));
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn insert_one(&mut self, share: Share, now: u64) -> Result<InsertOutcome, StoreError> {
        let id = share.id();
        if self.state.contains(&id) || self.orphans.contains(&id) {
            return Ok(InsertOutcome::Duplicate { id });
        }
        let checked = match check_stateless(&self.pool, &share) {
            Ok(c) => c,
            Err(reason) => return Ok(InsertOutcome::Invalid { id, reason }),
        };
        let mut result = check_contextual(&self.pool, &self.state, &share, &checked, now);
        if let Err(reason) = &result {
            if reason.severity() == Severity::MissingData && self.page_in(&share)? {
                result = check_contextual(&self.pool, &self.state, &share, &checked, now);
            }
        }
        let info = match result {
            Ok(info) => info,
            Err(reason) => {
                let missing = match &reason {
                    RejectReason::MissingParent(m) | RejectReason::MissingUncle(m) => Some(*m),
                    _ => None,
                };
                if let (Some(missing), Severity::MissingData) = (missing, reason.severity()) {
                    self.orphans.add(id, share, missing);
                    return Ok(InsertOutcome::Orphan { id, missing });
                }
                return Ok(InsertOutcome::Invalid { id, reason });
            }
        };
        let old_best = self.state.best();
        let better = otedama_consensus::fork_choice::is_better(self.state.best_info(), &info);
        // Durable first: a crash after this write leaves the share and the new best in the
        // store; the in-memory state is rebuilt from it at start-up.
        self.store
            .put_share(&share, &info, if better { Some(&info.id) } else { None })?;
        self.state.insert(&self.pool, info);
        if better {
            let reorg_depth = match old_best {
                Some(old) if old != share.side.prev_share => {
                    self.state.fork_depth(&old, &id).unwrap_or(0)
                }
                _ => 0,
            };
            if reorg_depth > 0 {
                tracing::info!(%id, reorg_depth, "sharechain reorganised");
            }
            Ok(InsertOutcome::NewBest { id, reorg_depth })
        } else {
            Ok(InsertOutcome::SideChain { id })
        }
    }

    /// Uncles the next share on the best tip may include: known shares 1..=depth below the next
    /// height, off the best chain, whose parent is on it, not yet included by the best chain;
    /// most work first, at most `max_uncles`, returned in id order as the rules require.
    pub fn uncle_candidates(&self) -> Vec<ShareHash> {
        use otedama_consensus::ChainView;
        let Some(best) = self.state.best_info() else {
            return Vec::new();
        };
        let next = best.height + 1;
        let lowest = next.saturating_sub(self.pool.uncle_depth).max(1);
        let mut included = std::collections::HashSet::new();
        let mut chain_ids = std::collections::HashMap::new();
        let mut cur = Some(best);
        while let Some(c) = cur {
            if c.height + 1 < lowest {
                break;
            }
            chain_ids.insert(c.height, c.id);
            included.extend(c.uncles.iter().map(|u| u.id));
            cur = if c.height == 0 {
                None
            } else {
                self.state.share_info(&c.prev)
            };
        }
        let mut found: Vec<&ShareInfo> = self
            .state
            .infos_in_heights(lowest, best.height)
            .filter(|i| chain_ids.get(&i.height) != Some(&i.id))
            .filter(|i| chain_ids.get(&(i.height - 1)) == Some(&i.prev))
            .filter(|i| !included.contains(&i.id))
            .collect();
        found.sort_by(|a, b| b.work.cmp(&a.work).then(a.id.cmp(&b.id)));
        let mut ids: Vec<ShareHash> = found
            .into_iter()
            .take(self.pool.max_uncles)
            .map(|i| i.id)
            .collect();
        ids.sort();
        ids
    }

    /// A detached view of the best tip for job building ([`crate::snapshot::TipSnapshot`]).
    pub fn tip_snapshot(&self) -> Option<crate::snapshot::TipSnapshot> {
        use otedama_consensus::ChainView;
        let tip = self.state.best_info()?.clone();
        let window = self.state.window_weights(&tip.id)?.into_owned();
        let next = tip.height + 1;
        let leaving = if next >= self.pool.pplns_window {
            Some(
                self.state
                    .ancestor_at(&tip.id, next - self.pool.pplns_window)?
                    .clone(),
            )
        } else {
            None
        };
        let uncles = self
            .uncle_candidates()
            .iter()
            .filter_map(|id| self.state.share_info(id).cloned())
            .collect();
        Some(crate::snapshot::TipSnapshot {
            tip,
            window,
            leaving,
            uncles,
        })
    }

    /// A block locator for the best chain: the last 10 shares, then exponentially sparser back
    /// to genesis (Bitcoin's scheme), from the store below the loaded range: O(log n) ids that
    /// let a peer find where our chains part.
    pub fn locator(&self) -> Vec<ShareHash> {
        use otedama_consensus::ChainView;
        let Some(best) = self.state.best_info() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut height = best.height;
        let mut step = 1u64;
        let mut in_memory = true;
        loop {
            if in_memory {
                match self.state.ancestor_at(&best.id, height) {
                    Some(a) => out.push(a.id),
                    // Below what is loaded: the stored shares at the same heights stand in
                    // (side shares among them are harmless: a peer skips ids it does not have
                    // on its best chain), so a peer finds a deep fork point instead of sending
                    // the whole chain from genesis.
                    None => in_memory = false,
                }
            }
            if !in_memory {
                let ids = self
                    .store
                    .ids_by_height(height, height, LOCATOR_IDS_PER_STORED_HEIGHT)
                    .unwrap_or_default();
                out.extend(ids.into_iter().map(|(_, id)| id));
            }
            if height == 0 {
                break;
            }
            if out.len() >= 10 {
                step = step.saturating_mul(2);
            }
            height = height.saturating_sub(step);
        }
        out
    }

    /// Index entries of the best chain after the first locator entry that is on it, at most
    /// `max` (capped at [`MAX_HEADERS_PER_REPLY`]). An empty or unknown locator starts at the
    /// oldest loaded share.
    pub fn headers_after(&self, locator: &[ShareHash], max: usize) -> Vec<ShareInfo> {
        use otedama_consensus::ChainView;
        let max = max.min(MAX_HEADERS_PER_REPLY);
        let Some(best) = self.state.best_info() else {
            return Vec::new();
        };
        let on_best = |id: &ShareHash| {
            let info = self.state.share_info(id)?;
            (self.state.ancestor_at(&best.id, info.height)?.id == *id).then_some(info.height)
        };
        let start = match locator.iter().find_map(on_best) {
            Some(h) => h + 1,
            None => self.oldest_loaded_height(best),
        };
        let mut out = Vec::new();
        let mut h = start;
        while h <= best.height && out.len() < max {
            match self.state.ancestor_at(&best.id, h) {
                Some(a) => out.push(a.clone()),
                None => break,
            }
            h += 1;
        }
        out
    }

    /// Ids of the best chain after the first locator entry on it (from genesis when none is),
    /// at most `max` (capped at [`MAX_HEADERS_PER_REPLY`]), with the height of the first. Unlike
    /// [`Sharechain::headers_after`] this reaches below the loaded index, into the store, so a
    /// new node can sync the whole chain from any peer that kept it.
    pub fn best_ids_after(
        &mut self,
        locator: &[ShareHash],
        max: usize,
    ) -> Result<(u64, Vec<ShareHash>), StoreError> {
        use otedama_consensus::ChainView;
        let max = max.min(MAX_HEADERS_PER_REPLY);
        let Some(best) = self.state.best_info().cloned() else {
            return Ok((0, Vec::new()));
        };
        let loaded_from = self.oldest_loaded_height(&best);
        let Some(oldest) = self.state.ancestor_at(&best.id, loaded_from).cloned() else {
            return Ok((0, Vec::new()));
        };
        if loaded_from > 0 && self.deep.as_ref().is_none_or(|(k, _)| *k != oldest.id) {
            // Walk the store back from the oldest loaded share; stops early on a pruned store,
            // and after `loaded_from` steps whatever the stored heights say.
            let mut ids = Vec::with_capacity(loaded_from as usize);
            let mut cur = oldest.prev;
            while (ids.len() as u64) < loaded_from {
                let Some(info) = self.store.info(&cur)? else {
                    break;
                };
                ids.push(info.id);
                if info.height == 0 {
                    break;
                }
                cur = info.prev;
            }
            ids.reverse();
            self.deep = Some((oldest.id, ids));
        }
        let deep: &[ShareHash] = match &self.deep {
            Some((k, ids)) if *k == oldest.id && loaded_from > 0 => ids,
            _ => &[],
        };
        // `deep` covers heights deep_from..loaded_from (all of them unless pruned).
        let deep_from = loaded_from.saturating_sub(deep.len() as u64);
        let mut start = None;
        for id in locator {
            if let Some(info) = self.state.share_info(id) {
                if self.state.ancestor_at(&best.id, info.height).map(|a| a.id) == Some(*id) {
                    start = Some(info.height + 1);
                    break;
                }
            } else if let Some(info) = self.store.info(id)? {
                let h = info.height;
                if h >= deep_from && deep.get((h - deep_from) as usize) == Some(id) {
                    start = Some(h + 1);
                    break;
                }
            }
        }
        let start = start.unwrap_or(deep_from);
        let mut out = Vec::new();
        let mut h = start;
        while h <= best.height && out.len() < max {
            if h < loaded_from {
                match deep.get((h - deep_from) as usize) {
                    Some(id) => out.push(*id),
                    None => break,
                }
            } else {
                match self.state.ancestor_at(&best.id, h) {
                    Some(a) => out.push(a.id),
                    None => break,
                }
            }
            h += 1;
        }
        Ok((start, out))
    }

    /// Height of the oldest loaded share on `best`'s chain: loaded heights are contiguous up to
    /// the tip, so the first height whose ancestor is known is found by binary search.
    fn oldest_loaded_height(&self, best: &ShareInfo) -> u64 {
        use otedama_consensus::ChainView;
        let (mut lo, mut hi) = (0u64, best.height);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.state.ancestor_at(&best.id, mid).is_some() {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// Keeps the in-memory index to what validation and payouts need (the best tip's window, uncle
    /// depth and a margin, plus up to [`TRIM_STEP`] more): memory stays flat however long the
    /// node runs. The store keeps everything (peers sync from it, and deep forks read it back
    /// through [`Sharechain::insert`]). Returns how many index entries were dropped.
    pub fn trim_memory(&mut self) -> usize {
        let Some(best) = self.state.best_info() else {
            return 0;
        };
        let keep_from = best.height.saturating_sub(self.load_depth());
        if keep_from < self.loaded_from.saturating_add(TRIM_STEP) {
            return 0;
        }
        let before = self.state.len();
        self.state.prune_below(keep_from);
        self.loaded_from = keep_from;
        self.deep = None;
        before - self.state.len()
    }

    /// Deletes shares more than `keep_below_window` below the best tip's window, from the store
    /// and the index. Returns how many were deleted.
    pub fn prune(&mut self, keep_below_window: u64) -> Result<usize, StoreError> {
        let Some(best) = self.state.best_info() else {
            return Ok(0);
        };
        let keep_from = best
            .height
            .saturating_sub(self.pool.pplns_window + keep_below_window);
        if keep_from == 0 {
            return Ok(0);
        }
        let n = self.store.prune_below(keep_from)?;
        self.state.prune_below(keep_from);
        self.loaded_from = self.loaded_from.max(keep_from);
        Ok(n)
    }
}
