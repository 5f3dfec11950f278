//! Building a Monero share: the family-independent plan ([`plan_share`]: side data and the exact
//! payouts) put into a Monero block candidate: the deterministic transaction key, one-time
//! output keys and view tags per payee, the miner transaction in the share layout, and leaf 0's
//! branch of the block's transaction tree. The miner then only rolls the header nonce (and the
//! extra nonce, which changes the miner transaction and so the id).

use crate::builder::{plan_share, BuildError, PlanInput, SharePlan};
use crate::chain::monero::block::BlockHeader;
use crate::chain::monero::candidate::MoneroCandidate;
use crate::chain::monero::hash::Hash32;
use crate::chain::monero::keys::KeyError;
use crate::chain::monero::miner_tx::{build_miner_tx, MinerTxError};
use crate::chain::monero::outputs::payout_outputs_with;
use crate::chain::monero::payee::Payee;
use crate::chain::monero::tree::first_leaf_branch;
use crate::chain::monero::tx_key::tx_secret_key;
use crate::chain_view::ChainView;
use crate::hash::ShareHash;
use crate::pool::PoolParams;
use crate::pow::{PowHasher, PowInput};
use crate::share::{Candidate, PayoutScript, Share};
use bitcoin::hashes::Hash;

/// The parts of a Monero block template a share is built on (`get_block_template` or the
/// node's own from the transaction pool).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneroTemplate {
    pub major_version: u8,
    pub minor_version: u8,
    pub timestamp: u64,
    pub prev_id: Hash32,
    /// Height of the block the template makes.
    pub height: u64,
    /// RandomX key of that height (the id of the block at `seed_height(height)`).
    pub seed_hash: Hash32,
    /// Ids of the block's other transactions, in block order.
    pub tx_hashes: Vec<Hash32>,
    /// What the block may pay in all: the base reward after the weight penalty, plus fees.
    pub reward: u64,
}

/// What the next Monero share is built from.
#[derive(Clone, Debug)]
pub struct MoneroShareInput<'a> {
    pub parent: Option<ShareHash>,
    pub uncles: Vec<ShareHash>,
    /// A Monero payee encoding ([`Payee::to_bytes`]).
    pub payout_script: PayoutScript,
    pub now: u64,
    pub software_version: u32,
    pub template: &'a MoneroTemplate,
    /// Bytes in the miner transaction's nonce field (a miner's or rig's own, so no two do the
    /// same work); at most 255.
    pub extra_nonce: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneroBuildError {
    #[error(transparent)]
    Plan(#[from] BuildError),
    #[error("template height {0} does not fit the share's 32-bit parent height")]
    Height(u64),
    #[error("payee {0} of the window is not a Monero payee")]
    NotAPayee(usize),
    #[error("output keys: {0}")]
    Keys(#[from] KeyError),
    #[error("miner transaction: {0}")]
    MinerTx(#[from] MinerTxError),
}

/// Builds the next Monero share (nonce 0; see [`grind_monero`]).
pub fn build_monero_share<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    input: &MoneroShareInput<'_>,
) -> Result<Share, MoneroBuildError> {
    build_monero_share_with_payouts(pool, view, input).map(|(share, _)| share)
}

/// [`build_monero_share`] and the payouts its miner transaction pays, in output order (what a
/// node shows its miners as the current split).
pub fn build_monero_share_with_payouts<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    input: &MoneroShareInput<'_>,
) -> Result<(Share, Vec<(PayoutScript, u64)>), MoneroBuildError> {
    let t = input.template;
    let parent_height = u32::try_from(t.height).map_err(|_| MoneroBuildError::Height(t.height))?;
    let SharePlan { side, payouts } = plan_share(
        pool,
        view,
        &PlanInput {
            parent: input.parent,
            uncles: &input.uncles,
            payout_script: &input.payout_script,
            now: input.now,
            software_version: input.software_version,
            parent_height,
            parent_prev_id: t.prev_id,
            reward: t.reward,
        },
    )?;
    let mut payees = Vec::with_capacity(payouts.len());
    for (i, (script, amount)) in payouts.iter().enumerate() {
        let payee =
            Payee::from_bytes(script.as_bytes()).map_err(|_| MoneroBuildError::NotAPayee(i))?;
        payees.push((payee, *amount));
    }
    let id = pool.commitment_id();
    let commitment = side.commitment(&id);
    let tx_secret = tx_secret_key(id.as_byte_array(), &t.prev_id);
    // The view's memo: a node building job after job on one Monero parent derives each payee once.
    let outputs = payout_outputs_with(&tx_secret, &payees, view.derivation_memo())?;
    let miner_tx = build_miner_tx(t.height, &outputs, input.extra_nonce, &commitment)?;
    let mut leaves = Vec::with_capacity(1 + t.tx_hashes.len());
    leaves.push(miner_tx.hash());
    leaves.extend_from_slice(&t.tx_hashes);
    let candidate = MoneroCandidate {
        header: BlockHeader {
            major_version: t.major_version,
            minor_version: t.minor_version,
            timestamp: t.timestamp,
            prev_id: t.prev_id,
            nonce: 0,
        },
        tx_branch: first_leaf_branch(&leaves),
        tx_count: leaves.len() as u64,
        miner_tx,
        seed_hash: t.seed_hash,
    };
    Ok((
        Share {
            candidate: Candidate::Monero(candidate),
            side,
        },
        payouts,
    ))
}

/// Rolls the header nonce until the share meets its own target under `pow` (tests and the
/// reference miner). `None` if the hasher cannot hash or the whole nonce range fails.
pub fn grind_monero(mut share: Share, pow: &dyn PowHasher) -> Option<Share> {
    let target = share.side.target();
    let Candidate::Monero(c) = &mut share.candidate else {
        return None;
    };
    let mut blob = c.hashing_blob();
    let at = c.nonce_offset();
    for nonce in 0..=u32::MAX {
        blob.get_mut(at..at + 4)?
            .copy_from_slice(&nonce.to_le_bytes());
        let hash = pow
            .pow_hash(PowInput::RandomX {
                seed: &c.seed_hash,
                blob: &blob,
            })
            .ok()?;
        if target.is_met_by(&hash) {
            c.header.nonce = nonce;
            return Some(share);
        }
    }
    None
}
