//! Client side of the otedama-node API, used by `otedama-cli` (the API itself arrives in a later issue).

/// Address `otedama-cli` talks to when `--rpc` is not given.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:9332";
