//! Monero work: jobs built from monerod's template and the sharechain tip, for the xmrig-dialect
//! Stratum server and the embedded RandomX workers.
//!
//! * [`job`]: [`MoneroJob`], the [`MoneroJobSource`] trait, per-rig extra nonces and the
//!   [`MoneroFoundSink`] that hands blocks to the submitter before shares to the sharechain.
//! * [`board`]: [`MoneroBoard`], the job board of the Monero family.

pub mod board;
pub mod job;

pub use board::{MoneroBoard, MoneroBoardConfig};
pub use job::{
    ExtraNonce, MoneroBlockCandidate, MoneroFoundSink, MoneroJob, MoneroJobSource, EXTRA_NONCE_LEN,
};
