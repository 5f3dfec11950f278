//! One miner connection: reads requests, answers them, pushes work.

use super::config::StratumConfig;
use super::conn::{Close, Conn, ConnParams, Dialect};
use super::difficulty::{build_header, difficulty_to_target, target_to_difficulty};
use super::guard::{PayoutSlot, PayoutSlots, Verdict, DIFFICULTY_GRACE};
use super::line::{LineRead, LineReader};
use super::listener::Admitted;
use super::protocol::{
    difficulty_json, notification, notify_params, parse_hex_uint, reply_err, reply_ok, ErrorCode,
    RpcError,
};
use super::stats::{unix_now, MinerEntry, StratumStats, SubmitOutcome};
use super::username::parse_username;
use crate::job::{FoundShare, FoundSink, Job, JobSource, WorkEpoch};
use otedama_consensus::PayoutScript;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Workers one connection may authorize.
const MAX_WORKERS_PER_CONNECTION: usize = 16;
/// Jobs whose notified difficulty a connection remembers.
const MAX_JOB_RECORDS: usize = 32;
/// Accepted submits a connection remembers for duplicate detection.
const MAX_SEEN_SUBMITS: usize = 64;

/// How the Bitcoin server's log lines start.
pub(crate) const STRATUM: Dialect = Dialect {
    name: "stratum",
    server: "stratum server",
};

/// What every connection shares.
pub(crate) struct Shared {
    pub config: StratumConfig,
    pub jobs: Arc<dyn JobSource>,
    pub found: FoundSink,
    pub stats: Arc<StratumStats>,
    pub extranonces: Arc<ExtranonceAllocator>,
    /// Display address of the default payout.
    pub default_address: String,
    /// The payout addresses served, capped at `config.max_payouts`.
    pub payouts: Arc<PayoutSlots>,
}

/// Hands out extranonce1 values: a counter mapped through a bijection salted per process, and
/// checked against the values of open connections, so none is in use twice at once.
pub(crate) struct ExtranonceAllocator {
    size: usize,
    salt: u64,
    next: AtomicU64,
    live: Mutex<HashSet<u64>>,
}

impl ExtranonceAllocator {
    pub(crate) fn new(size: usize) -> ExtranonceAllocator {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        h.write_u64(nanos);
        h.write_u32(std::process::id());
        ExtranonceAllocator {
            size,
            salt: h.finish(),
            next: AtomicU64::new(0),
            live: Mutex::new(HashSet::new()),
        }
    }

    fn mask(&self) -> u64 {
        if self.size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.size)) - 1
        }
    }

    /// A value not in use. The caller bounds open connections below `2^(8 * size)`.
    pub(crate) fn allocate(self: &Arc<Self>) -> Extranonce1 {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            // Multiplying by an odd constant and xoring are bijections modulo 2^k, so 2^k
            // consecutive counters give 2^k distinct values.
            let v = (c.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.salt) & self.mask();
            if live.insert(v) {
                return Extranonce1 {
                    value: v,
                    bytes: v.to_be_bytes()[8 - self.size..].to_vec(),
                    alloc: self.clone(),
                };
            }
        }
    }
}

/// An extranonce1 in use; freed when dropped.
pub(crate) struct Extranonce1 {
    value: u64,
    pub bytes: Vec<u8>,
    alloc: Arc<ExtranonceAllocator>,
}

impl Drop for Extranonce1 {
    fn drop(&mut self) {
        let mut live = self.alloc.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&self.value);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct SubmitKey {
    job: u64,
    extranonce2: u64,
    ntime: u32,
    nonce: u32,
    version: u32,
}

/// A refused submit and how it counts for the connection's score. Refusals convert from
/// [`RpcError`] as [`Verdict::Bad`]: what honest miners also get is marked where it is refused.
struct Refused {
    error: RpcError,
    verdict: Verdict,
}

impl From<RpcError> for Refused {
    fn from(error: RpcError) -> Refused {
        Refused {
            error,
            verdict: Verdict::Bad,
        }
    }
}

impl Refused {
    fn honest(error: RpcError) -> Refused {
        Refused {
            error,
            verdict: Verdict::Honest,
        }
    }
}

/// An accepted submit.
struct Accepted {
    difficulty: f64,
    work: f64,
    share: bool,
}

struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    work: watch::Receiver<WorkEpoch>,
    work_open: bool,
    extranonce1: Extranonce1,
    extranonce1_hex: String,
    subscribed: bool,
    /// The payout of this connection (fixed by its first authorize) and its display address.
    payout: Option<(PayoutScript, String)>,
    /// Authorized usernames.
    workers: HashMap<String, Arc<MinerEntry>>,
    /// Whether the first work was sent (subscribed and authorized).
    started: bool,
    version_mask: u32,
    /// Wanted difficulty (vardiff or suggested), before the share-difficulty cap.
    difficulty: f64,
    /// Last difficulty sent with `mining.set_difficulty`.
    sent_difficulty: Option<f64>,
    /// After a raise of the announced difficulty: the easiest difficulty in force within
    /// [`DIFFICULTY_GRACE`] before it, and when the raise was sent.
    raised: Option<(f64, Instant)>,
    /// The hold on the connection's payout address, once authorized.
    payout_slot: Option<PayoutSlot>,
    current: Option<Arc<Job>>,
    /// Easiest difficulty each recent job was notified with.
    job_difficulty: VecDeque<(u64, f64)>,
    seen_order: VecDeque<SubmitKey>,
    last_seq: u64,
}

/// Serves one accepted connection until it closes or the server stops.
pub(crate) async fn serve_connection(shared: Arc<Shared>, admitted: Admitted) {
    let (mut reader, conn, mut stop) =
        Conn::open(admitted, conn_params(&shared.config), &shared.stats);
    let mut session = Session::new(shared, conn);
    tracing::debug!(peer = %session.conn.peer, extranonce1 = %session.extranonce1_hex, "stratum connection");
    let why = if *stop.borrow() {
        Close::Shutdown
    } else {
        session.run(&mut reader, &mut stop).await
    };
    session.conn.finish(why).await;
    drop(session);
}

fn conn_params(c: &StratumConfig) -> ConnParams {
    ConnParams {
        dialect: STRATUM,
        max_line_bytes: c.max_line_bytes,
        outbound_bytes: c.outbound_queue * 1024,
        requests_per_sec: c.max_submits_per_sec,
        auth_timeout: c.auth_timeout,
        idle_timeout: c.idle_timeout,
        ban_duration: c.ban_duration,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for entry in self.workers.values() {
            entry.disconnect();
        }
    }
}

impl Session {
    fn new(shared: Arc<Shared>, conn: Conn) -> Session {
        let extranonce1 = shared.extranonces.allocate();
        let extranonce1_hex = hex::encode(&extranonce1.bytes);
        let mut work = shared.jobs.subscribe();
        let last_seq = work.borrow_and_update().seq;
        let c = &shared.config;
        let difficulty = c.initial_difficulty.max(c.min_difficulty);
        Session {
            conn,
            work,
            work_open: true,
            extranonce1,
            extranonce1_hex,
            subscribed: false,
            payout: None,
            workers: HashMap::new(),
            started: false,
            version_mask: 0,
            difficulty,
            sent_difficulty: None,
            raised: None,
            payout_slot: None,
            current: None,
            job_difficulty: VecDeque::new(),
            seen_order: VecDeque::new(),
            last_seq,
            shared,
        }
    }

    fn config(&self) -> &StratumConfig {
        &self.shared.config
    }

    fn ready(&self) -> bool {
        self.subscribed && self.payout.is_some()
    }

    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        reader: &mut LineReader<R>,
        stop: &mut watch::Receiver<bool>,
    ) -> Close {
        let sleep = tokio::time::sleep_until(self.next_deadline());
        tokio::pin!(sleep);
        loop {
            let deadline = self.next_deadline();
            if deadline < sleep.deadline() {
                sleep.as_mut().reset(deadline);
            }
            let watch_work = self.started && self.work_open;
            let has_pending = self.conn.has_pending();
            let reading = !self.conn.paused();
            let result = tokio::select! {
                biased;
                _ = stop.changed() => Err(Close::Shutdown),
                w = self.conn.writable(), if has_pending => w.and_then(|()| self.conn.flush()),
                changed = self.work.changed(), if watch_work => match changed {
                    Ok(()) => {
                        let epoch = *self.work.borrow_and_update();
                        self.on_new_work(epoch)
                    }
                    Err(_) => {
                        self.work_open = false;
                        Ok(())
                    }
                },
                line = reader.next_line(), if reading => match line {
                    Ok(LineRead::Line(l)) => self.on_line(&l),
                    Ok(LineRead::TooLong) => {
                        let _ = self.send(reply_err(
                            &Value::Null,
                            &RpcError::other("line too long; closing"),
                        ));
                        Err(Close::LineTooLong)
                    }
                    Ok(LineRead::Eof) => Err(Close::Eof),
                    Err(e) => Err(Close::Io(e)),
                },
                _ = &mut sleep => {
                    let r = self.on_timer();
                    sleep.as_mut().reset(self.next_deadline());
                    r
                }
            };
            if let Err(why) = result {
                return why;
            }
        }
    }

    fn vardiff_on(&self) -> bool {
        self.started && self.config().vardiff.enabled
    }

    fn next_deadline(&self) -> Instant {
        self.conn.next_deadline(self.ready(), self.vardiff_on())
    }

    fn on_timer(&mut self) -> Result<(), Close> {
        if self
            .conn
            .on_timer(Instant::now(), self.ready(), self.vardiff_on())?
        {
            self.retarget()?;
        }
        Ok(())
    }

    /// Queues a message; a full queue means the client does not read: close it.
    fn send(&mut self, msg: String) -> Result<(), Close> {
        self.conn.send(msg)
    }

    fn reply(&mut self, id: &Value, result: Result<Value, RpcError>) -> Result<(), Close> {
        match result {
            Ok(v) => self.send(reply_ok(id, v)),
            Err(e) => self.send(reply_err(id, &e)),
        }
    }

    fn malformed(&mut self, id: &Value, what: &'static str) -> Result<(), Close> {
        self.conn.malformed(reply_err(id, &RpcError::other(what)))
    }

    fn on_line(&mut self, raw: &[u8]) -> Result<(), Close> {
        self.conn.line_received();
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.malformed(&Value::Null, "invalid UTF-8");
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(text) else {
            return self.malformed(&Value::Null, "malformed JSON-RPC request");
        };
        let id = obj.remove("id").unwrap_or(Value::Null);
        let is_submit = obj.get("method").and_then(Value::as_str) == Some("mining.submit");
        if !self.conn.admit_request(is_submit)? {
            return self.send(reply_err(&id, &RpcError::other("rate limit exceeded")));
        }
        let method = match obj.remove("method") {
            Some(Value::String(m)) => m,
            _ => {
                // A reply from the client (we send no requests): ignore it.
                if obj.contains_key("result") || obj.contains_key("error") {
                    return Ok(());
                }
                return self.malformed(&id, "missing method");
            }
        };
        let params = obj.remove("params").unwrap_or(Value::Null);
        match method.as_str() {
            "mining.subscribe" => self.on_subscribe(&id),
            "mining.authorize" => self.on_authorize(&id, &params),
            "mining.configure" => {
                let r = self.configure(&params);
                self.reply(&id, r)
            }
            "mining.suggest_difficulty" => self.on_suggest_difficulty(&id, &params),
            "mining.extranonce.subscribe" => self.send(reply_ok(&id, json!(true))),
            "mining.ping" => self.send(reply_ok(&id, json!("pong"))),
            "mining.submit" => self.on_submit(&id, &params),
            _ => self.send(reply_err(&id, &RpcError::other("unknown method"))),
        }
    }

    fn on_subscribe(&mut self, id: &Value) -> Result<(), Close> {
        self.subscribed = true;
        let e1 = &self.extranonce1_hex;
        self.send(reply_ok(
            id,
            json!([
                [["mining.set_difficulty", e1], ["mining.notify", e1]],
                e1,
                self.config().extranonce2_size
            ]),
        ))?;
        self.maybe_start()
    }

    fn on_authorize(&mut self, id: &Value, params: &Value) -> Result<(), Close> {
        let Some(user) = params.get(0).and_then(Value::as_str) else {
            return self.send(reply_err(
                id,
                &RpcError::other("params must be [username, password]"),
            ));
        };
        if self.workers.contains_key(user) {
            return self.send(reply_ok(id, json!(true)));
        }
        if self.workers.len() >= MAX_WORKERS_PER_CONNECTION {
            self.shared
                .stats
                .authorize_refused_other
                .fetch_add(1, Ordering::Relaxed);
            return self.send(reply_err(
                id,
                &RpcError::other("too many workers on one connection"),
            ));
        }
        let sh = self.shared.clone();
        let u = match parse_username(
            sh.config.chain,
            &sh.config.default_payout,
            &sh.default_address,
            user,
        ) {
            Ok(u) => u,
            Err(e) => {
                sh.stats
                    .authorize_refused_other
                    .fetch_add(1, Ordering::Relaxed);
                return self.send(reply_err(
                    id,
                    &RpcError::new(ErrorCode::Unauthorized, e.to_string()),
                ));
            }
        };
        if let Some((script, addr)) = &self.payout {
            if *script != u.payout {
                let msg = format!(
                    "this connection already mines for {addr}; use one connection per payout address"
                );
                sh.stats
                    .authorize_refused_other
                    .fetch_add(1, Ordering::Relaxed);
                return self.send(reply_err(id, &RpcError::other(msg)));
            }
        }
        if self.payout_slot.is_none() {
            match sh.payouts.acquire(&u.payout) {
                Some(slot) => self.payout_slot = Some(slot),
                None => {
                    sh.stats
                        .authorize_refused_payouts
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(peer = %self.conn.peer, payout = %u.payout_address, "stratum payout refused: payout address cap reached");
                    let msg = format!(
                        "this node already serves {} payout addresses, its limit (each one costs a \
                         job rebuild on every change of work): mine to the node's own payout with a \
                         plain worker name as username, or run your own node",
                        sh.payouts.max()
                    );
                    return self.send(reply_err(id, &RpcError::new(ErrorCode::Unauthorized, msg)));
                }
            }
        }
        if let Some(d) = params
            .get(1)
            .and_then(Value::as_str)
            .and_then(password_difficulty)
        {
            self.set_difficulty_wish(d);
        }
        let entry =
            sh.stats
                .register_miner(&u.payout, &u.payout_address, &u.worker, u.default_payout);
        tracing::debug!(peer = %self.conn.peer, user, payout = %u.payout_address, "stratum worker authorized");
        self.workers.insert(user.to_string(), entry);
        if self.payout.is_none() {
            self.payout = Some((u.payout, u.payout_address));
        }
        self.send(reply_ok(id, json!(true)))?;
        if self.started {
            // A `d=` password of a further worker.
            self.announce_difficulty()
        } else {
            self.maybe_start()
        }
    }

    /// Once subscribed and authorized: the first difficulty and job.
    fn maybe_start(&mut self) -> Result<(), Close> {
        if self.started || !self.ready() {
            return Ok(());
        }
        self.started = true;
        let interval = self.config().vardiff.retarget_interval;
        self.conn.vardiff.restart(Instant::now(), interval);
        self.last_seq = self.work.borrow_and_update().seq;
        self.send_work(true, true)
    }

    fn on_new_work(&mut self, epoch: WorkEpoch) -> Result<(), Close> {
        // Epochs skipped in between may have been clean ones.
        let clean = epoch.clean || epoch.seq > self.last_seq.saturating_add(1);
        self.last_seq = epoch.seq;
        self.send_work(clean, false)
    }

    fn share_difficulty(&self, job: &Job) -> f64 {
        target_to_difficulty(&job.share_job.side.target(), self.config().diff_multiplier)
    }

    /// The difficulty to announce with `job`: the wanted one, capped at the share difficulty.
    fn effective_difficulty(&self, job: &Job) -> f64 {
        self.difficulty.min(self.share_difficulty(job))
    }

    /// Sends `mining.set_difficulty` if the difficulty for the current job changed.
    fn announce_difficulty(&mut self) -> Result<(), Close> {
        let Some(job) = self.current.clone() else {
            return Ok(());
        };
        let d = self.effective_difficulty(&job);
        if let Some(old) = self.sent_difficulty.filter(|old| d > *old) {
            let now = Instant::now();
            let prev = match self.raised {
                Some((p, at)) if now.saturating_duration_since(at) < DIFFICULTY_GRACE => p.min(old),
                _ => old,
            };
            self.raised = Some((prev, now));
        }
        if self.sent_difficulty != Some(d) {
            self.send(notification(
                "mining.set_difficulty",
                json!([difficulty_json(d)]),
            ))?;
            self.sent_difficulty = Some(d);
        }
        Ok(())
    }

    /// Notifies the current job for this connection's payout, if there is one and it is new
    /// (or `force`).
    fn send_work(&mut self, clean: bool, force: bool) -> Result<(), Close> {
        let Some((script, _)) = &self.payout else {
            return Ok(());
        };
        let Some(job) = self.shared.jobs.job_for(script) else {
            return Ok(());
        };
        if !force && self.current.as_ref().is_some_and(|c| c.id == job.id) {
            return Ok(());
        }
        let c = self.config();
        if job.share_job.coinbase.extranonce_len != c.extranonce1_size + c.extranonce2_size {
            tracing::error!(
                job = job.id,
                reserved = job.share_job.coinbase.extranonce_len,
                "job reserves the wrong extranonce size for Stratum; not sent"
            );
            return Ok(());
        }
        let ntime = unix_now().max(job.share_job.min_time).min(u32::MAX as u64) as u32;
        self.current = Some(job.clone());
        self.announce_difficulty()?;
        let d = self.sent_difficulty.unwrap_or(self.difficulty);
        self.record_job(job.id, d);
        self.send(notification(
            "mining.notify",
            notify_params(&job, ntime, clean),
        ))
    }

    fn record_job(&mut self, id: u64, d: f64) {
        if let Some(r) = self.job_difficulty.iter_mut().find(|(j, _)| *j == id) {
            r.1 = r.1.min(d);
            return;
        }
        self.job_difficulty.push_back((id, d));
        if self.job_difficulty.len() > MAX_JOB_RECORDS {
            self.job_difficulty.pop_front();
        }
    }

    /// A new wanted difficulty (suggested by the miner), clamped to the bounds.
    fn set_difficulty_wish(&mut self, d: f64) {
        self.difficulty = d.clamp(self.config().min_difficulty, 1e300);
        let interval = self.config().vardiff.retarget_interval;
        self.conn.vardiff.restart(Instant::now(), interval);
    }

    fn on_suggest_difficulty(&mut self, id: &Value, params: &Value) -> Result<(), Close> {
        let d = params.get(0).and_then(|v| match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        });
        match d {
            Some(d) if d.is_finite() && d > 0.0 => {
                self.set_difficulty_wish(d);
                self.send(reply_ok(id, json!(true)))?;
                self.announce_difficulty()
            }
            _ => self.send(reply_err(
                id,
                &RpcError::other("params must be [positive difficulty]"),
            )),
        }
    }

    /// Vardiff: moves the difficulty towards one accepted submit per target interval. Runs
    /// after `retarget_submits` accepted submits or `retarget_interval`, whichever comes first.
    fn retarget(&mut self) -> Result<(), Close> {
        let v = &self.shared.config.vardiff;
        let Some(factor) = self.conn.vardiff.retarget(v, v.enabled, Instant::now()) else {
            return Ok(());
        };
        let base = self.sent_difficulty.unwrap_or(self.difficulty);
        self.difficulty = (base * factor).max(self.config().min_difficulty);
        self.announce_difficulty()
    }

    fn configure(&mut self, params: &Value) -> Result<Value, RpcError> {
        let bad = || RpcError::other("params must be [[extensions], {parameters}]");
        let exts = params.get(0).and_then(Value::as_array).ok_or_else(bad)?;
        let empty = Map::new();
        let opts = match params.get(1) {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(o)) => o,
            Some(_) => return Err(bad()),
        };
        let mut result = Map::new();
        for ext in exts.iter().take(16) {
            let Some(name) = ext.as_str() else {
                return Err(bad());
            };
            if name == "version-rolling" {
                let requested = match opts.get("version-rolling.mask") {
                    None => u32::MAX,
                    Some(m) => parse_hex_uint(m, 1, 8)
                        .ok_or_else(|| RpcError::other("bad version-rolling.mask"))?
                        as u32,
                };
                let mask = self.config().version_rolling_mask & requested;
                self.version_mask = mask;
                if mask == 0 {
                    result.insert(name.into(), json!(false));
                } else {
                    result.insert(name.into(), json!(true));
                    result.insert("version-rolling.mask".into(), json!(format!("{mask:08x}")));
                }
            } else if name.len() <= 64 {
                result.insert(name.into(), json!(false));
            }
        }
        Ok(Value::Object(result))
    }

    fn on_submit(&mut self, id: &Value, params: &Value) -> Result<(), Close> {
        let now = unix_now();
        let entry = params
            .get(0)
            .and_then(Value::as_str)
            .and_then(|w| self.workers.get(w))
            .cloned();
        let stats = self.shared.stats.clone();
        match self.submit(params, now) {
            Ok(acc) => {
                stats.submits_accepted.fetch_add(1, Ordering::Relaxed);
                if let Some(e) = &entry {
                    e.record(
                        now,
                        SubmitOutcome::Accepted {
                            difficulty: acc.difficulty,
                            work: acc.work,
                            share: acc.share,
                        },
                    );
                }
                self.conn.score.record(Verdict::Good);
                self.send(reply_ok(id, json!(true)))?;
                let v = &self.shared.config.vardiff;
                if self.conn.vardiff.accepted(v) && v.enabled {
                    self.retarget()?;
                }
                Ok(())
            }
            Err(Refused { error: e, verdict }) => {
                let (counter, outcome) = match e.code {
                    ErrorCode::JobNotFound => (&stats.submits_stale, SubmitOutcome::Stale),
                    ErrorCode::Duplicate => (&stats.submits_duplicate, SubmitOutcome::Rejected),
                    ErrorCode::LowDifficulty => {
                        (&stats.submits_low_difficulty, SubmitOutcome::Rejected)
                    }
                    _ => (&stats.submits_rejected, SubmitOutcome::Rejected),
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(e) = &entry {
                    e.record(now, outcome);
                }
                tracing::trace!(peer = %self.conn.peer, error = %e.message, ?verdict, "submit refused");
                self.send(reply_err(id, &e))?;
                self.conn.account(verdict)
            }
        }
    }

    /// Checks a submit: `[worker, job_id, extranonce2, ntime, nonce, (version_bits)]`.
    fn submit(&mut self, params: &Value, now: u64) -> Result<Accepted, Refused> {
        if !self.subscribed {
            return Err(RpcError::of(ErrorCode::NotSubscribed).into());
        }
        let p = params
            .as_array()
            .filter(|p| (5..=6).contains(&p.len()))
            .ok_or_else(|| {
                RpcError::other(
                    "params must be [worker, job_id, extranonce2, ntime, nonce, (version_bits)]",
                )
            })?;
        let worker = p[0]
            .as_str()
            .ok_or_else(|| RpcError::other("worker must be a string"))?;
        if !self.workers.contains_key(worker) {
            return Err(RpcError::of(ErrorCode::Unauthorized).into());
        }
        let Some((payout, _)) = &self.payout else {
            return Err(RpcError::of(ErrorCode::Unauthorized).into());
        };
        let c = &self.shared.config;
        let job_id = parse_hex_uint(&p[1], 1, 16).ok_or_else(|| RpcError::other("bad job id"))?;
        let e2_size = c.extranonce2_size;
        let e2 = p[2]
            .as_str()
            .filter(|s| s.len() == 2 * e2_size)
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| {
                RpcError::other(format!(
                    "extranonce2 must be {e2_size} bytes ({} hex digits)",
                    2 * e2_size
                ))
            })?;
        let ntime = parse_hex_uint(&p[3], 8, 8)
            .ok_or_else(|| RpcError::other("ntime must be 8 hex digits"))?
            as u32;
        let nonce = parse_hex_uint(&p[4], 8, 8)
            .ok_or_else(|| RpcError::other("nonce must be 8 hex digits"))?
            as u32;
        let version_bits = match p.get(5) {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                parse_hex_uint(v, 1, 8)
                    .ok_or_else(|| RpcError::other("version bits must be hex"))?
                    as u32,
            ),
        };
        let stale = || RpcError::of(ErrorCode::JobNotFound);
        let sent_here = self.job_difficulty.iter().any(|(j, _)| *j == job_id);
        let job = match self.shared.jobs.job_by_id(job_id) {
            // Expired since it was sent here: the honest stale.
            None if sent_here => return Err(Refused::honest(stale())),
            // Never sent to anyone, or so long ago it is gone.
            None => return Err(stale().into()),
            // Not a job of this connection (jobs are per payout).
            Some(job) if job.payout != *payout => return Err(stale().into()),
            // A job of this payout that this connection was not sent (a result in flight across
            // a reconnect, sent to the old connection): it cannot meet the target with this
            // connection's extranonce1, so it is refused as stale without the cost of a hash.
            Some(_) if !sent_here => return Err(Refused::honest(stale())),
            Some(job) => job,
        };
        let sj = &job.share_job;
        if sj.coinbase.extranonce_len != self.extranonce1.bytes.len() + e2.len() {
            // The server's fault, not the miner's (such jobs are never sent).
            return Err(Refused::honest(RpcError::other(
                "job does not fit this server's extranonce sizes",
            )));
        }
        let max_time = now.saturating_add(c.max_ntime_ahead.as_secs());
        if (ntime as u64) < sj.min_time || (ntime as u64) > max_time {
            return Err(RpcError::other(format!(
                "ntime out of range [{:08x}, {:08x}]",
                sj.min_time,
                max_time.min(u32::MAX as u64)
            ))
            .into());
        }
        let job_version = sj.version.to_consensus() as u32;
        let mask = self.version_mask;
        let version = match version_bits {
            None => job_version,
            Some(vb) => {
                // Bits outside the mask must be zero (BIP 310) or, for miners that send the
                // whole version, equal to the job's.
                if vb & !mask != 0 && vb & !mask != job_version & !mask {
                    return Err(RpcError::other(format!(
                        "version bits outside the negotiated mask {mask:08x}"
                    ))
                    .into());
                }
                (job_version & !mask) | (vb & mask)
            }
        };
        let mut e2_u64 = [0u8; 8];
        e2_u64[8 - e2.len()..].copy_from_slice(&e2);
        let key = SubmitKey {
            job: job_id,
            extranonce2: u64::from_be_bytes(e2_u64),
            ntime,
            nonce,
            version,
        };
        if self.seen_order.contains(&key) {
            return Err(RpcError::of(ErrorCode::Duplicate).into());
        }
        let mut extranonce = self.extranonce1.bytes.clone();
        extranonce.extend_from_slice(&e2);
        let header = build_header(sj, &extranonce, version, ntime, nonce);
        let hash = c.pow.hash(&header);
        let share_target = sj.side.target();
        let sent = self.sent_difficulty.unwrap_or(self.difficulty);
        let check = self
            .job_difficulty
            .iter()
            .find(|(j, _)| *j == job_id)
            .map_or(sent, |(_, d)| d.min(sent));
        // Never harder than the share target, whatever the float rounding.
        let target = difficulty_to_target(check, c.diff_multiplier).max(share_target);
        if !target.is_met_by(&hash) {
            let low = RpcError::of(ErrorCode::LowDifficulty);
            // A result hashed at the difficulty before a raise, within the grace after it.
            let forgiven = self.raised.is_some_and(|(prev, at)| {
                Instant::now().saturating_duration_since(at) < DIFFICULTY_GRACE
                    && difficulty_to_target(prev, c.diff_multiplier)
                        .max(share_target)
                        .is_met_by(&hash)
            });
            if forgiven {
                self.shared
                    .stats
                    .submits_forgiven
                    .fetch_add(1, Ordering::Relaxed);
                return Err(Refused::honest(low));
            }
            return Err(low.into());
        }
        if self.seen_order.len() >= MAX_SEEN_SUBMITS {
            self.seen_order.pop_front();
        }
        self.seen_order.push_back(key);
        let is_share = share_target.is_met_by(&hash);
        if is_share {
            self.hand_on_share(&job, &extranonce, version, ntime, nonce, worker, &header);
        }
        Ok(Accepted {
            difficulty: target_to_difficulty(&target, c.diff_multiplier),
            work: target.work().0 as f64,
            share: is_share,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn hand_on_share(
        &self,
        job: &Job,
        extranonce: &[u8],
        version: u32,
        ntime: u32,
        nonce: u32,
        worker: &str,
        header: &[u8; 80],
    ) {
        let stats = &self.shared.stats;
        stats.shares_found.fetch_add(1, Ordering::Relaxed);
        let share = match job.share_job.share(
            extranonce,
            bitcoin::block::Version::from_consensus(version as i32),
            ntime,
            nonce,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(job = job.id, error = %e, "cannot build the found share");
                stats.shares_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        debug_assert_eq!(
            share
                .candidate
                .as_bitcoin()
                .map(|c| c.header_bytes())
                .as_ref(),
            Some(header)
        );
        let id = share.id();
        let found = FoundShare {
            share,
            job_id: job.id,
            worker: worker.to_string(),
        };
        self.shared.found.offer_block(&found, job);
        match self.shared.found.try_send(found) {
            Ok(()) => tracing::info!(share = %id, worker, job = job.id, "stratum share found"),
            Err(e) => {
                stats.shares_dropped.fetch_add(1, Ordering::Relaxed);
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "channel full",
                    mpsc::error::TrySendError::Closed(_) => "channel closed",
                };
                tracing::warn!(share = %id, worker, why, "found share dropped");
            }
        }
    }
}

/// `d=NUMBER` in a password (tokens separated by `,`, `;` or spaces): a difficulty wish.
pub(crate) fn password_difficulty(pass: &str) -> Option<f64> {
    pass.split([',', ';', ' '])
        .find_map(|t| t.trim().strip_prefix("d="))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d > 0.0)
}
