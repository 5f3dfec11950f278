//! Checks a share can pass on its own: the generic sidechain rules here, the candidate's in its
//! family's file ([`super::bitcoin_candidate`], [`super::monero_candidate`]), the proof of work last through the node's
//! [`PowHasher`].

use super::RejectReason;
use crate::chain::monero::payee::Payee;
use crate::chain::Family;
use crate::hash::ShareHash;
use crate::pool::PoolParams;
use crate::pow::PowHasher;
use crate::share::{Candidate, PayoutScript, Share};
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
    /// Whether the proof of work also meets the parent-chain target the candidate claims. The
    /// miner chose that target: before treating the share as a block, the node checks it (and
    /// the parent block) against its full node.
    pub is_block: bool,
}

/// What a family's candidate checks establish (everything but the proof of work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CandidateFacts {
    /// Sum of the payout outputs.
    pub reward: u64,
    /// Number of payout outputs.
    pub payout_count: usize,
    /// The parent-chain target the candidate claims (Bitcoin family: the header's `bits`).
    /// `None` where the block does not carry its target (Monero: the node compares the hash
    /// with its full node's difficulty before treating the share as a block).
    pub block_target: Option<Target>,
}

/// Whether `script` is a payee the pool's family can pay: a standard output script (Bitcoin
/// family) or a valid Monero payee encoding.
pub fn is_valid_payee(family: Family, script: &PayoutScript) -> bool {
    match family {
        Family::Bitcoin(_) => crate::chain::address::is_standard_payout_script(script.as_script()),
        Family::Monero(_) => Payee::from_bytes(script.as_bytes()).is_ok(),
    }
}

/// Stateless checks, cheapest first; the proof-of-work hash is last. `pow` is the node's hasher
/// ([`crate::Chain::stateless_pow`] for the Bitcoin family).
pub fn check_stateless(
    pool: &PoolParams,
    share: &Share,
    pow: &dyn PowHasher,
) -> Result<Checked, RejectReason> {
    let side = &share.side;
    let family = pool.chain.family();
    if share.candidate.family() != family.kind() {
        return Err(RejectReason::WrongFamily {
            pool: family.kind(),
            share: share.candidate.family(),
        });
    }

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
    if !is_valid_payee(family, &side.payout_script) {
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

    let facts = match (&share.candidate, family) {
        (Candidate::Bitcoin(c), Family::Bitcoin(_)) => {
            super::bitcoin_candidate::check(pool, side, c)?
        }
        (Candidate::Monero(c), Family::Monero(_)) => super::monero_candidate::check(pool, side, c)?,
        (Candidate::Bitcoin(_), Family::Monero(_)) | (Candidate::Monero(_), Family::Bitcoin(_)) => {
            return Err(RejectReason::WrongFamily {
                pool: family.kind(),
                share: share.candidate.family(),
            })
        }
    };

    // Proof of work, last: it is the expensive part (scrypt: ~0.3 ms, RandomX: ~2 ms in fast
    // mode).
    let pow = pow
        .pow_hash(share.candidate.pow_data().as_input())
        .map_err(RejectReason::PowUnavailable)?;
    if !target.is_met_by(&pow) {
        return Err(RejectReason::InsufficientWork);
    }

    Ok(Checked {
        id: share.id(),
        work: target.work(),
        reward: facts.reward,
        payout_count: facts.payout_count,
        is_block: facts.block_target.is_some_and(|t| t.is_met_by(&pow)),
    })
}
