//! Context-free checks of a full parent-chain block, as Bitcoin Core's `CheckBlock` does them:
//! what the node verifies on a block it assembled before handing it to its full node, and the
//! reference the test vectors exercise.

use crate::pow::PowAlgo;
use crate::work::Target;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash};
use std::collections::HashSet;

/// Seconds a block's time may be ahead of the clock (Core's `MAX_FUTURE_BLOCK_TIME`).
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("block does not decode: {0}")]
    Decode(String),
    #[error("proof of work does not meet the header's target")]
    HighHash,
    #[error("block time is more than two hours ahead of the clock")]
    TimeTooNew,
    #[error("block has no transactions")]
    NoTransactions,
    #[error("first transaction is not a coinbase")]
    FirstNotCoinbase,
    #[error("more than one coinbase")]
    MultipleCoinbase,
    #[error("merkle root mismatch")]
    BadMerkleRoot,
    #[error("duplicate transaction (mutated merkle tree)")]
    DuplicateTransaction,
}

/// Checks a serialized block (without any MWEB extension) and returns its hash. Like Core's
/// `CheckBlock(fCheckPOW)`, the proof of work can be left out (`algo = None`) to check the
/// structure of a block whose header was not mined.
pub fn check_block(bytes: &[u8], algo: Option<PowAlgo>, now: u64) -> Result<BlockHash, BlockError> {
    let block: Block =
        bitcoin::consensus::deserialize(bytes).map_err(|e| BlockError::Decode(e.to_string()))?;
    let header: [u8; 80] = bitcoin::consensus::serialize(&block.header)
        .try_into()
        .map_err(|_| BlockError::Decode("header".into()))?;
    if let Some(algo) = algo {
        if !Target::from_compact(block.header.bits).is_met_by(&algo.hash(&header)) {
            return Err(BlockError::HighHash);
        }
    }
    if block.header.time as u64 > now.saturating_add(MAX_FUTURE_BLOCK_TIME) {
        return Err(BlockError::TimeTooNew);
    }
    let first = block.txdata.first().ok_or(BlockError::NoTransactions)?;
    if !first.is_coinbase() {
        return Err(BlockError::FirstNotCoinbase);
    }
    if block.txdata[1..].iter().any(|tx| tx.is_coinbase()) {
        return Err(BlockError::MultipleCoinbase);
    }
    let leaves: Vec<[u8; 32]> = block
        .txdata
        .iter()
        .map(|tx| tx.compute_txid().to_byte_array())
        .collect();
    let mut seen = HashSet::with_capacity(leaves.len());
    if leaves.iter().any(|l| !seen.insert(*l)) {
        return Err(BlockError::DuplicateTransaction);
    }
    if crate::template::merkle_root(&leaves) != block.header.merkle_root.to_byte_array() {
        return Err(BlockError::BadMerkleRoot);
    }
    Ok(block.block_hash())
}
