//! `otedama-simnet`: placeholder binary for the network simulator.

use std::process::ExitCode;

use clap::Parser;

/// Otedama network simulator (not implemented yet: arrives in a later issue).
#[derive(Parser, Debug)]
#[command(name = "otedama-simnet", version)]
struct Args {}

fn main() -> ExitCode {
    let _args = Args::parse();
    eprintln!(
        "error: otedama-simnet is not implemented yet: the simulator arrives in a later issue"
    );
    ExitCode::from(2)
}
