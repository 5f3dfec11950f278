//! Helpers for end-to-end tests with real full nodes (those tests arrive with the mining issue).
//!
//! * [`litecoind`]: regtest Litecoin Core daemons and a blocking JSON-RPC client for them.
//! * [`mempool`]: several blocks' worth of standard transactions for a mainnet-like mempool.
//! * [`monerod`]: regtest `monerod` and `monero-wallet-rpc` processes and their JSON-RPC.

pub mod litecoind;
pub mod mempool;
pub mod monerod;
pub mod node;
