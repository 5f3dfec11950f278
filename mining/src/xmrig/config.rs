//! Configuration of the xmrig-dialect server.

use crate::stratum::guard::{
    DEFAULT_BAN_DURATION, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_PAYOUTS,
};
use crate::stratum::VardiffConfig;
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::MoneroParams;
use otedama_consensus::{Chain, PayoutScript};
use std::net::SocketAddr;
use std::time::Duration;

/// Everything the xmrig-dialect server needs to know. [`XmrigConfig::new`] fills in the
/// defaults. Difficulties are Monero's: difficulty `d` is about `d` RandomX hashes per submit.
#[derive(Clone, Debug)]
pub struct XmrigConfig {
    /// Address to listen on (port 0: any free port, see [`super::XmrigServer::local_addr`]).
    pub listen: SocketAddr,
    /// The Monero chain (`Monero`, `MoneroStagenet` or `MoneroRegtest`): which addresses are
    /// wallets in a login.
    pub chain: Chain,
    /// Who is paid when the login is not a wallet of this chain (`--payout-address`): a payee
    /// encoding (`Payee::to_bytes`).
    pub default_payout: PayoutScript,
    /// Connections served at once; more are accepted and closed at once [default: 20,000].
    pub max_connections: usize,
    /// Connections one address (IPv4 address, IPv6 /64) may hold at once [default: 256].
    pub max_connections_per_ip: usize,
    /// How long an address is banned when one of its connections runs out its bad-submit
    /// score; zero closes such connections without banning anyone [default: 600 s].
    pub ban_duration: Duration,
    /// Distinct payout wallets (other than `default_payout`) served at once [default: 512].
    pub max_payouts: usize,
    /// Longest request line in bytes; a longer one closes the connection [default: 16 KiB].
    pub max_line_bytes: usize,
    /// Requests per second and connection (token bucket of this size refilled at this rate);
    /// a connection over it `10 x` this many times is closed [default: 100].
    pub max_requests_per_sec: u32,
    /// A connection not logged in this long after connecting is closed [default: 30 s].
    pub login_timeout: Duration,
    /// A connection that sends nothing for this long is closed [default: 600 s; xmrig sends a
    /// `keepalived` every 60 s].
    pub idle_timeout: Duration,
    /// Difficulty of a new connection without `+DIFF` [default: 10,000: a 1 kH/s rig submits
    /// every 10 s; vardiff moves it by up to 4x per retarget].
    pub initial_difficulty: u64,
    /// Lowest difficulty vardiff and `+DIFF` may set [default: 1,000]. Checking a submit costs
    /// the node one light-mode RandomX hash (~15-50 ms of a core, many fast-mode hashes), so a
    /// rig may not ask for a submit on every hash. The share difficulty of the current job is
    /// always the highest: a rig's target is never harder than the share target.
    pub min_difficulty: u64,
    /// Vardiff [default: the Bitcoin server's, aiming at one submit per 10 s].
    pub vardiff: VardiffConfig,
    /// Messages queued for one connection; a connection whose queue fills is closed
    /// [default: 64].
    pub outbound_queue: usize,
    /// Submits of one connection being hashed at once; further submits wait (the connection
    /// is not read meanwhile) [default: 4].
    pub max_hashing_per_connection: usize,
    /// RandomX checks running at once over all connections, each on a blocking thread with a
    /// 2 MiB machine [default: the available parallelism].
    pub hash_threads: usize,
}

impl XmrigConfig {
    /// Connections served at once unless configured (as the Bitcoin server).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

    /// A configuration with every default.
    pub fn new(listen: SocketAddr, chain: Chain, default_payout: PayoutScript) -> XmrigConfig {
        XmrigConfig {
            listen,
            chain,
            default_payout,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            ban_duration: DEFAULT_BAN_DURATION,
            max_payouts: DEFAULT_MAX_PAYOUTS,
            max_line_bytes: 16 * 1024,
            max_requests_per_sec: 100,
            login_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            initial_difficulty: 10_000,
            min_difficulty: 1_000,
            vardiff: VardiffConfig {
                target_submit_interval: Duration::from_secs(10),
                ..VardiffConfig::default()
            },
            outbound_queue: 64,
            max_hashing_per_connection: 4,
            hash_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The Monero parameters of `chain`; an error for another family.
    pub fn params(&self) -> Result<&'static MoneroParams, String> {
        self.chain
            .monero_params()
            .ok_or_else(|| format!("{} is not a Monero chain", self.chain))
    }

    /// Checks that the values are usable.
    pub fn check(&self) -> Result<(), String> {
        self.params()?;
        Payee::from_bytes(self.default_payout.as_bytes())
            .map_err(|e| format!("the default payout is not a Monero payee: {e}"))?;
        if self.max_connections == 0 || self.max_line_bytes < 256 || self.outbound_queue == 0 {
            return Err("max_connections, max_line_bytes and outbound_queue must be > 0".into());
        }
        // Connections are told apart by a 4-byte extra nonce.
        if self.max_connections as u64 > u32::MAX as u64 {
            return Err("max_connections must be below 2^32".into());
        }
        if self.max_connections_per_ip == 0 || self.max_requests_per_sec == 0 {
            return Err("max_connections_per_ip and max_requests_per_sec must be > 0".into());
        }
        if self.max_hashing_per_connection == 0 || self.hash_threads == 0 {
            return Err("max_hashing_per_connection and hash_threads must be > 0".into());
        }
        if self.initial_difficulty == 0 || self.min_difficulty == 0 {
            return Err("difficulties must be > 0".into());
        }
        let v = &self.vardiff;
        if v.enabled
            && (v.target_submit_interval.is_zero()
                || v.retarget_interval.is_zero()
                || v.retarget_submits == 0
                || !(v.max_step.is_finite() && v.max_step > 1.0))
        {
            return Err("vardiff intervals must be > 0 and max_step > 1".into());
        }
        Ok(())
    }
}
