//! The Otedama node as a library: the `otedama-node` binary is a thin `main` over [`run`], and
//! the P2P protocol pieces ([`p2p::wire`], [`p2p::protocol`]) are public so that test harnesses
//! can speak them to a real node.

pub mod api;
pub mod block_submit;
pub mod chain_task;
pub mod config;
pub mod config_reference;
pub mod fault;
pub mod fd_limit;
pub mod history;
pub mod monero_front;
pub mod monero_submit;
pub mod p2p;
pub mod pool_config;
pub mod prehash;
pub mod relay_policy;
pub mod run;
mod submit_loop;
pub mod supervisor;
pub mod work_board;
