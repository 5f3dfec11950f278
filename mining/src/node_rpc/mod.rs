//! The full-node link: a JSON-RPC client for Bitcoin Core and Litecoin Core, and the template
//! source that keeps the current block template fresh.
//!
//! * [`client`]: [`NodeRpc`], the JSON-RPC 1.0 client (`getblocktemplate`, `submitblock`, ...).
//! * [`source`]: [`source::spawn`], the task that publishes the current [`BlockTemplate`]
//!   (or `None` while the node is away) through a watch channel.
//! * [`stats`]: [`RpcStats`], the client's call, error and latency statistics (Prometheus).
//!
//! [`BlockTemplate`]: otedama_consensus::template::BlockTemplate

pub mod client;
pub mod source;
pub mod stats;

pub use client::{
    core_chain_name, genesis_hash, template_request, BlockchainInfo, NetworkInfo, NodeRpc,
    NodeRpcError, RpcAuth, RpcConfig,
};
pub use source::{
    probe, spawn, NodeInfo, Problem, SourceStatus, TemplateReceiver, TemplateSource,
    DEFAULT_REFRESH,
};
pub use stats::RpcStats;
