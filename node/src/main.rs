//! `otedama-node`: the Otedama peer daemon that runs next to your own full node.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};

/// Chain names accepted by `--chain` (the names `Chain::from_name` understands).
const CHAIN_NAMES: [&str; 7] = [
    "bitcoin",
    "bitcoin-testnet4",
    "bitcoin-signet",
    "bitcoin-regtest",
    "litecoin",
    "litecoin-testnet",
    "litecoin-regtest",
];

/// Pool preset names accepted by `--pool`.
const POOL_NAMES: [&str; 2] = ["main", "mini"];

/// Otedama peer: a fully decentralized PPLNS mining pool node.
#[derive(Parser, Debug)]
#[command(name = "otedama-node", version)]
struct Args {
    /// Parent chain to mine.
    #[arg(long, value_name = "CHAIN", value_parser = CHAIN_NAMES, default_value = "litecoin-regtest", global = true)]
    chain: String,

    /// Sharechain preset (consensus parameters shared by every peer of that pool).
    #[arg(long, value_name = "POOL", value_parser = POOL_NAMES, default_value = "main", global = true)]
    pool: String,

    /// Directory for the sharechain store and node state.
    #[arg(long, value_name = "PATH", global = true)]
    data_dir: Option<PathBuf>,

    /// Parent-chain address that receives this node's payouts.
    #[arg(long, value_name = "ADDR", global = true)]
    payout_address: Option<String>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the chain, pool preset and consensus id, then exit.
    ConsensusId,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let chain = Chain::from_name(&args.chain).expect("clap only accepts known chain names");
    let preset = Preset::from_name(&args.pool).expect("clap only accepts known pool names");
    match args.command {
        Some(Command::ConsensusId) => {
            let id = PoolParams::preset(chain, preset).consensus_id();
            println!(
                "chain={} pool={} consensus_id={id}",
                chain.name(),
                preset.name()
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "error: otedama-node cannot run a node yet: in this version only `--help` and \
                 `consensus-id` work (try `otedama-node consensus-id --chain {} --pool {}`)",
                args.chain, args.pool
            );
            ExitCode::from(2)
        }
    }
}
