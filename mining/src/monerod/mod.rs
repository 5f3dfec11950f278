//! The monerod link: the Monero family's full-node client and template source, the
//! counterpart of [`node_rpc`](crate::node_rpc) for Bitcoin Core and Litecoin Core.
//!
//! * [`client`]: [`MoneroRpc`], monerod's JSON-RPC client (`get_block_template`,
//!   `submit_block`, `get_miner_data`, ...), its typed answers and statistics, and [`probe`],
//!   the node's check of monerod at start (version, network, sync).
//! * [`zmq`]: [`spawn_zmq`], the subscriber of monerod's ZMQ-pub notifications (new tip, miner
//!   data, pool additions) as typed [`ZmqEvent`]s.
//! * [`source`]: [`spawn`], the task that publishes the current [`MoneroWork`] (or `None`
//!   while monerod is away) through a watch channel.
//! * [`work`]: [`MoneroWork`], what Monero shares are built on.
//! * [`tx_menu`]: [`TxMenu`], the pool transactions a share's block carries and its exact
//!   reward.

pub mod client;
pub mod source;
pub mod tx_menu;
pub mod work;
pub mod zmq;

pub use client::{
    monerod_nettype, probe, MoneroRpc, MoneroRpcConfig, MoneroRpcError, MoneroRpcStats,
    MonerodInfo, MIN_RPC_VERSION,
};
pub use source::{
    placeholder_address, spawn, MoneroSourceStatus, MoneroTemplateSource, MoneroWorkReceiver,
    MonerodSourceConfig, Problem,
};
pub use tx_menu::{TooHeavy, TxMenu, TxSelection};
pub use work::MoneroWork;
pub use zmq::{spawn_zmq, ZmqEvent};
