//! The listener: accepts connections and runs one task per miner.

use super::config::StratumConfig;
use super::guard::{IpGuard, PayoutSlots, Refusal};
use super::session::{serve_connection, ExtranonceAllocator, Shared};
use super::stats::StratumStats;
use super::username::script_address;
use crate::job::{FoundSink, JobSource};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Time connections get to close after shutdown before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// A bound Stratum server, not yet serving.
pub struct StratumServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    ips: Arc<IpGuard>,
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
        // A deep accept backlog: when a farm's rigs all reconnect at once (node restart), the
        // default 128 made the kernel drop connection attempts that then wait a second to retry.
        let socket = if config.listen.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(config.listen)?;
        let listener: TcpListener = socket.listen(4096)?;
        let local_addr = listener.local_addr()?;
        let default_address = script_address(config.chain, &config.default_payout)
            .unwrap_or_else(|| hex::encode(config.default_payout.as_bytes()));
        let extranonces = Arc::new(ExtranonceAllocator::new(config.extranonce1_size));
        let ips = Arc::new(IpGuard::new(
            config.max_connections_per_ip,
            config.ban_duration,
            config.max_connections,
        ));
        let payouts = Arc::new(PayoutSlots::new(
            config.max_payouts,
            config.default_payout.clone(),
        ));
        Ok(StratumServer {
            listener,
            local_addr,
            ips,
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
        self.local_addr
    }

    /// Serves until `shutdown` completes, then closes every connection.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> io::Result<()> {
        let shared = self.shared;
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(shared.config.max_connections));
        let mut tasks = JoinSet::new();
        tracing::info!(addr = %self.local_addr, "stratum server listening");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((sock, peer)) => match (
                        self.ips.admit(peer.ip(), tokio::time::Instant::now()),
                        limit.clone().try_acquire_owned(),
                    ) {
                        (Err(why), _) => {
                            let counter = match why {
                                Refusal::Banned => &shared.stats.connections_refused_banned,
                                Refusal::PerIpLimit => &shared.stats.connections_refused_per_ip,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, ?why, "stratum connection refused");
                            drop(sock);
                        }
                        (Ok(ip), Ok(permit)) => {
                            tasks.spawn(serve_connection(
                                shared.clone(),
                                sock,
                                peer,
                                stop_rx.clone(),
                                permit,
                                ip,
                            ));
                        }
                        (Ok(_), Err(_)) => {
                            shared.stats.connections_refused.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "stratum connection limit reached; closing");
                            drop(sock);
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "stratum accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!(error = %e, "stratum connection task panicked");
                        }
                    }
                }
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            tasks.abort_all();
        }
        tracing::info!("stratum server stopped");
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
