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

use crate::submit_loop::{self, Answer, Family, PendingBlock};
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
use tokio::sync::{mpsc, watch, Notify};
use tracing::{error, info};

pub use crate::submit_loop::{BLOCK_QUEUE, MAX_IN_FLIGHT, PENDING_DIR, RETRY_MAX, RETRY_MIN};

/// A block ready to submit.
#[derive(Clone, Debug)]
pub struct Pending {
    pub hash: BlockHash,
    pub height: u32,
    pub reward: u64,
    pub time: u64,
    pub block: Vec<u8>,
}

impl PendingBlock for Pending {
    type Id = BlockHash;
    const EXTENSION: &'static str = "block";
    const HEIGHT_BYTES: usize = 4;
    /// The block header, from which the hash is computed.
    const MIN_BLOCK: usize = 80;
    /// A 4 MWU block is at most 4 MB, and Litecoin's extension block adds at most a few MB more.
    const MAX_FILE: u64 = 16 << 20;

    fn id(&self) -> BlockHash {
        self.hash
    }
    fn show(id: &BlockHash) -> String {
        id.to_string()
    }
    fn share(&self) -> ShareHash {
        ShareHash::from_byte_array(self.hash.to_byte_array())
    }
    fn height(&self) -> u64 {
        self.height.into()
    }
    fn reward(&self) -> u64 {
        self.reward
    }
    fn time(&self) -> u64 {
        self.time
    }
    fn blob(&self) -> &[u8] {
        &self.block
    }
    fn from_file(height: u64, reward: u64, time: u64, block: &[u8]) -> Result<Pending, String> {
        let head = block
            .get(..80)
            .ok_or_else(|| format!("{} bytes", block.len()))?;
        let header: bitcoin::block::Header =
            bitcoin::consensus::deserialize(head).map_err(|e| e.to_string())?;
        Ok(Pending {
            hash: header.block_hash(),
            height: u32::try_from(height).map_err(|e| e.to_string())?,
            reward,
            time,
            block: block.to_vec(),
        })
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
    /// `peer_blocks` are judged by the sharechain task (gossip_block) before they come here.
    pub async fn run(
        self,
        candidates: mpsc::Receiver<BlockCandidate>,
        peer_blocks: mpsc::Receiver<Pending>,
        stop: watch::Receiver<bool>,
    ) {
        submit_loop::run(self, candidates, Some(peer_blocks), stop).await;
    }
}

impl Family for Submitter {
    type Pending = Pending;
    type Candidate = BlockCandidate;
    const NODE: &'static str = "the full node";
    const NODE_SUBJECT: &'static str = "full node";
    const RESUMING: &'static str = "resuming submission of blocks found before the restart";
    /// Core says "duplicate" for a block it has.
    const ASK_CHAIN_AFTER_REJECTION: bool = false;

    fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    fn updates(&self) -> &mpsc::Sender<FoundBlock> {
        &self.updates
    }
    fn refresh_now(&self) -> &Notify {
        &self.refresh_now
    }

    /// Assembles and checks a candidate; a block that fails our own checks is recorded as
    /// rejected and not submitted.
    async fn prepare(&self, c: &BlockCandidate) -> Option<Pending> {
        let Some(candidate) = c.share.candidate.as_bitcoin() else {
            tracing::error!(
                share = %c.share.id(),
                "BUG: a found block of another chain family reached the Bitcoin-family submitter"
            );
            return None;
        };
        let header = &candidate.header;
        let block = c.template.assemble_block(header, &candidate.coinbase);
        let reward = candidate.coinbase_value();
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

    /// Gossips our block to the pool, so every node hands it to its own full node.
    fn announce(&self, p: &Pending, _: &BlockCandidate) {
        if let Some(gossip) = &self.gossip {
            let msg = crate::p2p::gossip::encode_block(&p.block);
            if msg.len() <= crate::p2p::gossip::MAX_GOSSIP_MESSAGE {
                let _ = gossip.send(crate::p2p::SwarmCommand::Publish(msg));
            }
        }
    }

    async fn submit_hex(&self, hex: &str) -> Answer {
        classify(self.rpc.submit_block(hex).await)
    }

    async fn block_at(&self, height: u64) -> Option<BlockHash> {
        self.rpc.get_block_hash(height).await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::submit_loop::{load_pending, pending_path, write_pending};
    use std::time::Duration;

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
        let path = pending_path::<Pending>(dir.path(), &p.hash);
        write_pending(&path, &p).unwrap();
        // The layout files left by earlier versions have: `HASH.block`, height (4), reward (8),
        // time found (8), block.
        assert_eq!(
            path,
            dir.path()
                .join(PENDING_DIR)
                .join(format!("{}.block", p.hash))
        );
        let mut layout = 500u32.to_le_bytes().to_vec();
        layout.extend_from_slice(&12_345u64.to_le_bytes());
        layout.extend_from_slice(&99u64.to_le_bytes());
        layout.extend_from_slice(&p.block);
        assert_eq!(std::fs::read(&path).unwrap(), layout);
        std::fs::write(dir.path().join(PENDING_DIR).join("junk.block"), b"x").unwrap();
        let back = load_pending::<Pending>(&dir.path().join(PENDING_DIR));
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].hash, p.hash);
        assert_eq!(back[0].height, 500);
        assert_eq!(back[0].reward, 12_345);
        assert_eq!(back[0].block, p.block);
        // The junk was moved aside, not deleted and not retried.
        assert!(dir.path().join(PENDING_DIR).join("junk.bad").exists());
    }
}
