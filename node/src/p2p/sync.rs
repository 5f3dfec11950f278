//! Headers-first sync, as a state machine of the sharechain task: no I/O, it returns the
//! requests to send and inserts what arrives.
//!
//! 1. Every new peer is asked `GetHeaders(our locator)`: the reply tells its tip (height,
//!    cumulative work) and the ids of its best chain after where ours parts from it.
//! 2. While some peer claims more work than our best, ids are queued in height order (more
//!    headers are asked from the best such peer, continuing from the last id, whenever the
//!    queue runs low), and bodies are fetched in batches of up to 64 from every peer whose tip
//!    is high enough, several requests per peer in flight.
//! 3. Bodies are validated and inserted as they arrive; batches that arrive out of order wait
//!    in the orphan pool (in-flight ids are capped well below its size). A failed or partial
//!    reply puts its ids back at the front of the queue for another peer.
//!
//! A fake best tip cannot stall it: every queued id remembers the peer that advertised it.
//! When that peer does not serve an id it advertised (or claims more work and sends no ids),
//! it is penalised ([`Offence::Useless`]) and every id it alone advertised leaves the queue; a
//! peer asked for an id it never advertised and lacking it only stops being asked for that id,
//! so fake ids cannot make honest peers look empty.

use crate::p2p::scoring::Offence;
use crate::p2p::wire::{
    BaseData, Request, TipInfo, MAX_HEADERS, MAX_LOCATOR, MAX_SHARES_PER_REQUEST,
};
use crate::p2p::{SwarmCommand, SyncStatus};
use libp2p::PeerId;
use otedama_consensus::validation::{Severity, MIN_BASE_DEPTH_WINDOWS};
use otedama_consensus::{Share, ShareHash};
use otedama_sharechain::{InsertOutcome, Sharechain, StoreError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Body requests in flight to one peer.
pub const MAX_REQUESTS_PER_PEER: usize = 4;
/// Ids in flight in all: a quarter of the orphan pool (4096), so out-of-order batches always
/// fit in it.
pub const MAX_INFLIGHT_IDS: usize = 1024;
/// More headers are asked for when fewer ids than this wait to be fetched.
pub const REFILL_BELOW: usize = 2048;
/// Most ids queued: bounded memory whatever peers claim (32 bytes + bookkeeping each).
pub const MAX_QUEUED: usize = 100_000;
/// How often progress is logged while syncing.
pub const LOG_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct PeerSync {
    tip: Option<TipInfo>,
    /// Headers continue from this id (the last one it sent, when it had more).
    continue_from: Option<ShareHash>,
    /// Sent everything after our locator: not asked for headers again until its tip changes.
    exhausted: bool,
    /// Body requests in flight (their ids).
    requests: Vec<Vec<ShareHash>>,
    /// Answered `Busy` or failed: not asked again before this.
    backoff_until: Option<Instant>,
    /// Ids it was asked for without having advertised them and did not have: not asked again
    /// (until its tip changes). Bounded by [`MAX_LACKS`].
    lacks: HashSet<ShareHash>,
}

/// Most ids remembered as lacking per peer.
pub const MAX_LACKS: usize = 4096;

/// How long a peer that answered `Busy` (or failed a request) is left alone.
pub const BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Run {
    started: Instant,
    start_height: u64,
}

/// Sync state of the sharechain task.
#[derive(Debug, Default)]
pub struct SyncState {
    peers: HashMap<PeerId, PeerSync>,
    headers_from: Option<PeerId>,
    want: VecDeque<ShareHash>,
    /// Height of every queued or in-flight id.
    heights: HashMap<ShareHash, u64>,
    /// The peer whose headers queued each id (same keys as `heights`, for header-queued ids).
    advertiser: HashMap<ShareHash, PeerId>,
    inflight_ids: usize,
    /// The peer a `GetBase` is in flight to (one at a time).
    base_from: Option<PeerId>,
    run: Option<Run>,
    last_log: Option<Instant>,
    /// Shares this node has fetched and inserted through sync since start.
    pub fetched_total: u64,
}

/// What one body reply did.
#[derive(Debug, Default)]
pub struct Applied {
    pub commands: Vec<SwarmCommand>,
    pub outcomes: Vec<InsertOutcome>,
}

fn our_work(chain: &Sharechain) -> u128 {
    chain.best().map_or(0, |b| b.cumulative_work.0)
}

fn known(chain: &Sharechain, id: &ShareHash) -> bool {
    chain.state().contains(id) || chain.orphans().contains(id)
}

impl SyncState {
    pub fn new() -> SyncState {
        SyncState::default()
    }

    pub fn peer_connected(&mut self, peer: PeerId, chain: &Sharechain) -> Vec<SwarmCommand> {
        self.peers.entry(peer).or_default();
        vec![SwarmCommand::Send {
            peer,
            request: Request::GetHeaders {
                locator: chain.locator().into_iter().take(MAX_LOCATOR).collect(),
                max: MAX_HEADERS as u16,
            },
        }]
    }

    /// Asks every peer for its tip (and the headers after our locator): a peer that reorganised
    /// onto more work, or whose gossip we missed, is noticed within one probe interval.
    pub fn probe(&mut self, chain: &Sharechain) -> Vec<SwarmCommand> {
        let locator: Vec<ShareHash> = chain.locator().into_iter().take(MAX_LOCATOR).collect();
        self.peers
            .keys()
            .filter(|p| self.headers_from != Some(**p))
            .map(|peer| SwarmCommand::Send {
                peer: *peer,
                request: Request::GetHeaders {
                    locator: locator.clone(),
                    max: MAX_HEADERS as u16,
                },
            })
            .collect()
    }

    pub fn peer_disconnected(&mut self, peer: &PeerId, chain: &Sharechain) -> Vec<SwarmCommand> {
        // What only it advertised may not exist; peers that have those shares advertise them
        // again when probed.
        self.drop_advertised_by(peer);
        if let Some(p) = self.peers.remove(peer) {
            for ids in p.requests {
                self.inflight_ids = self.inflight_ids.saturating_sub(ids.len());
                self.requeue(ids, chain);
            }
        }
        if self.headers_from == Some(*peer) {
            self.headers_from = None;
        }
        if self.base_from == Some(*peer) {
            self.base_from = None;
        }
        self.schedule(chain)
    }

    /// Fetches shares by id from `peer` outside the header order: the missing parent or uncle
    /// of a gossiped share.
    pub fn fetch(
        &mut self,
        peer: PeerId,
        ids: Vec<ShareHash>,
        chain: &Sharechain,
    ) -> Vec<SwarmCommand> {
        let ids: Vec<ShareHash> = ids
            .into_iter()
            .filter(|id| !known(chain, id) && !self.heights.contains_key(id))
            .take(MAX_SHARES_PER_REQUEST)
            .collect();
        let Some(p) = self.peers.get_mut(&peer) else {
            return vec![];
        };
        if ids.is_empty() || p.requests.len() >= MAX_REQUESTS_PER_PEER {
            return vec![];
        }
        for id in &ids {
            self.heights.insert(*id, 0);
        }
        self.inflight_ids += ids.len();
        p.requests.push(ids.clone());
        vec![SwarmCommand::Send {
            peer,
            request: Request::GetShares { ids },
        }]
    }

    /// A `Headers` reply to a `GetHeaders` that asked for `asked_max` ids.
    pub fn on_headers(
        &mut self,
        peer: PeerId,
        tip: Option<TipInfo>,
        start_height: u64,
        ids: Vec<ShareHash>,
        asked_max: u16,
        chain: &Sharechain,
    ) -> Vec<SwarmCommand> {
        let mut out = Vec::new();
        if self.headers_from == Some(peer) {
            self.headers_from = None;
        }
        if ids.len() > asked_max as usize {
            out.push(SwarmCommand::Penalise {
                peer,
                offence: Offence::Unrequested,
            });
            return out;
        }
        let ours = our_work(chain);
        if let (Some(t), Some(b)) = (tip, chain.best()) {
            if t.id == b.id && t.cumulative_work != b.cumulative_work.0 {
                // Same tip, other work: one of the trusted bases it descends from was lied
                // about (ours or the peer's). Fork choice above the base is unaffected.
                tracing::warn!(
                    %peer,
                    ours = b.cumulative_work.0,
                    theirs = t.cumulative_work,
                    trusted_base = ?chain.trusted_base(),
                    "a peer reports another cumulative work for our best tip"
                );
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.tip != tip {
                p.exhausted = false;
                p.lacks.clear();
            }
        }
        // No ids and a start above our next height: the peer pruned its chain's beginning and
        // nothing of our locator is on what it kept (docs/p2p.md, "Joining a pruned pool").
        // Its chain cannot be fetched share by share from where ours ends: ask it for a
        // trusted base instead, if it claims more work.
        let our_next = chain.best().map_or(0, |b| b.height + 1);
        if ids.is_empty()
            && start_height > our_next
            && tip.is_some_and(|t| t.cumulative_work > ours)
        {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.tip = tip;
                p.exhausted = true;
                p.continue_from = None;
            }
            // From the peer claiming the most work among those we know (docs/p2p.md).
            let best_claim = self
                .peers
                .values()
                .filter_map(|p| p.tip)
                .map(|t| t.cumulative_work)
                .max()
                .unwrap_or(0);
            let ours_best = tip.is_some_and(|t| t.cumulative_work >= best_claim);
            if self.base_from.is_none() && ours_best {
                tracing::info!(
                    %peer,
                    peer_oldest = start_height,
                    peer_height = tip.map_or(0, |t| t.height),
                    our_next,
                    "peer pruned below our chain: asking it for a trusted base"
                );
                self.base_from = Some(peer);
                out.push(SwarmCommand::Send {
                    peer,
                    request: Request::GetBase,
                });
            }
            return out;
        }
        // More work than ours and not one id after our locator: that chain would have to be
        // ours, which has less work. A claim with nothing to show costs the peer, and the claim
        // is not kept, so it cannot hold sync in "waiting".
        // (Its tip may be one we already queued from its earlier headers: that is honest.)
        let tip_pending =
            tip.is_some_and(|t| self.heights.contains_key(&t.id) || known(chain, &t.id));
        let Some(p) = self.peers.get_mut(&peer) else {
            return out;
        };
        if ids.is_empty() && !tip_pending && tip.is_some_and(|t| t.cumulative_work > ours) {
            p.tip = None;
            p.exhausted = true;
            p.continue_from = None;
            out.push(SwarmCommand::Penalise {
                peer,
                offence: Offence::Useless,
            });
            out.extend(self.schedule(chain));
            return out;
        }
        p.tip = tip;
        if ids.len() < asked_max as usize {
            p.exhausted = true;
            p.continue_from = None;
        } else {
            p.continue_from = ids.last().copied();
        }
        for (i, id) in ids.into_iter().enumerate() {
            if self.want.len() >= MAX_QUEUED {
                break;
            }
            if self.heights.contains_key(&id) || known(chain, &id) {
                continue;
            }
            self.heights
                .insert(id, start_height.saturating_add(i as u64));
            self.advertiser.insert(id, peer);
            self.want.push_back(id);
        }
        if self.run.is_none() && !self.want.is_empty() {
            let start_height = chain.best().map_or(0, |b| b.height);
            self.run = Some(Run {
                started: Instant::now(),
                start_height,
            });
            tracing::info!(
                %peer,
                peer_height = tip.map_or(0, |t| t.height),
                our_height = start_height,
                "sync started"
            );
        }
        out.extend(self.schedule(chain));
        out
    }

    /// A `Shares` reply to `GetShares(asked)`.
    pub fn on_shares(
        &mut self,
        peer: PeerId,
        asked: &[ShareHash],
        shares: Vec<Vec<u8>>,
        chain: &mut Sharechain,
        now: u64,
    ) -> Result<Applied, StoreError> {
        let mut applied = Applied::default();
        if !self.take_request(&peer, asked) {
            // Not (or no longer) ours: a reply after a disconnect requeued the ids.
            return Ok(applied);
        }
        let mut pending: HashSet<ShareHash> = asked.iter().copied().collect();
        let mut fetch_next = Vec::new();
        // A reply cut short by garbage is penalised once, as malformed, not also as useless.
        let mut malformed = false;
        for bytes in shares {
            let share = match Share::decode(&bytes) {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, "undecodable share in a sync reply: {e}");
                    applied.commands.push(SwarmCommand::Penalise {
                        peer,
                        offence: Offence::Malformed,
                    });
                    malformed = true;
                    break;
                }
            };
            let id = share.id();
            if !pending.remove(&id) {
                applied.commands.push(SwarmCommand::Penalise {
                    peer,
                    offence: Offence::Unrequested,
                });
                continue;
            }
            self.forget(&id);
            // An orphan far below our tip is not followed back: a cheap side chain behind a
            // gossiped share must not make us fetch and store it share by share.
            let follow_back = !crate::p2p::handlers::gossip_share::too_deep(chain, &share);
            let outcomes = chain.insert(share, now)?;
            for o in &outcomes {
                match o {
                    InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. } => {
                        self.fetched_total += 1;
                    }
                    // A fetched parent whose own parent (or uncle) is unknown too: follow the
                    // chain back unless the missing share is already on its way.
                    InsertOutcome::Orphan { missing, .. }
                        if follow_back
                            && !self.heights.contains_key(missing)
                            && !known(chain, missing) =>
                    {
                        fetch_next.push(*missing);
                    }
                    InsertOutcome::Invalid { reason, .. }
                        if reason.severity() == Severity::Invalid =>
                    {
                        tracing::warn!(%peer, "peer served an invalid share: {reason}");
                        applied.commands.push(SwarmCommand::Penalise {
                            peer,
                            offence: Offence::InvalidShare,
                        });
                    }
                    _ => {}
                }
            }
            applied.outcomes.extend(outcomes);
        }
        let missing: Vec<ShareHash> = asked
            .iter()
            .filter(|id| pending.contains(*id))
            .copied()
            .collect();
        if malformed {
            // Cut short by garbage (penalised above): what it did not get to may exist.
            self.requeue(missing, chain);
        } else if !missing.is_empty() {
            let (promised, others): (Vec<ShareHash>, Vec<ShareHash>) = missing
                .into_iter()
                .partition(|id| self.advertiser.get(id) == Some(&peer));
            if !promised.is_empty() {
                // It advertised these on its best chain and cannot serve them: a fake tip, or
                // a chain it no longer has. Either way nothing it advertised is worth waiting
                // for; honest peers advertise those ids again at the next probe.
                tracing::debug!(%peer, missing = promised.len(), "peer did not serve shares it advertised");
                applied.commands.push(SwarmCommand::Penalise {
                    peer,
                    offence: Offence::Useless,
                });
                for id in &promised {
                    self.forget(id);
                }
                self.drop_advertised_by(&peer);
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.tip = None;
                    p.exhausted = true;
                    p.continue_from = None;
                }
            }
            if !others.is_empty() {
                // Asked for ids it never advertised: it may simply not have them.
                if let Some(p) = self.peers.get_mut(&peer) {
                    for id in &others {
                        if p.lacks.len() < MAX_LACKS {
                            p.lacks.insert(*id);
                        }
                    }
                }
                self.requeue(others, chain);
            }
        }
        fetch_next.sort();
        fetch_next.dedup();
        if !fetch_next.is_empty() {
            applied.commands.extend(self.fetch(peer, fetch_next, chain));
        }
        applied.commands.extend(self.schedule(chain));
        Ok(applied)
    }

    /// A `Base` reply to our `GetBase`: checks that the base lies at least
    /// [`MIN_BASE_DEPTH_WINDOWS`] windows below the peer's tip and below its work, stores it as
    /// the trusted base ([`Sharechain::insert_trusted_base`]), and asks the peer for the headers
    /// above it. A peer without a base (its chain is shorter, or it is itself mid-sync) is not
    /// at fault; one whose base does not decode, lies too high or fails the checks is.
    pub fn on_base(
        &mut self,
        peer: PeerId,
        tip: Option<TipInfo>,
        base: Option<BaseData>,
        chain: &mut Sharechain,
        now: u64,
    ) -> Result<Applied, StoreError> {
        let mut applied = Applied::default();
        if self.base_from != Some(peer) {
            applied.commands.push(SwarmCommand::Penalise {
                peer,
                offence: Offence::Unrequested,
            });
            return Ok(applied);
        }
        self.base_from = None;
        let Some(data) = base else {
            tracing::info!(%peer, "peer has no trusted base to give");
            applied.commands.extend(self.schedule(chain));
            return Ok(applied);
        };
        let decoded = Share::decode(&data.share)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                otedama_sharechain::codec::decode_info(&data.info)
                    .map(|i| (s, i))
                    .map_err(|e| e.to_string())
            });
        let (share, info) = match decoded {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%peer, "undecodable trusted base: {e}");
                applied.commands.push(SwarmCommand::Penalise {
                    peer,
                    offence: Offence::Malformed,
                });
                return Ok(applied);
            }
        };
        let min_depth = MIN_BASE_DEPTH_WINDOWS.saturating_mul(chain.pool().pplns_window);
        let deep_enough = tip.is_some_and(|t| {
            t.height >= info.height.saturating_add(min_depth)
                && t.cumulative_work > info.cumulative_work.0
        });
        if !deep_enough {
            tracing::warn!(
                %peer,
                base_height = info.height,
                peer_height = tip.map_or(0, |t| t.height),
                "trusted base is not {MIN_BASE_DEPTH_WINDOWS} windows below the peer's tip"
            );
            applied.commands.push(SwarmCommand::Penalise {
                peer,
                offence: Offence::Useless,
            });
            return Ok(applied);
        }
        match chain.insert_trusted_base(share, &info, now)? {
            Err(e) => {
                tracing::warn!(%peer, "peer sent a trusted base that fails its checks: {e}");
                applied.commands.push(SwarmCommand::Penalise {
                    peer,
                    offence: Offence::InvalidShare,
                });
                return Ok(applied);
            }
            Ok(outcomes) => {
                self.fetched_total += outcomes
                    .iter()
                    .filter(|o| {
                        matches!(
                            o,
                            InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. }
                        )
                    })
                    .count() as u64;
                applied.outcomes = outcomes;
            }
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.tip = tip;
            p.exhausted = false;
            p.continue_from = None;
        }
        // Everyone's headers can connect now.
        for p in self.peers.values_mut() {
            p.exhausted = false;
        }
        self.headers_from = Some(peer);
        applied.commands.push(SwarmCommand::Send {
            peer,
            request: Request::GetHeaders {
                locator: chain.locator().into_iter().take(MAX_LOCATOR).collect(),
                max: MAX_HEADERS as u16,
            },
        });
        applied.commands.extend(self.schedule(chain));
        Ok(applied)
    }

    /// A request of ours failed (timeout, connection closed, protocol error) or was answered
    /// `Busy`: its ids go back to the queue and the peer is left alone for [`BACKOFF`].
    pub fn on_failure(
        &mut self,
        peer: PeerId,
        request: &Request,
        chain: &Sharechain,
    ) -> Vec<SwarmCommand> {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.backoff_until = Some(Instant::now() + BACKOFF);
        }
        match request {
            Request::GetHeaders { .. } => {
                if self.headers_from == Some(peer) {
                    self.headers_from = None;
                }
            }
            Request::GetShares { ids } => {
                if self.take_request(&peer, ids) {
                    self.requeue(ids.clone(), chain);
                }
            }
            Request::GetBase => {
                if self.base_from == Some(peer) {
                    self.base_from = None;
                }
            }
        }
        self.schedule(chain)
    }

    /// An id leaves the queue's bookkeeping (fetched, known, or given up).
    fn forget(&mut self, id: &ShareHash) {
        self.heights.remove(id);
        self.advertiser.remove(id);
    }

    /// Drops every queued (not in-flight) id that `peer` advertised.
    fn drop_advertised_by(&mut self, peer: &PeerId) {
        let advertiser = &self.advertiser;
        let dropped: Vec<ShareHash> = self
            .want
            .iter()
            .filter(|id| advertiser.get(*id) == Some(peer))
            .copied()
            .collect();
        if dropped.is_empty() {
            return;
        }
        let set: HashSet<ShareHash> = dropped.iter().copied().collect();
        self.want.retain(|id| !set.contains(id));
        for id in &dropped {
            self.forget(id);
        }
    }

    fn take_request(&mut self, peer: &PeerId, ids: &[ShareHash]) -> bool {
        let Some(p) = self.peers.get_mut(peer) else {
            return false;
        };
        match p.requests.iter().position(|r| r == ids) {
            Some(i) => {
                p.requests.swap_remove(i);
                self.inflight_ids = self.inflight_ids.saturating_sub(ids.len());
                true
            }
            None => false,
        }
    }

    /// Puts ids back at the front of the queue, lowest height first. Ids whose advertiser is
    /// gone or was found useless are dropped: nobody promised them any more, and left at the
    /// front they would block the ids behind them.
    fn requeue(&mut self, mut ids: Vec<ShareHash>, chain: &Sharechain) {
        let orphaned: Vec<ShareHash> = ids
            .iter()
            .filter(|id| {
                self.advertiser
                    .get(*id)
                    .is_some_and(|adv| self.peers.get(adv).is_none_or(|p| p.tip.is_none()))
            })
            .copied()
            .collect();
        for id in &orphaned {
            self.forget(id);
        }
        ids.retain(|id| !known(chain, id) && self.heights.contains_key(id));
        ids.sort_by_key(|id| self.heights.get(id).copied().unwrap_or(0));
        for id in ids.into_iter().rev() {
            self.want.push_front(id);
        }
    }

    /// Requests to send now: more headers when the queue runs low, bodies up to the limits.
    pub fn schedule(&mut self, chain: &Sharechain) -> Vec<SwarmCommand> {
        let mut out = Vec::new();
        let ours = our_work(chain);
        if self.headers_from.is_none() && self.want.len() < REFILL_BELOW {
            let best_peer = self
                .peers
                .iter()
                .filter(|(_, p)| {
                    p.tip.is_some_and(|t| t.cumulative_work > ours)
                        && (!p.exhausted || p.continue_from.is_some())
                })
                .max_by_key(|(_, p)| p.tip.map_or(0, |t| t.cumulative_work))
                .map(|(k, p)| (*k, p.continue_from));
            if let Some((peer, cont)) = best_peer {
                let locator: Vec<ShareHash> = cont
                    .into_iter()
                    .chain(chain.locator())
                    .take(MAX_LOCATOR)
                    .collect();
                self.headers_from = Some(peer);
                out.push(SwarmCommand::Send {
                    peer,
                    request: Request::GetHeaders {
                        locator,
                        max: MAX_HEADERS as u16,
                    },
                });
            }
        }
        let now = Instant::now();
        while self.inflight_ids < MAX_INFLIGHT_IDS {
            // Drop ids that arrived meanwhile (by gossip or another reply).
            while let Some(id) = self.want.front() {
                if known(chain, id) {
                    let id = *id;
                    self.forget(&id);
                    self.want.pop_front();
                } else {
                    break;
                }
            }
            let Some(first) = self.want.front() else {
                break;
            };
            let first_height = self.heights.get(first).copied().unwrap_or(0);
            let first_id = *first;
            let Some((peer, tip_height)) = self
                .peers
                .iter()
                .filter(|(_, p)| p.requests.len() < MAX_REQUESTS_PER_PEER)
                .filter(|(_, p)| !p.lacks.contains(&first_id))
                .filter(|(_, p)| p.backoff_until.is_none_or(|t| t <= now))
                .filter_map(|(k, p)| p.tip.map(|t| (*k, t.height, p.requests.len())))
                .filter(|(_, h, _)| *h >= first_height)
                .min_by_key(|(k, _, n)| (*n, *k))
                .map(|(k, h, _)| (k, h))
            else {
                break;
            };
            let room = (MAX_INFLIGHT_IDS - self.inflight_ids).min(MAX_SHARES_PER_REQUEST);
            let mut ids = Vec::with_capacity(room);
            while ids.len() < room {
                let Some(id) = self.want.front().copied() else {
                    break;
                };
                if self.heights.get(&id).copied().unwrap_or(0) > tip_height {
                    break;
                }
                if self.peers.get(&peer).is_some_and(|p| p.lacks.contains(&id)) {
                    break;
                }
                self.want.pop_front();
                if !known(chain, &id) {
                    ids.push(id);
                } else {
                    self.forget(&id);
                }
            }
            if ids.is_empty() {
                continue;
            }
            self.inflight_ids += ids.len();
            if let Some(p) = self.peers.get_mut(&peer) {
                p.requests.push(ids.clone());
            }
            out.push(SwarmCommand::Send {
                peer,
                request: Request::GetShares { ids },
            });
        }
        out
    }

    /// Where sync stands; logs progress every [`LOG_EVERY`] and the end of a sync.
    pub fn status(&mut self, chain: &Sharechain) -> SyncStatus {
        let ours = our_work(chain);
        let best_height = chain.best().map_or(0, |b| b.height);
        let target = self
            .peers
            .values()
            .filter_map(|p| p.tip)
            .filter(|t| t.cumulative_work > ours)
            .map(|t| t.height)
            .max();
        let busy = !self.want.is_empty() || self.inflight_ids > 0;
        let Some(target_height) = target.filter(|_| busy || self.headers_from.is_some()) else {
            if let Some(run) = self.run.take() {
                let secs = run.started.elapsed().as_secs_f64();
                let n = best_height.saturating_sub(run.start_height);
                tracing::info!(
                    shares = n,
                    secs = format!("{secs:.1}"),
                    rate = format!("{:.0}", n as f64 / secs.max(1e-3)),
                    height = best_height,
                    "sync finished"
                );
            }
            // Peers with more work but nothing to fetch from them: their chains failed
            // validation or are out of reach; we stay on our best.
            return SyncStatus {
                state: if target.is_some() {
                    "waiting"
                } else {
                    "synced"
                },
                best_height,
                target_height: target.unwrap_or(best_height).max(best_height),
                done: 0,
                total: 0,
                rate: 0.0,
                eta_secs: None,
                peers: self.peers.len(),
            };
        };
        let (start_height, started) = self
            .run
            .as_ref()
            .map_or((best_height, Instant::now()), |r| {
                (r.start_height, r.started)
            });
        let done = best_height.saturating_sub(start_height);
        let total = target_height.max(best_height).saturating_sub(start_height);
        let secs = started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let left = total.saturating_sub(done);
        let eta_secs = (rate > 0.0).then(|| (left as f64 / rate).ceil() as u64);
        let status = SyncStatus {
            state: "syncing",
            best_height,
            target_height,
            done,
            total,
            rate,
            eta_secs,
            peers: self.peers.len(),
        };
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= LOG_EVERY)
        {
            self.last_log = Some(now);
            let pct = if total > 0 {
                done as f64 * 100.0 / total as f64
            } else {
                0.0
            };
            tracing::info!(
                "sync: {done}/{total} shares ({pct:.1} %), {rate:.0} shares/s, {} left, height {best_height} of {target_height}",
                eta_secs.map_or("unknown time".to_string(), |s| format!("about {s} s"))
            );
        }
        status
    }

    pub fn queued(&self) -> usize {
        self.want.len()
    }

    pub fn inflight(&self) -> usize {
        self.inflight_ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::p2p::handlers::{get_base, get_headers, get_shares};
    use crate::p2p::wire::Response;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};

    fn pool() -> PoolParams {
        let mut p = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        p.pplns_window = 50;
        p
    }

    fn serving_chain(dir: &std::path::Path, n: u64) -> Sharechain {
        let p = pool();
        let mut chain = Sharechain::open(dir, p.clone()).unwrap();
        let mut parent = None;
        for i in 0..n {
            let t = T0 + 10 * i;
            let s = make_share(&p, chain.state(), parent, (i % 7) as u32, t, vec![], i).unwrap();
            parent = Some(s.id());
            chain.insert(s, t).unwrap();
        }
        chain
    }

    /// Drives a client sync against `server` without a network: every `Send` is answered by the
    /// real handlers, replies are delivered newest first (the worst order for the orphan pool),
    /// and requests to `flaky` always fail.
    fn drive(
        client: &mut SyncState,
        chain: &mut Sharechain,
        server: &mut Sharechain,
        first: Vec<SwarmCommand>,
        flaky: Option<PeerId>,
    ) -> usize {
        let mut pending = first;
        let mut rounds = 0;
        while !pending.is_empty() {
            rounds += 1;
            assert!(rounds < 10_000, "sync does not converge");
            let mut next = Vec::new();
            for cmd in pending.drain(..).rev() {
                let SwarmCommand::Send { peer, request } = cmd else {
                    panic!("an honest server earns no penalty: {cmd:?}");
                };
                if Some(peer) == flaky {
                    next.extend(client.on_failure(peer, &request, chain));
                    continue;
                }
                match &request {
                    Request::GetHeaders { locator, max } => {
                        let Response::Headers {
                            tip,
                            start_height,
                            ids,
                        } = get_headers::answer(server, locator, *max)
                        else {
                            panic!("headers answer");
                        };
                        next.extend(client.on_headers(peer, tip, start_height, ids, *max, chain));
                    }
                    Request::GetShares { ids } => {
                        let Response::Shares { shares } = get_shares::answer(server, ids) else {
                            panic!("shares answer");
                        };
                        let applied = client
                            .on_shares(peer, ids, shares, chain, T0 + 1_000_000)
                            .unwrap();
                        next.extend(applied.commands);
                    }
                    Request::GetBase => {
                        let Response::Base { tip, base } = get_base::answer(server) else {
                            panic!("base answer");
                        };
                        let applied = client
                            .on_base(peer, tip, base, chain, T0 + 1_000_000)
                            .unwrap();
                        next.extend(applied.commands);
                    }
                }
            }
            pending = next;
        }
        rounds
    }

    /// A server that pruned its chain's beginning answers an empty locator with no ids and
    /// its oldest height; the client asks for a trusted base, takes it, and syncs the rest.
    #[test]
    fn joins_a_pruned_server_through_a_trusted_base() {
        let sdir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let mut server = serving_chain(sdir.path(), 600);
        assert!(server.prune_if_due().unwrap() > 0);
        let mut chain = Sharechain::open(cdir.path(), pool()).unwrap();
        let mut sync = SyncState::new();
        let peer = PeerId::random();
        let first = sync.peer_connected(peer, &chain);
        drive(&mut sync, &mut chain, &mut server, first, None);
        assert_eq!(chain.best().map(|b| b.id), server.best().map(|b| b.id));
        let base_height = 599 - MIN_BASE_DEPTH_WINDOWS * pool().pplns_window;
        assert_eq!(
            chain.trusted_base(),
            chain
                .store()
                .ids_by_height(base_height, base_height, 1)
                .unwrap()
                .first()
                .map(|(_, id)| *id)
        );
        // The base and the two windows above it.
        assert_eq!(sync.fetched_total, 599 - base_height + 1);
        assert_eq!(chain.partially_validated(), pool().pplns_window - 1);
        assert_eq!(sync.status(&chain).state, "synced");
    }

    #[test]
    fn syncs_a_chain_out_of_order_and_around_a_failing_peer() {
        let sdir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let mut server = serving_chain(sdir.path(), 3_000);
        let mut chain = Sharechain::open(cdir.path(), pool()).unwrap();
        let mut sync = SyncState::new();
        let (good, flaky) = (PeerId::random(), PeerId::random());
        let mut first = sync.peer_connected(flaky, &chain);
        first.extend(sync.peer_connected(good, &chain));
        drive(&mut sync, &mut chain, &mut server, first, Some(flaky));
        assert_eq!(chain.best().map(|b| b.id), server.best().map(|b| b.id));
        assert_eq!(sync.queued(), 0);
        assert_eq!(sync.inflight(), 0);
        assert_eq!(sync.fetched_total, 3_000);
        assert_eq!(sync.status(&chain).state, "synced");
        // A second sync from a peer with nothing new asks for headers once and stops.
        let more = sync.probe(&chain);
        assert_eq!(more.len(), 2);
        drive(&mut sync, &mut chain, &mut server, more, None);
        assert_eq!(sync.fetched_total, 3_000);
    }

    #[test]
    fn a_peer_that_serves_unrequested_or_garbage_data_is_penalised() {
        let sdir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let server = serving_chain(sdir.path(), 10);
        let mut chain = Sharechain::open(cdir.path(), pool()).unwrap();
        let mut sync = SyncState::new();
        let peer = PeerId::random();
        sync.peer_connected(peer, &chain);
        let ids: Vec<ShareHash> = (0..10)
            .map(|h| {
                otedama_consensus::ChainView::ancestor_at(
                    server.state(),
                    &server.best().unwrap().id,
                    h,
                )
                .unwrap()
                .id
            })
            .collect();
        let cmds = sync.on_headers(
            peer,
            crate::p2p::handlers::tip_info(&server),
            0,
            ids.clone(),
            1500,
            &chain,
        );
        let asked = cmds
            .iter()
            .find_map(|c| match c {
                SwarmCommand::Send {
                    request: Request::GetShares { ids },
                    ..
                } => Some(ids.clone()),
                _ => None,
            })
            .unwrap();
        // Answer with a share that was not asked for, then garbage.
        let other = server.store().share(&ids[9]).unwrap().unwrap().encode();
        let unasked: Vec<ShareHash> = asked.iter().copied().filter(|id| *id != ids[9]).collect();
        sync.peers.get_mut(&peer).unwrap().requests = vec![unasked.clone()];
        sync.inflight_ids = unasked.len();
        let applied = sync
            .on_shares(
                peer,
                &unasked,
                vec![other, vec![1, 2, 3]],
                &mut chain,
                T0 + 1_000_000,
            )
            .unwrap();
        let offences: Vec<Offence> = applied
            .commands
            .iter()
            .filter_map(|c| match c {
                SwarmCommand::Penalise { offence, .. } => Some(*offence),
                _ => None,
            })
            .collect();
        assert_eq!(offences, vec![Offence::Unrequested, Offence::Malformed]);
        // The ids it did not deliver are queued again.
        assert!(sync.queued() + sync.inflight() >= unasked.len());
        // More ids than asked for is a violation too.
        let too_many = sync.on_headers(peer, None, 0, ids, 5, &chain);
        assert!(matches!(
            too_many[0],
            SwarmCommand::Penalise {
                offence: Offence::Unrequested,
                ..
            }
        ));
    }

    /// A peer claiming a far better chain that it cannot serve: its ids come first in the
    /// queue, and honest peers lack them. Sync must still finish from the honest peer, the
    /// liar must be penalised for useless replies, and the honest peer never.
    #[test]
    fn a_fake_best_tip_cannot_stall_sync() {
        use bitcoin::hashes::Hash as _;
        let sdir = tempfile::tempdir().unwrap();
        let cdir = tempfile::tempdir().unwrap();
        let mut server = serving_chain(sdir.path(), 300);
        let mut chain = Sharechain::open(cdir.path(), pool()).unwrap();
        let mut sync = SyncState::new();
        let (honest, liar) = (PeerId::random(), PeerId::random());
        let fake_ids: Vec<ShareHash> = (0..1500u32)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..4].copy_from_slice(&i.to_le_bytes());
                b[31] = 0xfe;
                ShareHash::from_byte_array(b)
            })
            .collect();
        let fake_tip = TipInfo {
            id: fake_ids[fake_ids.len() - 1],
            height: 1_000_000,
            cumulative_work: u128::MAX / 2,
        };
        let mut pending = sync.peer_connected(liar, &chain);
        pending.extend(sync.peer_connected(honest, &chain));
        let mut penalties: Vec<(PeerId, Offence)> = Vec::new();
        let mut banned = false;
        let mut rounds = 0;
        while !pending.is_empty() {
            rounds += 1;
            assert!(rounds < 10_000, "sync does not converge");
            let mut next = Vec::new();
            for cmd in pending.drain(..) {
                let (peer, request) = match cmd {
                    SwarmCommand::Send { peer, request } => (peer, request),
                    SwarmCommand::Penalise { peer, offence } => {
                        penalties.push((peer, offence));
                        continue;
                    }
                    other => panic!("unexpected command {other:?}"),
                };
                if peer == liar && banned {
                    continue;
                }
                match (&request, peer == liar) {
                    (Request::GetHeaders { max, .. }, true) => {
                        let ids: Vec<ShareHash> =
                            fake_ids.iter().take(*max as usize).copied().collect();
                        next.extend(sync.on_headers(peer, Some(fake_tip), 1, ids, *max, &chain));
                    }
                    (Request::GetShares { ids }, true) => {
                        let applied = sync
                            .on_shares(peer, ids, vec![], &mut chain, T0 + 1_000_000)
                            .unwrap();
                        next.extend(applied.commands);
                    }
                    (Request::GetHeaders { locator, max }, false) => {
                        let Response::Headers {
                            tip,
                            start_height,
                            ids,
                        } = get_headers::answer(&mut server, locator, *max)
                        else {
                            panic!("headers answer");
                        };
                        next.extend(sync.on_headers(peer, tip, start_height, ids, *max, &chain));
                    }
                    (Request::GetBase, _) => panic!("nobody signalled a pruned chain"),
                    (Request::GetShares { ids }, false) => {
                        let Response::Shares { shares } = get_shares::answer(&server, ids) else {
                            panic!("shares answer");
                        };
                        let applied = sync
                            .on_shares(peer, ids, shares, &mut chain, T0 + 1_000_000)
                            .unwrap();
                        next.extend(applied.commands);
                    }
                }
            }
            // The node bans at the score of -100 (scoring::BAN_SCORE) and disconnects.
            let liar_points: i32 = penalties
                .iter()
                .filter(|(p, _)| *p == liar)
                .map(|(_, o)| o.penalty())
                .sum();
            if !banned && liar_points >= 100 {
                banned = true;
                next.extend(sync.peer_disconnected(&liar, &chain));
            }
            if next.is_empty() && chain.best().map(|b| b.id) != server.best().map(|b| b.id) {
                // The node's periodic probe.
                next = sync.probe(&chain);
                assert!(rounds < 5_000, "sync stalled behind the fake tip");
            }
            pending = next;
        }
        assert_eq!(chain.best().map(|b| b.id), server.best().map(|b| b.id));
        assert!(
            penalties
                .iter()
                .any(|(p, o)| *p == liar && *o == Offence::Useless),
            "{penalties:?}"
        );
        assert!(
            penalties.iter().all(|(p, _)| *p == liar),
            "the honest peer was penalised: {penalties:?}"
        );
        assert_eq!(sync.queued(), 0, "fake ids left in the queue");
    }
}
