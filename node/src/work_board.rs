//! The job board of the chain's family, as the family-independent parts of the node (the
//! sharechain task, the API) see it: they publish tips to it and read what the parent chain and
//! the current split look like, without knowing whether jobs are Bitcoin coinbases or Monero
//! miner transactions.

use crate::relay_policy::{ParentId, ParentView};
use bitcoin::hashes::Hash;
use otedama_consensus::chain::Chain;
use otedama_consensus::template::BlockTemplate;
use otedama_consensus::work::{Target, Work};
use otedama_consensus::PayoutScript;
use otedama_mining::board::{JobBoard, TipWork};
use otedama_mining::job::JobSource;
use otedama_mining::monero::{MoneroBoard, MoneroJobSource};
use otedama_mining::monerod::MoneroRpc;
use otedama_mining::node_rpc::NodeRpc;
use std::sync::Arc;

#[derive(Clone)]
pub enum WorkBoard {
    Bitcoin(Arc<JobBoard>),
    Monero(Arc<MoneroBoard>),
}

/// The parent chain as the current template shows it.
#[derive(Clone, Copy, Debug)]
pub struct ParentWork {
    /// Height of the full node's tip (the template builds on it).
    pub tip_height: u64,
    /// Expected hashes per block at the current difficulty.
    pub block_work: Work,
    /// The difficulty in the family's own unit (Bitcoin: work / 2^32; Monero: expected
    /// hashes), as its operators read it.
    pub difficulty: f64,
}

impl WorkBoard {
    /// A new best sharechain tip.
    pub fn set_tip(&self, tip: TipWork) {
        match self {
            WorkBoard::Bitcoin(b) => b.set_tip(tip),
            WorkBoard::Monero(b) => b.set_tip(tip),
        }
    }

    /// The Bitcoin-family template (relay policy and block gossip judge by it); `None` on
    /// other families.
    pub fn bitcoin_template(&self) -> Option<Arc<BlockTemplate>> {
        match self {
            WorkBoard::Bitcoin(b) => b.template(),
            WorkBoard::Monero(_) => None,
        }
    }

    /// monerod's current work (Monero only).
    pub fn monero_work(&self) -> Option<Arc<otedama_mining::monerod::MoneroWork>> {
        match self {
            WorkBoard::Bitcoin(_) => None,
            WorkBoard::Monero(b) => b.work(),
        }
    }

    /// The parent chain as the relay policy judges shares by it; `None` while the full node
    /// is away (the policy then relays every valid share).
    pub fn parent_view(&self, chain: Chain) -> Option<ParentView> {
        match self {
            WorkBoard::Bitcoin(b) => b.template().map(|t| ParentView {
                prev: ParentId(t.prev_blockhash.to_byte_array()),
                reward: t.coinbase_value,
                base_reward: chain.subsidy(t.height),
            }),
            // monerod's own miner transaction pays its set's fees minus any penalty; a block
            // of ours within the zone pays the base reward at least.
            WorkBoard::Monero(b) => b.work().map(|w| ParentView {
                prev: ParentId(w.template.prev_id),
                reward: w.template.reward.max(w.menu.base_reward),
                base_reward: w.menu.base_reward,
            }),
        }
    }

    /// The parent chain's tip and difficulty; `None` while the full node is away.
    pub fn parent(&self) -> Option<ParentWork> {
        match self {
            WorkBoard::Bitcoin(b) => b.template().map(|t| {
                let block_work = Target::from_compact(t.bits).work();
                ParentWork {
                    tip_height: u64::from(t.height.saturating_sub(1)),
                    block_work,
                    difficulty: block_work.difficulty_f64(),
                }
            }),
            WorkBoard::Monero(b) => b.work().map(|w| ParentWork {
                tip_height: w.template.height.saturating_sub(1),
                // Monero's difficulty is the expected number of hashes per block.
                block_work: Work(w.difficulty),
                difficulty: w.difficulty as f64,
            }),
        }
    }

    /// Difficulty of the share the node's own payout would mine now, in the family's unit.
    pub fn share_difficulty(&self, payout: &PayoutScript) -> Option<f64> {
        match self {
            WorkBoard::Bitcoin(b) => b
                .job_for(payout)
                .map(|j| j.share_job.side.target().difficulty_f64()),
            WorkBoard::Monero(b) => b
                .job_for(payout)
                .map(|j| j.share.side.target().work().0 as f64),
        }
    }

    /// The split a share paying `payout` would pay now, in output order.
    pub fn payouts(&self, payout: &PayoutScript) -> Option<Vec<(PayoutScript, u64)>> {
        match self {
            WorkBoard::Bitcoin(b) => b.job_for(payout).map(|j| j.share_job.payouts.clone()),
            WorkBoard::Monero(b) => b.job_for(payout).map(|j| j.payouts.clone()),
        }
    }
}

/// The full node, as the API asks it about blocks already found.
#[derive(Clone)]
pub enum FullNode {
    Bitcoin(NodeRpc),
    Monero(MoneroRpc),
}

impl FullNode {
    /// Id of the full node's block at `height`, in the byte order of share ids.
    pub async fn block_id_at(&self, height: u64) -> Result<[u8; 32], String> {
        match self {
            FullNode::Bitcoin(rpc) => rpc
                .get_block_hash(height)
                .await
                .map(|h| h.to_byte_array())
                .map_err(|e| e.to_string()),
            FullNode::Monero(rpc) => rpc
                .get_block_header_by_height(height)
                .await
                .map(|h| h.hash)
                .map_err(|e| e.to_string()),
        }
    }

    /// The client's call statistics in Prometheus' text format.
    pub fn render_prometheus(&self, prefix: &str) -> String {
        match self {
            FullNode::Bitcoin(rpc) => rpc.stats().render_prometheus(prefix),
            FullNode::Monero(rpc) => rpc.stats().render_prometheus(prefix),
        }
    }
}
