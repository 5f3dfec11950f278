//! Wiring of a running node: the full-node link feeds templates to the job board, the Stratum
//! server serves the board's jobs and hands found shares to the sharechain task, the single
//! owner of the store, which publishes every new tip back to the board and submits blocks.

use crate::api::{Api, ChainCounters, ChainQuery, ChainSummary};
use crate::config::{Config, NodeAuth};
use bitcoin::hashes::Hash;
use otedama_consensus::block_check::check_block;
use otedama_consensus::pool::PoolParams;
use otedama_consensus::{MemoryChain, PayoutScript, Share, Target};
use otedama_mining::board::{BoardConfig, JobBoard, TipWork};
use otedama_mining::job::FoundShare;
use otedama_mining::node_rpc::{self, NodeRpc, RpcAuth, RpcConfig};
use otedama_mining::stratum::{StratumConfig, StratumServer, StratumStats};
use otedama_sharechain::{FoundBlock, InsertOutcome, Sharechain};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tracing::{info, warn};

/// Found shares waiting for the sharechain task: a burst of a few seconds of a large farm.
const FOUND_QUEUE: usize = 1024;

/// Everything that can stop the node from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot open the sharechain store in {dir}: {source}")]
    Store {
        dir: String,
        source: otedama_sharechain::StoreError,
    },
    #[error("full node: {0}")]
    Node(#[from] otedama_mining::node_rpc::NodeRpcError),
    #[error("cannot listen for Stratum on {addr}: {source}")]
    Stratum {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot serve the API on {addr}: {source}")]
    Api {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot create the data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Runs the node until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let pool = PoolParams::preset(config.chain, config.preset);
    info!(
        chain = %config.chain,
        pool = config.preset.name(),
        consensus_id = %pool.consensus_id(),
        "starting otedama-node {}",
        env!("CARGO_PKG_VERSION")
    );
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        dir: config.data_dir.display().to_string(),
        source,
    })?;
    let store_dir = config.data_dir.join("sharechain");
    let chain = Sharechain::open(&store_dir, pool.clone()).map_err(|source| StartError::Store {
        dir: store_dir.display().to_string(),
        source,
    })?;

    let auth = match &config.node_auth {
        NodeAuth::UserPass { user, password } => RpcAuth::UserPass {
            user: user.clone(),
            pass: password.clone(),
        },
        NodeAuth::Cookie(path) => RpcAuth::Cookie(path.clone()),
    };
    let rpc = NodeRpc::new(RpcConfig::new(config.node_rpc.clone(), auth))?;
    match node_rpc::probe(&rpc, config.chain).await {
        Ok(_) => {}
        // A wrong chain is a configuration error: stop. Anything else may pass (the node
        // starting, restarting): the template source waits for it.
        Err(e @ otedama_mining::node_rpc::NodeRpcError::WrongChain { .. }) => return Err(e.into()),
        Err(e) => warn!("full node not ready yet: {e}; waiting for it"),
    }
    let source = node_rpc::spawn(rpc.clone(), config.chain, node_rpc::DEFAULT_REFRESH);

    let board = Arc::new(JobBoard::new(BoardConfig {
        pool: pool.clone(),
        extranonce_len: 12,
        tag: b"/otedama/".to_vec(),
        software_version: software_version(),
    }));
    board.set_tip(tip_work(&chain));

    // Templates -> board.
    let mut templates = source.templates.clone();
    let board_t = board.clone();
    let template_task = tokio::spawn(async move {
        loop {
            let t = templates.borrow_and_update().clone();
            board_t.set_template(t);
            if templates.changed().await.is_err() {
                break;
            }
        }
    });

    let payout = otedama_consensus::chain::address::parse_address(
        config.chain.params(),
        &config.payout_address,
    )
    .map(PayoutScript::from)
    .map_err(|e| {
        StartError::Node(otedama_mining::node_rpc::NodeRpcError::Protocol(format!(
            "payout address: {e}"
        )))
    })?;
    let (found_tx, found_rx) = mpsc::channel(FOUND_QUEUE);
    let stats = Arc::new(StratumStats::default());
    let stratum_config = StratumConfig::new(config.stratum, config.chain.params(), payout.clone());
    let server = StratumServer::bind(
        stratum_config,
        board.clone(),
        found_tx.clone(),
        stats.clone(),
    )
    .await
    .map_err(|source| StartError::Stratum {
        addr: config.stratum.to_string(),
        source,
    })?;
    info!("stratum listening on {}", server.local_addr());
    // Embedded CPU workers (`--mine N`, none for 0): jobs from the board, shares into the same
    // channel as Stratum's.
    let workers = otedama_mining::workers::Workers::spawn(
        otedama_mining::workers::WorkerConfig::new(
            config.mine,
            payout.clone(),
            config.chain.pow_algo(),
        ),
        board.clone(),
        found_tx.clone(),
    );

    // The API: queries go to the sharechain task, which stays the store's only owner.
    let (query_tx, query_rx) = mpsc::channel::<ChainQuery>(64);
    let (events_tx, _) = broadcast::channel::<serde_json::Value>(256);
    let counters = Arc::new(ChainCounters::default());
    let stop_requested = Arc::new(Notify::new());
    let cookie_secret =
        otedama_rpc::cookie::create(&config.data_dir).map_err(|source| StartError::DataDir {
            dir: config.data_dir.display().to_string(),
            source,
        })?;
    let api = Arc::new(Api {
        chain: config.chain,
        preset: config.preset,
        consensus_id: pool.consensus_id().to_string(),
        started: std::time::Instant::now(),
        payout,
        board: board.clone(),
        stratum: stats.clone(),
        workers: workers.stats(),
        rpc: rpc.clone(),
        queries: query_tx,
        counters: counters.clone(),
        stop: stop_requested.clone(),
    });
    let api_server = otedama_rpc::server::ApiServer::bind(
        otedama_rpc::server::ApiConfig {
            listen: config.rpc,
            cookie_secret,
            privileged: vec!["stop".into()],
        },
        api,
        events_tx.clone(),
    )
    .await
    .map_err(|source| StartError::Api {
        addr: config.rpc.to_string(),
        source,
    })?;
    info!(
        "API on http://{} (cookie: {})",
        api_server.local_addr().map_or(config.rpc, |a| a),
        otedama_rpc::cookie::path_in(&config.data_dir).display()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut stop_api = stop_rx.clone();
    let api_task = tokio::spawn(async move {
        api_server
            .run(async move {
                let _ = stop_api.wait_for(|s| *s).await;
            })
            .await
    });
    let miner_events = tokio::spawn(miner_events(stats.clone(), events_tx.clone()));
    let mut stop_stratum = stop_rx.clone();
    let stratum_task = tokio::spawn(async move {
        let stop = async move {
            let _ = stop_stratum.wait_for(|s| *s).await;
        };
        if let Err(e) = server.run(stop).await {
            warn!("stratum server stopped: {e}");
        }
    });
    let chain_task = tokio::spawn(sharechain_task(
        chain,
        board.clone(),
        rpc,
        source.refresh_now.clone(),
        found_rx,
        stop_rx,
        Channels {
            queries: query_rx,
            events: events_tx,
            counters,
        },
    ));

    tokio::select! {
        _ = shutdown => {}
        _ = stop_requested.notified() => info!("stop requested through the API"),
    }
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::task::spawn_blocking(move || workers.stop()).await;
    let _ = stratum_task.await;
    let _ = chain_task.await;
    let _ = api_task.await;
    miner_events.abort();
    otedama_rpc::cookie::remove(&config.data_dir);
    template_task.abort();
    source.task.abort();
    info!("stopped");
    Ok(())
}

/// `major * 10000 + minor * 100 + patch` of this build, carried in every share.
fn software_version() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10_000 + minor * 100 + patch
}

fn tip_work(chain: &Sharechain) -> TipWork {
    match chain.tip_snapshot() {
        Some(snap) => TipWork {
            tip: Some(snap.tip.id),
            uncles: snap.uncle_ids(),
            view: Arc::new(snap),
        },
        None => TipWork {
            view: Arc::new(MemoryChain::new()),
            tip: None,
            uncles: vec![],
        },
    }
}

/// The single owner of the sharechain: inserts found shares, publishes new tips, submits
/// blocks.
async fn sharechain_task(
    mut chain: Sharechain,
    board: Arc<JobBoard>,
    rpc: NodeRpc,
    refresh_now: Arc<tokio::sync::Notify>,
    mut found: mpsc::Receiver<FoundShare>,
    mut stop: watch::Receiver<bool>,
    mut ch: Channels,
) {
    loop {
        let f = tokio::select! {
            f = found.recv() => match f {
                Some(f) => f,
                None => break,
            },
            Some(q) = ch.queries.recv() => {
                answer(&chain, q);
                continue;
            }
            _ = stop.wait_for(|s| *s) => break,
        };
        let block_template = board.template_for_job(f.job_id);
        let share = f.share;
        let id = share.id();
        let outcomes = match chain.insert(share.clone(), unix_now()) {
            Ok(o) => o,
            Err(e) => {
                warn!(%id, "cannot store share: {e}");
                continue;
            }
        };
        let mut new_tip = false;
        for o in &outcomes {
            count(&ch.counters, o);
            if let InsertOutcome::NewBest { id, .. } | InsertOutcome::SideChain { id } = o {
                let _ = ch.events.send(json!({
                    "type": "share",
                    "id": id.to_string(),
                    "height": otedama_consensus::ChainView::share_info(chain.state(), id).map(|i| i.height),
                    "best": matches!(o, InsertOutcome::NewBest { .. }),
                    "worker": f.worker,
                }));
            }
            match o {
                InsertOutcome::NewBest { id, reorg_depth } => {
                    new_tip = true;
                    let height = chain.best().map_or(0, |b| b.height);
                    info!(%id, height, reorg_depth, worker = %f.worker, "share accepted: new best tip");
                }
                InsertOutcome::SideChain { id } => {
                    info!(%id, worker = %f.worker, "share accepted on a side chain")
                }
                InsertOutcome::Orphan { id, missing } => warn!(%id, %missing, "share is an orphan"),
                InsertOutcome::Duplicate { id } => info!(%id, "duplicate share"),
                InsertOutcome::Invalid { id, reason } => {
                    warn!(%id, worker = %f.worker, "share refused: {reason}")
                }
            }
        }
        if new_tip {
            board.set_tip(tip_work(&chain));
        }
        let accepted = matches!(
            outcomes.first(),
            Some(InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. })
        );
        if let (true, Some(template)) = (accepted, block_template) {
            match submit_if_block(&chain, &rpc, &template, &share).await {
                Some(true) => {
                    ch.counters.blocks_found.fetch_add(1, Ordering::Relaxed);
                    let _ = ch.events.send(json!({
                        "type": "block",
                        "hash": share.candidate.header.block_hash().to_string(),
                        "height": template.height,
                    }));
                }
                Some(false) => {
                    ch.counters.blocks_refused.fetch_add(1, Ordering::Relaxed);
                }
                None => {}
            }
            refresh_now.notify_one();
        }
    }
    info!("sharechain closed");
}

/// Submits the share's block when its proof of work meets the template's own target.
async fn submit_if_block(
    chain: &Sharechain,
    rpc: &NodeRpc,
    template: &otedama_consensus::template::BlockTemplate,
    share: &Share,
) -> Option<bool> {
    let header = &share.candidate.header;
    if header.bits != template.bits || header.prev_blockhash != template.prev_blockhash {
        return None;
    }
    let algo = chain.pool().chain.pow_algo();
    let pow = algo.hash(&share.candidate.header_bytes());
    if !Target::from_compact(template.bits).is_met_by(&pow) {
        return None;
    }
    let block = template.assemble_block(header, &share.candidate.coinbase);
    // Core's context-free checks first, on the block without its MWEB extension.
    let base_len = block.len() - template.mweb.as_ref().map_or(0, |m| m.len() + 1);
    if let Err(e) = check_block(&block[..base_len], Some(algo), unix_now()) {
        warn!(share = %share.id(), "assembled block fails its own checks: {e}");
        return Some(false);
    }
    let reward: u64 = share
        .candidate
        .coinbase
        .output
        .iter()
        .map(|o| o.value.to_sat())
        .sum();
    let hash = header.block_hash();
    match rpc.submit_block(&hex::encode(&block)).await {
        Ok(None) => {
            info!(block = %hash, height = template.height, reward, "BLOCK FOUND and accepted by the full node");
            let record = FoundBlock {
                share: otedama_consensus::ShareHash::from_byte_array(hash.to_byte_array()),
                parent_height: template.height,
                reward,
                time: unix_now(),
            };
            if let Err(e) = chain.store().put_found_block(&record) {
                warn!("cannot record found block: {e}");
            }
            Some(true)
        }
        Ok(Some(reason)) => {
            warn!(block = %hash, "full node refused the block: {reason}");
            Some(false)
        }
        Err(e) => {
            warn!(block = %hash, "cannot submit block: {e}");
            Some(false)
        }
    }
}

/// The API's side of the sharechain task.
struct Channels {
    queries: mpsc::Receiver<ChainQuery>,
    events: broadcast::Sender<serde_json::Value>,
    counters: Arc<ChainCounters>,
}

fn count(c: &ChainCounters, o: &InsertOutcome) {
    let counter = match o {
        InsertOutcome::NewBest { .. } => &c.shares_new_best,
        InsertOutcome::SideChain { .. } => &c.shares_side,
        InsertOutcome::Orphan { .. } => &c.shares_orphan,
        InsertOutcome::Duplicate { .. } => &c.shares_duplicate,
        InsertOutcome::Invalid { .. } => &c.shares_invalid,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Shares over which the pool hashrate is estimated: about 20 minutes of 10 s shares.
const HASHRATE_SHARES: u64 = 120;

/// Answers one API question from the sharechain (in the owner task: reads only).
fn answer(chain: &Sharechain, q: ChainQuery) {
    use otedama_consensus::ChainView;
    let state = chain.state();
    match q {
        ChainQuery::Summary(reply) => {
            let best = chain.best().cloned();
            let pool_hashrate = best.as_ref().map_or(0.0, |b| {
                let from = b.height.saturating_sub(HASHRATE_SHARES);
                match state.ancestor_at(&b.id, from) {
                    Some(old) if b.timestamp > old.timestamp => {
                        let work = b.cumulative_work.0.saturating_sub(old.cumulative_work.0);
                        work as f64 / (b.timestamp - old.timestamp) as f64
                    }
                    _ => 0.0,
                }
            });
            let _ = reply.send(ChainSummary {
                best,
                shares: state.len(),
                orphans: chain.orphans().len(),
                pool_hashrate,
            });
        }
        ChainQuery::Shares {
            limit,
            before,
            reply,
        } => {
            let mut out = Vec::new();
            if let Some(best) = chain.best() {
                let mut h = before.map_or(best.height as i128, |b| b as i128 - 1);
                while h >= 0 && (out.len() as u64) < limit {
                    match state.ancestor_at(&best.id, h as u64) {
                        Some(i) => out.push(i.clone()),
                        None => break,
                    }
                    h -= 1;
                }
            }
            let _ = reply.send(out);
        }
        ChainQuery::Share { id, reply } => {
            let found = state.share_info(&id).map(|i| {
                let on_best = chain
                    .best()
                    .and_then(|b| state.ancestor_at(&b.id, i.height))
                    .is_some_and(|a| a.id == id);
                (i.clone(), on_best)
            });
            let _ = reply.send(found);
        }
        ChainQuery::Blocks {
            script,
            limit,
            reply,
        } => {
            let blocks = chain.store().found_blocks().unwrap_or_default();
            let out = blocks
                .into_iter()
                .take(limit)
                .map(|b| {
                    let ours = chain.store().share(&b.share).ok().flatten().map_or(0, |s| {
                        s.candidate
                            .coinbase
                            .output
                            .iter()
                            .filter(|o| o.script_pubkey.as_bytes() == script.as_bytes())
                            .map(|o| o.value.to_sat())
                            .sum()
                    });
                    (b, ours)
                })
                .collect();
            let _ = reply.send(out);
        }
        ChainQuery::Window(reply) => {
            let w = state.best_window().map_or((Vec::new(), 0), |w| {
                (w.iter().map(|(s, v)| (s.clone(), v)).collect(), w.total())
            });
            let _ = reply.send(w);
        }
    }
}

/// Emits miner connected/disconnected events by comparing the Stratum miner table.
async fn miner_events(stats: Arc<StratumStats>, events: broadcast::Sender<serde_json::Value>) {
    let mut known: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let now: std::collections::HashMap<String, u32> = stats
            .miners()
            .into_iter()
            .map(|m| (m.worker.clone(), m.connections))
            .collect();
        for (w, c) in &now {
            if *c > 0 && known.get(w).copied().unwrap_or(0) == 0 {
                let _ = events.send(json!({"type": "miner_connected", "worker": w}));
            }
        }
        for (w, c) in &known {
            if *c > 0 && now.get(w).copied().unwrap_or(0) == 0 {
                let _ = events.send(json!({"type": "miner_disconnected", "worker": w}));
            }
        }
        known = now;
    }
}
