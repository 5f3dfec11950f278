//! The parent-chain half of a share: a block candidate of the pool's chain family.

use crate::chain::monero::candidate::MoneroCandidate;
use crate::chain::FamilyKind;
use crate::hash::ShareHash;
use crate::pow::PowData;
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::{Transaction, TxMerkleNode};

/// A block candidate of one chain family: what the proof of work covers and what the payouts
/// are read from. Generic code (sharechain, P2P, PPLNS, fork choice) only uses the methods
/// here; family code matches on the variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    Bitcoin(BitcoinCandidate),
    Monero(MoneroCandidate),
}

impl Candidate {
    pub fn family(&self) -> FamilyKind {
        match self {
            Candidate::Bitcoin(_) => FamilyKind::Bitcoin,
            Candidate::Monero(_) => FamilyKind::Monero,
        }
    }

    /// The share id: the parent-chain block id of the candidate.
    pub fn id(&self) -> ShareHash {
        match self {
            Candidate::Bitcoin(c) => ShareHash::from_raw_hash(c.header.block_hash().to_raw_hash()),
            Candidate::Monero(c) => ShareHash::from_byte_array(c.id()),
        }
    }

    /// The parent-chain block this candidate builds on, as its 32 id bytes (the lottery seed's
    /// parent-chain input, and what a node compares with its full node's tip).
    pub fn parent_prev_id(&self) -> [u8; 32] {
        match self {
            Candidate::Bitcoin(c) => c.header.prev_blockhash.to_byte_array(),
            Candidate::Monero(c) => c.header.prev_id,
        }
    }

    /// What the coinbase (miner transaction) pays in all.
    pub fn reward(&self) -> u64 {
        match self {
            Candidate::Bitcoin(c) => c.coinbase_value(),
            // Saturating as the Bitcoin family's: a sum past u64 is over any money supply.
            Candidate::Monero(c) => c.reward().unwrap_or(u64::MAX),
        }
    }

    /// Number of coinbase outputs, for log lines and size estimates.
    pub fn output_count(&self) -> usize {
        match self {
            Candidate::Bitcoin(c) => c.coinbase.output.len(),
            Candidate::Monero(c) => c.miner_tx.outputs.len(),
        }
    }

    /// What the proof of work is computed over.
    pub fn pow_data(&self) -> PowData {
        match self {
            Candidate::Bitcoin(c) => PowData::Header(c.header_bytes()),
            Candidate::Monero(c) => PowData::RandomX {
                seed: c.seed_hash,
                blob: c.hashing_blob(),
            },
        }
    }

    /// The Bitcoin-family candidate; `None` for another family. For code that only exists for
    /// the Bitcoin family (its block assembly, Stratum and full-node checks).
    pub fn as_bitcoin(&self) -> Option<&BitcoinCandidate> {
        match self {
            Candidate::Bitcoin(c) => Some(c),
            Candidate::Monero(_) => None,
        }
    }

    pub fn as_bitcoin_mut(&mut self) -> Option<&mut BitcoinCandidate> {
        match self {
            Candidate::Bitcoin(c) => Some(c),
            Candidate::Monero(_) => None,
        }
    }

    /// The Monero candidate; `None` for another family.
    pub fn as_monero(&self) -> Option<&MoneroCandidate> {
        match self {
            Candidate::Monero(c) => Some(c),
            Candidate::Bitcoin(_) => None,
        }
    }

    pub fn as_monero_mut(&mut self) -> Option<&mut MoneroCandidate> {
        match self {
            Candidate::Monero(c) => Some(c),
            Candidate::Bitcoin(_) => None,
        }
    }
}

impl From<MoneroCandidate> for Candidate {
    fn from(c: MoneroCandidate) -> Self {
        Candidate::Monero(c)
    }
}

impl From<BitcoinCandidate> for Candidate {
    fn from(c: BitcoinCandidate) -> Self {
        Candidate::Bitcoin(c)
    }
}

/// A Bitcoin-family block candidate: enough to check the proof of work and the payouts, and to
/// rebuild the full block from the template when it meets the parent target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitcoinCandidate {
    pub header: Header,
    pub coinbase: Transaction,
    /// Merkle branch from the coinbase txid to the header's merkle root (the coinbase is always
    /// the leftmost leaf, so every step hashes `current || sibling`).
    pub merkle_branch: Vec<TxMerkleNode>,
}

impl BitcoinCandidate {
    /// What the coinbase pays in all: the reward `R` the share claims (saturating: a sum past
    /// `u64::MAX` is over any chain's money supply anyway).
    pub fn coinbase_value(&self) -> u64 {
        self.coinbase
            .output
            .iter()
            .map(|o| o.value.to_sat())
            .fold(0u64, u64::saturating_add)
    }

    pub fn header_bytes(&self) -> [u8; 80] {
        let mut out = [0u8; 80];
        let v = bitcoin::consensus::serialize(&self.header);
        out.copy_from_slice(&v);
        out
    }

    /// Merkle root implied by the coinbase and the branch.
    pub fn computed_merkle_root(&self) -> TxMerkleNode {
        merkle_root_from_branch(
            self.coinbase.compute_txid().to_raw_hash(),
            &self.merkle_branch,
        )
    }
}

/// Folds a leftmost-leaf merkle branch: `h = SHA256d(h || sibling)` for each sibling.
pub fn merkle_root_from_branch(leaf: sha256d::Hash, branch: &[TxMerkleNode]) -> TxMerkleNode {
    let mut h = leaf.to_byte_array();
    let mut buf = [0u8; 64];
    for sibling in branch {
        buf[..32].copy_from_slice(&h);
        buf[32..].copy_from_slice(sibling.as_byte_array());
        h = sha256d::Hash::hash(&buf).to_byte_array();
    }
    TxMerkleNode::from_byte_array(h)
}
