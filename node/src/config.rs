//! Node configuration: command-line flags, optionally a TOML file with the same keys
//! (`--config FILE`); flags win over the file, the file over defaults.

use clap::Parser;
use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;
use otedama_consensus::chain::BitcoinFamilyParams;
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::PayoutScript;
use serde::Deserialize;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// Chain names accepted by `--chain` and pool presets of `--pool`: one list, shared with
/// `otedama-cli` (which needs them to find a node's default data dir).
pub use otedama_rpc::data_dir::{CHAIN_NAMES, POOL_NAMES};

/// Otedama peer: a fully decentralized PPLNS mining pool node. Runs next to your own full node
/// (Bitcoin Core or Litecoin Core) and serves Stratum to your rigs.
///
/// Every option can also be set in the environment (OTEDAMA_ and the flag's name in capitals,
/// e.g. OTEDAMA_NODE_RPC_PASSWORD) or in the --config file (the flag's name as key). Flags win
/// over the environment, the environment over the file, the file over defaults.
/// Exit codes: 0 stopped cleanly, 1 runtime failure, 2 configuration error.
#[derive(Parser, Debug, Default)]
#[command(name = "otedama-node", version = env!("OTEDAMA_VERSION_LONG"))]
pub struct Args {
    /// Parent chain to mine [default: litecoin-regtest].
    #[arg(long, env = "OTEDAMA_CHAIN", value_name = "CHAIN", value_parser = CHAIN_NAMES, global = true)]
    pub chain: Option<String>,

    /// Sharechain preset (consensus parameters shared by every peer of that pool) [default: main].
    #[arg(long, env = "OTEDAMA_POOL", value_name = "POOL", value_parser = POOL_NAMES, global = true)]
    pub pool: Option<String>,

    /// A custom pool: TOML file of pool parameters (the keys in docs/operator-guide.md, e.g.
    /// `name = "club"`, `pplns-window = 30`); keys left out keep the --pool preset's values.
    /// Every node of the pool needs the same file and --pool.
    #[arg(long, env = "OTEDAMA_POOL_CONFIG", value_name = "FILE", global = true)]
    pub pool_config: Option<PathBuf>,

    /// Directory for the sharechain store, peer identity, found blocks and the API cookie
    /// [default: ~/.otedama/CHAIN-POOL].
    #[arg(long, env = "OTEDAMA_DATA_DIR", value_name = "PATH", global = true)]
    pub data_dir: Option<PathBuf>,

    /// Full node JSON-RPC URL, e.g. http://127.0.0.1:9332 (Litecoin Core's mainnet port).
    #[arg(long, env = "OTEDAMA_NODE_RPC", value_name = "URL", global = true)]
    pub node_rpc: Option<String>,

    /// Full node RPC user (with --node-rpc-password).
    #[arg(
        long,
        env = "OTEDAMA_NODE_RPC_USER",
        value_name = "USER",
        global = true
    )]
    pub node_rpc_user: Option<String>,

    /// Full node RPC password; prefer OTEDAMA_NODE_RPC_PASSWORD or the file, which `ps` does not
    /// show.
    #[arg(
        long,
        env = "OTEDAMA_NODE_RPC_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD",
        global = true
    )]
    pub node_rpc_password: Option<String>,

    /// monerod's ZMQ publisher (Monero chains), e.g. tcp://127.0.0.1:18083: new work at once on
    /// a new Monero tip (monerod started with --zmq-pub tcp://127.0.0.1:18083); without it the
    /// node polls monerod every second.
    #[arg(long, env = "OTEDAMA_NODE_ZMQ", value_name = "URL", global = true)]
    pub node_zmq: Option<String>,

    /// Full node cookie file (instead of user and password), e.g. ~/.litecoin/.cookie.
    #[arg(
        long,
        env = "OTEDAMA_NODE_RPC_COOKIE",
        value_name = "PATH",
        global = true
    )]
    pub node_rpc_cookie: Option<PathBuf>,

    /// Address paid for shares from rigs whose username is not an address of this chain.
    #[arg(
        long,
        env = "OTEDAMA_PAYOUT_ADDRESS",
        value_name = "ADDR",
        global = true
    )]
    pub payout_address: Option<String>,

    /// Stratum listen address; 0.0.0.0:3333 lets rigs on your LAN connect
    /// [default: 127.0.0.1:3333].
    #[arg(long, env = "OTEDAMA_STRATUM", value_name = "HOST:PORT", global = true)]
    pub stratum: Option<SocketAddr>,

    /// Stratum connections from one IP address (IPv6: one /64), so one address cannot take every
    /// slot; a farm whose rigs reach the node through one NAT or proxy address needs more than
    /// its rig count [default: 256].
    #[arg(
        long,
        env = "OTEDAMA_STRATUM_MAX_CONNECTIONS_PER_IP",
        value_name = "N",
        global = true
    )]
    pub stratum_max_connections_per_ip: Option<usize>,

    /// Seconds an address is banned from Stratum once its submits are mostly invalid (0: close
    /// the connection without banning) [default: 600].
    #[arg(
        long,
        env = "OTEDAMA_STRATUM_BAN_SECS",
        value_name = "SECONDS",
        global = true
    )]
    pub stratum_ban_secs: Option<u64>,

    /// Distinct payout addresses the node serves rigs at once (each costs a job rebuild on every
    /// change of work); a new one beyond it gets Stratum error 24 [default: 512].
    #[arg(
        long,
        env = "OTEDAMA_STRATUM_MAX_PAYOUTS",
        value_name = "N",
        global = true
    )]
    pub stratum_max_payouts: Option<usize>,

    /// API listen address (JSON-RPC 2.0, /metrics, /events); keep it on loopback
    /// [default: 127.0.0.1:9334].
    #[arg(long, env = "OTEDAMA_RPC", value_name = "HOST:PORT", global = true)]
    pub rpc: Option<SocketAddr>,

    /// A host name the API answers to besides IP addresses and localhost, e.g. the name of a
    /// reverse proxy in front of it (repeatable; the environment takes a comma-separated list).
    /// Other names in the Host header are refused (DNS rebinding).
    #[arg(
        long,
        env = "OTEDAMA_RPC_ALLOW_HOST",
        value_name = "NAME",
        value_delimiter = ',',
        global = true
    )]
    pub rpc_allow_host: Vec<String>,

    /// CPU worker threads mining inside the node for --payout-address (0: none) [default: 0].
    #[arg(long, env = "OTEDAMA_MINE", value_name = "N", global = true)]
    pub mine: Option<usize>,

    /// How a Monero node checks peers' RandomX proofs: `auto` builds the 2 GiB dataset (fast
    /// mode, about 10x faster sync) when the node does not mine itself (--mine 0) and memory
    /// allows, `fast` builds it whenever memory allows, `light` never does; a mining node also
    /// verifies on its workers' dataset once built. A built dataset is saved as
    /// DATA_DIR/randomx/SEED.rxds (2,080 MiB, current seed only) and loaded at the next start
    /// in seconds [default: auto].
    #[arg(long, env = "OTEDAMA_RANDOMX_VERIFY", value_name = "MODE", value_parser = ["auto", "fast", "light"], global = true)]
    pub randomx_verify: Option<String>,

    /// OpenCL devices mining inside the node beside the CPU workers, for --payout-address:
    /// `all` or a list of INDEX[:INTENSITY[:GAP]] (`otedama-node gpus` lists the indexes;
    /// INTENSITY, log2 of nonces per dispatch, is tuned when left out; GAP is the scrypt
    /// lookup gap); with `bench`, the device to measure. None when not given.
    #[arg(long, env = "OTEDAMA_GPU", value_name = "LIST", global = true)]
    pub gpu: Option<String>,

    /// P2P listen address (repeatable; the environment takes a comma-separated list)
    /// [default: /ip4/0.0.0.0/tcp/PORT and /ip6/::/tcp/PORT, PORT 9339 for main, 9340 for mini].
    #[arg(
        long,
        env = "OTEDAMA_P2P_LISTEN",
        value_name = "MULTIADDR",
        value_delimiter = ',',
        global = true
    )]
    pub p2p_listen: Vec<Multiaddr>,

    /// A peer to connect to at start, e.g. /ip4/203.0.113.5/tcp/9339 (repeatable; the
    /// environment takes a comma-separated list). More peers are found through it (Kademlia) and
    /// remembered in the data dir.
    #[arg(
        long = "peer",
        env = "OTEDAMA_PEER",
        value_name = "MULTIADDR",
        value_delimiter = ',',
        global = true
    )]
    pub peers: Vec<Multiaddr>,

    /// Most P2P connections, in and out together [default: 50].
    #[arg(long, env = "OTEDAMA_MAX_PEERS", value_name = "N", global = true)]
    pub max_peers: Option<u32>,

    /// Apply the per-IP and per-subnet inbound P2P limits to 127.0.0.1 and ::1 too (they are
    /// exempt by default: connections from the host itself are the operator's own)
    /// [default: false].
    #[arg(
        long,
        env = "OTEDAMA_P2P_LIMIT_LOOPBACK",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub p2p_limit_loopback: Option<bool>,

    /// Keep every share in the store (an archive or observer node): by default shares more
    /// than five PPLNS windows below the best tip are deleted, which keeps the store flat and
    /// still serves joiners a trusted base two windows deep (docs/consensus.md section 13)
    /// [default: false].
    #[arg(
        long,
        env = "OTEDAMA_NO_PRUNE",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true",
        global = true
    )]
    pub no_prune: Option<bool>,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// `info,otedama_node::p2p=debug`; without it RUST_LOG is read [default: info].
    #[arg(long, env = "OTEDAMA_LOG_LEVEL", value_name = "FILTER", global = true)]
    pub log_level: Option<String>,

    /// Log format: text for people, json (one object per line) for log shippers [default: text].
    #[arg(long, env = "OTEDAMA_LOG_FORMAT", value_name = "FORMAT", value_parser = LOG_FORMATS, global = true)]
    pub log_format: Option<String>,

    /// TOML file with any of the keys above (the flags' names: chain, pool, pool-config, data-dir,
    /// node-rpc, node-rpc-user, node-rpc-password, node-rpc-cookie, node-zmq, payout-address, stratum, rpc,
    /// stratum-max-connections-per-ip, stratum-ban-secs, stratum-max-payouts, rpc-allow-host (a
    /// list), mine, gpu, p2p-listen (a list), peer (a list), max-peers,
    /// p2p-limit-loopback, no-prune, log-level, log-format).
    #[arg(long, env = "OTEDAMA_CONFIG", value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Log formats accepted by `--log-format`.
pub const LOG_FORMATS: [&str; 2] = ["text", "json"];

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Print the chain, pool (preset, or the --pool-config name) and consensus id on one line
    /// (`chain=C pool=P consensus_id=HEX`), then exit.
    ConsensusId,
    /// List the OpenCL devices (index, name, kind, platform, memory, compute units) that
    /// --gpu takes, then exit.
    Gpus,
    /// Measure the CPU workers against baselines run alongside, print one line per measure
    /// (`ALGO threads=N rate=R UNIT baseline=B UNIT ratio=X`), then exit. With --gpu N: that
    /// OpenCL device against the CPU workers on --threads (every CPU) in the same run.
    Bench {
        /// Algorithm [default: sha256d and scrypt]; `randomx` measures the Monero worker's loop
        /// against the reference library's on one 2 GiB dataset.
        #[arg(long, value_name = "ALGO", value_parser = ["sha256d", "scrypt", "randomx"])]
        algo: Option<String>,
        /// Threads [default: every CPU].
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Seconds per measure.
        #[arg(long, value_name = "S", default_value_t = 3.0)]
        seconds: f64,
        /// With --algo randomx: also measure the worker against this xmrig binary's offline
        /// benchmark (`--bench`) on the same threads, the two taking turns in slices (xmrig
        /// paused while the worker hashes); prints `randomx-xmrig ... baseline=XMRIG`. Give
        /// --seconds 60 or more: each side gets that long in 6 slices.
        #[arg(long, value_name = "PATH")]
        xmrig: Option<PathBuf>,
    },
}

/// The same keys in a file.
#[derive(Deserialize, Debug, Default)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct FileConfig {
    pub chain: Option<String>,
    pub pool: Option<String>,
    /// Relative paths are taken from the working directory, like every path here.
    pub pool_config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub node_rpc: Option<String>,
    pub node_rpc_user: Option<String>,
    pub node_rpc_password: Option<String>,
    pub node_rpc_cookie: Option<PathBuf>,
    pub node_zmq: Option<String>,
    pub payout_address: Option<String>,
    pub stratum: Option<SocketAddr>,
    pub stratum_max_connections_per_ip: Option<usize>,
    pub stratum_ban_secs: Option<u64>,
    pub stratum_max_payouts: Option<usize>,
    pub rpc: Option<SocketAddr>,
    pub rpc_allow_host: Option<Vec<String>>,
    pub mine: Option<usize>,
    pub randomx_verify: Option<String>,
    pub gpu: Option<String>,
    /// One address or a list (one address was the only form before listening became repeatable).
    pub p2p_listen: Option<OneOrMany>,
    pub peer: Option<Vec<String>>,
    pub max_peers: Option<u32>,
    pub p2p_limit_loopback: Option<bool>,
    pub no_prune: Option<bool>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
}

/// A file value given as one string or a list of strings.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// How the full node is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeAuth {
    UserPass {
        user: String,
        password: String,
    },
    Cookie(PathBuf),
    /// No login (monerod's default).
    None,
}

/// What the node runs for the chain's family.
#[derive(Clone, Debug)]
pub enum Family {
    /// Bitcoin Core / Litecoin Core RPC, the Stratum v1 dialect, SHA256d or scrypt workers.
    Bitcoin(&'static BitcoinFamilyParams),
    /// monerod RPC (and ZMQ), the xmrig dialect, RandomX workers.
    Monero {
        params: &'static otedama_consensus::chain::MoneroParams,
        /// monerod's ZMQ publisher (`--node-zmq`); `None`: poll.
        zmq: Option<String>,
    },
}

/// The resolved configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub chain: Chain,
    /// The chain's family: which full-node client, Stratum dialect, workers and block
    /// assembly the node runs.
    pub family: Family,
    /// The `--pool` preset (a custom pool's defaults).
    pub preset: Preset,
    /// The pool's parameters: the preset's, or the `--pool-config` file's.
    pub pool: PoolParams,
    pub data_dir: PathBuf,
    pub node_rpc: String,
    pub node_auth: NodeAuth,
    pub payout_address: String,
    pub stratum: SocketAddr,
    /// Stratum connections per address (IPv6: per /64).
    pub stratum_max_connections_per_ip: usize,
    /// How long a Stratum address with mostly invalid submits is banned (zero: not banned).
    pub stratum_ban: std::time::Duration,
    /// Distinct payout addresses served at once.
    pub stratum_max_payouts: usize,
    pub rpc: SocketAddr,
    /// Host names the API answers to besides IP literals and localhost.
    pub rpc_allow_host: Vec<String>,
    /// CPU worker threads (0: none).
    pub mine: usize,
    /// Whether the Monero hasher that checks shares builds a dataset (`--randomx-verify`).
    pub randomx_dataset: bool,
    /// OpenCL devices mining (empty: none).
    pub gpu: Vec<otedama_mining::gpu::GpuSettings>,
    pub p2p_listen: Vec<Multiaddr>,
    /// The listen addresses are the defaults (IPv4 and IPv6 wildcards): a host without IPv6
    /// still starts, on IPv4 alone. Addresses the operator named must all work.
    pub p2p_listen_is_default: bool,
    pub peers: Vec<Multiaddr>,
    pub max_peers: u32,
    /// The per-address inbound limits apply to the host itself too.
    pub p2p_limit_loopback: bool,
    /// Keep every share (no pruning of the store).
    pub no_prune: bool,
    pub log: LogConfig,
}

/// How the node logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `info,otedama_node::p2p=debug`).
    pub filter: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object per line, for journald exporters, Loki, Elasticsearch and the like.
    Json,
}

/// Default P2P port of the main pools. Not a default port of any Bitcoin, Litecoin or Monero
/// daemon (`otedama_rpc::DAEMON_DEFAULT_PORTS`), nor the API's.
pub const DEFAULT_P2P_PORT_MAIN: u16 = 9339;
/// Default P2P port of the mini pools: another pool, so another port, as in P2Pool
/// (37889/37888), so a main and a mini node can run on one host with default flags.
pub const DEFAULT_P2P_PORT_MINI: u16 = 9340;
/// Default Stratum port: the miners' convention (P2Pool, most pools' docs).
pub const DEFAULT_STRATUM_PORT: u16 = 3333;
/// Default `--max-peers`: enough outbound and inbound slots for fast share propagation, few
/// enough for a home connection's upload.
pub const DEFAULT_MAX_PEERS: u32 = 50;

/// Default P2P port of a preset (custom pools use their base preset's).
pub fn default_p2p_port(preset: Preset) -> u16 {
    match preset {
        Preset::Main => DEFAULT_P2P_PORT_MAIN,
        Preset::Mini => DEFAULT_P2P_PORT_MINI,
    }
}

/// The default listen addresses: every IPv4 and every IPv6 interface.
pub fn default_p2p_listen(preset: Preset) -> Vec<Multiaddr> {
    let port = default_p2p_port(preset);
    [
        Multiaddr::empty()
            .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
            .with(Protocol::Tcp(port)),
        Multiaddr::empty()
            .with(Protocol::Ip6(Ipv6Addr::UNSPECIFIED))
            .with(Protocol::Tcp(port)),
    ]
    .into()
}

/// A configuration problem, said in terms of the flag to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--gpu: {0}")]
    BadGpu(String),
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unknown {what} {value:?} (one of: {choices})")]
    Unknown {
        what: &'static str,
        value: String,
        choices: String,
    },
    /// A chain of a family this node does not serve (every chain of `Chain::ALL` is served
    /// today; kept for a family whose consensus rules come before its full-node link).
    #[error(
        "otedama-node cannot run a pool on {chain}: its family's full-node link does not exist \
         (`otedama-node consensus-id --chain {chain}` works); use one of: {choices}"
    )]
    FamilyNotServed { chain: String, choices: String },
    #[error("--node-rpc URL is required (e.g. http://127.0.0.1:9332 for Litecoin Core)")]
    MissingRpc,
    #[error("full node credentials needed: --node-rpc-cookie PATH, or --node-rpc-user and --node-rpc-password")]
    MissingAuth,
    #[error("--payout-address is required: the address your own shares pay")]
    MissingPayout,
    #[error("{flag} {value:?} is not a multiaddr (like /ip4/127.0.0.1/tcp/9339): {reason}")]
    BadMultiaddr {
        flag: &'static str,
        value: String,
        reason: String,
    },
    #[error("--max-peers must be at least 1")]
    NoPeersAllowed,
    #[error("{flag} must be at least 1")]
    Zero { flag: &'static str },
    #[error(
        "no --data-dir given and no home directory (HOME) to put ~/.otedama in: pass \
         --data-dir PATH"
    )]
    NoHome,
    #[error("--log-level {value:?} is not a log filter: {reason}")]
    BadLogLevel { value: String, reason: String },
    #[error("unknown --log-format {0:?} (one of: text, json)")]
    BadLogFormat(String),
    #[error("--payout-address {address:?} is not a {chain} address: {reason}")]
    BadPayout {
        address: String,
        chain: String,
        reason: String,
    },
    #[error(transparent)]
    PoolConfig(#[from] crate::pool_config::PoolConfigError),
}

pub fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Chain and preset alone (enough for `consensus-id`).
pub fn chain_and_preset(args: &Args, file: &FileConfig) -> Result<(Chain, Preset), ConfigError> {
    let chain_name = args
        .chain
        .clone()
        .or(file.chain.clone())
        .unwrap_or_else(|| "litecoin-regtest".into());
    let chain = Chain::from_name(&chain_name).ok_or_else(|| ConfigError::Unknown {
        what: "chain",
        value: chain_name.clone(),
        choices: CHAIN_NAMES.join(", "),
    })?;
    let pool_name = args
        .pool
        .clone()
        .or(file.pool.clone())
        .unwrap_or_else(|| "main".into());
    let preset = Preset::from_name(&pool_name).ok_or_else(|| ConfigError::Unknown {
        what: "pool",
        value: pool_name.clone(),
        choices: POOL_NAMES.join(", "),
    })?;
    Ok((chain, preset))
}

/// The pool a node joins: chain, preset and the parameters (`--pool-config` over the preset).
#[derive(Clone, Debug)]
pub struct PoolChoice {
    pub chain: Chain,
    pub preset: Preset,
    pub params: PoolParams,
    /// Whether the parameters came from a `--pool-config` file.
    pub custom: bool,
}

impl PoolChoice {
    /// What `consensus-id` prints as `pool=`: the preset's name, or a custom pool's own name.
    pub fn label(&self) -> &str {
        if self.custom {
            &self.params.name
        } else {
            self.preset.name()
        }
    }

    /// Default data directory name: `CHAIN-PRESET`, or for a custom pool `CHAIN-NAME-ID8` (the
    /// first 8 hex digits of the consensus id), so that editing the pool file never points a
    /// node at a store of the old parameters (the store would refuse to open).
    pub fn dir_name(&self) -> String {
        format!("{}-{}", self.chain.name(), self.pool_dir_part())
    }

    /// The part of [`PoolChoice::dir_name`] after the chain: `PRESET` or `NAME-ID8`.
    pub fn pool_dir_part(&self) -> String {
        if self.custom {
            let id = self.params.consensus_id().to_string();
            format!("{}-{}", self.params.name, &id[..8.min(id.len())])
        } else {
            self.preset.name().to_string()
        }
    }
}

/// Chain, preset and pool parameters (enough for `consensus-id`).
pub fn pool_choice(args: &Args, file: &FileConfig) -> Result<PoolChoice, ConfigError> {
    let (chain, preset) = chain_and_preset(args, file)?;
    let (params, custom) = match args.pool_config.as_ref().or(file.pool_config.as_ref()) {
        Some(path) => (crate::pool_config::load(path, chain, preset)?, true),
        None => (PoolParams::preset(chain, preset), false),
    };
    Ok(PoolChoice {
        chain,
        preset,
        params,
        custom,
    })
}

/// The payout script an address of the family's chain stands for (a Monero payee encoding for
/// Monero), or why it is not one.
pub fn payout_script(family: &Family, address: &str) -> Result<PayoutScript, String> {
    match family {
        Family::Bitcoin(bitcoin) => {
            otedama_consensus::chain::address::parse_address(bitcoin, address)
                .map(PayoutScript::from)
                .map_err(|e| e.to_string())
        }
        Family::Monero { params, .. } => {
            use otedama_consensus::chain::monero::{address::Address, payee::Payee};
            let parsed = Address::parse_for(address, params.network).map_err(|e| e.to_string())?;
            let payee = Payee::from_address(&parsed).map_err(|e| e.to_string())?;
            Ok(PayoutScript::new(&payee.to_bytes()))
        }
    }
}

/// Merges flags over the file and checks everything a running node needs.
pub fn resolve(args: Args, file: FileConfig) -> Result<Config, ConfigError> {
    let choice = pool_choice(&args, &file)?;
    let (chain, preset) = (choice.chain, choice.preset);
    let node_zmq = args.node_zmq.or(file.node_zmq);
    let family = match (chain.bitcoin_params(), chain.monero_params()) {
        (Some(bitcoin), _) => Family::Bitcoin(bitcoin),
        (None, Some(params)) => Family::Monero {
            params,
            zmq: node_zmq,
        },
        (None, None) => {
            return Err(ConfigError::FamilyNotServed {
                chain: chain.name().into(),
                choices: CHAIN_NAMES.join(", "),
            })
        }
    };
    let data_dir = match args.data_dir.or(file.data_dir) {
        Some(dir) => dir,
        None => otedama_rpc::data_dir::default_data_dir(chain.name(), &choice.pool_dir_part())
            .ok_or(ConfigError::NoHome)?,
    };
    let node_rpc = args
        .node_rpc
        .or(file.node_rpc)
        .ok_or(ConfigError::MissingRpc)?;
    let cookie = args.node_rpc_cookie.or(file.node_rpc_cookie);
    let user = args.node_rpc_user.or(file.node_rpc_user);
    let password = args.node_rpc_password.or(file.node_rpc_password);
    let node_auth = match (cookie, user, password, &family) {
        (Some(c), _, _, _) => NodeAuth::Cookie(c),
        (None, Some(user), Some(password), _) => NodeAuth::UserPass { user, password },
        // monerod's RPC on localhost has no login by default.
        (None, None, None, Family::Monero { .. }) => NodeAuth::None,
        _ => return Err(ConfigError::MissingAuth),
    };
    let payout_address = args
        .payout_address
        .or(file.payout_address)
        .ok_or(ConfigError::MissingPayout)?;
    payout_script(&family, &payout_address).map_err(|reason| ConfigError::BadPayout {
        address: payout_address.clone(),
        chain: chain.name().into(),
        reason,
    })?;
    let stratum = args
        .stratum
        .or(file.stratum)
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_STRATUM_PORT)));
    let rpc = args
        .rpc
        .or(file.rpc)
        .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, otedama_rpc::DEFAULT_API_PORT)));
    let stratum_max_connections_per_ip = args
        .stratum_max_connections_per_ip
        .or(file.stratum_max_connections_per_ip)
        .unwrap_or(otedama_mining::stratum::guard::DEFAULT_MAX_CONNECTIONS_PER_IP);
    let stratum_ban = args
        .stratum_ban_secs
        .or(file.stratum_ban_secs)
        .map(std::time::Duration::from_secs)
        .unwrap_or(otedama_mining::stratum::guard::DEFAULT_BAN_DURATION);
    let stratum_max_payouts = args
        .stratum_max_payouts
        .or(file.stratum_max_payouts)
        .unwrap_or(otedama_mining::stratum::guard::DEFAULT_MAX_PAYOUTS);
    for (flag, value) in [
        (
            "--stratum-max-connections-per-ip",
            stratum_max_connections_per_ip,
        ),
        ("--stratum-max-payouts", stratum_max_payouts),
    ] {
        if value == 0 {
            return Err(ConfigError::Zero { flag });
        }
    }
    let rpc_allow_host = if args.rpc_allow_host.is_empty() {
        file.rpc_allow_host.unwrap_or_default()
    } else {
        args.rpc_allow_host
    };
    let mine = args.mine.or(file.mine).unwrap_or(0);
    let randomx_dataset = match args
        .randomx_verify
        .or(file.randomx_verify)
        .as_deref()
        .unwrap_or("auto")
    {
        "auto" => mine == 0,
        "fast" => true,
        "light" => false,
        other => {
            return Err(ConfigError::Unknown {
                what: "--randomx-verify",
                value: other.to_string(),
                choices: "auto, fast, light".into(),
            })
        }
    };
    let gpu = match args.gpu.or(file.gpu) {
        Some(list) => otedama_mining::gpu::parse_list(&list).map_err(ConfigError::BadGpu)?,
        None => Vec::new(),
    };
    let multiaddr = |flag: &'static str, v: &str| {
        v.parse::<Multiaddr>()
            .map_err(|e| ConfigError::BadMultiaddr {
                flag,
                value: v.to_string(),
                reason: e.to_string(),
            })
    };
    let mut p2p_listen = args.p2p_listen;
    if p2p_listen.is_empty() {
        for a in file.p2p_listen.iter().flat_map(OneOrMany::to_vec) {
            p2p_listen.push(multiaddr("p2p-listen", &a)?);
        }
    }
    let p2p_listen_is_default = p2p_listen.is_empty();
    if p2p_listen_is_default {
        p2p_listen = default_p2p_listen(preset);
    }
    let mut peers = args.peers;
    if peers.is_empty() {
        for p in file.peer.iter().flatten() {
            peers.push(multiaddr("peer", p)?);
        }
    }
    let max_peers = args
        .max_peers
        .or(file.max_peers)
        .unwrap_or(DEFAULT_MAX_PEERS);
    if max_peers == 0 {
        return Err(ConfigError::NoPeersAllowed);
    }
    let log = log_config(
        args.log_level.or(file.log_level),
        args.log_format.or(file.log_format),
    )?;
    Ok(Config {
        chain,
        family,
        preset,
        pool: choice.params,
        data_dir,
        node_rpc,
        node_auth,
        payout_address,
        stratum,
        stratum_max_connections_per_ip,
        stratum_ban,
        stratum_max_payouts,
        rpc,
        rpc_allow_host,
        mine,
        randomx_dataset,
        gpu,
        p2p_listen,
        p2p_listen_is_default,
        peers,
        max_peers,
        p2p_limit_loopback: args
            .p2p_limit_loopback
            .or(file.p2p_limit_loopback)
            .unwrap_or(false),
        no_prune: args.no_prune.or(file.no_prune).unwrap_or(false),
        log,
    })
}

/// The log filter: `--log-level` (flag, environment or file), else `RUST_LOG`, else `info`.
fn log_config(level: Option<String>, format: Option<String>) -> Result<LogConfig, ConfigError> {
    let filter = match level {
        Some(l) => l,
        None => std::env::var("RUST_LOG")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| "info".into()),
    };
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| ConfigError::BadLogLevel {
        value: filter.clone(),
        reason: e.to_string(),
    })?;
    let format = match format.as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => return Err(ConfigError::BadLogFormat(other.into())),
    };
    Ok(LogConfig { filter, format })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rltc() -> String {
        use bitcoin::bech32::{segwit, Hrp};
        segwit::encode_v0(Hrp::parse("rltc").unwrap(), &[7; 20]).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileConfig = toml::from_str(&format!(
            "chain = \"litecoin-regtest\"\npool = \"mini\"\nnode-rpc = \"http://127.0.0.1:1\"\n\
             node-rpc-user = \"u\"\nnode-rpc-password = \"p\"\npayout-address = \"{}\"\n\
             stratum = \"127.0.0.1:4444\"\n",
            rltc()
        ))
        .unwrap();
        let args = Args {
            pool: Some("main".into()),
            ..Args::default()
        };
        let c = resolve(args, file).unwrap();
        assert_eq!(c.chain, Chain::LitecoinRegtest);
        assert_eq!(c.preset, Preset::Main);
        assert_eq!(c.stratum.port(), 4444);
        assert_eq!(
            c.node_auth,
            NodeAuth::UserPass {
                user: "u".into(),
                password: "p".into()
            }
        );
    }

    #[test]
    fn clear_errors_for_missing_or_wrong_settings() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        assert!(resolve(base(), FileConfig::default()).is_ok());
        let mut a = base();
        a.node_rpc = None;
        assert!(matches!(
            resolve(a, FileConfig::default()),
            Err(ConfigError::MissingRpc)
        ));
        let mut a = base();
        a.node_rpc_cookie = None;
        assert!(matches!(
            resolve(a, FileConfig::default()),
            Err(ConfigError::MissingAuth)
        ));
        let mut a = base();
        a.chain = Some("litecoin".into());
        let err = resolve(a, FileConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("is not a litecoin address"),
            "{err}"
        );
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }

    #[test]
    fn mine_is_off_by_default_and_read_from_flags_or_file() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        assert_eq!(resolve(base(), FileConfig::default()).unwrap().mine, 0);
        let file: FileConfig = toml::from_str("mine = 3").unwrap();
        assert_eq!(resolve(base(), file).unwrap().mine, 3);
        let file: FileConfig = toml::from_str("mine = 3").unwrap();
        let args = Args {
            mine: Some(0),
            ..base()
        };
        assert_eq!(resolve(args, file).unwrap().mine, 0);
        let args = Args::try_parse_from(["otedama-node", "--mine", "2"]).unwrap();
        assert_eq!(args.mine, Some(2));
    }

    #[test]
    fn pool_config_from_the_flag_or_the_file_key() {
        let dir = tempfile::tempdir().unwrap();
        let club = dir.path().join("club.toml");
        std::fs::write(&club, "name = \"club\"\npplns-window = 30\n").unwrap();
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        // No pool file: the preset, in CHAIN-PRESET.
        let c = resolve(base(), FileConfig::default()).unwrap();
        assert_eq!(
            c.pool,
            PoolParams::preset(Chain::LitecoinRegtest, Preset::Main)
        );
        let home = std::env::var_os("HOME").expect("HOME is set in tests");
        let home = Path::new(&home).join(otedama_rpc::data_dir::HOME_SUBDIR);
        assert_eq!(c.data_dir, home.join("litecoin-regtest-main"));
        // The flag.
        let args = Args {
            pool_config: Some(club.clone()),
            pool: Some("mini".into()),
            ..base()
        };
        let c = resolve(args, FileConfig::default()).unwrap();
        assert_eq!((c.pool.name.as_str(), c.pool.pplns_window), ("club", 30));
        let mini = PoolParams::preset(Chain::LitecoinRegtest, Preset::Mini);
        assert_eq!(c.pool.max_payout_outputs, mini.max_payout_outputs);
        let id = c.pool.consensus_id().to_string();
        assert_eq!(
            c.data_dir,
            home.join(format!("litecoin-regtest-club-{}", &id[..8]))
        );
        // The config-file key, and `consensus-id`'s view of it.
        let file: FileConfig =
            toml::from_str(&format!("pool-config = {:?}", club.display().to_string())).unwrap();
        let choice = pool_choice(&Args::default(), &file).unwrap();
        assert_eq!((choice.label(), choice.params.pplns_window), ("club", 30));
        assert_eq!(choice.params.consensus_id().to_string().len(), 64);
        // Errors surface as config errors naming the file.
        std::fs::write(&club, "pplns-window = 0\n").unwrap();
        let args = Args {
            pool_config: Some(club.clone()),
            ..base()
        };
        let err = resolve(args, FileConfig::default()).unwrap_err();
        assert!(
            err.to_string().contains("club.toml") && err.to_string().contains("`pplns-window` = 0"),
            "{err}"
        );
        let args =
            Args::try_parse_from(["otedama-node", "consensus-id", "--pool-config", "x.toml"])
                .unwrap();
        assert_eq!(args.pool_config.as_deref(), Some(Path::new("x.toml")));
    }

    #[test]
    fn the_contrib_example_config_uses_only_known_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/otedama.toml");
        let file = load_file(&path).unwrap();
        assert_eq!(file.chain.as_deref(), Some("litecoin"));
        assert_eq!(file.peer.map(|p| p.len()), Some(1));
    }

    #[test]
    fn no_prune_from_the_flag_or_the_file_key() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        assert!(!resolve(base(), FileConfig::default()).unwrap().no_prune);
        let flag = Args::try_parse_from(["otedama-node", "--no-prune"]).unwrap();
        assert_eq!(flag.no_prune, Some(true));
        let off = Args::try_parse_from(["otedama-node", "--no-prune", "false"]).unwrap();
        assert_eq!(off.no_prune, Some(false));
        let file = || -> FileConfig { toml::from_str("no-prune = true").unwrap() };
        assert!(resolve(base(), file()).unwrap().no_prune);
        // The flag wins over the file.
        let args = Args {
            no_prune: Some(false),
            ..base()
        };
        assert!(!resolve(args, file()).unwrap().no_prune);
    }

    #[test]
    fn p2p_flags_and_file_keys() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        let c = resolve(base(), FileConfig::default()).unwrap();
        assert_eq!(
            c.p2p_listen
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>(),
            ["/ip4/0.0.0.0/tcp/9339", "/ip6/::/tcp/9339"]
        );
        assert!(c.p2p_listen_is_default);
        assert!(c.peers.is_empty());
        assert_eq!(c.max_peers, 50);
        let args = Args::try_parse_from([
            "otedama-node",
            "--p2p-listen",
            "/ip4/127.0.0.1/tcp/1234",
            "--peer",
            "/ip4/127.0.0.1/tcp/1",
            "--peer",
            "/ip4/127.0.0.1/tcp/2",
            "--max-peers",
            "8",
        ])
        .unwrap();
        assert_eq!(args.peers.len(), 2);
        assert_eq!(args.max_peers, Some(8));
        let file: FileConfig = toml::from_str(
            "p2p-listen = \"/ip4/127.0.0.1/tcp/7\"\npeer = [\"/ip4/10.0.0.1/tcp/9339\"]\nmax-peers = 3",
        )
        .unwrap();
        let c = resolve(base(), file).unwrap();
        assert_eq!(c.p2p_listen.len(), 1);
        assert_eq!(c.p2p_listen[0].to_string(), "/ip4/127.0.0.1/tcp/7");
        assert!(!c.p2p_listen_is_default);
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.max_peers, 3);
        let file: FileConfig = toml::from_str("peer = [\"nonsense\"]").unwrap();
        let err = resolve(base(), file).unwrap_err();
        assert!(err.to_string().contains("not a multiaddr"), "{err}");
        assert!(Args::try_parse_from(["otedama-node", "--peer", "nonsense"]).is_err());
    }
}

#[cfg(test)]
mod precedence_tests {
    use super::*;

    fn rltc() -> String {
        use bitcoin::bech32::{segwit, Hrp};
        segwit::encode_v0(Hrp::parse("rltc").unwrap(), &[7; 20]).unwrap()
    }

    /// One test sets process environment variables: nextest runs every test in its own process,
    /// so no other test sees them.
    #[test]
    fn flags_win_over_the_environment_over_the_file_over_defaults() {
        std::env::set_var("OTEDAMA_STRATUM", "127.0.0.1:5001");
        std::env::set_var("OTEDAMA_RPC", "127.0.0.1:5002");
        std::env::set_var("OTEDAMA_NODE_RPC", "http://127.0.0.1:19443");
        std::env::set_var("OTEDAMA_NODE_RPC_USER", "env-user");
        std::env::set_var("OTEDAMA_NODE_RPC_PASSWORD", "env-secret");
        std::env::set_var(
            "OTEDAMA_PEER",
            "/ip4/10.0.0.1/tcp/9339,/ip4/10.0.0.2/tcp/9339",
        );
        std::env::set_var("OTEDAMA_POOL", "mini");
        let file: FileConfig = toml::from_str(&format!(
            "stratum = \"127.0.0.1:4001\"\nrpc = \"127.0.0.1:4002\"\nmine = 1\n\
             node-rpc-password = \"file-secret\"\npayout-address = \"{}\"\n",
            rltc()
        ))
        .unwrap();
        let args = Args::try_parse_from(["otedama-node", "--stratum", "127.0.0.1:6001"]).unwrap();
        let c = resolve(args, file).unwrap();
        assert_eq!(c.stratum.port(), 6001, "flag over environment and file");
        assert_eq!(c.rpc.port(), 5002, "environment over file");
        assert_eq!(c.mine, 1, "file over default");
        assert_eq!(c.max_peers, DEFAULT_MAX_PEERS, "default");
        assert_eq!(c.node_rpc, "http://127.0.0.1:19443");
        assert_eq!(
            c.node_auth,
            NodeAuth::UserPass {
                user: "env-user".into(),
                password: "env-secret".into()
            }
        );
        assert_eq!(
            c.peers.len(),
            2,
            "comma-separated list from the environment"
        );
        // The mini preset from the environment moves the default P2P port.
        assert_eq!(c.preset, Preset::Mini);
        assert!(c
            .p2p_listen
            .iter()
            .all(|a| a.iter().any(|p| p == Protocol::Tcp(DEFAULT_P2P_PORT_MINI))));
        // The password from the environment is not printed by --help.
        let help = <Args as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("OTEDAMA_NODE_RPC_PASSWORD"), "{help}");
        assert!(!help.contains("env-secret"), "{help}");
    }

    #[test]
    fn p2p_listen_repeats_and_the_file_takes_one_or_a_list() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        let args = Args::try_parse_from([
            "otedama-node",
            "--p2p-listen",
            "/ip4/0.0.0.0/tcp/1",
            "--p2p-listen",
            "/ip6/::/tcp/1",
        ])
        .unwrap();
        assert_eq!(args.p2p_listen.len(), 2);
        for text in [
            "p2p-listen = \"/ip6/::1/tcp/7\"",
            "p2p-listen = [\"/ip6/::1/tcp/7\"]",
        ] {
            let c = resolve(base(), toml::from_str(text).unwrap()).unwrap();
            assert_eq!(c.p2p_listen.len(), 1, "{text}");
            assert!(!c.p2p_listen_is_default);
        }
        let c = resolve(
            base(),
            toml::from_str("p2p-listen = [\"/ip4/0.0.0.0/tcp/7\", \"/ip6/::/tcp/7\"]").unwrap(),
        )
        .unwrap();
        assert_eq!(c.p2p_listen.len(), 2);
        assert_ne!(DEFAULT_P2P_PORT_MAIN, DEFAULT_P2P_PORT_MINI);
        for port in [
            DEFAULT_P2P_PORT_MAIN,
            DEFAULT_P2P_PORT_MINI,
            DEFAULT_STRATUM_PORT,
        ] {
            assert!(!otedama_rpc::DAEMON_DEFAULT_PORTS.contains(&port), "{port}");
            assert_ne!(port, otedama_rpc::DEFAULT_API_PORT);
        }
    }

    #[test]
    fn stratum_limits_from_flags_or_file_and_never_zero() {
        let base = || Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        let c = resolve(base(), FileConfig::default()).unwrap();
        assert_eq!(c.stratum_max_connections_per_ip, 256);
        assert_eq!(c.stratum_ban.as_secs(), 600);
        assert_eq!(c.stratum_max_payouts, 512);
        let file: FileConfig = toml::from_str(
            "stratum-max-connections-per-ip = 2000\nstratum-ban-secs = 0\nstratum-max-payouts = 64",
        )
        .unwrap();
        let c = resolve(base(), file).unwrap();
        assert_eq!(c.stratum_max_connections_per_ip, 2000);
        assert!(c.stratum_ban.is_zero(), "0 turns bans off");
        assert_eq!(c.stratum_max_payouts, 64);
        let args = Args {
            stratum_max_payouts: Some(0),
            ..base()
        };
        let err = resolve(args, FileConfig::default()).unwrap_err();
        assert!(err.to_string().contains("--stratum-max-payouts"), "{err}");
    }

    #[test]
    fn log_level_and_format() {
        assert_eq!(
            log_config(Some("debug".into()), Some("json".into())).unwrap(),
            LogConfig {
                filter: "debug".into(),
                format: LogFormat::Json
            }
        );
        let err = log_config(Some("info,[=".into()), None).unwrap_err();
        assert!(err.to_string().contains("--log-level"), "{err}");
        assert!(Args::try_parse_from(["otedama-node", "--log-format", "xml"]).is_err());
        assert!(log_config(None, Some("xml".into())).is_err());
    }

    #[test]
    fn monero_chains_take_a_monero_address_and_need_no_rpc_login() {
        let xmr = otedama_mining::monerod::placeholder_address(Chain::MoneroRegtest).unwrap();
        let args = |payout: String, zmq: Option<&str>| Args {
            chain: Some("monero-regtest".into()),
            data_dir: Some("/tmp/otedama-monero-config".into()),
            node_rpc: Some("http://127.0.0.1:18081".into()),
            node_zmq: zmq.map(String::from),
            payout_address: Some(payout),
            ..Args::default()
        };
        let config = resolve(
            args(xmr.clone(), Some("tcp://127.0.0.1:18083")),
            FileConfig::default(),
        )
        .unwrap();
        assert!(matches!(config.node_auth, NodeAuth::None));
        match &config.family {
            Family::Monero { params, zmq } => {
                assert_eq!(params.name, "monero-regtest");
                assert_eq!(zmq.as_deref(), Some("tcp://127.0.0.1:18083"));
            }
            Family::Bitcoin(_) => panic!("a Monero chain runs the Monero family"),
        }
        assert_eq!(
            payout_script(&config.family, &xmr)
                .unwrap()
                .as_bytes()
                .len(),
            65,
            "a Monero payee encoding: kind byte and two keys"
        );
        // A Litecoin address cannot be paid on Monero.
        let err = resolve(args(rltc(), None), FileConfig::default()).unwrap_err();
        assert!(matches!(err, ConfigError::BadPayout { .. }), "{err}");
    }

    #[test]
    fn the_name_lists_are_the_names_the_consensus_knows() {
        for name in CHAIN_NAMES {
            assert_eq!(Chain::from_name(name).map(|c| c.name()), Some(name));
        }
        for name in POOL_NAMES {
            assert_eq!(Preset::from_name(name).map(|p| p.name()), Some(name));
        }
        assert_eq!(POOL_NAMES.len(), Preset::ALL.len());
        // The node serves every chain of both families.
        assert_eq!(CHAIN_NAMES.len(), Chain::ALL.len());
    }

    #[test]
    fn without_home_the_data_dir_must_be_given() {
        std::env::remove_var("HOME");
        let args = Args {
            node_rpc: Some("http://127.0.0.1:1".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(rltc()),
            ..Args::default()
        };
        assert!(matches!(
            resolve(args, FileConfig::default()),
            Err(ConfigError::NoHome)
        ));
    }
}
