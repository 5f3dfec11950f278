//! The sharechain: the store's single writer. Takes shares from any source in any order and
//! says what happened to each.

use crate::orphans::{OrphanPool, MAX_ORPHANS};
use crate::state::ChainState;
use crate::store::{Store, StoreError};
use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_consensus::validation::{
    check_contextual, check_stateless, check_trusted_base, payouts_cross_base, BaseError,
    RejectReason, Severity, MAX_BASE_SEARCH, MIN_BASE_DEPTH_WINDOWS,
};
use otedama_consensus::{Chain, PoolParams, Share, ShareHash, ShareInfo};
use std::path::Path;
use std::sync::Arc;

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

/// Shares the store keeps below the best tip when the node prunes ([`Sharechain::prune_if_due`]):
///
/// `(MAX_PAGE_IN_WINDOWS + 1) * pplns_window + uncle_depth + LOAD_MARGIN`
///
/// - validation of a share on the best tip needs its window and uncle depth (the retarget and
///   the timestamp rule read the parent alone: ASERT carries its anchor in the index entry);
/// - the deepest fork the node still validates forks `MAX_PAGE_IN_WINDOWS` windows below the
///   tip and needs one window (plus uncle depth and the load margin) below its fork point;
/// - a joiner's trusted base lies `MIN_BASE_DEPTH_WINDOWS` (2) windows below a serving peer's
///   tip, which this covers with three windows to spare: the base stays served while the
///   joiner fetches the two windows above it.
///
/// Main (2160): 10,819 shares, 30 h of 10 s shares; mini (4320): 21,619.
pub fn prune_depth(pool: &PoolParams) -> u64 {
    (MAX_PAGE_IN_WINDOWS + 1)
        .saturating_mul(pool.pplns_window)
        .saturating_add(pool.uncle_depth)
        .saturating_add(LOAD_MARGIN)
}

// A trusted base must stay within what a serving peer keeps.
const _: () = assert!(MAX_PAGE_IN_WINDOWS + 1 > MIN_BASE_DEPTH_WINDOWS);

/// The store is pruned once a window's worth of shares (at least one share) has passed below
/// [`prune_depth`]: one batch per window (every 6 h on main) instead of one per share.
pub fn prune_step(pool: &PoolParams) -> u64 {
    pool.pplns_window.max(1)
}

/// A chain's stateless hasher as an owned value ([`Chain::stateless_pow`] is a `&'static`).
struct StatelessPow(Chain);

impl PowHasher for StatelessPow {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        self.0.stateless_pow().pow_hash(input)
    }
}

pub struct Sharechain {
    pool: PoolParams,
    /// The proof-of-work hasher validation uses: the chain's stateless function (Bitcoin
    /// family) unless the node sets its own ([`Sharechain::set_pow_hasher`]; RandomX needs the
    /// node's seed caches).
    pow: Arc<dyn PowHasher>,
    store: Store,
    state: ChainState,
    orphans: OrphanPool,
    /// Best-chain ids below the loaded index (heights `0..len`), read from the store the first
    /// time a peer syncs from that deep, keyed by the oldest loaded best-chain share they lead
    /// to. 32 bytes a share: 32 MB for a million shares, and only on nodes that serve deep sync.
    deep: Option<(ShareHash, Vec<ShareHash>)>,
    /// Lowest height loaded into `state` (everything stored at or above it is in memory).
    loaded_from: u64,
    /// Lowest height the store may still hold (everything below was pruned).
    pruned_below: u64,
    /// The trusted base this store was synced from, while it is stored.
    trusted_base: Option<ShareHash>,
    /// Shares accepted above the trusted base without their payout check (their window reaches
    /// below the base), since start.
    partially_validated: u64,
}

impl Sharechain {
    /// Validates with `pow` from now on (the node's RandomX hasher on Monero chains).
    pub fn set_pow_hasher(&mut self, pow: Arc<dyn PowHasher>) {
        self.pow = pow;
    }

    /// Opens the store and loads the shares that can still matter: every share within
    /// `window + uncle depth + margin` below the stored best tip (not below the highest stored
    /// height: a tall side chain must not push the best chain out of memory). Nothing is
    /// revalidated or replayed.
    pub fn open(path: &Path, pool: PoolParams) -> Result<Sharechain, StoreError> {
        let store = Store::open(path, &pool.consensus_id())?;
        let mut chain = Sharechain {
            state: ChainState::new(pool.clone()),
            pow: Arc::new(StatelessPow(pool.chain)),
            pool,
            store,
            orphans: OrphanPool::new(MAX_ORPHANS),
            deep: None,
            loaded_from: 0,
            pruned_below: 0,
            trusted_base: None,
            partially_validated: 0,
        };
        chain.pruned_below = chain.store.min_height()?.unwrap_or(0);
        chain.trusted_base = chain.store.trusted_base()?;
        if let Some(base) = chain.trusted_base {
            tracing::info!(%base, "the store was synced from a trusted base");
        }
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
        state.set_trusted_base(self.trusted_base);
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
        self.insert_queue(vec![share], &mut outcomes, now)?;
        Ok(outcomes)
    }

    fn insert_queue(
        &mut self,
        mut queue: Vec<Share>,
        outcomes: &mut Vec<InsertOutcome>,
        now: u64,
    ) -> Result<(), StoreError> {
        while let Some(share) = queue.pop() {
            let outcome = self.insert_one(share, now)?;
            if let InsertOutcome::NewBest { id, .. } | InsertOutcome::SideChain { id } = &outcome {
                queue.extend(self.orphans.take_waiting_for(id));
            }
            outcomes.push(outcome);
        }
        Ok(())
    }

    /// Takes a trusted base from a peer (docs/consensus.md section 13): `claimed` is the index
    /// entry the peer sent with `share`. Checked by [`check_trusted_base`]; stored and marked as
    /// the trusted base (persisting across restarts), then every orphan waiting for it is
    /// inserted. The outer error is the store's, the inner the base's.
    pub fn insert_trusted_base(
        &mut self,
        share: Share,
        claimed: &ShareInfo,
        now: u64,
    ) -> Result<Result<Vec<InsertOutcome>, BaseError>, StoreError> {
        let id = share.id();
        if self.state.contains(&id) || self.store.info(&id)?.is_some() {
            return Ok(Ok(vec![InsertOutcome::Duplicate { id }]));
        }
        let info = match check_trusted_base(&self.pool, &share, claimed, self.pow.as_ref()) {
            Ok(info) => info,
            Err(e) => return Ok(Err(e)),
        };
        let better = otedama_consensus::fork_choice::is_better(self.state.best_info(), &info);
        self.store.put_trusted_base(&share, &info, better)?;
        tracing::info!(
            %id,
            height = info.height,
            cumulative_work = info.cumulative_work.0,
            "trusted base stored: shares above it are validated in full, except the payouts of the first window"
        );
        self.trusted_base = Some(id);
        self.state.set_trusted_base(Some(id));
        self.state.insert(&self.pool, info);
        self.pruned_below = self.store.min_height()?.unwrap_or(0);
        let mut outcomes = vec![if better {
            InsertOutcome::NewBest { id, reorg_depth: 0 }
        } else {
            InsertOutcome::SideChain { id }
        }];
        let waiting = self.orphans.take_waiting_for(&id);
        self.insert_queue(waiting, &mut outcomes, now)?;
        Ok(Ok(outcomes))
    }

    /// The trusted base, while it is stored.
    pub fn trusted_base(&self) -> Option<ShareHash> {
        self.trusted_base
    }

    /// Shares accepted without their payout check since start (their window reaches below the
    /// trusted base).
    pub fn partially_validated(&self) -> u64 {
        self.partially_validated
    }

    /// A base for a joining peer: the best-chain share [`MIN_BASE_DEPTH_WINDOWS`] windows below
    /// our tip, or the first below it (at most [`MAX_BASE_SEARCH`] lower) whose children within
    /// uncle depth include no uncle at or below it (a joiner could not validate such an uncle).
    /// With its index entry. `None` when our chain is not that long or that part is pruned.
    pub fn base_for_peer(&mut self) -> Result<Option<(Share, ShareInfo)>, StoreError> {
        let Some(best) = self.state.best_info().cloned() else {
            return Ok(None);
        };
        let depth = MIN_BASE_DEPTH_WINDOWS.saturating_mul(self.pool.pplns_window);
        let Some(top) = best.height.checked_sub(depth) else {
            return Ok(None);
        };
        let lowest = top.saturating_sub(MAX_BASE_SEARCH).max(1);
        let mut h = top;
        while h >= lowest {
            let Some(id) = self.best_id_at(&best, h)? else {
                break;
            };
            if self.no_uncles_at_or_below(&best, h)? {
                let info = match self.state.info(&id) {
                    Some(i) => Some(i.clone()),
                    None => self.store.info(&id)?,
                };
                if let (Some(info), Some(share)) = (info, self.store.share(&id)?) {
                    return Ok(Some((share, info)));
                }
            }
            h -= 1;
        }
        Ok(None)
    }

    /// Whether the best-chain shares at `h + 1 ..= h + uncle_depth` include no uncle at height
    /// `h` or below.
    fn no_uncles_at_or_below(&mut self, best: &ShareInfo, h: u64) -> Result<bool, StoreError> {
        for k in 1..=self.pool.uncle_depth {
            let Some(id) = self.best_id_at(best, h + k)? else {
                continue;
            };
            let info = match self.state.info(&id) {
                Some(i) => i.clone(),
                None => match self.store.info(&id)? {
                    Some(i) => i,
                    None => return Ok(false),
                },
            };
            for u in &info.uncles {
                let uh = match self.state.height_of(&u.id) {
                    Some(uh) => Some(uh),
                    None => self.store.info(&u.id)?.map(|i| i.height),
                };
                if uh.is_none_or(|uh| uh <= h) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The id of the best chain's share at `height`, from memory or (below the loaded range)
    /// the store.
    fn best_id_at(
        &mut self,
        best: &ShareInfo,
        height: u64,
    ) -> Result<Option<ShareHash>, StoreError> {
        use otedama_consensus::ChainView;
        if height > best.height {
            return Ok(None);
        }
        let loaded_from = self.oldest_loaded_height(best);
        if height >= loaded_from {
            return Ok(self.state.ancestor_at(&best.id, height).map(|a| a.id));
        }
        let deep_from = self.fill_deep(best)?;
        Ok(match &self.deep {
            Some((_, ids)) if height >= deep_from => {
                ids.get((height - deep_from) as usize).copied()
            }
            _ => None,
        })
    }

    /// Fills the cache of best-chain ids below the loaded range (walking the store back from the
    /// oldest loaded share; stops early on a pruned store) and returns the height it starts at.
    fn fill_deep(&mut self, best: &ShareInfo) -> Result<u64, StoreError> {
        use otedama_consensus::ChainView;
        let loaded_from = self.oldest_loaded_height(best);
        let Some(oldest) = self.state.ancestor_at(&best.id, loaded_from).cloned() else {
            return Ok(loaded_from);
        };
        if loaded_from == 0 || oldest.height == 0 {
            self.deep = None;
            return Ok(loaded_from);
        }
        if self.deep.as_ref().is_none_or(|(k, _)| *k != oldest.id) {
            // After `loaded_from` steps stop whatever the stored heights say.
            let mut ids = Vec::with_capacity(loaded_from.min(1 << 20) as usize);
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
        let len = self.deep.as_ref().map_or(0, |(_, ids)| ids.len() as u64);
        Ok(loaded_from.saturating_sub(len))
    }

    fn insert_one(&mut self, share: Share, now: u64) -> Result<InsertOutcome, StoreError> {
        let id = share.id();
        if self.state.contains(&id) || self.orphans.contains(&id) {
            return Ok(InsertOutcome::Duplicate { id });
        }
        let checked = match check_stateless(&self.pool, &share, self.pow.as_ref()) {
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
        if payouts_cross_base(&self.pool, &self.state, &info) {
            self.partially_validated += 1;
        } else if self.partially_validated > 0
            && self.trusted_base.is_some()
            && self
                .state
                .info(&info.prev)
                .is_some_and(|p| payouts_cross_base(&self.pool, &self.state, p))
        {
            tracing::info!(
                %id,
                height = info.height,
                without_payout_check = self.partially_validated,
                "first share a window above the trusted base: validated in full from here on"
            );
        }
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
        let deep_from = self.fill_deep(&best)?;
        let deep: &[ShareHash] = match &self.deep {
            Some((_, ids)) if loaded_from > 0 => ids,
            _ => &[],
        };
        // `deep` covers heights deep_from..loaded_from (all of them unless pruned).
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
        let start = match start {
            Some(s) => s,
            // Nothing of the locator is on our chain and our chain's beginning is pruned: the
            // asker cannot connect to what we could send. No ids, and the height of our oldest
            // best-chain share, tell it to ask for a trusted base (docs/p2p.md).
            None if deep_from > 0 => return Ok((deep_from, Vec::new())),
            None => deep_from,
        };
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
        self.prune_to(keep_from)
    }

    /// What the node does every tick unless it is an archive node (`--no-prune`): once the
    /// store holds [`prune_step`] shares more than [`prune_depth`] below the best tip, deletes
    /// every share below `best - prune_depth`. Store work of the one writer, one batch.
    pub fn prune_if_due(&mut self) -> Result<usize, StoreError> {
        let Some(best) = self.state.best_info() else {
            return Ok(0);
        };
        let keep_from = best.height.saturating_sub(prune_depth(&self.pool));
        if keep_from < self.pruned_below.saturating_add(prune_step(&self.pool)) {
            return Ok(0);
        }
        let n = self.prune_to(keep_from)?;
        tracing::info!(
            deleted = n,
            below_height = keep_from,
            best_height = best_height_of(&self.state),
            "store pruned"
        );
        Ok(n)
    }

    /// Lowest height the store may still hold.
    pub fn pruned_below(&self) -> u64 {
        self.pruned_below
    }

    fn prune_to(&mut self, keep_from: u64) -> Result<usize, StoreError> {
        if keep_from <= self.pruned_below {
            return Ok(0);
        }
        let n = self.store.prune_range(self.pruned_below, keep_from)?;
        self.pruned_below = keep_from;
        self.state.prune_below(keep_from);
        self.loaded_from = self.loaded_from.max(keep_from);
        self.deep = None;
        if self.store.trusted_base()?.is_none() && self.trusted_base.is_some() {
            tracing::info!("the trusted base was pruned: every stored share was validated in full or descends from one that was");
            self.trusted_base = None;
            self.state.set_trusted_base(None);
        }
        Ok(n)
    }
}

fn best_height_of(state: &ChainState) -> u64 {
    state.best_info().map_or(0, |b| b.height)
}
