//! Checks a share can pass on its own.

use super::RejectReason;
use crate::chain::address::is_standard_payout_script;
use crate::coinbase::{
    is_witness_commitment, parse_commitment_script, read_bip34_height, MAX_COINBASE_SCRIPT_SIG,
};
use crate::hash::ShareHash;
use crate::pool::PoolParams;
use crate::share::Share;
use crate::work::{Target, Work};

/// What stateless validation learned, for the contextual layer and the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checked {
    pub id: ShareHash,
    /// Work of the share target (the share's weight).
    pub work: Work,
    /// Sum of the payout outputs: the coinbase value the payouts split.
    pub reward: u64,
    /// Number of leading coinbase outputs that are payouts.
    pub payout_count: usize,
    /// Whether the proof of work also meets the header's own `bits`. The miner chose those bits:
    /// before treating the share as a block, the node checks them (and the parent block) against
    /// its full node.
    pub is_block: bool,
}

/// Stateless checks, cheapest first; the proof-of-work hash is last.
pub fn check_stateless(pool: &PoolParams, share: &Share) -> Result<Checked, RejectReason> {
    let side = &share.side;
    let cand = &share.candidate;

    // Sidechain data.
    if (side.height == 0) != (side.prev_share == ShareHash::genesis_parent()) {
        return Err(RejectReason::BadGenesis);
    }
    // A launched pool has one genesis; any other first share starts a rival chain from nothing.
    if let (0, Some(pinned)) = (side.height, pool.genesis) {
        if share.id() != pinned {
            return Err(RejectReason::GenesisNotPinned(pinned));
        }
    }
    if !is_standard_payout_script(side.payout_script.as_script()) {
        return Err(RejectReason::NonStandardPayoutScript);
    }
    if side.uncles.len() > pool.max_uncles {
        return Err(RejectReason::TooManyUncles);
    }
    if side.uncles.windows(2).any(|w| w[0] >= w[1]) || side.uncles.contains(&side.prev_share) {
        return Err(RejectReason::UnclesNotCanonical);
    }
    let target = side.target();
    if target < pool.min_target()
        || target > pool.max_target()
        || target.to_compact() != side.share_bits
    {
        return Err(RejectReason::TargetOutOfBounds(side.share_bits));
    }

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
    let max_money = pool.chain.params().max_money;
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

    // Proof of work, last: it is the expensive part (scrypt: ~0.3 ms).
    let header = cand.header_bytes();
    let pow = pool.chain.pow_algo().hash(&header);
    if !target.is_met_by(&pow) {
        return Err(RejectReason::InsufficientWork);
    }
    let is_block = Target::from_compact(cand.header.bits).is_met_by(&pow);

    Ok(Checked {
        id: share.id(),
        work: target.work(),
        reward,
        payout_count: payouts.len(),
        is_block,
    })
}
