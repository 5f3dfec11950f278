//! The stateless checks of a Bitcoin-family candidate: coinbase layout, payouts, commitment,
//! witness and merkle branch (docs/consensus.md section 5). The proof of work is checked by the
//! caller.

use super::stateless::CandidateFacts;
use super::RejectReason;
use crate::coinbase::{
    is_witness_commitment, parse_commitment_script, read_bip34_height, MAX_COINBASE_SCRIPT_SIG,
};
use crate::pool::PoolParams;
use crate::share::{BitcoinCandidate, SideData};
use crate::work::Target;

pub(super) fn check(
    pool: &PoolParams,
    side: &SideData,
    cand: &BitcoinCandidate,
) -> Result<CandidateFacts, RejectReason> {
    // Coinbase input.
    let cb = &cand.coinbase;
    let [input] = cb.input.as_slice() else {
        return Err(RejectReason::NotCoinbase);
    };
    if !input.previous_output.is_null() {
        return Err(RejectReason::NotCoinbase);
    }
    let script_sig = input.script_sig.as_bytes();
    if script_sig.len() < 2 || script_sig.len() > MAX_COINBASE_SCRIPT_SIG {
        return Err(RejectReason::ScriptSigLength(script_sig.len()));
    }
    if read_bip34_height(script_sig) != Some(side.parent_height) {
        return Err(RejectReason::Bip34HeightMismatch);
    }

    // Coinbase outputs: payouts | commitment | witness commitment?
    let outputs = &cb.output;
    let has_wc = outputs
        .last()
        .is_some_and(|o| is_witness_commitment(o.script_pubkey.as_bytes()));
    let commitment_index = outputs
        .len()
        .checked_sub(if has_wc { 2 } else { 1 })
        .ok_or(RejectReason::BadOutputLayout)?;
    let commitment_out = &outputs[commitment_index];
    let Some(commitment) = parse_commitment_script(commitment_out.script_pubkey.as_bytes()) else {
        return Err(RejectReason::BadOutputLayout);
    };
    if commitment_out.value.to_sat() != 0
        || (has_wc && outputs[commitment_index + 1].value.to_sat() != 0)
    {
        return Err(RejectReason::BadOutputLayout);
    }
    let payouts = &outputs[..commitment_index];
    if payouts.len() > pool.max_payout_outputs as usize
        || payouts.iter().any(|o| o.value.to_sat() == 0)
        || payouts
            .windows(2)
            .any(|w| w[0].script_pubkey.as_bytes() >= w[1].script_pubkey.as_bytes())
    {
        return Err(RejectReason::PayoutsNotCanonical);
    }
    let max_money = pool.chain.max_money();
    let mut reward: u64 = 0;
    for o in payouts {
        reward = reward
            .checked_add(o.value.to_sat())
            .filter(|r| *r <= max_money)
            .ok_or(RejectReason::RewardOutOfRange)?;
    }
    // The subsidy is the part of R every full node agrees on; fees are not checkable here.
    let subsidy = pool.chain.subsidy(side.parent_height);
    if reward < subsidy {
        return Err(RejectReason::RewardBelowSubsidy { reward, subsidy });
    }

    // Witness: exactly the 32-byte reserved value when committed, none otherwise.
    let reserved = if has_wc {
        match input.witness.nth(0) {
            Some(w) if input.witness.len() == 1 && w.len() == 32 => Some(w),
            _ => return Err(RejectReason::BadWitness),
        }
    } else if input.witness.is_empty() {
        None
    } else {
        return Err(RejectReason::BadWitness);
    };
    if reserved.is_some_and(|w| w.iter().any(|b| *b != 0)) {
        return Err(RejectReason::WitnessReservedValueNotZero);
    }

    if commitment != side.commitment(&pool.commitment_id()) {
        return Err(RejectReason::CommitmentMismatch);
    }
    if cand.computed_merkle_root() != cand.header.merkle_root {
        return Err(RejectReason::MerkleRootMismatch);
    }

    Ok(CandidateFacts {
        reward,
        payout_count: payouts.len(),
        block_target: Some(Target::from_compact(cand.header.bits)),
    })
}
