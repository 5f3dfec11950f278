//! The dialect-independent half of a miner connection, shared by the Bitcoin Stratum server and
//! the xmrig-dialect server: one place for the limits that keep a connection from costing the
//! node more than it pays (outbound queue and write timeout, request rate, malformed lines,
//! login and idle timeouts, the bad-submit score and bans) and for the counters of how
//! connections end, so the two dialects cannot drift apart on them.

use super::config::VardiffConfig;
use super::guard::{IpPermit, Score, Standing, Verdict, THROTTLE_PAUSE};
use super::line::LineReader;
use super::listener::Admitted;
use super::stats::StratumStats;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

/// Malformed lines (bad JSON, bad UTF-8, not a request) before a connection is closed.
const MAX_MALFORMED: u32 = 10;
/// A write that makes no progress for this long closes the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time queued replies get to go out after a connection is closed by the server.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Which server a log line comes from: log lines and metrics are shared, so they must say.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dialect {
    /// Starts connection log lines: `"{name} connection closed"`.
    pub name: &'static str,
    /// Starts the listener's log lines: `"{server} listening"`.
    pub server: &'static str,
}

/// A dialect's configuration, as far as the shared half of a connection needs it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnParams {
    pub dialect: Dialect,
    pub max_line_bytes: usize,
    /// Bytes of unsent replies after which a connection is closed as not reading.
    pub outbound_bytes: usize,
    pub requests_per_sec: u32,
    /// Time to get ready (subscribed and authorized, or logged in).
    pub auth_timeout: Duration,
    pub idle_timeout: Duration,
    pub ban_duration: Duration,
}

/// Why a connection ended.
#[derive(Debug)]
pub(crate) enum Close {
    Eof,
    // Read by the `Debug` of the close log line.
    Io(#[allow(dead_code)] std::io::Error),
    LineTooLong,
    Malformed,
    RateLimit,
    QueueFull,
    /// Not subscribed and authorized (xmrig: not logged in) in time.
    AuthTimeout,
    IdleTimeout,
    /// Replies waited longer than [`WRITE_TIMEOUT`] for a client that does not read.
    WriteTimeout,
    /// The bad-submit score ran out (the address is banned unless bans are off).
    Score,
    Shutdown,
}

/// Counts a connection as open for as long as it lives: dropped also when the task is aborted
/// at shutdown, so the gauge cannot leak.
struct OpenConnection(Arc<StratumStats>);

impl OpenConnection {
    fn new(stats: Arc<StratumStats>) -> OpenConnection {
        stats.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenConnection(stats)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `t + d`, or far in the future where that overflows (a huge configured timeout).
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(365 * 86400))
}

/// The vardiff window of a connection. Both dialects move the difficulty by the same rule
/// (docs/stratum.md section 5); only what the difficulty is and how it is announced differ.
pub(crate) struct Vardiff {
    start: Instant,
    submits: u32,
    /// The next timed retarget.
    pub next: Instant,
}

impl Vardiff {
    fn new(now: Instant) -> Vardiff {
        Vardiff {
            start: now,
            submits: 0,
            next: now,
        }
    }

    /// Starts a fresh window (work started, or the difficulty was set by the miner).
    pub(crate) fn restart(&mut self, now: Instant, retarget_interval: Duration) {
        self.start = now;
        self.submits = 0;
        self.next = after(now, retarget_interval);
    }

    /// Counts an accepted submit; whether a retarget is due.
    pub(crate) fn accepted(&mut self, v: &VardiffConfig) -> bool {
        self.submits += 1;
        self.submits >= v.retarget_submits || self.start.elapsed() >= v.retarget_interval
    }

    /// The factor to move the difficulty by, towards one accepted submit per target interval;
    /// `None` to keep it. Runs after `retarget_submits` accepted submits or
    /// `retarget_interval`, whichever comes first; `on`: whether vardiff applies at all.
    pub(crate) fn retarget(&mut self, v: &VardiffConfig, on: bool, now: Instant) -> Option<f64> {
        self.next = after(now, v.retarget_interval);
        if !on {
            return None;
        }
        let elapsed = now
            .saturating_duration_since(self.start)
            .as_secs_f64()
            .max(0.001);
        let target = v.target_submit_interval.as_secs_f64();
        let submits = self.submits as f64;
        // Observed submit rate over the wanted one.
        let factor = if self.submits == 0 {
            // Nothing yet: only lower once two target intervals have passed in silence.
            if elapsed < 2.0 * target {
                return None;
            }
            target / elapsed
        } else {
            submits * target / elapsed
        }
        .clamp(1.0 / v.max_step, v.max_step);
        self.start = now;
        self.submits = 0;
        // A deadband: a few submits are a noisy estimate of the rate.
        if submits > 0.0 && (2.0 / 3.0..=1.5).contains(&factor) {
            return None;
        }
        Some(factor)
    }
}

/// One connection's socket, limits and standing; the dialect's session owns one.
pub(crate) struct Conn {
    pub peer: SocketAddr,
    params: ConnParams,
    wr: OwnedWriteHalf,
    pending: Vec<u8>,
    /// When the oldest unsent reply was queued.
    pending_since: Option<Instant>,
    /// This connection's standing with its address, and its bad-submit account.
    ip: IpPermit,
    pub score: Score,
    /// Reading is paused until then (a throttled connection after a bad submit).
    paused_until: Option<Instant>,
    pub vardiff: Vardiff,
    tokens: f64,
    refilled: Instant,
    over_limit: u32,
    malformed: u32,
    connected: Instant,
    last_message: Instant,
    open: OpenConnection,
    _permit: OwnedSemaphorePermit,
}

impl Conn {
    /// Takes over an admitted connection: its line reader, its shared half, and the server's
    /// stop signal.
    pub(crate) fn open(
        admitted: Admitted,
        params: ConnParams,
        stats: &Arc<StratumStats>,
    ) -> (LineReader<OwnedReadHalf>, Conn, watch::Receiver<bool>) {
        let Admitted {
            sock,
            peer,
            stop,
            permit,
            ip,
        } = admitted;
        stats.connections_total.fetch_add(1, Ordering::Relaxed);
        let open = OpenConnection::new(stats.clone());
        let _ = sock.set_nodelay(true);
        let (rd, wr) = sock.into_split();
        let reader = LineReader::new(rd, params.max_line_bytes);
        let now = Instant::now();
        let conn = Conn {
            peer,
            params,
            wr,
            pending: Vec::new(),
            pending_since: None,
            score: Score::new(ip.carried()),
            ip,
            paused_until: None,
            vardiff: Vardiff::new(now),
            tokens: params.requests_per_sec as f64,
            refilled: now,
            over_limit: 0,
            malformed: 0,
            connected: now,
            last_message: now,
            open,
            _permit: permit,
        };
        (reader, conn, stop)
    }

    fn stats(&self) -> &StratumStats {
        &self.open.0
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Completes when the socket may take more of the queued replies.
    pub(crate) async fn writable(&self) -> Result<(), Close> {
        self.wr.writable().await.map_err(Close::Io)
    }

    /// Queues a message; a full queue means the client does not read: close it.
    pub(crate) fn send(&mut self, msg: String) -> Result<(), Close> {
        if !self.pending.is_empty() {
            if self.pending.len() + msg.len() > self.params.outbound_bytes {
                return Err(Close::QueueFull);
            }
            self.pending.extend_from_slice(msg.as_bytes());
            return Ok(());
        }
        let queued = match self.wr.try_write(msg.as_bytes()) {
            Ok(n) => {
                self.pending.extend_from_slice(&msg.as_bytes()[n..]);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.pending.extend_from_slice(msg.as_bytes());
                Ok(())
            }
            Err(e) => Err(Close::Io(e)),
        };
        if !self.pending.is_empty() && self.pending_since.is_none() {
            self.pending_since = Some(Instant::now());
        }
        queued
    }

    pub(crate) fn flush(&mut self) -> Result<(), Close> {
        while !self.pending.is_empty() {
            match self.wr.try_write(&self.pending) {
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(Close::Io(e)),
            }
        }
        self.pending_since = None;
        Ok(())
    }

    /// Marks a line received (the idle timeout starts again).
    pub(crate) fn line_received(&mut self) {
        self.last_message = Instant::now();
    }

    /// Counts a malformed line after sending `reply` to it; too many close the connection.
    pub(crate) fn malformed(&mut self, reply: String) -> Result<(), Close> {
        self.malformed += 1;
        self.send(reply)?;
        if self.malformed >= MAX_MALFORMED {
            return Err(Close::Malformed);
        }
        Ok(())
    }

    /// Takes one token of the request bucket: `Ok(true)` to serve the request, `Ok(false)` to
    /// refuse it (over the rate; counted), and closes a connection far over the rate.
    pub(crate) fn admit_request(&mut self, is_submit: bool) -> Result<bool, Close> {
        let rate = self.params.requests_per_sec;
        let now = Instant::now();
        let dt = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        self.tokens = (self.tokens + dt * rate as f64).min(rate as f64);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(true);
        }
        self.over_limit += 1;
        let stats = self.stats();
        stats.requests_rate_limited.fetch_add(1, Ordering::Relaxed);
        if is_submit {
            stats.submits_rejected.fetch_add(1, Ordering::Relaxed);
        }
        if self.over_limit >= 10 * rate {
            return Err(Close::RateLimit);
        }
        Ok(false)
    }

    /// Whether reading is paused now (a throttled connection).
    pub(crate) fn paused(&mut self) -> bool {
        match self.paused_until {
            Some(t) if Instant::now() < t => true,
            _ => {
                self.paused_until = None;
                false
            }
        }
    }

    /// When [`Conn::on_timer`] has something to do: `ready`, whether the connection is
    /// subscribed and authorized (logged in); `vardiff`, whether timed retargets apply.
    pub(crate) fn next_deadline(&self, ready: bool, vardiff: bool) -> Instant {
        let p = &self.params;
        let mut d = after(self.last_message, p.idle_timeout);
        if !ready {
            d = d.min(after(self.connected, p.auth_timeout));
        }
        if vardiff {
            d = d.min(self.vardiff.next);
        }
        if let Some(since) = self.pending_since {
            d = d.min(after(since, WRITE_TIMEOUT));
        }
        if let Some(t) = self.paused_until {
            d = d.min(t);
        }
        d
    }

    /// Closes a connection past one of its timeouts; whether a timed retarget is due.
    pub(crate) fn on_timer(&self, now: Instant, ready: bool, vardiff: bool) -> Result<bool, Close> {
        let p = &self.params;
        if !ready && now >= after(self.connected, p.auth_timeout) {
            return Err(Close::AuthTimeout);
        }
        if now >= after(self.last_message, p.idle_timeout) {
            return Err(Close::IdleTimeout);
        }
        if self
            .pending_since
            .is_some_and(|since| now >= after(since, WRITE_TIMEOUT))
        {
            return Err(Close::WriteTimeout);
        }
        Ok(vardiff && now >= self.vardiff.next)
    }

    /// Scores a refused submit: throttles, or closes and bans, a connection whose submits keep
    /// costing the node without ever paying it (docs/security.md).
    pub(crate) fn account(&mut self, verdict: Verdict) -> Result<(), Close> {
        let stats = &self.open.0;
        match self.score.record(verdict) {
            Standing::Fine => Ok(()),
            Standing::Throttled => {
                stats.throttle_pauses.fetch_add(1, Ordering::Relaxed);
                self.paused_until = Some(Instant::now() + THROTTLE_PAUSE);
                Ok(())
            }
            Standing::Banned => {
                stats.closed_score.fetch_add(1, Ordering::Relaxed);
                let ban = self.ip.ban(Instant::now());
                if ban == Some(true) {
                    stats.bans.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(
                    peer = %self.peer,
                    banned = ban.is_some(),
                    ban_secs = self.params.ban_duration.as_secs(),
                    "{} connection closed for bad submits",
                    self.params.dialect.name
                );
                Err(Close::Score)
            }
        }
    }

    /// Ends the connection: counts why, hands unpaid debt on to the address's next connection,
    /// and gives queued replies [`FLUSH_GRACE`] to go out.
    pub(crate) async fn finish(&mut self, why: Close) {
        tracing::debug!(peer = %self.peer, reason = ?why, "{} connection closed", self.params.dialect.name);
        let stats = self.stats();
        match why {
            Close::LineTooLong | Close::Malformed | Close::RateLimit => {
                stats.closed_abuse.fetch_add(1, Ordering::Relaxed);
            }
            Close::AuthTimeout | Close::IdleTimeout => {
                stats.closed_timeout.fetch_add(1, Ordering::Relaxed);
            }
            Close::QueueFull | Close::WriteTimeout => {
                stats.closed_slow_reader.fetch_add(1, Ordering::Relaxed);
            }
            // Counted (and the address banned) where the score ran out.
            Close::Score => {}
            Close::Eof | Close::Io(_) | Close::Shutdown => {}
        }
        if !matches!(why, Close::Score) {
            // Unpaid debt goes to the address's next connection.
            let score = self.score;
            self.ip.leave(score);
        }
        let pending = std::mem::take(&mut self.pending);
        let wr = &mut self.wr;
        let _ = tokio::time::timeout(FLUSH_GRACE, async {
            let _ = wr.write_all(&pending).await;
            let _ = wr.shutdown().await;
        })
        .await;
    }
}
