//! Helpers for end-to-end tests with real full nodes (those tests arrive with the mining issue).
//!
//! * [`litecoind`]: regtest Litecoin Core daemons and a blocking JSON-RPC client for them.
//! * [`mempool`]: several blocks' worth of standard transactions for a mainnet-like mempool.
//! * [`xmrig_rig`]: a test rig speaking the xmrig dialect of Stratum, hashing real RandomX.
//! * [`ports`]: free loopback ports, never handed out twice in one process.
//! * [`monerod`]: regtest `monerod` and `monero-wallet-rpc` processes and their JSON-RPC.

pub mod litecoind;
pub mod mempool;
pub mod monerod;
pub mod node;
pub mod ports;
pub mod xmrig_rig;
