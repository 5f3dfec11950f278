//! The share: a parent-chain block candidate plus the sidechain data its coinbase commits to.
//!
//! Byte layout (all integers little-endian; see docs/consensus.md):
//!
//! ```text
//! share     = format_version:u32 | header:80 | coinbase_len:u32 | coinbase:tx (segwit form when
//!             it has a witness) | branch_len:u8 | branch:32*branch_len | side
//! side      = prev_share:32 | height:u64 | share_bits:u32 | timestamp:u64 | parent_height:u32
//!             | software_version:u32 | script_len:u8 | payout_script | uncle_count:u8 | uncles:32*n
//! ```
//!
//! Every length is bounded before anything is allocated, and a share decodes only if re-encoding
//! it gives back the same bytes, so there is exactly one encoding of every share.

pub mod compact;
mod encoding;

pub use encoding::{DecodeError, MAX_BRANCH_LEN, MAX_COINBASE_BYTES, MAX_SHARE_BYTES};

use crate::hash::{tagged_hash, ConsensusId, ShareHash};
use crate::work::Target;
use bitcoin::block::Header;
use bitcoin::hashes::{sha256d, Hash};
use bitcoin::pow::CompactTarget;
use bitcoin::{Transaction, TxMerkleNode};

/// Version of the share format and rules; shares of another version are refused, and the
/// consensus id commits to it, so pools of different versions never mix.
///
/// 2: lottery offset `floor(seed * T / 2^256)`, payouts at least the subsidy, zero witness
/// reserved value, retarget anchor reset at the floor (docs/consensus.md, "Changes").
pub const FORMAT_VERSION: u32 = 2;

/// Longest payout script: P2WSH and P2TR are 34 bytes, and 64 leaves room for a future family
/// whose payee is a pair of 32-byte keys.
pub const MAX_PAYOUT_SCRIPT_LEN: usize = 64;

/// Who a share pays: the output script (Bitcoin family) as raw bytes, ordered bytewise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PayoutScript(pub Box<[u8]>);

impl PayoutScript {
    pub fn new(bytes: &[u8]) -> PayoutScript {
        PayoutScript(bytes.into())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_script(&self) -> &bitcoin::Script {
        bitcoin::Script::from_bytes(&self.0)
    }
}

impl From<bitcoin::ScriptBuf> for PayoutScript {
    fn from(s: bitcoin::ScriptBuf) -> Self {
        PayoutScript(s.into_bytes().into_boxed_slice())
    }
}

/// Sidechain data: what makes a block candidate a share of this pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideData {
    /// Parent share; [`ShareHash::genesis_parent`] for a sharechain's first share.
    pub prev_share: ShareHash,
    /// Height in the sharechain (0 for the first share).
    pub height: u64,
    /// The share target, which must equal the retarget result.
    pub share_bits: CompactTarget,
    /// Unix time the miner's job was made; drives the retarget.
    pub timestamp: u64,
    /// Height of the parent-chain block this candidate would be (BIP34 height in the coinbase).
    pub parent_height: u32,
    /// Version of the software that made the share; informational, any value is valid.
    pub software_version: u32,
    /// Script the share's own weight pays.
    pub payout_script: PayoutScript,
    /// Stale shares this share includes, strictly ascending by id.
    pub uncles: Vec<ShareHash>,
}

impl SideData {
    /// `tagged_hash("otedama/share-commitment", consensus_id || encode(side))`: the 32 bytes the
    /// coinbase carries, binding the proof of work to this data and to this pool.
    pub fn commitment(&self, consensus_id: &ConsensusId) -> [u8; 32] {
        let mut side = Vec::with_capacity(128);
        encoding::encode_side(self, &mut side);
        tagged_hash(
            "otedama/share-commitment",
            &[consensus_id.as_byte_array(), &side],
        )
    }

    pub fn target(&self) -> Target {
        Target::from_compact(self.share_bits)
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

/// A share of the sharechain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub candidate: BitcoinCandidate,
    pub side: SideData,
}

impl Share {
    /// The share id: SHA256d of the header.
    pub fn id(&self) -> ShareHash {
        ShareHash::from_raw_hash(self.candidate.header.block_hash().to_raw_hash())
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        encoding::encode_share(self)
    }

    /// Decodes canonical bytes, refusing anything oversized, truncated, trailing or
    /// non-canonical.
    pub fn decode(bytes: &[u8]) -> Result<Share, DecodeError> {
        encoding::decode_share(bytes)
    }
}
