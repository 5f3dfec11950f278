//! The Stratum server's defences over real TCP (docs/security.md, section "Stratum"): junk
//! submits are throttled then banned while an honest miner beside them is untouched, a
//! difficulty raise in flight is never scored, the per-address connection cap and the payout
//! address cap refuse with their counters.

use bitcoin::bech32::{segwit, Hrp};
use bitcoin::hashes::{sha256d, Hash};
use otedama_consensus::chain::Chain;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::testkit;
use otedama_consensus::{PayoutScript, PoolParams, Preset};
use otedama_mining::job::{FoundShare, Job, JobSource, WorkEpoch};
use otedama_mining::stratum::difficulty::difficulty_to_target;
use otedama_mining::stratum::guard::{BAD_SUBMIT_COST, BAN_SCORE, THROTTLE_SCORE};
use otedama_mining::stratum::{StratumConfig, StratumServer, StratumStats};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

/// Upper bound on any single wait; nothing here asserts on timing.
const WAIT: Duration = Duration::from_secs(30);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

// ---------------------------------------------------------------------------------------------
// A job source of real share jobs, one per payout until new work.

/// The last job id, the current job per payout, every job by id.
type JobsState = (u64, HashMap<PayoutScript, Arc<Job>>, HashMap<u64, Arc<Job>>);

struct FakeJobs {
    pool: PoolParams,
    state: Mutex<JobsState>,
    epoch: watch::Sender<WorkEpoch>,
}

impl FakeJobs {
    fn new(pool: PoolParams) -> Arc<FakeJobs> {
        Arc::new(FakeJobs {
            pool,
            state: Mutex::new((0x0abc_0000_0000, HashMap::new(), HashMap::new())),
            epoch: watch::channel(WorkEpoch::default()).0,
        })
    }

    fn new_work(&self) {
        self.state.lock().unwrap().1.clear();
        self.epoch.send_modify(|e| {
            e.seq += 1;
            e.clean = false;
        });
    }
}

impl JobSource for FakeJobs {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>> {
        let mut st = self.state.lock().unwrap();
        if let Some(j) = st.1.get(payout) {
            return Some(j.clone());
        }
        st.0 += 1;
        let job = Arc::new(Job {
            id: st.0,
            share_job: testkit::live_job(&self.pool, payout, 200, unix_now()),
            payout: payout.clone(),
            parent_height: 200,
            template: None,
        });
        st.1.insert(payout.clone(), job.clone());
        st.2.insert(job.id, job.clone());
        Some(job)
    }

    fn job_by_id(&self, id: u64) -> Option<Arc<Job>> {
        self.state.lock().unwrap().2.get(&id).cloned()
    }

    fn subscribe(&self) -> watch::Receiver<WorkEpoch> {
        self.epoch.subscribe()
    }
}

struct Harness {
    addr: SocketAddr,
    jobs: Arc<FakeJobs>,
    stats: Arc<StratumStats>,
    _found: mpsc::Receiver<FoundShare>,
    _stop: oneshot::Sender<()>,
}

/// SHA256d on Bitcoin mainnet's pool preset: the share target is far out of reach, so a random
/// nonce is a low-difficulty submit for sure, and an easy connection difficulty costs the test
/// a few hashes.
async fn start(tweak: impl FnOnce(&mut StratumConfig)) -> Harness {
    let chain = Chain::Bitcoin;
    let jobs = FakeJobs::new(PoolParams::preset(chain, Preset::Main));
    let mut config = StratumConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        chain.bitcoin_params().unwrap(),
        testkit::script(99),
    );
    config.min_difficulty = 1e-12;
    config.initial_difficulty = 1e-12;
    config.vardiff.enabled = false;
    tweak(&mut config);
    let (tx, found) = mpsc::channel(64);
    let stats = Arc::new(StratumStats::new());
    let server = StratumServer::bind(
        config,
        jobs.clone() as Arc<dyn JobSource>,
        tx,
        stats.clone(),
    )
    .await
    .expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    Harness {
        addr,
        jobs,
        stats,
        _found: found,
        _stop: stop,
    }
}

// ---------------------------------------------------------------------------------------------
// A miner.

include!("support/stratum_miner.rs");

fn address(b: u8) -> String {
    segwit::encode_v0(Hrp::parse("bc").unwrap(), &[b; 20]).unwrap()
}

// ---------------------------------------------------------------------------------------------

/// A connection sending hashes that miss its target is throttled after three and closed after
/// ten, its address banned (new connections closed at once); an honest miner connected before
/// the ban keeps mining, and its accepted submits are never held back.
#[tokio::test]
async fn junk_is_throttled_then_banned_and_an_honest_miner_is_untouched() {
    // A hard connection difficulty for the junk, so that no random nonce meets it.
    let h = start(|c| {
        c.initial_difficulty = 1e6;
    })
    .await;
    let mut honest = Client::connect(h.addr).await;
    let (_, hw) = honest.login("honest").await;
    let hw_e1 = honest.e1.clone();
    let r = honest
        .call("mining.suggest_difficulty", json!([1e-12]))
        .await;
    assert_eq!(r["result"], json!(true));

    let mut junk = Client::connect(h.addr).await;
    // Random nonces at difficulty 1e6 (2^52 hashes): none meets it.
    let (_, w) = junk.login("junk").await;
    let bad_to_ban = (-BAN_SCORE / BAD_SUBMIT_COST) as u32;
    let mut replies = 0;
    let mut nonce = 0;
    while junk.try_submit(&w, &[1; 8], nonce).await.is_some() {
        replies += 1;
        nonce += 1;
        assert!(
            replies <= bad_to_ban,
            "still open after {replies} junk submits"
        );
    }
    assert_eq!(replies, bad_to_ban, "closed at the ban score");
    let n = h.stats.counters();
    assert_eq!(n.bans, 1);
    assert_eq!(n.closed_score, 1);
    assert_eq!(
        n.throttle_pauses,
        ((-BAN_SCORE + THROTTLE_SCORE) / BAD_SUBMIT_COST) as u64,
        "paused after each bad submit between the throttle and the ban: {n:?}"
    );
    assert_eq!(n.submits_low_difficulty, bad_to_ban as u64);

    // Banned: a new connection from the address is closed at once.
    let mut again = Client::connect(h.addr).await;
    assert!(again.closed().await);
    assert_eq!(h.stats.counters().connections_refused_banned, 1);

    // The honest miner, connected before the ban, is not touched: it keeps its connection and
    // every result it finds is accepted.
    for i in 0..5u8 {
        let t = difficulty_to_target(1e-12, 1);
        let e2 = [i; 8];
        let nonce = hw
            .grind(PowAlgo::Sha256d, &hw_e1, &e2, hw.version, 0, |x| {
                t.is_met_by(x)
            })
            .0;
        let r = honest.try_submit(&hw, &e2, nonce).await.expect("open");
        assert_eq!(r["result"], json!(true), "{r}");
    }
    assert_eq!(h.stats.counters().submits_accepted, 5);
}

/// After a difficulty raise, results of a miner still hashing at the old difficulty miss the new
/// one (error 23) but are not scored: however many, the connection is neither throttled nor
/// closed. Results missing the old difficulty too are scored as usual.
#[tokio::test]
async fn a_difficulty_raise_in_flight_is_never_scored() {
    // One hash in 4 meets the old difficulty, one in 64 the new one.
    let (d_old, d_new) = (2f64.powi(-30), 2f64.powi(-26));
    let h = start(|c| c.initial_difficulty = d_old).await;
    let mut c = Client::connect(h.addr).await;
    let (d0, _) = c.login(&address(1)).await;
    assert!((d0 / d_old - 1.0).abs() < 1e-12, "{d0}");
    // The raise, then new work: the new job is notified at the new difficulty.
    let r = c.call("mining.suggest_difficulty", json!([d_new])).await;
    assert_eq!(r["result"], json!(true));
    h.jobs.new_work();
    let w = Work::parse(&c.notification("mining.notify").await);
    let old = difficulty_to_target(d_old, 1);
    let new = difficulty_to_target(d_new, 1);
    let mut nonce = 0;
    for i in 0..30u8 {
        let e2 = [i; 8];
        nonce = w
            .grind(PowAlgo::Sha256d, &c.e1, &e2, w.version, nonce, |x| {
                old.is_met_by(x) && !new.is_met_by(x)
            })
            .0;
        let r = c.try_submit(&w, &e2, nonce).await.expect("never closed");
        assert_eq!(error_code(&r), 23, "{r}");
        nonce += 1;
    }
    let n = h.stats.counters();
    assert_eq!((n.submits_forgiven, n.throttle_pauses), (30, 0), "{n:?}");
    // Below the old difficulty too: junk, scored.
    for i in 0..3u8 {
        let e2 = [0xe0 + i; 8];
        let junk = w
            .grind(PowAlgo::Sha256d, &c.e1, &e2, w.version, 0, |x| {
                !old.is_met_by(x)
            })
            .0;
        let r = c.try_submit(&w, &e2, junk).await.expect("open");
        assert_eq!(error_code(&r), 23);
    }
    let n = h.stats.counters();
    assert_eq!((n.submits_forgiven, n.throttle_pauses), (30, 1), "{n:?}");
}

/// Stale results (a job that expired, or one sent to the miner's previous connection) are
/// refused without a hash and never scored; a job this connection was never sent and nobody
/// knows is.
#[tokio::test]
async fn stale_results_are_honest_made_up_jobs_are_not() {
    let h = start(|_| {}).await;
    let mut old = Client::connect(h.addr).await;
    let (_, w_old) = old.login("rig").await;
    drop(old);
    h.jobs.new_work();
    // The same miner reconnects and sends a result of its old connection's job, many times.
    let mut c = Client::connect(h.addr).await;
    let _ = c.login("rig").await;
    for n in 0..20 {
        let r = c
            .try_submit(&w_old, &[2; 8], n)
            .await
            .expect("never closed");
        assert_eq!(error_code(&r), 21, "{r}");
    }
    assert_eq!(h.stats.counters().throttle_pauses, 0);
    // A made-up job id: scored.
    let mut fake = w_old.clone();
    fake.job_id = "ffffffffffffff".into();
    for n in 0..3 {
        let r = c.try_submit(&fake, &[2; 8], n).await.expect("open");
        assert_eq!(error_code(&r), 21, "{r}");
    }
    assert_eq!(
        h.stats.counters().throttle_pauses,
        1,
        "third made-up job throttles"
    );
}

/// Connections beyond `max_connections_per_ip` from one address are closed at once and
/// counted; a slot frees when a connection closes.
#[tokio::test]
async fn per_address_connection_cap() {
    let h = start(|c| c.max_connections_per_ip = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(h.addr).await;
        let r = c.call("mining.ping", json!([])).await;
        assert_eq!(r["result"], json!("pong"));
        held.push(c);
    }
    let mut over = Client::connect(h.addr).await;
    assert!(over.closed().await);
    assert_eq!(h.stats.counters().connections_refused_per_ip, 1);
    drop(held.pop());
    // The server notices the close asynchronously: retry until the slot is free.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut c = Client::connect(h.addr).await;
        if c.try_call("mining.ping", json!([])).await.is_some() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Beyond `max_payouts` distinct addresses a new address gets error 24 saying why; served
/// addresses and the node's own payout (worker-name usernames) always get in, and a slot frees
/// when the last connection of an address closes.
#[tokio::test]
async fn payout_address_cap() {
    let h = start(|c| c.max_payouts = 2).await;
    let mut a = Client::connect(h.addr).await;
    a.login(&format!("{}.rig1", address(1))).await;
    let mut b = Client::connect(h.addr).await;
    b.login(&address(2)).await;
    let mut c = Client::connect(h.addr).await;
    let r = c.authorize(&address(3)).await;
    assert_eq!(error_code(&r), 24, "{r}");
    let msg = r["error"][1].as_str().unwrap();
    assert!(
        msg.contains("2 payout addresses") && msg.contains("job rebuild"),
        "{msg}"
    );
    assert_eq!(h.stats.counters().authorize_refused_payouts, 1);
    // A served address and the node's own payout still get in.
    let mut a2 = Client::connect(h.addr).await;
    a2.login(&format!("{}.rig2", address(1))).await;
    let mut own = Client::connect(h.addr).await;
    own.login("alice.rig").await;
    // b's address leaves: a new one fits.
    drop(b);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut d = Client::connect(h.addr).await;
        let r = d.authorize(&address(4)).await;
        if r["result"] == json!(true) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "slot never freed: {r}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
