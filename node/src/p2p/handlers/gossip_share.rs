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
            Severity::NotYet => Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: Some(Offence::FutureShare),
            },
            Severity::MissingData => Verdict::Done {
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
