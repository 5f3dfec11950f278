//! Helpers for end-to-end tests with real full nodes (those tests arrive with the mining issue).
//!
//! * [`litecoind`]: regtest Litecoin Core daemons and a blocking JSON-RPC client for them.
//! * [`mempool`]: several blocks' worth of standard transactions for a mainnet-like mempool.

pub mod litecoind;
pub mod mempool;
pub mod node;
