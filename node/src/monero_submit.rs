//! Monero block submission, in a task of its own, with the guarantees of the Bitcoin family's
//! ([`crate::block_submit`]): miners hand a share that meets monerod's difficulty straight to
//! this task, before the sharechain sees it; the block is written to
//! `DATA_DIR/found-blocks/ID.monero-block` before it is submitted (so one not yet acknowledged
//! survives a restart), transient failures are retried with backoff until monerod answers or
//! its chain has moved past the block's height, and every change of status goes to the
//! sharechain task as a [`FoundBlock`] record.
//!
//! Monero blocks are not gossiped between nodes: every node submits what its own miners find.

use crate::submit_loop::{self, Answer, Family, PendingBlock};
use bitcoin::hashes::Hash;
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::ShareHash;
use otedama_mining::monero::MoneroBlockCandidate;
use otedama_mining::monerod::{MoneroRpc, MoneroRpcError};
use otedama_sharechain::{BlockStatus, FoundBlock};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, watch, Notify};
use tracing::info;

/// A Monero block ready to submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMonero {
    pub id: Hash32,
    pub height: u64,
    pub reward: u64,
    pub time: u64,
    pub blob: Vec<u8>,
}

impl PendingMonero {
    /// The block a found share makes with its template's transactions; `None` for a share of
    /// another family (a bug, logged by the caller).
    pub fn assemble(c: &MoneroBlockCandidate, time: u64) -> Option<PendingMonero> {
        let candidate = c.share.candidate.as_monero()?;
        let block = Block {
            header: candidate.header.clone(),
            miner_tx: candidate.miner_tx.clone(),
            tx_hashes: c.template.tx_hashes.clone(),
        };
        Some(PendingMonero {
            id: candidate.id(),
            height: c.template.height,
            reward: candidate.reward().unwrap_or(0),
            time,
            blob: block.serialize(),
        })
    }
}

impl PendingBlock for PendingMonero {
    type Id = Hash32;
    const EXTENSION: &'static str = "monero-block";
    const HEIGHT_BYTES: usize = 8;
    /// A file with no blob is refused; whether a blob is a block is for the parse to say.
    const MIN_BLOCK: usize = 1;
    /// monerod's largest block blob is bounded by the penalty-free median (300 kB) x 2 for the
    /// block weight, and the blob lists only transaction hashes; 4 MiB is far above it.
    const MAX_FILE: u64 = 4 << 20;

    fn id(&self) -> Hash32 {
        self.id
    }
    fn show(id: &Hash32) -> String {
        hex::encode(id)
    }
    fn share(&self) -> ShareHash {
        ShareHash::from_byte_array(self.id)
    }
    fn height(&self) -> u64 {
        self.height
    }
    fn reward(&self) -> u64 {
        self.reward
    }
    fn time(&self) -> u64 {
        self.time
    }
    fn blob(&self) -> &[u8] {
        &self.blob
    }
    fn from_file(height: u64, reward: u64, time: u64, blob: &[u8]) -> Result<Self, String> {
        let block = Block::parse(blob).map_err(|e| e.to_string())?;
        Ok(PendingMonero {
            id: block.id(),
            height,
            reward,
            time,
            blob: blob.to_vec(),
        })
    }
}

/// A refusal is final; not reaching monerod (or an answer that makes no sense, as from a
/// monerod restarting) is retried.
fn classify(result: Result<(), MoneroRpcError>) -> Answer {
    match result {
        Ok(()) => Answer::Final(BlockStatus::Accepted, String::new()),
        Err(e) => match &e {
            MoneroRpcError::Rejected { .. }
            | MoneroRpcError::Rpc { .. }
            | MoneroRpcError::InvalidUrl { .. }
            | MoneroRpcError::WrongNetwork { .. }
            | MoneroRpcError::Restricted { .. }
            | MoneroRpcError::TooOld { .. }
            | MoneroRpcError::Auth { .. } => Answer::Final(BlockStatus::Rejected, e.to_string()),
            MoneroRpcError::Unreachable { .. }
            | MoneroRpcError::NotSynced { .. }
            | MoneroRpcError::Http { .. }
            | MoneroRpcError::Timeout { .. }
            | MoneroRpcError::Protocol(_)
            | MoneroRpcError::TipMoved => Answer::Transient(e.to_string()),
        },
    }
}

/// What the submitter needs; cloned into each submission.
#[derive(Clone)]
pub struct MoneroSubmitter {
    pub rpc: MoneroRpc,
    pub data_dir: PathBuf,
    /// Status records for the sharechain task to store.
    pub updates: mpsc::Sender<FoundBlock>,
    /// Asks the template source for new work (after an accepted block).
    pub refresh_now: Arc<Notify>,
    /// The swarm task, to gossip our blocks to the pool (none without P2P).
    pub gossip: Option<mpsc::UnboundedSender<crate::p2p::SwarmCommand>>,
}

impl MoneroSubmitter {
    /// Runs until `stop`; first resumes the blocks a previous run left unacknowledged.
    /// `peer_blocks`: blocks other nodes found, judged by the sharechain task
    /// (`gossip_monero_block`).
    pub async fn run(
        self,
        candidates: mpsc::Receiver<MoneroBlockCandidate>,
        peer_blocks: mpsc::Receiver<PendingMonero>,
        stop: watch::Receiver<bool>,
    ) {
        submit_loop::run(self, candidates, Some(peer_blocks), stop).await;
    }
}

impl Family for MoneroSubmitter {
    type Pending = PendingMonero;
    type Candidate = MoneroBlockCandidate;
    const NODE: &'static str = "monerod";
    const NODE_SUBJECT: &'static str = "monerod";
    const RESUMING: &'static str = "resuming submission of Monero blocks found before the restart";
    const ASK_CHAIN_AFTER_REJECTION: bool = true;

    fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    fn updates(&self) -> &mpsc::Sender<FoundBlock> {
        &self.updates
    }
    fn refresh_now(&self) -> &Notify {
        &self.refresh_now
    }

    async fn prepare(&self, c: &MoneroBlockCandidate) -> Option<PendingMonero> {
        let p = PendingMonero::assemble(c, crate::chain_task::unix_now());
        if p.is_none() {
            tracing::error!(
                "BUG: a found block of another chain family reached the Monero submitter"
            );
        }
        p
    }

    fn announce(&self, p: &PendingMonero, c: &MoneroBlockCandidate) {
        info!(
            block = %hex::encode(p.id),
            height = p.height,
            reward = p.reward,
            transactions = c.template.tx_hashes.len(),
            worker = %c.worker,
            "BLOCK FOUND: submitting to monerod"
        );
        self.progress(p.record(BlockStatus::Submitting, "", 0));
        // And to the pool, so every node hands it to its own monerod.
        if let Some(gossip) = &self.gossip {
            let msg = crate::p2p::gossip::encode_block(&p.blob);
            if msg.len() <= crate::p2p::gossip::MAX_GOSSIP_MESSAGE {
                let _ = gossip.send(crate::p2p::SwarmCommand::Publish(msg));
            }
        }
    }

    async fn submit_hex(&self, hex: &str) -> Answer {
        classify(self.rpc.submit_block(hex).await)
    }

    async fn block_at(&self, height: u64) -> Option<Hash32> {
        let header = self.rpc.get_block_header_by_height(height).await.ok()?;
        Some(header.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit_loop::{load_pending, pending_path, write_pending, PENDING_DIR};

    #[test]
    fn a_pending_block_survives_a_restart_and_garbage_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let block = Block {
            header: otedama_consensus::chain::monero::block::BlockHeader {
                major_version: 16,
                minor_version: 16,
                timestamp: 1_700_000_000,
                prev_id: [7; 32],
                nonce: 42,
            },
            miner_tx: otedama_consensus::chain::monero::block::MinerTx {
                version: 2,
                unlock_time: 160,
                height: 100,
                outputs: vec![],
                extra: vec![],
            },
            tx_hashes: vec![[1; 32], [2; 32]],
        };
        let p = PendingMonero {
            id: block.id(),
            height: 100,
            reward: 600_000_000_000,
            time: 1_700_000_001,
            blob: block.serialize(),
        };
        let path = pending_path::<PendingMonero>(dir.path(), &p.id);
        write_pending(&path, &p).unwrap();
        // The layout files left by earlier versions have: `ID.monero-block`, height (8),
        // reward (8), time found (8), blob.
        assert_eq!(
            path,
            dir.path()
                .join(PENDING_DIR)
                .join(format!("{}.monero-block", hex::encode(p.id)))
        );
        let mut layout = 100u64.to_le_bytes().to_vec();
        layout.extend_from_slice(&600_000_000_000u64.to_le_bytes());
        layout.extend_from_slice(&1_700_000_001u64.to_le_bytes());
        layout.extend_from_slice(&p.blob);
        assert_eq!(std::fs::read(&path).unwrap(), layout);
        let garbage = dir
            .path()
            .join(PENDING_DIR)
            .join(format!("x.{}", PendingMonero::EXTENSION));
        std::fs::write(&garbage, [0u8; 40]).unwrap();
        let loaded = load_pending::<PendingMonero>(&dir.path().join(PENDING_DIR));
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            (
                loaded[0].id,
                loaded[0].height,
                loaded[0].reward,
                loaded[0].time
            ),
            (p.id, p.height, p.reward, p.time)
        );
        assert_eq!(loaded[0].blob, p.blob);
        assert!(!garbage.exists());
        assert!(garbage.with_extension("bad").exists());
    }
}
