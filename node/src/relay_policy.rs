//! Relay policy: which valid shares this node forwards by gossip. Not consensus: every share
//! that follows the rules is stored, counts for fork choice and is served to syncing peers; the
//! policy only decides what this node spends its peers' bandwidth on. A share that cannot become
//! a block on the parent chain as this node's full node sees it is not forwarded, and its sender
//! is not penalised (it may just see the parent chain a little earlier or later than we do).
//!
//! * **Parent block.** The share's header must build on our full node's current tip, or on the
//!   tip it replaced within the last [`PARENT_GRACE`] (a new block reaches nodes at different
//!   times; the shares miners found on the old tip meanwhile are honest work).
//! * **Coinbase value.** Peers cannot see the template's transactions, so the rules cannot cap
//!   the reward `R` a share claims; a share claiming more than `subsidy + fees` is a share that
//!   can never be a block (`bad-cb-amount`) while its author keeps share credit: block
//!   withholding. On our current parent tip, a share whose `R` exceeds our own template's value
//!   by more than `max(our template's fees, subsidy / 100)` is not forwarded. The tolerance lets
//!   through honest shares from nodes whose mempools hold more fees than ours (up to twice our
//!   fees); it also lets an attacker overpay by less than that and still be relayed.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use otedama_consensus::template::BlockTemplate;
use otedama_consensus::Share;
use std::time::{Duration, Instant};

/// How long after our full node moved to a new tip shares on the old tip are still relayed:
/// Bitcoin-family blocks reach most nodes within a few seconds; 10 s is one share period of the
/// main pool.
pub const PARENT_GRACE: Duration = Duration::from_secs(10);
/// Fraction of the subsidy always tolerated on top of our template's value (1 %), for nodes
/// whose mempools differ from ours when fees are small.
pub const VALUE_TOLERANCE_SUBSIDY_DIVISOR: u64 = 100;

/// Why a valid share is not forwarded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotRelayed {
    #[error("builds on parent block {0}, which is not our full node's tip")]
    OtherParent(BlockHash),
    #[error("claims {claimed}, more than the {allowed} our template allows with tolerance")]
    Overpays { claimed: u64, allowed: u64 },
}

/// Our full node's recent tips, as seen through its templates.
#[derive(Clone, Debug, Default)]
pub struct ParentTips {
    current: Option<Tip>,
    previous: Option<(BlockHash, Instant)>,
}

#[derive(Clone, Debug)]
struct Tip {
    prev: BlockHash,
    coinbase_value: u64,
    subsidy: u64,
}

impl ParentTips {
    /// Takes in the current template (call before judging; cheap when nothing changed).
    pub fn observe(&mut self, template: Option<&BlockTemplate>, subsidy: u64, now: Instant) {
        let Some(t) = template else {
            return;
        };
        match &self.current {
            Some(c) if c.prev == t.prev_blockhash => {
                if let Some(c) = &mut self.current {
                    c.coinbase_value = t.coinbase_value;
                    c.subsidy = subsidy;
                }
            }
            _ => {
                if let Some(old) = self.current.take() {
                    self.previous = Some((old.prev, now));
                }
                self.current = Some(Tip {
                    prev: t.prev_blockhash,
                    coinbase_value: t.coinbase_value,
                    subsidy,
                });
            }
        }
    }

    /// Whether `share` is forwarded. A node that has never had a template (no full node, or a
    /// relay-only node) cannot judge, and relays every valid share.
    pub fn judge(&self, share: &Share, now: Instant) -> Result<(), NotRelayed> {
        let Some(current) = self.current.as_ref() else {
            return Ok(());
        };
        let prev = BlockHash::from_byte_array(share.candidate.parent_prev_id());
        if prev != current.prev {
            return match self.previous {
                Some((old, since)) if old == prev && now.duration_since(since) <= PARENT_GRACE => {
                    Ok(())
                }
                _ => Err(NotRelayed::OtherParent(prev)),
            };
        }
        let claimed = share.candidate.reward();
        let fees = current.coinbase_value.saturating_sub(current.subsidy);
        let tolerance = fees.max(current.subsidy / VALUE_TOLERANCE_SUBSIDY_DIVISOR);
        let allowed = current.coinbase_value.saturating_add(tolerance);
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
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{first_share_on, script, template};

    fn share_on(t: &BlockTemplate, reward: u64) -> Share {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let mut t = t.clone();
        t.coinbase_value = reward;
        first_share_on(&pool, &t, &script(1), [0; 12])
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
        tips.observe(Some(&t1), subsidy, start);
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
        // Our full node moves on: shares on the old tip pass for the grace period only.
        tips.observe(Some(&t2), subsidy, start);
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
}
