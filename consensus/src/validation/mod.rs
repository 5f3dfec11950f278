//! Share validation in two layers.
//!
//! * [`check_stateless`]: everything the share proves on its own (limits, proof of work, merkle
//!   branch, coinbase layout, commitment to the sidechain data and the consensus id). Cheap
//!   checks run before the proof-of-work hash.
//! * [`check_contextual`]: everything that needs the sharechain ([`ChainView`]): parent, height,
//!   retarget, timestamps, uncles, and the exact payouts. O(uncles + payout outputs) per share,
//!   never O(window).
//!
//! Every failure is a [`RejectReason`]; [`RejectReason::severity`] tells the network layer whether
//! the sender is at fault.
//!
//! [`ChainView`]: crate::chain_view::ChainView

mod base;
mod bitcoin_candidate;
mod contextual;
mod monero_candidate;
mod reason;
mod stateless;

pub use base::{
    check_trusted_base, payouts_cross_base, BaseError, MAX_BASE_SEARCH, MIN_BASE_DEPTH_WINDOWS,
};
pub use contextual::check_contextual;
pub use reason::{RejectReason, Severity};
pub use stateless::{check_stateless, is_valid_payee, CandidateFacts, Checked};
