//! The compact form of a share, for relay: the share without its payout outputs.
//!
//! A share's coinbase pays the PPLNS window of its parent (docs/consensus.md, "Payouts"), which
//! every node that can validate the share already holds; at the main preset's cap of 200
//! outputs the payouts are ~95 % of the share's bytes. So the compact form carries everything
//! else (header, the coinbase with its payout outputs left out, merkle branch, sidechain data)
//! plus the reward `R` the payouts split and a short checksum of the payout outputs, and the
//! receiver rebuilds the outputs from its own view of the parent's window with
//! [`crate::pplns::with_share_payouts`], the very function the builder pays with and validation
//! checks with.
//!
//! Byte layout (integers little-endian):
//!
//! ```text
//! compact = format_version:u32 | header:80 | reward:u64 | checksum:8 | stub_len:u32
//!           | stub:tx (the coinbase without its payout outputs: outputs = commitment
//!             | witness commitment?; segwit form when it has a witness)
//!           | branch_len:u8 | branch:32*branch_len | side (as in the full share)
//! ```
//!
//! Rebuilding puts the computed payouts in front of the stub's outputs. The result is the
//! share itself, byte for byte, exactly when the receiver computes the same payouts as the
//! author: the rebuilt coinbase must give the header's merkle root through the branch, and the
//! header is what the share id hashes, so a rebuilt share is either the share the id names or
//! refused ([`RebuildError::IdMismatch`]). A rebuilt share is then validated like any other.
//!
//! Every length is bounded before anything is allocated and a compact share decodes only if
//! re-encoding gives back the same bytes: one encoding per compact share, as for full shares.

use super::encoding::{decode_side, encode_side, Reader};
use super::{BitcoinCandidate, Candidate, DecodeError, Share, SideData, FORMAT_VERSION};
use super::{MAX_BRANCH_LEN, MAX_PAYOUT_SCRIPT_LEN};
use crate::chain_view::{ChainView, ShareInfo, UncleCredit};
use crate::coinbase::{is_witness_commitment, parse_commitment_script};
use crate::hash::{tagged_hash, ShareHash};
use crate::pool::limits::MAX_UNCLES;
use crate::pool::PoolParams;
use crate::pow::PowInput;
use crate::pplns::with_share_payouts;
use crate::validation::RejectReason;
use crate::work::{Target, Work};
use bitcoin::block::Header;
use bitcoin::consensus::{deserialize, serialize, Encodable};
use bitcoin::hashes::Hash;
use bitcoin::{Amount, ScriptBuf, Transaction, TxMerkleNode, TxOut};

/// Bytes of the payout checksum.
pub const CHECKSUM_LEN: usize = 8;

/// Largest coinbase stub (the coinbase without its payouts). Version 4, segwit marker and flag
/// 2, input count 1, null outpoint 36, scriptSig length 1 and at most
/// [`crate::coinbase::MAX_COINBASE_SCRIPT_SIG`] (100), sequence 4, output count 1, the share commitment output
/// `8 + 1 + 38`, the input witness (count 1, length 1, 32-byte reserved value), lock time 4:
/// 234 bytes, which leaves 790 for the witness commitment output. BIP141's commitment is 38
/// bytes (47 as an output), and every template we build uses that form; a share whose longer
/// witness commitment does not fit simply travels in full ([`CompactError::TooLarge`]).
pub const MAX_STUB_BYTES: usize = 1024;

/// Largest encoded compact share: every field at its bound.
pub const MAX_COMPACT_BYTES: usize = 4
    + 80
    + 8
    + CHECKSUM_LEN
    + 4
    + MAX_STUB_BYTES
    + 1
    + 32 * MAX_BRANCH_LEN
    + (32 + 8 + 4 + 8 + 4 + 4 + 1 + MAX_PAYOUT_SCRIPT_LEN + 1 + 32 * MAX_UNCLES);

/// A share without its payout outputs (layout in the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactShare {
    pub header: Header,
    /// What the payouts sum to: the coinbase value `R` the share claims.
    pub reward: u64,
    /// [`payout_checksum`] of the payout outputs.
    pub checksum: [u8; CHECKSUM_LEN],
    /// The coinbase with its payout outputs left out: outputs are the share commitment and,
    /// when present, the witness commitment.
    pub stub: Transaction,
    pub merkle_branch: Vec<TxMerkleNode>,
    pub side: SideData,
}

impl CompactShare {
    /// The id of the share this claims to be (SHA256d of the header): true of the rebuilt share
    /// only if its coinbase gives the header's merkle root, which [`rebuild`] checks.
    pub fn id(&self) -> ShareHash {
        ShareHash::from_raw_hash(self.header.block_hash().to_raw_hash())
    }

    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&serialize(&self.header));
        out.extend_from_slice(&self.reward.to_le_bytes());
        out.extend_from_slice(&self.checksum);
        let stub = serialize(&self.stub);
        out.extend_from_slice(&(stub.len() as u32).to_le_bytes());
        out.extend_from_slice(&stub);
        out.push(self.merkle_branch.len().min(255) as u8);
        for n in self.merkle_branch.iter().take(255) {
            out.extend_from_slice(n.as_byte_array());
        }
        encode_side(&self.side, &mut out);
        out
    }

    /// Decodes canonical bytes, refusing anything oversized, truncated, trailing,
    /// non-canonical, or a stub that is not a commitment (and witness commitment) alone.
    pub fn decode(bytes: &[u8]) -> Result<CompactShare, CompactDecodeError> {
        if bytes.len() > MAX_COMPACT_BYTES {
            return Err(CompactDecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader { bytes };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion(version).into());
        }
        let header: Header =
            deserialize(r.take(80)?).map_err(|e| DecodeError::BadCoinbase(e.to_string()))?;
        let reward = r.u64()?;
        let checksum: [u8; CHECKSUM_LEN] = r.array()?;
        let stub_len = r.u32()? as usize;
        if stub_len > MAX_STUB_BYTES {
            return Err(CompactDecodeError::StubTooLarge(stub_len));
        }
        let stub_bytes = r.take(stub_len)?;
        let stub: Transaction =
            deserialize(stub_bytes).map_err(|e| DecodeError::BadCoinbase(e.to_string()))?;
        if serialize(&stub) != stub_bytes {
            return Err(DecodeError::NonCanonical.into());
        }
        if payout_count(&stub.output) != Some(0) {
            return Err(CompactDecodeError::StubLayout);
        }
        let branch_len = r.u8()? as usize;
        if branch_len > MAX_BRANCH_LEN {
            return Err(DecodeError::BranchTooLong(branch_len).into());
        }
        let mut merkle_branch = Vec::with_capacity(branch_len);
        for _ in 0..branch_len {
            merkle_branch.push(TxMerkleNode::from_byte_array(r.hash()?));
        }
        let side = decode_side(&mut r)?;
        if !r.bytes.is_empty() {
            return Err(DecodeError::TrailingBytes(r.bytes.len()).into());
        }
        Ok(CompactShare {
            header,
            reward,
            checksum,
            stub,
            merkle_branch,
            side,
        })
    }
}

/// Why bytes are not a compact share.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactDecodeError {
    #[error("compact share is {0} bytes, over the {MAX_COMPACT_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("coinbase stub of {0} bytes is over the {MAX_STUB_BYTES}-byte limit")]
    StubTooLarge(usize),
    #[error("coinbase stub is not a share commitment and witness commitment alone")]
    StubLayout,
    #[error(transparent)]
    Share(#[from] DecodeError),
}

/// Why a share has no compact form (it travels in full instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompactError {
    #[error("coinbase outputs are not payouts | commitment | witness commitment")]
    Layout,
    #[error("payouts sum past u64")]
    RewardOverflow,
    #[error("coinbase without its payouts is {0} bytes, over the {MAX_STUB_BYTES}-byte limit")]
    TooLarge(usize),
    /// The compact form is the Bitcoin family's (a coinbase stub); other families' shares
    /// travel whole.
    #[error("the {0} family has no compact form")]
    NoCompactForm(&'static str),
}

/// Why a compact share could not be rebuilt here. None of these is the sender's fault for
/// certain (our view of the window may be the one that differs), so the caller asks for the
/// full share instead and judges that.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    #[error("share target {0:?} is outside the pool's bounds")]
    TargetOutOfBounds(bitcoin::CompactTarget),
    #[error("parent or uncle {0} is not in our chain view")]
    Unknown(ShareHash),
    #[error("height {got} does not follow the parent's ({parent})")]
    WrongHeight { parent: u64, got: u64 },
    #[error("our chain view cannot provide the parent's PPLNS window")]
    WindowUnavailable,
    #[error("the payouts computed here do not match the sender's checksum")]
    ChecksumMismatch,
    #[error("the rebuilt coinbase does not give the header's merkle root (not the claimed share)")]
    IdMismatch,
}

/// How many leading outputs are payouts, by the layout validation enforces
/// (`payouts | commitment | witness commitment?`): `None` when the outputs do not end that way.
fn payout_count(outputs: &[TxOut]) -> Option<usize> {
    let has_wc = outputs
        .last()
        .is_some_and(|o| is_witness_commitment(o.script_pubkey.as_bytes()));
    let commitment = outputs.len().checked_sub(if has_wc { 2 } else { 1 })?;
    parse_commitment_script(outputs[commitment].script_pubkey.as_bytes())?;
    Some(commitment)
}

/// `tagged_hash("otedama/compact-payouts", serialized payout outputs)`, first
/// [`CHECKSUM_LEN`] bytes.
///
/// Why 64 bits are enough: the checksum is not what makes a rebuilt share trustworthy; the
/// merkle root is (SHA256d from the coinbase through the branch to the header the id and the
/// proof of work hash). The checksum only tells "we compute other payouts than the author"
/// apart from "the message is inconsistent", before any merkle hashing, for the fallback and its
/// metrics. An honest mismatch passes it with probability 2^-64 and is then still caught by the
/// merkle root; a sender who crafts a matching checksum gains nothing, since the root check
/// follows. Fewer bits would also do; 8 bytes keep the diagnosis exact for practical purposes
/// at 0.1 % of a share at the output cap.
pub fn payout_checksum(payouts: &[TxOut]) -> [u8; CHECKSUM_LEN] {
    let mut bytes = Vec::with_capacity(payouts.len() * 32);
    for o in payouts {
        // Writing to a Vec cannot fail.
        let _ = o.consensus_encode(&mut bytes);
    }
    let h = tagged_hash("otedama/compact-payouts", &[&bytes]);
    let mut out = [0u8; CHECKSUM_LEN];
    out.copy_from_slice(&h[..CHECKSUM_LEN]);
    out
}

/// The checks of a compact share that need neither the window nor the payout outputs, as
/// stateless validation makes them on the full share: the share target within the pool's bounds,
/// the stub's commitment to the side data and this pool, and the header's proof of work. A
/// compact share that fails one is invalid whatever its outputs (its full share fails the same
/// check), so its sender can be penalised; one that passes and still cannot be rebuilt is
/// fetched in full, which costs its sender a real proof of work per attempt.
pub fn precheck(pool: &PoolParams, c: &CompactShare) -> Result<(), RejectReason> {
    let side = &c.side;
    let target = side.target();
    if target < pool.min_target()
        || target > pool.max_target()
        || target.to_compact() != side.share_bits
    {
        return Err(RejectReason::TargetOutOfBounds(side.share_bits));
    }
    // Decoding made the stub's outputs the commitment (and the witness commitment).
    let commitment = c
        .stub
        .output
        .first()
        .and_then(|o| parse_commitment_script(o.script_pubkey.as_bytes()))
        .ok_or(RejectReason::BadOutputLayout)?;
    if commitment != side.commitment(&pool.commitment_id()) {
        return Err(RejectReason::CommitmentMismatch);
    }
    let mut header = [0u8; 80];
    header.copy_from_slice(&serialize(&c.header));
    let pow = pool
        .chain
        .stateless_pow()
        .pow_hash(PowInput::Header(&header))
        .map_err(RejectReason::PowUnavailable)?;
    if !target.is_met_by(&pow) {
        return Err(RejectReason::InsufficientWork);
    }
    Ok(())
}

/// The compact form of a share.
pub fn compact(share: &Share) -> Result<CompactShare, CompactError> {
    let candidate = match &share.candidate {
        Candidate::Bitcoin(c) => c,
        Candidate::Monero(_) => return Err(CompactError::NoCompactForm("monero")),
    };
    let outputs = &candidate.coinbase.output;
    let n = payout_count(outputs).ok_or(CompactError::Layout)?;
    let mut reward: u64 = 0;
    for o in &outputs[..n] {
        reward = reward
            .checked_add(o.value.to_sat())
            .ok_or(CompactError::RewardOverflow)?;
    }
    let mut stub = candidate.coinbase.clone();
    stub.output.drain(..n);
    let stub_len = serialize(&stub).len();
    if stub_len > MAX_STUB_BYTES {
        return Err(CompactError::TooLarge(stub_len));
    }
    Ok(CompactShare {
        header: candidate.header,
        reward,
        checksum: payout_checksum(&outputs[..n]),
        stub,
        merkle_branch: candidate.merkle_branch.clone(),
        side: share.side.clone(),
    })
}

/// Rebuilds the full share from its compact form and our view of the parent's window: the
/// payouts come from [`with_share_payouts`] over the window the share makes (its parent's, its
/// own credits and its uncles'), exactly as the builder computed them. Checks the checksum, then
/// that the rebuilt coinbase gives the header's merkle root (so the result is the share the id
/// names). The result still needs full validation (proof of work, commitment, rules).
pub fn rebuild<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    c: &CompactShare,
) -> Result<Share, RebuildError> {
    let side = &c.side;
    // Bounds first: the work of an out-of-bounds target would be meaningless credit.
    let target = side.target();
    if target < pool.min_target()
        || target > pool.max_target()
        || target.to_compact() != side.share_bits
    {
        return Err(RebuildError::TargetOutOfBounds(side.share_bits));
    }
    if side.height > 0 {
        let parent = view
            .share_info(&side.prev_share)
            .ok_or(RebuildError::Unknown(side.prev_share))?;
        if side.height != parent.height.saturating_add(1) {
            return Err(RebuildError::WrongHeight {
                parent: parent.height,
                got: side.height,
            });
        }
    }
    let mut uncles = Vec::with_capacity(side.uncles.len());
    for u in &side.uncles {
        let info = view.share_info(u).ok_or(RebuildError::Unknown(*u))?;
        uncles.push(UncleCredit {
            id: *u,
            script: info.payout_script.clone(),
            work: info.work,
        });
    }
    // The window needs the share's credits, parent and height, not its id or the index-only
    // fields (as in the builder's provisional entry).
    let info = ShareInfo {
        id: ShareHash::all_zeros(),
        prev: side.prev_share,
        height: side.height,
        timestamp: side.timestamp,
        share_bits: side.share_bits,
        work: Target::from_compact(side.share_bits).work(),
        cumulative_work: Work::ZERO,
        anchor_height: 0,
        anchor_time: 0,
        parent_height: side.parent_height,
        payout_script: side.payout_script.clone(),
        uncles,
        skip: ShareHash::all_zeros(),
    };
    let payouts: Vec<TxOut> = with_share_payouts(
        view,
        pool,
        &info,
        c.header.prev_blockhash.as_byte_array(),
        c.reward,
        |p| {
            p.iter()
                .map(|(script, amount)| TxOut {
                    value: Amount::from_sat(*amount),
                    script_pubkey: ScriptBuf::from_bytes(script.as_bytes().to_vec()),
                })
                .collect()
        },
    )
    .ok_or(RebuildError::WindowUnavailable)?;
    if payout_checksum(&payouts) != c.checksum {
        return Err(RebuildError::ChecksumMismatch);
    }
    let mut coinbase = c.stub.clone();
    coinbase.output.splice(0..0, payouts);
    let candidate = BitcoinCandidate {
        header: c.header,
        coinbase,
        merkle_branch: c.merkle_branch.clone(),
    };
    if candidate.computed_merkle_root() != c.header.merkle_root {
        return Err(RebuildError::IdMismatch);
    }
    Ok(Share {
        candidate: Candidate::Bitcoin(candidate),
        side: c.side.clone(),
    })
}
