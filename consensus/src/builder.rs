//! Building the next share on a tip: the pure half of job building. Given the parent, a
//! template and who to pay, it fixes the sidechain data (height, retargeted bits, timestamp),
//! computes the exact payouts of the new window, and lays out the coinbase for Stratum. The
//! miner then only varies extranonce, version bits, time and nonce.

use crate::chain_view::{ChainView, ShareInfo, UncleCredit};
use crate::coinbase::{build_coinbase, CoinbaseError, CoinbaseSpec, StratumCoinbase};
use crate::hash::ShareHash;
use crate::pool::PoolParams;
use crate::pplns::with_share_payouts;
use crate::retarget::{anchor_after, next_share_bits, RetargetInput};
use crate::share::{BitcoinCandidate, Candidate, PayoutScript, Share, SideData};
use crate::template::BlockTemplate;
use crate::work::Work;
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::TxMerkleNode;

/// What the next share is built from.
#[derive(Clone, Debug)]
pub struct ShareJobInput<'a> {
    /// Tip to build on; `None` starts a new sharechain.
    pub parent: Option<ShareHash>,
    /// Uncles to include (validated by the caller's choice; sorted here).
    pub uncles: Vec<ShareHash>,
    pub payout_script: PayoutScript,
    /// The node's clock; raised to the parent's timestamp if behind it.
    pub now: u64,
    pub software_version: u32,
    pub template: &'a BlockTemplate,
    /// Bytes of extranonce1 + extranonce2 the coinbase reserves.
    pub extranonce_len: usize,
    pub tag: &'a [u8],
}

/// Why a job cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("parent or uncle {0} is not in the chain view")]
    Unknown(ShareHash),
    #[error("the chain view cannot provide the parent's PPLNS window")]
    WindowUnavailable,
    /// The template's reward is below the block subsidy (Monero: the tail emission): a share
    /// built on it would be refused (`RewardBelowSubsidy`, `RewardBelowTail`), so no job is made
    /// from it.
    #[error("template coinbase value {value} is below the subsidy {subsidy}")]
    RewardBelowSubsidy { value: u64, subsidy: u64 },
    #[error(transparent)]
    Coinbase(#[from] CoinbaseError),
}

/// A share job: everything fixed except what the miner rolls.
#[derive(Clone, Debug)]
pub struct ShareJob {
    pub side: SideData,
    pub coinbase: StratumCoinbase,
    pub merkle_branch: Vec<TxMerkleNode>,
    pub payouts: Vec<(PayoutScript, u64)>,
    pub version: Version,
    pub prev_blockhash: bitcoin::BlockHash,
    /// Parent-chain target bits (the header's), not the share target.
    pub parent_bits: bitcoin::CompactTarget,
    /// Earliest header time the parent chain accepts.
    pub min_time: u64,
}

impl ShareJob {
    /// The share for a given extranonce and header fields.
    pub fn share(
        &self,
        extranonce: &[u8],
        version: Version,
        time: u32,
        nonce: u32,
    ) -> Result<Share, bitcoin::consensus::encode::Error> {
        let coinbase = self.coinbase.complete(extranonce)?;
        let merkle_root = crate::share::merkle_root_from_branch(
            coinbase.compute_txid().to_raw_hash(),
            &self.merkle_branch,
        );
        Ok(Share {
            candidate: Candidate::Bitcoin(BitcoinCandidate {
                header: Header {
                    version,
                    prev_blockhash: self.prev_blockhash,
                    merkle_root,
                    time,
                    bits: self.parent_bits,
                    nonce,
                },
                coinbase,
                merkle_branch: self.merkle_branch.clone(),
            }),
            side: self.side.clone(),
        })
    }
}

/// Builds the job for the next share.
pub fn build_share_job<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    input: &ShareJobInput<'_>,
) -> Result<ShareJob, BuildError> {
    let template = input.template;
    let SharePlan { side, payouts } = plan_share(
        pool,
        view,
        &PlanInput {
            parent: input.parent,
            uncles: &input.uncles,
            payout_script: &input.payout_script,
            now: input.now,
            software_version: input.software_version,
            parent_height: template.height,
            parent_prev_id: template.prev_blockhash.to_byte_array(),
            reward: template.coinbase_value,
        },
    )?;
    let coinbase = build_coinbase(&CoinbaseSpec {
        parent_height: template.height,
        payouts: &payouts,
        commitment: side.commitment(&pool.commitment_id()),
        witness_commitment: template.witness_commitment.as_ref(),
        extranonce_len: input.extranonce_len,
        tag: input.tag,
    })?;
    Ok(ShareJob {
        side,
        coinbase,
        merkle_branch: template.merkle_branch(),
        payouts,
        version: template.version,
        prev_blockhash: template.prev_blockhash,
        parent_bits: template.bits,
        min_time: template.mintime,
    })
}

/// The family-independent half of a share: its side data and the exact payouts of its window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharePlan {
    pub side: SideData,
    /// The payouts in output order, summing to the reward.
    pub payouts: Vec<(PayoutScript, u64)>,
}

/// What [`plan_share`] needs from the caller and the parent-chain template.
#[derive(Clone, Copy, Debug)]
pub struct PlanInput<'a> {
    pub parent: Option<ShareHash>,
    pub uncles: &'a [ShareHash],
    pub payout_script: &'a PayoutScript,
    /// The node's clock; raised to the parent's timestamp if behind it.
    pub now: u64,
    pub software_version: u32,
    /// Height of the parent-chain block the candidate would be.
    pub parent_height: u32,
    /// Id of the parent-chain block it builds on (the lottery seed's input).
    pub parent_prev_id: [u8; 32],
    /// What the block pays in all, which the payouts split.
    pub reward: u64,
}

/// Fixes the side data of the next share (height, retargeted bits, timestamp, sorted uncles)
/// and splits `reward` (at least the chain's subsidy) over the window it makes: what every family's builder starts from.
pub fn plan_share<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    input: &PlanInput<'_>,
) -> Result<SharePlan, BuildError> {
    let subsidy = pool.chain.subsidy(input.parent_height);
    if input.reward < subsidy {
        return Err(BuildError::RewardBelowSubsidy {
            value: input.reward,
            subsidy,
        });
    }
    let parent = match input.parent {
        Some(id) => Some(view.share_info(&id).ok_or(BuildError::Unknown(id))?),
        None => None,
    };
    let (height, bits, timestamp) = match parent {
        None => (0, pool.max_share_target, input.now),
        Some(p) => (
            p.height + 1,
            next_share_bits(pool, &RetargetInput::child_of(p)),
            input.now.max(p.timestamp),
        ),
    };
    let (anchor_height, anchor_time) = anchor_after(pool, bits, timestamp, parent);
    let mut uncles = input.uncles.to_vec();
    uncles.sort();
    uncles.dedup();
    let mut uncle_credits = Vec::with_capacity(uncles.len());
    for u in &uncles {
        let info = view.share_info(u).ok_or(BuildError::Unknown(*u))?;
        uncle_credits.push(UncleCredit {
            id: *u,
            script: info.payout_script.clone(),
            work: info.work,
        });
    }
    let prev_share = input.parent.unwrap_or_else(ShareHash::genesis_parent);
    let work = crate::work::Target::from_compact(bits).work();
    // A provisional index entry: the payouts need the new share's credits, not its id.
    let provisional = ShareInfo {
        id: ShareHash::all_zeros(),
        prev: prev_share,
        height,
        timestamp,
        share_bits: bits,
        work,
        cumulative_work: Work::ZERO,
        anchor_height,
        anchor_time,
        parent_height: input.parent_height,
        payout_script: input.payout_script.clone(),
        uncles: uncle_credits,
        skip: ShareHash::all_zeros(),
    };
    let payouts: Vec<(PayoutScript, u64)> = with_share_payouts(
        view,
        pool,
        &provisional,
        &input.parent_prev_id,
        input.reward,
        |p| p.iter().map(|(s, a)| ((*s).clone(), *a)).collect(),
    )
    .ok_or(BuildError::WindowUnavailable)?;
    Ok(SharePlan {
        side: SideData {
            prev_share,
            height,
            share_bits: bits,
            timestamp,
            parent_height: input.parent_height,
            software_version: input.software_version,
            payout_script: input.payout_script.clone(),
            uncles,
        },
        payouts,
    })
}

/// Rolls nonces until the share meets its own target (tests, simulations and the reference
/// miner). Returns `None` if the whole nonce range fails.
pub fn grind(pool: &PoolParams, job: &ShareJob, extranonce: &[u8], time: u32) -> Option<Share> {
    let mut share = job.share(extranonce, job.version, time, 0).ok()?;
    let target = job.side.target();
    let algo = pool.chain.pow_algo()?;
    let candidate = share.candidate.as_bitcoin_mut()?;
    for nonce in 0..=u32::MAX {
        candidate.header.nonce = nonce;
        if target.is_met_by(&algo.hash(&candidate.header_bytes())) {
            return Some(share);
        }
    }
    None
}
