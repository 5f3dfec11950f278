//! `otedama-node`: the Otedama peer daemon that runs next to your own full node.
//!
//! Exit codes: 0 after a clean stop (SIGTERM, SIGINT or the API's `stop`), 1 for a failure at
//! run time, 2 for a configuration error (clap's own usage errors are 2 as well).

use clap::Parser;
use otedama_node::config::{self, Args, Command, FileConfig, LogConfig, LogFormat};
use otedama_node::run::{self, EXIT_CONFIG, EXIT_RUNTIME};
use std::process::ExitCode;
use std::time::Duration;
use tracing::{info, warn};

fn main() -> ExitCode {
    let args = Args::parse();
    let file = match &args.config {
        Some(path) => match config::load_file(path) {
            Ok(f) => f,
            Err(e) => return config_error(e),
        },
        None => FileConfig::default(),
    };
    if let Some(Command::Gpus) = &args.command {
        print!("{}", otedama_mining::gpu::list_cli());
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Bench {
        algo,
        threads,
        seconds,
        xmrig,
    }) = &args.command
    {
        if let Some(list) = args.gpu.as_deref().or(file.gpu.as_deref()) {
            let gpus = match otedama_mining::gpu::parse_list(list) {
                Ok(g) if g.len() == 1 => g,
                Ok(_) => return config_error("bench takes one device: --gpu N"),
                Err(e) => return config_error(e),
            };
            let g = &gpus[0];
            return match otedama_mining::gpu::bench::cli(
                g.index,
                algo.as_deref(),
                *threads,
                *seconds,
                g.lookup_gap,
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(EXIT_RUNTIME)
                }
            };
        }
        return match otedama_mining::workers::bench::cli(
            algo.as_deref(),
            *threads,
            *seconds,
            xmrig.as_deref(),
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => config_error(e),
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
            Err(e) => config_error(e),
        };
    }
    let config = match config::resolve(args, file) {
        Ok(c) => c,
        Err(e) => return config_error(e),
    };
    init_logging(&config.log);
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    let result = runtime.block_on(run::run(config, stop_signal()));
    // Blocking work still running (a worker thread mid-hash) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn config_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_CONFIG)
}

fn init_logging(log: &LogConfig) {
    // The filter was checked when the configuration was resolved.
    let filter = tracing_subscriber::EnvFilter::try_new(&log.filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match log.format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

/// Raises the open-file limit (see `fd_limit`) and says whether 20,000 rigs fit.
fn raise_fd_limit() {
    let needed = otedama_node::fd_limit::needed(
        otedama_mining::stratum::StratumConfig::DEFAULT_MAX_CONNECTIONS,
    );
    match otedama_node::fd_limit::raise_to_hard_limit() {
        Ok(r) if r.after >= needed => info!(
            before = r.before,
            after = r.after,
            "open-file limit {} (soft limit raised from {})",
            r.after,
            r.before
        ),
        Ok(r) => warn!(
            before = r.before,
            after = r.after,
            "open-file limit is {} (the hard limit), below the {needed} that the Stratum \
             server's full {} connections need: raise it (systemd: LimitNOFILE=65536; shell: \
             ulimit -Hn) if many rigs connect",
            r.after,
            otedama_mining::stratum::StratumConfig::DEFAULT_MAX_CONNECTIONS
        ),
        Err(e) => warn!("cannot read or raise the open-file limit: {e}"),
    }
}

/// Resolves at the first SIGINT (Ctrl-C) or SIGTERM (`kill`, `docker stop`, `systemctl stop`).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
                    _ = term.recv() => info!("SIGTERM received"),
                }
                return;
            }
            Err(e) => warn!("cannot watch for SIGTERM ({e}); only Ctrl-C stops the node"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    info!("SIGINT received");
}
