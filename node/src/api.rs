//! What the node answers on its API: the methods of docs/api.md, built from the sharechain
//! task (through queries, so the store keeps one owner), the job board, the Stratum statistics
//! and the full node.

use crate::p2p::service::P2pHandle;
use crate::p2p::{PeerSummary, SwarmCommand, SyncStatus};
use crate::work_board::{FullNode, WorkBoard};
use bitcoin::hashes::Hash as _;
use otedama_consensus::chain::address::is_standard_payout_script;
use otedama_consensus::chain::Chain;
use otedama_consensus::chain::Family;
use otedama_consensus::{PayoutScript, ShareHash, ShareInfo};
use otedama_mining::stratum::{script_address, StratumStats};
use otedama_rpc::server::{ApiError, NodeApi};
use otedama_sharechain::FoundBlock;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, watch, Notify};

/// Most found blocks one `getblocks` returns (each costs a full-node lookup).
pub const MAX_BLOCKS_PER_CALL: u64 = 1000;

/// Methods that change the node's state: they need the cookie (`DATA_DIR/.cookie`).
pub const PRIVILEGED: [&str; 3] = ["stop", "addpeer", "banpeer"];

/// Default `banpeer` duration: a day, long enough to outlast a misbehaving node's retries.
pub const DEFAULT_BAN_SECS: u64 = 86_400;
/// Longest `banpeer` duration: a year.
pub const MAX_BAN_SECS: u64 = 365 * 86_400;

/// Most shares one `getshares` returns.
pub const MAX_SHARES_PER_CALL: u64 = 1000;

/// Questions for the sharechain task.
pub enum ChainQuery {
    /// Best tip and the pool's recent work rate.
    Summary(oneshot::Sender<ChainSummary>),
    /// Best-chain shares below `before` (or from the tip), newest first, at most `limit`.
    Shares {
        limit: u64,
        before: Option<u64>,
        reply: oneshot::Sender<Vec<ShareInfo>>,
    },
    /// One share's index entry and whether it is a block-meeting share on the best chain.
    Share {
        id: ShareHash,
        reply: oneshot::Sender<Option<(ShareInfo, bool)>>,
    },
    /// Found blocks with what they paid `script`.
    /// The newest `limit` found blocks.
    Blocks {
        script: PayoutScript,
        limit: usize,
        reply: oneshot::Sender<Vec<(FoundBlock, u64)>>,
    },
    /// Weights of the best tip's window per script, and the total.
    Window(oneshot::Sender<(Vec<(PayoutScript, u128)>, u128)>),
}

#[derive(Clone, Debug, Default)]
pub struct ChainSummary {
    pub best: Option<ShareInfo>,
    pub shares: usize,
    pub orphans: usize,
    /// Hashes per second of the whole pool over the last shares (work / time).
    pub pool_hashrate: f64,
}

/// Time `getblocks` may spend asking the full node whether its blocks are still in its chain.
pub const BLOCKS_LOOKUP_BUDGET: std::time::Duration = std::time::Duration::from_millis(800);

/// Counters the sharechain task keeps for metrics.
#[derive(Default)]
pub struct ChainCounters {
    pub shares_new_best: AtomicU64,
    pub shares_side: AtomicU64,
    pub shares_orphan: AtomicU64,
    pub shares_duplicate: AtomicU64,
    pub shares_invalid: AtomicU64,
    pub blocks_found: AtomicU64,
    pub blocks_refused: AtomicU64,
    /// Valid gossiped shares the relay policy kept from forwarding.
    pub shares_not_relayed: AtomicU64,
    /// Compact share messages received, rebuilt from our window, and those we could not
    /// rebuild and fetched in full from the sender instead (docs/p2p.md, "Compact relay").
    pub compact_received: AtomicU64,
    pub compact_rebuilt: AtomicU64,
    pub compact_fallback: AtomicU64,
}

pub struct Api {
    pub chain: Chain,
    pub preset: otedama_consensus::pool::Preset,
    pub consensus_id: String,
    pub started: Instant,
    pub payout: PayoutScript,
    pub board: WorkBoard,
    pub stratum: Arc<StratumStats>,
    /// Embedded CPU workers (`--mine N`).
    pub workers: Arc<otedama_mining::workers::WorkerStats>,
    /// Embedded GPU workers (`--gpu LIST`), one "thread" per device, named `gpu-N`.
    pub gpu_workers: Arc<otedama_mining::workers::WorkerStats>,
    pub full_node: FullNode,
    pub queries: mpsc::Sender<ChainQuery>,
    pub counters: Arc<ChainCounters>,
    pub stop: Arc<Notify>,
    pub p2p: P2pHandle,
    pub sync: watch::Receiver<SyncStatus>,
    /// The dashboard's charts: a day of samples ([`crate::history`]).
    pub history: Arc<crate::history::History>,
}

/// Rates are estimates from floats; never show `-0`.
fn non_negative(x: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        0.0
    }
}

/// A found block's hash as the chain's own tools print it: Bitcoin-family hashes byte-reversed
/// (as share ids are), Monero block ids in their natural byte order (as monerod prints them).
fn block_hash_text(chain: Chain, id: &otedama_consensus::ShareHash) -> String {
    match chain.family() {
        Family::Bitcoin(_) => id.to_string(),
        Family::Monero(_) => hex::encode(id.to_byte_array()),
    }
}

/// An amount in whole coins: 8 decimals in the Bitcoin family, 12 (piconero) in Monero.
fn coins(chain: Chain, units: u64) -> String {
    match chain.family() {
        Family::Bitcoin(_) => format!("{}.{:08}", units / 100_000_000, units % 100_000_000),
        Family::Monero(_) => format!(
            "{}.{:012}",
            units / 1_000_000_000_000,
            units % 1_000_000_000_000
        ),
    }
}

fn address(chain: Chain, script: &PayoutScript) -> String {
    let shown = match chain.family() {
        Family::Bitcoin(p) => script_address(p, script),
        Family::Monero(p) => p.payee_address(script.as_bytes()),
    };
    shown.unwrap_or_else(|| {
        let hex: String = script
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("script:{hex}")
    })
}

fn share_json(chain: Chain, s: &ShareInfo) -> Value {
    json!({
        "id": s.id.to_string(),
        "height": s.height,
        "prev": s.prev.to_string(),
        "timestamp": s.timestamp,
        "address": address(chain, &s.payout_script),
        "difficulty": s.work.difficulty_f64(),
        "work": s.work.0.to_string(),
        "cumulative_work": s.cumulative_work.0.to_string(),
        "uncles": s.uncles.len(),
        "uncle_ids": s.uncles.iter().map(|u| u.id.to_string()).collect::<Vec<_>>(),
        "parent_height": s.parent_height,
    })
}

impl Api {
    /// Hashrate of the embedded CPU and GPU workers (H/s).
    fn embedded_rate(&self) -> f64 {
        non_negative(self.workers.rate()) + non_negative(self.gpu_workers.rate())
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> ChainQuery,
    ) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.queries
            .send(make(tx))
            .await
            .map_err(|_| ApiError::Internal("sharechain task stopped".into()))?;
        rx.await
            .map_err(|_| ApiError::Internal("sharechain task stopped".into()))
    }

    async fn status(&self) -> Result<Value, ApiError> {
        let summary = self.ask(ChainQuery::Summary).await?;
        let sync = self.sync.borrow().clone();
        let parent = self.board.parent();
        let best = summary.best.as_ref();
        let share_difficulty = self.board.share_difficulty(&self.payout);
        // Expected time until the pool finds a block: the parent block's work (expected
        // hashes) over the pool's hashes per second.
        let block_work = parent.map(|p| p.block_work);
        let expected_block_secs = block_work
            .filter(|_| summary.pool_hashrate > 0.0)
            .map(|w| (w.0 as f64 / summary.pool_hashrate).round() as u64);
        Ok(json!({
            "chain": self.chain.name(),
            "pool": self.preset.name(),
            "consensus_id": self.consensus_id,
            "version": env!("CARGO_PKG_VERSION"),
            "build": env!("OTEDAMA_VERSION_LONG"),
            "uptime_secs": self.started.elapsed().as_secs(),
            "sync": sync_json(&sync),
            "best_share": {
                "height": best.map(|b| b.height),
                "id": best.map(|b| b.id.to_string()),
                "timestamp": best.map(|b| b.timestamp),
            },
            "shares_loaded": summary.shares,
            "orphans": summary.orphans,
            "parent_chain": {
                "height": parent.map(|p| p.tip_height),
                "full_node": if parent.is_some() { "ready" } else { "unavailable" },
                "difficulty": parent.map(|p| p.difficulty),
            },
            "expected_block_secs": expected_block_secs,
            "peers": {
                "in": self.p2p.stats.peers_in.load(Ordering::Relaxed),
                "out": self.p2p.stats.peers_out.load(Ordering::Relaxed),
            },
            "p2p": {
                "peer_id": self.p2p.peer_id.to_string(),
                "listen": self.p2p.stats.listen_addrs.lock().map(|l| l.clone()).unwrap_or_default(),
            },
            "hashrate": {
                "local": non_negative(self.stratum.hashrate()) + self.embedded_rate(),
                "stratum": non_negative(self.stratum.hashrate()),
                "embedded": self.embedded_rate(),
                "cpu": non_negative(self.workers.rate()),
                "gpu": self.gpu_workers.names.iter().zip(&self.gpu_workers.threads)
                    .map(|(n, t)| (n.clone(), json!(non_negative(t.rate()))))
                    .collect::<serde_json::Map<String, Value>>(),
                "pool": summary.pool_hashrate,
            },
            "share_difficulty": share_difficulty,
            "payout_address": address(self.chain, &self.payout),
        }))
    }

    async fn payouts(&self) -> Result<Value, ApiError> {
        let payouts = self.board.payouts(&self.payout).ok_or_else(|| {
            ApiError::NotAvailable("no block template: is the full node reachable?".into())
        })?;
        let (weights, total_weight) = self.ask(ChainQuery::Window).await?;
        let reward: u64 = payouts.iter().map(|(_, a)| *a).sum();
        let outputs: Vec<Value> = payouts
            .iter()
            .map(|(script, amount)| {
                let weight = weights.iter().find(|(s, _)| s == script).map_or(0, |(_, w)| *w);
                json!({
                    "address": address(self.chain, script),
                    "script": script.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>(),
                    "amount": amount,
                    "amount_coins": coins(self.chain, *amount),
                    "percent": if reward == 0 { 0.0 } else { *amount as f64 * 100.0 / reward as f64 },
                    "weight": weight.to_string(),
                    // A Monero payee is a checked address: always spendable.
                    "standard": self.chain.monero_params().is_some()
                        || is_standard_payout_script(script.as_script()),
                })
            })
            .collect();
        Ok(json!({
            "parent_height": self.board.parent().map(|p| p.tip_height + 1),
            "reward": reward,
            "reward_coins": coins(self.chain, reward),
            "count": outputs.len(),
            "window_weight": total_weight.to_string(),
            "outputs": outputs,
        }))
    }

    fn miners(&self) -> Value {
        let miners: Vec<Value> = self
            .stratum
            .miners()
            .iter()
            .map(|m| {
                json!({
                    "worker": m.worker,
                    "address": m.payout_address,
                    "kind": "stratum",
                    "connections": m.connections,
                    "hashrate": m.hashrate,
                    "difficulty": if m.accepted == 0 { 0.0 } else { m.accepted_difficulty / m.accepted as f64 },
                    "accepted": m.accepted,
                    "stale": m.stale,
                    "rejected": m.rejected,
                    "shares_found": m.shares_found,
                    "last_share": m.last_submit,
                })
            })
            .collect();
        let mut miners = miners;
        let payout = address(self.chain, &self.payout);
        let embedded = self
            .workers
            .threads
            .iter()
            .zip(&self.workers.names)
            .map(|(t, n)| (t, n, format!("embedded ({})", self.workers.kernel)))
            .chain(
                self.gpu_workers
                    .threads
                    .iter()
                    .zip(&self.gpu_workers.names)
                    .map(|(t, n)| {
                        let state = if t.disabled.load(std::sync::atomic::Ordering::Relaxed) {
                            ", disabled"
                        } else {
                            ""
                        };
                        (t, n, format!("embedded gpu (opencl{state})"))
                    }),
            );
        for (t, name, kind) in embedded {
            use std::sync::atomic::Ordering::Relaxed;
            miners.push(json!({
                "worker": name,
                "address": payout,
                "kind": kind,
                "connections": 0,
                "hashrate": non_negative(t.rate()),
                "difficulty": Value::Null,
                "accepted": t.shares.load(Relaxed),
                "stale": t.stale.load(Relaxed),
                "rejected": 0,
                "shares_found": t.shares.load(Relaxed),
                "last_share": Value::Null,
            }));
        }
        json!({"miners": miners})
    }

    /// The node's numbers now, for the history ring ([`crate::history`]).
    pub async fn sample(
        &self,
        shares: crate::history::ShareCounts,
    ) -> Result<crate::history::Sample, ApiError> {
        use std::sync::atomic::Ordering::Relaxed;
        let summary = self.ask(ChainQuery::Summary).await?;
        let stratum = self.stratum.counters();
        let p = &self.p2p.stats;
        Ok(crate::history::Sample {
            time: crate::chain_task::unix_now(),
            pool_hashrate: non_negative(summary.pool_hashrate).round() as u64,
            local_hashrate: (non_negative(self.stratum.hashrate()) + self.embedded_rate()).round()
                as u64,
            share_difficulty: self.board.share_difficulty(&self.payout).unwrap_or(0.0),
            height: summary.best.as_ref().map_or(0, |b| b.height),
            shares_own: shares.own,
            shares_total: shares.total,
            shares_side: shares.side,
            submits_accepted: stratum.submits_accepted,
            submits_stale: stratum.submits_stale,
            peers: p.peers_in.load(Relaxed) + p.peers_out.load(Relaxed),
        })
    }

    /// `gethistory`: `span` is `"hour"` (default), `"day"`, or a number of seconds up to a day.
    fn history(&self, params: &Value) -> Result<Value, ApiError> {
        use crate::history::{HISTORY_SPAN_SECS, MAX_POINTS};
        let span = match params.get("span") {
            None | Some(Value::Null) => 3600,
            Some(Value::String(s)) if s == "hour" => 3600,
            Some(Value::String(s)) if s == "day" => HISTORY_SPAN_SECS,
            Some(v) => match v.as_u64() {
                Some(n) if (1..=HISTORY_SPAN_SECS).contains(&n) => n,
                _ => {
                    return Err(ApiError::InvalidParams(format!(
                        "span must be \"hour\", \"day\" or 1..={HISTORY_SPAN_SECS} seconds"
                    )))
                }
            },
        };
        let samples = self
            .history
            .query(span, crate::chain_task::unix_now(), MAX_POINTS);
        Ok(crate::history::history_json(&samples, span))
    }

    async fn blocks(&self, params: &Value) -> Result<Value, ApiError> {
        let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(100);
        if limit == 0 || limit > MAX_BLOCKS_PER_CALL {
            return Err(ApiError::InvalidParams(format!(
                "limit must be 1..={MAX_BLOCKS_PER_CALL}"
            )));
        }
        let blocks = self
            .ask(|reply| ChainQuery::Blocks {
                script: self.payout.clone(),
                limit: limit as usize,
                reply,
            })
            .await?;
        let mut out = Vec::with_capacity(blocks.len());
        // Whether an accepted block is still in the full node's chain costs one lookup each;
        // a frozen full node must not freeze the API, so all lookups share one deadline.
        let deadline = tokio::time::Instant::now() + BLOCKS_LOOKUP_BUDGET;
        for (b, ours) in blocks {
            let status = if b.status.in_full_node() {
                let lookup = self.full_node.block_id_at(b.parent_height as u64);
                match tokio::time::timeout_at(deadline, lookup).await {
                    Ok(Ok(id)) if id == b.share.to_byte_array() => "confirmed",
                    Ok(Ok(_)) => "orphaned",
                    Ok(Err(_)) | Err(_) => "unknown",
                }
            } else {
                b.status.name()
            };
            out.push(json!({
                "height": b.parent_height,
                "hash": block_hash_text(self.chain, &b.share),
                "reward": b.reward,
                "reward_coins": coins(self.chain, b.reward),
                "our_payout": ours,
                "our_payout_coins": coins(self.chain, ours),
                "time": b.time,
                "status": status,
                "submission": b.status.name(),
                "reason": b.reason,
                "attempts": b.attempts,
            }));
        }
        Ok(json!({"blocks": out}))
    }
}

fn sync_json(s: &SyncStatus) -> Value {
    let progress = if s.state == "syncing" && s.total > 0 {
        s.done as f64 / s.total as f64
    } else if s.state == "syncing" {
        0.0
    } else {
        1.0
    };
    json!({
        "state": s.state,
        "progress": progress,
        "best_height": s.best_height,
        "target_height": s.target_height,
        "done": s.done,
        "total": s.total,
        "rate": s.rate,
        "eta_secs": s.eta_secs,
        "peers": s.peers,
        "peers_needed": s.peers == 0,
    })
}

fn peer_param(params: &Value) -> Result<libp2p::PeerId, ApiError> {
    let p = params
        .get("peer_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::InvalidParams("peer_id is required".into()))?;
    p.parse()
        .map_err(|_| ApiError::InvalidParams(format!("{p:?} is not a peer id")))
}

impl Api {
    fn swarm(&self, cmd: SwarmCommand) -> Result<(), ApiError> {
        self.p2p
            .commands
            .send(cmd)
            .map_err(|_| ApiError::Internal("P2P stopped".into()))
    }

    async fn peers(&self) -> Result<Vec<PeerSummary>, ApiError> {
        let (reply, rx) = oneshot::channel();
        self.swarm(SwarmCommand::Peers(reply))?;
        rx.await
            .map_err(|_| ApiError::Internal("P2P stopped".into()))
    }
}

impl NodeApi for Api {
    async fn call(&self, method: &str, params: &Value) -> Result<Value, ApiError> {
        match method {
            "getstatus" => self.status().await,
            "getpeers" => {
                let peers = self.peers().await?;
                Ok(json!({ "peers": peers }))
            }
            "addpeer" => {
                let addr = params
                    .get("address")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ApiError::InvalidParams("address (a multiaddr) is required".into())
                    })?;
                let addr: libp2p::Multiaddr = addr.parse().map_err(|e| {
                    ApiError::InvalidParams(format!("address {addr:?} is not a multiaddr: {e}"))
                })?;
                let (reply, rx) = oneshot::channel();
                self.swarm(SwarmCommand::Dial {
                    addr: addr.clone(),
                    reply,
                })?;
                match rx.await {
                    Ok(Ok(())) => Ok(json!({"dialing": addr.to_string()})),
                    Ok(Err(e)) => Err(ApiError::InvalidParams(format!("cannot dial {addr}: {e}"))),
                    Err(_) => Err(ApiError::Internal("P2P stopped".into())),
                }
            }
            "banpeer" => {
                let peer = peer_param(params)?;
                let secs = params
                    .get("seconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(DEFAULT_BAN_SECS);
                if secs == 0 || secs > MAX_BAN_SECS {
                    return Err(ApiError::InvalidParams(format!(
                        "seconds must be 1..={MAX_BAN_SECS}"
                    )));
                }
                let (reply, rx) = oneshot::channel();
                self.swarm(SwarmCommand::Ban {
                    peer,
                    duration: std::time::Duration::from_secs(secs),
                    reply,
                })?;
                let was_connected = rx
                    .await
                    .map_err(|_| ApiError::Internal("P2P stopped".into()))?;
                Ok(
                    json!({"banned": peer.to_string(), "seconds": secs, "was_connected": was_connected}),
                )
            }
            "getshares" => {
                let limit = params.get("limit").and_then(Value::as_u64).unwrap_or(20);
                if limit == 0 || limit > MAX_SHARES_PER_CALL {
                    return Err(ApiError::InvalidParams(format!(
                        "limit must be 1..={MAX_SHARES_PER_CALL}"
                    )));
                }
                let before = params.get("before").and_then(Value::as_u64);
                let shares = self
                    .ask(|reply| ChainQuery::Shares {
                        limit,
                        before,
                        reply,
                    })
                    .await?;
                Ok(
                    json!({"shares": shares.iter().map(|s| share_json(self.chain, s)).collect::<Vec<_>>()}),
                )
            }
            "getshare" => {
                let id = params.get("id").and_then(Value::as_str).ok_or_else(|| {
                    ApiError::InvalidParams("id (hex share id) is required".into())
                })?;
                let id: ShareHash = id
                    .parse()
                    .map_err(|_| ApiError::InvalidParams("id must be 64 hex digits".into()))?;
                match self.ask(|reply| ChainQuery::Share { id, reply }).await? {
                    Some((info, on_best)) => {
                        let mut v = share_json(self.chain, &info);
                        v["on_best_chain"] = json!(on_best);
                        Ok(v)
                    }
                    None => Err(ApiError::InvalidParams(format!("no share {id}"))),
                }
            }
            "getpayouts" => self.payouts().await,
            "getminers" => Ok(self.miners()),
            "gethistory" => self.history(params),
            "getblocks" => self.blocks(params).await,
            "stop" => {
                self.stop.notify_one();
                Ok(json!("stopping"))
            }
            other => Err(ApiError::MethodNotFound(other.to_string())),
        }
    }

    async fn metrics(&self) -> String {
        let summary = self.ask(ChainQuery::Summary).await.unwrap_or_default();
        let s = self.stratum.counters();
        let c = &self.counters;
        let mut m = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
            m.push_str(&format!("# HELP otedama_{name} {help}\n# TYPE otedama_{name} {kind}\notedama_{name} {value}\n"));
        };
        gauge("up", "1 while the node runs.", "gauge", "1".into());
        gauge(
            "uptime_seconds",
            "Seconds since start.",
            "gauge",
            self.started.elapsed().as_secs().to_string(),
        );
        gauge(
            "best_share_height",
            "Height of the best share.",
            "gauge",
            summary.best.as_ref().map_or(0, |b| b.height).to_string(),
        );
        gauge(
            "pool_hashrate",
            "Pool hashrate estimate (H/s).",
            "gauge",
            summary.pool_hashrate.to_string(),
        );
        gauge(
            "local_hashrate",
            "Hashrate of this node's miners (H/s).",
            "gauge",
            self.stratum.hashrate().to_string(),
        );
        let p = &self.p2p.stats;
        let sync = sync_json(&self.sync.borrow().clone());
        gauge(
            "peers",
            "Connected peers.",
            "gauge",
            (p.peers_in.load(Ordering::Relaxed) + p.peers_out.load(Ordering::Relaxed)).to_string(),
        );
        gauge(
            "sync_progress",
            "Sharechain sync progress (0-1).",
            "gauge",
            sync["progress"].to_string(),
        );
        gauge(
            "p2p_bans_total",
            "Peers banned (score or operator).",
            "counter",
            p.bans.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_offences_total",
            "Peer offences penalised (invalid data, floods, protocol violations).",
            "counter",
            p.offences.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_inbound_refused_ip_total",
            "Inbound P2P connections refused: too many from one IP.",
            "counter",
            p.inbound_refused_ip.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_kad_inbound_refused_total",
            "Inbound Kademlia streams dropped: over the per-connection rate.",
            "counter",
            p.kad_inbound_refused.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_inbound_refused_subnet_total",
            "Inbound P2P connections refused: too many from one /24 or /64.",
            "counter",
            p.inbound_refused_subnet.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_inbound_evicted_total",
            "Inbound peers evicted to make room when inbound slots were full.",
            "counter",
            p.inbound_evicted.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_gossip_received_total",
            "Gossip messages received.",
            "counter",
            p.gossip_received.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_gossip_dropped_total",
            "Gossip messages not validated because the queue was full.",
            "counter",
            p.gossip_dropped.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_requests_served_total",
            "Sync requests answered.",
            "counter",
            p.requests_served.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "p2p_requests_busy_total",
            "Sync requests refused as busy (rate limit or full queue).",
            "counter",
            p.requests_busy.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "full_node_ready",
            "1 while a block template is available.",
            "gauge",
            (self.board.parent().is_some() as u8).to_string(),
        );
        gauge(
            "stratum_connections",
            "Open Stratum connections.",
            "gauge",
            s.connections_open.to_string(),
        );
        // Stratum defence (docs/security.md): every refusal is counted.
        gauge(
            "stratum_bans_total",
            "Addresses banned from Stratum for bad submits.",
            "counter",
            s.bans.to_string(),
        );
        gauge(
            "stratum_throttle_pauses_total",
            "Bad submits of throttled Stratum connections, each followed by a 1 s read pause.",
            "counter",
            s.throttle_pauses.to_string(),
        );
        gauge(
            "stratum_submits_forgiven_total",
            "Low-difficulty Stratum submits not scored (meeting the difficulty before a raise, \
             within the grace after it); also counted as low_difficulty.",
            "counter",
            s.submits_forgiven.to_string(),
        );
        gauge(
            "stratum_requests_rate_limited_total",
            "Stratum requests refused by the per-connection rate limit.",
            "counter",
            s.requests_rate_limited.to_string(),
        );
        let mut counter = |name: &str, help: &str, labels: &[(&str, u64)]| {
            m.push_str(&format!(
                "# HELP otedama_{name} {help}\n# TYPE otedama_{name} counter\n"
            ));
            for (label, v) in labels {
                m.push_str(&format!("otedama_{name}{{outcome=\"{label}\"}} {v}\n"));
            }
        };
        counter(
            "stratum_submits_total",
            "Stratum submits by outcome.",
            &[
                ("accepted", s.submits_accepted),
                ("stale", s.submits_stale),
                ("duplicate", s.submits_duplicate),
                ("low_difficulty", s.submits_low_difficulty),
                ("rejected", s.submits_rejected),
            ],
        );
        counter(
            "stratum_connections_refused_total",
            "Stratum connections closed at once, by cause.",
            &[
                ("max_connections", s.connections_refused),
                ("per_ip", s.connections_refused_per_ip),
                ("banned", s.connections_refused_banned),
            ],
        );
        counter(
            "stratum_closed_total",
            "Stratum connections closed by the server, by cause (score: bad submits; abuse: rate \
             limit, malformed or over-long lines; timeout: no authorize in time, or silence; \
             slow_reader: replies not read).",
            &[
                ("score", s.closed_score),
                ("abuse", s.closed_abuse),
                ("timeout", s.closed_timeout),
                ("slow_reader", s.closed_slow_reader),
            ],
        );
        counter(
            "stratum_authorize_refused_total",
            "mining.authorize refused, by cause (payout_cap: the node serves its most payout \
             addresses).",
            &[
                ("payout_cap", s.authorize_refused_payouts),
                ("other", s.authorize_refused_other),
            ],
        );
        counter(
            "shares_total",
            "Shares inserted into the sharechain by outcome.",
            &[
                ("new_best", c.shares_new_best.load(Ordering::Relaxed)),
                ("side_chain", c.shares_side.load(Ordering::Relaxed)),
                ("orphan", c.shares_orphan.load(Ordering::Relaxed)),
                ("duplicate", c.shares_duplicate.load(Ordering::Relaxed)),
                ("invalid", c.shares_invalid.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "shares_not_relayed_total",
            "Valid gossiped shares not forwarded by the relay policy (stale parent block or \
             overpaying coinbase).",
            &[("not_relayed", c.shares_not_relayed.load(Ordering::Relaxed))],
        );
        counter(
            "compact_shares_total",
            "Compact share messages: received, rebuilt from our own PPLNS window, and fallback \
             (not rebuildable here: the full share was asked from the sender).",
            &[
                ("received", c.compact_received.load(Ordering::Relaxed)),
                ("rebuilt", c.compact_rebuilt.load(Ordering::Relaxed)),
                ("fallback", c.compact_fallback.load(Ordering::Relaxed)),
            ],
        );
        counter(
            "blocks_total",
            "Blocks submitted to the full node by outcome.",
            &[
                ("accepted", c.blocks_found.load(Ordering::Relaxed)),
                ("refused", c.blocks_refused.load(Ordering::Relaxed)),
            ],
        );
        let stale = s.submits_stale as f64 / (s.submits_accepted + s.submits_stale).max(1) as f64;
        m.push_str(&format!("# HELP otedama_stale_rate Stale fraction of Stratum submits.\n# TYPE otedama_stale_rate gauge\notedama_stale_rate {stale}\n"));
        m.push_str(&self.full_node.render_prometheus("otedama"));
        if !self.gpu_workers.threads.is_empty() {
            m.push_str("# HELP otedama_gpu_hashrate Hashrate of each embedded GPU worker (H/s).\n# TYPE otedama_gpu_hashrate gauge\n");
            for (n, t) in self.gpu_workers.names.iter().zip(&self.gpu_workers.threads) {
                m.push_str(&format!(
                    "otedama_gpu_hashrate{{worker=\"{n}\"}} {}\n",
                    non_negative(t.rate())
                ));
            }
        }
        m
    }
}
