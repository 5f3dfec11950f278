//! What contextual validation needs to know about the sharechain, and a reference in-memory
//! implementation.
//!
//! The store (sharechain crate) implements [`ChainView`] over its index; [`MemoryChain`] is the
//! simplest correct implementation, used by tests, benchmarks and the simulator.

use crate::hash::ShareHash;
use crate::pool::PoolParams;
use crate::pplns::WindowWeights;
use crate::share::{PayoutScript, Share};
use crate::work::Work;
use bitcoin::pow::CompactTarget;
use std::borrow::Cow;
use std::collections::HashMap;

/// An uncle as its nephew's payouts see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UncleCredit {
    pub id: ShareHash,
    pub script: PayoutScript,
    pub work: Work,
}

/// Index entry of a valid share: everything later validation and payouts need, without the
/// block candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareInfo {
    pub id: ShareHash,
    pub prev: ShareHash,
    pub height: u64,
    pub timestamp: u64,
    pub share_bits: CompactTarget,
    /// Work of the share's own target.
    pub work: Work,
    /// Work of the share, its uncles and all its ancestors (and theirs).
    pub cumulative_work: Work,
    /// Height of the retarget anchor this share hands to its children
    /// ([`crate::retarget::anchor_after`]): the first share's, or the parent of the latest
    /// share at the floor target.
    pub anchor_height: u64,
    /// Timestamp of that anchor.
    pub anchor_time: u64,
    pub parent_height: u32,
    pub payout_script: PayoutScript,
    pub uncles: Vec<UncleCredit>,
    /// Ancestor for O(log n) ancestor lookups (Bitcoin Core's skip list), at
    /// [`skip_height`]`(height)` when that ancestor was known, else a nearer ancestor (the
    /// parent); the share's own id at height 0. A local index shortcut, not consensus.
    pub skip: ShareHash,
}

impl ShareInfo {
    /// Weight credits this share puts into every window that holds it: its own work to its
    /// script, each uncle's work minus the penalty to the uncle's script, and the penalties to
    /// its own script. Integer: `penalty = floor(work * percent / 100)`, so credits sum to the
    /// work exactly.
    pub fn credits(&self, penalty_percent: u8) -> impl Iterator<Item = (&PayoutScript, u128)> {
        let pct = penalty_percent as u128;
        let penalties: u128 = self.uncles.iter().map(|u| u.work.0 * pct / 100).sum();
        std::iter::once((&self.payout_script, self.work.0 + penalties)).chain(
            self.uncles
                .iter()
                .map(move |u| (&u.script, u.work.0 - u.work.0 * pct / 100)),
        )
    }
}

/// Bitcoin Core's `GetSkipHeight`: the height an entry's skip pointer targets, chosen so that
/// walking to any ancestor takes O(log n) steps.
pub fn skip_height(height: u64) -> u64 {
    fn invert_lowest_one(n: u64) -> u64 {
        n & n.wrapping_sub(1)
    }
    if height < 2 {
        return 0;
    }
    if height & 1 == 1 {
        invert_lowest_one(invert_lowest_one(height - 1)) + 1
    } else {
        invert_lowest_one(height)
    }
}

/// The sharechain as contextual validation sees it.
pub trait ChainView {
    /// A valid share known to this view.
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo>;

    /// Payout weights of the PPLNS window ending at (and including) share `id`.
    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>>;

    /// The trusted base this view was synced from, if it holds one: a share taken from a peer
    /// with its index entry (cumulative work, retarget anchor) on trust, whose ancestors the
    /// view does not have ([`crate::validation::check_trusted_base`], docs/consensus.md
    /// section 13). Validation stops its walks there instead of calling the ancestors missing.
    fn trusted_base(&self) -> Option<&ShareInfo> {
        None
    }

    /// Where Monero payout checks remember their curve work between shares
    /// ([`DerivationMemo`](crate::chain::monero::derivation_memo::DerivationMemo)): a view that
    /// checks many shares keeps one. It changes no result, only the time; `None` derives
    /// everything each time.
    fn derivation_memo(&self) -> Option<&crate::chain::monero::derivation_memo::DerivationMemo> {
        None
    }

    /// The ancestor of `id` at `height` (`id` itself at its own height).
    fn ancestor_at(&self, id: &ShareHash, height: u64) -> Option<&ShareInfo> {
        let mut cur = self.share_info(id)?;
        if height > cur.height {
            return None;
        }
        while cur.height > height {
            let skip_h = skip_height(cur.height);
            let next = if skip_h >= height && cur.skip != cur.id {
                cur.skip
            } else {
                cur.prev
            };
            cur = self.share_info(&next)?;
        }
        Some(cur)
    }
}

/// A complete in-memory sharechain of valid shares with cached window weights for every share.
/// Memory is O(shares x distinct scripts), fine for tests, benchmarks and simulations.
#[derive(Default, Clone)]
pub struct MemoryChain {
    pub infos: HashMap<ShareHash, ShareInfo>,
    pub windows: HashMap<ShareHash, WindowWeights>,
    /// Best tip by cumulative work, ties to the first seen.
    pub best: Option<ShareHash>,
    /// Monero payout checks' memo (a clone starts with an empty one).
    pub memo: crate::chain::monero::derivation_memo::DerivationMemo,
}

impl ChainView for MemoryChain {
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        self.infos.get(id)
    }

    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>> {
        self.windows.get(id).map(Cow::Borrowed)
    }

    fn derivation_memo(&self) -> Option<&crate::chain::monero::derivation_memo::DerivationMemo> {
        Some(&self.memo)
    }
}

impl MemoryChain {
    pub fn new() -> MemoryChain {
        MemoryChain::default()
    }

    /// Adds a share that passed validation (the caller's duty) with its index entry.
    pub fn insert_valid(&mut self, pool: &PoolParams, info: ShareInfo) {
        let window = crate::pplns::window_after(self, pool, &info)
            .map(|w| w.into_owned())
            .unwrap_or_default();
        if crate::fork_choice::is_better(self.best.and_then(|b| self.infos.get(&b)), &info) {
            self.best = Some(info.id);
        }
        self.windows.insert(info.id, window);
        self.infos.insert(info.id, info);
    }

    /// Validates a share fully with the chain's stateless hasher and inserts it.
    pub fn validate_and_insert(
        &mut self,
        pool: &PoolParams,
        share: &Share,
        now: u64,
    ) -> Result<ShareInfo, crate::validation::RejectReason> {
        self.validate_and_insert_with(pool, share, now, pool.chain.stateless_pow())
    }

    /// Validates a share fully with `pow` (a RandomX hasher on Monero chains) and inserts it.
    pub fn validate_and_insert_with(
        &mut self,
        pool: &PoolParams,
        share: &Share,
        now: u64,
        pow: &dyn crate::pow::PowHasher,
    ) -> Result<ShareInfo, crate::validation::RejectReason> {
        let checked = crate::validation::check_stateless(pool, share, pow)?;
        let info = crate::validation::check_contextual(pool, self, share, &checked, now)?;
        self.insert_valid(pool, info.clone());
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_heights_match_core() {
        // Values from Bitcoin Core's GetSkipHeight.
        let expect = [
            (0, 0),
            (1, 0),
            (2, 0),
            (3, 1),
            (4, 0),
            (5, 1),
            (6, 4),
            (7, 1),
            (8, 0),
            (9, 1),
            (10, 8),
            (11, 1),
            (12, 8),
            (13, 1),
            (100, 96),
            (101, 65),
        ];
        for (h, s) in expect {
            assert_eq!(skip_height(h), s, "height {h}");
        }
        for h in 1..5000u64 {
            assert!(skip_height(h) < h);
        }
    }
}
