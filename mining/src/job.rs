//! Jobs: what miners work on, shared by the Stratum server and the embedded workers.
//!
//! A job is a consensus [`ShareJob`] (coinbase split, merkle branch, header fields, share
//! target) for one payout script: the payout script is part of the sidechain data the coinbase
//! commits to, so miners paid to different addresses need different coinbases.

use otedama_consensus::builder::ShareJob;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::template::BlockTemplate;
use otedama_consensus::{PayoutScript, Share, Target};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

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
    /// The template the job was built from: a share that meets its target is assembled into
    /// a block from it (`None` for hand-made jobs in tests, which never make blocks).
    pub template: Option<Arc<BlockTemplate>>,
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

/// A share whose header meets the parent chain's target: a block, with the template to
/// assemble it from.
#[derive(Debug)]
pub struct BlockCandidate {
    pub share: Share,
    pub template: Arc<BlockTemplate>,
    pub worker: String,
}

/// Where miners hand what they find. A block goes to the block queue first, before and
/// independently of the share queue, so that a busy or failing sharechain can never cost a
/// block; then the share goes to the sharechain.
#[derive(Clone, Debug)]
pub struct FoundSink {
    shares: mpsc::Sender<FoundShare>,
    blocks: Option<(mpsc::Sender<BlockCandidate>, PowAlgo)>,
}

impl From<mpsc::Sender<FoundShare>> for FoundSink {
    /// Shares only: for tests and tools that never build blocks.
    fn from(shares: mpsc::Sender<FoundShare>) -> FoundSink {
        FoundSink {
            shares,
            blocks: None,
        }
    }
}

impl FoundSink {
    /// Shares to `shares`; shares that are blocks (under `algo`) also to `blocks`.
    pub fn new(
        shares: mpsc::Sender<FoundShare>,
        blocks: mpsc::Sender<BlockCandidate>,
        algo: PowAlgo,
    ) -> FoundSink {
        FoundSink {
            shares,
            blocks: Some((blocks, algo)),
        }
    }

    /// Hands `found` to the block queue when its header meets the job template's target, and
    /// says whether it did. Call once per share, before [`FoundSink::try_send`]; a block's share
    /// is never dropped as stale (it is valid work, and the block pays its window).
    pub fn offer_block(&self, found: &FoundShare, job: &Job) -> bool {
        let (Some((blocks, algo)), Some(template)) = (&self.blocks, &job.template) else {
            return false;
        };
        let Some(candidate) = found.share.candidate.as_bitcoin() else {
            return false;
        };
        let header = &candidate.header;
        if header.prev_blockhash != template.prev_blockhash || header.bits != template.bits {
            return false;
        }
        let hash = algo.hash(&candidate.header_bytes());
        if !Target::from_compact(template.bits).is_met_by(&hash) {
            return false;
        }
        let candidate = BlockCandidate {
            share: found.share.clone(),
            template: template.clone(),
            worker: found.worker.clone(),
        };
        if let Err(e) = blocks.try_send(candidate) {
            // Only a flood of blocks (regtest at full speed) fills the queue; say so loudly.
            tracing::error!(
                block = %header.block_hash(),
                "found block not queued for submission ({e}): the block queue is full"
            );
        }
        true
    }

    /// The share to the sharechain queue (never blocks). The error hands the share back (as
    /// `mpsc` does) so a worker can retry it after backpressure, hence its size.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, found: FoundShare) -> Result<(), mpsc::error::TrySendError<FoundShare>> {
        self.shares.try_send(found)
    }
}
