//! A gossiped share: decode, insert, and say what gossipsub should do with the message and
//! what the sender deserves. Nothing is forwarded before the sharechain has validated it.

use crate::p2p::scoring::Offence;
use crate::p2p::{gossip, Acceptance};
use otedama_consensus::validation::Severity;
use otedama_consensus::{Share, ShareHash};
use otedama_sharechain::{InsertOutcome, Sharechain, StoreError};

/// What became of one gossip message.
#[derive(Debug)]
pub struct GossipResult {
    /// The share, when the bytes were one.
    pub share: Option<Share>,
    /// Every insert outcome (the share's own first, then orphans it connected).
    pub outcomes: Vec<InsertOutcome>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Decided now; penalise the sender with `offence` when there is one.
    Done {
        acceptance: Acceptance,
        offence: Option<Offence>,
    },
    /// Valid so far but `missing` (parent or uncle) is unknown: hold the message, fetch it.
    Held { id: ShareHash, missing: ShareHash },
}

/// Gossiped shares more than this many heights below our best tip are neither stored nor
/// forwarded (no penalty): they cannot be uncles (depth 3) and their branch is far behind, so
/// they only cost every node disk and validation. One cheap ASIC could otherwise mint floor
/// difficulty side shares (or a new genesis) for every node to keep forever. If such a branch
/// ever grows heavier than ours, a peer that has it claims more work and sync fetches it, which
/// this rule does not touch. 64 shares are over 10 minutes of 10 s shares.
pub const MAX_GOSSIP_DEPTH: u64 = 64;

pub fn handle(chain: &mut Sharechain, data: &[u8], now: u64) -> Result<GossipResult, StoreError> {
    let share = match gossip::decode(data) {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("undecodable gossip: {e}");
            return Ok(GossipResult {
                share: None,
                outcomes: vec![],
                verdict: Verdict::Done {
                    acceptance: Acceptance::Reject,
                    offence: Some(Offence::Malformed),
                },
            });
        }
    };
    if too_deep(chain, &share) {
        return Ok(GossipResult {
            share: Some(share),
            outcomes: vec![],
            verdict: Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            },
        });
    }
    let outcomes = chain.insert(share.clone(), now)?;
    let verdict = match outcomes.first() {
        Some(InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. }) => Verdict::Done {
            acceptance: Acceptance::Accept,
            offence: None,
        },
        Some(InsertOutcome::Orphan { id, missing }) => Verdict::Held {
            id: *id,
            missing: *missing,
        },
        Some(InsertOutcome::Invalid { reason, .. }) => match reason.severity() {
            Severity::Invalid => Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            },
            // Not decidable by us now: a share from the future may be our clock's fault (a node
            // whose clock is slow would otherwise ban every honest relayer), and missing data
            // is ours to fetch. Neither is forwarded, neither costs the sender anything; the
            // share comes back by gossip or sync once it can be decided.
            Severity::NotYet | Severity::MissingData => Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            },
        },
        Some(InsertOutcome::Duplicate { .. }) | None => Verdict::Done {
            acceptance: Acceptance::Ignore,
            offence: None,
        },
    };
    Ok(GossipResult {
        share: Some(share),
        outcomes,
        verdict,
    })
}

/// Whether `share` lies more than [`MAX_GOSSIP_DEPTH`] below our best tip.
pub fn too_deep(chain: &Sharechain, share: &Share) -> bool {
    chain
        .best()
        .is_some_and(|b| share.side.height.saturating_add(MAX_GOSSIP_DEPTH) < b.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};

    #[test]
    fn shares_far_below_the_best_tip_are_not_stored() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let mut parent = None;
        let mut first = None;
        for h in 0..(MAX_GOSSIP_DEPTH + 3) {
            let s = make_share(&pool, chain.state(), parent, 1, T0 + 10 * h, vec![], h).unwrap();
            let o = chain.insert(s.clone(), T0 + 10 * h).unwrap();
            assert!(matches!(o[0], InsertOutcome::NewBest { .. }), "{o:?}");
            parent = Some(s.id());
            first.get_or_insert(s);
        }
        assert_eq!(chain.best().unwrap().height, MAX_GOSSIP_DEPTH + 2);
        // A second genesis (a new, backdated chain) and a side share on the first: both far
        // below the tip.
        let genesis = make_share(
            &pool,
            &otedama_consensus::MemoryChain::new(),
            None,
            2,
            T0,
            vec![],
            77,
        )
        .unwrap();
        let first = first.unwrap();
        let side = make_share(
            &pool,
            chain.state(),
            Some(first.id()),
            3,
            T0 + 5,
            vec![],
            78,
        )
        .unwrap();
        for s in [genesis, side] {
            let r = handle(&mut chain, &gossip::encode(&s), T0 + 10_000).unwrap();
            assert!(ignored_without_penalty(&r), "{:?}", r.verdict);
            assert!(r.outcomes.is_empty());
            assert!(!chain.state().contains(&s.id()));
            assert!(chain.store().share(&s.id()).unwrap().is_none());
        }
    }

    fn ignored_without_penalty(r: &GossipResult) -> bool {
        r.verdict
            == Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            }
    }

    #[test]
    fn a_share_from_the_future_costs_the_relayer_nothing() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let first = make_share(&pool, chain.state(), None, 1, T0, vec![], 1).unwrap();
        chain.insert(first.clone(), T0).unwrap();
        // Built an hour ahead of our clock: valid by then, not now.
        let later = T0 + 3600;
        let future = make_share(&pool, chain.state(), Some(first.id()), 2, later, vec![], 2);
        let future = future.unwrap();
        let r = handle(&mut chain, &gossip::encode(&future), T0).unwrap();
        assert!(
            matches!(
                r.outcomes.first(),
                Some(InsertOutcome::Invalid { reason, .. })
                    if reason.severity() == Severity::NotYet
            ),
            "{:?}",
            r.outcomes
        );
        assert!(ignored_without_penalty(&r), "{:?}", r.verdict);
        // Once our clock gets there the same bytes are accepted.
        let r = handle(&mut chain, &gossip::encode(&future), later).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Accept,
                offence: None,
            }
        );
    }

    #[test]
    fn an_invalid_share_still_costs_the_relayer() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let mut bad = make_share(&pool, chain.state(), None, 1, T0, vec![], 1).unwrap();
        // A reserved value that is not zero (the id does not change, the bytes do).
        bad.candidate.coinbase.input[0].witness = bitcoin::Witness::from_slice(&[[7u8; 32]]);
        let r = handle(&mut chain, &gossip::encode(&bad), T0).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            }
        );
    }
}
