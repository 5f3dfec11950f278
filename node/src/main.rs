//! `otedama-node`: the Otedama peer daemon that runs next to your own full node.

use clap::Parser;
use otedama_node::config::{self, Args, Command, FileConfig};
use otedama_node::run;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        None => FileConfig::default(),
    };
    if let Some(Command::Bench {
        algo,
        threads,
        seconds,
    }) = &args.command
    {
        return match otedama_mining::workers::bench::cli(algo.as_deref(), *threads, *seconds) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(Command::ConsensusId) = args.command {
        return match config::pool_choice(&args, &file) {
            Ok(choice) => {
                println!(
                    "chain={} pool={} consensus_id={}",
                    choice.chain.name(),
                    choice.label(),
                    choice.params.consensus_id()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = match config::resolve(args, file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run::run(config, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
