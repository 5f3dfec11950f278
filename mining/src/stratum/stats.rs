//! Counters of the Stratum server and its per-miner table.

use otedama_consensus::PayoutScript;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Miners (payout, worker) tracked at most; idle entries without connections are pruned when
/// the table is full, and new miners beyond it go uncounted in the table (never in the totals).
pub const MAX_MINERS: usize = 100_000;
/// Entries without connections are kept this long after their last activity.
const MINER_RETENTION_SECS: u64 = 24 * 3600;
/// Hashrate window: `BUCKETS` buckets of `BUCKET_SECS`.
const BUCKET_SECS: u64 = 60;
const BUCKETS: usize = 10;

/// Server-wide counters; every field is a plain atomic that the server only increments
/// (`connections_open` also decrements). Read them with [`StratumStats::counters`].
#[derive(Debug, Default)]
pub struct StratumStats {
    /// Connections accepted and served (refused ones not included).
    pub connections_total: AtomicU64,
    /// Connections being served now.
    pub connections_open: AtomicU64,
    /// Connections closed at once because `max_connections` were open (the refusals for one
    /// address's cap and for bans are counted apart, below).
    pub connections_refused: AtomicU64,
    /// Submits that met the connection's difficulty.
    pub submits_accepted: AtomicU64,
    /// Submits for unknown or expired jobs (error 21).
    pub submits_stale: AtomicU64,
    /// Submits seen before on the connection (error 22).
    pub submits_duplicate: AtomicU64,
    /// Submits below the connection's difficulty (error 23).
    pub submits_low_difficulty: AtomicU64,
    /// Submits refused for any other reason (errors 20, 24, 25).
    pub submits_rejected: AtomicU64,
    /// Accepted submits that also met the share target.
    pub shares_found: AtomicU64,
    /// Found shares that could not be handed on (channel full or closed).
    pub shares_dropped: AtomicU64,
    /// Connections closed at once because their address held `max_connections_per_ip`.
    pub connections_refused_per_ip: AtomicU64,
    /// Connections closed at once because their address was banned.
    pub connections_refused_banned: AtomicU64,
    /// Addresses banned (a connection ran out its bad-submit score) that were not banned
    /// already; renewals of a ban are not counted.
    pub bans: AtomicU64,
    /// Connections closed for their bad-submit score (banned or, with bans off, only closed).
    pub closed_score: AtomicU64,
    /// Bad submits of a throttled connection, each followed by a pause in reading it.
    pub throttle_pauses: AtomicU64,
    /// Low-difficulty submits not scored: they met the difficulty in force before a raise,
    /// within the grace after it (they are counted in `submits_low_difficulty` too).
    pub submits_forgiven: AtomicU64,
    /// Requests of any method refused by the per-connection rate limit.
    pub requests_rate_limited: AtomicU64,
    /// `mining.authorize` refused because `max_payouts` other addresses are served.
    pub authorize_refused_payouts: AtomicU64,
    /// `mining.authorize` refused for any other reason (bad username, another payout than the
    /// connection's, too many workers).
    pub authorize_refused_other: AtomicU64,
    /// Connections closed by the server for the rate limit, malformed lines or an over-long
    /// line.
    pub closed_abuse: AtomicU64,
    /// Connections closed for not subscribing and authorizing in time, or for silence.
    pub closed_timeout: AtomicU64,
    /// Connections closed because they did not read their replies (queue full, write stuck).
    pub closed_slow_reader: AtomicU64,
    miners: Mutex<HashMap<(PayoutScript, String), Arc<MinerEntry>>>,
}

/// A copy of the counters of [`StratumStats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StratumCounters {
    pub connections_total: u64,
    pub connections_open: u64,
    pub connections_refused: u64,
    pub submits_accepted: u64,
    pub submits_stale: u64,
    pub submits_duplicate: u64,
    pub submits_low_difficulty: u64,
    pub submits_rejected: u64,
    pub shares_found: u64,
    pub shares_dropped: u64,
    pub connections_refused_per_ip: u64,
    pub connections_refused_banned: u64,
    pub bans: u64,
    pub closed_score: u64,
    pub throttle_pauses: u64,
    pub submits_forgiven: u64,
    pub requests_rate_limited: u64,
    pub authorize_refused_payouts: u64,
    pub authorize_refused_other: u64,
    pub closed_abuse: u64,
    pub closed_timeout: u64,
    pub closed_slow_reader: u64,
}

/// One row of the miner table: a worker name paying one payout script, over all its
/// connections.
#[derive(Clone, Debug, PartialEq)]
pub struct MinerStats {
    /// The worker part of the username (after `ADDRESS.`), or the whole username when it is not
    /// an address; empty for a bare address.
    pub worker: String,
    /// The payout address as the miner gave it, or the default payout's address.
    pub payout_address: String,
    pub payout_script: PayoutScript,
    /// Whether the miner is paid the node's default payout (its username was not an address).
    pub default_payout: bool,
    /// Connections authorized as this miner now.
    pub connections: u32,
    pub accepted: u64,
    /// Submits for unknown or expired jobs.
    pub stale: u64,
    /// Every other refused submit (duplicate, low difficulty, malformed).
    pub rejected: u64,
    /// Accepted submits that were shares.
    pub shares_found: u64,
    /// Sum of the Stratum difficulty of accepted submits.
    pub accepted_difficulty: f64,
    /// Unix time of the last submit, accepted or not.
    pub last_submit: Option<u64>,
    /// Hashes per second, estimated from the work of accepted submits over the last 10 minutes
    /// (at least one minute once the miner has submitted).
    pub hashrate: f64,
}

impl StratumStats {
    pub fn new() -> StratumStats {
        StratumStats::default()
    }

    /// A copy of the counters.
    pub fn counters(&self) -> StratumCounters {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StratumCounters {
            connections_total: l(&self.connections_total),
            connections_open: l(&self.connections_open),
            connections_refused: l(&self.connections_refused),
            submits_accepted: l(&self.submits_accepted),
            submits_stale: l(&self.submits_stale),
            submits_duplicate: l(&self.submits_duplicate),
            submits_low_difficulty: l(&self.submits_low_difficulty),
            submits_rejected: l(&self.submits_rejected),
            shares_found: l(&self.shares_found),
            shares_dropped: l(&self.shares_dropped),
            connections_refused_per_ip: l(&self.connections_refused_per_ip),
            connections_refused_banned: l(&self.connections_refused_banned),
            bans: l(&self.bans),
            closed_score: l(&self.closed_score),
            throttle_pauses: l(&self.throttle_pauses),
            submits_forgiven: l(&self.submits_forgiven),
            requests_rate_limited: l(&self.requests_rate_limited),
            authorize_refused_payouts: l(&self.authorize_refused_payouts),
            authorize_refused_other: l(&self.authorize_refused_other),
            closed_abuse: l(&self.closed_abuse),
            closed_timeout: l(&self.closed_timeout),
            closed_slow_reader: l(&self.closed_slow_reader),
        }
    }

    /// A snapshot of the miner table, sorted by payout address then worker.
    pub fn miners(&self) -> Vec<MinerStats> {
        self.miners_at(unix_now())
    }

    /// [`StratumStats::miners`] at a given Unix time (tests).
    pub fn miners_at(&self, now: u64) -> Vec<MinerStats> {
        let entries: Vec<Arc<MinerEntry>> = self.lock().values().cloned().collect();
        let mut out: Vec<MinerStats> = entries.iter().map(|e| e.snapshot(now)).collect();
        out.sort_by(|a, b| (&a.payout_address, &a.worker).cmp(&(&b.payout_address, &b.worker)));
        out
    }

    /// The sum of the miners' hashrate estimates.
    pub fn hashrate(&self) -> f64 {
        self.miners().iter().map(|m| m.hashrate).sum()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(PayoutScript, String), Arc<MinerEntry>>> {
        self.miners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The entry of a miner, created if new, with one more connection.
    pub(crate) fn register_miner(
        &self,
        payout: &PayoutScript,
        payout_address: &str,
        worker: &str,
        default_payout: bool,
    ) -> Arc<MinerEntry> {
        let now = unix_now();
        let mut map = self.lock();
        let key = (payout.clone(), worker.to_string());
        let entry = match map.get(&key) {
            Some(e) => e.clone(),
            None => {
                if map.len() >= MAX_MINERS {
                    map.retain(|_, e| e.is_live(now));
                }
                let e = Arc::new(MinerEntry {
                    worker: worker.to_string(),
                    payout_address: payout_address.to_string(),
                    payout_script: payout.clone(),
                    default_payout,
                    inner: Mutex::new(MinerInner {
                        last_activity: now,
                        ..MinerInner::default()
                    }),
                });
                if map.len() < MAX_MINERS {
                    map.insert(key, e.clone());
                }
                e
            }
        };
        drop(map);
        entry.update(|m| {
            m.connections += 1;
            m.last_activity = now;
        });
        entry
    }
}

/// Hashrate buckets: work per minute over the last `BUCKETS` minutes.
#[derive(Debug, Default)]
struct RateWindow {
    minute: [u64; BUCKETS],
    work: [f64; BUCKETS],
    first: Option<u64>,
}

impl RateWindow {
    fn add(&mut self, now: u64, work: f64) {
        let m = now / BUCKET_SECS;
        let i = (m % BUCKETS as u64) as usize;
        if self.minute[i] != m {
            self.minute[i] = m;
            self.work[i] = 0.0;
        }
        self.work[i] += work;
        self.first.get_or_insert(now);
    }

    fn rate(&self, now: u64) -> f64 {
        let Some(first) = self.first else {
            return 0.0;
        };
        let m = now / BUCKET_SECS;
        let sum: f64 = (0..BUCKETS)
            .filter(|&i| self.minute[i] <= m && self.minute[i] + BUCKETS as u64 > m)
            .map(|i| self.work[i])
            .sum();
        // The window is the current partial minute plus the nine before it.
        let window = (BUCKETS as u64 - 1) * BUCKET_SECS + now % BUCKET_SECS + 1;
        let span = now.saturating_sub(first).min(window).max(BUCKET_SECS);
        sum / span as f64
    }
}

#[derive(Debug, Default)]
struct MinerInner {
    connections: u32,
    accepted: u64,
    stale: u64,
    rejected: u64,
    shares_found: u64,
    accepted_difficulty: f64,
    last_submit: Option<u64>,
    last_activity: u64,
    window: RateWindow,
}

/// A row of the miner table, updated by the connections of that miner.
#[derive(Debug)]
pub(crate) struct MinerEntry {
    worker: String,
    payout_address: String,
    payout_script: PayoutScript,
    default_payout: bool,
    inner: Mutex<MinerInner>,
}

/// How a submit ended, for the miner table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum SubmitOutcome {
    /// Accepted with this Stratum difficulty and this many expected hashes; `share` when it
    /// also met the share target.
    Accepted {
        difficulty: f64,
        work: f64,
        share: bool,
    },
    Stale,
    Rejected,
}

impl MinerEntry {
    fn update(&self, f: impl FnOnce(&mut MinerInner)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g);
    }

    fn is_live(&self, now: u64) -> bool {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.connections > 0 || now.saturating_sub(g.last_activity) < MINER_RETENTION_SECS
    }

    pub(crate) fn record(&self, now: u64, outcome: SubmitOutcome) {
        self.update(|m| {
            m.last_submit = Some(now);
            m.last_activity = now;
            match outcome {
                SubmitOutcome::Accepted {
                    difficulty,
                    work,
                    share,
                } => {
                    m.accepted += 1;
                    m.accepted_difficulty += difficulty;
                    m.window.add(now, work);
                    if share {
                        m.shares_found += 1;
                    }
                }
                SubmitOutcome::Stale => m.stale += 1,
                SubmitOutcome::Rejected => m.rejected += 1,
            }
        });
    }

    /// One connection of this miner closed.
    pub(crate) fn disconnect(&self) {
        let now = unix_now();
        self.update(|m| {
            m.connections = m.connections.saturating_sub(1);
            m.last_activity = now;
        });
    }

    fn snapshot(&self, now: u64) -> MinerStats {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        MinerStats {
            worker: self.worker.clone(),
            payout_address: self.payout_address.clone(),
            payout_script: self.payout_script.clone(),
            default_payout: self.default_payout,
            connections: g.connections,
            accepted: g.accepted,
            stale: g.stale,
            rejected: g.rejected,
            shares_found: g.shares_found,
            accepted_difficulty: g.accepted_difficulty,
            last_submit: g.last_submit,
            hashrate: g.window.rate(now),
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_window_averages_over_ten_minutes() {
        let mut w = RateWindow::default();
        let t0 = 1_000_020;
        assert_eq!(w.rate(t0), 0.0);
        // 600 hashes per second for 20 minutes, one add per second.
        for s in 0..1200 {
            w.add(t0 + s, 600.0);
        }
        let r = w.rate(t0 + 1199);
        assert!((r - 600.0).abs() < 600.0 * 0.02, "{r}");
        // Ten minutes later, nothing left.
        assert_eq!(w.rate(t0 + 1199 + 660), 0.0);
        // A fresh miner's first submit counts over at least a minute.
        let mut w = RateWindow::default();
        w.add(t0, 6000.0);
        assert_eq!(w.rate(t0), 100.0);
    }

    #[test]
    fn miners_are_counted_per_payout_and_worker() {
        let s = StratumStats::new();
        let p = PayoutScript::new(&[0x51]);
        let a = s.register_miner(&p, "addr", "rig", false);
        let b = s.register_miner(&p, "addr", "rig", false);
        assert!(Arc::ptr_eq(&a, &b));
        a.record(
            100,
            SubmitOutcome::Accepted {
                difficulty: 2.0,
                work: 120.0,
                share: true,
            },
        );
        b.record(101, SubmitOutcome::Stale);
        a.disconnect();
        let m = s.miners_at(101);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].connections, 1);
        assert_eq!((m[0].accepted, m[0].stale, m[0].shares_found), (1, 1, 1));
        assert_eq!(m[0].hashrate, 2.0);
        assert_eq!(m[0].last_submit, Some(101));
    }
}
