//! Relay policy: which valid shares this node forwards by gossip. Not consensus: every share
//! that follows the rules is stored, counts for fork choice and is served to syncing peers; the
//! policy only decides what this node spends its peers' bandwidth on. A share that cannot become
//! a block on the parent chain as this node's full node sees it is not forwarded, and its sender
//! is not penalised (it may just see the parent chain a little earlier or later than we do).
//! The same rules hold for every family: they read the parent chain through [`ParentView`].
//!
//! * **Parent block.** The share's header must build on our full node's current tip, or on the
//!   tip it replaced within the last [`PARENT_GRACE`] (a new block reaches nodes at different
//!   times; the shares miners found on the old tip meanwhile are honest work).
//! * **Coinbase value.** Peers cannot see the template's transactions, so the rules cannot cap
//!   the reward `R` a share claims; a share claiming more than `base reward + fees` is a share
//!   that can never be a block (Bitcoin's `bad-cb-amount`, Monero's exact-coinbase rule) while
//!   its author keeps share credit: block withholding. On our current parent tip, a share whose
//!   `R` exceeds our own work's value by more than `max(our fees, base reward / 100)` is not
//!   forwarded. The tolerance lets through honest shares from nodes whose pools hold more fees
//!   than ours (up to twice our fees); it also lets an attacker overpay by less than that and
//!   still be relayed.

use otedama_consensus::Share;
use std::fmt;
use std::time::{Duration, Instant};

/// How long after our full node moved to a new tip shares on the old tip are still relayed:
/// Bitcoin-family and Monero blocks reach most nodes within a few seconds; 10 s is one share
/// period of the main pool.
pub const PARENT_GRACE: Duration = Duration::from_secs(10);
/// Fraction of the base reward always tolerated on top of our work's value (1 %), for nodes
/// whose pools differ from ours when fees are small.
pub const VALUE_TOLERANCE_SUBSIDY_DIVISOR: u64 = 100;

/// A parent-chain block id as the share's header carries it (internal byte order: Bitcoin's
/// block hashes print reversed elsewhere; this is a log value only).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParentId(pub [u8; 32]);

impl fmt::Display for ParentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ParentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParentId({self})")
    }
}

/// Why a valid share is not forwarded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotRelayed {
    #[error("builds on parent block {0} (internal byte order), which is not our full node's tip")]
    OtherParent(ParentId),
    #[error("claims {claimed}, more than the {allowed} our work allows with tolerance")]
    Overpays { claimed: u64, allowed: u64 },
}

/// The parent chain as our full node's current work shows it, in every family's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParentView {
    /// The block the work builds on.
    pub prev: ParentId,
    /// What a block on it may pay in all as our full node sees it (Bitcoin: the template's
    /// `coinbasevalue`; Monero: the larger of monerod's own miner transaction and the base
    /// reward).
    pub reward: u64,
    /// The part of `reward` every node agrees on (the subsidy, Monero's base reward); the rest
    /// is fees, which depend on each node's pool.
    pub base_reward: u64,
}

/// Our full node's recent tips, as seen through its work.
#[derive(Clone, Debug, Default)]
pub struct ParentTips {
    current: Option<ParentView>,
    previous: Option<(ParentId, Instant)>,
}

impl ParentTips {
    /// Takes in the current work (call before judging; cheap when nothing changed).
    pub fn observe(&mut self, view: Option<ParentView>, now: Instant) {
        let Some(view) = view else {
            return;
        };
        if let Some(old) = self.current.replace(view) {
            if old.prev != view.prev {
                self.previous = Some((old.prev, now));
            }
        }
    }

    /// Whether `share` is forwarded. A node that has never had work (no full node, or a
    /// relay-only node) cannot judge, and relays every valid share.
    pub fn judge(&self, share: &Share, now: Instant) -> Result<(), NotRelayed> {
        let Some(current) = self.current.as_ref() else {
            return Ok(());
        };
        let prev = ParentId(share.candidate.parent_prev_id());
        if prev != current.prev {
            return match self.previous {
                Some((old, since)) if old == prev && now.duration_since(since) <= PARENT_GRACE => {
                    Ok(())
                }
                _ => Err(NotRelayed::OtherParent(prev)),
            };
        }
        let claimed = share.candidate.reward();
        let fees = current.reward.saturating_sub(current.base_reward);
        let tolerance = fees.max(current.base_reward / VALUE_TOLERANCE_SUBSIDY_DIVISOR);
        let allowed = current.reward.saturating_add(tolerance);
        if claimed > allowed {
            return Err(NotRelayed::Overpays { claimed, allowed });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;
    use bitcoin::BlockHash;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::monero_builder::{build_monero_share, MoneroShareInput, MoneroTemplate};
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::template::BlockTemplate;
    use otedama_consensus::testkit::{first_share_on, monero_payee, script, template};
    use otedama_consensus::{MemoryChain, PayoutScript};

    fn share_on(t: &BlockTemplate, reward: u64) -> Share {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let mut t = t.clone();
        t.coinbase_value = reward;
        first_share_on(&pool, &t, &script(1), [0; 12])
    }

    /// What the node's work board reports for a Bitcoin-family template.
    fn view_of(t: &BlockTemplate, subsidy: u64) -> Option<ParentView> {
        Some(ParentView {
            prev: ParentId(t.prev_blockhash.to_byte_array()),
            reward: t.coinbase_value,
            base_reward: subsidy,
        })
    }

    #[test]
    fn parent_tip_grace_and_value_tolerance() {
        let subsidy = 5_000_000_000;
        let mut t1 = template(100, subsidy + 1_000_000);
        t1.prev_blockhash = BlockHash::from_byte_array([1; 32]);
        let mut t2 = template(101, subsidy + 2_000_000);
        t2.prev_blockhash = BlockHash::from_byte_array([2; 32]);
        let start = Instant::now();
        let mut tips = ParentTips::default();
        let on_t1 = share_on(&t1, subsidy + 1_000_000);
        assert_eq!(
            tips.judge(&on_t1, start),
            Ok(()),
            "no template: no judgement"
        );
        tips.observe(view_of(&t1, subsidy), start);
        assert_eq!(tips.judge(&on_t1, start), Ok(()));
        // Up to max(fees, 1 % of the subsidy) above our template: 50,000,000 here.
        assert_eq!(
            tips.judge(&share_on(&t1, subsidy + 51_000_000), start),
            Ok(())
        );
        assert!(matches!(
            tips.judge(&share_on(&t1, subsidy + 51_000_001), start),
            Err(NotRelayed::Overpays { .. })
        ));
        // The same tip seen again (a template refresh) does not start a grace period.
        tips.observe(view_of(&t1, subsidy), start);
        // Our full node moves on: shares on the old tip pass for the grace period only.
        tips.observe(view_of(&t2, subsidy), start);
        assert_eq!(tips.judge(&on_t1, start + PARENT_GRACE), Ok(()));
        assert!(matches!(
            tips.judge(&on_t1, start + PARENT_GRACE + Duration::from_secs(1)),
            Err(NotRelayed::OtherParent(_))
        ));
        // A parent block we do not know at all.
        let mut t3 = template(102, subsidy);
        t3.prev_blockhash = BlockHash::from_byte_array([3; 32]);
        assert!(matches!(
            tips.judge(&share_on(&t3, subsidy), start),
            Err(NotRelayed::OtherParent(_))
        ));
        assert_eq!(
            tips.judge(&share_on(&t2, subsidy + 2_000_000), start),
            Ok(())
        );
    }

    /// An unground Monero share on `prev` whose miner transaction pays `reward` in all (the
    /// policy reads the header and the amounts, never the proof of work).
    fn monero_share_on(prev: [u8; 32], reward: u64) -> Share {
        let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
        let t = MoneroTemplate {
            major_version: 16,
            minor_version: 16,
            timestamp: 1_700_000_000,
            prev_id: prev,
            height: 100,
            seed_hash: [5; 32],
            tx_hashes: vec![[7; 32]],
            reward,
        };
        build_monero_share(
            &pool,
            &MemoryChain::new(),
            &MoneroShareInput {
                parent: None,
                uncles: vec![],
                payout_script: PayoutScript::new(&monero_payee(b"relay", false).to_bytes()),
                now: t.timestamp,
                software_version: 1,
                template: &t,
                extra_nonce: &[0; 4],
            },
        )
        .expect("a Monero share")
    }

    /// The same rules on Monero: a share on another block than monerod's tip, or claiming more
    /// than monerod's work allows with tolerance, is kept but not forwarded.
    #[test]
    fn monero_shares_are_judged_by_monerods_work() {
        let base = 600_000_000_000;
        let fees = 1_000_000_000;
        let start = Instant::now();
        let mut tips = ParentTips::default();
        tips.observe(
            Some(ParentView {
                prev: ParentId([1; 32]),
                reward: base + fees,
                base_reward: base,
            }),
            start,
        );
        // Tolerance max(1,000,000,000 fees, 1 % of 600,000,000,000) = 6,000,000,000.
        let allowed = base + fees + 6_000_000_000;
        assert_eq!(
            tips.judge(&monero_share_on([1; 32], allowed), start),
            Ok(())
        );
        assert_eq!(
            tips.judge(&monero_share_on([1; 32], allowed + 1), start),
            Err(NotRelayed::Overpays {
                claimed: allowed + 1,
                allowed
            })
        );
        assert_eq!(
            tips.judge(&monero_share_on([9; 32], base), start),
            Err(NotRelayed::OtherParent(ParentId([9; 32])))
        );
    }
}
