//! The canonical share encoding (layout in the parent module's docs).

use super::{
    BitcoinCandidate, Candidate, PayoutScript, Share, SideData, FORMAT_VERSION,
    MAX_PAYOUT_SCRIPT_LEN,
};
use crate::chain::monero::candidate::{CandidateError, MoneroCandidate, MAX_CANDIDATE_BYTES};
use crate::hash::ShareHash;
use crate::pool::limits::MAX_UNCLES;
use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;
use bitcoin::{Transaction, TxMerkleNode};

/// Largest coinbase transaction: 1000 payout outputs of at most 8 + 1 + 64 bytes (73 kB) plus
/// input, commitments and witness, rounded up.
pub const MAX_COINBASE_BYTES: usize = 80_000;
/// Longest merkle branch: 2^24 transactions, far beyond any 4 MWU block (~2^14).
pub const MAX_BRANCH_LEN: usize = 24;
/// The format tag of a Monero share: the family (1) in the top byte, the rules version
/// ([`FORMAT_VERSION`]) below it, so one `u32` says both and a Bitcoin-family share keeps its
/// bytes.
pub const MONERO_FORMAT_VERSION: u32 = (1 << 24) | FORMAT_VERSION;

/// Largest encoded share of either family: the Bitcoin family's, every field at its bound (a
/// Monero share is smaller, checked below).
pub const MAX_SHARE_BYTES: usize = 4
    + 80
    + 4
    + MAX_COINBASE_BYTES
    + 1
    + 32 * MAX_BRANCH_LEN
    + (32 + 8 + 4 + 8 + 4 + 4 + 1 + MAX_PAYOUT_SCRIPT_LEN + 1 + 32 * MAX_UNCLES);

const SIDE_MAX_BYTES: usize =
    32 + 8 + 4 + 8 + 4 + 4 + 1 + MAX_PAYOUT_SCRIPT_LEN + 1 + 32 * MAX_UNCLES;
const _: () = assert!(4 + MAX_CANDIDATE_BYTES + SIDE_MAX_BYTES <= MAX_SHARE_BYTES);

/// Why bytes are not a share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("share is {0} bytes, over the {MAX_SHARE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("share ends early")]
    Truncated,
    #[error("{0} bytes after the end of the share")]
    TrailingBytes(usize),
    #[error("unknown share format version {0}")]
    UnknownVersion(u32),
    #[error("coinbase of {0} bytes is over the limit")]
    CoinbaseTooLarge(usize),
    #[error("coinbase does not decode: {0}")]
    BadCoinbase(String),
    #[error("merkle branch of {0} hashes is over the limit")]
    BranchTooLong(usize),
    #[error("payout script length {0} is outside 1..={MAX_PAYOUT_SCRIPT_LEN}")]
    BadScriptLength(usize),
    #[error("{0} uncles is over the limit")]
    TooManyUncles(usize),
    #[error("encoding is not canonical")]
    NonCanonical,
    #[error("Monero candidate: {0}")]
    Monero(CandidateError),
}

pub(super) fn encode_side(side: &SideData, out: &mut Vec<u8>) {
    out.extend_from_slice(side.prev_share.as_byte_array());
    out.extend_from_slice(&side.height.to_le_bytes());
    out.extend_from_slice(&side.share_bits.to_consensus().to_le_bytes());
    out.extend_from_slice(&side.timestamp.to_le_bytes());
    out.extend_from_slice(&side.parent_height.to_le_bytes());
    out.extend_from_slice(&side.software_version.to_le_bytes());
    let script = side.payout_script.as_bytes();
    out.push(script.len().min(255) as u8);
    out.extend_from_slice(&script[..script.len().min(255)]);
    out.push(side.uncles.len().min(255) as u8);
    for u in side.uncles.iter().take(255) {
        out.extend_from_slice(u.as_byte_array());
    }
}

pub(super) fn encode_share(share: &Share) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    match &share.candidate {
        Candidate::Bitcoin(c) => {
            out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
            encode_bitcoin_candidate(c, &mut out);
        }
        Candidate::Monero(c) => {
            out.extend_from_slice(&MONERO_FORMAT_VERSION.to_le_bytes());
            c.encode(&mut out);
        }
    }
    encode_side(&share.side, &mut out);
    out
}

fn encode_bitcoin_candidate(c: &BitcoinCandidate, out: &mut Vec<u8>) {
    out.extend_from_slice(&serialize(&c.header));
    let cb = serialize(&c.coinbase);
    out.extend_from_slice(&(cb.len() as u32).to_le_bytes());
    out.extend_from_slice(&cb);
    out.push(c.merkle_branch.len().min(255) as u8);
    for n in c.merkle_branch.iter().take(255) {
        out.extend_from_slice(n.as_byte_array());
    }
}

/// A bounds-checked reader over a byte slice.
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(super) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(super) fn hash(&mut self) -> Result<[u8; 32], DecodeError> {
        self.array()
    }
}

pub(super) fn decode_share(bytes: &[u8]) -> Result<Share, DecodeError> {
    if bytes.len() > MAX_SHARE_BYTES {
        return Err(DecodeError::TooLarge(bytes.len()));
    }
    let mut r = Reader { bytes };
    let version = r.u32()?;
    let candidate = match version {
        FORMAT_VERSION => Candidate::Bitcoin(decode_bitcoin_candidate(&mut r)?),
        MONERO_FORMAT_VERSION => {
            let (c, used) = MoneroCandidate::decode(r.bytes).map_err(DecodeError::Monero)?;
            r.take(used)?;
            Candidate::Monero(c)
        }
        other => return Err(DecodeError::UnknownVersion(other)),
    };
    let side = decode_side(&mut r)?;
    if !r.bytes.is_empty() {
        return Err(DecodeError::TrailingBytes(r.bytes.len()));
    }
    Ok(Share { candidate, side })
}

fn decode_bitcoin_candidate(r: &mut Reader<'_>) -> Result<BitcoinCandidate, DecodeError> {
    let header: Header =
        deserialize(r.take(80)?).map_err(|e| DecodeError::BadCoinbase(e.to_string()))?;
    let cb_len = r.u32()? as usize;
    if cb_len > MAX_COINBASE_BYTES {
        return Err(DecodeError::CoinbaseTooLarge(cb_len));
    }
    let cb_bytes = r.take(cb_len)?;
    let coinbase: Transaction =
        deserialize(cb_bytes).map_err(|e| DecodeError::BadCoinbase(e.to_string()))?;
    // Safeguard: the `bitcoin` decoder already refuses the redundant transaction forms we know
    // (segwit marker with no witness, non-minimal lengths), but canonical means one encoding, so
    // insist on the bytes `serialize` writes whatever a future decoder version accepts.
    if serialize(&coinbase) != cb_bytes {
        return Err(DecodeError::NonCanonical);
    }
    let branch_len = r.u8()? as usize;
    if branch_len > MAX_BRANCH_LEN {
        return Err(DecodeError::BranchTooLong(branch_len));
    }
    let mut merkle_branch = Vec::with_capacity(branch_len);
    for _ in 0..branch_len {
        merkle_branch.push(TxMerkleNode::from_byte_array(r.hash()?));
    }
    Ok(BitcoinCandidate {
        header,
        coinbase,
        merkle_branch,
    })
}

pub(super) fn decode_side(r: &mut Reader<'_>) -> Result<SideData, DecodeError> {
    let prev_share = ShareHash::from_byte_array(r.hash()?);
    let height = r.u64()?;
    let share_bits = CompactTarget::from_consensus(r.u32()?);
    let timestamp = r.u64()?;
    let parent_height = r.u32()?;
    let software_version = r.u32()?;
    let script_len = r.u8()? as usize;
    if script_len == 0 || script_len > MAX_PAYOUT_SCRIPT_LEN {
        return Err(DecodeError::BadScriptLength(script_len));
    }
    let payout_script = PayoutScript::new(r.take(script_len)?);
    let uncle_count = r.u8()? as usize;
    if uncle_count > MAX_UNCLES {
        return Err(DecodeError::TooManyUncles(uncle_count));
    }
    let mut uncles = Vec::with_capacity(uncle_count);
    for _ in 0..uncle_count {
        uncles.push(ShareHash::from_byte_array(r.hash()?));
    }
    Ok(SideData {
        prev_share,
        height,
        share_bits,
        timestamp,
        parent_height,
        software_version,
        payout_script,
        uncles,
    })
}
