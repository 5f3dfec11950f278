//! `otedama-cli`: command-line client for a running otedama-node.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Query a running otedama-node.
#[derive(Parser, Debug)]
#[command(name = "otedama-cli", version)]
struct Cli {
    /// URL of the otedama-node API.
    #[arg(long, value_name = "URL", default_value = otedama_rpc::DEFAULT_RPC_URL, global = true)]
    rpc: String,

    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Node, sharechain and parent-chain status.
    Status,
    /// Connected sharechain peers.
    Peers,
    /// Recent shares in the PPLNS window.
    Shares,
    /// One share by its id.
    Share {
        /// Share id (hex).
        id: String,
    },
    /// Payouts in the current and recent coinbases.
    Payouts,
    /// Miners connected to this node.
    Miners,
    /// Parent-chain blocks found by the pool.
    Blocks,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The node API does not exist yet: say so instead of inventing data.
    let _ = (cli.json, cli.command);
    eprintln!(
        "error: cannot reach otedama-node at {}: the node API is not implemented yet",
        cli.rpc
    );
    ExitCode::from(1)
}
