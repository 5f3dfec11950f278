//! [`MoneroRpc`]: monerod's JSON-RPC 2.0 (`POST /json_rpc`) over the workspace's HTTP/1.1
//! client ([`otedama_http::HttpClient`], connections kept open and reused), with typed answers
//! (only the fields Otedama reads), errors that say what to do ([`MoneroRpcError`]) and call
//! statistics ([`MoneroRpcStats`]); and [`probe`], the node's check of monerod at start.
//!
//! monerod answers every JSON-RPC call with HTTP 200: failures are JSON-RPC errors (`code`,
//! `message`; the codes are `CORE_RPC_ERROR_CODE_*` of `core_rpc_server_error_codes.h`), and
//! some answers carry a `status` other than `OK` instead (`BUSY` while syncing).

use super::work::{parse_hash32, parse_wide_difficulty, MoneroWork};
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::Chain;
use otedama_http::{HttpClient, HttpError, Origin, Request, UrlError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Request timeout of [`MoneroRpcConfig::new`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest response body read (a mainnet block template with a full pool is well under 1 MB of
/// hex; `get_miner_data`'s backlog can list thousands of transactions).
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;

/// `MAKE_CORE_RPC_VERSION(major, minor)` of monerod's `core_rpc_server_commands_defs.h`.
pub const fn rpc_version(major: u32, minor: u32) -> u32 {
    (major << 16) | minor
}

/// The oldest monerod RPC version Otedama works with: 3.8.
///
/// Derivation: `get_miner_data` and the ZMQ `json-full-miner_data` topic came with monerod
/// commit "RPC and ZeroMQ APIs to support p2pool" (d51e3f21f on the release-v0.17 branch),
/// which bumped `CORE_RPC_VERSION_MINOR` from 7 to 8; the first release with it is v0.17.3.0,
/// whose RPC version is 3.9 (v0.17.2.x still says 3.5 and lacks both). Debian's monerod
/// v0.18.0.0 answers `get_version` with 196618 = (3 << 16) | 10.
pub const MIN_RPC_VERSION: u32 = rpc_version(3, 8);

/// monerod's `CORE_RPC_ERROR_CODE_WRONG_BLOCKBLOB`: `submit_block`'s blob does not parse.
pub const ERROR_WRONG_BLOCKBLOB: i64 = -6;
/// `CORE_RPC_ERROR_CODE_BLOCK_NOT_ACCEPTED`: a block that parses but is not added to the main
/// chain (invalid, not enough proof of work, orphaned).
pub const ERROR_BLOCK_NOT_ACCEPTED: i64 = -7;
/// `CORE_RPC_ERROR_CODE_CORE_BUSY`: monerod is not synchronised (no templates until it is).
pub const ERROR_CORE_BUSY: i64 = -9;
/// `CORE_RPC_ERROR_CODE_WRONG_BLOCKBLOB_SIZE`: a block blob over the size limit.
pub const ERROR_WRONG_BLOCKBLOB_SIZE: i64 = -10;
/// `CORE_RPC_ERROR_CODE_RESTRICTED`.
pub const ERROR_RESTRICTED: i64 = -19;
/// JSON-RPC's "Method not found": what monerod answers for a method its restricted RPC
/// (`--restricted-rpc`, `--rpc-restricted-bind-port`) does not serve.
pub const ERROR_METHOD_NOT_FOUND: i64 = -32601;

/// The `get_info.nettype` of a monerod serving `chain` (`--regtest` reports `fakechain`);
/// `None` for chains that are not Monero's.
pub fn monerod_nettype(chain: Chain) -> Option<&'static str> {
    match chain {
        Chain::Monero => Some("mainnet"),
        Chain::MoneroStagenet => Some("stagenet"),
        Chain::MoneroRegtest => Some("fakechain"),
        _ => None,
    }
}

/// How to start a monerod of `chain`, for messages.
fn network_flag(chain: Chain) -> &'static str {
    match chain {
        Chain::Monero => "monerod without a network flag",
        Chain::MoneroStagenet => "monerod --stagenet",
        Chain::MoneroRegtest => "monerod --regtest",
        _ => "not a Monero chain",
    }
}

/// Where monerod is and how long a call may take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneroRpcConfig {
    /// `http://HOST:PORT` (monerod's `--rpc-bind-port`), optionally with the path `/json_rpc`.
    pub url: String,
    /// Limit for one whole call (connect, send, answer).
    pub timeout: Duration,
}

impl MoneroRpcConfig {
    /// A config with [`DEFAULT_TIMEOUT`].
    pub fn new(url: impl Into<String>) -> MoneroRpcConfig {
        MoneroRpcConfig {
            url: url.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Everything that can go wrong talking to monerod; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum MoneroRpcError {
    #[error("invalid monerod RPC URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "cannot connect to monerod at {url} ({source}): is monerod running? start it with \
         --rpc-bind-port {port} (and --rpc-bind-ip with --confirm-external-bind when it runs on \
         another machine)"
    )]
    Unreachable {
        url: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    #[error(
        "monerod at {url} is on the wrong network: Otedama is configured for {expected} \
         (get_info.nettype {:?}), but monerod reports nettype {got:?}; point Otedama at a \
         monerod of that network ({}) or change --chain",
        monerod_nettype(*expected).unwrap_or("none: not a Monero chain"),
        network_flag(*expected)
    )]
    WrongNetwork {
        url: String,
        expected: Chain,
        got: String,
    },
    #[error(
        "monerod at {url} does not serve {method} ({detail}): this is a restricted RPC port \
         (--restricted-rpc or --rpc-restricted-bind-port); use the unrestricted port or drop \
         --restricted-rpc"
    )]
    Restricted {
        url: String,
        method: String,
        detail: String,
    },
    #[error(
        "monerod at {url} is not synchronised ({detail}): it gives no block templates until it \
         has caught up with the network; wait for it to sync"
    )]
    NotSynced { url: String, detail: String },
    #[error(
        "monerod's RPC version {}.{} is too old: Otedama needs RPC {}.{} or newer (monerod \
         v0.17.3.0 or later, which has get_miner_data and ZMQ miner_data); upgrade monerod",
        version >> 16,
        version & 0xffff,
        MIN_RPC_VERSION >> 16,
        MIN_RPC_VERSION & 0xffff
    )]
    TooOld { version: u32 },
    #[error(
        "monerod at {url} asks for RPC credentials (HTTP 401: it runs with --rpc-login, which \
         is HTTP digest auth); Otedama does not log in to monerod: give it a local RPC port \
         without --rpc-login"
    )]
    Auth { url: String },
    #[error(
        "monerod at {url} answered {method} with {detail}: is this monerod's RPC port \
         (--rpc-bind-port; 18081 on mainnet, 38081 on stagenet)?"
    )]
    Http {
        url: String,
        method: String,
        detail: String,
    },
    #[error(
        "monerod at {url} did not answer {method} within {after:?} (it may be busy: syncing, \
         or a slow disk)"
    )]
    Timeout {
        url: String,
        method: String,
        after: Duration,
    },
    #[error("unexpected reply from monerod: {0}")]
    Protocol(String),
    /// `get_block_template` and `get_miner_data` answered for different parents: a block
    /// arrived between the two calls. Asking again fixes it.
    #[error("monerod's chain tip moved between get_block_template and get_miner_data")]
    TipMoved,
    #[error("monerod answered {method} with error {code}: {message}")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    /// `submit_block`: monerod received the block and refused it (-6 blob does not parse, -7
    /// "Block not accepted", -10 too large). Not a transport failure: sending it again changes
    /// nothing.
    #[error("monerod rejected the block (error {code}: {message})")]
    Rejected { code: i64, message: String },
}

impl MoneroRpcError {
    /// A short, stable snake_case label of the variant: the `kind` label of the
    /// `monerod_rpc_errors_total` metric (one of [`ERROR_KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            MoneroRpcError::InvalidUrl { .. } => "invalid_url",
            MoneroRpcError::Unreachable { .. } => "unreachable",
            MoneroRpcError::WrongNetwork { .. } => "wrong_network",
            MoneroRpcError::Restricted { .. } => "restricted",
            MoneroRpcError::NotSynced { .. } => "not_synced",
            MoneroRpcError::TooOld { .. } => "too_old",
            MoneroRpcError::Auth { .. } => "auth",
            MoneroRpcError::Http { .. } => "http",
            MoneroRpcError::Timeout { .. } => "timeout",
            MoneroRpcError::Protocol(_) => "protocol",
            MoneroRpcError::TipMoved => "tip_moved",
            MoneroRpcError::Rpc { .. } => "rpc_error",
            MoneroRpcError::Rejected { .. } => "rejected",
        }
    }

    /// Whether monerod refused a submitted block (as opposed to not being reached).
    pub fn is_rejection(&self) -> bool {
        matches!(self, MoneroRpcError::Rejected { .. })
    }
}

// ---------------------------------------------------------------------------------------------
// Typed answers: only the fields Otedama reads.

/// monerod's `status` field, which every answer carries (`OK`, or `BUSY` while syncing, ...).
pub trait MonerodAnswer {
    fn status(&self) -> &str;
}

macro_rules! answer {
    ($($t:ty),*) => {$(
        impl MonerodAnswer for $t {
            fn status(&self) -> &str {
                &self.status
            }
        }
    )*};
}

fn de_hash32<'de, D: Deserializer<'de>>(d: D) -> Result<Hash32, D::Error> {
    let s = String::deserialize(d)?;
    parse_hash32(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a 32-byte hex hash")))
}

fn de_wide<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
    let s = String::deserialize(d)?;
    parse_wide_difficulty(&s)
        .ok_or_else(|| serde::de::Error::custom(format!("{s:?} is not a hex difficulty")))
}

/// `get_info`, the fields Otedama reads.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct GetInfo {
    /// `mainnet`, `stagenet`, `testnet`, or `fakechain` (`--regtest`).
    pub nettype: String,
    /// Blocks in the chain (the tip's height + 1).
    pub height: u64,
    /// The network's height as monerod's peers report it (0 when it has none).
    #[serde(default)]
    pub target_height: u64,
    #[serde(default)]
    pub synchronized: bool,
    #[serde(default)]
    pub busy_syncing: bool,
    #[serde(default)]
    pub offline: bool,
    /// Whether this port is a restricted RPC port.
    #[serde(default)]
    pub restricted: bool,
    /// Whether the answer came from a bootstrap daemon (monerod not synchronised itself).
    #[serde(default)]
    pub untrusted: bool,
    /// E.g. `0.18.0.0-unknown`; empty on a restricted port.
    #[serde(default)]
    pub version: String,
    #[serde(deserialize_with = "de_hash32")]
    pub top_block_hash: Hash32,
    #[serde(default)]
    pub status: String,
}

/// `get_version`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct GetVersion {
    /// The RPC version, `(major << 16) | minor` (see [`MIN_RPC_VERSION`]).
    pub version: u32,
    #[serde(default)]
    pub release: bool,
    #[serde(default)]
    pub status: String,
}

/// One transaction of `get_miner_data`'s pool backlog.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct TxBacklogEntry {
    #[serde(deserialize_with = "de_hash32")]
    pub id: Hash32,
    pub weight: u64,
    pub fee: u64,
}

/// `get_miner_data`: what a custom block template is made from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct MinerData {
    pub major_version: u8,
    /// Height of the next block.
    pub height: u64,
    #[serde(deserialize_with = "de_hash32")]
    pub prev_id: Hash32,
    #[serde(deserialize_with = "de_hash32")]
    pub seed_hash: Hash32,
    /// `0x`-prefixed hex in the answer.
    #[serde(deserialize_with = "de_wide")]
    pub difficulty: u128,
    pub median_weight: u64,
    pub already_generated_coins: u64,
    /// Mineable pool transactions (left out of the answer when the pool is empty).
    #[serde(default)]
    pub tx_backlog: Vec<TxBacklogEntry>,
    #[serde(default)]
    pub status: String,
}

/// `get_block_template`, the fields Otedama reads ([`MoneroWork::from_template`] makes the
/// work; the hashes stay hex here and are checked there).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockTemplateResponse {
    pub blocktemplate_blob: String,
    /// The low 64 bits of the difficulty.
    pub difficulty: u64,
    #[serde(default)]
    pub difficulty_top64: u64,
    /// The whole difficulty, `0x`-prefixed hex (monerod v0.13 on).
    #[serde(default)]
    pub wide_difficulty: String,
    pub expected_reward: u64,
    pub height: u64,
    pub prev_hash: String,
    pub seed_hash: String,
    /// Empty unless the next RandomX epoch is near.
    #[serde(default)]
    pub next_seed_hash: String,
    #[serde(default)]
    pub seed_height: u64,
    #[serde(default)]
    pub reserved_offset: u64,
    #[serde(default)]
    pub status: String,
}

impl BlockTemplateResponse {
    /// The difficulty: `wide_difficulty` when present, else `difficulty_top64:difficulty`.
    /// Zero or an unreadable `wide_difficulty` is a protocol error.
    pub fn difficulty(&self) -> Result<u128, MoneroRpcError> {
        let d = if self.wide_difficulty.is_empty() {
            (u128::from(self.difficulty_top64) << 64) | u128::from(self.difficulty)
        } else {
            parse_wide_difficulty(&self.wide_difficulty).ok_or_else(|| {
                MoneroRpcError::Protocol(format!(
                    "get_block_template: wide_difficulty {:?} is not hex",
                    self.wide_difficulty
                ))
            })?
        };
        if d == 0 {
            return Err(MoneroRpcError::Protocol(
                "get_block_template: difficulty 0".to_owned(),
            ));
        }
        Ok(d)
    }
}

/// A block header as `get_last_block_header` and `get_block_header_by_height` give it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockHeaderInfo {
    #[serde(deserialize_with = "de_hash32")]
    pub hash: Hash32,
    pub height: u64,
    #[serde(deserialize_with = "de_hash32")]
    pub prev_hash: Hash32,
    pub timestamp: u64,
    pub major_version: u8,
    pub minor_version: u8,
    /// What the block's miner transaction paid.
    pub reward: u64,
    #[serde(default)]
    pub num_txes: u64,
    #[serde(default)]
    pub orphan_status: bool,
}

/// The answer around a [`BlockHeaderInfo`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BlockHeaderResponse {
    pub block_header: BlockHeaderInfo,
    #[serde(default)]
    pub status: String,
}

/// `submit_block`'s answer (its only field is the status).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SubmitBlockResponse {
    #[serde(default)]
    pub status: String,
}

answer!(
    GetInfo,
    GetVersion,
    MinerData,
    BlockTemplateResponse,
    BlockHeaderResponse,
    SubmitBlockResponse
);

// ---------------------------------------------------------------------------------------------
// Statistics.

/// The methods counted by name, in exposition order; any other is counted as `other`.
pub const METHODS: [&str; 8] = [
    "get_block_template",
    "submit_block",
    "get_info",
    "get_version",
    "get_miner_data",
    "get_last_block_header",
    "get_block_header_by_height",
    "other",
];

/// How often [`MoneroRpc::get_work`] asks again when the tip moved between its two calls: a
/// block every 2 minutes makes even one repeat rare.
pub const TIP_MOVED_RETRIES: u32 = 3;

/// The error kinds ([`MoneroRpcError::kind`]), in exposition order.
pub const ERROR_KINDS: [&str; 13] = [
    "unreachable",
    "timeout",
    "not_synced",
    "wrong_network",
    "restricted",
    "too_old",
    "auth",
    "http",
    "protocol",
    "tip_moved",
    "rpc_error",
    "rejected",
    "invalid_url",
];

fn method_index(method: &str) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

/// Calls, errors and latency of one [`MoneroRpc`] and its clones (they share one): relaxed
/// atomic counters over a fixed set of series, so recording never locks and the exposition has
/// a bounded, stable set of series.
#[derive(Debug, Default)]
pub struct MoneroRpcStats {
    calls: [AtomicU64; METHODS.len()],
    errors: [AtomicU64; ERROR_KINDS.len()],
    latency_count: AtomicU64,
    latency_sum_nanos: AtomicU64,
    latency_max_nanos: AtomicU64,
}

impl MoneroRpcStats {
    fn record_call(&self, method: &str) {
        self.calls[method_index(method)].fetch_add(1, Ordering::Relaxed);
    }

    fn record_error(&self, error: &MoneroRpcError) {
        let kind = error.kind();
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.errors[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn record_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.latency_max_nanos.fetch_max(nanos, Ordering::Relaxed);
    }

    /// Calls of `method` so far (methods outside [`METHODS`] all read the `other` count).
    pub fn calls(&self, method: &str) -> u64 {
        self.calls[method_index(method)].load(Ordering::Relaxed)
    }

    /// Errors of `kind` (one of [`ERROR_KINDS`]; 0 for any other string).
    pub fn errors(&self, kind: &str) -> u64 {
        ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Calls with a result (answer or error) so far.
    pub fn latency_count(&self) -> u64 {
        self.latency_count.load(Ordering::Relaxed)
    }

    /// Total time of those calls.
    pub fn latency_sum(&self) -> Duration {
        Duration::from_nanos(self.latency_sum_nanos.load(Ordering::Relaxed))
    }

    /// The slowest of those calls.
    pub fn latency_max(&self) -> Duration {
        Duration::from_nanos(self.latency_max_nanos.load(Ordering::Relaxed))
    }

    /// The statistics in the Prometheus text format, names starting with `prefix`:
    /// `{prefix}_monerod_rpc_calls_total{method}`, `{prefix}_monerod_rpc_errors_total{kind}`
    /// (every series present, zeros included) and `{prefix}_monerod_rpc_latency_seconds`
    /// (a summary: `_sum`, `_count`). Ends with a newline.
    pub fn render_prometheus(&self, prefix: &str) -> String {
        let mut out = String::with_capacity(2048);
        let calls = format!("{prefix}_monerod_rpc_calls_total");
        let _ = writeln!(
            out,
            "# HELP {calls} monerod JSON-RPC calls sent, by method.\n# TYPE {calls} counter"
        );
        for (method, count) in METHODS.iter().zip(&self.calls) {
            let _ = writeln!(
                out,
                "{calls}{{method=\"{method}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let errors = format!("{prefix}_monerod_rpc_errors_total");
        let _ = writeln!(
            out,
            "# HELP {errors} monerod JSON-RPC errors, by kind.\n# TYPE {errors} counter"
        );
        for (kind, count) in ERROR_KINDS.iter().zip(&self.errors) {
            let _ = writeln!(
                out,
                "{errors}{{kind=\"{kind}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let latency = format!("{prefix}_monerod_rpc_latency_seconds");
        let _ = writeln!(
            out,
            "# HELP {latency} monerod JSON-RPC call latency in seconds, errors included.\n\
             # TYPE {latency} summary"
        );
        let _ = writeln!(out, "{latency}_sum {}", self.latency_sum().as_secs_f64());
        let _ = writeln!(out, "{latency}_count {}", self.latency_count());
        out
    }
}

// ---------------------------------------------------------------------------------------------
// The client.

/// monerod's JSON-RPC client. Cheap to clone: clones share the connections and the
/// [`MoneroRpcStats`].
#[derive(Clone, Debug)]
pub struct MoneroRpc {
    inner: Arc<Inner>,
    stats: Arc<MoneroRpcStats>,
}

#[derive(Debug)]
struct Inner {
    /// `http://HOST:PORT/json_rpc`.
    url: String,
    port: u16,
    http: HttpClient,
    timeout: Duration,
}

#[derive(Deserialize)]
struct RpcErrorObject {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Reply<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    error: Option<RpcErrorObject>,
}

/// Only the error of a reply (when the result does not parse as the caller's type).
#[derive(Deserialize)]
struct ErrorOnly {
    #[serde(default)]
    error: Option<RpcErrorObject>,
}

fn excerpt(body: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if body.len() > 200 {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    }
}

fn parse_url(url: &str) -> Result<Origin, MoneroRpcError> {
    let invalid = |reason: &str| MoneroRpcError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let origin = Origin::parse(url).map_err(|e| {
        invalid(match e {
            UrlError::UnsupportedScheme(_) => {
                "only http:// is supported (use an SSH tunnel for a remote monerod)"
            }
            UrlError::Credentials => {
                "credentials in the URL: monerod's --rpc-login is not supported, use a local \
                 port without it"
            }
            UrlError::UnclosedBracket => "unclosed '[' in the host",
            UrlError::MissingPort => "missing port (e.g. http://127.0.0.1:18081)",
            UrlError::MissingHost => "missing host",
            UrlError::BadPort => "the port is not a number from 1 to 65535",
            UrlError::BadPath => "the path contains spaces or control characters",
        })
    })?;
    match origin.path().trim_end_matches('/') {
        "" | "/json_rpc" => Ok(origin),
        _ => Err(invalid(
            "give monerod's RPC as http://HOST:PORT (Otedama calls /json_rpc itself)",
        )),
    }
}

impl MoneroRpc {
    /// Checks the URL; connects nothing (the first call opens a connection, later ones reuse
    /// it).
    pub fn new(config: MoneroRpcConfig) -> Result<MoneroRpc, MoneroRpcError> {
        let origin = parse_url(&config.url)?;
        let url = format!("http://{}/json_rpc", origin.authority());
        let port = origin.port();
        let http = HttpClient::new(
            origin,
            otedama_http::Config {
                max_body_bytes: MAX_RESPONSE_BYTES,
                ..otedama_http::Config::default()
            },
        );
        Ok(MoneroRpc {
            inner: Arc::new(Inner {
                url,
                port,
                http,
                timeout: config.timeout,
            }),
            stats: Arc::new(MoneroRpcStats::default()),
        })
    }

    /// `http://HOST:PORT/json_rpc`.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The request timeout from the config.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Calls, errors and latency of this client and its clones.
    pub fn stats(&self) -> &MoneroRpcStats {
        &self.stats
    }

    /// TCP connections opened to monerod so far by this client and its clones.
    pub fn connections_opened(&self) -> u64 {
        self.inner.http.connections_opened()
    }

    /// Calls `method` with `params` (a JSON object, or an array for `submit_block`) and reads
    /// the result as `T`. Every call is counted in [`MoneroRpc::stats`]. "Method not found"
    /// and monerod's "restricted" error become [`MoneroRpcError::Restricted`], "Core is busy"
    /// [`MoneroRpcError::NotSynced`].
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, MoneroRpcError> {
        self.stats.record_call(method);
        let started = Instant::now();
        let result = self.call_unrecorded(method, params).await;
        self.stats.record_latency(started.elapsed());
        if let Err(e) = &result {
            self.stats.record_error(e);
        }
        result
    }

    /// [`MoneroRpc::call`] for typed answers whose `status` must be `OK`.
    async fn answer<T: DeserializeOwned + MonerodAnswer>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, MoneroRpcError> {
        let answer: T = self.call(method, params).await?;
        match answer.status() {
            "OK" | "" => Ok(answer),
            status => Err(self.counted(if status == "BUSY" {
                MoneroRpcError::NotSynced {
                    url: self.inner.url.clone(),
                    detail: format!("{method} answered status BUSY"),
                }
            } else {
                MoneroRpcError::Rpc {
                    method: method.to_owned(),
                    code: 0,
                    message: format!("status {status:?}"),
                }
            })),
        }
    }

    fn counted(&self, error: MoneroRpcError) -> MoneroRpcError {
        self.stats.record_error(&error);
        error
    }

    async fn call_unrecorded<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, MoneroRpcError> {
        let inner = &*self.inner;
        let body =
            json!({"jsonrpc": "2.0", "id": "0", "method": method, "params": params}).to_string();
        let request = Request::post(body)
            .path("/json_rpc")
            .header("Content-Type", "application/json")
            .timeout(Some(inner.timeout));
        let response = match inner.http.send(&request).await {
            Ok(response) => response,
            Err(HttpError::Connect(source) | HttpError::Io(source)) => {
                return Err(MoneroRpcError::Unreachable {
                    url: inner.url.clone(),
                    port: inner.port,
                    source,
                })
            }
            Err(HttpError::Timeout(after)) => {
                return Err(MoneroRpcError::Timeout {
                    url: inner.url.clone(),
                    method: method.to_owned(),
                    after,
                })
            }
            Err(e) => {
                return Err(MoneroRpcError::Http {
                    url: inner.url.clone(),
                    method: method.to_owned(),
                    detail: e.to_string(),
                })
            }
        };
        let (status, body) = (response.status, response.body);
        if status == 401 {
            return Err(MoneroRpcError::Auth {
                url: inner.url.clone(),
            });
        }
        let error = |err: RpcErrorObject| self.rpc_error(method, err);
        if status != 200 {
            // A JSON-RPC error in a non-200 answer still says what went wrong.
            if let Ok(ErrorOnly { error: Some(err) }) = serde_json::from_slice(&body) {
                return Err(error(err));
            }
            return Err(MoneroRpcError::Http {
                url: inner.url.clone(),
                method: method.to_owned(),
                detail: format!("HTTP {status}: {}", excerpt(&body)),
            });
        }
        let reply: Reply<T> = match serde_json::from_slice(&body) {
            Ok(reply) => reply,
            Err(e) => {
                if let Ok(ErrorOnly { error: Some(err) }) = serde_json::from_slice(&body) {
                    return Err(error(err));
                }
                return Err(MoneroRpcError::Protocol(format!(
                    "{method}: reply does not parse ({e}): {}",
                    excerpt(&body)
                )));
            }
        };
        if let Some(err) = reply.error {
            return Err(error(err));
        }
        reply.result.ok_or_else(|| {
            MoneroRpcError::Protocol(format!(
                "{method}: reply without a result: {}",
                excerpt(&body)
            ))
        })
    }

    /// A JSON-RPC error, classified.
    fn rpc_error(&self, method: &str, err: RpcErrorObject) -> MoneroRpcError {
        match err.code {
            ERROR_WRONG_BLOCKBLOB | ERROR_BLOCK_NOT_ACCEPTED | ERROR_WRONG_BLOCKBLOB_SIZE
                if method == "submit_block" || method == "submitblock" =>
            {
                MoneroRpcError::Rejected {
                    code: err.code,
                    message: err.message,
                }
            }
            ERROR_METHOD_NOT_FOUND | ERROR_RESTRICTED => MoneroRpcError::Restricted {
                url: self.inner.url.clone(),
                method: method.to_owned(),
                detail: format!("error {}: {}", err.code, err.message),
            },
            ERROR_CORE_BUSY => MoneroRpcError::NotSynced {
                url: self.inner.url.clone(),
                detail: format!("{method}: error {}: {}", err.code, err.message),
            },
            code => MoneroRpcError::Rpc {
                method: method.to_owned(),
                code,
                message: err.message,
            },
        }
    }

    pub async fn get_info(&self) -> Result<GetInfo, MoneroRpcError> {
        self.answer("get_info", json!({})).await
    }

    pub async fn get_version(&self) -> Result<GetVersion, MoneroRpcError> {
        self.answer("get_version", json!({})).await
    }

    pub async fn get_miner_data(&self) -> Result<MinerData, MoneroRpcError> {
        self.answer("get_miner_data", json!({})).await
    }

    /// `get_block_template` paying `wallet_address` (any valid address of the chain: Otedama
    /// replaces the miner transaction) with `reserve_size` bytes reserved in its extra field.
    pub async fn get_block_template(
        &self,
        wallet_address: &str,
        reserve_size: u64,
    ) -> Result<BlockTemplateResponse, MoneroRpcError> {
        self.answer(
            "get_block_template",
            json!({"wallet_address": wallet_address, "reserve_size": reserve_size}),
        )
        .await
    }

    /// [`MoneroRpc::get_block_template`] and [`MoneroRpc::get_miner_data`] made into
    /// [`MoneroWork`] (see [`MoneroWork::from_template`]; an inconsistent template is a
    /// protocol error). Asks again, at most [`TIP_MOVED_RETRIES`] times, when a block arrived
    /// between the two calls.
    pub async fn get_work(
        &self,
        wallet_address: &str,
        reserve_size: u64,
    ) -> Result<MoneroWork, MoneroRpcError> {
        let mut tries = 0;
        loop {
            let t = self
                .get_block_template(wallet_address, reserve_size)
                .await?;
            let md = self.get_miner_data().await?;
            match MoneroWork::from_template(&t, &md) {
                Err(MoneroRpcError::TipMoved) if tries < TIP_MOVED_RETRIES => tries += 1,
                r => return r.map_err(|e| self.counted(e)),
            }
        }
    }

    /// `submit_block` with one block blob in hex. `Err(Rejected)` when monerod refused the
    /// block (see [`MoneroRpcError::Rejected`]); other errors mean it may not have seen it.
    pub async fn submit_block(&self, blob_hex: &str) -> Result<(), MoneroRpcError> {
        self.answer::<SubmitBlockResponse>("submit_block", json!([blob_hex]))
            .await
            .map(|_| ())
    }

    pub async fn get_block_header_by_height(
        &self,
        height: u64,
    ) -> Result<BlockHeaderInfo, MoneroRpcError> {
        let r: BlockHeaderResponse = self
            .answer("get_block_header_by_height", json!({"height": height}))
            .await?;
        Ok(r.block_header)
    }

    /// The tip's header.
    pub async fn get_last_block_header(&self) -> Result<BlockHeaderInfo, MoneroRpcError> {
        let r: BlockHeaderResponse = self.answer("get_last_block_header", json!({})).await?;
        Ok(r.block_header)
    }

    /// Checks that monerod serves `chain` (`get_info.nettype`, see [`monerod_nettype`]) and is
    /// synchronised (`synchronized` and not `busy_syncing`). Returns the info.
    pub async fn check_network(&self, chain: Chain) -> Result<GetInfo, MoneroRpcError> {
        let info = self.get_info().await?;
        if monerod_nettype(chain) != Some(info.nettype.as_str()) {
            return Err(self.counted(MoneroRpcError::WrongNetwork {
                url: self.inner.url.clone(),
                expected: chain,
                got: info.nettype,
            }));
        }
        if !info.synchronized || info.busy_syncing {
            let detail = if info.target_height > info.height {
                format!("height {} of {}", info.height, info.target_height)
            } else {
                format!(
                    "height {}, synchronized {}, busy_syncing {}",
                    info.height, info.synchronized, info.busy_syncing
                )
            };
            return Err(self.counted(MoneroRpcError::NotSynced {
                url: self.inner.url.clone(),
                detail,
            }));
        }
        Ok(info)
    }
}

/// What [`probe`] learnt about monerod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonerodInfo {
    /// The RPC version (`get_version`), at least [`MIN_RPC_VERSION`].
    pub rpc_version: u32,
    pub info: GetInfo,
    pub miner_data: MinerData,
}

/// The node's check of monerod at start: the RPC version is at least [`MIN_RPC_VERSION`]
/// ([`MoneroRpcError::TooOld`]), monerod is on `chain`'s network
/// ([`MoneroRpcError::WrongNetwork`]) and synchronised ([`MoneroRpcError::NotSynced`]), and
/// it serves `get_miner_data` ([`MoneroRpcError::Restricted`] where it does not). Logs what
/// monerod is. A restricted RPC port passes: monerod serves the mining calls there.
pub async fn probe(rpc: &MoneroRpc, chain: Chain) -> Result<MonerodInfo, MoneroRpcError> {
    let version = rpc.get_version().await?.version;
    if version < MIN_RPC_VERSION {
        return Err(rpc.counted(MoneroRpcError::TooOld { version }));
    }
    let info = rpc.check_network(chain).await?;
    let miner_data = rpc.get_miner_data().await?;
    info!(
        "monerod at {}: {} (RPC {}.{}), nettype {} for {chain}, height {}, top block {}{}",
        rpc.url(),
        if info.version.is_empty() {
            "version hidden"
        } else {
            info.version.as_str()
        },
        version >> 16,
        version & 0xffff,
        info.nettype,
        info.height,
        hex::encode(info.top_block_hash),
        if info.restricted {
            ", restricted RPC port"
        } else {
            ""
        }
    );
    if version >> 16 > MIN_RPC_VERSION >> 16 {
        warn!(
            "monerod at {} has RPC major version {}, newer than the {} Otedama was written for: \
             if templates fail, check for an Otedama update",
            rpc.url(),
            version >> 16,
            MIN_RPC_VERSION >> 16
        );
    }
    Ok(MonerodInfo {
        rpc_version: version,
        info,
        miner_data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn urls() {
        for ok in [
            "http://127.0.0.1:18081",
            "127.0.0.1:18081",
            "http://127.0.0.1:18081/",
            "http://127.0.0.1:18081/json_rpc",
            "http://[::1]:18081",
        ] {
            let rpc = MoneroRpc::new(MoneroRpcConfig::new(ok)).unwrap_or_else(|e| panic!("{e}"));
            assert!(rpc.url().ends_with(":18081/json_rpc"), "{}", rpc.url());
        }
        for bad in [
            "https://127.0.0.1:18081",
            "http://127.0.0.1",
            "http://u:p@127.0.0.1:1",
            "http://127.0.0.1:18081/other",
        ] {
            assert!(
                matches!(
                    MoneroRpc::new(MoneroRpcConfig::new(bad)),
                    Err(MoneroRpcError::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_minimum_version_is_rpc_3_8() {
        assert_eq!(MIN_RPC_VERSION, 196_616);
        // Debian's monerod v0.18.0.0 answers 196618: RPC 3.10.
        assert_eq!(rpc_version(3, 10), 196_618);
        let e = MoneroRpcError::TooOld {
            version: rpc_version(3, 5),
        };
        assert!(e.to_string().contains("3.5 is too old"), "{e}");
        assert!(e.to_string().contains("RPC 3.8"), "{e}");
    }

    #[test]
    fn messages_name_the_fix() {
        let e = MoneroRpcError::WrongNetwork {
            url: "http://127.0.0.1:1/json_rpc".into(),
            expected: Chain::Monero,
            got: "fakechain".into(),
        };
        let text = e.to_string();
        assert!(
            text.contains("\"mainnet\"") && text.contains("\"fakechain\""),
            "{text}"
        );
        let e = MoneroRpcError::Unreachable {
            url: "http://127.0.0.1:18081/json_rpc".into(),
            port: 18081,
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert!(e.to_string().contains("--rpc-bind-port 18081"), "{e}");
        for chain in Chain::ALL {
            assert_eq!(
                monerod_nettype(chain).is_some(),
                chain.monero_params().is_some()
            );
        }
    }

    /// A one-method stand-in for monerod: answers every request with `reply` (a JSON-RPC
    /// body), HTTP 200, keep-alive.
    async fn fake_monerod(reply: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        if buf.len() < end + 4 + len {
                            continue;
                        }
                        buf.drain(..end + 4 + len);
                        let response = format!(
                            "HTTP/1.1 200 Ok\r\nContent-Type: application/json\r\n\
                             Content-Length: {}\r\n\r\n{reply}",
                            reply.len()
                        );
                        if stream.write_all(response.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn an_old_monerod_is_too_old() {
        // monerod v0.17.2.3: RPC 3.5, no get_miner_data.
        let url = fake_monerod(
            r#"{"id":"0","jsonrpc":"2.0","result":{"release":true,"status":"OK","version":196613}}"#,
        )
        .await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        let e = probe(&rpc, Chain::MoneroRegtest).await.unwrap_err();
        assert!(
            matches!(e, MoneroRpcError::TooOld { version: 196_613 }),
            "{e}"
        );
        assert_eq!(rpc.stats().errors("too_old"), 1);
        assert_eq!(rpc.stats().calls("get_version"), 1);
    }

    #[tokio::test]
    async fn method_not_found_is_restricted_and_core_busy_is_not_synced() {
        let url = fake_monerod(
            r#"{"error":{"code":-32601,"message":"Method not found"},"id":"0","jsonrpc":"2.0"}"#,
        )
        .await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        let e = rpc.get_miner_data().await.unwrap_err();
        assert!(
            matches!(&e, MoneroRpcError::Restricted { method, .. } if method == "get_miner_data"),
            "{e}"
        );
        assert!(e.to_string().contains("drop --restricted-rpc"), "{e}");

        let url = fake_monerod(
            r#"{"error":{"code":-9,"message":"Core is busy"},"id":"0","jsonrpc":"2.0"}"#,
        )
        .await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        let e = rpc.get_block_template("x", 0).await.unwrap_err();
        assert!(matches!(e, MoneroRpcError::NotSynced { .. }), "{e}");
        // A rejection code outside submit_block is a plain RPC error.
        let url = fake_monerod(
            r#"{"error":{"code":-7,"message":"Block not accepted"},"id":"0","jsonrpc":"2.0"}"#,
        )
        .await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        let e = rpc.submit_block("00").await.unwrap_err();
        assert!(e.is_rejection(), "{e}");
        assert!(matches!(
            rpc.get_info().await,
            Err(MoneroRpcError::Rpc { code: -7, .. })
        ));
        let text = rpc.stats().render_prometheus("otedama");
        assert!(
            text.contains("otedama_monerod_rpc_errors_total{kind=\"rejected\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("otedama_monerod_rpc_calls_total{method=\"submit_block\"} 1\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn busy_status_and_odd_replies() {
        let url = fake_monerod(r#"{"id":"0","jsonrpc":"2.0","result":{"status":"BUSY"}}"#).await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        assert!(matches!(
            rpc.submit_block("00").await,
            Err(MoneroRpcError::NotSynced { .. })
        ));
        // The result lacks get_info's fields: a protocol error, not a panic.
        assert!(matches!(
            rpc.get_info().await,
            Err(MoneroRpcError::Protocol(_))
        ));
        let url = fake_monerod("not json").await;
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(url)).unwrap();
        assert!(matches!(
            rpc.get_version().await,
            Err(MoneroRpcError::Protocol(_))
        ));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let rpc = MoneroRpc::new(MoneroRpcConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
        let e = rpc.get_info().await.unwrap_err();
        assert!(matches!(e, MoneroRpcError::Unreachable { .. }), "{e}");
        assert!(
            e.to_string().contains(&format!("--rpc-bind-port {port}")),
            "{e}"
        );
        assert_eq!(rpc.stats().errors("unreachable"), 1);
        assert_eq!(rpc.stats().latency_count(), 1);
    }
}
