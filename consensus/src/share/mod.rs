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

mod candidate;
pub mod compact;
mod encoding;

pub use candidate::{merkle_root_from_branch, BitcoinCandidate, Candidate};

use crate::chain::monero::keys::derive_output;
use crate::chain::monero::payee::Payee;
use crate::chain::monero::tx_key::tx_secret_key;
pub use encoding::{
    DecodeError, MAX_BRANCH_LEN, MAX_COINBASE_BYTES, MAX_SHARE_BYTES, MONERO_FORMAT_VERSION,
};

use crate::hash::{tagged_hash, ConsensusId, ShareHash};
use crate::work::Target;
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;

/// Version of the share format and rules; shares of another version are refused, and the
/// consensus id commits to it, so pools of different versions never mix.
///
/// 2: lottery offset `floor(seed * T / 2^256)`, payouts at least the subsidy, zero witness
/// reserved value, retarget anchor reset at the floor (docs/consensus.md, "Changes").
pub const FORMAT_VERSION: u32 = 2;

/// Longest payout script: P2WSH and P2TR are 34 bytes (Bitcoin family); a Monero payee is a
/// kind byte and two 32-byte keys, 65 bytes.
pub const MAX_PAYOUT_SCRIPT_LEN: usize = 65;

/// Who a share pays, as raw bytes ordered bytewise: the output script (Bitcoin family) or the
/// payee encoding (Monero: kind, spend key, view key).
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

/// A share of the sharechain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    pub candidate: Candidate,
    pub side: SideData,
}

impl Share {
    /// The share id: the parent-chain block id of its candidate (Bitcoin family: SHA256d of the
    /// header; Monero: the block id).
    pub fn id(&self) -> ShareHash {
        self.candidate.id()
    }

    /// What this share's candidate pays `payee` in all (its payout outputs to that payee).
    /// `pool` is the share's pool: a Monero payout can only be recognised with the keys the
    /// pool's rules derive.
    pub fn paid_to(&self, pool: &crate::pool::PoolParams, payee: &PayoutScript) -> u64 {
        match &self.candidate {
            Candidate::Bitcoin(c) => c
                .coinbase
                .output
                .iter()
                .filter(|o| o.script_pubkey.as_bytes() == payee.as_bytes())
                .map(|o| o.value.to_sat())
                .fold(0u64, u64::saturating_add),
            Candidate::Monero(c) => {
                let Ok(payee) = Payee::from_bytes(payee.as_bytes()) else {
                    return 0;
                };
                let tx_secret = self.monero_tx_secret(pool, c);
                let mut paid = 0u64;
                for (i, out) in c.miner_tx.outputs.iter().enumerate() {
                    let mine = derive_output(
                        &tx_secret,
                        &payee.spend,
                        &payee.view,
                        payee.subaddress,
                        i as u64,
                    )
                    .is_ok_and(|d| d.key == *out.target.key());
                    if mine {
                        paid = paid.saturating_add(out.amount);
                    }
                }
                paid
            }
        }
    }

    /// The transaction secret key every node derives for a Monero share's miner transaction
    /// (docs/consensus.md section 14): from the pool and the parent block it builds on.
    pub fn monero_tx_secret(
        &self,
        pool: &crate::pool::PoolParams,
        c: &crate::chain::monero::candidate::MoneroCandidate,
    ) -> [u8; 32] {
        tx_secret_key(pool.commitment_id().as_byte_array(), &c.header.prev_id)
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
