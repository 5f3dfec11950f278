//! RandomX out of the single writer: a stage between the P2P service and the sharechain task
//! that computes the proof-of-work hashes of the Monero shares peers send (sync batches and
//! gossip) on all cores, into the hasher's memo, before the writer validates them. The writer's
//! validation then finds each hash in the memo instead of spending a RandomX hash (50 ms in
//! light mode) per share on its own thread.
//!
//! The stage decides nothing: every event is forwarded unchanged and in order, whatever the
//! bytes are; shares that do not decode or use a seed the hasher does not hold are simply not
//! hashed ahead, and the writer refuses them as before.

use crate::p2p::wire::Response;
use crate::p2p::NetEvent;
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::pow::PowInput;
use otedama_consensus::Share;
use otedama_mining::monero::MoneroBoard;
use otedama_mining::randomx_pow::RandomXHasher;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The (seed, hashing blob) pairs of the Monero shares an event carries, or of the Monero block
/// it gossips. A block is hashed ahead only when it builds on `tip` (monerod's current parent
/// and seed), the one case the judge hashes it (`gossip_monero_block`): a block on another tip
/// is ignored without penalty, so hashing it here would let any peer spend our RandomX for free.
fn pow_inputs(ev: &NetEvent, tip: Option<([u8; 32], [u8; 32])>) -> Vec<([u8; 32], Vec<u8>)> {
    if let NetEvent::Gossip { data, .. } = ev {
        if data.first() == Some(&crate::p2p::GOSSIP_FOUND_BLOCK) {
            let block = crate::p2p::gossip::decode_block(data)
                .ok()
                .and_then(|b| Block::parse(b).ok());
            return match (block, tip) {
                (Some(b), Some((prev_id, seed))) if b.header.prev_id == prev_id => {
                    vec![(seed, b.hashing_blob())]
                }
                _ => Vec::new(),
            };
        }
    }
    let shares: Vec<Share> = match ev {
        NetEvent::Response {
            result: Ok(Response::Shares { shares }),
            ..
        } => shares
            .iter()
            .filter_map(|b| Share::decode(b).ok())
            .collect(),
        NetEvent::Gossip { data, .. } => crate::p2p::gossip::decode(data).into_iter().collect(),
        _ => Vec::new(),
    };
    shares
        .iter()
        .filter_map(|s| s.candidate.as_monero())
        .map(|c| (c.seed_hash, c.hashing_blob()))
        .collect()
}

/// What the stage needs: the node's RandomX hasher, and the board for monerod's current tip.
pub struct PrehashLink {
    pub hasher: Arc<RandomXHasher>,
    pub board: Arc<MoneroBoard>,
}

/// Starts the stage: events from `input` come out of the returned receiver, those with Monero
/// shares after their hashes are in the hasher's memo. Bounded like the channel it sits on.
pub fn spawn(
    mut input: mpsc::Receiver<NetEvent>,
    link: PrehashLink,
    capacity: usize,
) -> (mpsc::Receiver<NetEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity);
    let PrehashLink { hasher, board } = link;
    let task = tokio::spawn(async move {
        while let Some(ev) = input.recv().await {
            let tip = board
                .work()
                .map(|w| (w.template.prev_id, w.template.seed_hash));
            let inputs = pow_inputs(&ev, tip);
            if !inputs.is_empty() {
                let h = hasher.clone();
                let count = inputs.len();
                let started = std::time::Instant::now();
                let hashed = tokio::task::spawn_blocking(move || {
                    let batch: Vec<PowInput<'_>> = inputs
                        .iter()
                        .map(|(seed, blob)| PowInput::RandomX { seed, blob })
                        .collect();
                    h.prehash(&batch)
                });
                if let Err(e) = hashed.await {
                    tracing::warn!("RandomX pre-verification failed: {e}");
                }
                tracing::debug!(
                    shares = count,
                    ms = started.elapsed().as_millis() as u64,
                    "Monero shares hashed ahead of validation"
                );
            }
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::ShareTopic;
    use otedama_consensus::chain::monero::block::{BlockHeader, MinerTx};

    fn block_gossip(prev_id: [u8; 32]) -> (NetEvent, Vec<u8>) {
        let block = Block {
            header: BlockHeader {
                major_version: 16,
                minor_version: 16,
                timestamp: 1_700_000_000,
                prev_id,
                nonce: 7,
            },
            miner_tx: MinerTx {
                version: 2,
                unlock_time: 160,
                height: 100,
                outputs: vec![],
                extra: vec![],
            },
            tx_hashes: vec![],
        };
        let ev = NetEvent::Gossip {
            peer: libp2p::PeerId::random(),
            msg_id: libp2p::gossipsub::MessageId::new(b"id"),
            topic: ShareTopic::Full,
            data: crate::p2p::gossip::encode_block(&block.serialize()),
        };
        (ev, block.hashing_blob())
    }

    /// Only a block on monerod's tip is worth a RandomX hash ahead (what the judge would hash).
    #[test]
    fn gossiped_blocks_are_hashed_ahead_only_on_our_tip() {
        let (tip, seed) = ([1; 32], [2; 32]);
        let (ev, blob) = block_gossip(tip);
        assert_eq!(pow_inputs(&ev, Some((tip, seed))), vec![(seed, blob)]);
        assert!(pow_inputs(&ev, Some(([3; 32], seed))).is_empty());
        assert!(pow_inputs(&ev, None).is_empty());
    }
}
