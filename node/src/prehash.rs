//! RandomX out of the single writer: a stage between the P2P service and the sharechain task
//! that computes the proof-of-work hashes of the Monero shares peers send (sync batches and
//! gossip) on all cores, into the hasher's memo, before the writer validates them. The writer's
//! validation then finds each hash in the memo instead of spending a RandomX hash (50 ms in
//! light mode) per share on its own thread.
//!
//! The stage decides nothing: every event is forwarded unchanged, and shares in the order they
//! came, whatever the bytes are (on the control channel peer events may pass answers that wait,
//! see [`spawn_unbounded`]); shares that do not decode or use a seed the hasher does not hold
//! are simply not hashed ahead, and the writer refuses them as before. Two stages run: one on the gossip
//! channel and one on the control channel, where the answers to sync's requests arrive. The one
//! thing a stage may do is wait: at start-up, until the hasher holds its first seed
//! ([`SEED_WAIT`]), since nothing could validate a Monero share before.

use crate::p2p::wire::Response;
use crate::p2p::{NetEvent, SyncStatus};
use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::pow::PowInput;
use otedama_consensus::Share;
use otedama_mining::monero::MoneroBoard;
use otedama_mining::randomx_pow::{HashMode, RandomXHasher, PREHASH_MAX_WAIT};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
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
#[derive(Clone)]
pub struct PrehashLink {
    pub hasher: Arc<RandomXHasher>,
    pub board: Arc<MoneroBoard>,
}

/// How long peers' Monero shares wait for the hasher's first seed. At start-up the first peer
/// connects about a second before the seed's cache is built (monerod's first template, then
/// 0.6-1.4 s of Argon2); shares validated in that gap were refused as not computable here and
/// dropped, and sync fetched them again only at its next probe, 30 s later (measured: a fresh
/// node's 4,320-share sync stalled 30 s at the start). 60 s covers a slow monerod answer; a
/// node whose monerod does not answer at all stops waiting after it once and validates as before
/// (refused, no penalty: `PowUnavailable` is "not yet").
pub const SEED_WAIT: Duration = Duration::from_secs(60);

/// How often the wait looks at the hasher's seeds.
const SEED_POLL: Duration = Duration::from_millis(50);

/// One stage's state: the link, whether it already waited [`SEED_WAIT`] in vain, and (on the
/// control channel) sync's progress.
struct Stage {
    link: PrehashLink,
    gave_up_on_seed: bool,
    sync: Option<watch::Receiver<SyncStatus>>,
}

impl Stage {
    /// Hashes the Monero shares `ev` carries into the hasher's memo, after waiting for the
    /// hasher's first seed if it has none yet. Never fails: what cannot be hashed ahead is left
    /// to the writer.
    async fn hash_ahead(&mut self, ev: &NetEvent) {
        let PrehashLink { hasher, board } = &self.link;
        let tip = board
            .work()
            .map(|w| (w.template.prev_id, w.template.seed_hash));
        let inputs = pow_inputs(ev, tip);
        if inputs.is_empty() {
            return;
        }
        if hasher.seeds().is_empty() && !self.gave_up_on_seed {
            tracing::info!(
                shares = inputs.len(),
                "peers' Monero shares wait for the RandomX seed (monerod's first template)"
            );
            let waited = std::time::Instant::now();
            while hasher.seeds().is_empty() {
                if waited.elapsed() >= SEED_WAIT {
                    self.gave_up_on_seed = true;
                    tracing::warn!(
                        secs = SEED_WAIT.as_secs(),
                        "no RandomX seed yet (is monerod answering?): peers' Monero shares are validated without it and refused until it comes"
                    );
                    break;
                }
                tokio::time::sleep(SEED_POLL).await;
            }
        }
        // A long sync ahead while the dataset is being built: its batches are small (64
        // shares), so the hasher's own rule for large batches never applies; light hashes
        // beside the build slow both (measured: a fresh node's build took 90 s instead of ~60 s
        // and the sync 110 s). Waiting and hashing in fast mode ends first.
        let remaining = self.sync.as_ref().map_or(0, |s| {
            let s = s.borrow();
            s.total.saturating_sub(s.done)
        });
        if remaining >= hasher.config().prehash_wait_min as u64
            && hasher.mode() == HashMode::BuildingDataset
        {
            tracing::info!(
                remaining,
                "sync waits for the RandomX dataset being built (fast mode ends first)"
            );
            let h = hasher.clone();
            let _ = tokio::task::spawn_blocking(move || h.wait_for_dataset(PREHASH_MAX_WAIT)).await;
        }
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
}

/// Starts the stage on the gossip channel: events from `input` come out of the returned
/// receiver, those with Monero shares after their hashes are in the hasher's memo. Bounded like
/// the channel it sits on.
pub fn spawn(
    mut input: mpsc::Receiver<NetEvent>,
    link: PrehashLink,
    capacity: usize,
) -> (mpsc::Receiver<NetEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity);
    let mut stage = Stage {
        link,
        gave_up_on_seed: false,
        sync: None,
    };
    let task = tokio::spawn(async move {
        while let Some(ev) = input.recv().await {
            stage.hash_ahead(&ev).await;
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// The same stage on the control channel, which carries the answers to sync's requests (a
/// sync batch is most of what a joining node hashes). Unbounded like that channel: the P2P
/// service never waits on it, and what it carries is bounded by sync's requests in flight.
/// `sync` is sync's published progress: with at least `prehash_wait_min` shares still to come
/// and the dataset being built, the stage waits for the dataset.
///
/// Only answers wait: they leave in the order they came. Peer events (connects, disconnects,
/// bans, addresses, failed dials) carry nothing to hash and pass at once, even past answers
/// held for the seed or the dataset, so the writer keeps its view of the peers current through
/// a wait of up to a minute. An answer that a peer's disconnect overtook is one sync no longer
/// waits for: it requeued the ids to another peer and drops the answer (`SyncState::on_shares`).
pub fn spawn_unbounded(
    mut input: mpsc::UnboundedReceiver<NetEvent>,
    link: PrehashLink,
    sync: Option<watch::Receiver<SyncStatus>>,
) -> (mpsc::UnboundedReceiver<NetEvent>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let mut stage = Stage {
        link,
        gave_up_on_seed: false,
        sync,
    };
    let task = tokio::spawn(async move {
        // Answers behind the one being hashed, in order; what `input` has is bounded by
        // sync's requests in flight, so this is too.
        let mut answers: VecDeque<NetEvent> = VecDeque::new();
        let mut open = true;
        loop {
            let head = match answers.pop_front() {
                Some(ev) => ev,
                None if open => match input.recv().await {
                    Some(ev) if waits_in_order(&ev) => ev,
                    Some(ev) => {
                        if tx.send(ev).is_err() {
                            return;
                        }
                        continue;
                    }
                    None => return,
                },
                None => return,
            };
            {
                let hashing = stage.hash_ahead(&head);
                tokio::pin!(hashing);
                loop {
                    tokio::select! {
                        _ = &mut hashing => break,
                        ev = input.recv(), if open => match ev {
                            Some(ev) if waits_in_order(&ev) => answers.push_back(ev),
                            Some(ev) => {
                                if tx.send(ev).is_err() {
                                    return;
                                }
                            }
                            None => open = false,
                        },
                    }
                }
            }
            if tx.send(head).is_err() {
                return;
            }
        }
    });
    (rx, task)
}

/// Whether a control event keeps its place behind the answers before it: every answer does
/// (sync reads headers before the shares they name), peer events do not.
fn waits_in_order(ev: &NetEvent) -> bool {
    match ev {
        NetEvent::Response { .. } | NetEvent::Gossip { .. } | NetEvent::Request { .. } => true,
        NetEvent::PeerConnected { .. }
        | NetEvent::PeerDisconnected { .. }
        | NetEvent::PeerAddrs { .. }
        | NetEvent::DialFailed { .. }
        | NetEvent::Banned { .. }
        | NetEvent::Unbanned { .. } => false,
    }
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

    /// A Monero share of a one-share chain under `seed` (not ground: the stage hashes whatever
    /// it is given; validity is the writer's business).
    fn monero_share(seed: [u8; 32]) -> otedama_consensus::Share {
        use otedama_consensus::monero_builder::{
            build_monero_share, MoneroShareInput, MoneroTemplate,
        };
        use otedama_consensus::{Chain, MemoryChain, PayoutScript, PoolParams, Preset};
        let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
        let payee = otedama_consensus::testkit::monero_payee(b"prehash", false);
        let template = MoneroTemplate {
            major_version: 16,
            minor_version: 16,
            timestamp: 1_700_000_000,
            prev_id: [4; 32],
            height: 10,
            seed_hash: seed,
            tx_hashes: vec![],
            reward: 600_000_000_000,
        };
        build_monero_share(
            &pool,
            &MemoryChain::default(),
            &MoneroShareInput {
                parent: None,
                uncles: vec![],
                payout_script: PayoutScript::new(&payee.to_bytes()),
                now: 1_700_000_000,
                software_version: 1,
                template: &template,
                extra_nonce: &[0; 8],
            },
        )
        .expect("share")
    }

    /// Sync's answers (on the control channel) are hashed ahead too, and at start-up they wait
    /// for the hasher's first seed instead of reaching the writer, which could only refuse them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sync_answers_wait_for_the_first_seed_then_are_hashed_ahead() {
        let seed = [7; 32];
        let share = monero_share(seed);
        let hasher = Arc::new(RandomXHasher::with_config(
            otedama_mining::randomx_pow::RandomXConfig::default(),
        ));
        let board = Arc::new(MoneroBoard::new(
            otedama_mining::monero::MoneroBoardConfig {
                pool: otedama_consensus::PoolParams::preset(
                    otedama_consensus::Chain::MoneroRegtest,
                    otedama_consensus::Preset::Main,
                ),
                software_version: 1,
            },
        ));
        let (tx, rx) = mpsc::unbounded_channel();
        let (mut out, _task) = spawn_unbounded(
            rx,
            PrehashLink {
                hasher: hasher.clone(),
                board,
            },
            None,
        );
        let answer = NetEvent::Response {
            peer: libp2p::PeerId::random(),
            request: crate::p2p::wire::Request::GetShares {
                ids: vec![share.id()],
            },
            result: Ok(Response::Shares {
                shares: vec![share.encode()],
            }),
        };
        tx.send(answer).expect("stage running");
        // An answer behind it keeps its place; peer events do not wait behind answers.
        let (p1, p2) = (libp2p::PeerId::random(), libp2p::PeerId::random());
        let headers = NetEvent::Response {
            peer: p1,
            request: crate::p2p::wire::Request::GetBase,
            result: Ok(Response::Busy),
        };
        tx.send(headers).expect("stage running");
        tx.send(NetEvent::PeerConnected { peer: p1 })
            .expect("stage running");
        tx.send(NetEvent::PeerDisconnected { peer: p2 })
            .expect("stage running");
        for want in [p1, p2] {
            let ev = tokio::time::timeout(Duration::from_secs(10), out.recv())
                .await
                .expect("a peer event passes the held answer")
                .expect("stage running");
            match ev {
                NetEvent::PeerConnected { peer } | NetEvent::PeerDisconnected { peer } => {
                    assert_eq!(peer, want, "peer events in their order")
                }
                other => panic!("{other:?} left before the peer events"),
            }
        }
        // No seed: the answer is held (the stage waits up to SEED_WAIT, a minute).
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(out.try_recv().is_err(), "held until the seed is known");
        let h = hasher.clone();
        tokio::task::spawn_blocking(move || h.set_seeds(seed, None))
            .await
            .expect("joined")
            .expect("cache built");
        let ev = tokio::time::timeout(Duration::from_secs(120), out.recv())
            .await
            .expect("forwarded once the seed is there")
            .expect("stage running");
        assert!(
            matches!(
                ev,
                NetEvent::Response {
                    result: Ok(Response::Shares { .. }),
                    ..
                }
            ),
            "forwarded unchanged, first"
        );
        let ev = tokio::time::timeout(Duration::from_secs(10), out.recv())
            .await
            .expect("the answer behind it follows")
            .expect("stage running");
        assert!(
            matches!(
                ev,
                NetEvent::Response {
                    result: Ok(Response::Busy),
                    ..
                }
            ),
            "answers keep their order"
        );
        // Hashed by the stage, before anything asked for it: the writer will find it.
        let stats = hasher.stats();
        assert_eq!(stats.light_hashes, 1);
        assert_eq!(stats.memo_entries, 1);
        assert_eq!(stats.memo_misses, 0);
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
