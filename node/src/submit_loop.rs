//! The part of block submission that every chain family shares, so that "no found block is
//! lost" is written once: a block is written to `DATA_DIR/found-blocks/` before it is submitted
//! (one not yet acknowledged survives a restart and is resumed at the next start), a transient
//! failure is retried with backoff until the full node answers or its chain has moved past the
//! block's height, every change of status goes to the sharechain task as a [`FoundBlock`]
//! record, and an accepted block asks the template source for new work.
//!
//! What differs between families stays in their own files ([`crate::block_submit`],
//! [`crate::monero_submit`]): how a block is assembled and checked, how the full node is asked
//! and how its answer is read, the pending-file layout, and the words of the log lines.

use otedama_consensus::ShareHash;
use otedama_sharechain::{BlockStatus, FoundBlock};
use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Blocks waiting for the submitter: far more than any real chain finds while one submission
/// is under way (only regtest, where half of all shares are blocks, comes near it).
pub const BLOCK_QUEUE: usize = 1024;
/// Blocks in submission at once (each retrying on its own); more wait in the queue.
pub const MAX_IN_FLIGHT: usize = 64;
/// First retry delay after a transient failure; doubles up to [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest retry delay: a full node back from a restart gets the block within this.
pub const RETRY_MAX: Duration = Duration::from_secs(10);
/// How long a "has the chain moved past it?" question may take while the node is unwell.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Folder under the data dir holding blocks not yet acknowledged.
pub const PENDING_DIR: &str = "found-blocks";
/// Block ids remembered so that a block reaching us twice (ours echoed, or from several peers)
/// is submitted once.
const RECENT_BLOCKS: usize = 4096;

/// How the full node answered one submission.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Final(BlockStatus, String),
    Transient(String),
}

/// A found block as it waits on disk and in the queue. Each family keeps its own record type
/// (other code builds them with the family's own hash and height types); this is what the loop
/// reads from it.
pub(crate) trait PendingBlock: Clone + Send + Sync + 'static {
    type Id: Copy + Eq + std::hash::Hash + Send + Sync + 'static;
    /// Extension of the family's files in [`PENDING_DIR`]: the families share the folder, and a
    /// file is only ever read back by the family that wrote it.
    const EXTENSION: &'static str;
    /// Bytes of the height at the start of a pending file: files already on disk were written
    /// with the family's own height width (Bitcoin 4, Monero 8) and must still load.
    const HEIGHT_BYTES: usize;
    /// Shortest block a file may hold (less cannot be parsed back).
    const MIN_BLOCK: usize;
    /// Largest pending file read back, well above the family's largest block.
    const MAX_FILE: u64;

    fn id(&self) -> Self::Id;
    /// The id as the family writes it in logs and file names.
    fn show(id: &Self::Id) -> String;
    fn share(&self) -> ShareHash;
    fn height(&self) -> u64;
    fn reward(&self) -> u64;
    fn time(&self) -> u64;
    /// The serialized block, as submitted and as stored.
    fn blob(&self) -> &[u8];
    /// The record a pending file holds; the id is computed from the block, not trusted.
    fn from_file(height: u64, reward: u64, time: u64, blob: &[u8]) -> Result<Self, String>;

    fn record(&self, status: BlockStatus, reason: impl Into<String>, attempts: u32) -> FoundBlock {
        FoundBlock {
            share: self.share(),
            parent_height: u32::try_from(self.height()).unwrap_or(u32::MAX),
            reward: self.reward(),
            time: self.time(),
            status,
            reason: reason.into(),
            attempts,
        }
    }
}

/// A chain family's side of the submitter task; the value is cloned into each submission.
pub(crate) trait Family: Clone + Send + Sync + 'static {
    type Pending: PendingBlock;
    /// What miners hand the task when a share meets the full node's target.
    type Candidate: Send + Sync + 'static;
    /// The full node as named inside a log line ("BLOCK ACCEPTED by the full node").
    const NODE: &'static str;
    /// The full node as named at the start of a log line ("full node refused the block").
    const NODE_SUBJECT: &'static str;
    /// The log line when blocks of a previous run are resumed.
    const RESUMING: &'static str;
    /// Whether a refusal may mean "I have it already" (monerod answers a block it already has
    /// as "not accepted"), so the chain is asked before the refusal is recorded.
    const ASK_CHAIN_AFTER_REJECTION: bool;

    fn data_dir(&self) -> &Path;
    /// Status records for the sharechain task to store.
    fn updates(&self) -> &mpsc::Sender<FoundBlock>;
    /// Asks the template source for new work (after an accepted block).
    fn refresh_now(&self) -> &Notify;
    /// The block a candidate makes, checked; `None` drops it (the family has logged and
    /// recorded why).
    fn prepare(&self, c: &Self::Candidate) -> impl Future<Output = Option<Self::Pending>> + Send;
    /// Called once for a block new to the task, before it is queued.
    fn announce(&self, p: &Self::Pending, c: &Self::Candidate);
    /// One submission of the hex-encoded block, its answer classified.
    fn submit_hex(&self, hex: &str) -> impl Future<Output = Answer> + Send;
    /// The id of the full node's block at `height`; `None` when it cannot tell.
    fn block_at(
        &self,
        height: u64,
    ) -> impl Future<Output = Option<<Self::Pending as PendingBlock>::Id>> + Send;

    /// A progress record for the sharechain task. Never waited for: a busy sharechain task must
    /// not delay a submission; the final record of each block is always sent.
    fn progress(&self, record: FoundBlock) {
        if self.updates().try_send(record).is_err() {
            tracing::debug!("block status queue full: progress record skipped");
        }
    }
}

/// Ids seen lately, oldest forgotten first.
struct Recent<Id> {
    seen: HashSet<Id>,
    order: VecDeque<Id>,
}

impl<Id: Copy + Eq + std::hash::Hash> Recent<Id> {
    fn new() -> Self {
        Recent {
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `id` is new (and now remembered).
    fn insert(&mut self, id: Id) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > RECENT_BLOCKS {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// Runs until `stop`; first resumes the blocks a previous run left unacknowledged.
/// `peer_blocks`: blocks of other nodes, already judged by the sharechain task (none for a
/// family whose blocks are not gossiped).
pub(crate) async fn run<F: Family>(
    f: F,
    mut candidates: mpsc::Receiver<F::Candidate>,
    mut peer_blocks: Option<mpsc::Receiver<F::Pending>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut recent = Recent::new();
    let mut tasks = JoinSet::new();
    let mut waiting: Vec<F::Pending> = load_pending(&f.data_dir().join(PENDING_DIR));
    if !waiting.is_empty() {
        info!(blocks = waiting.len(), "{}", F::RESUMING);
    }
    loop {
        while tasks.len() < MAX_IN_FLIGHT {
            let Some(p) = waiting.pop() else { break };
            tasks.spawn(submit(f.clone(), p));
        }
        tokio::select! {
            c = candidates.recv(), if waiting.len() < BLOCK_QUEUE => match c {
                Some(c) => {
                    if let Some(p) = f.prepare(&c).await {
                        if recent.insert(p.id()) {
                            f.announce(&p, &c);
                            waiting.push(p);
                        }
                    }
                }
                None => break,
            },
            Some(p) = async { peer_blocks.as_mut()?.recv().await },
                if peer_blocks.is_some() && waiting.len() < BLOCK_QUEUE =>
            {
                // A block we already have in hand is not submitted twice.
                if recent.insert(p.id()) {
                    f.progress(p.record(BlockStatus::Submitting, "from a peer", 0));
                    waiting.push(p);
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = async { let _ = stop.wait_for(|s| *s).await; } => break,
        }
    }
    // Unfinished submissions stay on disk for the next start.
    tasks.abort_all();
}

/// Submits until the full node gives a final answer or its chain moves past the block.
async fn submit<F: Family>(f: F, p: F::Pending) {
    let path = pending_path::<F::Pending>(f.data_dir(), &p.id());
    let persist = {
        let (path, p) = (path.clone(), p.clone());
        tokio::task::spawn_blocking(move || write_pending(&path, &p))
    };
    let hex = hex::encode(p.blob());
    let id = F::Pending::show(&p.id());
    let mut attempts = 0u32;
    let mut backoff = RETRY_MIN;
    let (status, reason) = loop {
        attempts += 1;
        match f.submit_hex(&hex).await {
            Answer::Final(status, reason) => break (status, reason),
            Answer::Transient(why) => {
                if attempts == 1 {
                    warn!(block = %id, "cannot submit the block yet ({why}); retrying");
                }
                if attempts.is_power_of_two() {
                    f.progress(p.record(BlockStatus::Submitting, why.clone(), attempts));
                }
                if let Some(done) = moved_past(&f, &p).await {
                    break done;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_MAX);
            }
        }
    };
    let (status, reason) = if F::ASK_CHAIN_AFTER_REJECTION && status == BlockStatus::Rejected {
        match moved_past(&f, &p).await {
            Some((BlockStatus::Duplicate, why)) => (BlockStatus::Duplicate, why),
            Some(_) | None => (status, reason),
        }
    } else {
        (status, reason)
    };
    let (height, reward) = (p.height(), p.reward());
    match status {
        BlockStatus::Accepted => {
            info!(block = %id, height, reward, attempts, "BLOCK ACCEPTED by {}", F::NODE);
            f.refresh_now().notify_one();
        }
        BlockStatus::Duplicate | BlockStatus::Inconclusive => {
            info!(block = %id, height, attempts, "{} already has the block ({reason})", F::NODE_SUBJECT);
            f.refresh_now().notify_one();
        }
        BlockStatus::Rejected => {
            warn!(block = %id, height, attempts, "{} refused the block: {reason}", F::NODE_SUBJECT)
        }
        BlockStatus::Stale => {
            warn!(block = %id, height, attempts, "block not submitted in time: {reason}")
        }
        BlockStatus::Submitting => {}
    }
    let _ = f.updates().send(p.record(status, reason, attempts)).await;
    match persist.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!(block = %id, "could not save the pending block: {e}"),
        Err(e) => warn!(block = %id, "could not save the pending block: {e}"),
    }
    remove_pending(&path);
}

/// Whether the full node's chain already has a block at the block's height: ours (then it got
/// it, e.g. from a peer) or another (then ours is stale). `None` when it cannot tell yet.
async fn moved_past<F: Family>(f: &F, p: &F::Pending) -> Option<(BlockStatus, String)> {
    let at = tokio::time::timeout(PROBE_TIMEOUT, f.block_at(p.height()));
    match at.await {
        Ok(Some(h)) if h == p.id() => {
            Some((BlockStatus::Duplicate, format!("in {}'s chain", F::NODE)))
        }
        Ok(Some(h)) => Some((
            BlockStatus::Stale,
            format!(
                "the parent chain moved on: block {} is at height {}",
                F::Pending::show(&h),
                p.height()
            ),
        )),
        Ok(None) | Err(_) => None,
    }
}

/// Bytes before the block in a pending file: height, reward (8), time found (8).
fn header_len<P: PendingBlock>() -> usize {
    P::HEIGHT_BYTES + 8 + 8
}

pub(crate) fn pending_path<P: PendingBlock>(data_dir: &Path, id: &P::Id) -> PathBuf {
    data_dir
        .join(PENDING_DIR)
        .join(format!("{}.{}", P::show(id), P::EXTENSION))
}

/// Writes a pending block atomically (temporary file, then rename).
pub(crate) fn write_pending<P: PendingBlock>(path: &Path, p: &P) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(header_len::<P>() + p.blob().len());
    bytes.extend_from_slice(&p.height().to_le_bytes()[..P::HEIGHT_BYTES]);
    bytes.extend_from_slice(&p.reward().to_le_bytes());
    bytes.extend_from_slice(&p.time().to_le_bytes());
    bytes.extend_from_slice(p.blob());
    write_atomically(path, &bytes)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a crash leaves the old
/// file or the new one, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Reads the files of `dir` with `extension` through `read` (at most [`BLOCK_QUEUE`]);
/// unreadable ones are reported and moved aside (`.bad`), so they are not retried forever.
pub(crate) fn load_files<T>(
    dir: &Path,
    extension: &str,
    read: impl Fn(&Path) -> Result<T, String>,
) -> Vec<T> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten().take(BLOCK_QUEUE) {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(extension) {
            continue;
        }
        match read(&path) {
            Ok(p) => out.push(p),
            Err(why) => {
                warn!(file = %path.display(), "unreadable pending block ({why}); moved aside");
                let _ = std::fs::rename(&path, path.with_extension("bad"));
            }
        }
    }
    out
}

/// Removes a submitted block's file (gone already is fine).
pub(crate) fn remove_pending(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(file = %path.display(), "cannot remove a submitted block's file: {e}");
        }
    }
}

/// Blocks left by a previous run, newest last; unreadable files are reported and moved aside.
pub(crate) fn load_pending<P: PendingBlock>(dir: &Path) -> Vec<P> {
    let mut out = load_files(dir, P::EXTENSION, read_pending::<P>);
    out.sort_by_key(|p| (p.time(), p.height()));
    out
}

fn read_pending<P: PendingBlock>(path: &Path) -> Result<P, String> {
    let header = header_len::<P>();
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > P::MAX_FILE || len < (header + P::MIN_BLOCK) as u64 {
        return Err(format!("{len} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    // The file may have changed since its size was read: check what was read.
    if bytes.len() < header + P::MIN_BLOCK {
        return Err(format!("{} bytes", bytes.len()));
    }
    let (head, blob) = bytes.split_at(header);
    let (height, rest) = head.split_at(P::HEIGHT_BYTES);
    let mut h = [0u8; 8];
    h[..P::HEIGHT_BYTES].copy_from_slice(height);
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&rest[i..i + 8]);
        u64::from_le_bytes(a)
    };
    P::from_file(u64::from_le_bytes(h), u64_at(0), u64_at(8), blob)
}
