//! What one simulation run is: the pool, the network, the miners and the scenario.

use otedama_consensus::{Chain, PoolParams, Preset};

/// The scenarios `otedama-simnet run --scenario` knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Constant hashrates, every node online, honest.
    Steady,
    /// Every miner's hashrate doubles at 1/3 of the run and halves back at 2/3.
    Doubling,
    /// The nodes split into two groups (60 % / 40 %) at 1/3 of the run for an hour (at most a
    /// sixth of the run); then the links come back.
    Partition,
    /// A tenth of the nodes (at least one) join at half time and sync from their peers.
    LateJoiner,
    /// One miner with `attacker_share` of the hashrate discards every share that is also a
    /// parent-chain block (block withholding) and publishes the others.
    Withholding,
    /// One miner with `attacker_share` of the hashrate mines a private sharechain branch and
    /// publishes it selectively (Eyal-Sirer selfish mining, on shares).
    Selfish,
    /// One-way latencies of 150-1200 ms (Tor, satellite, congested links).
    HighLatency,
    /// Ten miners per node with a heavy-tailed (Pareto) hashrate: most of them find a share
    /// a day or less.
    TinyMiners,
    /// The pool mines at half the share floor's rate (one floor share per two periods) for the
    /// first 7/8 of the run (a week of `--hours 192`), then its hashrate returns at ten times
    /// the floor rate: how long the share interval takes to recover (retarget anchor reset).
    FloorRecovery,
}

impl Scenario {
    pub const ALL: [Scenario; 9] = [
        Scenario::Steady,
        Scenario::Doubling,
        Scenario::Partition,
        Scenario::LateJoiner,
        Scenario::Withholding,
        Scenario::Selfish,
        Scenario::HighLatency,
        Scenario::TinyMiners,
        Scenario::FloorRecovery,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Doubling => "doubling",
            Scenario::Partition => "partition",
            Scenario::LateJoiner => "late-joiner",
            Scenario::Withholding => "withholding",
            Scenario::Selfish => "selfish",
            Scenario::HighLatency => "high-latency",
            Scenario::TinyMiners => "tiny-miners",
            Scenario::FloorRecovery => "floor-recovery",
        }
    }

    pub fn from_name(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// How miners' hashrates are drawn (then scaled so the pool total is exact).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashrateDist {
    /// Every miner the same.
    Equal,
    /// Uniform in [0.5, 1.5] x the mean.
    Uniform,
    /// Pareto with shape 1.5 (the top fifth of miners holds 55-60 % of the hashrate), capped
    /// at 100x the mean.
    Pareto,
    /// Three whales with 15 % of the pool each; the rest uniform.
    Whales,
}

impl HashrateDist {
    pub const ALL: [HashrateDist; 4] = [
        HashrateDist::Equal,
        HashrateDist::Uniform,
        HashrateDist::Pareto,
        HashrateDist::Whales,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HashrateDist::Equal => "equal",
            HashrateDist::Uniform => "uniform",
            HashrateDist::Pareto => "pareto",
            HashrateDist::Whales => "whales",
        }
    }

    pub fn from_name(s: &str) -> Option<HashrateDist> {
        HashrateDist::ALL.into_iter().find(|x| x.name() == s)
    }
}

/// One run, fully specified. [`SimConfig::new`] fills every default for a scenario.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub scenario: Scenario,
    pub nodes: usize,
    pub hours: f64,
    pub seed: u64,
    /// Name of the preset the pool parameters came from (for the report).
    pub preset: String,
    /// The pool's consensus parameters (a preset, possibly with overrides).
    pub pool: PoolParams,
    /// Peers per node (the graph is a random ring plus random links up to this degree).
    pub degree: usize,
    /// One-way link latency, uniform in this range (ms); ignored with `regions`.
    pub latency_ms: (f64, f64),
    /// Four regions with a latency matrix instead of one uniform range.
    pub regions: bool,
    /// Upload bandwidth of every node (Mbit/s); sends to peers queue behind each other.
    pub bandwidth_mbps: f64,
    /// Time to validate a share before it is accepted and relayed (ms).
    pub validation_ms: f64,
    /// Time from a node's tip change until its miners work on the new job (Stratum notify and
    /// the rig switching), ms.
    pub job_delay_ms: f64,
    /// Relay shares without their payout outputs (the receiver rebuilds them from its window;
    /// without the parent it fetches the full share from the sender): the node's default
    /// between synced peers (docs/p2p.md, "Compact relay"), so the simulator's too.
    pub compact_relay: bool,
    /// Time to rebuild a compact share's payout outputs, added to the validation delay of
    /// every compact message (ms). [`REBUILD_MS`] by default.
    pub rebuild_ms: f64,
    pub dist: HashrateDist,
    /// The pool's hashrate at the start (H/s), spread over the miners by `dist`.
    pub pool_hashrate: f64,
    pub miners_per_node: usize,
    /// Hashrate of the whole parent chain (H/s); with the chain's block interval it fixes the
    /// parent difficulty.
    pub network_hashrate: f64,
    /// Seconds between parent-chain blocks (Litecoin 150, Bitcoin 600).
    pub parent_interval_secs: f64,
    /// Parent-chain height at the start (sets the subsidy).
    pub parent_start_height: u32,
    /// Fees per parent block on top of the subsidy, in the chain's smallest unit.
    pub fees: u64,
    /// Share of the pool's hashrate of the attacker (withholding, selfish).
    pub attacker_share: f64,
    /// Peers of the selfish miner's node, as a multiple of `degree` (a well-connected attacker).
    pub attacker_degree_factor: usize,
    /// Width of a time-series bucket (s).
    pub bucket_secs: u64,
}

/// Floor recovery: the returned hashrate, in multiples of the floor rate (floor work / period).
pub const FLOOR_RECOVERY_RETURN: f64 = 10.0;
/// Floor recovery: the hashrate of the slow phase, in multiples of the floor rate.
pub const FLOOR_RECOVERY_SLOW: f64 = 0.5;

/// The pool's default share of its parent network: a decentralized pool that has grown to 5 %
/// (Monero's P2Pool has held 5-10 % of its network).
pub const DEFAULT_POOL_FRACTION: f64 = 0.05;

/// Per-chain defaults: (network hashrate, block interval, start height, fees).
fn chain_defaults(chain: Chain) -> (f64, f64, u32, u64) {
    match chain {
        // Litecoin's network ~2.5 PH/s (2025); height 2,950,000 (subsidy 6.25 LTC); fees
        // ~0.01 LTC a block.
        Chain::Litecoin | Chain::LitecoinTestnet | Chain::LitecoinRegtest => {
            (2.5e15, 150.0, 2_950_000, 1_000_000)
        }
        // Bitcoin's network ~800 EH/s; height 900,000 (subsidy 3.125 BTC); fees ~0.03 BTC a
        // block.
        Chain::Bitcoin | Chain::BitcoinTestnet4 | Chain::BitcoinSignet | Chain::BitcoinRegtest => {
            (800e18, 600.0, 900_000, 3_000_000)
        }
        // Monero's network ~5 GH/s (2025); height 3,300,000 (tail emission 0.6 XMR); fees
        // ~0.005 XMR a block.
        Chain::Monero | Chain::MoneroStagenet | Chain::MoneroRegtest => {
            (5e9, 120.0, 3_300_000, 5_000_000_000)
        }
    }
}

/// Rebuilding a compact share with 200 payout outputs from a 2160-share window of 500 scripts
/// (`share::compact::rebuild`: the window delta and split, 200 outputs, the merkle root):
/// 0.11-0.16 ms in `cargo bench -p otedama-consensus --bench contextual_validation` on the
/// project's loaded 2-core machine, rounded up.
pub const REBUILD_MS: f64 = 0.2;

impl SimConfig {
    /// Defaults for a scenario on a chain and preset: the pool at 5 % of its network, 20-300 ms
    /// links, degree 12, 10 Mbit/s, 1 ms validation, compact relay, Pareto hashrates.
    pub fn new(
        scenario: Scenario,
        nodes: usize,
        hours: f64,
        seed: u64,
        chain: Chain,
        preset: Preset,
    ) -> SimConfig {
        let (network_hashrate, interval, height, fees) = chain_defaults(chain);
        let mut c = SimConfig {
            scenario,
            nodes,
            hours,
            seed,
            preset: preset.name().to_string(),
            pool: PoolParams::preset(chain, preset),
            // The node's gossipsub mesh degree (`p2p::behaviour::MESH_N`).
            degree: 12,
            latency_ms: (20.0, 300.0),
            regions: false,
            bandwidth_mbps: 10.0,
            validation_ms: 1.0,
            job_delay_ms: 0.0,
            compact_relay: true,
            rebuild_ms: REBUILD_MS,
            dist: HashrateDist::Pareto,
            pool_hashrate: DEFAULT_POOL_FRACTION * network_hashrate,
            miners_per_node: 1,
            network_hashrate,
            parent_interval_secs: interval,
            parent_start_height: height,
            fees,
            attacker_share: 0.1,
            attacker_degree_factor: 1,
            bucket_secs: 600,
        };
        match scenario {
            Scenario::HighLatency => c.latency_ms = (150.0, 1200.0),
            Scenario::TinyMiners => c.miners_per_node = 10,
            Scenario::Selfish => {
                c.attacker_share = 0.3;
                c.attacker_degree_factor = 3;
            }
            Scenario::FloorRecovery => {
                // The pool's hashrate after the return; the slow phase runs at a 20th of it.
                let floor = c.pool.max_target().work().0 as f64;
                c.pool_hashrate =
                    FLOOR_RECOVERY_RETURN * floor / c.pool.share_period_secs.max(1) as f64;
            }
            _ => {}
        }
        c.bucket_secs = ((hours * 3600.0 / 96.0) as u64).clamp(60, 3600);
        c
    }

    pub fn duration_us(&self) -> u64 {
        (self.hours * 3600.0 * 1e6) as u64
    }

    pub fn miners(&self) -> usize {
        self.nodes * self.miners_per_node.max(1)
    }

    /// Mean hashrate of a node at the start (H/s).
    pub fn node_hashrate(&self) -> f64 {
        self.pool_hashrate / self.nodes as f64
    }

    /// Work of a parent-chain block at the fixed difficulty: network hashrate x interval.
    pub fn block_work(&self) -> f64 {
        self.network_hashrate * self.parent_interval_secs
    }

    /// Checks the values a run cannot work with.
    pub fn check(&self) -> Result<(), String> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.nodes < 2 {
            return Err("at least 2 nodes".into());
        }
        if !positive(self.hours) {
            return Err("hours must be positive".into());
        }
        if self.degree < 2 {
            return Err("degree must be at least 2".into());
        }
        let (lo, hi) = self.latency_ms;
        if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && hi >= lo) {
            return Err("latency range must be MIN-MAX with 0 <= MIN <= MAX".into());
        }
        let validation_ok = self.validation_ms.is_finite()
            && self.validation_ms >= 0.0
            && self.rebuild_ms.is_finite()
            && self.rebuild_ms >= 0.0
            && self.job_delay_ms.is_finite()
            && self.job_delay_ms >= 0.0;
        if !positive(self.bandwidth_mbps) || !validation_ok {
            return Err(
                "bandwidth must be positive, validation time and job delay non-negative".into(),
            );
        }
        if !positive(self.pool_hashrate) || !positive(self.network_hashrate) {
            return Err("hashrates must be positive".into());
        }
        if self.pool_hashrate >= self.network_hashrate {
            return Err("the pool's hashrate must be below the network's".into());
        }
        if !(self.attacker_share > 0.0 && self.attacker_share < 1.0) {
            return Err("attacker share must be in (0, 1)".into());
        }
        if self.miners_per_node == 0 {
            return Err("at least one miner per node".into());
        }
        self.pool.check().map_err(|e| e.to_string())
    }
}
