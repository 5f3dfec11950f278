//! What a Monero miner works on, and where what it finds goes.
//!
//! A Monero rig rolls only the 4-byte header nonce of a hashing blob, so two rigs given the same
//! blob would do the same work. Each rig (and each embedded worker thread) therefore gets its own
//! [`ExtraNonce`] in the miner transaction's nonce field: the job is built once per payout
//! script (deriving the one-time output keys is the expensive part, about 86 µs per payee) and
//! [`MoneroJob::share_for`] only rewrites the nonce bytes, which changes the miner transaction's
//! hash and so the blob's transaction-tree root, not the outputs.

use crate::job::{FoundShare, WorkEpoch};
use crate::monerod::MoneroWork;
use otedama_consensus::chain::monero::difficulty::meets_difficulty;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::miner_tx::with_extra_nonce;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::share::Candidate;
use otedama_consensus::{PayoutScript, Share, Target};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// Bytes of the extra nonce in every Monero job's miner transaction: 4 for the connection (or
/// worker thread), 4 that a rig may not touch but the node may roll when a rig exhausts its
/// 2^32 header nonces. 8 bytes, so 2^64 distinct blobs per job; P2Pool uses 4.
pub const EXTRA_NONCE_LEN: usize = 8;

/// One rig's or worker thread's extra nonce.
pub type ExtraNonce = [u8; EXTRA_NONCE_LEN];

/// One unit of Monero work for one payout script.
#[derive(Debug)]
pub struct MoneroJob {
    /// Unique for the life of the process.
    pub id: u64,
    /// The share as built: header nonce 0, extra nonce all zeros.
    pub share: Share,
    /// Who the share pays.
    pub payout: PayoutScript,
    /// What the share's miner transaction pays, in output order (the PPLNS split).
    pub payouts: Vec<(PayoutScript, u64)>,
    /// The block the share makes: monerod's header fields with the transactions chosen for
    /// this job's miner transaction and the exact reward (`MoneroWork::job_template`).
    pub template: MoneroTemplate,
    /// The monerod work (block difficulty, next seed) the share was built on.
    pub work: Arc<MoneroWork>,
}

impl MoneroJob {
    /// The job's share with `extra` in its miner transaction (header nonce 0); `None` if the
    /// share is not a Monero share of this layout (a bug, logged by the caller).
    pub fn share_for(&self, extra: &ExtraNonce) -> Option<Share> {
        let mut share = self.share.clone();
        let Candidate::Monero(c) = &mut share.candidate else {
            return None;
        };
        c.miner_tx = with_extra_nonce(&c.miner_tx, extra).ok()?;
        Some(share)
    }

    /// The RandomX seed (key) of the job's block height.
    pub fn seed_hash(&self) -> Hash32 {
        self.template.seed_hash
    }

    /// Monero height of the block the job makes.
    pub fn height(&self) -> u64 {
        self.template.height
    }

    /// The share target the RandomX hash must meet.
    pub fn share_target(&self) -> Target {
        self.share.side.target()
    }
}

/// Hashing blob of a Monero share and the offset of its 4 nonce bytes.
pub fn hashing_blob(share: &Share) -> Option<(Vec<u8>, usize)> {
    let c = share.candidate.as_monero()?;
    Some((c.hashing_blob(), c.nonce_offset()))
}

/// Where Monero miners get work.
pub trait MoneroJobSource: Send + Sync + 'static {
    /// The current job for miners paying `payout`; `None` while there is no usable template.
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<MoneroJob>>;

    /// A recent job by id, for checking a submission; `None` once it has expired (stale).
    fn job_by_id(&self, id: u64) -> Option<Arc<MoneroJob>>;

    /// Notified whenever new work is available.
    fn subscribe(&self) -> watch::Receiver<WorkEpoch>;
}

/// A Monero share whose RandomX hash meets monerod's difficulty: a block, with the template's
/// transactions to assemble it.
#[derive(Debug)]
pub struct MoneroBlockCandidate {
    pub share: Share,
    /// The job's template: the transactions the block carries.
    pub template: MoneroTemplate,
    pub work: Arc<MoneroWork>,
    pub worker: String,
}

/// Where Monero miners hand what they find: a block to the block queue first (a busy
/// sharechain can never cost a block), then the share to the sharechain.
#[derive(Clone, Debug)]
pub struct MoneroFoundSink {
    shares: mpsc::Sender<FoundShare>,
    blocks: Option<mpsc::Sender<MoneroBlockCandidate>>,
}

impl From<mpsc::Sender<FoundShare>> for MoneroFoundSink {
    /// Shares only: for tests and tools that never submit blocks.
    fn from(shares: mpsc::Sender<FoundShare>) -> MoneroFoundSink {
        MoneroFoundSink {
            shares,
            blocks: None,
        }
    }
}

impl MoneroFoundSink {
    pub fn new(
        shares: mpsc::Sender<FoundShare>,
        blocks: mpsc::Sender<MoneroBlockCandidate>,
    ) -> MoneroFoundSink {
        MoneroFoundSink {
            shares,
            blocks: Some(blocks),
        }
    }

    /// Hands `found` to the block queue when `pow_hash` (its RandomX hash, already computed by
    /// the miner's check) meets the job's block difficulty; says whether it did. Call once per
    /// share, before [`MoneroFoundSink::try_send`].
    pub fn offer_block(&self, found: &FoundShare, job: &MoneroJob, pow_hash: &Hash32) -> bool {
        let Some(blocks) = &self.blocks else {
            return false;
        };
        let Some(c) = found.share.candidate.as_monero() else {
            return false;
        };
        if c.header.prev_id != job.template.prev_id
            || !meets_difficulty(pow_hash, job.work.difficulty)
        {
            return false;
        }
        let candidate = MoneroBlockCandidate {
            share: found.share.clone(),
            template: job.template.clone(),
            work: job.work.clone(),
            worker: found.worker.clone(),
        };
        if let Err(e) = blocks.try_send(candidate) {
            tracing::error!(
                block = %hex::encode(c.id()),
                "found Monero block not queued for submission ({e}): the block queue is full"
            );
        }
        true
    }

    /// The share to the sharechain queue (never blocks); the error hands it back.
    #[allow(clippy::result_large_err)]
    pub fn try_send(&self, found: FoundShare) -> Result<(), mpsc::error::TrySendError<FoundShare>> {
        self.shares.try_send(found)
    }
}
