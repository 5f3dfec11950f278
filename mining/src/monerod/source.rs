//! The Monero template source: a task that keeps monerod's newest work ([`MoneroWork`]) in a
//! [`watch`] channel, `None` while there is no usable one.
//!
//! When it fetches (`get_block_template`):
//!
//! * at start, and when [`MoneroTemplateSource::refresh_now`] is notified (a block was found);
//! * at once on a new tip: with ZMQ ([`MonerodSourceConfig::zmq`], monerod's `--zmq-pub`) on
//!   `chain_main` and `miner_data` notifications; without it, or while ZMQ is disconnected, by
//!   polling `get_last_block_header` every [`MonerodSourceConfig::poll`] for a changed tip
//!   (with ZMQ up the tip is still checked every [`ZMQ_SAFETY_POLL_FACTOR`] polls: pub messages
//!   can be lost), and at once when ZMQ disconnects (monerod stopped?);
//! * every [`MonerodSourceConfig::refresh`] (new pool transactions, a fresher timestamp);
//! * on `txpool_add` notifications, at most every [`TXPOOL_REFRESH_MIN`].
//!
//! It publishes only work that differs from the current one ([`MoneroWork::differs_from`]: a
//! new parent, including a reorg at the same height, other transactions, reward, seed,
//! difficulty), and on the periodic refresh also a newer timestamp.
//!
//! Errors: when the work is unusable (monerod unreachable, on the wrong network, not
//! synchronised, too old, refusing the calls) `None` is published at once: miners are told
//! nothing rather than something stale. Other errors (a timeout, an odd reply) keep the current
//! work until no fresh one has been had for `max(2 * refresh, STALE_AFTER_MIN)`. Retries back
//! off from `poll` to [`BACKOFF_MAX`] and never stop; one `warn!` per change of problem, and
//! `info!` "monerod is back" when work flows again.

use super::client::{MoneroRpc, MoneroRpcError};
use super::work::MoneroWork;
use super::zmq::{spawn_zmq, ZmqEvent};
use otedama_consensus::chain::monero::address::{Address, AddressKind};
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::keys;
use otedama_consensus::Chain;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

/// Periodic refresh when none is configured.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
/// Tip poll interval without ZMQ when none is configured.
pub const DEFAULT_POLL: Duration = Duration::from_secs(1);
/// With ZMQ notifications flowing, the tip is still checked every this many `poll` intervals
/// (10 s by default).
pub const ZMQ_SAFETY_POLL_FACTOR: u32 = 10;
/// Pool additions make a refresh at most this often.
pub const TXPOOL_REFRESH_MIN: Duration = Duration::from_secs(3);
/// Longest retry delay while monerod fails.
pub const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// Shortest time without fresh work after which the current one is withdrawn, whatever the
/// error (the limit is `max(2 * refresh, STALE_AFTER_MIN)`).
pub const STALE_AFTER_MIN: Duration = Duration::from_secs(60);
/// Longest refresh and poll interval taken from a config (timers stay far from overflow).
const LONGEST: Duration = Duration::from_secs(24 * 3600);
/// `reserve_size` of the templates: nothing, the miner transaction is replaced.
const RESERVE_SIZE: u64 = 0;

/// How the source talks to monerod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonerodSourceConfig {
    /// Any valid address of the chain (`get_block_template` needs one): the template's miner
    /// transaction is replaced by the share's, so nothing is ever paid to it. See
    /// [`placeholder_address`].
    pub wallet_address: String,
    /// monerod's ZMQ publisher (`--zmq-pub`), e.g. `tcp://127.0.0.1:18083`; `None`: poll.
    pub zmq: Option<String>,
    /// Periodic refresh (new pool transactions, timestamp).
    pub refresh: Duration,
    /// Tip poll interval without ZMQ (and first retry delay).
    pub poll: Duration,
}

impl MonerodSourceConfig {
    /// No ZMQ, [`DEFAULT_REFRESH`], [`DEFAULT_POLL`].
    pub fn new(wallet_address: impl Into<String>) -> MonerodSourceConfig {
        MonerodSourceConfig {
            wallet_address: wallet_address.into(),
            zmq: None,
            refresh: DEFAULT_REFRESH,
            poll: DEFAULT_POLL,
        }
    }
}

/// A fixed, valid address of `chain`'s network for [`MonerodSourceConfig::wallet_address`]
/// (regtest uses mainnet's prefixes): keys derived from a public constant, so nobody's wallet;
/// templates never pay it because their miner transaction is always replaced. `None` for a
/// chain that is not Monero's.
pub fn placeholder_address(chain: Chain) -> Option<String> {
    let params = chain.monero_params()?;
    let spend_secret = keys::hash_to_scalar(b"otedama monerod template placeholder").to_bytes();
    let view_secret = keys::hash_to_scalar(&spend_secret).to_bytes();
    let address = Address {
        network: params.network,
        kind: AddressKind::Standard,
        spend_public: keys::secret_key_to_public_key(&spend_secret).ok()?,
        view_public: keys::secret_key_to_public_key(&view_secret).ok()?,
    };
    Some(address.to_string())
}

/// The current work; `None` while there is no usable one.
pub type MoneroWorkReceiver = watch::Receiver<Option<Arc<MoneroWork>>>;

/// What is wrong with monerod, coarsely (logs and status: one `warn!` per change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Problem {
    Unreachable,
    WrongNetwork,
    NotSynced,
    TooOld,
    Restricted,
    Auth,
    Timeout,
    /// An HTTP-level failure (not monerod's RPC port?).
    Http,
    /// A reply that does not parse, or a template that is not what it says.
    BadReply,
    /// Any other JSON-RPC error.
    RpcError,
    /// The source's own configuration (address, chain) is unusable.
    Config,
}

impl Problem {
    pub fn of(e: &MoneroRpcError) -> Problem {
        match e {
            MoneroRpcError::InvalidUrl { .. } => Problem::Config,
            MoneroRpcError::Unreachable { .. } => Problem::Unreachable,
            MoneroRpcError::WrongNetwork { .. } => Problem::WrongNetwork,
            MoneroRpcError::Restricted { .. } => Problem::Restricted,
            MoneroRpcError::NotSynced { .. } => Problem::NotSynced,
            MoneroRpcError::TooOld { .. } => Problem::TooOld,
            MoneroRpcError::Auth { .. } => Problem::Auth,
            MoneroRpcError::Http { .. } => Problem::Http,
            MoneroRpcError::Timeout { .. } => Problem::Timeout,
            MoneroRpcError::Protocol(_) | MoneroRpcError::TipMoved => Problem::BadReply,
            MoneroRpcError::Rpc { .. } | MoneroRpcError::Rejected { .. } => Problem::RpcError,
        }
    }

    /// Whether the current work must be withdrawn at once.
    pub fn work_unusable(self) -> bool {
        matches!(
            self,
            Problem::Unreachable
                | Problem::WrongNetwork
                | Problem::NotSynced
                | Problem::TooOld
                | Problem::Restricted
                | Problem::Auth
                | Problem::Config
        )
    }
}

/// The source's view of monerod, for status displays and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoneroSourceStatus {
    /// No answer from monerod yet.
    Starting,
    /// The last fetch succeeded; the work is for this height.
    Ready { height: u64 },
    /// The last attempt failed; `message` is the error, for people.
    Failing { problem: Problem, message: String },
}

/// A running template source.
#[derive(Debug)]
pub struct MoneroTemplateSource {
    /// The current work; `None` while there is no usable one.
    pub templates: MoneroWorkReceiver,
    pub status: watch::Receiver<MoneroSourceStatus>,
    /// `notify_one()` makes the source fetch now (e.g. after a block was found).
    pub refresh_now: Arc<Notify>,
    /// The task; it ends only when every template receiver is gone (or when aborted), and
    /// takes the ZMQ subscriber with it.
    pub task: JoinHandle<()>,
}

/// Starts the source on the current Tokio runtime: work of `chain` from `rpc`, as `config`
/// says. Call [`probe`](super::probe) first to fail early on a misconfigured monerod; the
/// source itself never gives up.
pub fn spawn(rpc: MoneroRpc, chain: Chain, config: MonerodSourceConfig) -> MoneroTemplateSource {
    let (tx, templates) = watch::channel(None);
    let (status_tx, status) = watch::channel(MoneroSourceStatus::Starting);
    let refresh_now = Arc::new(Notify::new());
    let source = Source {
        rpc,
        chain,
        wallet_address: config.wallet_address.clone(),
        refresh: config.refresh.clamp(Duration::from_millis(100), LONGEST),
        poll: config.poll.clamp(Duration::from_millis(50), LONGEST),
        tx,
        status_tx,
        refresh_now: refresh_now.clone(),
        problem: None,
        ever_ok: false,
        last_ok: None,
        backoff: config.poll.clamp(Duration::from_millis(50), BACKOFF_MAX),
    };
    let task = tokio::spawn(source.run(config));
    MoneroTemplateSource {
        templates,
        status,
        refresh_now,
        task,
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a fetch happens (logs, and whether a new timestamp alone is published).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Why {
    Start,
    Periodic,
    Tip,
    TxPool,
    Notified,
    Retry,
}

struct Source {
    rpc: MoneroRpc,
    chain: Chain,
    wallet_address: String,
    refresh: Duration,
    poll: Duration,
    tx: watch::Sender<Option<Arc<MoneroWork>>>,
    status_tx: watch::Sender<MoneroSourceStatus>,
    refresh_now: Arc<Notify>,
    /// `None`: working (or not started); `Some`: the problem last logged.
    problem: Option<Problem>,
    ever_ok: bool,
    last_ok: Option<Instant>,
    backoff: Duration,
}

/// The next ZMQ event; never, without a subscriber.
async fn next_zmq(zmq: &mut Option<(mpsc::Receiver<ZmqEvent>, AbortOnDrop)>) -> Option<ZmqEvent> {
    match zmq {
        Some((rx, _)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Source {
    /// The previous block of the current work: the tip it builds on.
    fn tip(&self) -> Option<Hash32> {
        self.tx.borrow().as_ref().map(|w| w.template.prev_id)
    }

    async fn run(mut self, config: MonerodSourceConfig) {
        let url = self.rpc.url().to_owned();
        if let Err(message) = check_config(self.chain, &config) {
            error!("{message}");
            self.status_tx.send_replace(MoneroSourceStatus::Failing {
                problem: Problem::Config,
                message,
            });
            self.tx.closed().await;
            return;
        }
        let mut zmq = match &config.zmq {
            Some(endpoint) => match spawn_zmq(endpoint) {
                Ok((rx, task)) => Some((rx, AbortOnDrop(task))),
                Err(e) => {
                    error!("{e}; polling monerod at {url} for new blocks instead");
                    None
                }
            },
            None => {
                warn!(
                    "no ZMQ notifications from monerod: new blocks are noticed by polling {url} \
                     every {:?}; for new work at once start monerod with --zmq-pub \
                     tcp://127.0.0.1:18083 and pass --node-zmq tcp://127.0.0.1:18083",
                    self.poll
                );
                None
            }
        };
        let mut zmq_up = false;
        let mut due = Some(Why::Start);
        let mut last_fetch = Instant::now();
        let mut next_refresh = Instant::now() + self.refresh;
        let mut next_poll = Instant::now() + self.poll;
        let mut txpool_at: Option<Instant> = None;
        loop {
            if let Some(why) = due.take() {
                last_fetch = Instant::now();
                txpool_at = None;
                if self.fetch_and_publish(why).await {
                    next_refresh = Instant::now() + self.refresh;
                }
                next_poll = Instant::now() + self.poll_interval(zmq_up);
            }
            let txpool_wait = async {
                match txpool_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(next_refresh) => {
                    next_refresh = Instant::now() + self.refresh;
                    due = Some(Why::Periodic);
                }
                () = tokio::time::sleep_until(next_poll) => {
                    if self.problem.is_some() {
                        due = Some(Why::Retry);
                    } else {
                        self.poll_tip(&mut due).await;
                        next_poll = Instant::now() + self.poll_interval(zmq_up);
                    }
                }
                event = next_zmq(&mut zmq) => match event {
                    Some(ZmqEvent::Connected) => {
                        zmq_up = true;
                        // Notifications missed while disconnected: look now.
                        due = Some(Why::Tip);
                    }
                    Some(ZmqEvent::Disconnected) => {
                        zmq_up = false;
                        // monerod may be gone: look now, and poll until ZMQ is back.
                        next_poll = Instant::now();
                    }
                    Some(ZmqEvent::ChainMain { id, height }) => {
                        if self.tip() != Some(id) {
                            debug!("monerod ZMQ: new tip {} at height {height}", hex::encode(id));
                            due = Some(Why::Tip);
                        }
                    }
                    Some(ZmqEvent::MinerData { prev_id, height, .. }) => {
                        if self.tip() != Some(prev_id) {
                            debug!("monerod ZMQ: miner data for height {height}");
                            due = Some(Why::Tip);
                        }
                    }
                    Some(ZmqEvent::TxPoolAdd { count }) => {
                        debug!("monerod ZMQ: {count} transaction(s) entered the pool");
                        let at = last_fetch + TXPOOL_REFRESH_MIN;
                        if at <= Instant::now() {
                            due = Some(Why::TxPool);
                        } else {
                            txpool_at = Some(txpool_at.map_or(at, |t| t.min(at)));
                        }
                    }
                    None => {
                        warn!("monerod's ZMQ subscriber ended; polling {url} for new blocks");
                        zmq = None;
                        zmq_up = false;
                    }
                },
                () = txpool_wait => due = Some(Why::TxPool),
                () = self.refresh_now.notified() => due = Some(Why::Notified),
                () = self.tx.closed() => return,
            }
        }
    }

    /// Time to the next tip check (or retry, while failing).
    fn poll_interval(&self, zmq_up: bool) -> Duration {
        match (self.problem, zmq_up) {
            (Some(_), _) => self.backoff,
            (None, true) => self.poll.saturating_mul(ZMQ_SAFETY_POLL_FACTOR),
            (None, false) => self.poll,
        }
    }

    /// Checks the tip; a new one makes a fetch due.
    async fn poll_tip(&mut self, due: &mut Option<Why>) {
        match self.rpc.get_last_block_header().await {
            Ok(header) => {
                if self.tip() != Some(header.hash) {
                    debug!(
                        "monerod's tip is {} at height {}",
                        hex::encode(header.hash),
                        header.height
                    );
                    *due = Some(Why::Tip);
                }
            }
            Err(e) => self.failed(&e),
        }
    }

    /// Fetches work and publishes it when it is new; `false` on an error (handled here).
    async fn fetch_and_publish(&mut self, why: Why) -> bool {
        // The network is checked at start and after every failure (monerod may have been
        // restarted on another network on the same port).
        if self.problem.is_some() || !self.ever_ok {
            if let Err(e) = self.rpc.check_network(self.chain).await {
                self.failed(&e);
                return false;
            }
        }
        match self.rpc.get_work(&self.wallet_address, RESERVE_SIZE).await {
            Ok(work) => {
                let url = self.rpc.url();
                if self.problem.take().is_some() {
                    info!(
                        "monerod is back ({url}): Monero block template at height {}, {} \
                         transaction(s)",
                        work.template.height,
                        work.template.tx_hashes.len()
                    );
                } else if !self.ever_ok {
                    info!(
                        "first Monero block template from monerod ({url}): height {}, {} \
                         transaction(s)",
                        work.template.height,
                        work.template.tx_hashes.len()
                    );
                }
                self.ever_ok = true;
                self.last_ok = Some(Instant::now());
                self.backoff = self.poll.min(BACKOFF_MAX);
                self.publish(work, why);
                true
            }
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    /// Handles a failure: status, logs, withdrawal, backoff.
    fn failed(&mut self, e: &MoneroRpcError) {
        let p = Problem::of(e);
        let stale_after = (self.refresh * 2).max(STALE_AFTER_MIN);
        let stale = self.last_ok.is_none_or(|t| t.elapsed() >= stale_after);
        let withdraw = p.work_unusable() || stale;
        let had_work = self.tx.borrow().is_some();
        if self.problem != Some(p) {
            let consequence = if withdraw {
                "miners get no Monero work until it is resolved"
            } else {
                "keeping the current work for now"
            };
            warn!("monerod problem: {e}; {consequence} (retrying)");
        } else if withdraw && had_work {
            warn!(
                "no fresh work from monerod for {:?}: miners get no Monero work until it \
                 answers (last error: {e})",
                self.last_ok.map(|t| t.elapsed()).unwrap_or_default()
            );
        } else {
            debug!("monerod still failing: {e}; retry in {:?}", self.backoff);
        }
        // Once failing, the next retry waits the backoff; a fresh failure starts it at `poll`.
        if self.problem.is_none() {
            self.backoff = self.poll.min(BACKOFF_MAX);
        } else {
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
        self.problem = Some(p);
        // Status first: whoever sees the work change sees the new status too.
        self.status_tx.send_replace(MoneroSourceStatus::Failing {
            problem: p,
            message: e.to_string(),
        });
        if withdraw {
            self.tx.send_if_modified(|current| current.take().is_some());
        }
    }

    fn publish(&self, work: MoneroWork, why: Why) {
        let height = work.template.height;
        self.status_tx.send_if_modified(|status| {
            let ready = MoneroSourceStatus::Ready { height };
            let changed = *status != ready;
            *status = ready;
            changed
        });
        self.tx.send_if_modified(|current| {
            let new_tip = current
                .as_ref()
                .is_none_or(|old| old.template.prev_id != work.template.prev_id);
            let changed = match current.as_deref() {
                None => true,
                Some(old) => {
                    old.differs_from(&work)
                        || (why == Why::Periodic
                            && old.template.timestamp != work.template.timestamp)
                }
            };
            if !changed {
                return false;
            }
            if new_tip {
                info!(
                    "new Monero block template: height {} on {}, {} transaction(s) in monerod's \
                     template (reward {}), {} mineable in its pool, difficulty {}, median weight \
                     {}",
                    height,
                    hex::encode(work.template.prev_id),
                    work.template.tx_hashes.len(),
                    work.template.reward,
                    work.menu.entries().len(),
                    work.difficulty,
                    work.menu.median_weight
                );
            } else {
                debug!(
                    "updated Monero block template ({why:?}): height {}, {} transaction(s), \
                     reward {}",
                    height,
                    work.template.tx_hashes.len(),
                    work.template.reward
                );
            }
            *current = Some(Arc::new(work));
            true
        });
    }
}

/// The configuration problems no retry fixes: a chain that is not Monero's, an address of
/// another network.
fn check_config(chain: Chain, config: &MonerodSourceConfig) -> Result<(), String> {
    let params = chain.monero_params().ok_or_else(|| {
        format!("the monerod template source serves Monero chains only, not {chain}")
    })?;
    Address::parse_for(&config.wallet_address, params.network).map_err(|e| {
        format!(
            "the address for monerod's block templates, {:?}, is not a {chain} address ({e}); \
             any valid address of the network does (the miner transaction is replaced)",
            config.wallet_address
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn placeholder_addresses_are_valid_for_their_network() {
        for chain in Chain::ALL {
            match placeholder_address(chain) {
                Some(a) => {
                    let params = chain.monero_params().unwrap();
                    Address::parse_for(&a, params.network).unwrap();
                    assert!(check_config(chain, &MonerodSourceConfig::new(a)).is_ok());
                }
                None => assert!(chain.monero_params().is_none()),
            }
        }
        // Regtest uses mainnet's prefixes.
        assert_eq!(
            placeholder_address(Chain::MoneroRegtest),
            placeholder_address(Chain::Monero)
        );
        let stagenet = placeholder_address(Chain::MoneroStagenet).unwrap();
        assert!(check_config(Chain::Monero, &MonerodSourceConfig::new(stagenet)).is_err());
        assert!(check_config(Chain::Litecoin, &MonerodSourceConfig::new("x")).is_err());
    }

    #[test]
    fn unusable_problems() {
        let unreachable = MoneroRpcError::Unreachable {
            url: "http://127.0.0.1:1/json_rpc".into(),
            port: 1,
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert!(Problem::of(&unreachable).work_unusable());
        assert!(Problem::NotSynced.work_unusable());
        assert!(Problem::WrongNetwork.work_unusable());
        assert!(!Problem::Timeout.work_unusable());
        assert!(!Problem::BadReply.work_unusable());
        assert!(!Problem::RpcError.work_unusable());
    }
}
