//! The xmrig-dialect server over real TCP with real RandomX (light mode): a rig written here the
//! way xmrig speaks (login, job, submit, keepalived) mines shares on a Monero job board that
//! validate with the consensus rules and pay its wallet; every refusal comes with xmrig's
//! message and the guard's scoring. No monerod: the board gets a hand-made template.
//!
//! Regtest's pool preset has a share target of about half of all hashes, so a share costs one
//! or two light-mode hashes; building the RandomX cache (about a second) is the slow part.

use otedama_consensus::chain::monero::address::Network;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::pow::{PowHasher, PowInput};
use otedama_consensus::{Chain, MemoryChain, PayoutScript, PoolParams, Preset, Target};
use otedama_mining::board::TipWork;
use otedama_mining::job::FoundShare;
use otedama_mining::monero::{
    MoneroBlockCandidate, MoneroBoard, MoneroBoardConfig, MoneroFoundSink, MoneroJobSource,
};
use otedama_mining::monerod::MoneroWork;
use otedama_mining::randomx_pow::RandomXHasher;
use otedama_mining::stratum::guard::BAN_SCORE;
use otedama_mining::stratum::StratumStats;
use otedama_mining::xmrig::{XmrigConfig, XmrigServer};
use otedama_randomx::Flags;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

/// Upper bound on any single wait; nothing here asserts on timing.
const WAIT: Duration = Duration::from_secs(30);
const SEED: Hash32 = [0x5e; 32];
const REWARD: u64 = 600_000_000_000 + 12_345;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn payee(i: u8) -> Payee {
    otedama_consensus::testkit::monero_payee(&[b'x', i], false)
}

fn script(p: &Payee) -> PayoutScript {
    PayoutScript::new(&p.to_bytes())
}

/// `monerod --regtest` uses mainnet's address prefixes.
fn wallet(p: &Payee) -> String {
    p.to_address(Network::Mainnet).to_string()
}

fn template(prev: u8) -> MoneroTemplate {
    MoneroTemplate {
        major_version: 16,
        minor_version: 16,
        // A current timestamp: its varint is 5 bytes, so the nonce is at byte 39.
        timestamp: unix_now(),
        prev_id: [prev; 32],
        height: 100,
        seed_hash: SEED,
        tx_hashes: vec![[1; 32], [2; 32], [3; 32]],
        reward: REWARD,
    }
}

fn tip() -> TipWork {
    TipWork {
        view: Arc::new(MemoryChain::new()),
        tip: None,
        uncles: vec![],
        payees: 1,
    }
}

struct Harness {
    addr: SocketAddr,
    pool: PoolParams,
    board: Arc<MoneroBoard>,
    stats: Arc<StratumStats>,
    hasher: Arc<RandomXHasher>,
    found: mpsc::Receiver<FoundShare>,
    blocks: mpsc::Receiver<MoneroBlockCandidate>,
    _stop: oneshot::Sender<()>,
}

/// A server on a regtest board with one template (block difficulty 1: every share is a block).
async fn start(tweak: impl FnOnce(&mut XmrigConfig)) -> Harness {
    let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
    let board = Arc::new(MoneroBoard::new(MoneroBoardConfig {
        pool: pool.clone(),
        software_version: 1,
    }));
    board.set_tip(tip());
    board.set_work(Some(Arc::new(MoneroWork {
        template: template(7),
        difficulty: 1,
        next_seed_hash: None,
        menu: menu(),
    })));
    let mut config = XmrigConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        Chain::MoneroRegtest,
        script(&payee(0)),
    );
    config.min_difficulty = 1;
    config.initial_difficulty = 1;
    tweak(&mut config);
    let (tx, found) = mpsc::channel(64);
    let (btx, blocks) = mpsc::channel(64);
    let stats = Arc::new(StratumStats::new());
    let hasher = Arc::new(RandomXHasher::new(Flags::recommended()));
    let server = XmrigServer::bind(
        config,
        board.clone(),
        MoneroFoundSink::new(tx, btx),
        stats.clone(),
        hasher.clone(),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));
    Harness {
        addr,
        pool,
        board,
        stats,
        hasher,
        found,
        blocks,
        _stop: stop_tx,
    }
}

// ---------------------------------------------------------------------------------------------
// A rig that speaks the xmrig dialect.

#[derive(Serialize)]
struct Request<'a, P> {
    id: u64,
    jsonrpc: &'static str,
    method: &'a str,
    params: P,
}

#[derive(Serialize)]
struct LoginReq<'a> {
    login: &'a str,
    pass: &'a str,
    agent: &'a str,
    algo: [&'a str; 2],
}

#[derive(Serialize)]
struct SubmitReq<'a> {
    id: &'a str,
    job_id: &'a str,
    nonce: String,
    result: String,
    algo: &'a str,
}

#[derive(Serialize)]
struct KeepaliveReq<'a> {
    id: &'a str,
}

#[derive(Clone, Debug, Deserialize)]
struct JobMsg {
    blob: String,
    job_id: String,
    target: String,
    algo: String,
    height: u64,
    seed_hash: String,
}

#[derive(Debug, Deserialize)]
struct ResultMsg {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    job: Option<JobMsg>,
    #[serde(default)]
    extensions: Option<Vec<String>>,
    status: String,
}

#[derive(Debug, Deserialize)]
struct ErrorMsg {
    code: i64,
    message: String,
}

#[derive(Debug, Deserialize)]
struct Incoming {
    jsonrpc: String,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<JobMsg>,
    #[serde(default)]
    result: Option<ResultMsg>,
    #[serde(default)]
    error: Option<ErrorMsg>,
}

impl Incoming {
    fn ok(self) -> ResultMsg {
        assert!(self.error.is_none(), "error reply: {self:?}");
        self.result.expect("a result")
    }

    fn err(self) -> String {
        assert!(self.result.is_none(), "expected an error: {self:?}");
        let e = self.error.expect("an error");
        assert_eq!(e.code, -1);
        e.message
    }
}

struct Rig {
    rd: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
    next_id: u64,
    session: String,
    jobs: VecDeque<JobMsg>,
}

impl Rig {
    async fn connect(addr: SocketAddr) -> Rig {
        let (rd, wr) = TcpStream::connect(addr).await.unwrap().into_split();
        Rig {
            rd: BufReader::new(rd).lines(),
            wr,
            next_id: 1,
            session: String::new(),
            jobs: VecDeque::new(),
        }
    }

    async fn send_line(&mut self, line: &str) {
        self.wr.write_all(line.as_bytes()).await.unwrap();
        self.wr.write_all(b"\n").await.unwrap();
    }

    /// The next message; `None` when the server closed the connection.
    async fn next(&mut self) -> Option<Incoming> {
        let line = tokio::time::timeout(WAIT, self.rd.next_line())
            .await
            .expect("a message in time")
            .ok()??;
        let m: Incoming = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(m.jsonrpc, "2.0");
        Some(m)
    }

    /// The next reply, queueing job notifications.
    async fn reply(&mut self) -> Incoming {
        loop {
            let m = self.next().await.expect("connection open");
            if m.method.as_deref() == Some("job") {
                assert!(m.id.is_none(), "notifications carry no id");
                self.jobs.push_back(m.params.expect("job params"));
                continue;
            }
            return m;
        }
    }

    async fn call<P: Serialize>(&mut self, method: &str, params: P) -> Incoming {
        let id = self.next_id;
        self.next_id += 1;
        let line = serde_json::to_string(&Request {
            id,
            jsonrpc: "2.0",
            method,
            params,
        })
        .unwrap();
        self.send_line(&line).await;
        let m = self.reply().await;
        assert_eq!(m.id, Some(id), "{m:?}");
        m
    }

    /// Logs in (again while the server is still building its RandomX cache); the first job.
    async fn login(&mut self, login: &str) -> JobMsg {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self
                .call(
                    "login",
                    LoginReq {
                        login,
                        pass: "x",
                        agent: "XMRig/6.21.0 (test)",
                        algo: ["rx/0", "cn/r"],
                    },
                )
                .await;
            if let Some(e) = &r.error {
                assert!(e.message.starts_with("No work yet"), "{e:?}");
                assert!(tokio::time::Instant::now() < deadline, "no work in time");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let r = r.ok();
            assert_eq!(r.status, "OK");
            assert_eq!(
                r.extensions.as_deref(),
                Some(&["algo".to_string(), "keepalive".to_string()][..])
            );
            self.session = r.id.expect("a session id");
            return r.job.expect("the first job");
        }
    }

    async fn submit(&mut self, job_id: &str, nonce: u32, result: &[u8; 32]) -> Incoming {
        let session = self.session.clone();
        self.call(
            "submit",
            SubmitReq {
                id: &session,
                job_id,
                nonce: hex::encode(nonce.to_le_bytes()),
                result: hex::encode(result),
                algo: "rx/0",
            },
        )
        .await
    }

    async fn keepalive(&mut self) -> Incoming {
        let session = self.session.clone();
        self.call("keepalived", KeepaliveReq { id: &session }).await
    }

    /// The next job notification.
    async fn job(&mut self) -> JobMsg {
        loop {
            if let Some(j) = self.jobs.pop_front() {
                return j;
            }
            let m = self.next().await.expect("connection open");
            assert_eq!(m.method.as_deref(), Some("job"), "{m:?}");
            self.jobs.push_back(m.params.expect("job params"));
        }
    }

    /// Whether the server closed the connection (reads until EOF, skipping messages).
    async fn closed(&mut self) -> bool {
        while tokio::time::timeout(WAIT, self.rd.next_line())
            .await
            .expect("closed in time")
            .ok()
            .flatten()
            .is_some()
        {}
        true
    }
}

/// xmrig's `Job::setTarget`, written from its documented behaviour: 4 bytes are a 32-bit
/// target widened as `(2^64-1) / ((2^32-1) / t32)`, 8 bytes the 64-bit target.
fn xmrig_target(hex_target: &str) -> u64 {
    let raw = hex::decode(hex_target).unwrap();
    match raw.len() {
        4 => {
            let t32 = u32::from_le_bytes(raw.try_into().unwrap()) as u64;
            u64::MAX / (u32::MAX as u64 / t32)
        }
        8 => u64::from_le_bytes(raw.try_into().unwrap()),
        n => panic!("{n}-byte target"),
    }
}

fn top64(h: &[u8; 32]) -> u64 {
    u64::from_le_bytes(h[24..].try_into().unwrap())
}

/// What a rig does: hashes the blob with rising nonces from `from` until the hash meets the
/// job's target (as xmrig checks it) and `want`.
async fn mine(
    hasher: &Arc<RandomXHasher>,
    job: &JobMsg,
    from: u32,
    want: impl Fn(&[u8; 32]) -> bool + Send + 'static,
) -> (u32, [u8; 32]) {
    let hasher = hasher.clone();
    let job = job.clone();
    tokio::task::spawn_blocking(move || {
        let mut blob = hex::decode(&job.blob).unwrap();
        let seed: Hash32 = hex::decode(&job.seed_hash).unwrap().try_into().unwrap();
        let target = xmrig_target(&job.target);
        for nonce in from.. {
            blob[39..43].copy_from_slice(&nonce.to_le_bytes());
            let h = hasher
                .pow_hash(PowInput::RandomX {
                    seed: &seed,
                    blob: &blob,
                })
                .unwrap();
            if top64(&h) < target && want(&h) {
                return (nonce, h);
            }
        }
        unreachable!()
    })
    .await
    .unwrap()
}

fn share_target(h: &Harness) -> Target {
    h.board.job_for(&script(&payee(1))).unwrap().share_target()
}

fn job_part(job_id: &str) -> &str {
    &job_id[..16]
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rig_mines_shares_that_validate_and_pay_its_wallet() {
    let mut h = start(|_| {}).await;
    let miner = payee(1);
    let login = format!("{}.rig1+1000000", wallet(&miner));
    let mut rig = Rig::connect(h.addr).await;
    let job = rig.login(&login).await;

    // The first job: RandomX at the template's height and seed, a blob with the nonce at
    // byte 39 (zero), and a target capped at the share target (the rig asked for more).
    assert_eq!(job.algo, "rx/0");
    assert_eq!(job.height, 100);
    assert_eq!(job.seed_hash, hex::encode(SEED));
    assert_eq!(job.job_id.len(), 24);
    let blob = hex::decode(&job.blob).unwrap();
    assert_eq!(&blob[39..43], &[0; 4]);
    let share_target = share_target(&h);
    assert_eq!(job.target.len(), 16, "the cap goes out in the 64-bit form");
    assert_eq!(
        xmrig_target(&job.target),
        top64(&share_target.to_le_bytes()) + 1
    );

    // Mine a share (the capped target is the share target, to the top 64 bits).
    let st = share_target;
    let (nonce, hash) = mine(&h.hasher, &job, 0, move |x| st.is_met_by(x)).await;
    let r = rig.submit(&job.job_id, nonce, &hash).await.ok();
    assert_eq!(r.status, "OK");

    // The block queue first (block difficulty 1), then the share.
    let block = tokio::time::timeout(WAIT, h.blocks.recv())
        .await
        .unwrap()
        .unwrap();
    let found = tokio::time::timeout(WAIT, h.found.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(block.share.id(), found.share.id());
    assert_eq!(found.worker, login);
    assert_eq!(format!("{:016x}", found.job_id), job_part(&job.job_id));
    let c = found.share.candidate.as_monero().expect("a Monero share");
    assert_eq!(c.header.nonce, nonce);
    let mut mined_blob = blob.clone();
    mined_blob[39..43].copy_from_slice(&nonce.to_le_bytes());
    assert_eq!(
        c.hashing_blob(),
        mined_blob,
        "the share is the blob the rig hashed"
    );
    assert_eq!(
        h.hasher
            .pow_hash(PowInput::RandomX {
                seed: &c.seed_hash,
                blob: &c.hashing_blob()
            })
            .unwrap(),
        hash
    );
    // It passes every consensus rule (RandomX proof of work included) and pays the wallet.
    let mut chain = MemoryChain::new();
    chain
        .validate_and_insert_with(&h.pool, &found.share, unix_now(), &*h.hasher)
        .expect("the share validates");
    assert!(found.share.paid_to(&h.pool, &script(&miner)) > 0);
    assert_eq!(found.share.paid_to(&h.pool, &script(&payee(0))), 0);

    // Keepalive.
    assert_eq!(rig.keepalive().await.ok().status, "KEEPALIVED");

    // A second rig of the same wallet: the same job, another blob; vardiff from difficulty 1.
    let mut rig2 = Rig::connect(h.addr).await;
    let job2 = rig2.login(&wallet(&miner)).await;
    assert_eq!(job_part(&job2.job_id), job_part(&job.job_id));
    assert_ne!(job2.blob, job.blob, "no two rigs get the same blob");
    assert_eq!(job2.target, "ffffffff", "difficulty 1, the 32-bit form");
    assert_eq!(xmrig_target(&job2.target), u64::MAX);
    // A pseudo-share (below the share target) is accepted and goes nowhere.
    let st = share_target;
    let (n2, h2) = mine(&h.hasher, &job2, 0, move |x| !st.is_met_by(x)).await;
    assert_eq!(rig2.submit(&job2.job_id, n2, &h2).await.ok().status, "OK");
    assert!(h.found.try_recv().is_err(), "a pseudo-share is not a share");
    // Five more accepted submits make six: vardiff raises the difficulty at once, with a new
    // blob (a rig restarts its nonces on every job).
    let mut from = n2 + 1;
    for _ in 0..5 {
        let (n, x) = mine(&h.hasher, &job2, from, |_| true).await;
        assert_eq!(rig2.submit(&job2.job_id, n, &x).await.ok().status, "OK");
        from = n + 1;
    }
    let raised = rig2.job().await;
    assert_eq!(job_part(&raised.job_id), job_part(&job2.job_id));
    assert_ne!(raised.job_id, job2.job_id);
    assert_ne!(raised.blob, job2.blob);
    assert!(xmrig_target(&raised.target) < xmrig_target(&job2.target));
    while h.found.try_recv().is_ok() {}

    // A new sharechain tip: both rigs get a new job.
    h.board.set_tip(tip());
    let next1 = rig.job().await;
    let next2 = rig2.job().await;
    assert_ne!(job_part(&next1.job_id), job_part(&job.job_id));
    assert_eq!(job_part(&next1.job_id), job_part(&next2.job_id));
    assert_ne!(next1.blob, next2.blob);

    // The old job is still known (late work can become an uncle): rig1's result on it counts.
    let st = share_target;
    let (n, x) = mine(&h.hasher, &job, nonce + 1, move |x| st.is_met_by(x)).await;
    assert_eq!(rig.submit(&job.job_id, n, &x).await.ok().status, "OK");
    tokio::time::timeout(WAIT, h.found.recv())
        .await
        .unwrap()
        .unwrap();

    // A job of this wallet that rig2 was never sent (rig1's job id): stale, honestly.
    let r = rig2.submit(&next1.job_id, 0, &[0; 32]).await;
    assert_eq!(r.err(), "Block expired");

    let c = h.stats.counters();
    assert_eq!(c.submits_accepted, 8);
    assert!(c.shares_found >= 2);
    assert_eq!(c.submits_stale, 1);
    assert_eq!(c.throttle_pauses, 0, "honest refusals cost nothing");
    let miners = h.stats.miners();
    let row = miners.iter().find(|m| m.worker == "rig1").unwrap();
    assert_eq!(row.payout_address, wallet(&miner));
    assert!(!row.default_payout);
    assert_eq!((row.accepted, row.shares_found, row.connections), (2, 2, 1));
    let row2 = miners.iter().find(|m| m.worker.is_empty()).unwrap();
    assert_eq!((row2.accepted, row2.stale), (6, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_submits_are_refused_scored_and_banned() {
    let h = start(|_| {}).await;

    // An over-long line closes its connection (no score: it leaves no debt behind). One byte
    // over the 16 KiB limit and no more, so the server has read everything when it closes
    // (unread bytes would make the close a reset that could overtake the error).
    let mut long = Rig::connect(h.addr).await;
    long.wr.write_all(&[b'x'; 16 * 1024 + 1]).await.unwrap();
    let m = long.next().await.expect("an error before closing");
    assert_eq!(m.err(), "Line too long; closing");
    assert!(long.closed().await);

    let mut rig = Rig::connect(h.addr).await;
    // Before login: Unauthenticated (xmrig reconnects on it).
    rig.session = "nobody".into();
    let r = rig.submit(&format!("{:024x}", 1), 0, &[0; 32]).await;
    assert_eq!(r.err(), "Unauthenticated");
    // Garbage is answered and counted, the connection stays.
    rig.send_line("this is not json").await;
    let r = rig.reply().await;
    assert!(r.id.is_none());
    assert_eq!(r.err(), "Malformed JSON-RPC request");
    assert_eq!(rig.keepalive().await.ok().status, "KEEPALIVED");

    let miner = payee(2);
    let job = rig.login(&format!("{}+1000000", wallet(&miner))).await;
    let st = share_target(&h);
    let (nonce, hash) = mine(&h.hasher, &job, 0, move |x| st.is_met_by(x)).await;
    assert_eq!(
        rig.submit(&job.job_id, nonce, &hash).await.ok().status,
        "OK"
    );
    // Score now -5 + 1 = -4.
    assert_eq!(
        rig.submit(&job.job_id, nonce, &hash).await.err(),
        "Duplicate share"
    );
    // A result that is not the hash of the nonce (the node never trusts it): -14.
    let mut wrong = hash;
    wrong[0] ^= 1;
    assert!(rig
        .submit(&job.job_id, nonce + 1000, &wrong)
        .await
        .err()
        .starts_with("Invalid result"));
    assert_eq!(h.stats.counters().throttle_pauses, 0);
    // A true hash above the target: -19, throttled from here on.
    let st = share_target(&h);
    let cap = xmrig_target(&job.target);
    let (low, low_hash) = {
        let hasher = h.hasher.clone();
        let job = job.clone();
        tokio::task::spawn_blocking(move || {
            let mut blob = hex::decode(&job.blob).unwrap();
            for n in 5000u32.. {
                blob[39..43].copy_from_slice(&n.to_le_bytes());
                let x = hasher
                    .pow_hash(PowInput::RandomX {
                        seed: &SEED,
                        blob: &blob,
                    })
                    .unwrap();
                if top64(&x) >= cap && !st.is_met_by(&x) {
                    return (n, x);
                }
            }
            unreachable!()
        })
        .await
        .unwrap()
    };
    assert_eq!(
        rig.submit(&job.job_id, low, &low_hash).await.err(),
        "Low difficulty share"
    );
    assert_eq!(h.stats.counters().throttle_pauses, 1);
    let r = rig.submit("not-a-job-id", 1, &[0; 32]).await;
    assert_eq!(r.err(), "Invalid job id");
    // A job this node never made: stale, and scored.
    let mut bad = 1 + 1 + 1 + 1 + 1; // unauthenticated, duplicate, result, low, job id
    let mut score = -5 * bad + 1;
    while score > BAN_SCORE {
        let r = rig.submit(&format!("{:024x}", 7), 9, &[0; 32]).await;
        assert_eq!(r.err(), "Block expired");
        bad += 1;
        score -= 5;
    }
    assert!(rig.closed().await, "closed after {bad} bad submits");
    let c = h.stats.counters();
    assert_eq!((c.bans, c.closed_score, c.closed_abuse), (1, 1, 1));
    assert_eq!(
        (
            c.submits_duplicate,
            c.submits_low_difficulty,
            c.submits_accepted
        ),
        (1, 1, 1)
    );
    assert!(c.throttle_pauses >= 5);
    // The address is banned: a new connection is closed at once.
    let mut again = Rig::connect(h.addr).await;
    assert!(again.closed().await);
    assert_eq!(h.stats.counters().connections_refused_banned, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_pay_wallets_or_the_node_and_refuse_what_cannot_be_paid() {
    let h = start(|c| c.max_payouts = 1).await;
    // A worker name: the node's own payout.
    let mut rig = Rig::connect(h.addr).await;
    let job = rig.login("garage-rig").await;
    assert_eq!(job.height, 100);
    // Another network's wallet, an integrated address and a typo are refused, not paid to the
    // node.
    let p = payee(3);
    let stagenet = p.to_address(Network::Stagenet).to_string();
    let integrated = otedama_consensus::chain::monero::address::Address {
        network: Network::Mainnet,
        kind: otedama_consensus::chain::monero::address::AddressKind::Integrated {
            payment_id: [9; 8],
        },
        spend_public: p.spend,
        view_public: p.view,
    }
    .to_string();
    let mut typo = wallet(&p).into_bytes();
    typo[40] = if typo[40] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    for (login, why) in [
        (stagenet.as_str(), "Stagenet address"),
        (integrated.as_str(), "integrated address"),
        (typo.as_str(), "looks like a Monero address"),
    ] {
        let mut r = Rig::connect(h.addr).await;
        let m = r
            .call(
                "login",
                LoginReq {
                    login,
                    pass: "x",
                    agent: "t",
                    algo: ["rx/0", "rx/0"],
                },
            )
            .await;
        let e = m.err();
        assert!(e.contains(why), "{e}");
    }
    // A rig that cannot mine RandomX.
    let mut r = Rig::connect(h.addr).await;
    let m = r
        .call(
            "login",
            LoginReq {
                login: "x",
                pass: "x",
                agent: "t",
                algo: ["cn/r", "kawpow"],
            },
        )
        .await;
    assert!(m.err().starts_with("Unsupported algorithm"));
    // One wallet fits the payout cap, a second does not (the node's own never counts).
    let mut a = Rig::connect(h.addr).await;
    a.login(&wallet(&payee(4))).await;
    let mut b = Rig::connect(h.addr).await;
    let m = b
        .call(
            "login",
            LoginReq {
                login: &wallet(&payee(5)),
                pass: "x",
                agent: "t",
                algo: ["rx/0", "rx/0"],
            },
        )
        .await;
    assert!(m.err().contains("payout wallets"));
    let c = h.stats.counters();
    assert_eq!(
        (c.authorize_refused_payouts, c.authorize_refused_other),
        (1, 4)
    );
    let miners = h.stats.miners();
    let own = miners.iter().find(|m| m.worker == "garage-rig").unwrap();
    assert!(own.default_payout);
    assert_eq!(own.payout_script, script(&payee(0)));
    // A second login on one connection is refused; the first stands.
    let m = rig
        .call(
            "login",
            LoginReq {
                login: "other",
                pass: "x",
                agent: "t",
                algo: ["rx/0", "rx/0"],
            },
        )
        .await;
    assert_eq!(m.err(), "Already logged in");
    assert_eq!(rig.keepalive().await.ok().status, "KEEPALIVED");
    // Unknown methods get an error, not a close.
    let m = rig.call("getjob", KeepaliveReq { id: "s" }).await;
    assert_eq!(m.err(), "Unknown method");
}

/// The pool behind the template: its three transactions, whose fees (with the tail emission:
/// no coins left to emit) make the template's reward.
fn menu() -> otedama_mining::monerod::TxMenu {
    let tx = |id: u8| otedama_mining::monerod::client::TxBacklogEntry {
        id: [id; 32],
        weight: 1_500,
        fee: 4115,
    };
    otedama_mining::monerod::TxMenu::new(300_000, u64::MAX, &[tx(1), tx(2), tx(3)])
}
