//! Why a share is refused.

use crate::chain::monero::check::MoneroRejectReason;
use crate::chain::FamilyKind;
use crate::hash::ShareHash;
use crate::pow::PowError;
use crate::share::DecodeError;
use bitcoin::pow::CompactTarget;

/// How the network layer should treat the sender of a refused share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// We lack data to decide (parent or uncle unknown): fetch it, no penalty.
    MissingData,
    /// Could become valid later or depends on our clock: ignore, no penalty.
    NotYet,
    /// The share is invalid under the rules: the sender is at fault.
    Invalid,
}

/// Every reason a share is refused, each produced by a test.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RejectReason {
    // Stateless.
    #[error("undecodable share: {0}")]
    Decode(#[from] DecodeError),
    #[error("proof of work does not meet the share target")]
    InsufficientWork,
    #[error("share target {0:?} outside the pool's bounds")]
    TargetOutOfBounds(CompactTarget),
    #[error("merkle branch does not lead to the header's merkle root")]
    MerkleRootMismatch,
    #[error("coinbase is not a coinbase (one input spending the null outpoint)")]
    NotCoinbase,
    #[error("coinbase scriptSig length {0} outside 2..=100")]
    ScriptSigLength(usize),
    #[error("coinbase BIP34 height does not match the share's parent-chain height")]
    Bip34HeightMismatch,
    #[error("coinbase outputs are not laid out as payouts, commitment, witness commitment")]
    BadOutputLayout,
    #[error("coinbase commitment does not match the sidechain data and consensus id")]
    CommitmentMismatch,
    #[error("coinbase witness does not match its witness commitment")]
    BadWitness,
    #[error("payout outputs are not canonical (sorted, unique, non-zero, within the cap)")]
    PayoutsNotCanonical,
    #[error("coinbase value out of range")]
    RewardOutOfRange,
    /// The payouts add up to less than the parent block's subsidy: a share may leave fees
    /// unclaimed but may not burn the subsidy, which would shrink every miner's pay by the
    /// author's choice (and, before the lottery offset became a fraction, re-roll the lottery).
    #[error("coinbase value {reward} is below the subsidy {subsidy} of its parent-chain height")]
    RewardBelowSubsidy { reward: u64, subsidy: u64 },
    /// The coinbase's witness reserved value is not 32 zero bytes. The share id (the block hash)
    /// does not cover the witness, so a free value there would let the same share travel with
    /// different bytes; zeros make the id commit to every byte of the share.
    #[error("coinbase witness reserved value is not all zeros")]
    WitnessReservedValueNotZero,
    #[error("payout script is not a standard output type")]
    NonStandardPayoutScript,
    #[error("too many uncles")]
    TooManyUncles,
    #[error("uncles are not strictly ascending or include the parent")]
    UnclesNotCanonical,
    #[error("height and parent disagree about being the first share")]
    BadGenesis,
    #[error("a first share other than the pool's pinned genesis {0}")]
    GenesisNotPinned(ShareHash),
    /// A candidate of another chain family than the pool's (a Bitcoin-family share sent to a
    /// Monero pool or the reverse).
    #[error("a {} share for a {} pool", .share.name(), .pool.name())]
    WrongFamily { pool: FamilyKind, share: FamilyKind },
    /// The node's hasher cannot hash this share yet (RandomX: no cache for the seed it names,
    /// which a node holds only for its parent chain's current and next seed). Not the sender's
    /// fault for certain: the node may be behind its parent chain.
    #[error("proof of work not computable here: {0}")]
    PowUnavailable(PowError),
    /// A Monero candidate breaks one of its family's stateless rules (docs/consensus.md
    /// section 14).
    #[error("Monero candidate: {0}")]
    Monero(MoneroRejectReason),
    // Contextual.
    #[error("parent share {0} is unknown")]
    MissingParent(ShareHash),
    #[error("uncle {0} is unknown")]
    MissingUncle(ShareHash),
    #[error("the view cannot provide the PPLNS window")]
    WindowUnavailable,
    #[error("height {got} is not parent height + 1 ({expected})")]
    WrongHeight { expected: u64, got: u64 },
    #[error("share target {got:?} differs from the retarget result {expected:?}")]
    WrongTarget {
        expected: CompactTarget,
        got: CompactTarget,
    },
    #[error("timestamp is before the parent's")]
    TimestampBeforeParent,
    #[error("timestamp is too far in the future")]
    TimestampInFuture,
    #[error("uncle {0} is not 1..=depth shares below")]
    UncleDepth(ShareHash),
    #[error("uncle {0} is an ancestor")]
    UncleIsAncestor(ShareHash),
    #[error("uncle {0} does not branch off this chain")]
    UncleNotSibling(ShareHash),
    #[error("uncle {0} was already included")]
    UncleAlreadyIncluded(ShareHash),
    #[error("coinbase payouts differ from the PPLNS window's")]
    WrongPayouts,
    /// A share above this node's trusted base whose target is not the retarget of the anchor
    /// the base's index entry claimed (inherited by every share above the base until a share at
    /// the floor resets it). Either the share or the base's trusted entry is wrong, and the node
    /// cannot tell which (docs/consensus.md section 13): nobody is penalised for it.
    #[error(
        "share target {got:?} disagrees with the trusted base's anchor (expected {expected:?})"
    )]
    TargetDisagreesWithTrustedBase {
        expected: CompactTarget,
        got: CompactTarget,
    },
}

impl RejectReason {
    /// Exhaustive on purpose (no wildcard arm): a new reason must be given a severity, because
    /// the severity decides whether the relaying peer is penalised.
    pub fn severity(&self) -> Severity {
        match self {
            RejectReason::MissingParent(_)
            | RejectReason::MissingUncle(_)
            | RejectReason::WindowUnavailable
            | RejectReason::TargetDisagreesWithTrustedBase { .. } => Severity::MissingData,
            RejectReason::TimestampInFuture | RejectReason::PowUnavailable(_) => Severity::NotYet,
            RejectReason::Decode(_)
            | RejectReason::InsufficientWork
            | RejectReason::TargetOutOfBounds(_)
            | RejectReason::MerkleRootMismatch
            | RejectReason::NotCoinbase
            | RejectReason::ScriptSigLength(_)
            | RejectReason::Bip34HeightMismatch
            | RejectReason::BadOutputLayout
            | RejectReason::CommitmentMismatch
            | RejectReason::BadWitness
            | RejectReason::PayoutsNotCanonical
            | RejectReason::RewardOutOfRange
            | RejectReason::RewardBelowSubsidy { .. }
            | RejectReason::WitnessReservedValueNotZero
            | RejectReason::NonStandardPayoutScript
            | RejectReason::TooManyUncles
            | RejectReason::UnclesNotCanonical
            | RejectReason::BadGenesis
            | RejectReason::GenesisNotPinned(_)
            | RejectReason::WrongFamily { .. }
            | RejectReason::Monero(_)
            | RejectReason::WrongHeight { .. }
            | RejectReason::WrongTarget { .. }
            | RejectReason::TimestampBeforeParent
            | RejectReason::UncleDepth(_)
            | RejectReason::UncleIsAncestor(_)
            | RejectReason::UncleNotSibling(_)
            | RejectReason::UncleAlreadyIncluded(_)
            | RejectReason::WrongPayouts => Severity::Invalid,
        }
    }
}
