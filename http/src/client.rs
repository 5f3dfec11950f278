//! [`HttpClient`]: requests to one origin over reused (keep-alive) connections.

use crate::wire::{Conn, Limits, Request, Response};
use crate::{HttpError, Origin};
use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// Settings of an [`HttpClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest response head (status line, headers; also the trailers of a chunked body).
    pub max_head_bytes: usize,
    /// Largest response body, decoded.
    pub max_body_bytes: usize,
    /// Most idle connections kept for reuse. Requests in flight each hold their own connection
    /// whatever this says; a connection that comes back when this many are idle is closed.
    pub max_idle: usize,
    /// Idle connections older than this are closed rather than reused. Servers drop idle
    /// connections after a while (Core after `-rpcservertimeout`, 30 s by default): reusing one
    /// they are about to drop is the costly case (a failed send and a reconnect), so connections
    /// are retired before the server's limit.
    pub idle_timeout: Duration,
    /// Limit for opening a connection, within the request's own [`Request::timeout`]; `None`:
    /// only that (or the system's) limit.
    pub connect_timeout: Option<Duration>,
}

impl Default for Config {
    /// 64 KiB heads, 32 MiB bodies (a mainnet `getblocktemplate` is a few MB of hex), up to 4
    /// idle connections, retired after 15 s idle; no separate connect timeout.
    fn default() -> Config {
        Config {
            max_head_bytes: 64 << 10,
            max_body_bytes: 32 << 20,
            max_idle: 4,
            idle_timeout: Duration::from_secs(15),
            connect_timeout: None,
        }
    }
}

/// An async HTTP/1.1 client for one [`Origin`]. Cheap to clone: clones share the connections.
///
/// **Connections are kept and reused** (HTTP/1.1 keep-alive): after a complete response on a
/// connection the server did not ask to close, the connection waits, idle, for the next
/// request. A JSON-RPC caller polling a full node thus pays one TCP handshake per idle spell
/// rather than one per call, and leaves no `TIME_WAIT` socket behind every call.
///
/// **Concurrency: a small pool.** A request takes an idle connection (the most recently used)
/// or, when none is idle, opens a new one, and owns it until its response is complete; then the
/// connection goes back to the pool unless [`Config::max_idle`] are already idle. So concurrent
/// requests never queue behind one another: a long-polling `getblocktemplate`, which the node
/// holds open for minutes, occupies its own connection while `submitblock` and the rest proceed
/// on others. (One mutex-held connection would have the long poll hold up a found block's
/// submission; a connection per request, as before, is what keep-alive removes.) The pool's
/// lock is held only to take or return a connection, never across I/O.
///
/// **Reconnection.** A server may close an idle connection at any time (Core does after
/// `-rpcservertimeout`, and of course when it restarts). Idle connections are checked before
/// reuse (closed ones, and ones idle past [`Config::idle_timeout`], are dropped), and a request
/// on a reused connection that fails before any byte of the response arrived (the server closed
/// it while the request was on its way) is sent once more on a fresh connection. A request that
/// failed after part of the response arrived is never sent again: the server has acted on it
/// (a `submitblock` must not be repeated behind the caller's back), and the caller gets the
/// error. A request on a fresh connection is not retried either: the server is away.
///
/// **Cancellation.** Dropping a request's future (or its [`Request::timeout`] expiring) drops
/// the connection it held, in whatever state, so a half-read response never reaches the pool.
#[derive(Clone)]
pub struct HttpClient {
    shared: Arc<Shared>,
}

struct Shared {
    origin: Origin,
    config: Config,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
    /// Connections opened so far.
    opened: AtomicU64,
}

struct Idle {
    conn: Conn<TcpStream>,
    since: Instant,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("origin", &self.shared.origin.url())
            .field("config", &self.shared.config)
            .field("connections_opened", &self.connections_opened())
            .finish()
    }
}

impl HttpClient {
    /// A client for `origin`; connects nothing until the first request.
    pub fn new(origin: Origin, config: Config) -> HttpClient {
        HttpClient {
            shared: Arc::new(Shared {
                origin,
                config,
                idle: Mutex::new(Vec::new()),
                opened: AtomicU64::new(0),
            }),
        }
    }

    pub fn origin(&self) -> &Origin {
        &self.shared.origin
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// TCP connections this client (and its clones) opened so far: with keep-alive working,
    /// far fewer than requests.
    pub fn connections_opened(&self) -> u64 {
        self.shared.opened.load(Ordering::Relaxed)
    }

    /// Connections now idle in the pool.
    pub fn idle_connections(&self) -> usize {
        self.idle().len()
    }

    /// Sends `request` and returns the complete response, whatever its status (an HTTP error
    /// status is the caller's to judge).
    pub async fn send(&self, request: &Request) -> Result<Response, HttpError> {
        let raw = request.encode(&self.shared.origin)?;
        let exchange = self.exchange(&raw, request.is_head());
        match request.timeout_value() {
            Some(after) => tokio::time::timeout(after, exchange)
                .await
                .map_err(|_| HttpError::Timeout(after))?,
            None => exchange.await,
        }
    }

    async fn exchange(&self, raw: &[u8], head_request: bool) -> Result<Response, HttpError> {
        let limits = Limits {
            max_head: self.shared.config.max_head_bytes,
            max_body: self.shared.config.max_body_bytes,
        };
        if let Some(mut conn) = self.take_idle() {
            match conn.exchange(raw, head_request, limits).await {
                Ok((response, reusable)) => {
                    if reusable {
                        self.put_idle(conn);
                    }
                    return Ok(response);
                }
                // The server closed the idle connection before it saw the request (or as it
                // arrived, unanswered): send it again on a fresh connection, once.
                Err(HttpError::Io(_)) if !conn.got_response_bytes() => {}
                Err(e) => return Err(e),
            }
        }
        let mut conn = self.connect().await?;
        let (response, reusable) = conn.exchange(raw, head_request, limits).await?;
        if reusable {
            self.put_idle(conn);
        }
        Ok(response)
    }

    async fn connect(&self) -> Result<Conn<TcpStream>, HttpError> {
        let origin = &self.shared.origin;
        let connecting = TcpStream::connect((origin.host(), origin.port()));
        let stream = match self.shared.config.connect_timeout {
            Some(after) => tokio::time::timeout(after, connecting).await.map_err(|_| {
                HttpError::Connect(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("connecting timed out after {after:?}"),
                ))
            })?,
            None => connecting.await,
        }
        .map_err(HttpError::Connect)?;
        // Requests are written whole in one write: Nagle's algorithm would only delay them.
        let _ = stream.set_nodelay(true);
        self.shared.opened.fetch_add(1, Ordering::Relaxed);
        Ok(Conn::new(stream))
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        // The lock guards a plain list; a panic elsewhere while holding it leaves it usable.
        self.shared
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection that still looks open; stale ones are dropped.
    fn take_idle(&self) -> Option<Conn<TcpStream>> {
        let mut idle = self.idle();
        while let Some(Idle { conn, since }) = idle.pop() {
            if since.elapsed() < self.shared.config.idle_timeout && looks_open(&conn) {
                return Some(conn);
            }
        }
        None
    }

    fn put_idle(&self, conn: Conn<TcpStream>) {
        let timeout = self.shared.config.idle_timeout;
        let mut idle = self.idle();
        idle.retain(|i| i.since.elapsed() < timeout);
        if idle.len() < self.shared.config.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }
}

/// Whether an idle connection is still open as far as can be told without waiting: nothing
/// to read (a closed one reads as end of stream, and an idle one must have nothing pending).
/// A connection closed so recently that the close is not yet seen passes; the retry in
/// [`HttpClient::send`] covers that.
fn looks_open(conn: &Conn<TcpStream>) -> bool {
    if conn.has_unread() {
        return false;
    }
    let mut probe = [0u8; 1];
    matches!(conn.stream().try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}
