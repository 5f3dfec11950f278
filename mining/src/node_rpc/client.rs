//! A JSON-RPC 1.0 client for Bitcoin Core and Litecoin Core (the Bitcoin Core dialect), over
//! the workspace's HTTP/1.1 client ([`otedama_http::HttpClient`]): connections are kept open
//! and reused (keep-alive), HTTP basic auth (user and password, or the node's cookie file, read
//! again at every request so that a restarted node's new cookie is picked up).
//!
//! Why keep-alive: the template source polls the node every few seconds and the submitter,
//! probe and statistics call it too; a TCP handshake (and a `TIME_WAIT` socket) per call is
//! pure overhead on the path that delivers a found block. Core's HTTP server keeps connections
//! open between requests (until `-rpcservertimeout`).

use bitcoin::BlockHash;
use otedama_consensus::template::RawTemplate;
use otedama_consensus::Chain;
use otedama_http::{HttpClient, HttpError, Origin, Request, UrlError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::stats::RpcStats;

/// Largest response body read (a mainnet `getblocktemplate` is a few MB of hex).
pub const MAX_RESPONSE_BYTES: usize = 32 << 20;
/// Largest response head (status line and headers) read.
pub const MAX_HEADER_BYTES: usize = 64 << 10;
/// Request timeout of [`RpcConfig::new`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Shortest timeout of a long-polling [`NodeRpc::get_block_template`]: Core answers a long poll
/// when the tip changes, or when the mempool changed and at least a minute has passed.
pub const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(90);

/// How to authenticate to the node's RPC server.
#[derive(Clone, PartialEq, Eq)]
pub enum RpcAuth {
    /// `-rpcuser`/`-rpcpassword` or an `-rpcauth` entry.
    UserPass { user: String, pass: String },
    /// The node's cookie file (`DATADIR/[CHAIN/].cookie`, `__cookie__:PASSWORD`), written when
    /// the node starts without `-rpcpassword` and rewritten with a new password at every start.
    Cookie(PathBuf),
}

impl fmt::Debug for RpcAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RpcAuth::UserPass { user, .. } => f
                .debug_struct("UserPass")
                .field("user", user)
                .field("pass", &"<hidden>")
                .finish(),
            RpcAuth::Cookie(path) => f.debug_tuple("Cookie").field(path).finish(),
        }
    }
}

/// Where the node is and how to talk to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcConfig {
    /// `http://HOST:PORT` with an optional path (`/wallet/NAME`); plain HTTP only, as Core serves.
    pub url: String,
    pub auth: RpcAuth,
    /// Limit for one whole request (connect, send, reply); long polls use at least
    /// [`LONGPOLL_TIMEOUT`].
    pub timeout: Duration,
}

impl RpcConfig {
    /// A config with [`DEFAULT_TIMEOUT`].
    pub fn new(url: impl Into<String>, auth: RpcAuth) -> RpcConfig {
        RpcConfig {
            url: url.into(),
            auth,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Everything that can go wrong talking to the full node.
#[derive(Debug, thiserror::Error)]
pub enum NodeRpcError {
    #[error("invalid full node RPC URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error(
        "cannot connect to the full node at {url} ({source}): is it running with -server and \
         -rpcport (and -rpcbind/-rpcallowip when not on this machine)?"
    )]
    Unreachable {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the full node at {url} refused the RPC credentials (HTTP 401): check \
         --node-rpc-user/--node-rpc-password or --node-rpc-cookie"
    )]
    Auth { url: String },
    #[error(
        "cannot read the full node's RPC cookie file {} ({source}): is the node running, and \
         is this the cookie of its datadir and chain (e.g. DATADIR/regtest/.cookie)?",
        path.display()
    )]
    CookieUnreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "the full node at {url} is overloaded (HTTP 503, work queue depth exceeded): raise its \
         -rpcworkqueue/-rpcthreads or send it fewer requests"
    )]
    WorkQueueFull { url: String },
    #[error("the full node answered {method} with error {code}: {message}{}", rpc_hint(*code))]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
    #[error(
        "the full node is on the wrong chain: Otedama is configured for {expected} \
         (getblockchaininfo.chain {:?}), but the node is on {found}; point --node-rpc-url at a \
         node of that chain or change --chain",
        core_chain_name(*expected).unwrap_or("none: not a Bitcoin-family chain")
    )]
    WrongChain { expected: Chain, found: String },
    #[error("the full node at {url} did not answer {method} within {after:?}")]
    Timeout {
        url: String,
        method: String,
        after: Duration,
    },
    #[error("unexpected reply from the full node: {0}")]
    Protocol(String),
}

/// Core's `RPC_CLIENT_NOT_CONNECTED`.
pub const RPC_CLIENT_NOT_CONNECTED: i64 = -9;
/// Core's `RPC_CLIENT_IN_INITIAL_DOWNLOAD`.
pub const RPC_CLIENT_IN_INITIAL_DOWNLOAD: i64 = -10;
/// Core's `RPC_IN_WARMUP` (loading the block index after a start).
pub const RPC_IN_WARMUP: i64 = -28;

fn rpc_hint(code: i64) -> &'static str {
    match code {
        RPC_CLIENT_NOT_CONNECTED => " (the node has no peers yet: check its network/-connect)",
        RPC_CLIENT_IN_INITIAL_DOWNLOAD => " (the node is still syncing the chain: wait for it)",
        RPC_IN_WARMUP => " (the node is starting up: wait for it)",
        _ => "",
    }
}

impl NodeRpcError {
    /// The node has no peers (-9): it refuses templates, which could be stale.
    pub fn is_not_connected(&self) -> bool {
        self.rpc_code() == Some(RPC_CLIENT_NOT_CONNECTED)
    }

    /// The node is in initial block download (-10): its tip is not the chain's.
    pub fn is_initial_sync(&self) -> bool {
        self.rpc_code() == Some(RPC_CLIENT_IN_INITIAL_DOWNLOAD)
    }

    /// The node is still loading after a start (-28).
    pub fn is_warming_up(&self) -> bool {
        self.rpc_code() == Some(RPC_IN_WARMUP)
    }

    /// The JSON-RPC error code, for [`NodeRpcError::Rpc`].
    pub fn rpc_code(&self) -> Option<i64> {
        match self {
            NodeRpcError::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `getblockchaininfo`, the fields Otedama uses.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BlockchainInfo {
    /// `main`, `test`, `testnet4`, `signet` or `regtest`.
    pub chain: String,
    pub blocks: u64,
    #[serde(default)]
    pub headers: u64,
    pub initialblockdownload: bool,
    #[serde(deserialize_with = "de_block_hash")]
    pub bestblockhash: BlockHash,
    #[serde(default)]
    pub verificationprogress: f64,
}

/// `getnetworkinfo`, the fields Otedama uses.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct NetworkInfo {
    /// E.g. 210201 for Litecoin Core 0.21.2.1.
    pub version: u64,
    /// E.g. `/LitecoinCore:0.21.2.1/`.
    pub subversion: String,
    pub connections: u32,
}

fn de_block_hash<'de, D: Deserializer<'de>>(d: D) -> Result<BlockHash, D::Error> {
    let s = String::deserialize(d)?;
    BlockHash::from_str(&s).map_err(serde::de::Error::custom)
}

/// The `getblockchaininfo.chain` value of a node of `chain`; `None` for chains no Bitcoin
/// Core-style node serves (Monero's).
pub fn core_chain_name(chain: Chain) -> Option<&'static str> {
    match chain {
        Chain::Bitcoin | Chain::Litecoin => Some("main"),
        Chain::BitcoinTestnet4 => Some("testnet4"),
        Chain::BitcoinSignet => Some("signet"),
        Chain::BitcoinRegtest | Chain::LitecoinRegtest => Some("regtest"),
        Chain::LitecoinTestnet => Some("test"),
        Chain::Monero | Chain::MoneroStagenet | Chain::MoneroRegtest => None,
    }
}

/// Genesis block hashes (RPC byte order): Bitcoin and Litecoin both call their main chain
/// `main`, so the chain name alone cannot tell them apart.
const GENESIS: [(Chain, &str); 7] = [
    (
        Chain::Bitcoin,
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    ),
    (
        Chain::BitcoinTestnet4,
        "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    ),
    (
        // Every signet (the default and custom ones) shares this genesis block.
        Chain::BitcoinSignet,
        "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    ),
    (
        Chain::BitcoinRegtest,
        "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
    ),
    (
        Chain::Litecoin,
        "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2",
    ),
    (
        Chain::LitecoinTestnet,
        "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0",
    ),
    (
        Chain::LitecoinRegtest,
        "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9",
    ),
];

/// The genesis block hash of a Bitcoin-family `chain`, as RPC shows it.
pub fn genesis_hash(chain: Chain) -> Option<&'static str> {
    GENESIS.iter().find(|(c, _)| *c == chain).map(|(_, h)| *h)
}

/// The `params` of a `getblocktemplate` request for `chain`: rules `segwit`, plus `mweb` for
/// Litecoin (Litecoin Core refuses a request without it, Bitcoin Core one with it).
pub fn template_request(chain: Chain, longpollid: Option<&str>) -> Value {
    let rules: &[&str] = if chain.bitcoin_params().is_some_and(|p| p.has_mweb) {
        &["segwit", "mweb"]
    } else {
        &["segwit"]
    };
    let mut request = json!({ "rules": rules });
    if let Some(id) = longpollid {
        request["longpollid"] = Value::from(id);
    }
    json!([request])
}

/// The JSON-RPC client. Cheap to clone (clones share the connections, see [`HttpClient`] for
/// how they are pooled and reused, and the [`RpcStats`]).
#[derive(Clone, Debug)]
pub struct NodeRpc {
    inner: Arc<Inner>,
    /// Calls, errors and latency of this client and its clones, for `/metrics`.
    stats: Arc<RpcStats>,
}

#[derive(Debug)]
struct Inner {
    /// `http://HOST:PORT/PATH`, normalised.
    url: String,
    /// The node's connections (kept open and reused).
    http: HttpClient,
    auth: RpcAuth,
    timeout: Duration,
    next_id: AtomicU64,
}

/// Parses the node's URL (see [`Origin::parse`]), with reasons that name Otedama's flags.
fn parse_url(url: &str) -> Result<Origin, NodeRpcError> {
    Origin::parse(url).map_err(|e| NodeRpcError::InvalidUrl {
        url: url.to_owned(),
        reason: match e {
            UrlError::UnsupportedScheme(_) => {
                "only http:// is supported (Core's RPC server speaks plain HTTP; use an SSH \
                 tunnel for a remote node)"
            }
            UrlError::Credentials => {
                "put credentials in --node-rpc-user/--node-rpc-password, not in the URL"
            }
            UrlError::UnclosedBracket => "unclosed '[' in the host",
            UrlError::MissingPort => "missing port (e.g. http://127.0.0.1:9332)",
            UrlError::MissingHost => "missing host",
            UrlError::BadPort => "the port is not a number from 1 to 65535",
            UrlError::BadPath => "the path contains spaces or control characters",
        }
        .to_owned(),
    })
}

#[derive(Deserialize)]
struct RpcErrorObject {
    code: i64,
    message: String,
}

#[derive(Deserialize)]
struct Reply<T> {
    #[serde(default = "Option::default")]
    result: Option<T>,
    #[serde(default)]
    error: Option<RpcErrorObject>,
    #[serde(default)]
    id: Value,
}

/// Whether a call is a long poll: `getblocktemplate` with a `longpollid` in its request
/// object (as [`template_request`] makes it), which the node holds open until there is new
/// work. See [`RpcStats`] for why long polls stay out of the latency histogram.
fn is_long_poll(method: &str, params: &Value) -> bool {
    method == "getblocktemplate"
        && params
            .get(0)
            .and_then(|request| request.get("longpollid"))
            .is_some_and(|id| !id.is_null())
}

fn excerpt(body: &[u8]) -> String {
    let shown = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if body.len() > 200 {
        format!("{shown:?}...")
    } else {
        format!("{shown:?}")
    }
}

impl NodeRpc {
    /// Checks the URL; connects nothing (the first call opens a connection, later ones reuse
    /// it).
    pub fn new(config: RpcConfig) -> Result<NodeRpc, NodeRpcError> {
        let origin = parse_url(&config.url)?;
        let http = HttpClient::new(
            origin,
            otedama_http::Config {
                max_head_bytes: MAX_HEADER_BYTES,
                max_body_bytes: MAX_RESPONSE_BYTES,
                ..otedama_http::Config::default()
            },
        );
        Ok(NodeRpc {
            inner: Arc::new(Inner {
                url: http.origin().url(),
                http,
                auth: config.auth,
                timeout: config.timeout,
                next_id: AtomicU64::new(1),
            }),
            stats: Arc::new(RpcStats::new()),
        })
    }

    /// TCP connections opened to the node so far by this client and its clones: with
    /// keep-alive, one per idle spell or concurrent call, not one per call.
    pub fn connections_opened(&self) -> u64 {
        self.inner.http.connections_opened()
    }

    /// Call, error and latency statistics of this client and its clones (see [`RpcStats`];
    /// [`RpcStats::render_prometheus`] for `/metrics`).
    pub fn stats(&self) -> &RpcStats {
        &self.stats
    }

    /// Counts `error` in the statistics and returns it, for errors that arise outside
    /// [`NodeRpc::call_with_timeout`] (which counts its own).
    fn counted(&self, error: NodeRpcError) -> NodeRpcError {
        self.stats.record_error(&error);
        error
    }

    /// The node's URL, normalised (`http://HOST:PORT/PATH`).
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The request timeout from the config.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Calls `method` with the config's timeout.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, NodeRpcError> {
        self.call_with_timeout(method, params, Some(self.inner.timeout))
            .await
    }

    /// Calls `method`; `timeout: None` waits as long as the node takes (for long polls that
    /// are abandoned by other means).
    ///
    /// Every call is recorded in [`NodeRpc::stats`]: counted by method when sent, its error
    /// (if any) by kind, and its latency, except for long polls (`getblocktemplate` with a
    /// `longpollid`; see [`RpcStats`]) and calls whose future is dropped before they finish.
    pub async fn call_with_timeout<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<T, NodeRpcError> {
        let long_poll = is_long_poll(method, &params);
        self.stats.record_call(method);
        let started = Instant::now();
        let result = self.call_unrecorded(method, params, timeout).await;
        if !long_poll {
            self.stats.record_latency(started.elapsed());
        }
        if let Err(e) = &result {
            self.stats.record_error(e);
        }
        result
    }

    /// [`NodeRpc::call_with_timeout`] without the statistics.
    async fn call_unrecorded<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
        timeout: Option<Duration>,
    ) -> Result<T, NodeRpcError> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let body =
            json!({"jsonrpc": "1.0", "id": id, "method": method, "params": params}).to_string();
        let (status, body) = self.exchange(method, body, timeout).await?;
        let url = || self.inner.url.clone();
        match status {
            401 => return Err(NodeRpcError::Auth { url: url() }),
            403 => {
                return Err(NodeRpcError::Protocol(format!(
                    "HTTP 403 from {}: the node does not accept RPC from this address; check its \
                     -rpcallowip",
                    url()
                )))
            }
            503 => return Err(NodeRpcError::WorkQueueFull { url: url() }),
            _ => {}
        }
        let reply: Reply<T> = match serde_json::from_slice(&body) {
            Ok(reply) => reply,
            Err(e) => {
                // A JSON-RPC error reply with a result of an unexpected type still has its error.
                if let Ok(Reply::<Value> {
                    error: Some(err), ..
                }) = serde_json::from_slice(&body)
                {
                    return Err(NodeRpcError::Rpc {
                        method: method.to_owned(),
                        code: err.code,
                        message: err.message,
                    });
                }
                return Err(NodeRpcError::Protocol(if status == 200 {
                    format!("{method}: reply does not parse ({e}): {}", excerpt(&body))
                } else {
                    format!("{method}: HTTP {status}: {}", excerpt(&body))
                }));
            }
        };
        if let Some(err) = reply.error {
            return Err(NodeRpcError::Rpc {
                method: method.to_owned(),
                code: err.code,
                message: err.message,
            });
        }
        if status != 200 {
            return Err(NodeRpcError::Protocol(format!(
                "{method}: HTTP {status} without a JSON-RPC error: {}",
                excerpt(&body)
            )));
        }
        if !(reply.id.is_null() || reply.id == id) {
            return Err(NodeRpcError::Protocol(format!(
                "{method}: reply id {} does not match request id {id}",
                reply.id
            )));
        }
        match reply.result {
            Some(result) => Ok(result),
            // `null` (or no result at all): fine when `T` accepts null (`Option`, `Value`, `()`).
            None => T::deserialize(Value::Null).map_err(|e| {
                NodeRpcError::Protocol(format!("{method}: null result where a value is due ({e})"))
            }),
        }
    }

    /// `USER:PASSWORD` for the basic auth header; the cookie file is read at every call.
    fn credentials(&self) -> Result<String, NodeRpcError> {
        match &self.inner.auth {
            RpcAuth::UserPass { user, pass } => Ok(format!("{user}:{pass}")),
            RpcAuth::Cookie(path) => {
                let cookie = std::fs::read_to_string(path).map_err(|source| {
                    NodeRpcError::CookieUnreadable {
                        path: path.clone(),
                        source,
                    }
                })?;
                let cookie = cookie.trim();
                if !cookie.contains(':') {
                    return Err(NodeRpcError::CookieUnreadable {
                        path: path.clone(),
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            "not USER:PASSWORD (expected __cookie__:...)",
                        ),
                    });
                }
                Ok(cookie.to_owned())
            }
        }
    }

    /// Sends one POST (on a kept connection when there is one) and reads the response, all
    /// within `timeout`.
    async fn exchange(
        &self,
        method: &str,
        body: String,
        timeout: Option<Duration>,
    ) -> Result<(u16, Vec<u8>), NodeRpcError> {
        let inner = &*self.inner;
        let request = Request::post(body)
            .header("Content-Type", "application/json")
            .basic_auth(&self.credentials()?)
            .timeout(timeout);
        match inner.http.send(&request).await {
            Ok(response) => Ok((response.status, response.body)),
            Err(HttpError::Connect(source) | HttpError::Io(source)) => {
                Err(NodeRpcError::Unreachable {
                    url: inner.url.clone(),
                    source,
                })
            }
            Err(HttpError::Timeout(after)) => Err(NodeRpcError::Timeout {
                url: inner.url.clone(),
                method: method.to_owned(),
                after,
            }),
            Err(e) => Err(NodeRpcError::Protocol(format!("{}: {e}", inner.url))),
        }
    }

    /// `getblocktemplate` for `chain` (see [`template_request`]). With a `longpollid` (from the
    /// previous template) the node answers only once the tip changes, or the mempool changed
    /// and a minute has passed; the timeout is then at least [`LONGPOLL_TIMEOUT`].
    ///
    /// Core keeps serving an abandoned long poll (one RPC thread each) until the tip changes;
    /// [`TemplateSource`](super::source) therefore long-polls without this timeout.
    pub async fn get_block_template(
        &self,
        chain: Chain,
        longpollid: Option<&str>,
    ) -> Result<RawTemplate, NodeRpcError> {
        let timeout = match longpollid {
            Some(_) => self.inner.timeout.max(LONGPOLL_TIMEOUT),
            None => self.inner.timeout,
        };
        self.call_with_timeout(
            "getblocktemplate",
            template_request(chain, longpollid),
            Some(timeout),
        )
        .await
    }

    /// `submitblock`: `Ok(None)` when the node accepted the block, `Ok(Some(reason))` when it
    /// did not (BIP22: e.g. `duplicate`, `inconclusive`, `bad-cb-amount`, `high-hash`).
    pub async fn submit_block(&self, block_hex: &str) -> Result<Option<String>, NodeRpcError> {
        self.call("submitblock", json!([block_hex])).await
    }

    pub async fn get_blockchain_info(&self) -> Result<BlockchainInfo, NodeRpcError> {
        self.call("getblockchaininfo", json!([])).await
    }

    pub async fn get_network_info(&self) -> Result<NetworkInfo, NodeRpcError> {
        self.call("getnetworkinfo", json!([])).await
    }

    pub async fn get_best_block_hash(&self) -> Result<BlockHash, NodeRpcError> {
        let s: String = self.call("getbestblockhash", json!([])).await?;
        BlockHash::from_str(&s).map_err(|e| {
            self.counted(NodeRpcError::Protocol(format!(
                "getbestblockhash: {s:?}: {e}"
            )))
        })
    }

    pub async fn get_block_hash(&self, height: u64) -> Result<BlockHash, NodeRpcError> {
        let s: String = self.call("getblockhash", json!([height])).await?;
        BlockHash::from_str(&s)
            .map_err(|e| self.counted(NodeRpcError::Protocol(format!("getblockhash: {s:?}: {e}"))))
    }

    /// Checks that the node is on `chain`: `getblockchaininfo.chain` (see [`core_chain_name`])
    /// and the genesis block (Bitcoin and Litecoin both say `main`). Returns the chain info.
    pub async fn check_chain(&self, chain: Chain) -> Result<BlockchainInfo, NodeRpcError> {
        let info = self.get_blockchain_info().await?;
        if core_chain_name(chain) != Some(info.chain.as_str()) {
            return Err(self.counted(NodeRpcError::WrongChain {
                expected: chain,
                found: format!("chain {:?}", info.chain),
            }));
        }
        let genesis = self.get_block_hash(0).await?.to_string();
        if genesis_hash(chain) != Some(genesis.as_str()) {
            let known = GENESIS
                .iter()
                .find(|(_, h)| *h == genesis)
                .map(|(c, _)| format!(" ({c})"))
                .unwrap_or_default();
            return Err(self.counted(NodeRpcError::WrongChain {
                expected: chain,
                found: format!("chain {:?} with genesis block {genesis}{known}", info.chain),
            }));
        }
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let ok = |u: &str| parse_url(u).unwrap_or_else(|e| panic!("{u}: {e}"));
        let origin = ok("http://127.0.0.1:9332");
        assert_eq!(
            (
                origin.host(),
                origin.port(),
                origin.authority(),
                origin.path()
            ),
            ("127.0.0.1", 9332, "127.0.0.1:9332", "/")
        );
        assert_eq!(ok("localhost:8332/").port(), 8332);
        assert_eq!(ok("HTTP://node:1/wallet/w").path(), "/wallet/w");
        assert_eq!(ok("http://[::1]:18443").host(), "::1");
        for bad in [
            "https://127.0.0.1:9332",
            "http://127.0.0.1",
            "http://u:p@127.0.0.1:1",
            "http://:1",
            "http://h:0",
            "http://h:65536",
            "http://[::1:5",
        ] {
            assert!(
                matches!(parse_url(bad), Err(NodeRpcError::InvalidUrl { .. })),
                "{bad}"
            );
        }
        let e = parse_url("http://u:p@127.0.0.1:1").unwrap_err().to_string();
        assert!(e.contains("--node-rpc-user"), "{e}");
    }

    #[test]
    fn long_polls_are_recognised() {
        let chain = Chain::LitecoinRegtest;
        assert!(is_long_poll(
            "getblocktemplate",
            &template_request(chain, Some("abc"))
        ));
        assert!(!is_long_poll(
            "getblocktemplate",
            &template_request(chain, None)
        ));
        assert!(!is_long_poll(
            "getblocktemplate",
            &json!([{"rules": ["segwit"], "longpollid": null}])
        ));
        assert!(!is_long_poll("getblocktemplate", &json!([])));
        assert!(!is_long_poll(
            "submitblock",
            &json!([{"longpollid": "abc"}])
        ));
    }

    #[tokio::test]
    async fn calls_are_recorded_with_their_errors_and_latency() {
        // A port nothing listens on: bind, read the port, close.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let rpc = NodeRpc::new(RpcConfig::new(
            format!("http://127.0.0.1:{port}"),
            RpcAuth::UserPass {
                user: "u".into(),
                pass: "p".into(),
            },
        ))
        .unwrap();
        let clone = rpc.clone();
        assert!(matches!(
            rpc.get_blockchain_info().await,
            Err(NodeRpcError::Unreachable { .. })
        ));
        assert!(matches!(
            clone
                .get_block_template(Chain::LitecoinRegtest, Some("abc"))
                .await,
            Err(NodeRpcError::Unreachable { .. })
        ));
        assert!(clone
            .call::<Value>("getblockcount", json!([]))
            .await
            .is_err());
        // Clones share one set of statistics.
        for stats in [rpc.stats(), clone.stats()] {
            assert_eq!(stats.calls("getblockchaininfo"), 1);
            assert_eq!(stats.calls("getblocktemplate"), 1);
            assert_eq!(stats.calls("other"), 1);
            assert_eq!(stats.errors("unreachable"), 3);
            assert_eq!(stats.latency_count(), 2, "the long poll is not timed");
        }
        let text = rpc.stats().render_prometheus("otedama");
        assert!(
            text.contains("\notedama_node_rpc_errors_total{kind=\"unreachable\"} 3\n"),
            "{text}"
        );

        // A missing cookie file fails before connecting, counted by its kind.
        let rpc = NodeRpc::new(RpcConfig::new(
            format!("http://127.0.0.1:{port}"),
            RpcAuth::Cookie("/nonexistent/.cookie".into()),
        ))
        .unwrap();
        assert!(rpc.get_best_block_hash().await.is_err());
        assert_eq!(rpc.stats().errors("cookie_unreadable"), 1);
        assert_eq!(rpc.stats().errors("unreachable"), 0);
        assert_eq!(rpc.stats().calls("getbestblockhash"), 1);
        assert_eq!(rpc.stats().latency_count(), 1);
    }

    #[test]
    fn template_rules_follow_the_chain() {
        assert_eq!(
            template_request(Chain::LitecoinRegtest, None),
            json!([{"rules": ["segwit", "mweb"]}])
        );
        assert_eq!(
            template_request(Chain::Bitcoin, Some("abc")),
            json!([{"rules": ["segwit"], "longpollid": "abc"}])
        );
    }

    #[test]
    fn every_chain_has_a_genesis_and_name() {
        for chain in Chain::ALL {
            let bitcoin_family = chain.bitcoin_params().is_some();
            assert_eq!(
                genesis_hash(chain).map(str::len),
                bitcoin_family.then_some(64)
            );
            assert_eq!(core_chain_name(chain).is_some(), bitcoin_family);
        }
    }

    #[test]
    fn messages_are_actionable() {
        let e = NodeRpcError::Rpc {
            method: "getblocktemplate".into(),
            code: -9,
            message: "Litecoin Core is not connected!".into(),
        };
        assert!(e.is_not_connected() && !e.is_initial_sync());
        assert!(e.to_string().contains("no peers"), "{e}");
        let e = NodeRpcError::WrongChain {
            expected: Chain::Litecoin,
            found: "chain \"regtest\"".into(),
        };
        assert!(e.to_string().contains("\"main\""), "{e}");
        let dbg = format!(
            "{:?}",
            RpcAuth::UserPass {
                user: "u".into(),
                pass: "secret".into()
            }
        );
        assert!(!dbg.contains("secret"), "{dbg}");
    }

    /// A local stand-in for Core's RPC server: HTTP/1.1 keep-alive, JSON-RPC replies with
    /// `getblockcount`'s answer, idle connections closed after `idle_close` (Core's
    /// `-rpcservertimeout`). Counts accepted connections and keeps each request's
    /// `Authorization` header.
    struct CoreLike {
        url: String,
        accepts: Arc<AtomicU64>,
        auths: Arc<std::sync::Mutex<Vec<String>>>,
    }

    impl CoreLike {
        async fn start(idle_close: Duration) -> CoreLike {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let accepts = Arc::new(AtomicU64::new(0));
            let auths = Arc::new(std::sync::Mutex::new(Vec::new()));
            let (a, h) = (accepts.clone(), auths.clone());
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    a.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(Self::serve(stream, idle_close, h.clone()));
                }
            });
            CoreLike {
                url,
                accepts,
                auths,
            }
        }

        async fn serve(
            mut stream: tokio::net::TcpStream,
            idle_close: Duration,
            auths: Arc<std::sync::Mutex<Vec<String>>>,
        ) {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut buf = Vec::new();
            loop {
                let end = loop {
                    if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break p + 4;
                    }
                    let mut chunk = [0u8; 4096];
                    match tokio::time::timeout(idle_close, stream.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        // Idle too long (or closed by the client): close, as Core does.
                        _ => return,
                    }
                };
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let header = |name: &str| {
                    head.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(|v| v.trim().to_owned())
                };
                let len: usize = header("Content-Length:").map_or(0, |v| v.parse().unwrap());
                auths
                    .lock()
                    .unwrap()
                    .push(header("Authorization:").unwrap_or_default());
                while buf.len() < end + len {
                    let mut chunk = [0u8; 4096];
                    match stream.read(&mut chunk).await {
                        Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
                let call: Value = serde_json::from_slice(&buf[end..end + len]).unwrap();
                buf.drain(..end + len);
                let reply = json!({"result": 7, "error": null, "id": call["id"]}).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{reply}",
                    reply.len()
                );
                if stream.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }

    #[tokio::test]
    async fn calls_share_one_kept_connection_and_reread_the_cookie() {
        let node = CoreLike::start(Duration::from_secs(30)).await;
        let cookie = std::env::temp_dir().join(format!(
            "otedama-node-rpc-keepalive-{}.cookie",
            std::process::id()
        ));
        std::fs::write(&cookie, "__cookie__:first\n").unwrap();
        let rpc = NodeRpc::new(RpcConfig::new(
            node.url.clone(),
            RpcAuth::Cookie(cookie.clone()),
        ))
        .unwrap();
        const CALLS: u64 = 50;
        for _ in 0..CALLS {
            let count: u64 = rpc.call("getblockcount", json!([])).await.unwrap();
            assert_eq!(count, 7);
        }
        // The node restarts with a new cookie: the next call (same connection) sends it.
        std::fs::write(&cookie, "__cookie__:second\n").unwrap();
        let _: u64 = rpc.clone().call("getblockcount", json!([])).await.unwrap();
        let _ = std::fs::remove_file(&cookie);

        assert_eq!(node.accepts.load(Ordering::SeqCst), 1, "one TCP connection");
        assert_eq!(rpc.connections_opened(), 1);
        assert_eq!(rpc.stats().calls("other"), CALLS + 1);
        let auths = node.auths.lock().unwrap();
        assert_eq!(auths.len() as u64, CALLS + 1);
        let basic = |c: &str| format!("Basic {}", otedama_http::base64(c.as_bytes()));
        assert_eq!(auths[0], basic("__cookie__:first"));
        assert_eq!(auths[CALLS as usize], basic("__cookie__:second"));
    }

    #[tokio::test]
    async fn a_node_closing_an_idle_connection_is_survived() {
        let node = CoreLike::start(Duration::from_millis(100)).await;
        let rpc = NodeRpc::new(RpcConfig::new(
            node.url.clone(),
            RpcAuth::UserPass {
                user: "u".into(),
                pass: "p".into(),
            },
        ))
        .unwrap();
        for round in 1..=3 {
            let count: u64 = rpc.call("getblockcount", json!([])).await.unwrap();
            assert_eq!(count, 7);
            let count: u64 = rpc.call("getblockcount", json!([])).await.unwrap();
            assert_eq!(count, 7);
            assert_eq!(node.accepts.load(Ordering::SeqCst), round);
            // Idle past the node's timeout: it closes the connection.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(rpc.stats().errors("unreachable"), 0);
        assert_eq!(rpc.connections_opened(), 3);
    }
}
