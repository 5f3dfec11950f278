//! Jobs: what miners work on, shared by the Stratum server and the embedded workers.
//!
//! A job is a consensus [`ShareJob`] (coinbase split, merkle branch, header fields, share
//! target) for one payout script: the payout script is part of the sidechain data the coinbase
//! commits to, so miners paid to different addresses need different coinbases.

use otedama_consensus::builder::ShareJob;
use otedama_consensus::PayoutScript;
use std::sync::Arc;
use tokio::sync::watch;

/// One unit of work.
#[derive(Debug)]
pub struct Job {
    /// Unique for the life of the process; sent to miners as 16 hex digits.
    pub id: u64,
    pub share_job: ShareJob,
    /// Who the share pays (also `share_job.side.payout_script`).
    pub payout: PayoutScript,
    /// Parent-chain height of the template (for logs and stale checks).
    pub parent_height: u32,
}

/// A change of work. `clean` means the parent-chain block changed: work on older jobs can no
/// longer be a block, and miners must drop it at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WorkEpoch {
    pub seq: u64,
    pub clean: bool,
}

/// Where miners get work.
pub trait JobSource: Send + Sync + 'static {
    /// The current job for miners paying `payout`; `None` while there is no usable template
    /// (the full node is away): miners are then told nothing rather than something stale.
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>>;

    /// A recent job by id, for checking a submission; `None` once it has expired (stale).
    fn job_by_id(&self, id: u64) -> Option<Arc<Job>>;

    /// Notified whenever new work is available.
    fn subscribe(&self) -> watch::Receiver<WorkEpoch>;
}

/// A submission that met the share target, complete and ready for validation.
#[derive(Debug)]
pub struct FoundShare {
    pub share: otedama_consensus::Share,
    pub job_id: u64,
    /// Stratum worker name, or `cpu-N` for embedded workers.
    pub worker: String,
}
