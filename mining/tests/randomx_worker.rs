//! Embedded RandomX workers against a real Monero job board: the shares they hand on pass
//! stateless validation with an independent RandomX (light machines of `otedama-randomx`, not
//! the workers' own), pay the configured payout, carry per-thread extra nonces, reach the block
//! queue when they meet monerod's difficulty, and follow a seed change without stopping. One
//! test runs fast mode (the 2 GiB dataset, built by the worker threads); the others run light
//! mode so CI does not allocate 2 GiB per test. Nothing here asserts on timing: every wait is
//! bounded only to turn a hang into a failure.

use otedama_consensus::chain::monero::difficulty::meets_difficulty;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::miner_tx::parse_miner_tx;
use otedama_consensus::chain::Chain;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_consensus::{check_stateless, MemoryChain, PayoutScript, PoolParams, Preset, Share};
use otedama_mining::board::TipWork;
use otedama_mining::job::FoundShare;
use otedama_mining::monero::job::hashing_blob;
use otedama_mining::monero::{
    MoneroBlockCandidate, MoneroBoard, MoneroBoardConfig, MoneroFoundSink,
};
use otedama_mining::monerod::MoneroWork;
use otedama_mining::randomx_pow::{HashMode, RandomXHasher};
use otedama_mining::workers::randomx::{
    thread_extra_nonce, DatasetStatus, RandomXMode, RandomXWorkerConfig, RandomXWorkers,
};
use otedama_randomx::{Cache, Flags, LargePages, Vm};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Upper bound on a wait for light-mode shares (a light hash takes 50-100 ms here).
const WAIT: Duration = Duration::from_secs(120);
/// Upper bound for fast mode: the dataset takes 25-60 s on two busy cores.
const FAST_WAIT: Duration = Duration::from_secs(400);

const SEED_A: Hash32 = [0xa5; 32];
const SEED_B: Hash32 = [0xb6; 32];

/// The workers' log lines on stderr (shown for failing tests, or all with `--nocapture`): a
/// minimal subscriber, since the crate has no `tracing-subscriber`.
struct StderrLog;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}{}", self.0);
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
}

impl tracing::Subscriber for StderrLog {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        *m.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        let mut f = Fields(String::new());
        e.record(&mut f);
        eprintln!("{} {} {}", e.metadata().level(), e.metadata().target(), f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn logs() {
    let _ = tracing::subscriber::set_global_default(StderrLog);
}

/// RandomX in light mode, one machine per seed, built by the test: independent of the
/// workers' caches, datasets and pipelines.
#[derive(Default)]
struct IndependentRandomX {
    vms: Mutex<HashMap<Hash32, Vm>>,
}

impl IndependentRandomX {
    fn hash(&self, seed: &Hash32, blob: &[u8]) -> [u8; 32] {
        let mut vms = self.vms.lock().unwrap();
        let vm = vms.entry(*seed).or_insert_with(|| {
            let cache = Cache::new(seed, Flags::recommended(), LargePages::Off).unwrap();
            Vm::light(Arc::new(cache)).unwrap()
        });
        vm.hash(blob)
    }
}

impl PowHasher for IndependentRandomX {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        match input {
            PowInput::RandomX { seed, blob } => Ok(self.hash(seed, blob)),
            PowInput::Header(_) => Err(PowError::Unsupported("header")),
        }
    }
}

fn payout(i: u8) -> PayoutScript {
    let payee = otedama_consensus::testkit::monero_payee(&[b'r', b'x', i], false);
    PayoutScript::new(&payee.to_bytes())
}

/// Regtest's main preset: its share floor is 2 expected hashes, so about every other hash is
/// a share.
fn pool() -> PoolParams {
    PoolParams::preset(Chain::MoneroRegtest, Preset::Main)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn work(height: u64, seed: Hash32, next: Option<Hash32>, difficulty: u128) -> Arc<MoneroWork> {
    Arc::new(MoneroWork {
        template: MoneroTemplate {
            major_version: 16,
            minor_version: 16,
            timestamp: unix_now(),
            prev_id: [height as u8; 32],
            height,
            seed_hash: seed,
            tx_hashes: vec![[1; 32], [2; 32], [3; 32]],
            reward: 600_000_000_000 + 12_345_678,
        },
        difficulty,
        next_seed_hash: next,
        menu: menu(),
    })
}

fn board(work: Arc<MoneroWork>) -> Arc<MoneroBoard> {
    let board = Arc::new(MoneroBoard::new(MoneroBoardConfig {
        pool: pool(),
        software_version: 1,
    }));
    board.set_tip(TipWork {
        view: Arc::new(MemoryChain::new()),
        tip: None,
        uncles: vec![],
        payees: 1,
    });
    board.set_work(Some(work));
    board
}

struct Run {
    workers: RandomXWorkers,
    shares: mpsc::Receiver<FoundShare>,
    blocks: mpsc::Receiver<MoneroBlockCandidate>,
}

fn start(board: &Arc<MoneroBoard>, threads: usize, mode: RandomXMode, pay: &PayoutScript) -> Run {
    start_with(board, threads, mode, pay, None)
}

/// [`start`] with the node's share verifier, which the workers hand their datasets.
fn start_with(
    board: &Arc<MoneroBoard>,
    threads: usize,
    mode: RandomXMode,
    pay: &PayoutScript,
    verifier: Option<Arc<RandomXHasher>>,
) -> Run {
    logs();
    let (share_tx, shares) = mpsc::channel(64);
    let (block_tx, blocks) = mpsc::channel(64);
    let mut config = RandomXWorkerConfig::new(threads, pay.clone());
    config.mode = mode;
    config.nice = 0;
    config.log_interval = Duration::from_secs(5);
    config.verifier = verifier;
    let workers = RandomXWorkers::spawn(
        config,
        board.clone(),
        MoneroFoundSink::new(share_tx, block_tx),
    );
    Run {
        workers,
        shares,
        blocks,
    }
}

impl Run {
    /// The next share, waiting at most `limit`.
    fn next_share(&mut self, limit: Duration) -> FoundShare {
        let deadline = Instant::now() + limit;
        loop {
            match self.shares.try_recv() {
                Ok(f) => return f,
                Err(mpsc::error::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "no share within {limit:?}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("share channel: {e}"),
            }
        }
    }

    fn next_block(&mut self, limit: Duration) -> MoneroBlockCandidate {
        let deadline = Instant::now() + limit;
        loop {
            match self.blocks.try_recv() {
                Ok(b) => return b,
                Err(mpsc::error::TryRecvError::Empty) => {
                    assert!(Instant::now() < deadline, "no block within {limit:?}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("block channel: {e}"),
            }
        }
    }
}

/// Checks everything a found share must be: a Monero share for `seed`, valid by the stateless
/// rules with the independent RandomX (which includes the share target), paying `pay`, with
/// its worker's extra nonce; returns its RandomX hash and hashing blob.
fn check_share(
    found: &FoundShare,
    seed: &Hash32,
    pay: &PayoutScript,
    rx: &IndependentRandomX,
) -> ([u8; 32], Vec<u8>) {
    let share: &Share = &found.share;
    let c = share.candidate.as_monero().expect("a Monero share");
    assert_eq!(&c.seed_hash, seed, "share hashed under the job's seed");
    check_stateless(&pool(), share, rx)
        .unwrap_or_else(|e| panic!("share by {} refused: {e}", found.worker));
    let (blob, _) = hashing_blob(share).unwrap();
    let hash = rx.hash(seed, &blob);
    assert!(
        share.side.target().is_met_by(&hash),
        "meets the share target"
    );
    assert_eq!(&share.side.payout_script, pay, "pays the configured payout");
    let index: usize = found
        .worker
        .strip_prefix("cpu-")
        .and_then(|i| i.parse().ok())
        .unwrap_or_else(|| panic!("worker name {}", found.worker));
    let extra = parse_miner_tx(&c.miner_tx).unwrap().extra_nonce;
    assert_eq!(extra.len(), 8);
    let roll = u16::from_be_bytes([extra[6], extra[7]]);
    assert_eq!(
        extra,
        thread_extra_nonce(index, roll),
        "thread index and marker in the extra nonce"
    );
    (hash, blob)
}

#[test]
fn light_mode_shares_verify_and_pay_the_payout() {
    let pay = payout(1);
    let board = board(work(100, SEED_A, None, u128::MAX));
    let mut run = start(&board, 1, RandomXMode::Light, &pay);
    let rx = IndependentRandomX::default();
    for _ in 0..4 {
        let found = run.next_share(WAIT);
        assert_eq!(found.worker, "cpu-0");
        check_share(&found, &SEED_A, &pay, &rx);
    }
    let stats = run.workers.stats();
    assert_eq!(stats.kernel, "randomx-light");
    assert_eq!(stats.names, vec!["cpu-0".to_string()]);
    run.workers.stop();
    assert!(stats.total(|t| &t.shares) >= 4);
    assert!(stats.total(|t| &t.hashes) >= 4);
    // Stopped and joined: whatever is queued now is all there will be.
    while run.shares.try_recv().is_ok() {}
    assert!(run.shares.try_recv().is_err());
    assert!(
        run.blocks.try_recv().is_err(),
        "no block at an unreachable difficulty"
    );
}

#[test]
fn two_threads_never_hash_the_same_blob() {
    let pay = payout(2);
    let board = board(work(100, SEED_A, None, u128::MAX));
    let mut run = start(&board, 2, RandomXMode::Light, &pay);
    let rx = IndependentRandomX::default();
    let mut blobs = HashSet::new();
    let mut by_worker: HashMap<String, usize> = HashMap::new();
    let deadline = Instant::now() + WAIT * 2;
    while by_worker.len() < 2 || by_worker.values().any(|n| *n < 3) {
        assert!(Instant::now() < deadline, "both threads find shares");
        let found = run.next_share(WAIT);
        let (_, blob) = check_share(&found, &SEED_A, &pay, &rx);
        assert!(
            blobs.insert(blob),
            "blob hashed twice (by {})",
            found.worker
        );
        *by_worker.entry(found.worker.clone()).or_default() += 1;
    }
    assert_eq!(by_worker.len(), 2);
    run.workers.stop();
}

#[test]
fn a_block_difficulty_hit_reaches_the_block_queue() {
    let pay = payout(3);
    // Difficulty 1: every hash is a block.
    let board = board(work(100, SEED_A, None, 1));
    let mut run = start(&board, 1, RandomXMode::Light, &pay);
    let rx = IndependentRandomX::default();
    let block = run.next_block(WAIT);
    assert_eq!(block.worker, "cpu-0");
    assert_eq!(block.work.difficulty, 1);
    let found = FoundShare {
        share: block.share.clone(),
        job_id: 0,
        worker: block.worker.clone(),
    };
    let (hash, _) = check_share(&found, &SEED_A, &pay, &rx);
    assert!(meets_difficulty(&hash, 1));
    // The same share went on to the sharechain queue.
    let id = block.share.id();
    let deadline = Instant::now() + WAIT;
    loop {
        let s = run.next_share(WAIT);
        if s.share.id() == id {
            break;
        }
        assert!(Instant::now() < deadline, "the block's share is queued too");
    }
    run.workers.stop();
}

#[test]
fn a_seed_change_rekeys_without_stopping() {
    let pay = payout(4);
    // monerod names the next seed ahead: the keeper builds its cache before it is needed.
    let board = board(work(100, SEED_A, Some(SEED_B), u128::MAX));
    let mut run = start(&board, 1, RandomXMode::Light, &pay);
    let rx = IndependentRandomX::default();
    let first = run.next_share(WAIT);
    check_share(&first, &SEED_A, &pay, &rx);
    // The next seed's cache is built ahead, while the thread hashes under the current one.
    let deadline = Instant::now() + WAIT;
    loop {
        let seeds = run.workers.seeds();
        assert!(
            seeds.first().is_none_or(|s| s.seed == SEED_A),
            "the current seed first"
        );
        if seeds.iter().any(|s| s.seed == SEED_B && s.cache) {
            assert!(
                seeds.iter().all(|s| s.dataset == DatasetStatus::None),
                "light mode"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the next seed's cache is built ahead"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let jobs_before = run.workers.stats().total(|t| &t.jobs);
    let hashes_before = run.workers.stats().total(|t| &t.hashes);
    board.set_work(Some(work(101, SEED_B, None, u128::MAX)));
    // Shares found under the old seed before the switch may still be queued; after the first
    // share under the new seed, every share uses it (one thread, one queue, in order).
    let mut switched = false;
    let mut under_b = 0;
    let deadline = Instant::now() + WAIT * 2;
    while under_b < 3 {
        assert!(Instant::now() < deadline, "shares under the new seed");
        let found = run.next_share(WAIT);
        let seed = found.share.candidate.as_monero().unwrap().seed_hash;
        if seed == SEED_B {
            switched = true;
            under_b += 1;
            check_share(&found, &SEED_B, &pay, &rx);
        } else {
            assert!(!switched, "a share under the old seed after the switch");
            check_share(&found, &SEED_A, &pay, &rx);
        }
    }
    let stats = run.workers.stats();
    assert!(stats.total(|t| &t.jobs) > jobs_before);
    assert!(stats.total(|t| &t.hashes) > hashes_before);
    assert_eq!(run.workers.threads(), 1, "the thread kept running");
    // The old seed is released once no job uses it.
    let deadline = Instant::now() + WAIT;
    while run.workers.seeds().iter().any(|s| s.seed == SEED_A) {
        assert!(Instant::now() < deadline, "the old seed is dropped");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.workers.stop();
}

#[test]
fn zero_threads_start_nothing() {
    let pay = payout(5);
    let board = board(work(100, SEED_A, None, u128::MAX));
    let run = start(&board, 0, RandomXMode::Fast, &pay);
    assert_eq!(run.workers.threads(), 0);
    assert!(run.workers.stats().threads.is_empty());
    run.workers.stop();
}

/// Fast mode end to end: the dataset (2 GiB) built by both worker threads, then fast hashes
/// that the independent light-mode RandomX confirms, blocks included.
#[test]
fn fast_mode_builds_the_dataset_on_the_worker_threads() {
    let pay = payout(6);
    // Difficulty 1: every share is also a block.
    let board = board(work(100, SEED_A, None, 1));
    // The node's verifier, light (a mining node builds no dataset of its own for it).
    let verifier = Arc::new(RandomXHasher::new(Flags::recommended()));
    verifier.set_seeds(SEED_A, None).unwrap();
    assert_eq!(verifier.mode(), HashMode::Light);
    let t0 = Instant::now();
    let mut run = start_with(&board, 2, RandomXMode::Fast, &pay, Some(verifier.clone()));
    let rx = IndependentRandomX::default();
    let deadline = Instant::now() + FAST_WAIT;
    loop {
        let seeds = run.workers.seeds();
        if seeds
            .first()
            .is_some_and(|s| s.dataset == DatasetStatus::Ready)
        {
            break;
        }
        assert!(Instant::now() < deadline, "dataset built: {seeds:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("dataset ready after {:.1} s", t0.elapsed().as_secs_f64());
    // The workers hand it to the verifier (at the keeper's next look).
    let deadline = Instant::now() + FAST_WAIT;
    while verifier.mode() != HashMode::Fast {
        assert!(
            Instant::now() < deadline,
            "the verifier never took the dataset"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // What was found before (light mode, while the dataset was built) is not what is checked.
    while run.shares.try_recv().is_ok() {}
    while run.blocks.try_recv().is_ok() {}
    let block = run.next_block(FAST_WAIT);
    let found = FoundShare {
        share: block.share.clone(),
        job_id: 0,
        worker: block.worker.clone(),
    };
    let (hash, blob) = check_share(&found, &SEED_A, &pay, &rx);
    assert!(meets_difficulty(&hash, 1));
    // The verifier hashes on the workers' dataset, and agrees.
    let before = verifier.stats().fast_hashes;
    let via_verifier = verifier
        .pow_hash(PowInput::RandomX {
            seed: &SEED_A,
            blob: &blob,
        })
        .unwrap();
    assert_eq!(via_verifier, hash);
    assert_eq!(verifier.stats().fast_hashes, before + 1);
    assert_eq!(verifier.stats().datasets_built, 0, "no dataset of its own");
    let mut by_worker = HashSet::new();
    let mut blobs = HashSet::new();
    let deadline = Instant::now() + FAST_WAIT;
    while by_worker.len() < 2 || blobs.len() < 6 {
        assert!(Instant::now() < deadline, "fast shares from both threads");
        while run.blocks.try_recv().is_ok() {}
        let found = run.next_share(FAST_WAIT);
        let (_, blob) = check_share(&found, &SEED_A, &pay, &rx);
        assert!(blobs.insert(blob), "blob hashed twice");
        by_worker.insert(found.worker.clone());
    }
    let stats = run.workers.stats();
    assert_eq!(stats.kernel, "randomx-fast");
    eprintln!(
        "fast mode: {} hashes, {} shares in {:.1} s",
        stats.total(|t| &t.hashes),
        stats.total(|t| &t.shares),
        t0.elapsed().as_secs_f64()
    );
    run.workers.stop();
}

/// Fast mode across a seed change: once the current dataset is ready, the next seed's (named
/// by monerod ahead) is built between batches while shares keep coming under the current seed;
/// at the switch the threads hash under the new seed without building anything, and the old
/// dataset is released. Two datasets (4 GiB, a minute or more of initialisation on two cores):
/// run it explicitly with `-- --ignored ahead`.
#[test]
#[ignore = "two 2 GiB datasets; minutes on two cores"]
fn fast_mode_prepares_the_next_dataset_ahead() {
    let pay = payout(7);
    let board = board(work(100, SEED_A, Some(SEED_B), u128::MAX));
    let t0 = Instant::now();
    let mut run = start(&board, 2, RandomXMode::Fast, &pay);
    let rx = IndependentRandomX::default();
    let deadline = Instant::now() + FAST_WAIT * 2;
    let mut under_a_while_building = 0;
    loop {
        let seeds = run.workers.seeds();
        assert!(seeds.first().is_none_or(|s| s.seed == SEED_A));
        let next = seeds.iter().find(|s| s.seed == SEED_B).map(|s| s.dataset);
        if next == Some(DatasetStatus::Ready) {
            break;
        }
        if let Some(DatasetStatus::Building { .. }) = next {
            assert_eq!(
                seeds[0].dataset,
                DatasetStatus::Ready,
                "the current one first"
            );
            // Hashing goes on under the current seed while the next dataset is built.
            while let Ok(found) = run.shares.try_recv() {
                check_share(&found, &SEED_A, &pay, &rx);
                under_a_while_building += 1;
            }
        }
        assert!(
            Instant::now() < deadline,
            "next dataset built ahead: {seeds:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "both datasets ready after {:.1} s; {under_a_while_building} shares under the current seed meanwhile",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        under_a_while_building > 0,
        "hashing went on while the next dataset was built"
    );
    board.set_work(Some(work(101, SEED_B, None, u128::MAX)));
    let mut under_b = 0;
    let deadline = Instant::now() + FAST_WAIT;
    while under_b < 4 {
        assert!(Instant::now() < deadline, "shares under the new seed");
        let found = run.next_share(FAST_WAIT);
        if found.share.candidate.as_monero().unwrap().seed_hash == SEED_B {
            check_share(&found, &SEED_B, &pay, &rx);
            under_b += 1;
        }
    }
    let seeds = run.workers.seeds();
    assert_eq!(seeds[0].seed, SEED_B);
    assert_eq!(seeds[0].dataset, DatasetStatus::Ready);
    assert!(
        seeds.iter().all(|s| s.seed != SEED_A),
        "the old seed released"
    );
    run.workers.stop();
}

/// `otedama-node bench --algo randomx` through the test harness, for builds without the node:
/// `cargo test --release -p otedama-mining --test randomx_worker -- --ignored bench --nocapture`
/// with `OTEDAMA_BENCH_SECONDS` (default 20) and `OTEDAMA_BENCH_THREADS` (default all cores).
#[test]
#[ignore = "a benchmark: 2 GiB of dataset and a few minutes"]
fn bench_randomx() {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
    let seconds = env("OTEDAMA_BENCH_SECONDS").unwrap_or(20.0);
    let threads = env("OTEDAMA_BENCH_THREADS").map(|t| t as usize);
    otedama_mining::workers::randomx::bench::cli(threads, seconds, None).unwrap();
}

/// The pool behind the template: its three transactions, whose fees (with the tail emission:
/// no coins left to emit) make the template's reward.
fn menu() -> otedama_mining::monerod::TxMenu {
    let tx = |id: u8| otedama_mining::monerod::client::TxBacklogEntry {
        id: [id; 32],
        weight: 1_500,
        fee: 4115226,
    };
    otedama_mining::monerod::TxMenu::new(300_000, u64::MAX, &[tx(1), tx(2), tx(3)])
}
