//! Configuration of the Stratum server.

use super::difficulty::default_diff_multiplier;
use super::guard::{DEFAULT_BAN_DURATION, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_PAYOUTS};
use otedama_consensus::chain::BitcoinFamilyParams;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::PayoutScript;
use std::net::SocketAddr;
use std::time::Duration;

/// BIP 310 version bits miners may roll: bits 13..=28, the BIP 320 general-purpose range.
pub const DEFAULT_VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// Variable difficulty: keeps each connection near one accepted submit per
/// `target_submit_interval`.
#[derive(Clone, Debug, PartialEq)]
pub struct VardiffConfig {
    /// Off: a connection keeps its initial (or suggested) difficulty.
    pub enabled: bool,
    /// Wanted time between accepted submits of one connection [default: 15 s].
    pub target_submit_interval: Duration,
    /// A retarget happens after this long [default: 30 s]...
    pub retarget_interval: Duration,
    /// ...or after this many accepted submits, whichever comes first [default: 6].
    pub retarget_submits: u32,
    /// Largest change of one retarget, up or down [default: 4.0].
    pub max_step: f64,
}

impl Default for VardiffConfig {
    fn default() -> Self {
        VardiffConfig {
            enabled: true,
            target_submit_interval: Duration::from_secs(15),
            retarget_interval: Duration::from_secs(30),
            retarget_submits: 6,
            max_step: 4.0,
        }
    }
}

/// Everything the Stratum server needs to know. [`StratumConfig::new`] fills in the defaults.
///
/// Difficulty units: a Stratum difficulty `d` means the target `DIFF1 * diff_multiplier / d`,
/// where `DIFF1 = 0x00000000ffff0000...0000` (Bitcoin's difficulty-1 target, compact
/// `0x1d00ffff`). The multiplier is 1 for SHA256d and 65536 for scrypt, as cgminer, bfgminer and
/// every scrypt pool count, so difficulty 1 is about 2^32 hashes on Bitcoin and 2^16 on Litecoin.
#[derive(Clone, Debug)]
pub struct StratumConfig {
    /// Address to listen on (port 0: any free port, see [`super::StratumServer::local_addr`]).
    pub listen: SocketAddr,
    /// Connections served at once; more are accepted and closed at once [default: 20,000].
    pub max_connections: usize,
    /// Connections one address (IPv4 address, IPv6 /64) may hold at once; more are accepted and
    /// closed at once [default: 256, `guard::DEFAULT_MAX_CONNECTIONS_PER_IP`, which says why].
    pub max_connections_per_ip: usize,
    /// How long an address is banned when one of its connections runs out its bad-submit
    /// score; zero closes such connections without banning anyone [default: 600 s].
    pub ban_duration: Duration,
    /// Distinct payout addresses (other than `default_payout`) served at once; beyond it a new
    /// address gets error 24 [default: 512, `guard::DEFAULT_MAX_PAYOUTS`, which says why].
    pub max_payouts: usize,
    /// Longest request line in bytes; a longer one closes the connection [default: 16 KiB].
    pub max_line_bytes: usize,
    /// Requests (of any method, submits included) per second and connection, as a token bucket
    /// of this size refilled at this rate; requests over it get error 20, and a connection that
    /// goes over it `10 x max_submits_per_sec` times is closed [default: 100].
    pub max_submits_per_sec: u32,
    /// A connection not subscribed and authorized this long after connecting is closed
    /// [default: 30 s].
    pub auth_timeout: Duration,
    /// A connection that sends nothing for this long is closed [default: 600 s].
    pub idle_timeout: Duration,
    /// Bytes of extranonce1, unique per connection [default: 4; 2..=8].
    pub extranonce1_size: usize,
    /// Bytes of extranonce2, rolled by the miner [default: 8; 1..=8]. Jobs must reserve
    /// `extranonce1_size + extranonce2_size` bytes (`StratumCoinbase::extranonce_len`).
    pub extranonce2_size: usize,
    /// Difficulty of a new connection, in Stratum units [default: 1024].
    pub initial_difficulty: f64,
    /// Lowest difficulty vardiff and `mining.suggest_difficulty` may set [default: 0.001]. The
    /// share difficulty of the current job is always the highest: a connection's target never
    /// gets harder than the share target, so every share is submitted.
    pub min_difficulty: f64,
    pub vardiff: VardiffConfig,
    /// Version bits granted by `mining.configure` (BIP 310) [default: `0x1fffe000`].
    pub version_rolling_mask: u32,
    /// Proof-of-work function of the parent chain [default: the chain's].
    pub pow: PowAlgo,
    /// See the type's documentation [default: 1 for SHA256d, 65536 for scrypt].
    pub diff_multiplier: u64,
    /// Parent chain, for parsing payout addresses in usernames.
    pub chain: &'static BitcoinFamilyParams,
    /// Who is paid when the username is not an address of this chain (`--payout-address`).
    pub default_payout: PayoutScript,
    /// Messages queued for one connection; a connection whose queue fills is closed, so a
    /// client that does not read cannot grow the server's memory [default: 64].
    pub outbound_queue: usize,
    /// Furthest a submitted `ntime` may be ahead of the server's clock [default: 7200 s, the
    /// parent chain's own limit].
    pub max_ntime_ahead: Duration,
}

impl StratumConfig {
    /// Connections served at once unless configured: a large farm on one node, each rig one
    /// connection and one file descriptor (the node raises its open-file limit to match).
    pub const DEFAULT_MAX_CONNECTIONS: usize = 20_000;

    /// A configuration with every default.
    pub fn new(
        listen: SocketAddr,
        chain: &'static BitcoinFamilyParams,
        default_payout: PayoutScript,
    ) -> StratumConfig {
        StratumConfig {
            listen,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            ban_duration: DEFAULT_BAN_DURATION,
            max_payouts: DEFAULT_MAX_PAYOUTS,
            max_line_bytes: 16 * 1024,
            max_submits_per_sec: 100,
            auth_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(600),
            extranonce1_size: 4,
            extranonce2_size: 8,
            initial_difficulty: 1024.0,
            min_difficulty: 0.001,
            vardiff: VardiffConfig::default(),
            version_rolling_mask: DEFAULT_VERSION_ROLLING_MASK,
            pow: chain.pow,
            diff_multiplier: default_diff_multiplier(chain.pow),
            chain,
            default_payout,
            outbound_queue: 64,
            max_ntime_ahead: Duration::from_secs(7200),
        }
    }

    /// Checks that the values are usable.
    pub fn check(&self) -> Result<(), String> {
        if !(2..=8).contains(&self.extranonce1_size) {
            return Err("extranonce1_size must be 2..=8 bytes".into());
        }
        if self.extranonce1_size < 8
            && (self.max_connections as u128) >= (1u128 << (8 * self.extranonce1_size))
        {
            return Err("extranonce1_size too small for max_connections".into());
        }
        if !(1..=8).contains(&self.extranonce2_size) {
            return Err("extranonce2_size must be 1..=8 bytes".into());
        }
        if self.max_connections == 0 || self.max_line_bytes < 256 || self.outbound_queue == 0 {
            return Err("max_connections, max_line_bytes and outbound_queue must be > 0".into());
        }
        if self.max_connections_per_ip == 0 {
            return Err("max_connections_per_ip must be > 0".into());
        }
        if self.max_submits_per_sec == 0 {
            return Err("max_submits_per_sec must be > 0".into());
        }
        let finite_pos = |d: f64| d.is_finite() && d > 0.0;
        if !finite_pos(self.initial_difficulty) || !finite_pos(self.min_difficulty) {
            return Err("difficulties must be positive and finite".into());
        }
        if self.diff_multiplier == 0 {
            return Err("diff_multiplier must be > 0".into());
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
