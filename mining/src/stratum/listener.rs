//! The accept loop of both servers (Bitcoin Stratum, xmrig): connection caps (per address and
//! in total), bans, and the shutdown that closes every connection. What a connection speaks is
//! the caller's.

use super::conn::Dialect;
use super::guard::{IpGuard, IpPermit, Refusal};
use super::stats::StratumStats;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// Time connections get to close after shutdown before they are aborted.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// How many connections a server takes, from whom.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caps {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub ban_duration: Duration,
}

/// An admitted connection and what it holds while it lives.
pub(crate) struct Admitted {
    pub sock: TcpStream,
    pub peer: SocketAddr,
    /// Becomes `true` when the server stops.
    pub stop: watch::Receiver<bool>,
    /// Its place among `max_connections`.
    pub permit: OwnedSemaphorePermit,
    /// Its place among its address's connections, and the address's standing.
    pub ip: IpPermit,
}

/// A bound listening socket, not yet serving.
pub(crate) struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
    ips: Arc<IpGuard>,
    max_connections: usize,
    stats: Arc<StratumStats>,
    dialect: Dialect,
}

impl Listener {
    pub(crate) fn bind(
        listen: SocketAddr,
        caps: Caps,
        stats: Arc<StratumStats>,
        dialect: Dialect,
    ) -> std::io::Result<Listener> {
        // A deep accept backlog: when a farm's rigs all reconnect at once (node restart), the
        // default 128 made the kernel drop connection attempts that then wait a second to retry.
        let socket = if listen.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(listen)?;
        let listener: TcpListener = socket.listen(4096)?;
        let local_addr = listener.local_addr()?;
        let ips = Arc::new(IpGuard::new(
            caps.max_connections_per_ip,
            caps.ban_duration,
            caps.max_connections,
        ));
        Ok(Listener {
            listener,
            local_addr,
            ips,
            max_connections: caps.max_connections,
            stats,
            dialect,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves until `shutdown` completes, then closes every connection. Each admitted
    /// connection runs as the task `connect` makes of it; `background` (if it ever ends, it is
    /// not polled again) runs alongside the accept loop and stops with it.
    pub(crate) async fn run<F>(
        self,
        background: impl Future<Output = ()>,
        shutdown: impl Future<Output = ()>,
        mut connect: impl FnMut(Admitted) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let Dialect { name, server } = self.dialect;
        let stats = self.stats;
        let (stop_tx, stop_rx) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(self.max_connections));
        let mut tasks = JoinSet::new();
        tracing::info!(addr = %self.local_addr, "{server} listening");
        tokio::pin!(shutdown);
        tokio::pin!(background);
        let mut background_done = false;
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = &mut background, if !background_done => background_done = true,
                accepted = self.listener.accept() => match accepted {
                    Ok((sock, peer)) => match (
                        self.ips.admit(peer.ip(), tokio::time::Instant::now()),
                        limit.clone().try_acquire_owned(),
                    ) {
                        (Err(why), _) => {
                            let counter = match why {
                                Refusal::Banned => &stats.connections_refused_banned,
                                Refusal::PerIpLimit => &stats.connections_refused_per_ip,
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, ?why, "{name} connection refused");
                            drop(sock);
                        }
                        (Ok(ip), Ok(permit)) => {
                            tasks.spawn(connect(Admitted {
                                sock,
                                peer,
                                stop: stop_rx.clone(),
                                permit,
                                ip,
                            }));
                        }
                        (Ok(_), Err(_)) => {
                            stats.connections_refused.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "{name} connection limit reached; closing");
                            drop(sock);
                        }
                    },
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "{name} accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                    if let Err(e) = done {
                        if e.is_panic() {
                            tracing::error!(error = %e, "{name} connection task panicked");
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
        tracing::info!("{server} stopped");
    }
}
