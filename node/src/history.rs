//! A bounded in-memory history of the node's vital numbers, for the dashboard's charts
//! (`gethistory`, docs/api.md). Monero P2Pool's users read such charts on third-party observer
//! sites; a node that keeps a day of its own numbers shows them without anyone else's server.
//!
//! One [`Sample`] every [`SAMPLE_INTERVAL`], taken by the supervised `history` task
//! ([`run_sampler`]); at most [`MAX_SAMPLES`], the oldest dropped first, so memory stays fixed
//! (about 0.5 MB) however long the node runs. Nothing is written to disk: after a restart the
//! charts start again, which is what an operator watching a restart expects to see.
//!
//! Counters in a sample are cumulative since the node started (as Prometheus counters are), so
//! a reader that skips samples (a day's view sends every 8th) still gets exact totals between
//! the points it has; rates are what the node estimated at the sample's time.

use crate::api::Api;
use crate::supervisor::TaskResult;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Time between two samples: 15 s shows a share-by-share rhythm (main's shares come every
/// 10 s or so) in the hour view without making the day's ring large.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(15);
/// How far back the history reaches: the dashboard's longest view is a day.
pub const HISTORY_SPAN_SECS: u64 = 86_400;
/// Samples kept: a day of them (5,760 samples of under 100 bytes each).
pub const MAX_SAMPLES: usize = (HISTORY_SPAN_SECS / SAMPLE_INTERVAL.as_secs()) as usize;
/// Most points one `gethistory` answer holds per series: about one per pixel of a wide chart;
/// longer spans are thinned to fit, so an answer stays under about 100 kB of JSON.
pub const MAX_POINTS: usize = 720;

/// The node's numbers at one moment. Hashrates are whole hashes per second; counters are
/// cumulative since start; the share difficulty stays a float (regtest's is far below 1).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    /// Unix time of the sample.
    pub time: u64,
    /// The pool's hashrate, from the sharechain's work over its last shares.
    pub pool_hashrate: u64,
    /// This node's rigs (Stratum) and embedded workers together.
    pub local_hashrate: u64,
    /// Difficulty of the next share (difficulty-1 units), 0 without a template.
    pub share_difficulty: f64,
    /// Height of the best share.
    pub height: u64,
    /// Shares found by this node's rigs and workers and added to the sharechain.
    pub shares_own: u64,
    /// Shares found by this node or its peers (gossip) and added to the sharechain; shares
    /// fetched by sync are not counted (they were found before, not now).
    pub shares_total: u64,
    /// Of those, shares that did not extend the best chain when they arrived (uncle candidates).
    pub shares_side: u64,
    /// Stratum submits accepted and stale (job expired), for the stale rate.
    pub submits_accepted: u64,
    pub submits_stale: u64,
    /// Connected peers.
    pub peers: u64,
}

/// Shares counted from the node's `share` events since start: the sharechain task announces
/// every share it adds, naming the worker (a local rig or embedded worker) or `peer`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShareCounts {
    pub own: u64,
    pub total: u64,
    pub side: u64,
}

impl ShareCounts {
    /// Counts one event of the API's event stream (anything but a `share` is ignored).
    pub fn count(&mut self, event: &Value) {
        if event.get("type").and_then(Value::as_str) != Some("share") {
            return;
        }
        self.total += 1;
        if event.get("worker").and_then(Value::as_str) != Some("peer") {
            self.own += 1;
        }
        if event.get("best").and_then(Value::as_bool) == Some(false) {
            self.side += 1;
        }
    }
}

/// The ring of samples, shared by the sampler task and the API.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Sample>> {
        // A panic while holding the lock leaves a consistent ring (push and pop are atomic
        // with respect to it): keep using it.
        self.samples.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a sample, dropping the oldest beyond [`MAX_SAMPLES`].
    pub fn push(&self, sample: Sample) {
        let mut ring = self.lock();
        while ring.len() >= MAX_SAMPLES {
            ring.pop_front();
        }
        ring.push_back(sample);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The samples of the last `span_secs` before `now`, oldest first, thinned to at most
    /// `max_points` by keeping every k-th (counting back from the newest, which is always kept).
    pub fn query(&self, span_secs: u64, now: u64, max_points: usize) -> Vec<Sample> {
        let ring = self.lock();
        let from = now.saturating_sub(span_secs);
        let recent: Vec<Sample> = ring.iter().filter(|s| s.time >= from).copied().collect();
        let max_points = max_points.max(1);
        let stride = recent.len().div_ceil(max_points).max(1);
        let mut out: Vec<Sample> = recent.iter().rev().step_by(stride).copied().collect();
        out.reverse();
        out
    }
}

/// The answer to `gethistory`: one array per series (the layout charting libraries take),
/// all of the same length, oldest first.
pub fn history_json(samples: &[Sample], span_secs: u64) -> Value {
    let col = |f: fn(&Sample) -> u64| samples.iter().map(f).collect::<Vec<u64>>();
    let step = match samples {
        [a, b, ..] => b.time.saturating_sub(a.time),
        _ => SAMPLE_INTERVAL.as_secs(),
    };
    json!({
        "interval_secs": SAMPLE_INTERVAL.as_secs(),
        "span_secs": span_secs,
        "step_secs": step,
        "time": col(|s| s.time),
        "pool_hashrate": col(|s| s.pool_hashrate),
        "local_hashrate": col(|s| s.local_hashrate),
        "share_difficulty": samples.iter().map(|s| s.share_difficulty).collect::<Vec<f64>>(),
        "height": col(|s| s.height),
        "shares_own": col(|s| s.shares_own),
        "shares_total": col(|s| s.shares_total),
        "shares_side": col(|s| s.shares_side),
        "submits_accepted": col(|s| s.submits_accepted),
        "submits_stale": col(|s| s.submits_stale),
        "peers": col(|s| s.peers),
    })
}

/// The `history` task: a sample at start (so a fresh node's charts have a point at once), then
/// one every [`SAMPLE_INTERVAL`], until the node stops; meanwhile it counts the `share` events
/// of `events` ([`ShareCounts`]).
pub async fn run_sampler(
    api: Arc<Api>,
    mut events: broadcast::Receiver<Value>,
    mut stop: watch::Receiver<bool>,
) -> TaskResult {
    let mut tick = tokio::time::interval(SAMPLE_INTERVAL);
    // A stalled runtime must not make up for lost time with a burst of identical samples.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shares = ShareCounts::default();
    let mut listening = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            event = events.recv(), if listening => {
                match event {
                    Ok(e) => shares.count(&e),
                    // Events this task was too slow for are lost to the counts, not fatal.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => listening = false,
                }
                continue;
            }
            _ = stop.wait_for(|s| *s) => return Ok(()),
        }
        // A sharechain task that stopped ends the node through its own supervision; until
        // then, samples simply pause.
        if let Ok(sample) = api.sample(shares).await {
            api.history.push(sample);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: u64) -> Sample {
        Sample {
            time,
            height: time,
            ..Sample::default()
        }
    }

    #[test]
    fn the_ring_holds_a_day_and_drops_the_oldest() {
        let h = History::new();
        for i in 0..MAX_SAMPLES as u64 + 10 {
            h.push(at(i));
        }
        assert_eq!(h.len(), MAX_SAMPLES);
        let all = h.query(u64::MAX, u64::MAX, usize::MAX);
        assert_eq!(all.first().map(|s| s.time), Some(10));
        assert_eq!(all.last().map(|s| s.time), Some(MAX_SAMPLES as u64 + 9));
    }

    #[test]
    fn a_query_keeps_its_span_and_thins_to_max_points_keeping_the_newest() {
        let h = History::new();
        for i in 0..1000 {
            h.push(at(i * 15));
        }
        let now = 999 * 15;
        let hour = h.query(3600, now, MAX_POINTS);
        assert_eq!(hour.len(), 241);
        assert_eq!(hour[0].time, now - 3600);
        let thin = h.query(u64::MAX, now, 100);
        assert!(thin.len() <= 100, "{}", thin.len());
        assert_eq!(thin.last().map(|s| s.time), Some(now));
        assert!(thin.windows(2).all(|w| w[1].time - w[0].time == 150));
        assert!(h.query(10, 0, 0).len() <= 1);
        let v = history_json(&thin, 86_400);
        assert_eq!(v["time"].as_array().map(Vec::len), Some(thin.len()));
        assert_eq!(v["peers"].as_array().map(Vec::len), Some(thin.len()));
        assert_eq!(v["step_secs"], 150);
        assert!(History::new().is_empty());
    }

    #[test]
    fn share_events_count_own_peer_and_side_shares() {
        let mut c = ShareCounts::default();
        c.count(&json!({"type": "share", "worker": "rig1", "best": true}));
        c.count(&json!({"type": "share", "worker": "peer", "best": false}));
        c.count(&json!({"type": "share", "worker": "cpu", "best": false}));
        c.count(&json!({"type": "block", "worker": "rig1"}));
        c.count(&json!("garbage"));
        assert_eq!(
            c,
            ShareCounts {
                own: 2,
                total: 3,
                side: 2
            }
        );
    }
}
