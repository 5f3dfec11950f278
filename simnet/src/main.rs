//! `otedama-simnet`: the network simulator's command line.

use clap::{Parser, Subcommand};
use otedama_consensus::{Chain, Preset};
use otedama_simnet::{HashrateDist, Scenario, SimConfig};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Otedama network simulator: N nodes, simulated time, the real consensus code.
#[derive(Parser, Debug)]
#[command(name = "otedama-simnet", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one simulation; prints the table, writes CSV/JSON/SVG to --out.
    Run(RunArgs),
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Simulated hours.
    #[arg(long, default_value_t = 24.0)]
    hours: f64,
    /// steady, doubling, partition, late-joiner, withholding, selfish, high-latency,
    /// tiny-miners, floor-recovery.
    #[arg(long, default_value = "steady")]
    scenario: String,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Pool preset: main or mini.
    #[arg(long, default_value = "main")]
    preset: String,
    /// Parent chain: litecoin, bitcoin (or a test network name).
    #[arg(long, default_value = "litecoin")]
    chain: String,
    /// Directory for summary.json, table.txt, CSV files and SVG plots.
    #[arg(long)]
    out: Option<PathBuf>,
    /// One-way link latency range, MIN-MAX in ms (default 20-300; high-latency: 150-1200).
    #[arg(long, value_name = "MIN-MAX")]
    latency_ms: Option<String>,
    /// Peers per node.
    #[arg(long)]
    degree: Option<usize>,
    /// Four regions (North America, Europe, Asia, South America) with a latency matrix
    /// instead of one uniform range.
    #[arg(long)]
    regions: bool,
    /// Upload bandwidth per node, Mbit/s.
    #[arg(long)]
    bandwidth_mbps: Option<f64>,
    /// Share validation time before relay, ms.
    #[arg(long)]
    validation_ms: Option<f64>,
    /// Delay from a node's tip change to its miners working on the new job, ms.
    #[arg(long)]
    job_delay_ms: Option<f64>,
    /// Relay shares without their payout outputs (receivers rebuild them): the default, as in
    /// the node; kept so that older commands still run.
    #[arg(long, conflicts_with = "full_relay")]
    compact_relay: bool,
    /// Relay whole shares (the node's relay to peers that cannot rebuild, and before compact
    /// relay existed).
    #[arg(long)]
    full_relay: bool,
    /// Hashrate distribution: equal, uniform, pareto, whales.
    #[arg(long)]
    hashrate_dist: Option<String>,
    /// The pool's share of the parent network's hashrate (default 0.05).
    #[arg(long)]
    pool_fraction: Option<f64>,
    /// Mean hashrate per node, H/s (instead of --pool-fraction).
    #[arg(long)]
    node_hashrate: Option<f64>,
    /// Parent network hashrate, H/s (fixes the parent difficulty; default: the chain's 2025
    /// figure).
    #[arg(long)]
    network_hashrate: Option<f64>,
    /// Miners (payout scripts) per node.
    #[arg(long)]
    miners_per_node: Option<usize>,
    /// Attacker's share of the pool hashrate (withholding, selfish).
    #[arg(long)]
    attacker_share: Option<f64>,
    /// Override the preset's share period (s).
    #[arg(long)]
    share_period: Option<u64>,
    /// Override the preset's PPLNS window (shares).
    #[arg(long)]
    window: Option<u64>,
    /// Override the preset's uncle penalty (percent).
    #[arg(long)]
    uncle_penalty: Option<u8>,
    /// Override the preset's uncle depth (1-3).
    #[arg(long)]
    uncle_depth: Option<u64>,
    /// Override the preset's retarget half-life (s).
    #[arg(long)]
    half_life: Option<u64>,
    /// Override the preset's maximum payout outputs.
    #[arg(long)]
    max_outputs: Option<u32>,
}

fn parse_range(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| format!("latency range `{s}` is not MIN-MAX"))?;
    let a: f64 = a.trim().parse().map_err(|_| format!("bad number `{a}`"))?;
    let b: f64 = b.trim().parse().map_err(|_| format!("bad number `{b}`"))?;
    Ok((a, b))
}

fn config(a: &RunArgs) -> Result<SimConfig, String> {
    let scenario = Scenario::from_name(&a.scenario).ok_or_else(|| {
        let names: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!(
            "unknown scenario `{}` (one of {})",
            a.scenario,
            names.join(", ")
        )
    })?;
    let preset = Preset::from_name(&a.preset)
        .ok_or_else(|| format!("unknown preset `{}` (main or mini)", a.preset))?;
    let chain = Chain::from_name(&a.chain).ok_or_else(|| format!("unknown chain `{}`", a.chain))?;
    let mut c = SimConfig::new(scenario, a.nodes, a.hours, a.seed, chain, preset);
    if let Some(s) = &a.latency_ms {
        c.latency_ms = parse_range(s)?;
    }
    if let Some(d) = a.degree {
        c.degree = d;
    }
    c.regions = a.regions;
    if let Some(x) = a.bandwidth_mbps {
        c.bandwidth_mbps = x;
    }
    if let Some(x) = a.validation_ms {
        c.validation_ms = x;
    }
    if let Some(x) = a.job_delay_ms {
        c.job_delay_ms = x;
    }
    if a.full_relay {
        c.compact_relay = false;
    }
    if let Some(d) = &a.hashrate_dist {
        c.dist = HashrateDist::from_name(d).ok_or_else(|| {
            format!("unknown hashrate distribution `{d}` (equal, uniform, pareto, whales)")
        })?;
    }
    if let Some(x) = a.network_hashrate {
        c.network_hashrate = x;
        c.pool_hashrate = otedama_simnet::config::DEFAULT_POOL_FRACTION * x;
    }
    if let Some(x) = a.pool_fraction {
        c.pool_hashrate = x * c.network_hashrate;
    }
    if let Some(x) = a.node_hashrate {
        c.pool_hashrate = x * c.nodes as f64;
    }
    if let Some(x) = a.miners_per_node {
        c.miners_per_node = x;
    }
    if let Some(x) = a.attacker_share {
        c.attacker_share = x;
    }
    if let Some(x) = a.share_period {
        c.pool.share_period_secs = x;
    }
    if let Some(x) = a.window {
        c.pool.pplns_window = x;
    }
    if let Some(x) = a.uncle_penalty {
        c.pool.uncle_penalty_percent = x;
    }
    if let Some(x) = a.uncle_depth {
        c.pool.uncle_depth = x;
    }
    if let Some(x) = a.half_life {
        c.pool.retarget_half_life_secs = x;
    }
    if let Some(x) = a.max_outputs {
        c.pool.max_payout_outputs = x;
    }
    c.check()?;
    Ok(c)
}

fn main() -> ExitCode {
    let Args { command } = Args::parse();
    let Command::Run(a) = command;
    let cfg = match config(&a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let result = match otedama_simnet::run(&cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let wall = started.elapsed().as_secs_f64();
    print!("{}", result.table());
    // Wall time goes to stderr only: stdout and the files are a function of the arguments.
    eprintln!(
        "wall time {wall:.2} s ({:.2} M events/s)",
        result.summary.events as f64 / wall / 1e6
    );
    if let Some(dir) = &a.out {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: cannot create {}: {e}", dir.display());
            return ExitCode::from(1);
        }
        for (name, contents) in result.files() {
            let path = dir.join(name);
            if let Err(e) = std::fs::write(&path, contents) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}
