//! Embedded CPU workers: fast kernels equal the reference on random headers; workers fed from a
//! job source find valid shares through the found-share channel, never hand on work for a job
//! that went stale, and zero threads means no threads.

use otedama_consensus::chain::Chain;
use otedama_consensus::pow::PowAlgo;
use otedama_consensus::testkit;
use otedama_consensus::work::{Target, U256};
use otedama_consensus::{check_stateless, PayoutScript, PoolParams, Preset};
use otedama_mining::job::{FoundShare, Job, JobSource, WorkEpoch};
use otedama_mining::workers::{
    local_extranonce1, sha256d as sha_kernels, ScryptHasher, ScryptKernel, ScryptWork,
    Sha256dKernel, Sha256dWork, WorkerConfig, Workers,
};
use proptest::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// Upper bound on any single wait; tests never assert on timing, only that things happen.
const WAIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Fast paths against the reference.

fn top32(h: &[u8; 32]) -> u32 {
    u32::from_le_bytes([h[28], h[29], h[30], h[31]])
}

/// The nonces among `count` big-endian values from `start` whose SHA256d top 32 bits are
/// `<= limit`, by the reference hash.
fn reference_candidates(header: &[u8; 80], start: u32, count: u32, limit: u32) -> Vec<u32> {
    let mut h = *header;
    (0..count)
        .map(|i| start.wrapping_add(i).swap_bytes())
        .filter(|nonce| {
            h[76..].copy_from_slice(&nonce.to_le_bytes());
            top32(&PowAlgo::Sha256d.hash(&h)) <= limit
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sha256d_kernels_nominate_exactly_the_reference_candidates(
        header in prop::array::uniform32(any::<u8>()).prop_flat_map(|a| {
            (Just(a), prop::array::uniform32(any::<u8>()), prop::array::uniform16(any::<u8>()))
        }),
        start in any::<u32>(),
        shift in 0u32..8,
        low in any::<u32>(),
    ) {
        let (a, b, c) = header;
        let mut h = [0u8; 80];
        h[..32].copy_from_slice(&a);
        h[32..64].copy_from_slice(&b);
        h[64..80].copy_from_slice(&c);
        // From every nonce a candidate (shift 0, limit near max) to one in 2^7.
        let limit = (u32::MAX >> shift) ^ (low & 0xff);
        let count = 240; // a multiple of every kernel's step, and of 3 and 5
        let expect = reference_candidates(&h, start, count, limit);
        let work = Sha256dWork::new(&h);
        for k in Sha256dKernel::available() {
            let mut got = Vec::new();
            k.scan(&work, start, count, limit, &mut got);
            prop_assert_eq!(&got, &expect, "{}", k.name());
        }
        #[cfg(target_arch = "x86_64")]
        if Sha256dKernel::available().contains(&Sha256dKernel::ShaNi) {
            for ways in [1, 2, 3, 5, 6] {
                let mut got = Vec::new();
                sha_kernels::scan_sha_ni_ways(ways, &work, start, count, limit, &mut got);
                prop_assert_eq!(&got, &expect, "sha-ni x{}", ways);
            }
        }
    }

    #[test]
    fn scrypt_kernels_equal_the_reference(
        a in prop::array::uniform32(any::<u8>()),
        b in prop::array::uniform32(any::<u8>()),
        c in prop::array::uniform16(any::<u8>()),
        start in any::<u32>(),
        ways in 1usize..=4,
    ) {
        let mut h = [0u8; 80];
        h[..32].copy_from_slice(&a);
        h[32..64].copy_from_slice(&b);
        h[64..80].copy_from_slice(&c);
        let work = ScryptWork::new(&h);
        for k in ScryptKernel::available() {
            let mut hasher = ScryptHasher::with_interleave(k, ways);
            let nonces: Vec<u32> =
                (0..hasher.batch() as u32).map(|i| start.wrapping_add(i)).collect();
            let mut out = vec![[0u8; 32]; hasher.batch()];
            hasher.hash_nonces(&work, &nonces, &mut out);
            for (n, got) in nonces.iter().zip(&out) {
                prop_assert_eq!(
                    *got,
                    PowAlgo::Scrypt1024.hash(&work.header(*n)),
                    "{} x{} nonce {}", k.name(), ways, n
                );
            }
            // And the scan's target check: a target between the batch's hashes.
            let mut sorted: Vec<U256> = out.iter().map(|h| U256::from_little_endian(h)).collect();
            sorted.sort();
            let target = Target(sorted[sorted.len() / 2]);
            let mut found = Vec::new();
            hasher.scan(&work, start, hasher.batch() as u32, &target, &mut found);
            let expect: Vec<u32> = nonces
                .iter()
                .zip(&out)
                .filter(|(_, h)| target.is_met_by(h))
                .map(|(n, _)| *n)
                .collect();
            prop_assert_eq!(found, expect);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A job source holding real share jobs.

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct FakeState {
    height: u32,
    current: HashMap<PayoutScript, Arc<Job>>,
    by_id: HashMap<u64, Arc<Job>>,
    next_id: u64,
}

struct FakeJobs {
    pool: PoolParams,
    state: Mutex<FakeState>,
    epoch: watch::Sender<WorkEpoch>,
    job_for_calls: AtomicU64,
}

impl FakeJobs {
    fn new(chain: Chain) -> Arc<FakeJobs> {
        Arc::new(FakeJobs {
            pool: PoolParams::preset(chain, Preset::Main),
            state: Mutex::new(FakeState {
                height: 200,
                current: HashMap::new(),
                by_id: HashMap::new(),
                next_id: 1000,
            }),
            epoch: watch::channel(WorkEpoch::default()).0,
            job_for_calls: AtomicU64::new(0),
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

    /// A new parent block: clean work; returns the new job's id for `payout`.
    fn new_block(&self, payout: &PayoutScript) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.current.clear();
        st.height += 1;
        let id = self.build(&mut st, payout).id;
        drop(st);
        self.epoch.send_modify(|e| {
            e.seq += 1;
            e.clean = true;
        });
        id
    }
}

impl JobSource for FakeJobs {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>> {
        self.job_for_calls.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state.lock().unwrap();
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

fn config(threads: usize, pow: PowAlgo) -> WorkerConfig {
    let mut c = WorkerConfig::new(threads, testkit::script(7), pow);
    c.nice = 0;
    c
}

fn recv(rx: &mut mpsc::Receiver<FoundShare>) -> FoundShare {
    let deadline = Instant::now() + WAIT;
    loop {
        match rx.try_recv() {
            Ok(f) => return f,
            Err(mpsc::error::TryRecvError::Empty) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("no share from the workers: {e:?}"),
        }
    }
}

fn wait_until(what: &str, f: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------------------------
// Workers.

#[test]
fn workers_find_valid_shares_on_both_algorithms_with_distinct_extranonces() {
    for (chain, pow) in [
        (Chain::BitcoinRegtest, PowAlgo::Sha256d),
        (Chain::LitecoinRegtest, PowAlgo::Scrypt1024),
    ] {
        let jobs = FakeJobs::new(chain);
        let (tx, mut rx) = mpsc::channel(64);
        let workers = Workers::spawn(config(2, pow), jobs.clone(), tx);
        assert_eq!(workers.threads(), 2);
        let mut by_worker: HashMap<String, HashSet<Vec<u8>>> = HashMap::new();
        while by_worker.len() < 2 {
            let f = recv(&mut rx);
            let job = jobs.job_by_id(f.job_id).expect("a job of the source");
            // What the sharechain checks first, as for a Stratum share.
            check_stateless(&jobs.pool, &f.share, jobs.pool.chain.stateless_pow())
                .expect("valid share");
            assert_eq!(f.share.side, job.share_job.side);
            assert!(job
                .share_job
                .side
                .target()
                .is_met_by(&pow.hash(&f.share.candidate.as_bitcoin().unwrap().header_bytes())));
            // The coinbase carries the worker's own extranonce1.
            let index: usize = f.worker.strip_prefix("cpu-").unwrap().parse().unwrap();
            let cb =
                bitcoin::consensus::serialize(&f.share.candidate.as_bitcoin().unwrap().coinbase);
            let prefix = &job.share_job.coinbase.prefix;
            // The extranonce sits right after the prefix in the non-witness serialisation.
            let stripped = bitcoin::consensus::serialize(&strip_witness(
                f.share.candidate.as_bitcoin().unwrap().coinbase.clone(),
            ));
            assert_eq!(&stripped[..prefix.len()], &prefix[..]);
            assert_eq!(
                &stripped[prefix.len()..prefix.len() + 4],
                &local_extranonce1(index)[..]
            );
            by_worker.entry(f.worker.clone()).or_default().insert(cb);
        }
        let stats = workers.stats();
        workers.stop();
        assert!(stats.total(|t| &t.shares) >= 2);
        assert!(stats.total(|t| &t.hashes) > 0);
        assert_eq!(
            stats.kernel,
            match pow {
                PowAlgo::Sha256d => Sha256dKernel::best().name(),
                PowAlgo::Scrypt1024 => ScryptKernel::best().name(),
            }
        );
    }
}

fn strip_witness(mut tx: bitcoin::Transaction) -> bitcoin::Transaction {
    for i in &mut tx.input {
        i.witness = bitcoin::Witness::new();
    }
    tx
}

#[test]
fn a_job_switch_never_hands_on_work_for_the_stale_job() {
    for (chain, pow) in [
        (Chain::LitecoinRegtest, PowAlgo::Scrypt1024),
        (Chain::BitcoinRegtest, PowAlgo::Sha256d),
    ] {
        let jobs = FakeJobs::new(chain);
        let payout = testkit::script(7);
        // One slot: the worker's second share waits in its send loop while the first fills
        // the channel, so a share of the old job is in hand when the work changes.
        let (tx, mut rx) = mpsc::channel(1);
        let workers = Workers::spawn(config(1, pow), jobs.clone(), tx);
        let stats = workers.stats();
        let t = &stats.threads[0];
        wait_until("a share held back by the full channel", || {
            t.backpressure.load(Ordering::Relaxed) > 0
        });
        let old = t.current_job.load(Ordering::Relaxed);
        let new = jobs.new_block(&payout);
        assert_ne!(old, new);
        // The held share is dropped as stale, and the worker moves to the new job.
        wait_until("the stale share dropped", || {
            t.stale.load(Ordering::Relaxed) > 0
        });
        wait_until("the worker on the new job", || {
            t.current_job.load(Ordering::Relaxed) == new
        });
        // In the channel: the one share sent before the switch. After it, only the new job.
        let first = recv(&mut rx);
        assert_eq!(first.job_id, old);
        for _ in 0..3 {
            let f = recv(&mut rx);
            assert_eq!(
                f.job_id, new,
                "{pow:?}: a share of a stale job was handed on"
            );
        }
        // Switch a few more times while shares flow: every share's job was current when its
        // worker handed it on, so it builds on the block it was current for.
        for _ in 0..5 {
            let cur = jobs.new_block(&payout);
            wait_until("the worker on the new job", || {
                t.current_job.load(Ordering::Relaxed) == cur
            });
            // Drain what was sent before the worker saw the switch; then only `cur`.
            while rx.try_recv().is_ok() {}
            let f = recv(&mut rx);
            assert_eq!(
                f.job_id, cur,
                "{pow:?}: a share of a stale job was handed on"
            );
        }
        workers.stop();
    }
}

#[test]
fn zero_threads_start_nothing() {
    let jobs = FakeJobs::new(Chain::LitecoinRegtest);
    let (tx, mut rx) = mpsc::channel(8);
    let workers = Workers::spawn(config(0, PowAlgo::Scrypt1024), jobs.clone(), tx);
    assert_eq!(workers.threads(), 0);
    let stats = workers.stats();
    assert!(stats.threads.is_empty());
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        jobs.job_for_calls.load(Ordering::Relaxed),
        0,
        "no worker asked for work"
    );
    assert!(rx.try_recv().is_err());
    assert_eq!(stats.rate(), 0.0);
    workers.stop();
}

#[test]
fn stopping_is_prompt_even_without_work_changes() {
    let jobs = FakeJobs::new(Chain::BitcoinRegtest);
    let (tx, mut rx) = mpsc::channel(1024);
    let workers = Workers::spawn(config(2, PowAlgo::Sha256d), jobs, tx);
    let _ = recv(&mut rx);
    let t0 = Instant::now();
    workers.stop();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn hashrates_per_thread_and_in_total_are_published() {
    let jobs = FakeJobs::new(Chain::BitcoinRegtest);
    let (tx, _rx) = mpsc::channel(1024);
    let mut c = config(2, PowAlgo::Sha256d);
    c.log_interval = Duration::from_millis(100);
    let workers = Workers::spawn(c, jobs, tx);
    let stats = workers.stats();
    wait_until("a rate for every thread", || {
        stats.threads.iter().all(|t| t.rate() > 0.0)
    });
    assert!(stats.rate() >= stats.threads[0].rate());
    assert!(stats.average_rate() > 0.0);
    workers.stop();
}
