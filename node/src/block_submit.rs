//! Block submission, in a task of its own: a pool exists to turn hashrate into blocks, so a
//! found block must reach the full node whatever else is going on.
//!
//! * Miners hand a share that meets the parent target to this task directly
//!   ([`otedama_mining::job::FoundSink`]), before and independently of the sharechain: a store
//!   error, a full disk, a duplicate, an orphan or a rejected share never stops a submission, and
//!   the sharechain task (the store's single writer) never waits on the full node.
//! * Each block is assembled from its job's template, checked with the node's own copy of the
//!   full node's block rules ([`otedama_consensus::block_check`]; a failure there is a bug in our
//!   assembly and is logged as an error), written to `DATA_DIR/found-blocks/` (so a block not yet
//!   acknowledged survives a restart) and submitted.
//! * A transient failure (timeout, connection refused, HTTP 503, node warming up) is retried
//!   with backoff until the full node answers or its chain has moved past the block's height.
//! * Every change of a block's status goes to the sharechain task as a [`FoundBlock`] record,
//!   which stores it for `getblocks`.

use bitcoin::hashes::Hash;
use bitcoin::BlockHash;
use otedama_consensus::block_check::{check_block, BlockRules};
use otedama_consensus::ShareHash;
use otedama_mining::job::BlockCandidate;
use otedama_mining::node_rpc::client::RPC_IN_WARMUP;
use otedama_mining::node_rpc::{NodeRpc, NodeRpcError};
use otedama_sharechain::{BlockStatus, FoundBlock};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tracing::{error, info, warn};

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
/// Largest pending-block file read back: a 4 MWU block is at most 4 MB, and Litecoin's
/// extension block adds at most a few MB more.
const MAX_PENDING_FILE: u64 = 16 << 20;
/// Header of a pending-block file: height (4), reward (8), time found (8).
const PENDING_HEADER: usize = 4 + 8 + 8;

/// A block ready to submit.
#[derive(Clone, Debug)]
pub struct Pending {
    pub hash: BlockHash,
    pub height: u32,
    pub reward: u64,
    pub time: u64,
    pub block: Vec<u8>,
}

impl Pending {
    fn record(&self, status: BlockStatus, reason: impl Into<String>, attempts: u32) -> FoundBlock {
        FoundBlock {
            share: ShareHash::from_byte_array(self.hash.to_byte_array()),
            parent_height: self.height,
            reward: self.reward,
            time: self.time,
            status,
            reason: reason.into(),
            attempts,
        }
    }
}

/// What the submitter needs; cloned into each submission.
#[derive(Clone)]
pub struct Submitter {
    pub rpc: NodeRpc,
    pub rules: BlockRules,
    pub data_dir: PathBuf,
    /// Status records for the sharechain task to store.
    pub updates: mpsc::Sender<FoundBlock>,
    /// Asks the template source for a new template (after an accepted block).
    pub refresh_now: Arc<Notify>,
    /// The swarm task, to gossip our blocks to the pool (none without P2P).
    pub gossip: Option<mpsc::UnboundedSender<crate::p2p::SwarmCommand>>,
}

/// Block hashes remembered so that a block reaching us twice (ours echoed, or from several
/// peers) is submitted once.
const RECENT_BLOCKS: usize = 4096;

/// How the full node answered one `submitblock`.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Final(BlockStatus, String),
    Transient(String),
}

/// Classifies Core's `submitblock` result (BIP22 strings) and errors.
fn classify(result: Result<Option<String>, NodeRpcError>) -> Answer {
    match result {
        Ok(None) => Answer::Final(BlockStatus::Accepted, String::new()),
        Ok(Some(reason)) => match reason.as_str() {
            "duplicate" => Answer::Final(BlockStatus::Duplicate, reason),
            "inconclusive" | "duplicate-inconclusive" => {
                Answer::Final(BlockStatus::Inconclusive, reason)
            }
            _ => Answer::Final(BlockStatus::Rejected, reason),
        },
        Err(e) => match &e {
            NodeRpcError::Unreachable { .. }
            | NodeRpcError::WorkQueueFull { .. }
            | NodeRpcError::Timeout { .. }
            | NodeRpcError::CookieUnreadable { .. }
            | NodeRpcError::Protocol(_) => Answer::Transient(e.to_string()),
            NodeRpcError::Rpc { code, .. } if *code == RPC_IN_WARMUP => {
                Answer::Transient(e.to_string())
            }
            NodeRpcError::Rpc { .. }
            | NodeRpcError::Auth { .. }
            | NodeRpcError::InvalidUrl { .. }
            | NodeRpcError::WrongChain { .. } => {
                Answer::Final(BlockStatus::Rejected, e.to_string())
            }
        },
    }
}

impl Submitter {
    /// Runs until `stop`; first resumes the blocks a previous run left unacknowledged.
    pub async fn run(
        self,
        mut candidates: mpsc::Receiver<BlockCandidate>,
        mut peer_blocks: mpsc::Receiver<Pending>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut recent = std::collections::HashSet::new();
        let mut recent_order = std::collections::VecDeque::new();
        let mut remember = move |hash: BlockHash| -> bool {
            if !recent.insert(hash) {
                return false;
            }
            recent_order.push_back(hash);
            if recent_order.len() > RECENT_BLOCKS {
                if let Some(old) = recent_order.pop_front() {
                    recent.remove(&old);
                }
            }
            true
        };
        let mut tasks = JoinSet::new();
        let mut waiting: Vec<Pending> = load_pending(&self.data_dir.join(PENDING_DIR));
        if !waiting.is_empty() {
            info!(
                blocks = waiting.len(),
                "resuming submission of blocks found before the restart"
            );
        }
        loop {
            while tasks.len() < MAX_IN_FLIGHT {
                let Some(p) = waiting.pop() else { break };
                tasks.spawn(self.clone().submit(p));
            }
            tokio::select! {
                c = candidates.recv(), if waiting.len() < BLOCK_QUEUE => match c {
                    Some(c) => {
                        if let Some(p) = self.prepare(c).await {
                            if remember(p.hash) {
                                self.publish(&p);
                                waiting.push(p);
                            }
                        }
                    }
                    None => break,
                },
                Some(p) = peer_blocks.recv(), if waiting.len() < BLOCK_QUEUE => {
                    // Judged by the sharechain task (gossip_block); a block we already have in
                    // hand is not submitted twice.
                    if remember(p.hash) {
                        self.progress(p.record(BlockStatus::Submitting, "from a peer", 0));
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

    /// A progress record for the sharechain task. Never waited for: a busy sharechain task must
    /// not delay a submission; the final record of each block is always sent.
    fn progress(&self, record: FoundBlock) {
        if self.updates.try_send(record).is_err() {
            tracing::debug!("block status queue full: progress record skipped");
        }
    }

    /// Gossips our block to the pool, so every node hands it to its own full node.
    fn publish(&self, p: &Pending) {
        if let Some(gossip) = &self.gossip {
            let msg = crate::p2p::gossip::encode_block(&p.block);
            if msg.len() <= crate::p2p::gossip::MAX_GOSSIP_MESSAGE {
                let _ = gossip.send(crate::p2p::SwarmCommand::Publish(msg));
            }
        }
    }

    /// Assembles and checks a candidate; a block that fails our own checks is recorded as
    /// rejected and not submitted.
    async fn prepare(&self, c: BlockCandidate) -> Option<Pending> {
        let header = &c.share.candidate.header;
        let block = c
            .template
            .assemble_block(header, &c.share.candidate.coinbase);
        let reward = c.share.candidate.coinbase_value();
        let p = Pending {
            hash: header.block_hash(),
            height: c.template.height,
            reward,
            time: crate::chain_task::unix_now(),
            block,
        };
        match check_block(&p.block, &self.rules, p.time) {
            Ok(checked) => {
                info!(
                    block = %p.hash,
                    height = p.height,
                    reward,
                    weight = checked.weight,
                    sigops = checked.sigops_cost,
                    transactions = checked.transactions,
                    worker = %c.worker,
                    "BLOCK FOUND: submitting to the full node"
                );
                // Shown by `getblocks` at once, whatever the full node does next.
                self.progress(p.record(BlockStatus::Submitting, "", 0));
                Some(p)
            }
            Err(e) => {
                error!(
                    block = %p.hash,
                    height = p.height,
                    "BUG: assembled block fails the full node's rules ({e}); not submitted"
                );
                let _ = self
                    .updates
                    .send(p.record(BlockStatus::Rejected, format!("own check: {e}"), 0))
                    .await;
                None
            }
        }
    }

    /// Submits until the full node gives a final answer or its chain moves past the block.
    async fn submit(self, p: Pending) {
        let path = pending_path(&self.data_dir, &p.hash);
        let persist = {
            let (path, p) = (path.clone(), p.clone());
            tokio::task::spawn_blocking(move || write_pending(&path, &p))
        };
        let hex = hex::encode(&p.block);
        let mut attempts = 0u32;
        let mut backoff = RETRY_MIN;
        let (status, reason) = loop {
            attempts += 1;
            match classify(self.rpc.submit_block(&hex).await) {
                Answer::Final(status, reason) => break (status, reason),
                Answer::Transient(why) => {
                    if attempts == 1 {
                        warn!(block = %p.hash, "cannot submit the block yet ({why}); retrying");
                    }
                    if attempts.is_power_of_two() {
                        self.progress(p.record(BlockStatus::Submitting, why.clone(), attempts));
                    }
                    if let Some(done) = self.moved_past(&p).await {
                        break done;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        };
        match status {
            BlockStatus::Accepted => {
                info!(block = %p.hash, height = p.height, reward = p.reward, attempts, "BLOCK ACCEPTED by the full node");
                self.refresh_now.notify_one();
            }
            BlockStatus::Duplicate | BlockStatus::Inconclusive => {
                info!(block = %p.hash, height = p.height, attempts, "full node already has the block ({reason})");
                self.refresh_now.notify_one();
            }
            BlockStatus::Rejected => {
                warn!(block = %p.hash, height = p.height, attempts, "full node refused the block: {reason}")
            }
            BlockStatus::Stale => {
                warn!(block = %p.hash, height = p.height, attempts, "block not submitted in time: {reason}")
            }
            BlockStatus::Submitting => {}
        }
        let _ = self.updates.send(p.record(status, reason, attempts)).await;
        match persist.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(block = %p.hash, "could not save the pending block: {e}"),
            Err(e) => warn!(block = %p.hash, "could not save the pending block: {e}"),
        }
        if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(file = %path.display(), "cannot remove a submitted block's file: {e}");
            }
        }
    }

    /// Whether the full node's chain already has a block at `p.height`: ours (then it got it,
    /// e.g. from a peer) or another (then ours is stale). `None` when it cannot tell yet.
    async fn moved_past(&self, p: &Pending) -> Option<(BlockStatus, String)> {
        let at = tokio::time::timeout(PROBE_TIMEOUT, self.rpc.get_block_hash(p.height as u64));
        match at.await {
            Ok(Ok(h)) if h == p.hash => Some((
                BlockStatus::Duplicate,
                "in the full node's chain".to_string(),
            )),
            Ok(Ok(h)) => Some((
                BlockStatus::Stale,
                format!(
                    "the parent chain moved on: block {h} is at height {}",
                    p.height
                ),
            )),
            _ => None,
        }
    }
}

fn pending_path(data_dir: &Path, hash: &BlockHash) -> PathBuf {
    data_dir.join(PENDING_DIR).join(format!("{hash}.block"))
}

/// Writes a pending block atomically (temporary file, then rename).
fn write_pending(path: &Path, p: &Pending) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut bytes = Vec::with_capacity(PENDING_HEADER + p.block.len());
    bytes.extend_from_slice(&p.height.to_le_bytes());
    bytes.extend_from_slice(&p.reward.to_le_bytes());
    bytes.extend_from_slice(&p.time.to_le_bytes());
    bytes.extend_from_slice(&p.block);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)
}

/// Blocks left by a previous run, newest last; unreadable files are reported and moved aside.
fn load_pending(dir: &Path) -> Vec<Pending> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten().take(BLOCK_QUEUE) {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("block") {
            continue;
        }
        match read_pending(&path) {
            Ok(p) => out.push(p),
            Err(why) => {
                warn!(file = %path.display(), "unreadable pending block ({why}); moved aside");
                let _ = std::fs::rename(&path, path.with_extension("bad"));
            }
        }
    }
    out.sort_by_key(|p| (p.time, p.height));
    out
}

fn read_pending(path: &Path) -> Result<Pending, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_PENDING_FILE || len < (PENDING_HEADER + 80) as u64 {
        return Err(format!("{len} bytes"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    // The file may have changed since its size was read: check what was read.
    if bytes.len() < PENDING_HEADER + 80 {
        return Err(format!("{} bytes", bytes.len()));
    }
    let (head, block) = bytes.split_at(PENDING_HEADER);
    let header: bitcoin::block::Header =
        bitcoin::consensus::deserialize(&block[..80]).map_err(|e| e.to_string())?;
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&head[i..i + 8]);
        u64::from_le_bytes(a)
    };
    Ok(Pending {
        hash: header.block_hash(),
        height: u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
        reward: u64_at(4),
        time: u64_at(12),
        block: block.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submitblock_answers_are_classified() {
        assert_eq!(
            classify(Ok(None)),
            Answer::Final(BlockStatus::Accepted, String::new())
        );
        assert!(matches!(
            classify(Ok(Some("duplicate".into()))),
            Answer::Final(BlockStatus::Duplicate, _)
        ));
        assert!(matches!(
            classify(Ok(Some("inconclusive".into()))),
            Answer::Final(BlockStatus::Inconclusive, _)
        ));
        assert_eq!(
            classify(Ok(Some("bad-blk-weight".into()))),
            Answer::Final(BlockStatus::Rejected, "bad-blk-weight".into())
        );
        let timeout = NodeRpcError::Timeout {
            url: "u".into(),
            method: "submitblock".into(),
            after: Duration::from_secs(10),
        };
        assert!(matches!(classify(Err(timeout)), Answer::Transient(_)));
        let busy = NodeRpcError::WorkQueueFull { url: "u".into() };
        assert!(matches!(classify(Err(busy)), Answer::Transient(_)));
        let warmup = NodeRpcError::Rpc {
            method: "submitblock".into(),
            code: RPC_IN_WARMUP,
            message: "Loading block index".into(),
        };
        assert!(matches!(classify(Err(warmup)), Answer::Transient(_)));
        let decode = NodeRpcError::Rpc {
            method: "submitblock".into(),
            code: -22,
            message: "Block decode failed".into(),
        };
        assert!(matches!(
            classify(Err(decode)),
            Answer::Final(BlockStatus::Rejected, _)
        ));
    }

    #[test]
    fn pending_blocks_survive_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let header = bitcoin::block::Header {
            version: bitcoin::block::Version::TWO,
            prev_blockhash: BlockHash::all_zeros(),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: 1,
            bits: bitcoin::CompactTarget::from_consensus(0x207fffff),
            nonce: 7,
        };
        let mut block = bitcoin::consensus::serialize(&header);
        block.extend_from_slice(&[1, 2, 3]);
        let p = Pending {
            hash: header.block_hash(),
            height: 500,
            reward: 12_345,
            time: 99,
            block,
        };
        let path = pending_path(dir.path(), &p.hash);
        write_pending(&path, &p).unwrap();
        std::fs::write(dir.path().join(PENDING_DIR).join("junk.block"), b"x").unwrap();
        let back = load_pending(&dir.path().join(PENDING_DIR));
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].hash, p.hash);
        assert_eq!(back[0].height, 500);
        assert_eq!(back[0].reward, 12_345);
        assert_eq!(back[0].block, p.block);
        // The junk was moved aside, not deleted and not retried.
        assert!(dir.path().join(PENDING_DIR).join("junk.bad").exists());
    }
}
