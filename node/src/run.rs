//! Wiring of a running node: the full-node link feeds templates to the job board, the Stratum
//! server serves the board's jobs and hands found shares to the sharechain task, the single
//! owner of the store, which publishes every new tip back to the board and submits blocks.

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
use std::sync::Arc;
use tokio::sync::{mpsc, watch};
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
    let stratum_config = StratumConfig::new(config.stratum, config.chain.params(), payout);
    let server = StratumServer::bind(stratum_config, board.clone(), found_tx, stats)
        .await
        .map_err(|source| StartError::Stratum {
            addr: config.stratum.to_string(),
            source,
        })?;
    info!("stratum listening on {}", server.local_addr());

    let (stop_tx, stop_rx) = watch::channel(false);
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
    ));

    shutdown.await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = stratum_task.await;
    let _ = chain_task.await;
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
) {
    loop {
        let f = tokio::select! {
            f = found.recv() => match f {
                Some(f) => f,
                None => break,
            },
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
            submit_if_block(&chain, &rpc, &template, &share).await;
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
) {
    let header = &share.candidate.header;
    if header.bits != template.bits || header.prev_blockhash != template.prev_blockhash {
        return;
    }
    let algo = chain.pool().chain.pow_algo();
    let pow = algo.hash(&share.candidate.header_bytes());
    if !Target::from_compact(template.bits).is_met_by(&pow) {
        return;
    }
    let block = template.assemble_block(header, &share.candidate.coinbase);
    // Core's context-free checks first, on the block without its MWEB extension.
    let base_len = block.len() - template.mweb.as_ref().map_or(0, |m| m.len() + 1);
    if let Err(e) = check_block(&block[..base_len], Some(algo), unix_now()) {
        warn!(share = %share.id(), "assembled block fails its own checks: {e}");
        return;
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
        }
        Ok(Some(reason)) => warn!(block = %hash, "full node refused the block: {reason}"),
        Err(e) => warn!(block = %hash, "cannot submit block: {e}"),
    }
}
