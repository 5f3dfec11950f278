//! The template source: a task that keeps the full node's newest block template in a
//! [`watch`] channel, `None` while there is no usable one.
//!
//! Two loops share the work. The main loop calls `getblocktemplate` at start, every `refresh`
//! (new transactions, fees), when [`TemplateSource::refresh_now`] is notified (a block was
//! found) and when a long poll returns; it is the only publisher, and it publishes only
//! templates that differ from the current one (previous block, transactions, coinbase value).
//! The long-poll loop keeps one long-polling `getblocktemplate` open with the newest
//! `longpollid`, so a new tip reaches miners at once instead of at the next refresh.
//!
//! A long poll is never given up on a timer: Core keeps serving an abandoned long poll, one
//! RPC worker thread each (4 by default), until the tip changes, so timed-out long polls on a
//! quiet chain would end up blocking the node's whole RPC server. A long poll is abandoned only
//! once the tip it waits on is gone (its thread is then free) or the node is away.
//!
//! Errors: when the work is unusable (node unreachable, refused credentials, no peers, in
//! initial sync, starting up, on the wrong chain) `None` is published at once: miners are told
//! nothing rather than something stale while the node is away. Other errors (a timeout, a busy
//! node, an odd reply) keep the current template until no fresh one has been had for
//! `max(3 * refresh, 30 s)`. Retries back off from 1 s to 30 s and never stop; one `warn!` is
//! logged per change of problem, and `info!` "full node is back" when templates flow again.

use super::client::{template_request, BlockchainInfo, NetworkInfo, NodeRpc, NodeRpcError};
use bitcoin::BlockHash;
use otedama_consensus::template::{BlockTemplate, RawTemplate, TemplateError};
use otedama_consensus::Chain;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Refresh interval for new transactions when none is configured.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10);
/// First retry delay after an error; doubled per further error.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Shortest time without a fresh template after which the current one is withdrawn, whatever
/// the error (the actual limit is `max(3 * refresh, STALE_AFTER_MIN)`).
pub const STALE_AFTER_MIN: Duration = Duration::from_secs(30);
/// After a long poll returns, how long the long-poll loop waits for the main loop to fetch the
/// new template (and its new `longpollid`) before polling again.
const LONGPOLL_SETTLE: Duration = Duration::from_secs(5);
/// How long a long poll may stay open after the main loop saw its tip replaced (its answer
/// may be on the way) before it is abandoned.
const LONGPOLL_GRACE: Duration = Duration::from_secs(5);

/// The current template; `None` while the node gives no usable one.
pub type TemplateReceiver = watch::Receiver<Option<Arc<BlockTemplate>>>;

/// What is wrong with the full node, coarsely (logs and status: one `warn!` per change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Problem {
    Unreachable,
    Auth,
    Cookie,
    /// No peers (-9).
    NotConnected,
    /// Initial block download (-10).
    InitialSync,
    /// Loading after a start (-28).
    WarmingUp,
    WrongChain,
    Timeout,
    /// HTTP 503, work queue depth exceeded.
    Busy,
    /// Bad HTTP or JSON.
    BadReply,
    /// Any other JSON-RPC error.
    RpcError,
    /// A template that `BlockTemplate::from_raw` refuses.
    BadTemplate,
    /// A bad `--node-rpc-url` (cannot happen once a client exists).
    Config,
}

impl Problem {
    pub fn of(e: &NodeRpcError) -> Problem {
        match e {
            NodeRpcError::InvalidUrl { .. } => Problem::Config,
            NodeRpcError::Unreachable { .. } => Problem::Unreachable,
            NodeRpcError::Auth { .. } => Problem::Auth,
            NodeRpcError::CookieUnreadable { .. } => Problem::Cookie,
            NodeRpcError::WorkQueueFull { .. } => Problem::Busy,
            NodeRpcError::WrongChain { .. } => Problem::WrongChain,
            NodeRpcError::Timeout { .. } => Problem::Timeout,
            NodeRpcError::Protocol(_) => Problem::BadReply,
            e if e.is_not_connected() => Problem::NotConnected,
            e if e.is_initial_sync() => Problem::InitialSync,
            e if e.is_warming_up() => Problem::WarmingUp,
            NodeRpcError::Rpc { .. } => Problem::RpcError,
        }
    }

    /// Whether the current template must be withdrawn at once: the node is away, or says its
    /// view of the chain cannot be trusted, or is not the configured chain.
    pub fn work_unusable(self) -> bool {
        matches!(
            self,
            Problem::Unreachable
                | Problem::Auth
                | Problem::Cookie
                | Problem::NotConnected
                | Problem::InitialSync
                | Problem::WarmingUp
                | Problem::WrongChain
                | Problem::Config
        )
    }
}

/// The source's view of the node, for status displays and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// No answer from the node yet.
    Starting,
    /// The last `getblocktemplate` succeeded; the template is for this parent-chain height.
    Ready { height: u32 },
    /// The last attempt failed; `message` is the error, for people.
    Failing { problem: Problem, message: String },
}

/// A running template source.
#[derive(Debug)]
pub struct TemplateSource {
    /// The current template; `None` while there is no usable one.
    pub templates: TemplateReceiver,
    pub status: watch::Receiver<SourceStatus>,
    /// `notify_one()` makes the source fetch a template now (e.g. after a block was found).
    pub refresh_now: Arc<Notify>,
    /// The main loop; it ends only when every template receiver is gone (or when aborted),
    /// and takes the long-poll loop with it.
    pub task: JoinHandle<()>,
}

/// Starts the source on the current Tokio runtime: templates of `chain` from `client`,
/// refetched every `refresh` (see [`DEFAULT_REFRESH`]) and at every long-poll answer.
pub fn spawn(client: NodeRpc, chain: Chain, refresh: Duration) -> TemplateSource {
    let (tx, templates) = watch::channel(None);
    let (status_tx, status) = watch::channel(SourceStatus::Starting);
    let (lp_tx, lp_rx) = watch::channel(None);
    let refresh_now = Arc::new(Notify::new());
    let kick = Arc::new(Notify::new());
    let main = MainLoop {
        client: client.clone(),
        chain,
        refresh: refresh.max(Duration::from_millis(100)),
        tx,
        status_tx,
        lp_tx,
        refresh_now: refresh_now.clone(),
        kick: kick.clone(),
    };
    let task = tokio::spawn(async move {
        let long_poll = AbortOnDrop(tokio::spawn(long_poll_loop(client, chain, lp_rx, kick)));
        main.run().await;
        drop(long_poll);
    });
    TemplateSource {
        templates,
        status,
        refresh_now,
        task,
    }
}

/// What [`probe`] learnt about the node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub blockchain: BlockchainInfo,
    pub network: NetworkInfo,
}

/// One-shot check at node start: the node answers, is on `chain` ([`NodeRpc::check_chain`]),
/// and what it is (logged). Warns (does not fail) when it has no peers or is syncing: the
/// source then waits for it.
pub async fn probe(client: &NodeRpc, chain: Chain) -> Result<NodeInfo, NodeRpcError> {
    let blockchain = client.check_chain(chain).await?;
    let network = client.get_network_info().await?;
    info!(
        "full node at {}: {} (version {}), chain {} at height {}, {} peer(s)",
        client.url(),
        network.subversion,
        network.version,
        chain,
        blockchain.blocks,
        network.connections
    );
    if network.connections == 0 {
        warn!(
            "the full node at {} has no peers: it gives no block templates until it has one",
            client.url()
        );
    }
    if blockchain.initialblockdownload {
        warn!(
            "the full node at {} is still syncing ({} of {} headers' blocks): no block \
             templates until it has caught up",
            client.url(),
            blockchain.blocks,
            blockchain.headers
        );
    }
    Ok(NodeInfo {
        blockchain,
        network,
    })
}

/// Aborts the task when dropped (the main task taking the long-poll task with it).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the long-poll loop needs from the newest template.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LongPoll {
    id: String,
    tip: BlockHash,
}

enum FetchError {
    Rpc(NodeRpcError),
    Template(TemplateError),
}

impl FetchError {
    fn problem(&self) -> Problem {
        match self {
            FetchError::Rpc(e) => Problem::of(e),
            FetchError::Template(_) => Problem::BadTemplate,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Rpc(e) => e.fmt(f),
            FetchError::Template(e) => {
                write!(f, "the full node's block template is unusable: {e}")
            }
        }
    }
}

impl From<NodeRpcError> for FetchError {
    fn from(e: NodeRpcError) -> FetchError {
        FetchError::Rpc(e)
    }
}

/// Whether miners need new work for `new` (compared with `old`).
fn differs(old: &BlockTemplate, new: &BlockTemplate) -> bool {
    old.prev_blockhash != new.prev_blockhash
        || old.coinbase_value != new.coinbase_value
        || old.txids != new.txids
}

struct MainLoop {
    client: NodeRpc,
    chain: Chain,
    refresh: Duration,
    tx: watch::Sender<Option<Arc<BlockTemplate>>>,
    status_tx: watch::Sender<SourceStatus>,
    lp_tx: watch::Sender<Option<LongPoll>>,
    refresh_now: Arc<Notify>,
    kick: Arc<Notify>,
}

impl MainLoop {
    async fn fetch(&self, check_chain: bool) -> Result<BlockTemplate, FetchError> {
        if check_chain {
            self.client.check_chain(self.chain).await?;
        }
        let raw: RawTemplate = self.client.get_block_template(self.chain, None).await?;
        BlockTemplate::from_raw(&raw).map_err(FetchError::Template)
    }

    async fn run(self) {
        let url = self.client.url().to_owned();
        let stale_after = (self.refresh * 3).max(STALE_AFTER_MIN);
        // `None`: working (or not started); `Some`: the problem last logged.
        let mut problem: Option<Problem> = None;
        let mut ever_ok = false;
        let mut last_ok: Option<Instant> = None;
        let mut backoff = BACKOFF_MIN;
        loop {
            // The chain is checked at start and after every failure (the node may have been
            // restarted with another chain on the same port).
            let wait = match self.fetch(problem.is_some() || !ever_ok).await {
                Ok(template) => {
                    if problem.take().is_some() {
                        info!(
                            "full node is back ({url}): block template at height {}, {} \
                             transaction(s)",
                            template.height,
                            template.transactions.len()
                        );
                    } else if !ever_ok {
                        info!(
                            "first block template from the full node ({url}): height {}, {} \
                             transaction(s)",
                            template.height,
                            template.transactions.len()
                        );
                    }
                    ever_ok = true;
                    last_ok = Some(Instant::now());
                    backoff = BACKOFF_MIN;
                    self.publish(template);
                    self.refresh
                }
                Err(e) => {
                    let p = e.problem();
                    let stale = last_ok.is_none_or(|t| t.elapsed() >= stale_after);
                    let withdraw = p.work_unusable() || stale;
                    let had_work = self.tx.borrow().is_some();
                    if problem != Some(p) {
                        let consequence = if withdraw {
                            "miners get no work until it is resolved"
                        } else {
                            "keeping the current block template for now"
                        };
                        warn!("full node problem: {e}; {consequence} (retrying)");
                    } else if withdraw && had_work {
                        warn!(
                            "no fresh block template from the full node for {:?}: miners get \
                             no work until it answers (last error: {e})",
                            last_ok.map(|t| t.elapsed()).unwrap_or_default()
                        );
                    } else {
                        debug!("full node still failing: {e}; retry in {backoff:?}");
                    }
                    problem = Some(p);
                    // Status first: whoever sees the template change sees the new status too.
                    self.status_tx.send_replace(SourceStatus::Failing {
                        problem: p,
                        message: e.to_string(),
                    });
                    if withdraw {
                        self.tx.send_if_modified(|current| current.take().is_some());
                        self.lp_tx.send_if_modified(|lp| lp.take().is_some());
                    }
                    let wait = backoff;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    wait
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.refresh_now.notified() => {}
                () = self.kick.notified() => {}
                () = self.tx.closed() => return,
            }
        }
    }

    fn publish(&self, template: BlockTemplate) {
        // Status first: whoever sees the template change sees the new status too.
        self.status_tx.send_if_modified(|status| {
            let ready = SourceStatus::Ready {
                height: template.height,
            };
            let changed = *status != ready;
            *status = ready;
            changed
        });
        if let Some(id) = &template.longpollid {
            let lp = LongPoll {
                id: id.clone(),
                tip: template.prev_blockhash,
            };
            self.lp_tx.send_if_modified(|current| {
                let changed = current.as_ref() != Some(&lp);
                if changed {
                    *current = Some(lp);
                }
                changed
            });
        }
        self.tx.send_if_modified(|current| {
            let new_tip = current
                .as_ref()
                .is_none_or(|old| old.prev_blockhash != template.prev_blockhash);
            if current.as_ref().is_some_and(|old| !differs(old, &template)) {
                return false;
            }
            if new_tip {
                info!(
                    "new block template: height {} on {}, {} transaction(s), coinbase value {}",
                    template.height,
                    template.prev_blockhash,
                    template.transactions.len(),
                    template.coinbase_value
                );
            } else {
                debug!(
                    "updated block template: height {}, {} transaction(s), coinbase value {}",
                    template.height,
                    template.transactions.len(),
                    template.coinbase_value
                );
            }
            *current = Some(Arc::new(template));
            true
        });
    }
}

/// Resolves once the long poll on `tip` is pointless (the main loop saw another tip, or the
/// node is away, or the source ended), plus [`LONGPOLL_GRACE`].
async fn superseded(rx: &mut watch::Receiver<Option<LongPoll>>, tip: BlockHash) {
    loop {
        let gone = match &*rx.borrow_and_update() {
            None => true,
            Some(lp) => lp.tip != tip,
        };
        if gone || rx.changed().await.is_err() {
            break;
        }
    }
    tokio::time::sleep(LONGPOLL_GRACE).await;
}

async fn long_poll_loop(
    client: NodeRpc,
    chain: Chain,
    mut lp_rx: watch::Receiver<Option<LongPoll>>,
    kick: Arc<Notify>,
) {
    loop {
        let current = lp_rx.borrow_and_update().clone();
        let Some(lp) = current else {
            // The node is away (or no template yet): the main loop sets an id when it is back.
            if lp_rx.changed().await.is_err() {
                return;
            }
            continue;
        };
        let poll = client.call_with_timeout::<RawTemplate>(
            "getblocktemplate",
            template_request(chain, Some(&lp.id)),
            None,
        );
        let outcome = tokio::select! {
            result = poll => Some(result),
            () = superseded(&mut lp_rx, lp.tip) => None,
        };
        match outcome {
            Some(result) => {
                match &result {
                    // Core answers long polls at once, unchanged, after a restart until its
                    // first new block: nothing to fetch; poll again after the settle time.
                    Ok(t)
                        if t.longpollid.as_deref() == Some(lp.id.as_str())
                            && t.previousblockhash == lp.tip.to_string() =>
                    {
                        debug!("long poll answered without a change");
                    }
                    Ok(t) => {
                        debug!(
                            "long poll answered: template at height {} on {}",
                            t.height, t.previousblockhash
                        );
                        kick.notify_one();
                    }
                    Err(e) => {
                        debug!("long poll failed: {e}");
                        kick.notify_one();
                    }
                }
                // The main loop fetches the template (it alone publishes, so an older fetch
                // can never overwrite a newer one) and, after an error, checks on the node.
                if tokio::time::timeout(LONGPOLL_SETTLE, lp_rx.changed())
                    .await
                    .is_ok_and(|r| r.is_err())
                {
                    return;
                }
            }
            None => debug!("abandoned the long poll on {}: tip replaced", lp.tip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn unusable_problems() {
        let unreachable = NodeRpcError::Unreachable {
            url: "http://127.0.0.1:1/".into(),
            source: io::Error::from(io::ErrorKind::ConnectionRefused),
        };
        assert!(Problem::of(&unreachable).work_unusable());
        for (code, problem) in [
            (-9, Problem::NotConnected),
            (-10, Problem::InitialSync),
            (-28, Problem::WarmingUp),
        ] {
            let e = NodeRpcError::Rpc {
                method: "getblocktemplate".into(),
                code,
                message: String::new(),
            };
            assert_eq!(Problem::of(&e), problem);
            assert!(problem.work_unusable());
        }
        let other = NodeRpcError::Rpc {
            method: "getblocktemplate".into(),
            code: -1,
            message: String::new(),
        };
        assert!(!Problem::of(&other).work_unusable());
        assert!(!Problem::Timeout.work_unusable());
        assert!(!Problem::Busy.work_unusable());
    }
}
