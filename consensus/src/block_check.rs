//! Checks of a full parent-chain block that Bitcoin Core (and Litecoin Core) apply without the
//! UTXO set: `CheckBlock` (structure, merkle root, per-transaction sanity, size and legacy
//! sigops), the witness commitment of `ContextualCheckBlock`, the block weight, and Litecoin's
//! MWEB framing. The node runs them on every block it assembles before `submitblock`: a block
//! that fails here would be refused by the full node, so a failure is a bug in our assembly and
//! is reported as one. They are also what the test vectors exercise.

use crate::block_parse::{parse_block, ParsedBlock, ParsedTx};
use crate::chain::BitcoinFamilyParams;
use crate::pow::PowAlgo;
use crate::template::merkle_root;
use crate::work::Target;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::BlockHash;
use std::collections::HashSet;

/// Seconds a block's time may be ahead of the clock (Core's `MAX_FUTURE_BLOCK_TIME`).
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;
/// Core's `MAX_BLOCK_WEIGHT` (BIP141), the same on Litecoin (whose extension block has a weight
/// limit of its own that does not touch this one).
pub const MAX_BLOCK_WEIGHT: u64 = 4_000_000;
/// Core's `MAX_BLOCK_SIGOPS_COST`.
pub const MAX_BLOCK_SIGOPS_COST: u64 = 80_000;
/// Core's `WITNESS_SCALE_FACTOR`: a legacy sigop costs this much, a stripped byte this weight.
pub const WITNESS_SCALE_FACTOR: u64 = 4;
/// Core's bounds on a coinbase scriptSig (`bad-cb-length`).
pub const COINBASE_SCRIPT_SIG_MIN: usize = 2;
pub const COINBASE_SCRIPT_SIG_MAX: usize = 100;

/// What a block is checked against.
#[derive(Clone, Copy, Debug)]
pub struct BlockRules {
    /// Proof of work to check; `None` checks the structure of a header that was not mined
    /// (Core's `CheckBlock(fCheckPOW = false)`).
    pub pow: Option<PowAlgo>,
    pub max_money: u64,
    /// Litecoin: transactions may carry the MWEB flag, a HogEx comes with an extension block.
    pub mweb: bool,
    pub max_weight: u64,
    pub max_sigops_cost: u64,
}

impl BlockRules {
    pub fn for_chain(params: &BitcoinFamilyParams) -> BlockRules {
        BlockRules {
            pow: Some(params.pow),
            max_money: params.max_money,
            mweb: params.has_mweb,
            max_weight: MAX_BLOCK_WEIGHT,
            max_sigops_cost: MAX_BLOCK_SIGOPS_COST,
        }
    }

    pub fn without_pow(self) -> BlockRules {
        BlockRules { pow: None, ..self }
    }
}

/// Why a block is invalid; the text after each name is Core's reject reason where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block does not decode: {0}")]
    Decode(String),
    #[error("proof of work does not meet the header's target (high-hash)")]
    HighHash,
    #[error("block time is more than two hours ahead of the clock (time-too-new)")]
    TimeTooNew,
    #[error("block has no transactions (bad-blk-length)")]
    NoTransactions,
    #[error("first transaction is not a coinbase (bad-cb-missing)")]
    FirstNotCoinbase,
    #[error("more than one coinbase (bad-cb-multiple)")]
    MultipleCoinbase,
    #[error("merkle root mismatch (bad-txnmrklroot)")]
    BadMerkleRoot,
    #[error("duplicate transaction, mutated merkle tree (bad-txns-duplicate)")]
    DuplicateTransaction,
    #[error("block weight {weight} over the limit {limit} (bad-blk-weight)")]
    Weight { weight: u64, limit: u64 },
    #[error("stripped block size {size} x4 over the weight limit (bad-blk-length)")]
    Length { size: u64 },
    #[error("block sigop cost {cost} over the limit {limit} (bad-blk-sigops)")]
    Sigops { cost: u64, limit: u64 },
    #[error("transaction {index}: {reason}")]
    Transaction { index: usize, reason: TxError },
    #[error("witness data without a witness commitment (unexpected-witness)")]
    UnexpectedWitness,
    #[error("coinbase witness must be one 32-byte reserved value (bad-witness-nonce-size)")]
    BadWitnessNonce,
    #[error("witness commitment does not match the transactions (bad-witness-merkle-match)")]
    BadWitnessCommitment,
    #[error("HogEx is not the last transaction")]
    HogExNotLast,
}

/// Core's `CheckTransaction` reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    #[error("no inputs (bad-txns-vin-empty)")]
    NoInputs,
    #[error("no outputs (bad-txns-vout-empty)")]
    NoOutputs,
    #[error("stripped size over the block weight limit (bad-txns-oversize)")]
    Oversize,
    #[error("output value over the money supply (bad-txns-vout-toolarge)")]
    OutputTooLarge,
    #[error("outputs add up to more than the money supply (bad-txns-txouttotal-toolarge)")]
    TotalTooLarge,
    #[error("an input is spent twice (bad-txns-inputs-duplicate)")]
    DuplicateInput,
    #[error("coinbase scriptSig of {0} bytes, not 2..=100 (bad-cb-length)")]
    CoinbaseLength(usize),
    #[error("an input spends the null outpoint (bad-txns-prevout-null)")]
    NullPrevout,
}

/// A block that passed: its hash and what it costs, for logs.
#[derive(Clone, Debug)]
pub struct CheckedBlock {
    pub hash: BlockHash,
    pub weight: u64,
    pub sigops_cost: u64,
    pub transactions: usize,
}

/// Checks a serialized block, MWEB extension included when the chain has one.
pub fn check_block(bytes: &[u8], rules: &BlockRules, now: u64) -> Result<CheckedBlock, BlockError> {
    let block = parse_block(bytes, rules.mweb).map_err(|e| BlockError::Decode(e.to_string()))?;
    check_parsed(&block, rules, now)
}

/// [`check_block`] on a block already parsed.
pub fn check_parsed(
    block: &ParsedBlock,
    rules: &BlockRules,
    now: u64,
) -> Result<CheckedBlock, BlockError> {
    let header: [u8; 80] = bitcoin::consensus::serialize(&block.header)
        .try_into()
        .map_err(|_| BlockError::Decode("header".into()))?;
    if let Some(algo) = rules.pow {
        if !Target::from_compact(block.header.bits).is_met_by(&algo.hash(&header)) {
            return Err(BlockError::HighHash);
        }
    }
    if block.header.time as u64 > now.saturating_add(MAX_FUTURE_BLOCK_TIME) {
        return Err(BlockError::TimeTooNew);
    }
    let first = block.txs.first().ok_or(BlockError::NoTransactions)?;
    if !first.tx.is_coinbase() {
        return Err(BlockError::FirstNotCoinbase);
    }
    if block.txs[1..].iter().any(|t| t.tx.is_coinbase()) {
        return Err(BlockError::MultipleCoinbase);
    }
    let leaves: Vec<[u8; 32]> = block.txs.iter().map(|t| t.txid().to_byte_array()).collect();
    let mut seen = HashSet::with_capacity(leaves.len());
    if leaves.iter().any(|l| !seen.insert(*l)) {
        return Err(BlockError::DuplicateTransaction);
    }
    if merkle_root(&leaves) != block.header.merkle_root.to_byte_array() {
        return Err(BlockError::BadMerkleRoot);
    }
    let stripped = block.stripped_size();
    if stripped.saturating_mul(WITNESS_SCALE_FACTOR) > rules.max_weight {
        return Err(BlockError::Length { size: stripped });
    }
    for (index, t) in block.txs.iter().enumerate() {
        check_transaction(t, rules).map_err(|reason| BlockError::Transaction { index, reason })?;
    }
    let sigops_cost = block
        .txs
        .iter()
        .map(ParsedTx::legacy_sigops)
        .sum::<u64>()
        .saturating_mul(WITNESS_SCALE_FACTOR);
    if sigops_cost > rules.max_sigops_cost {
        return Err(BlockError::Sigops {
            cost: sigops_cost,
            limit: rules.max_sigops_cost,
        });
    }
    check_witness_commitment(block)?;
    let weight = block.weight();
    if weight > rules.max_weight {
        return Err(BlockError::Weight {
            weight,
            limit: rules.max_weight,
        });
    }
    if block.txs[..block.txs.len() - 1].iter().any(|t| t.hogex) {
        return Err(BlockError::HogExNotLast);
    }
    Ok(CheckedBlock {
        hash: block.header.block_hash(),
        weight,
        sigops_cost,
        transactions: block.txs.len(),
    })
}

/// Core's `CheckTransaction`.
fn check_transaction(t: &ParsedTx, rules: &BlockRules) -> Result<(), TxError> {
    let tx = &t.tx;
    if tx.input.is_empty() {
        return Err(TxError::NoInputs);
    }
    if tx.output.is_empty() {
        return Err(TxError::NoOutputs);
    }
    if (tx.base_size() as u64).saturating_mul(WITNESS_SCALE_FACTOR) > rules.max_weight {
        return Err(TxError::Oversize);
    }
    let mut total: u64 = 0;
    for o in &tx.output {
        let v = o.value.to_sat();
        if v > rules.max_money {
            return Err(TxError::OutputTooLarge);
        }
        total = total.saturating_add(v);
        if total > rules.max_money {
            return Err(TxError::TotalTooLarge);
        }
    }
    let mut prevouts = HashSet::with_capacity(tx.input.len());
    if !tx.input.iter().all(|i| prevouts.insert(i.previous_output)) {
        return Err(TxError::DuplicateInput);
    }
    if tx.is_coinbase() {
        let len = tx.input[0].script_sig.len();
        if !(COINBASE_SCRIPT_SIG_MIN..=COINBASE_SCRIPT_SIG_MAX).contains(&len) {
            return Err(TxError::CoinbaseLength(len));
        }
    } else if tx.input.iter().any(|i| i.previous_output.is_null()) {
        return Err(TxError::NullPrevout);
    }
    Ok(())
}

/// BIP141: when any transaction has a witness, the coinbase carries the commitment (its last
/// output of the commitment form) to the witness merkle root and a 32-byte reserved value.
fn check_witness_commitment(block: &ParsedBlock) -> Result<(), BlockError> {
    let coinbase = &block.txs[0].tx;
    let commitment = coinbase
        .output
        .iter()
        .rev()
        .find(|o| crate::coinbase::is_witness_commitment(o.script_pubkey.as_bytes()));
    let Some(commitment) = commitment else {
        return if block
            .txs
            .iter()
            .any(|t| t.tx.input.iter().any(|i| !i.witness.is_empty()))
        {
            Err(BlockError::UnexpectedWitness)
        } else {
            Ok(())
        };
    };
    let witness = &coinbase.input[0].witness;
    let reserved: [u8; 32] = match (witness.len(), witness.nth(0)) {
        (1, Some(item)) => item.try_into().map_err(|_| BlockError::BadWitnessNonce)?,
        _ => return Err(BlockError::BadWitnessNonce),
    };
    let mut leaves = Vec::with_capacity(block.txs.len());
    leaves.push([0u8; 32]);
    leaves.extend(
        block.txs[1..]
            .iter()
            .map(|t| t.tx.compute_wtxid().to_byte_array()),
    );
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(&merkle_root(&leaves));
    buf[32..].copy_from_slice(&reserved);
    let expected = sha256d::Hash::hash(&buf).to_byte_array();
    if commitment.script_pubkey.as_bytes()[6..38] != expected {
        return Err(BlockError::BadWitnessCommitment);
    }
    Ok(())
}
