//! [`TxMenu`]: which of monerod's pool transactions a Monero share's block carries, and the
//! exact reward that block may pay.
//!
//! Why not monerod's own template: `get_block_template` chooses transactions for a miner
//! transaction of a few dozen bytes and states the reward for that block. A share's miner
//! transaction pays every miner of the PPLNS window (44 bytes per output plus the additional
//! keys of subaddress payees: kilobytes). Under a full pool monerod fills its block to the median
//! weight or beyond it; with our heavier miner transaction the block then crosses into the
//! penalty zone, the reward it may pay drops below `expected_reward`, and since hard fork 13
//! (`HF_VERSION_EXACT_COINBASE`) monerod refuses any block whose miner transaction does not pay
//! exactly the allowed amount. Every block found would be lost, exactly when fees are highest.
//!
//! So the node picks the transactions itself from `get_miner_data`'s backlog (what monerod
//! deems mineable, with each transaction's weight and fee), as Monero P2Pool does, knowing its
//! own miner transaction's weight: the best fee per weight first, skipping what does not fit,
//! while the whole block (miner transaction included) stays within the full-reward zone
//! (the median weight, at least 300,000). The reward is then exact and needs no fixed point
//! between the miner transaction's size and its amounts: the base reward plus the chosen fees.
//! What this leaves out: transactions monerod would add inside the penalty zone when their fees
//! outweigh the penalty (a small gain, and it would make the reward depend on the miner
//! transaction's final size). They wait for the next block.

use super::client::TxBacklogEntry;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::reward::{base_reward, FULL_REWARD_ZONE};
use std::cmp::Ordering;

/// Pool transactions a block may carry, best fee per weight first, and what limits them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxMenu {
    /// The median block weight the next block's penalty is measured against (`get_miner_data`).
    pub median_weight: u64,
    /// The next block's base reward before any penalty (from `already_generated_coins`).
    pub base_reward: u64,
    /// Mineable transactions, best fee per weight first (ties by id, so every node that sees
    /// the same pool picks the same block); no duplicates, no zero weights.
    entries: Vec<TxBacklogEntry>,
}

/// What [`TxMenu::select`] chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxSelection {
    /// Ids in block order.
    pub tx_hashes: Vec<Hash32>,
    /// Sum of their weights.
    pub weight: u64,
    /// Sum of their fees.
    pub fees: u64,
    /// What the block may pay in all: the base reward plus the fees (no penalty: the block stays
    /// within the full-reward zone).
    pub reward: u64,
}

/// The miner transaction alone is heavier than the full-reward zone (a bug: the pool's output
/// cap keeps it to tens of kilobytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a miner transaction of {miner_tx_weight} bytes leaves no room within the block weight limit of {limit}")]
pub struct TooHeavy {
    pub miner_tx_weight: u64,
    pub limit: u64,
}

impl TxMenu {
    /// The menu of `get_miner_data`'s answer. Entries with zero weight (which no real
    /// transaction has) and repeated ids are dropped; a sum of fees that would overflow stops
    /// the menu there (monerod's own `uint64_t` sums would wrap first).
    pub fn new(
        median_weight: u64,
        already_generated_coins: u64,
        backlog: &[TxBacklogEntry],
    ) -> Self {
        let mut entries: Vec<TxBacklogEntry> =
            backlog.iter().filter(|e| e.weight > 0).cloned().collect();
        entries.sort_by(better);
        let mut seen = std::collections::HashSet::with_capacity(entries.len());
        entries.retain(|e| seen.insert(e.id));
        TxMenu {
            median_weight,
            base_reward: base_reward(already_generated_coins),
            entries,
        }
    }

    /// The block weight up to which no penalty applies: the median, at least 300,000.
    pub fn limit(&self) -> u64 {
        self.median_weight.max(FULL_REWARD_ZONE)
    }

    /// The mineable transactions, best first.
    pub fn entries(&self) -> &[TxBacklogEntry] {
        &self.entries
    }

    /// The entry of one transaction id, if it is on the menu.
    pub fn get(&self, id: &Hash32) -> Option<&TxBacklogEntry> {
        self.entries.iter().find(|e| &e.id == id)
    }

    /// The transactions for a block whose miner transaction weighs `miner_tx_weight`: greedy by
    /// fee per weight, skipping any that would push the block past [`TxMenu::limit`].
    pub fn select(&self, miner_tx_weight: u64) -> Result<TxSelection, TooHeavy> {
        let limit = self.limit();
        let room = limit.checked_sub(miner_tx_weight).ok_or(TooHeavy {
            miner_tx_weight,
            limit,
        })?;
        let mut out = TxSelection {
            tx_hashes: Vec::new(),
            weight: 0,
            fees: 0,
            reward: self.base_reward,
        };
        for e in &self.entries {
            let Some(weight) = out.weight.checked_add(e.weight).filter(|w| *w <= room) else {
                continue;
            };
            let Some(reward) = out.reward.checked_add(e.fee) else {
                continue;
            };
            out.weight = weight;
            out.fees += e.fee;
            out.reward = reward;
            out.tx_hashes.push(e.id);
        }
        Ok(out)
    }
}

/// Higher fee per weight first: `a.fee / a.weight > b.fee / b.weight` compared exactly as
/// `a.fee * b.weight > b.fee * a.weight` in 128 bits; then the larger fee, then the id.
fn better(a: &TxBacklogEntry, b: &TxBacklogEntry) -> Ordering {
    let left = u128::from(b.fee) * u128::from(a.weight);
    let right = u128::from(a.fee) * u128::from(b.weight);
    left.cmp(&right)
        .then(b.fee.cmp(&a.fee))
        .then(a.id.cmp(&b.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tx(id: u8, weight: u64, fee: u64) -> TxBacklogEntry {
        TxBacklogEntry {
            id: [id; 32],
            weight,
            fee,
        }
    }

    /// `already_generated_coins` at regtest height 1: the genesis reward, 2^44 - 1.
    const GENESIS_COINS: u64 = (1 << 44) - 1;

    #[test]
    fn an_empty_pool_pays_the_base_reward() {
        let m = TxMenu::new(0, GENESIS_COINS, &[]);
        assert_eq!(m.limit(), 300_000);
        let s = m.select(2_000).unwrap();
        assert!(s.tx_hashes.is_empty());
        // What regtest monerod's get_block_template says at height 1 (`expected_reward`).
        assert_eq!(s.reward, 35_184_338_534_400);
    }

    #[test]
    fn best_fee_per_weight_first_and_what_does_not_fit_is_skipped() {
        // 1: 100/kB, 2: 50/kB, 3: 200/kB but 200 kB, 4: 10/kB small.
        let backlog = [
            tx(1, 100_000, 10_000),
            tx(2, 100_000, 5_000),
            tx(3, 200_000, 40_000),
            tx(4, 1_000, 10),
        ];
        let m = TxMenu::new(300_000, GENESIS_COINS, &backlog);
        let order: Vec<u8> = m.entries().iter().map(|e| e.id[0]).collect();
        assert_eq!(order, [3, 1, 2, 4]);
        // A 10 kB miner tx: 3 (200 kB) then 1 (300 kB in all with it: over), 2 likewise; 4 fits.
        let s = m.select(10_000).unwrap();
        assert_eq!(s.tx_hashes, vec![[3; 32], [4; 32]]);
        assert_eq!(s.weight, 201_000);
        assert_eq!(s.fees, 40_010);
        assert_eq!(s.reward, 35_184_338_534_400 + 40_010);
        // No miner tx weight to speak of: 3 and 1 fill the zone exactly.
        let s = m.select(0).unwrap();
        assert_eq!(s.tx_hashes, vec![[3; 32], [1; 32]]);
        assert_eq!(s.weight, 300_000);
    }

    #[test]
    fn a_higher_median_raises_the_limit() {
        let m = TxMenu::new(400_000, GENESIS_COINS, &[tx(1, 350_000, 1)]);
        assert_eq!(m.limit(), 400_000);
        assert_eq!(m.select(10_000).unwrap().tx_hashes.len(), 1);
        assert_eq!(
            m.select(400_001),
            Err(TooHeavy {
                miner_tx_weight: 400_001,
                limit: 400_000
            })
        );
    }

    #[test]
    fn zero_weights_and_repeats_are_dropped() {
        let m = TxMenu::new(0, 0, &[tx(1, 0, 5), tx(2, 10, 5), tx(2, 10, 5)]);
        assert_eq!(m.entries().len(), 1);
        assert!(m.get(&[2; 32]).is_some());
        assert!(m.get(&[1; 32]).is_none());
    }

    #[test]
    fn fees_that_would_overflow_are_left_out() {
        let m = TxMenu::new(0, u64::MAX, &[tx(1, 10, u64::MAX), tx(2, 10, 1)]);
        let s = m.select(0).unwrap();
        // The tail emission plus u64::MAX overflows: that one is skipped, the other taken.
        assert_eq!(s.tx_hashes, vec![[2; 32]]);
        assert_eq!(s.reward, 600_000_000_000 + 1);
    }

    proptest! {
        #[test]
        fn a_selection_stays_within_the_zone_and_pays_exactly(
            backlog in proptest::collection::vec((any::<u8>(), 1u64..120_000, 0u64..1u64 << 40), 0..60),
            median in 0u64..600_000,
            miner in 0u64..60_000,
            coins in any::<u64>(),
        ) {
            let backlog: Vec<_> = backlog.into_iter().map(|(i, w, f)| tx(i, w, f)).collect();
            let m = TxMenu::new(median, coins, &backlog);
            let s = m.select(miner).unwrap();
            prop_assert!(s.weight + miner <= m.limit());
            let chosen: Vec<&TxBacklogEntry> =
                s.tx_hashes.iter().map(|id| m.get(id).unwrap()).collect();
            prop_assert_eq!(chosen.iter().map(|e| e.weight).sum::<u64>(), s.weight);
            prop_assert_eq!(chosen.iter().map(|e| e.fee).sum::<u64>(), s.fees);
            prop_assert_eq!(s.reward, base_reward(coins) + s.fees);
            let unique: std::collections::HashSet<_> = s.tx_hashes.iter().collect();
            prop_assert_eq!(unique.len(), s.tx_hashes.len());
            // Greedy: every transaction left out would not have fitted when its turn came.
            let mut used = 0u64;
            for e in m.entries() {
                if s.tx_hashes.contains(&e.id) {
                    used += e.weight;
                } else {
                    prop_assert!(used + e.weight + miner > m.limit());
                }
            }
            // Deterministic: the backlog's order does not matter.
            let mut reversed = backlog.clone();
            reversed.reverse();
            prop_assert_eq!(TxMenu::new(median, coins, &reversed).select(miner).unwrap(), s);
        }
    }
}
