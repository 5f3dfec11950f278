//! The Monero family's front: monerod's RPC (and ZMQ), the Monero job board, the xmrig-dialect
//! Stratum server, the RandomX workers and the Monero block submitter. The sharechain task,
//! P2P and the API are the family-independent ones ([`crate::run`]).

use crate::chain_task::tip_work;
use crate::config::Config;
use crate::monero_submit::MoneroSubmitter;
use crate::run::{software_version, Front, FrontLinks, StartError};
use crate::supervisor::Supervisor;
use crate::work_board::{FullNode, WorkBoard};
use otedama_consensus::chain::MoneroParams;
use otedama_mining::monero::{MoneroBoard, MoneroBoardConfig, MoneroFoundSink};
use otedama_mining::monerod::{
    self, MoneroRpc, MoneroRpcConfig, MoneroRpcError, MonerodSourceConfig,
};
use otedama_mining::randomx_pow::{DatasetPolicy, RandomXConfig, RandomXHasher};
use otedama_mining::stratum::StratumStats;
use otedama_mining::workers::randomx::{RandomXWorkerConfig, RandomXWorkers};
use otedama_mining::xmrig::{XmrigConfig, XmrigServer};
use otedama_sharechain::Sharechain;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{info, warn};

/// Folder of the data dir where the verifier's RandomX dataset is saved per seed
/// (`otedama_mining::randomx_pow::dataset_file`).
pub const RANDOMX_DATASET_DIR: &str = "randomx";

pub(crate) async fn start(
    config: &Config,
    params: &'static MoneroParams,
    zmq: Option<String>,
    chain: &mut Sharechain,
    tasks: &mut Supervisor,
    links: FrontLinks,
) -> Result<Front, StartError> {
    let FrontLinks {
        found: found_tx,
        block_updates,
        gossip,
        stop: stop_rx,
    } = links;
    let payout = crate::config::payout_script(&config.family, &config.payout_address)
        .map_err(|e| StartError::Monero(format!("payout address: {e}")))?;
    let rpc = MoneroRpc::new(MoneroRpcConfig::new(config.node_rpc.clone()))
        .map_err(StartError::Monerod)?;
    match monerod::probe(&rpc, config.chain).await {
        Ok(info) => info!(
            height = info.info.height,
            rpc_version = info.rpc_version,
            network = %params.name,
            "monerod ready"
        ),
        // The operator must change something: stop with what to change.
        Err(e) if is_configuration(&e) => return Err(StartError::Monerod(e)),
        Err(e) => warn!("monerod not ready yet: {e}; waiting for it"),
    }
    let mut source_config = MonerodSourceConfig::new(config.payout_address.clone());
    source_config.zmq = zmq;
    let source = monerod::spawn(rpc.clone(), config.chain, source_config);

    // Shares are checked with RandomX over the seeds of the current and next epoch.
    // A node that mines verifies on its workers' dataset once they have built it (they offer
    // it to the hasher); one that only validates builds one for the hasher when memory allows
    // (`--randomx-verify`), which makes a long sync about ten times faster than light mode.
    // That dataset is saved in the data dir, so a restart loads it in seconds instead of
    // building it for a minute or more (one file of 2,080 MiB, for the current seed only).
    let hasher = Arc::new(RandomXHasher::with_config(RandomXConfig {
        dataset: if config.randomx_dataset {
            DatasetPolicy::WhenMemoryAllows
        } else {
            DatasetPolicy::Never
        },
        dataset_dir: config
            .randomx_dataset
            .then(|| config.data_dir.join(RANDOMX_DATASET_DIR)),
        ..RandomXConfig::default()
    }));
    chain.set_pow_hasher(hasher.clone());
    let board = Arc::new(MoneroBoard::new(MoneroBoardConfig {
        pool: config.pool.clone(),
        software_version: software_version(),
    }));
    board.set_tip(tip_work(chain));

    let monerod::MoneroTemplateSource {
        templates: mut template_rx,
        refresh_now,
        task: source_task,
        ..
    } = source;
    tasks.adopt("template source", source_task);
    // Work -> board; the hasher follows the seeds first, so the first shares on a new epoch
    // can be checked.
    let board_t = board.clone();
    let hasher_t = hasher.clone();
    let mut stop_templates = stop_rx.clone();
    tasks.spawn("templates", async move {
        let mut seeds = None;
        loop {
            crate::fault::point("templates");
            let work = template_rx.borrow_and_update().clone();
            if let Some(w) = &work {
                let wanted = (w.template.seed_hash, w.next_seed_hash);
                if seeds != Some(wanted) {
                    let h = hasher_t.clone();
                    let set =
                        tokio::task::spawn_blocking(move || h.set_seeds(wanted.0, wanted.1)).await;
                    match set {
                        Ok(Ok(())) => seeds = Some(wanted),
                        Ok(Err(e)) => warn!("RandomX cannot key the new seed: {e}"),
                        Err(e) => warn!("RandomX keying failed: {e}"),
                    }
                }
            }
            board_t.set_work(work);
            tokio::select! {
                changed = template_rx.changed() => {
                    if changed.is_err() {
                        return Err("the template source closed".to_string());
                    }
                }
                _ = stop_templates.wait_for(|s| *s) => return Ok(()),
            }
        }
    });

    // Blocks skip the sharechain: miners hand them straight to the submitter.
    let (block_tx, block_rx) = mpsc::channel(crate::block_submit::BLOCK_QUEUE);
    let sink = MoneroFoundSink::new(found_tx, block_tx);
    let (peer_blocks_tx, peer_blocks_rx) = mpsc::channel(crate::block_submit::BLOCK_QUEUE);
    let submitter = MoneroSubmitter {
        rpc: rpc.clone(),
        data_dir: config.data_dir.clone(),
        updates: block_updates,
        refresh_now,
        gossip: Some(gossip),
    };
    let submit_stop = stop_rx.clone();
    tasks.spawn("block submitter", async move {
        submitter.run(block_rx, peer_blocks_rx, submit_stop).await;
        Ok(())
    });

    let stats = Arc::new(StratumStats::default());
    let mut xmrig = XmrigConfig::new(config.stratum, config.chain, payout.clone());
    xmrig.max_connections_per_ip = config.stratum_max_connections_per_ip;
    xmrig.ban_duration = config.stratum_ban;
    xmrig.max_payouts = config.stratum_max_payouts;
    let server = XmrigServer::bind(
        xmrig,
        board.clone(),
        sink.clone(),
        stats.clone(),
        hasher.clone(),
    )
    .await
    .map_err(|source| StartError::Stratum {
        addr: config.stratum.to_string(),
        source,
    })?;
    info!(
        "stratum (xmrig dialect) listening on {}",
        server.local_addr()
    );
    let mut stop_stratum = stop_rx.clone();
    tasks.spawn("stratum", async move {
        let stop = async move {
            let _ = stop_stratum.wait_for(|s| *s).await;
        };
        server.run(stop).await.map_err(|e| e.to_string())
    });

    if !config.gpu.is_empty() {
        warn!("--gpu is ignored on Monero chains: RandomX runs on the CPU workers (--mine N)");
    }
    let workers = RandomXWorkers::spawn(
        RandomXWorkerConfig {
            // Their dataset verifies peers' shares too once it is built.
            verifier: Some(hasher.clone()),
            ..RandomXWorkerConfig::new(config.mine, payout.clone())
        },
        board.clone(),
        sink,
    );
    let no_gpus = Arc::new(otedama_mining::workers::WorkerStats::new(
        otedama_mining::workers::RateUnit::Hashes,
        "none",
        Vec::new(),
    ));
    let prehash = crate::prehash::PrehashLink {
        hasher: hasher.clone(),
        board: board.clone(),
    };
    Ok(Front {
        board: WorkBoard::Monero(board),
        full_node: FullNode::Monero(rpc),
        peer_blocks: crate::chain_task::PeerBlocks::Monero {
            hasher: hasher.clone(),
            submit: peer_blocks_tx,
        },
        payout,
        stratum: stats,
        workers: workers.stats(),
        gpu_workers: no_gpus,
        stop_workers: Box::new(move || workers.stop()),
        prehash: Some(prehash),
    })
}

/// Errors that restarting cannot fix: the operator must point the node at another monerod or
/// change monerod's flags.
pub fn is_configuration(e: &MoneroRpcError) -> bool {
    match e {
        MoneroRpcError::InvalidUrl { .. }
        | MoneroRpcError::WrongNetwork { .. }
        | MoneroRpcError::TooOld { .. }
        | MoneroRpcError::Auth { .. } => true,
        MoneroRpcError::Unreachable { .. }
        | MoneroRpcError::Restricted { .. }
        | MoneroRpcError::NotSynced { .. }
        | MoneroRpcError::Http { .. }
        | MoneroRpcError::Timeout { .. }
        | MoneroRpcError::Protocol(_)
        | MoneroRpcError::TipMoved
        | MoneroRpcError::Rpc { .. }
        | MoneroRpcError::Rejected { .. } => false,
    }
}
