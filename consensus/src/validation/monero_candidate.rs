//! The stateless checks of a Monero candidate (docs/consensus.md section 14): the rules of
//! [`check_candidate`] against the share's side data. The payouts' keys and amounts need the
//! window (contextual layer), the proof of work the node's RandomX hasher (caller).

use super::stateless::CandidateFacts;
use super::RejectReason;
use crate::chain::monero::candidate::MoneroCandidate;
use crate::chain::monero::check::check_candidate;
use crate::pool::PoolParams;
use crate::share::SideData;

pub(super) fn check(
    pool: &PoolParams,
    side: &SideData,
    cand: &MoneroCandidate,
) -> Result<CandidateFacts, RejectReason> {
    let commitment = side.commitment(&pool.commitment_id());
    let facts = check_candidate(
        cand,
        u64::from(side.parent_height),
        &commitment,
        pool.max_payout_outputs as usize,
    )
    .map_err(RejectReason::Monero)?;
    Ok(CandidateFacts {
        reward: facts.reward,
        payout_count: facts.payout_count,
        block_target: None,
    })
}
