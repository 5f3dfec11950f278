//! The node API: JSON-RPC 2.0 over HTTP with a Prometheus `/metrics` page and a Server-Sent
//! Events stream (`/events`), and the `otedama-cli` client.
//!
//! * [`http`]: the bounded HTTP/1.1 request reader and response writer both sides use.
//! * [`server`]: the API server, generic over what the node exposes ([`server::NodeApi`]).
//! * [`client`]: a blocking client for the CLI and tests.
//! * [`cookie`]: the cookie file that authorizes state-changing methods.
//! * [`dashboard`]: the read-only web page served on `GET /`, its files built in.
//! * [`data_dir`]: the node's default data directory, where the CLI finds the cookie.

pub mod client;
pub mod cookie;
pub mod dashboard;
pub mod data_dir;
pub mod http;
pub mod server;

/// The API's default port. 9332 (the first choice) is Litecoin Core's mainnet RPC port, so a node
/// beside litecoind could not start, and `otedama-cli` would have asked litecoind. 9334 is the
/// default of no Bitcoin, Litecoin or Monero daemon ([`DAEMON_DEFAULT_PORTS`]), nor of the
/// Otedama P2P ports.
pub const DEFAULT_API_PORT: u16 = 9334;
/// Where `otedama-node` serves its API unless `--rpc` says otherwise: loopback only.
pub const DEFAULT_RPC_ADDR: &str = "127.0.0.1:9334";
/// The same, as a URL for `otedama-cli`.
pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:9334";

/// Default ports of the daemons an Otedama node runs beside (RPC, P2P, ZMQ; mainnet, testnets,
/// regtest), which no Otedama default may take. Bitcoin Core: 8332/8333 main, 18332/18333
/// testnet3, 48332/48333 testnet4, 38332/38333 signet, 18443/18444 regtest, ZMQ 28332/28333 (the
/// documented example; Core has no ZMQ default). Litecoin Core: 9332/9333 main, 19332/19335
/// testnet, 19443/19444 regtest, ZMQ 28332/28333 by the same example. Monero: 18080/18081/18082
/// (P2P/RPC/ZMQ) main, 18083 (ZMQ pub, P2Pool's recommended) and 18089 (restricted RPC, the common
/// public-node choice), 28080-28082 testnet, 38080-38082 stagenet.
pub const DAEMON_DEFAULT_PORTS: [u16; 31] = [
    8332, 8333, 18332, 18333, 48332, 48333, 38332, 38333, 18443, 18444, 28332,
    28333, // Bitcoin
    9332, 9333, 19332, 19335, 19443, 19444, // Litecoin
    18080, 18081, 18082, 18083, 18089, 28080, 28081, 28082, 38080, 38081, 38082, // Monero
    37888, 37889, // Monero P2Pool mini and main P2P (a P2Pool may share the host)
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_default_is_one_port_free_of_every_daemon_default() {
        assert!(!DAEMON_DEFAULT_PORTS.contains(&DEFAULT_API_PORT));
        assert_eq!(DEFAULT_RPC_ADDR, format!("127.0.0.1:{DEFAULT_API_PORT}"));
        assert_eq!(DEFAULT_RPC_URL, format!("http://{DEFAULT_RPC_ADDR}"));
    }
}
