//! The listener: accepts rigs and runs one task per connection, and the seed keeper that keeps
//! the RandomX hasher on the jobs' seeds.

use super::config::XmrigConfig;
use super::session::{serve_connection, Shared, XMRIG};
use crate::job::WorkEpoch;
use crate::monero::job::{MoneroFoundSink, MoneroJobSource};
use crate::randomx_pow::RandomXHasher;
use crate::stratum::guard::PayoutSlots;
use crate::stratum::listener::{Caps, Listener};
use crate::stratum::session::ExtranonceAllocator;
use crate::stratum::StratumStats;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
/// A RandomX cache that could not be built is tried again after this long.
const SEED_RETRY: Duration = Duration::from_secs(5);
/// Bytes of the extra nonce that tell connections apart (the other 4 count the connection's
/// notifications).
const CONNECTION_NONCE_BYTES: usize = 4;

/// A bound xmrig-dialect server, not yet serving.
pub struct XmrigServer {
    listener: Listener,
    shared: Arc<Shared>,
    ready: watch::Sender<WorkEpoch>,
}

impl XmrigServer {
    /// Checks the configuration and binds `config.listen`. `hasher` checks submits; the server
    /// keeps its seeds on those of the current jobs (`RandomXHasher::set_seeds`, off the
    /// reactor).
    pub async fn bind(
        config: XmrigConfig,
        jobs: Arc<dyn MoneroJobSource>,
        found: impl Into<MoneroFoundSink>,
        stats: Arc<StratumStats>,
        hasher: Arc<RandomXHasher>,
    ) -> io::Result<XmrigServer> {
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        config.check().map_err(invalid)?;
        let params = config.params().map_err(invalid)?;
        let caps = Caps {
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            ban_duration: config.ban_duration,
        };
        let listener = Listener::bind(config.listen, caps, stats.clone(), XMRIG)?;
        let default_address = params
            .payee_address(config.default_payout.as_bytes())
            .unwrap_or_else(|| hex::encode(config.default_payout.as_bytes()));
        let payouts = Arc::new(PayoutSlots::new(
            config.max_payouts,
            config.default_payout.clone(),
        ));
        let (ready, work) = watch::channel(WorkEpoch::default());
        Ok(XmrigServer {
            listener,
            ready,
            shared: Arc::new(Shared {
                hash_slots: Arc::new(Semaphore::new(config.hash_threads)),
                params,
                config,
                jobs,
                found: found.into(),
                stats,
                hasher,
                extranonces: Arc::new(ExtranonceAllocator::new(CONNECTION_NONCE_BYTES)),
                payouts,
                default_address,
                work,
                sessions: AtomicU64::new(0),
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
        // Never ends.
        let keeper = keep_seeds(shared.clone(), self.ready);
        self.listener
            .run(keeper, shutdown, |admitted| {
                serve_connection(shared.clone(), admitted)
            })
            .await;
        Ok(())
    }
}

/// Follows the job source: on every change of work, puts the hasher on the current job's seeds
/// (building a cache takes about a second, on a blocking thread) and only then passes the
/// change on to the connections, so a rig is never sent a job whose submits the node cannot
/// check yet. Runs until the server stops.
async fn keep_seeds(shared: Arc<Shared>, ready: watch::Sender<WorkEpoch>) {
    let mut source = shared.jobs.subscribe();
    loop {
        let epoch = *source.borrow_and_update();
        let ok = ensure_seeds(&shared).await;
        ready.send_replace(epoch);
        tokio::select! {
            changed = source.changed() => {
                if changed.is_err() {
                    // The job source is gone: no more work, nothing more to keep.
                    std::future::pending::<()>().await;
                }
            }
            _ = tokio::time::sleep(SEED_RETRY), if !ok => {}
        }
    }
}

/// Whether the hasher holds the current job's seeds (set now if not).
async fn ensure_seeds(shared: &Shared) -> bool {
    let Some(job) = shared.jobs.job_for(&shared.config.default_payout) else {
        // No work: no seed to hold.
        return true;
    };
    let current = job.seed_hash();
    let next = job.work.next_seed_hash.filter(|n| *n != current);
    let mut want = vec![current];
    want.extend(next);
    if shared.hasher.seeds() == want {
        return true;
    }
    let hasher = shared.hasher.clone();
    match tokio::task::spawn_blocking(move || hasher.set_seeds(current, next)).await {
        Ok(Ok(())) => {
            tracing::info!(
                seed = %hex::encode(current),
                next = ?next.map(hex::encode),
                height = job.height(),
                "RandomX seeds of the xmrig jobs in place"
            );
            true
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot build the RandomX cache of the Monero jobs; retrying");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "building the RandomX cache failed; retrying");
            false
        }
    }
}
