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

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};

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
