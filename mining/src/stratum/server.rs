//! The listener: accepts connections and runs one task per miner.

use super::config::StratumConfig;
use super::guard::PayoutSlots;
use super::listener::{Caps, Listener};
use super::session::{serve_connection, ExtranonceAllocator, Shared, STRATUM};
use super::stats::StratumStats;
use super::username::script_address;
use crate::job::{FoundSink, JobSource};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// A bound Stratum server, not yet serving.
pub struct StratumServer {
    listener: Listener,
    shared: Arc<Shared>,
}

impl StratumServer {
    /// Checks the configuration and binds `config.listen`.
    pub async fn bind(
        config: StratumConfig,
        jobs: Arc<dyn JobSource>,
        found: impl Into<FoundSink>,
        stats: Arc<StratumStats>,
    ) -> io::Result<StratumServer> {
        config
            .check()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let caps = Caps {
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            ban_duration: config.ban_duration,
        };
        let listener = Listener::bind(config.listen, caps, stats.clone(), STRATUM)?;
        let default_address = script_address(config.chain, &config.default_payout)
            .unwrap_or_else(|| hex::encode(config.default_payout.as_bytes()));
        let extranonces = Arc::new(ExtranonceAllocator::new(config.extranonce1_size));
        let payouts = Arc::new(PayoutSlots::new(
            config.max_payouts,
            config.default_payout.clone(),
        ));
        Ok(StratumServer {
            listener,
            shared: Arc::new(Shared {
                payouts,
                config,
                jobs,
                found: found.into(),
                stats,
                extranonces,
                default_address,
            }),
        })
    }

    /// The address actually bound (the port when `listen` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then closes every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let shared = self.shared;
        self.listener
            .run(std::future::pending(), shutdown, |admitted| {
                serve_connection(shared.clone(), admitted)
            })
            .await;
        Ok(())
    }
}

/// Binds `config.listen` and serves Stratum until `shutdown` completes. Use
/// [`StratumServer::bind`] and [`StratumServer::run`] to learn the bound address first.
pub async fn serve(
    config: StratumConfig,
    jobs: Arc<dyn JobSource>,
    found: impl Into<FoundSink>,
    stats: Arc<StratumStats>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    StratumServer::bind(config, jobs, found, stats)
        .await?
        .run(shutdown)
        .await
}
