//! One rig connection: reads requests, answers them, pushes jobs, hashes submits off the
//! reactor.

use super::config::XmrigConfig;
use super::login::{parse_login, Login};
use super::protocol::{
    job_notification, msg, reply_err, reply_ok, Call, Envelope, Id, JobParams, LoginParams,
    LoginResult, StatusResult, SubmitParams, ALGO, ALGO_ALIASES, EXTENSIONS,
};
use super::target::RigTarget;
use crate::job::{FoundShare, WorkEpoch};
use crate::monero::job::{
    hashing_blob, ExtraNonce, MoneroFoundSink, MoneroJob, MoneroJobSource, EXTRA_NONCE_LEN,
};
use crate::randomx_pow::RandomXHasher;
use crate::stratum::conn::{Close, Conn, ConnParams, Dialect};
use crate::stratum::guard::{PayoutSlot, PayoutSlots, Verdict};
use crate::stratum::line::{LineRead, LineReader};
use crate::stratum::listener::Admitted;
use crate::stratum::session::{Extranonce1, ExtranonceAllocator};
use crate::stratum::stats::{unix_now, MinerEntry, StratumStats, SubmitOutcome};
use otedama_consensus::chain::MoneroParams;
use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncRead;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Where xmrig writes the 4 nonce bytes in every RandomX blob (`Job::nonceOffset`): a header
/// with one-byte versions and a 5-byte timestamp varint. Jobs whose blob puts the nonce
/// elsewhere are never sent (a rig would roll the wrong bytes).
pub const XMRIG_NONCE_OFFSET: usize = 39;
/// Jobs (notifications) a connection remembers for checking submits.
const MAX_JOB_RECORDS: usize = 32;
/// Submits (job, nonce) a connection remembers for duplicate detection.
const MAX_SEEN_SUBMITS: usize = 256;
/// How the xmrig server's log lines start.
pub(crate) const XMRIG: Dialect = Dialect {
    name: "xmrig",
    server: "xmrig stratum server",
};

/// What every connection shares.
pub(crate) struct Shared {
    pub config: XmrigConfig,
    pub params: &'static MoneroParams,
    pub jobs: Arc<dyn MoneroJobSource>,
    pub found: MoneroFoundSink,
    pub stats: Arc<StratumStats>,
    pub hasher: Arc<RandomXHasher>,
    /// The first 4 bytes of every connection's extra nonce, unique among open connections.
    pub extranonces: Arc<ExtranonceAllocator>,
    pub payouts: Arc<PayoutSlots>,
    /// Display address of the default payout.
    pub default_address: String,
    /// RandomX checks in flight over all connections.
    pub hash_slots: Arc<Semaphore>,
    /// New work whose RandomX seed the hasher holds (the server's seed keeper forwards the job
    /// source's epochs once the seeds are in place).
    pub work: watch::Receiver<WorkEpoch>,
    pub sessions: AtomicU64,
}

/// How a refused submit is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Stale,
    Duplicate,
    LowDifficulty,
    Other,
}

/// A refused submit: the message for the rig, how it counts for the score and the counters.
struct Refused {
    message: Cow<'static, str>,
    verdict: Verdict,
    kind: Kind,
}

impl Refused {
    fn bad(message: impl Into<Cow<'static, str>>, kind: Kind) -> Refused {
        Refused {
            message: message.into(),
            verdict: Verdict::Bad,
            kind,
        }
    }

    fn honest(message: impl Into<Cow<'static, str>>, kind: Kind) -> Refused {
        Refused {
            message: message.into(),
            verdict: Verdict::Honest,
            kind,
        }
    }
}

/// A job as notified to this connection.
struct SentJob {
    job: u64,
    roll: u32,
    extra: ExtraNonce,
    blob: Vec<u8>,
    target: RigTarget,
}

/// A logged-in rig.
struct Rig {
    login: Login,
    /// The login as given (trimmed): the worker of found shares.
    username: String,
    entry: Arc<MinerEntry>,
    _slot: PayoutSlot,
}

/// A submit being hashed.
struct Pending {
    id: Option<Id>,
    job: Arc<MoneroJob>,
    roll: u32,
    nonce: [u8; 4],
    claimed: [u8; 32],
    extra: ExtraNonce,
    target: RigTarget,
}

enum HashFailure {
    Pow(PowError),
    Panicked,
    Closed,
}

type Hashed = (Pending, Result<[u8; 32], HashFailure>);

struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    work: watch::Receiver<WorkEpoch>,
    work_open: bool,
    extranonce: Extranonce1,
    session_id: String,
    rig: Option<Rig>,
    /// Wanted difficulty (vardiff or `+DIFF`), before the share-target cap.
    difficulty: f64,
    /// The target of the last job sent, and its job id.
    current: Option<(u64, RigTarget)>,
    /// Notifications sent so far (the last 4 bytes of the extra nonce of the next one).
    roll: u32,
    sent: VecDeque<SentJob>,
    /// (job, roll, nonce) of recent submits, accepted or in flight.
    seen: VecDeque<(u64, u32, [u8; 4])>,
    hashing: JoinSet<Hashed>,
}

/// Serves one accepted connection until it closes or the server stops.
pub(crate) async fn serve_connection(shared: Arc<Shared>, admitted: Admitted) {
    let (mut reader, conn, mut stop) =
        Conn::open(admitted, conn_params(&shared.config), &shared.stats);
    let mut session = Session::new(shared, conn);
    tracing::debug!(peer = %session.conn.peer, session = %session.session_id, "xmrig connection");
    let why = if *stop.borrow() {
        Close::Shutdown
    } else {
        session.run(&mut reader, &mut stop).await
    };
    // Submits still hashing are dropped unanswered (their blocking hashes finish and free
    // their slots on their own).
    session.hashing.abort_all();
    session.conn.finish(why).await;
}

fn conn_params(c: &XmrigConfig) -> ConnParams {
    ConnParams {
        dialect: XMRIG,
        max_line_bytes: c.max_line_bytes,
        outbound_bytes: c.outbound_queue * 1024,
        requests_per_sec: c.max_requests_per_sec,
        auth_timeout: c.login_timeout,
        idle_timeout: c.idle_timeout,
        ban_duration: c.ban_duration,
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(rig) = &self.rig {
            rig.entry.disconnect();
        }
    }
}

/// `N` bytes from exactly `2 * N` hex digits.
fn hex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// A job id as sent: 16 hex digits of the job, 8 of the connection's notification number.
fn parse_job_id(s: &str) -> Option<(u64, u32)> {
    if s.len() != 24 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let job = u64::from_str_radix(&s[..16], 16).ok()?;
    let roll = u32::from_str_radix(&s[16..], 16).ok()?;
    Some((job, roll))
}

impl Session {
    fn new(shared: Arc<Shared>, conn: Conn) -> Session {
        let extranonce = shared.extranonces.allocate();
        let n = shared.sessions.fetch_add(1, Ordering::Relaxed);
        let session_id = format!("{}{:08x}", hex::encode(&extranonce.bytes), n as u32);
        let mut work = shared.work.clone();
        work.borrow_and_update();
        let c = &shared.config;
        let difficulty = c.initial_difficulty.max(c.min_difficulty) as f64;
        Session {
            conn,
            work,
            work_open: true,
            extranonce,
            session_id,
            rig: None,
            difficulty,
            current: None,
            roll: 0,
            sent: VecDeque::new(),
            seen: VecDeque::new(),
            hashing: JoinSet::new(),
            shared,
        }
    }

    fn config(&self) -> &XmrigConfig {
        &self.shared.config
    }

    fn vardiff_on(&self) -> bool {
        self.config().vardiff.enabled
            && self
                .rig
                .as_ref()
                .is_some_and(|r| r.login.fixed_difficulty.is_none())
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
            let watch_work = self.rig.is_some() && self.work_open;
            let has_pending = self.conn.has_pending();
            let hashing = !self.hashing.is_empty();
            let paused = self.conn.paused();
            // A connection with its full share of submits in flight is not read: TCP holds the
            // rig back until one is answered.
            let reading = !paused && self.hashing.len() < self.config().max_hashing_per_connection;
            let result = tokio::select! {
                biased;
                _ = stop.changed() => Err(Close::Shutdown),
                w = self.conn.writable(), if has_pending => w.and_then(|()| self.conn.flush()),
                done = self.hashing.join_next(), if hashing => match done {
                    Some(Ok((p, r))) => self.on_hashed(p, r),
                    Some(Err(e)) => {
                        tracing::error!(peer = %self.conn.peer, error = %e, "xmrig submit check failed");
                        Ok(())
                    }
                    None => Ok(()),
                },
                changed = self.work.changed(), if watch_work => match changed {
                    Ok(()) => {
                        self.work.borrow_and_update();
                        self.on_new_work()
                    }
                    Err(_) => {
                        self.work_open = false;
                        Ok(())
                    }
                },
                line = reader.next_line(), if reading => match line {
                    Ok(LineRead::Line(l)) => self.on_line(&l),
                    Ok(LineRead::TooLong) => {
                        let _ = self.send(reply_err(None, msg::LINE_TOO_LONG));
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

    fn next_deadline(&self) -> Instant {
        self.conn
            .next_deadline(self.rig.is_some(), self.vardiff_on())
    }

    fn on_timer(&mut self) -> Result<(), Close> {
        if self
            .conn
            .on_timer(Instant::now(), self.rig.is_some(), self.vardiff_on())?
        {
            self.retarget()?;
        }
        Ok(())
    }

    /// Queues a message; a full queue means the client does not read: close it.
    fn send(&mut self, msg: String) -> Result<(), Close> {
        self.conn.send(msg)
    }

    fn malformed(&mut self, id: Option<&Id>, what: &'static str) -> Result<(), Close> {
        self.conn.malformed(reply_err(id, what))
    }

    fn on_line(&mut self, raw: &[u8]) -> Result<(), Close> {
        self.conn.line_received();
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.malformed(None, msg::MALFORMED_REQUEST);
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let Ok(env) = serde_json::from_str::<Envelope>(text) else {
            return self.malformed(None, msg::MALFORMED_REQUEST);
        };
        let id = env.id;
        if !self
            .conn
            .admit_request(env.method.as_deref() == Some("submit"))?
        {
            return self.send(reply_err(id.as_ref(), msg::RATE_LIMIT));
        }
        let Some(method) = env.method else {
            // A reply from the client (the server sends no requests): ignore it.
            if env.result.is_some() || env.error.is_some() {
                return Ok(());
            }
            return self.malformed(id.as_ref(), msg::MALFORMED_REQUEST);
        };
        match method.as_str() {
            "login" => self.on_login(id.as_ref(), text),
            "submit" => self.on_submit(id, text),
            "keepalived" => self.send(reply_ok(
                id.as_ref(),
                StatusResult {
                    status: "KEEPALIVED",
                },
            )),
            _ => self.send(reply_err(id.as_ref(), msg::UNKNOWN_METHOD)),
        }
    }

    fn refuse_login(&mut self, id: Option<&Id>, message: &str) -> Result<(), Close> {
        self.shared
            .stats
            .authorize_refused_other
            .fetch_add(1, Ordering::Relaxed);
        self.send(reply_err(id, message))
    }

    fn on_login(&mut self, id: Option<&Id>, text: &str) -> Result<(), Close> {
        if self.rig.is_some() {
            return self.send(reply_err(id, msg::ALREADY_LOGGED_IN));
        }
        let Ok(Call { params: p }) = serde_json::from_str::<Call<LoginParams>>(text) else {
            return self.refuse_login(id, msg::MALFORMED_LOGIN);
        };
        if let Some(algos) = &p.algo {
            if !algos.is_empty() && !algos.iter().any(|a| ALGO_ALIASES.contains(&a.as_str())) {
                return self.refuse_login(id, msg::UNSUPPORTED_ALGO);
            }
        }
        let sh = self.shared.clone();
        let login = match parse_login(
            sh.params,
            &sh.config.default_payout,
            &sh.default_address,
            &p.login,
            p.pass.as_deref(),
            p.rigid.as_deref(),
        ) {
            Ok(l) => l,
            Err(e) => return self.refuse_login(id, &e.to_string()),
        };
        let Some(slot) = sh.payouts.acquire(&login.payout) else {
            sh.stats
                .authorize_refused_payouts
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(peer = %self.conn.peer, payout = %login.payout_address, "xmrig login refused: payout address cap reached");
            let message = format!(
                "this node already serves {} payout wallets, its limit (each one costs a job \
                 rebuild on every change of work): mine to the node's own payout with a plain \
                 worker name as login, or run your own node",
                sh.payouts.max()
            );
            return self.send(reply_err(id, &message));
        };
        // Seen before the job is fetched: work that arrives after this is notified.
        self.work.borrow_and_update();
        let job = match sh.jobs.job_for(&login.payout) {
            Some(job) if self.seed_held(&job) => job,
            _ => return self.send(reply_err(id, msg::NO_WORK)),
        };
        let c = &sh.config;
        self.difficulty = login
            .fixed_difficulty
            .unwrap_or(c.initial_difficulty)
            .max(c.min_difficulty) as f64;
        let Some(params) = self.prepare_job(&job) else {
            return self.send(reply_err(id, msg::NO_WORK));
        };
        let entry = sh.stats.register_miner(
            &login.payout,
            &login.payout_address,
            &login.worker,
            login.default_payout,
        );
        tracing::debug!(
            peer = %self.conn.peer,
            payout = %login.payout_address,
            worker = %login.worker,
            agent = p.agent.as_deref().unwrap_or(""),
            "xmrig rig logged in"
        );
        self.rig = Some(Rig {
            username: p.login.trim().to_string(),
            login,
            entry,
            _slot: slot,
        });
        self.conn
            .vardiff
            .restart(Instant::now(), c.vardiff.retarget_interval);
        let session_id = self.session_id.clone();
        self.send(reply_ok(
            id,
            LoginResult {
                id: &session_id,
                job: &params,
                extensions: &EXTENSIONS,
                status: "OK",
            },
        ))
    }

    fn seed_held(&self, job: &MoneroJob) -> bool {
        self.shared.hasher.seeds().contains(&job.seed_hash())
    }

    /// The wanted difficulty as an integer (at least 1).
    fn wanted(&self) -> u64 {
        // `as` saturates; the wish is at least `min_difficulty` >= 1.
        self.difficulty.round().max(1.0) as u64
    }

    /// This connection's blob of `job` under a fresh notification number, its target, and the
    /// record that checks submits against it; `None` (logged) for a job a rig cannot mine.
    fn prepare_job(&mut self, job: &MoneroJob) -> Option<JobParams> {
        let roll = self.roll;
        let mut extra: ExtraNonce = [0; EXTRA_NONCE_LEN];
        extra[..4].copy_from_slice(&self.extranonce.bytes);
        extra[4..].copy_from_slice(&roll.to_be_bytes());
        let built = job.share_for(&extra).and_then(|share| hashing_blob(&share));
        let Some((blob, offset)) = built else {
            tracing::error!(
                job = job.id,
                "BUG: a Monero job without a Monero share; not sent"
            );
            return None;
        };
        if offset != XMRIG_NONCE_OFFSET || blob.len() < offset + 4 {
            tracing::error!(
                job = job.id,
                offset,
                "Monero job's nonce is not at byte 39 of the blob (timestamp out of range?); not sent"
            );
            return None;
        }
        self.roll = self.roll.wrapping_add(1);
        let target = RigTarget::capped(self.wanted(), &job.share_target());
        let params = JobParams {
            blob: hex::encode(&blob),
            job_id: format!("{:016x}{roll:08x}", job.id),
            target: target.hex.clone(),
            algo: ALGO,
            height: job.height(),
            seed_hash: hex::encode(job.seed_hash()),
        };
        self.current = Some((job.id, target.clone()));
        if self.sent.len() >= MAX_JOB_RECORDS {
            self.sent.pop_front();
        }
        self.sent.push_back(SentJob {
            job: job.id,
            roll,
            extra,
            blob,
            target,
        });
        Some(params)
    }

    /// Sends the current job of the rig's payout if it is new, or if `retarget` and its target
    /// changed (a fresh blob, so the rig's restarted nonces are new work).
    fn send_job(&mut self, retarget: bool) -> Result<(), Close> {
        let Some(rig) = &self.rig else {
            return Ok(());
        };
        let Some(job) = self.shared.jobs.job_for(&rig.login.payout) else {
            return Ok(());
        };
        if let Some((current, target)) = &self.current {
            let same_job = *current == job.id;
            let same_target =
                RigTarget::capped(self.wanted(), &job.share_target()).t64 == target.t64;
            if same_job && (!retarget || same_target) {
                return Ok(());
            }
        }
        if !self.seed_held(&job) {
            // The seed keeper forwards the work again once the cache is built.
            tracing::debug!(job = job.id, "job's RandomX seed not ready; not sent yet");
            return Ok(());
        }
        match self.prepare_job(&job) {
            Some(params) => self.send(job_notification(&params)),
            None => Ok(()),
        }
    }

    fn on_new_work(&mut self) -> Result<(), Close> {
        self.send_job(false)
    }

    /// Vardiff, as the Bitcoin server's (docs/stratum.md section 5), towards one accepted
    /// submit per target interval; a new target goes out at once with a fresh blob.
    fn retarget(&mut self) -> Result<(), Close> {
        let on = self.vardiff_on();
        let v = &self.shared.config.vardiff;
        let Some(factor) = self.conn.vardiff.retarget(v, on, Instant::now()) else {
            return Ok(());
        };
        let base = self
            .current
            .as_ref()
            .map_or(self.difficulty, |(_, t)| t.difficulty());
        self.difficulty = (base * factor).max(self.config().min_difficulty as f64);
        self.send_job(true)
    }

    fn on_submit(&mut self, id: Option<Id>, text: &str) -> Result<(), Close> {
        match self.admit_submit(id.as_ref(), text) {
            Ok(pending) => {
                self.spawn_hash(pending);
                Ok(())
            }
            Err(r) => self.refuse(id.as_ref(), r),
        }
    }

    /// Every check that needs no hash; the submit to hash, or why it is refused.
    fn admit_submit(&mut self, id: Option<&Id>, text: &str) -> Result<(Pending, Vec<u8>), Refused> {
        let Some(rig) = &self.rig else {
            return Err(Refused::bad(msg::UNAUTHENTICATED, Kind::Other));
        };
        let Ok(Call { params: p }) = serde_json::from_str::<Call<SubmitParams>>(text) else {
            return Err(Refused::bad(msg::MALFORMED_SUBMIT, Kind::Other));
        };
        if p.id.as_deref().is_some_and(|s| s != self.session_id) {
            return Err(Refused::bad(msg::UNAUTHENTICATED, Kind::Other));
        }
        let (job_id, roll) = parse_job_id(&p.job_id)
            .ok_or_else(|| Refused::bad(msg::INVALID_JOB_ID, Kind::Other))?;
        let nonce: [u8; 4] =
            hex_array(&p.nonce).ok_or_else(|| Refused::bad(msg::INVALID_NONCE, Kind::Other))?;
        let claimed: [u8; 32] =
            hex_array(&p.result).ok_or_else(|| Refused::bad(msg::MALFORMED_RESULT, Kind::Other))?;
        if p.algo
            .as_deref()
            .is_some_and(|a| !ALGO_ALIASES.contains(&a))
        {
            return Err(Refused::bad(msg::UNSUPPORTED_ALGO, Kind::Other));
        }
        let stale = || Refused::bad(msg::BLOCK_EXPIRED, Kind::Stale);
        let honest_stale = || Refused::honest(msg::BLOCK_EXPIRED, Kind::Stale);
        let record = self.sent.iter().find(|s| s.job == job_id && s.roll == roll);
        let job = match (record, self.shared.jobs.job_by_id(job_id)) {
            // Expired since it was sent here: the honest stale.
            (Some(_), None) => return Err(honest_stale()),
            // Never sent to anyone, or so long ago it is gone.
            (None, None) => return Err(stale()),
            // A job of this payout that this connection was not sent (a result in flight
            // across a reconnect, or one this connection no longer remembers): it was hashed
            // over another blob, so it is refused as stale without the cost of a hash.
            (None, Some(job)) if job.payout == rig.login.payout => return Err(honest_stale()),
            (None, Some(_)) => return Err(stale()),
            (Some(rec), Some(job)) => (rec, job),
        };
        let (rec, job) = job;
        let key = (job_id, roll, nonce);
        if self.seen.contains(&key) {
            return Err(Refused::bad(msg::DUPLICATE, Kind::Duplicate));
        }
        let mut blob = rec.blob.clone();
        blob[XMRIG_NONCE_OFFSET..XMRIG_NONCE_OFFSET + 4].copy_from_slice(&nonce);
        let pending = Pending {
            id: id.cloned(),
            job,
            roll,
            nonce,
            claimed,
            extra: rec.extra,
            target: rec.target.clone(),
        };
        if self.seen.len() >= MAX_SEEN_SUBMITS {
            self.seen.pop_front();
        }
        self.seen.push_back(key);
        Ok((pending, blob))
    }

    /// Hashes a submit on a blocking thread, at most `hash_threads` at once over the server.
    fn spawn_hash(&mut self, (pending, blob): (Pending, Vec<u8>)) {
        let slots = self.shared.hash_slots.clone();
        let hasher = self.shared.hasher.clone();
        let seed = pending.job.seed_hash();
        self.hashing.spawn(async move {
            let result = match slots.acquire_owned().await {
                Err(_) => Err(HashFailure::Closed),
                Ok(permit) => {
                    let hashed = tokio::task::spawn_blocking(move || {
                        // Released when the hash is done, also if the connection is gone.
                        let _permit = permit;
                        hasher.pow_hash(PowInput::RandomX {
                            seed: &seed,
                            blob: &blob,
                        })
                    })
                    .await;
                    match hashed {
                        Ok(Ok(h)) => Ok(h),
                        Ok(Err(e)) => Err(HashFailure::Pow(e)),
                        Err(_) => Err(HashFailure::Panicked),
                    }
                }
            };
            (pending, result)
        });
    }

    fn on_hashed(
        &mut self,
        p: Pending,
        result: Result<[u8; 32], HashFailure>,
    ) -> Result<(), Close> {
        let hash = match result {
            Ok(h) => h,
            // The seed was dropped (the chain moved on to the next seed): stale work.
            Err(HashFailure::Pow(PowError::UnknownSeed(_))) => {
                return self.refuse(
                    p.id.as_ref(),
                    Refused::honest(msg::BLOCK_EXPIRED, Kind::Stale),
                );
            }
            Err(e) => {
                let why = match e {
                    HashFailure::Pow(e) => e.to_string(),
                    HashFailure::Panicked => "the hash panicked".into(),
                    HashFailure::Closed => "hash slots closed".into(),
                };
                tracing::warn!(peer = %self.conn.peer, why, "xmrig submit not checked");
                // The node's fault: the rig may submit it again.
                let key = (p.job.id, p.roll, p.nonce);
                self.seen.retain(|k| *k != key);
                return self.refuse(
                    p.id.as_ref(),
                    Refused::honest(msg::NOT_CHECKED, Kind::Other),
                );
            }
        };
        if hash != p.claimed {
            return self.refuse(
                p.id.as_ref(),
                Refused::bad(msg::INVALID_RESULT, Kind::Other),
            );
        }
        if !p.target.is_met_by(&hash) {
            return self.refuse(
                p.id.as_ref(),
                Refused::bad(msg::LOW_DIFFICULTY, Kind::LowDifficulty),
            );
        }
        let is_share = p.job.share_target().is_met_by(&hash);
        if is_share {
            self.hand_on_share(&p, &hash);
        }
        let stats = self.shared.stats.clone();
        stats.submits_accepted.fetch_add(1, Ordering::Relaxed);
        if let Some(rig) = &self.rig {
            let d = p.target.difficulty();
            rig.entry.record(
                unix_now(),
                SubmitOutcome::Accepted {
                    difficulty: d,
                    work: d,
                    share: is_share,
                },
            );
        }
        self.conn.score.record(Verdict::Good);
        self.send(reply_ok(p.id.as_ref(), StatusResult { status: "OK" }))?;
        let on = self.vardiff_on();
        if self.conn.vardiff.accepted(&self.shared.config.vardiff) && on {
            self.retarget()?;
        }
        Ok(())
    }

    /// Answers a refused submit, counts it and scores it.
    fn refuse(&mut self, id: Option<&Id>, r: Refused) -> Result<(), Close> {
        let stats = self.shared.stats.clone();
        let (counter, outcome) = match r.kind {
            Kind::Stale => (&stats.submits_stale, SubmitOutcome::Stale),
            Kind::Duplicate => (&stats.submits_duplicate, SubmitOutcome::Rejected),
            Kind::LowDifficulty => (&stats.submits_low_difficulty, SubmitOutcome::Rejected),
            Kind::Other => (&stats.submits_rejected, SubmitOutcome::Rejected),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(rig) = &self.rig {
            rig.entry.record(unix_now(), outcome);
        }
        tracing::trace!(peer = %self.conn.peer, error = %r.message, verdict = ?r.verdict, "xmrig submit refused");
        // Scored before the reply goes out, so whoever reads the reply sees the counters; a
        // connection closed for its score still gets its reply.
        let standing = self.conn.account(r.verdict);
        self.send(reply_err(id, &r.message))?;
        standing
    }

    /// A submit that met the share target: the share with this connection's extra nonce and
    /// the rig's nonce, to the block queue (if it is a block) and then the sharechain.
    fn hand_on_share(&self, p: &Pending, hash: &[u8; 32]) {
        let stats = &self.shared.stats;
        stats.shares_found.fetch_add(1, Ordering::Relaxed);
        let job = &p.job;
        let Some(mut share) = job.share_for(&p.extra) else {
            tracing::error!(job = job.id, "BUG: cannot build the found Monero share");
            stats.shares_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Some(c) = share.candidate.as_monero_mut() else {
            tracing::error!(job = job.id, "BUG: a Monero job without a Monero share");
            stats.shares_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        c.header.nonce = u32::from_le_bytes(p.nonce);
        let worker = self
            .rig
            .as_ref()
            .map_or_else(String::new, |r| r.username.clone());
        let id = share.id();
        let found = FoundShare {
            share,
            job_id: job.id,
            worker,
        };
        let block = self.shared.found.offer_block(&found, job, hash);
        let worker = found.worker.clone();
        match self.shared.found.try_send(found) {
            Ok(()) => {
                tracing::info!(share = %id, worker, job = job.id, block, "xmrig share found")
            }
            Err(e) => {
                stats.shares_dropped.fetch_add(1, Ordering::Relaxed);
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "channel full",
                    mpsc::error::TrySendError::Closed(_) => "channel closed",
                };
                tracing::warn!(share = %id, worker, why, "found Monero share dropped");
            }
        }
    }
}
