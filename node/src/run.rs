//! Wiring of a running node: the full-node link feeds templates to the job board, the Stratum
//! server serves the board's jobs and hands found shares to the sharechain task, the single
//! owner of the store, which publishes every new tip back to the board and submits blocks.

use crate::api::{Api, ChainCounters, ChainQuery};
use crate::chain_task::{tip_work, ChainTask, NetLink};
use crate::config::{Config, Family, NodeAuth};
use crate::p2p::address_book;
use crate::p2p::service::{self, NetSinks, P2pConfig, NET_QUEUE};
use crate::p2p::SyncStatus;
use crate::supervisor::{Supervisor, TaskFailed};
use crate::work_board::{FullNode, WorkBoard};
use otedama_consensus::block_check::BlockRules;
use otedama_consensus::PayoutScript;
use otedama_mining::board::{BoardConfig, JobBoard};
use otedama_mining::job::FoundSink;
use otedama_mining::node_rpc::{self, NodeRpc, RpcAuth, RpcConfig};
use otedama_mining::stratum::{StratumConfig, StratumServer, StratumStats};
use otedama_sharechain::Sharechain;
use serde_json::json;
use std::sync::Arc;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use tracing::{error, info, warn};

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
    #[error(transparent)]
    Identity(#[from] crate::p2p::identity::IdentityError),
    #[error(transparent)]
    P2p(#[from] crate::p2p::service::P2pError),
    #[error("cannot create the data directory {dir}: {source}")]
    DataDir { dir: String, source: std::io::Error },
    #[error(transparent)]
    TaskFailed(#[from] TaskFailed),
    #[error("monerod: {0}")]
    Monerod(otedama_mining::monerod::MoneroRpcError),
    #[error("{0}")]
    Monero(String),
}

impl StartError {
    /// The process exit code: 2 when the operator must change the configuration (restarting
    /// cannot help, so `RestartPreventExitStatus=2` keeps systemd from looping), 1 otherwise
    /// (a port still held by the previous process, a full node not up yet, a task that died).
    pub fn exit_code(&self) -> u8 {
        use otedama_mining::node_rpc::NodeRpcError;
        use otedama_sharechain::StoreError;
        match self {
            StartError::Node(NodeRpcError::WrongChain { .. } | NodeRpcError::InvalidUrl { .. }) => {
                EXIT_CONFIG
            }
            StartError::Store { source, .. } => match source {
                // Another pool's or a newer version's store: another --data-dir is needed.
                StoreError::ForeignPool { .. } | StoreError::Version { .. } => EXIT_CONFIG,
                StoreError::Db(_)
                | StoreError::Corrupt { .. }
                | StoreError::CorruptShare { .. } => EXIT_RUNTIME,
            },
            // A wrong network, a restricted or too old monerod: the operator must act.
            StartError::Monerod(e) if crate::monero_front::is_configuration(e) => EXIT_CONFIG,
            StartError::Monero(_) => EXIT_CONFIG,
            StartError::Monerod(_)
            | StartError::Node(_)
            | StartError::Stratum { .. }
            | StartError::Api { .. }
            | StartError::Identity(_)
            | StartError::P2p(_)
            | StartError::DataDir { .. }
            | StartError::TaskFailed(_) => EXIT_RUNTIME,
        }
    }
}

/// Exit code of a configuration error (wrong flag, file, chain or pool).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code of a failure at run time.
pub const EXIT_RUNTIME: u8 = 1;
/// How long the tasks get to finish after the stop signal (the store flushed, found blocks
/// written) before they are aborted; under systemd's default `TimeoutStopSec` of 90 s and the
/// contrib unit's 30 s.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

pub use crate::chain_task::unix_now;

/// Runs the node until `shutdown` resolves.
pub async fn run(
    config: Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), StartError> {
    let pool = config.pool.clone();
    info!(
        chain = %config.chain,
        pool = %pool.name,
        consensus_id = %pool.consensus_id(),
        data_dir = %config.data_dir.display(),
        "starting otedama-node {}",
        env!("OTEDAMA_VERSION_LONG")
    );
    warn_about_exposure(&config);
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        dir: config.data_dir.display().to_string(),
        source,
    })?;
    let store_dir = config.data_dir.join("sharechain");
    let mut chain =
        Sharechain::open(&store_dir, pool.clone()).map_err(|source| StartError::Store {
            dir: store_dir.display().to_string(),
            source,
        })?;

    // P2P: the swarm task owns the network; the sharechain task (below) validates and answers.
    let key = crate::p2p::identity::load_or_create(&config.data_dir)?;
    // The most recently seen peers are dialed first; failing ones last.
    let mut known: Vec<address_book::Entry> = chain
        .store()
        .peers(address_book::MAX_ADDRESS_BOOK)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, v)| address_book::Entry::decode(k, v))
        .collect();
    address_book::dial_order(&mut known);
    let address_book = known.into_iter().map(|e| (e.peer, e.addrs)).collect();
    let now_unix = crate::chain_task::unix_now();
    let bans: Vec<(libp2p::PeerId, u64)> = chain
        .store()
        .bans()
        .unwrap_or_default()
        .into_iter()
        .filter(|(_, until)| *until > now_unix)
        .filter_map(|(k, until)| libp2p::PeerId::from_bytes(&k).ok().map(|p| (p, until)))
        .collect();
    let (traffic_tx, traffic_rx) = mpsc::channel(NET_QUEUE);
    let (requests_tx, requests_rx) = mpsc::channel(NET_QUEUE);
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (p2p, p2p_task) = service::start(
        P2pConfig {
            key,
            consensus_id: pool.consensus_id(),
            listen: config.p2p_listen.clone(),
            listen_best_effort: config.p2p_listen_is_default,
            bootstrap: config.peers.clone(),
            address_book,
            bans,
            max_peers: config.max_peers,
            target_outbound: service::DEFAULT_TARGET_OUTBOUND.min(config.max_peers as usize),
            inbound_limits: crate::p2p::inbound::InboundLimits {
                limit_loopback: config.p2p_limit_loopback,
                ..Default::default()
            },
        },
        NetSinks {
            traffic: traffic_tx,
            requests: requests_tx,
            control: control_tx,
        },
        stop_rx.clone(),
    )?;
    let (sync_tx, sync_rx) = watch::channel(SyncStatus {
        state: "synced",
        ..SyncStatus::default()
    });

    // Every long-lived task runs under the supervisor: one that ends early stops the node.
    let mut tasks = Supervisor::new();
    let (found_tx, found_rx) = mpsc::channel(FOUND_QUEUE);
    let (block_updates_tx, block_updates_rx) = mpsc::channel(crate::block_submit::BLOCK_QUEUE);
    let links = FrontLinks {
        found: found_tx,
        block_updates: block_updates_tx,
        gossip: p2p.commands.clone(),
        stop: stop_rx.clone(),
    };
    let front = match &config.family {
        Family::Bitcoin(bitcoin) => {
            bitcoin_front(&config, bitcoin, &mut chain, &mut tasks, links).await?
        }
        Family::Monero { params, zmq } => {
            crate::monero_front::start(&config, params, zmq.clone(), &mut chain, &mut tasks, links)
                .await?
        }
    };
    let Front {
        board,
        full_node,
        peer_blocks,
        payout,
        stratum: stats,
        workers,
        gpu_workers,
        stop_workers,
        prehash,
    } = front;
    let (traffic_rx, control_rx) = match prehash {
        Some(link) => {
            let (traffic, task) = crate::prehash::spawn(traffic_rx, link.clone(), NET_QUEUE);
            tasks.adopt("pre-verification", task);
            let (control, task) =
                crate::prehash::spawn_unbounded(control_rx, link, Some(sync_rx.clone()));
            tasks.adopt("pre-verification (sync)", task);
            (traffic, control)
        }
        None => (traffic_rx, control_rx),
    };

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
        workers,
        gpu_workers,
        full_node,
        queries: query_tx,
        counters: counters.clone(),
        stop: stop_requested.clone(),
        p2p: p2p.clone(),
        sync: sync_rx,
        history: Arc::new(crate::history::History::new()),
    });
    let api_server = otedama_rpc::server::ApiServer::bind(
        otedama_rpc::server::ApiConfig {
            listen: config.rpc,
            cookie_secret,
            privileged: crate::api::PRIVILEGED
                .iter()
                .map(|m| m.to_string())
                .collect(),
            allowed_hosts: config.rpc_allow_host.clone(),
        },
        api.clone(),
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

    tasks.adopt("p2p", p2p_task);
    let mut stop_api = stop_rx.clone();
    tasks.spawn("api", async move {
        api_server
            .run(async move {
                let _ = stop_api.wait_for(|s| *s).await;
            })
            .await;
        Ok(())
    });
    // A day of samples for the dashboard's charts (crate::history).
    tasks.spawn(
        "history",
        crate::history::run_sampler(api, events_tx.subscribe(), stop_rx.clone()),
    );
    tasks.spawn(
        "miner events",
        miner_events(stats.clone(), events_tx.clone(), stop_rx.clone()),
    );
    let chain_stop = stop_rx.clone();
    let chain_task = ChainTask {
        chain,
        board: board.clone(),
        found: found_rx,
        block_updates: block_updates_rx,
        peer_blocks,
        queries: query_rx,
        events: events_tx,
        counters,
        net: Some(NetLink {
            traffic: traffic_rx,
            requests: requests_rx,
            control: control_rx,
            commands: p2p.commands.clone(),
        }),
        sync_status: sync_tx,
        prune: !config.no_prune,
    };
    tasks.spawn("sharechain", async move {
        chain_task.run(chain_stop).await;
        Ok(())
    });

    let failure = tokio::select! {
        _ = shutdown => None,
        _ = stop_requested.notified() => {
            info!("stop requested through the API");
            None
        }
        failed = tasks.first_failure() => {
            error!(task = failed.task, "{failed}");
            Some(failed)
        }
    };
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::task::spawn_blocking(stop_workers).await;
    tasks.join_all(SHUTDOWN_GRACE).await;
    otedama_rpc::cookie::remove(&config.data_dir);
    match failure {
        None => {
            info!("stopped");
            Ok(())
        }
        Some(failed) => Err(failed.into()),
    }
}

/// What the chain task, the API and the shutdown need from the family's mining front.
pub(crate) struct Front {
    pub board: WorkBoard,
    pub full_node: FullNode,
    /// How the chain task judges peers' blocks, and the submitter it hands them to.
    pub peer_blocks: crate::chain_task::PeerBlocks,
    /// The node's own payout (`--payout-address`).
    pub payout: PayoutScript,
    pub stratum: Arc<StratumStats>,
    pub workers: Arc<otedama_mining::workers::WorkerStats>,
    pub gpu_workers: Arc<otedama_mining::workers::WorkerStats>,
    /// Stops the embedded workers (blocking: joins their threads).
    pub stop_workers: Box<dyn FnOnce() + Send>,
    /// The RandomX hasher whose memo peers' Monero shares are hashed into ahead of the writer
    /// ([`crate::prehash`]); `None` where proof of work is cheap.
    pub prehash: Option<crate::prehash::PrehashLink>,
}

/// The channels a front connects to.
pub(crate) struct FrontLinks {
    /// Found shares, for the sharechain task.
    pub found: mpsc::Sender<otedama_mining::job::FoundShare>,
    /// Found blocks' status records, for the sharechain task.
    pub block_updates: mpsc::Sender<otedama_sharechain::FoundBlock>,
    /// The swarm task (the submitter gossips our blocks).
    pub gossip: mpsc::UnboundedSender<crate::p2p::SwarmCommand>,
    pub stop: watch::Receiver<bool>,
}

/// The Bitcoin family's front: Core's RPC, the template source and job board, the Stratum v1
/// server, the block submitter and the SHA256d / scrypt CPU and GPU workers.
async fn bitcoin_front(
    config: &Config,
    bitcoin: &'static otedama_consensus::chain::BitcoinFamilyParams,
    chain: &mut Sharechain,
    tasks: &mut Supervisor,
    links: FrontLinks,
) -> Result<Front, StartError> {
    let pool = config.pool.clone();
    let FrontLinks {
        found: found_tx,
        block_updates: block_updates_tx,
        gossip,
        stop: stop_rx,
    } = links;
    let auth = match &config.node_auth {
        NodeAuth::UserPass { user, password } => RpcAuth::UserPass {
            user: user.clone(),
            pass: password.clone(),
        },
        NodeAuth::Cookie(path) => RpcAuth::Cookie(path.clone()),
        // The configuration refuses a Bitcoin-family chain without credentials.
        NodeAuth::None => {
            return Err(StartError::Node(
                otedama_mining::node_rpc::NodeRpcError::Protocol(
                    "full node credentials needed: --node-rpc-cookie, or --node-rpc-user and \
                 --node-rpc-password"
                        .into(),
                ),
            ))
        }
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
    board.set_tip(tip_work(chain));

    let otedama_mining::node_rpc::TemplateSource {
        templates: mut template_rx,
        status: _source_status,
        refresh_now,
        task: source_task,
    } = source;
    tasks.adopt("template source", source_task);
    // Templates -> board.
    let board_t = board.clone();
    let mut stop_templates = stop_rx.clone();
    tasks.spawn("templates", async move {
        loop {
            crate::fault::point("templates");
            let t = template_rx.borrow_and_update().clone();
            board_t.set_template(t);
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

    let payout =
        crate::config::payout_script(&config.family, &config.payout_address).map_err(|e| {
            StartError::Node(otedama_mining::node_rpc::NodeRpcError::Protocol(format!(
                "payout address: {e}"
            )))
        })?;
    // Blocks skip the sharechain: miners hand them straight to the submitter.
    let (block_tx, block_rx) = mpsc::channel(crate::block_submit::BLOCK_QUEUE);
    let (peer_blocks_tx, peer_blocks_rx) = mpsc::channel(crate::block_submit::BLOCK_QUEUE);
    let block_rules = BlockRules::for_chain(bitcoin);
    let found_sink = FoundSink::new(found_tx, block_tx, bitcoin.pow);
    let submitter = crate::block_submit::Submitter {
        rpc: rpc.clone(),
        rules: block_rules,
        data_dir: config.data_dir.clone(),
        updates: block_updates_tx,
        refresh_now: refresh_now.clone(),
        gossip: Some(gossip),
    };
    let submit_stop = stop_rx.clone();
    tasks.spawn("block submitter", async move {
        submitter.run(block_rx, peer_blocks_rx, submit_stop).await;
        Ok(())
    });
    let stats = Arc::new(StratumStats::default());
    let mut stratum_config = StratumConfig::new(config.stratum, bitcoin, payout.clone());
    stratum_config.max_connections_per_ip = config.stratum_max_connections_per_ip;
    stratum_config.ban_duration = config.stratum_ban;
    stratum_config.max_payouts = config.stratum_max_payouts;
    let server = StratumServer::bind(
        stratum_config,
        board.clone(),
        found_sink.clone(),
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
        otedama_mining::workers::WorkerConfig::new(config.mine, payout.clone(), bitcoin.pow),
        board.clone(),
        found_sink.clone(),
    );
    // Embedded GPU workers (`--gpu LIST`): one thread per OpenCL device, on the same jobs.
    let gpu_workers = otedama_mining::workers::Workers::spawn_gpus(
        otedama_mining::workers::WorkerConfig::new(0, payout.clone(), bitcoin.pow),
        config.gpu.clone(),
        board.clone(),
        found_sink,
    );

    let mut stop_stratum = stop_rx.clone();
    tasks.spawn("stratum", async move {
        let stop = async move {
            let _ = stop_stratum.wait_for(|s| *s).await;
        };
        server.run(stop).await.map_err(|e| e.to_string())
    });
    Ok(Front {
        board: WorkBoard::Bitcoin(board),
        full_node: FullNode::Bitcoin(rpc),
        peer_blocks: crate::chain_task::PeerBlocks::Bitcoin {
            rules: block_rules,
            submit: peer_blocks_tx,
        },
        payout,
        stratum: stats,
        workers: workers.stats(),
        gpu_workers: gpu_workers.stats(),
        stop_workers: Box::new(move || {
            workers.stop();
            gpu_workers.stop();
        }),
        prehash: None,
    })
}

/// Says at start what an operator would otherwise learn the hard way: an API reachable from
/// other machines (anyone reaching it reads the node's state, and the metrics page has no
/// cookie), and a Stratum port rigs on the LAN cannot reach.
fn warn_about_exposure(config: &Config) {
    if !config.rpc.ip().is_loopback() {
        warn!(
            "the API listens on {}, which is not loopback: other machines can query the node \
             (state-changing methods still need the cookie). Keep it on 127.0.0.1 unless a \
             firewall or reverse proxy guards it",
            config.rpc
        );
    }
    if config.stratum.ip().is_loopback() {
        info!(
            "Stratum listens on {} (loopback only): rigs on other machines cannot connect; use \
             --stratum 0.0.0.0:{} to serve your LAN",
            config.stratum,
            config.stratum.port()
        );
    }
}

/// `major * 10000 + minor * 100 + patch` of this build, carried in every share.
pub(crate) fn software_version() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    let patch = parts.next().unwrap_or(0);
    major * 10_000 + minor * 100 + patch
}

/// Emits miner connected/disconnected events by comparing the Stratum miner table.
async fn miner_events(
    stats: Arc<StratumStats>,
    events: broadcast::Sender<serde_json::Value>,
    mut stop: watch::Receiver<bool>,
) -> crate::supervisor::TaskResult {
    let mut known: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
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
