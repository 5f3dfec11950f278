//! The Stratum server against a real TCP client that mines the way cgminer does: it rebuilds the
//! header from `mining.notify` alone (word-swapped prevhash, coinb1 || extranonce1 ||
//! extranonce2 || coinb2, merkle branch), grinds it and submits.

use bitcoin::bech32::{segwit, Hrp};
use bitcoin::hashes::{sha256d, Hash};
use otedama_consensus::chain::Chain;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::testkit;
use otedama_consensus::work::{Target, U256};
use otedama_consensus::{check_stateless, PayoutScript, PoolParams, Preset};
use otedama_mining::job::{FoundShare, Job, JobSource, WorkEpoch};
use otedama_mining::stratum::difficulty::{
    build_header, diff1_target, difficulty_to_target, stratum_prevhash, target_to_difficulty,
};
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

/// Upper bound on any single wait; tests never assert on timing, only that things happen.
const WAIT: Duration = Duration::from_secs(20);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn default_payout() -> PayoutScript {
    testkit::script(99)
}

// ---------------------------------------------------------------------------------------------
// A job source holding real share jobs.

struct FakeState {
    height: u32,
    available: bool,
    current: HashMap<PayoutScript, Arc<Job>>,
    by_id: HashMap<u64, Arc<Job>>,
    next_id: u64,
    requested: Vec<PayoutScript>,
}

struct FakeJobs {
    pool: PoolParams,
    state: Mutex<FakeState>,
    epoch: watch::Sender<WorkEpoch>,
}

impl FakeJobs {
    fn new(pool: PoolParams) -> Arc<FakeJobs> {
        Arc::new(FakeJobs {
            pool,
            state: Mutex::new(FakeState {
                height: 200,
                available: true,
                current: HashMap::new(),
                by_id: HashMap::new(),
                next_id: 0x0123_4567_0000_0000,
                requested: vec![],
            }),
            epoch: watch::channel(WorkEpoch::default()).0,
        })
    }

    fn build(&self, st: &mut FakeState, payout: &PayoutScript) -> Arc<Job> {
        let share_job = testkit::live_job(&self.pool, payout, st.height, unix_now());
        st.next_id += 1;
        let job = Arc::new(Job {
            id: st.next_id,
            share_job,
            payout: payout.clone(),
            parent_height: st.height,
            template: None,
        });
        st.by_id.insert(job.id, job.clone());
        st.current.insert(payout.clone(), job.clone());
        job
    }

    /// New work for everyone.
    fn new_work(&self, clean: bool) {
        let mut st = self.state.lock().unwrap();
        st.current.clear();
        if clean {
            st.height += 1;
        }
        drop(st);
        self.epoch.send_modify(|e| {
            e.seq += 1;
            e.clean = clean;
        });
    }

    fn set_available(&self, available: bool) {
        self.state.lock().unwrap().available = available;
    }

    fn expire(&self, id: u64) {
        self.state.lock().unwrap().by_id.remove(&id);
    }

    fn requested(&self) -> Vec<PayoutScript> {
        self.state.lock().unwrap().requested.clone()
    }
}

impl JobSource for FakeJobs {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>> {
        let mut st = self.state.lock().unwrap();
        st.requested.push(payout.clone());
        if !st.available {
            return None;
        }
        if let Some(j) = st.current.get(payout) {
            return Some(j.clone());
        }
        Some(self.build(&mut st, payout))
    }

    fn job_by_id(&self, id: u64) -> Option<Arc<Job>> {
        self.state.lock().unwrap().by_id.get(&id).cloned()
    }

    fn subscribe(&self) -> watch::Receiver<WorkEpoch> {
        self.epoch.subscribe()
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test.

struct Harness {
    addr: SocketAddr,
    jobs: Arc<FakeJobs>,
    found: mpsc::Receiver<FoundShare>,
    stats: Arc<StratumStats>,
    pool: PoolParams,
    algo: PowAlgo,
    _stop: oneshot::Sender<()>,
}

async fn start(chain: Chain, tweak: impl FnOnce(&mut StratumConfig)) -> Harness {
    let pool = PoolParams::preset(chain, Preset::Main);
    let jobs = FakeJobs::new(pool.clone());
    let mut config = StratumConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        chain.bitcoin_params().unwrap(),
        default_payout(),
    );
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
        found,
        stats,
        algo: chain.pow_algo().unwrap(),
        pool,
        _stop: stop,
    }
}

impl Harness {
    async fn found(&mut self) -> FoundShare {
        tokio::time::timeout(WAIT, self.found.recv())
            .await
            .expect("no found share in time")
            .expect("channel closed")
    }
}

// ---------------------------------------------------------------------------------------------
// A miner.

include!("support/stratum_miner.rs");

/// Equal up to float parsing (serde_json's default parser may be one ulp off).
fn close_to(a: f64, b: f64) -> bool {
    (a - b).abs() <= b.abs() * 1e-12
}

// ---------------------------------------------------------------------------------------------
// Unit checks of the wire conventions.

#[test]
fn prevhash_is_word_swapped_like_cgminer() {
    // The example of the original Stratum documentation: the display hash's eight words in
    // reverse order.
    let display = "00000000440b921e1b77c6c0487ae5616de67f788f44ae2a5af6e2194d16b6f8";
    let h: bitcoin::BlockHash = display.parse().unwrap();
    assert_eq!(
        stratum_prevhash(&h),
        "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000"
    );
    // And the header bytes come back by swapping each word.
    let s = hex::decode(stratum_prevhash(&h)).unwrap();
    let back: Vec<u8> = s.chunks(4).flat_map(|w| w.iter().rev().copied()).collect();
    assert_eq!(back, h.to_byte_array());
}

#[test]
fn difficulty_and_target_for_both_multipliers() {
    let diff1 = Target::from_compact(bitcoin::CompactTarget::from_consensus(0x1d00ffff));
    assert_eq!(diff1_target(), diff1);
    // SHA256d: difficulty 1 is DIFF1; 2^k halves it.
    assert_eq!(difficulty_to_target(1.0, 1), diff1);
    assert_eq!(difficulty_to_target(4096.0, 1), Target(diff1.0 >> 12));
    assert_eq!(difficulty_to_target(0.25, 1), Target(diff1.0 << 2));
    // scrypt: difficulty 1 is DIFF1 * 65536 (0x0000ffff00...).
    assert_eq!(difficulty_to_target(1.0, 65536), Target(diff1.0 << 16));
    assert_eq!(difficulty_to_target(65536.0, 65536), diff1);
    // Non-powers of two: floor(DIFF1 * m / d).
    assert_eq!(
        difficulty_to_target(3.0, 1),
        Target(diff1.0 / U256::from(3u64))
    );
    assert_eq!(
        difficulty_to_target(1000.0, 65536),
        Target((diff1.0 << 16) / U256::from(1000u64))
    );
    // Too easy saturates; round trips through the float form.
    assert_eq!(difficulty_to_target(1e-30, 1), Target(U256::MAX));
    for (d, m) in [(1.0, 1), (1234.5, 1), (0.001, 65536), (3e9, 65536)] {
        let back = target_to_difficulty(&difficulty_to_target(d, m), m);
        assert!((back - d).abs() / d < 1e-12, "{d} {m} {back}");
    }
    // Regtest share targets (0x207fffff-ish, half of all hashes) in Stratum units.
    let regtest = Target::from_compact(bitcoin::CompactTarget::from_consensus(0x207fffff));
    let d1 = target_to_difficulty(&regtest, 1);
    assert!((d1 - 4.656e-10).abs() < 1e-12, "{d1}");
    let d2 = target_to_difficulty(&regtest, 65536);
    assert!((d2 - d1 * 65536.0).abs() < 1e-12, "{d2}");
}

// ---------------------------------------------------------------------------------------------
// Flows.

#[tokio::test]
async fn subscribe_authorize_notify_and_a_found_share() {
    let mut h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut c = Client::connect(h.addr).await;
    let r = c.subscribe().await;
    assert_eq!(r["error"], Value::Null);
    let res = &r["result"];
    assert_eq!(res[0][0][0], "mining.set_difficulty");
    assert_eq!(res[0][1][0], "mining.notify");
    assert_eq!(res[1].as_str().unwrap().len(), 8, "4-byte extranonce1");
    assert_eq!(res[2], 8, "extranonce2 size");
    let r = c.call("mining.authorize", json!(["rig1", "x"])).await;
    assert_eq!(r, json!({"id": 2, "result": true, "error": null}));
    c.user = "rig1".into();
    let d = c.notification("mining.set_difficulty").await[0]
        .as_f64()
        .unwrap();
    let raw = c.notification("mining.notify").await;
    let w = Work::parse(&raw);
    assert_eq!(w.job_id.len(), 16);
    assert!(w.clean, "first job is clean");
    assert_eq!(w.version, 0x2000_0000);
    assert_eq!(w.nbits, 0x207f_ffff, "parent chain bits");
    assert_eq!(w.branch.len(), 2);
    let job = h.jobs.job_by_id(w.job_id()).unwrap();
    assert_eq!(
        job.payout,
        default_payout(),
        "a plain worker name pays the default"
    );
    assert_eq!(raw[1], stratum_prevhash(&job.share_job.prev_blockhash));
    assert_eq!(w.prev, job.share_job.prev_blockhash.to_byte_array());
    // The initial difficulty (1024) is capped at the share difficulty.
    let share_target = job.share_job.side.target();
    assert!(close_to(d, target_to_difficulty(&share_target, 1)), "{d}");
    assert!(w.ntime as u64 >= job.share_job.min_time);

    // Mine a share the way a miner would, from the notify alone.
    let e2 = [0, 0, 0, 0, 0, 0, 0, 7];
    let (nonce, header) = w.grind(h.algo, &c.e1, &e2, w.version, 0, |x| {
        share_target.is_met_by(x)
    });
    // The server's own header builder agrees.
    let e = [&c.e1[..], &e2[..]].concat();
    assert_eq!(
        build_header(&job.share_job, &e, w.version, w.ntime, nonce),
        header
    );
    let r = c.submit(&w, &e2, nonce, None).await;
    assert_eq!(r["result"], json!(true), "{r}");
    let f = h.found().await;
    assert_eq!(f.job_id, job.id);
    assert_eq!(f.worker, "rig1");
    assert_eq!(
        f.share.candidate.as_bitcoin().unwrap().header_bytes(),
        header
    );
    assert_eq!(f.share.side.payout_script, default_payout());
    let checked =
        check_stateless(&h.pool, &f.share, h.pool.chain.stateless_pow()).expect("valid share");
    assert_eq!(checked.id, f.share.id());

    let n = h.stats.counters();
    assert_eq!(
        (n.submits_accepted, n.shares_found, n.connections_open),
        (1, 1, 1)
    );
    let miners = h.stats.miners();
    assert_eq!(miners.len(), 1);
    let m = &miners[0];
    assert_eq!(m.worker, "rig1");
    assert!(m.default_payout);
    assert!(
        m.payout_address.starts_with("bcrt1q"),
        "{}",
        m.payout_address
    );
    assert_eq!((m.accepted, m.shares_found, m.connections), (1, 1, 1));
    assert!(m.hashrate > 0.0 && m.last_submit.is_some());

    // Ping, extranonce.subscribe and suggest_difficulty are answered.
    let r = c.call("mining.ping", json!([])).await;
    assert_eq!(r["result"], "pong");
    let r = c.call("mining.extranonce.subscribe", json!([])).await;
    assert_eq!(r["result"], true);
    let r = c.call("mining.suggest_difficulty", json!([1e6])).await;
    assert_eq!(r["result"], true);
}

#[tokio::test]
async fn new_work_is_pushed_with_the_clean_flag() {
    let h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut c = Client::connect(h.addr).await;
    let (_, w1) = c.login("worker").await;
    h.jobs.new_work(false);
    let w2 = Work::parse(&c.notification("mining.notify").await);
    assert_ne!(w2.job_id, w1.job_id);
    assert!(!w2.clean);
    h.jobs.new_work(true);
    let w3 = Work::parse(&c.notification("mining.notify").await);
    assert!(w3.clean);
    assert_ne!(w3.prev, w2.prev, "new parent block");
    // No job: nothing is sent; the next message is the job of the next work.
    h.jobs.set_available(false);
    h.jobs.new_work(false);
    // The server asks for a job (and gets none) before the test goes on.
    let asked = h.jobs.requested().len();
    for _ in 0..200 {
        if h.jobs.requested().len() > asked {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.jobs.set_available(true);
    h.jobs.new_work(false);
    let m = c.next().await;
    assert_eq!(m["method"], "mining.notify", "{m}");
    let w4 = Work::parse(&m["params"]);
    let current = h.jobs.job_for(&default_payout()).unwrap();
    assert_eq!(w4.job_id(), current.id);
}

#[tokio::test]
async fn version_rolling() {
    let mut h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut c = Client::connect(h.addr).await;
    let r = c
        .call(
            "mining.configure",
            json!([
                ["version-rolling", "minimum-difficulty"],
                {"version-rolling.mask": "ffffffff", "version-rolling.min-bit-count": 2,
                 "minimum-difficulty.value": 2048}
            ]),
        )
        .await;
    assert_eq!(
        r["result"],
        json!({"version-rolling": true, "version-rolling.mask": "1fffe000",
               "minimum-difficulty": false})
    );
    // The miner's mask is intersected with the server's.
    let r = c
        .call(
            "mining.configure",
            json!([["version-rolling"], {"version-rolling.mask": "0000e0ff"}]),
        )
        .await;
    assert_eq!(r["result"]["version-rolling.mask"], "0000e000");
    let (_, w) = c.login("asic").await;
    let job = h.jobs.job_by_id(w.job_id()).unwrap();
    let target = job.share_job.side.target();
    let rolled = w.version | 0x0000_4000;
    let e2 = [1u8; 8];
    let (nonce, header) = w.grind(h.algo, &c.e1, &e2, rolled, 0, |x| target.is_met_by(x));
    let r = c.submit(&w, &e2, nonce, Some(0x0000_4000)).await;
    assert_eq!(r["result"], json!(true), "{r}");
    let f = h.found().await;
    assert_eq!(
        f.share
            .candidate
            .as_bitcoin()
            .unwrap()
            .header
            .version
            .to_consensus() as u32,
        rolled
    );
    assert_eq!(
        f.share.candidate.as_bitcoin().unwrap().header_bytes(),
        header
    );
    check_stateless(&h.pool, &f.share, h.pool.chain.stateless_pow()).expect("valid share");
    // Miners that send the whole version are understood too.
    let (nonce, _) = w.grind(h.algo, &c.e1, &e2, rolled, nonce + 1, |x| {
        target.is_met_by(x)
    });
    let r = c.submit(&w, &e2, nonce, Some(rolled)).await;
    assert_eq!(r["result"], json!(true), "{r}");
    // Bits outside the negotiated mask (0000e000) are refused.
    for bad in [0x0000_0001u32, 0x0001_0000, 0x4000_0000] {
        let r = c.submit(&w, &e2, nonce + 1, Some(bad)).await;
        assert_eq!(error_code(&r), 20, "{bad:08x}: {r}");
    }
}

#[tokio::test]
async fn usernames_choose_the_payout() {
    let h = start(Chain::BitcoinRegtest, |_| {}).await;
    let prog = [7u8; 20];
    let addr = segwit::encode_v0(Hrp::parse("bcrt").unwrap(), &prog).unwrap();
    let script = PayoutScript::new(&[&[0x00, 0x14][..], &prog[..]].concat());
    let mut c = Client::connect(h.addr).await;
    let (_, w) = c.login(&format!("{addr}.rig7")).await;
    let job = h.jobs.job_by_id(w.job_id()).unwrap();
    assert_eq!(job.payout, script);
    assert_eq!(job.share_job.side.payout_script, script);
    assert!(hex::encode(&w.coinb2).contains(&hex::encode(script.as_bytes())));
    // A second worker of the same address may join; another payout may not.
    let r = c
        .call("mining.authorize", json!([format!("{addr}.rig8"), ""]))
        .await;
    assert_eq!(r["result"], true);
    let r = c.call("mining.authorize", json!(["bob", ""])).await;
    assert_eq!(error_code(&r), 20);

    let mut d = Client::connect(h.addr).await;
    let (_, w) = d.login("alice.rig1").await;
    assert_eq!(
        h.jobs.job_by_id(w.job_id()).unwrap().payout,
        default_payout()
    );
    // A job of another payout cannot be submitted here.
    let r = d
        .submit(
            &Work {
                job_id: format!("{:016x}", job.id),
                ..w
            },
            &[0; 8],
            0,
            None,
        )
        .await;
    assert_eq!(error_code(&r), 21);

    let miners = h.stats.miners();
    let rig7 = miners.iter().find(|m| m.worker == "rig7").unwrap();
    assert_eq!(rig7.payout_address, addr);
    assert_eq!(rig7.payout_script, script);
    assert!(!rig7.default_payout);
    let alice = miners.iter().find(|m| m.worker == "alice.rig1").unwrap();
    assert!(alice.default_payout);
}

#[tokio::test]
async fn litecoin_scrypt_share_to_an_address() {
    let mut h = start(Chain::LitecoinRegtest, |_| {}).await;
    let prog = [0x42u8; 20];
    let addr = segwit::encode_v0(Hrp::parse("rltc").unwrap(), &prog).unwrap();
    let script = PayoutScript::new(&[&[0x00, 0x14][..], &prog[..]].concat());
    let mut c = Client::connect(h.addr).await;
    let (d, w) = c.login(&addr).await;
    let job = h.jobs.job_by_id(w.job_id()).unwrap();
    assert_eq!(job.payout, script);
    let target = job.share_job.side.target();
    // scrypt difficulties count in DIFF1 * 65536.
    assert!(close_to(d, target_to_difficulty(&target, 65536)), "{d}");
    assert!(d > 1e-5 && d < 1e-4, "{d}");
    let e2 = [9u8; 8];
    let (nonce, header) = w.grind(PowAlgo::Scrypt1024, &c.e1, &e2, w.version, 0, |x| {
        target.is_met_by(x)
    });
    let r = c.submit(&w, &e2, nonce, None).await;
    assert_eq!(r["result"], json!(true), "{r}");
    let f = h.found().await;
    assert_eq!(
        f.share.candidate.as_bitcoin().unwrap().header_bytes(),
        header
    );
    assert_eq!(f.share.side.payout_script, script);
    check_stateless(&h.pool, &f.share, h.pool.chain.stateless_pow()).expect("valid litecoin share");
    let m = &h.stats.miners()[0];
    assert_eq!(
        (m.worker.as_str(), m.payout_address.as_str()),
        ("", addr.as_str())
    );
}

#[tokio::test]
async fn accepted_submits_below_the_share_target_are_not_shares() {
    let mut h = start(Chain::BitcoinRegtest, |c| c.min_difficulty = 1e-12).await;
    let mut c = Client::connect(h.addr).await;
    let r = c.call("mining.suggest_difficulty", json!([1e-11])).await;
    assert_eq!(r["result"], true);
    let (d, w) = c.login("cpu").await;
    assert!(close_to(d, 1e-11), "{d}");
    let job = h.jobs.job_by_id(w.job_id()).unwrap();
    let target = job.share_job.side.target();
    let e2 = [3u8; 8];
    let (nonce, _) = w.grind(h.algo, &c.e1, &e2, w.version, 0, |x| !target.is_met_by(x));
    let r = c.submit(&w, &e2, nonce, None).await;
    assert_eq!(r["result"], json!(true), "{r}");
    // A found share would have been handed on before the reply.
    assert!(h.found.try_recv().is_err());
    let n = h.stats.counters();
    assert_eq!((n.submits_accepted, n.shares_found), (1, 0));
}

#[tokio::test]
async fn protocol_errors() {
    let h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut c = Client::connect(h.addr).await;
    c.send_line("{not json").await;
    let r = c.next().await;
    assert_eq!(error_code(&r), 20);
    assert_eq!(r["result"], Value::Null);
    let r = c.call("mining.frobnicate", json!([])).await;
    assert_eq!(r["error"], json!([20, "unknown method", null]));
    let r = c
        .call(
            "mining.submit",
            json!(["w", "00", "00", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 25, "not subscribed");
    c.subscribe().await;
    let r = c
        .call(
            "mining.submit",
            json!(["w", "00", "00", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 24, "not authorized");
    let r = c.call("mining.authorize", json!(["w", "x"])).await;
    assert_eq!(r["result"], true);
    c.user = "w".into();
    let d = c.notification("mining.set_difficulty").await[0]
        .as_f64()
        .unwrap();
    let w = Work::parse(&c.notification("mining.notify").await);
    let r = c
        .call(
            "mining.submit",
            json!(["other", w.job_id, "00", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 24, "unknown worker");

    // Unknown job: stale.
    let gone = Work {
        job_id: "00000000deadbeef".into(),
        ..w.clone()
    };
    assert_eq!(error_code(&c.submit(&gone, &[0; 8], 0, None).await), 21);
    // Bad extranonce2 size, bad hex, bad ntime.
    assert_eq!(error_code(&c.submit(&w, &[0; 4], 0, None).await), 20);
    let r = c
        .call(
            "mining.submit",
            json!(["w", w.job_id, "zz00000000000000", "00000000", "00000000"]),
        )
        .await;
    assert_eq!(error_code(&r), 20);
    let stale_time = Work {
        ntime: w.ntime - 3600,
        ..w.clone()
    };
    let r = c.submit(&stale_time, &[0; 8], 0, None).await;
    assert_eq!(error_code(&r), 20);
    assert!(r["error"][1].as_str().unwrap().contains("ntime"), "{r}");
    let future = Work {
        ntime: w.ntime + 3 * 3600,
        ..w.clone()
    };
    assert_eq!(error_code(&c.submit(&future, &[0; 8], 0, None).await), 20);

    // Low difficulty: a hash that misses the connection's target (the share target here).
    let target = difficulty_to_target(d, 1);
    let e2 = [5u8; 8];
    let (low, _) = w.grind(h.algo, &c.e1, &e2, w.version, 0, |x| !target.is_met_by(x));
    assert_eq!(error_code(&c.submit(&w, &e2, low, None).await), 23);
    // Accepted once, then a duplicate.
    let (good, _) = w.grind(h.algo, &c.e1, &e2, w.version, 0, |x| target.is_met_by(x));
    assert_eq!(c.submit(&w, &e2, good, None).await["result"], true);
    assert_eq!(error_code(&c.submit(&w, &e2, good, None).await), 22);
    // An expired job is stale.
    h.jobs.expire(w.job_id());
    assert_eq!(error_code(&c.submit(&w, &e2, good + 1, None).await), 21);

    let n = h.stats.counters();
    assert_eq!(n.submits_stale, 2);
    assert_eq!(n.submits_duplicate, 1);
    assert_eq!(n.submits_low_difficulty, 1);
    assert_eq!(n.submits_accepted, 1);
    assert!(n.submits_rejected >= 7, "{n:?}");
    let m = h.stats.miners();
    assert_eq!((m[0].accepted, m[0].stale), (1, 2));

    // Non-UTF-8 is malformed too, and ten malformed lines close the connection.
    c.wr.write_all(b"\xff\xfe\n").await.unwrap();
    assert_eq!(error_code(&c.next().await), 20);
    for _ in 0..8 {
        c.send_line("[1,2,3]").await;
    }
    assert!(c.closed().await);
}

#[tokio::test]
async fn limits_close_abusive_connections() {
    let h = start(Chain::BitcoinRegtest, |c| c.max_connections = 3).await;
    // A 1 MB line from a logged-in miner (no timeout can be what closes it).
    let mut big = Client::connect(h.addr).await;
    big.login("big").await;
    let blob = vec![b'a'; 1 << 20];
    let writer = tokio::spawn(async move {
        let _ = big.wr.write_all(&blob).await;
        big
    });
    let mut big = tokio::time::timeout(WAIT, writer).await.unwrap().unwrap();
    assert!(big.closed().await, "1 MB line must disconnect");
    drop(big);
    for _ in 0..2000 {
        if h.stats.counters().connections_open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(h.stats.counters().connections_open, 0);

    // Three connections at most: a fourth is closed at once.
    let mut open = vec![];
    for _ in 0..3 {
        let mut c = Client::connect(h.addr).await;
        c.subscribe().await;
        open.push(c);
    }
    let mut extra = Client::connect(h.addr).await;
    assert!(extra.closed().await);
    assert_eq!(h.stats.counters().connections_refused, 1);
    // The others are still served.
    for c in &mut open {
        assert_eq!(c.call("mining.ping", json!([])).await["result"], "pong");
    }
}

#[tokio::test]
async fn unauthorized_connections_time_out() {
    let h = start(Chain::BitcoinRegtest, |c| {
        c.auth_timeout = Duration::from_secs(1)
    })
    .await;
    let mut ok = Client::connect(h.addr).await;
    ok.login("w").await;
    let mut half = Client::connect(h.addr).await;
    half.subscribe().await;
    let mut idle = Client::connect(h.addr).await;
    assert!(idle.closed().await);
    assert!(half.closed().await);
    // A logged-in miner is not affected.
    assert_eq!(ok.call("mining.ping", json!([])).await["result"], "pong");
}

#[tokio::test]
async fn vardiff_raises_and_lowers_the_difficulty() {
    // Up: six quick accepted submits at a tiny difficulty (set through the password).
    let h = start(Chain::BitcoinRegtest, |c| c.min_difficulty = 1e-12).await;
    let mut c = Client::connect(h.addr).await;
    let (d, w) = c.login_with("fast", "x,d=1e-12").await;
    assert!(close_to(d, 1e-12), "{d}");
    for nonce in 0..6 {
        let r = c.submit(&w, &[0; 8], nonce, None).await;
        assert_eq!(r["result"], true, "{r}");
    }
    let up = c.notification("mining.set_difficulty").await[0]
        .as_f64()
        .unwrap();
    assert!(close_to(up, 4e-12), "one step is at most 4x: {up}");

    // Down: a silent miner (retarget every 200 ms, one submit per 50 ms wanted).
    let h = start(Chain::BitcoinRegtest, |c| {
        c.min_difficulty = 1e-12;
        c.vardiff.retarget_interval = Duration::from_millis(200);
        c.vardiff.target_submit_interval = Duration::from_millis(50);
    })
    .await;
    let mut c = Client::connect(h.addr).await;
    let (d, _) = c.login("slow").await;
    let down = c.notification("mining.set_difficulty").await[0]
        .as_f64()
        .unwrap();
    assert!(down < d && down >= d / 4.0 * (1.0 - 1e-9), "{d} -> {down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_does_not_starve_others() {
    let h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut flood = Client::connect(h.addr).await;
    let ping = b"{\"id\":1,\"method\":\"mining.ping\",\"params\":[]}\n".repeat(1000);
    let flooder = tokio::spawn(async move {
        // Writes until the server hangs up; never reads.
        for _ in 0..200 {
            if flood.wr.write_all(&ping).await.is_err() {
                break;
            }
        }
        flood
    });
    let mut c = Client::connect(h.addr).await;
    let (_, w) = c.login("honest").await;
    assert_eq!(w.job_id.len(), 16);
    for _ in 0..5 {
        assert_eq!(c.call("mining.ping", json!([])).await["result"], "pong");
    }
    let mut flood = tokio::time::timeout(WAIT, flooder).await.unwrap().unwrap();
    assert!(flood.closed().await, "the flooder is disconnected");
    assert_eq!(c.call("mining.ping", json!([])).await["result"], "pong");
}

#[tokio::test]
async fn extranonce1_is_unique_per_connection() {
    let h = start(Chain::BitcoinRegtest, |_| {}).await;
    let mut seen = std::collections::HashSet::new();
    let mut clients = vec![];
    for _ in 0..50 {
        let mut c = Client::connect(h.addr).await;
        c.subscribe().await;
        assert!(seen.insert(c.e1.clone()));
        clients.push(c);
    }
}
