//! The node API: JSON-RPC 2.0 over HTTP with a Prometheus `/metrics` page and a Server-Sent
//! Events stream (`/events`), and the `otedama-cli` client.
//!
//! * [`http`]: the bounded HTTP/1.1 request reader and response writer both sides use.
//! * [`server`]: the API server, generic over what the node exposes ([`server::NodeApi`]).
//! * [`client`]: a blocking client for the CLI and tests.
//! * [`cookie`]: the cookie file that authorizes state-changing methods.
//! * [`data_dir`]: the node's default data directory, where the CLI finds the cookie.

pub mod client;
pub mod cookie;
pub mod data_dir;
pub mod http;
pub mod server;

/// Where `otedama-node` serves its API unless `--rpc` says otherwise.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:9332";
/// The same, as a URL for `otedama-cli`.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:9332";
