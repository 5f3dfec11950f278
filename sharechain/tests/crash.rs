//! Crash safety: a child process inserting shares is killed with SIGKILL at random moments, 20
//! times, on the same store. After each kill the store reopens, every share the child's
//! `insert` had reported as accepted is there, and the chain state agrees with a recomputation
//! from scratch (every stored share revalidated into the reference `MemoryChain`): the stored
//! index entries, the best tip and its cumulative work, and the best tip's PPLNS window.
//!
//! The child is this test binary run again with libtest arguments that select only the ignored
//! test `child_inserter`, which does nothing unless `OTEDAMA_CRASH_CHILD` names a store.
//! `OTEDAMA_CRASH_SEED` replaces the fixed seed of the kill delays (to reproduce or explore).

use otedama_consensus::chain::Chain;
use otedama_consensus::chain_view::skip_height;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::pplns::WindowWeights;
use otedama_consensus::testkit::{make_share, T0};
use otedama_consensus::{ChainView, MemoryChain, Share, ShareHash, ShareInfo};
use otedama_sharechain::{InsertOutcome, Sharechain};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "OTEDAMA_CRASH_CHILD";
const SEED_ENV: &str = "OTEDAMA_CRASH_SEED";
const ROUNDS: usize = 20;
const WINDOW: u64 = 30;
/// Far enough ahead that no share's timestamp is in the future when revalidating.
const LATE: u64 = T0 + 1_000_000_000;

fn pool() -> PoolParams {
    let mut p = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    p.pplns_window = WINDOW;
    p.min_payout = 1000;
    p.max_payout_outputs = 50;
    p
}

/// The child: inserts shares on its best tip until it is killed, and reports each share that
/// `insert` accepted (new best or side chain) on stdout, one line each, flushed.
#[test]
#[ignore = "the child process of sigkill_during_inserts_loses_no_accepted_share"]
fn child_inserter() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let p = pool();
    let mut chain = Sharechain::open(Path::new(&dir), p.clone()).expect("child: open");
    // Distinct extranonces in every run, so no share repeats one made before a kill.
    let salt = (std::process::id() as u64) << 32;
    let mut nonce = 0u64;
    let mut out = std::io::stdout().lock();
    let mut insert = |chain: &mut Sharechain, share: Share| {
        let now = share.side.timestamp;
        for outcome in chain.insert(share, now).expect("child: insert") {
            match outcome {
                InsertOutcome::NewBest { id, .. } | InsertOutcome::SideChain { id } => {
                    writeln!(out, "accepted {id}").expect("child: stdout");
                    out.flush().expect("child: stdout");
                }
                InsertOutcome::Orphan { id, missing } => panic!(
                    "child: share {id} orphaned waiting for {missing} (in the loaded state: {}; \
                     in the store: {}; best height {:?})",
                    chain.state().contains(&missing),
                    matches!(chain.store().info(&missing), Ok(Some(_))),
                    chain.best().map(|b| b.height)
                ),
                other => panic!("child: unexpected outcome {other:?}"),
            }
        }
    };
    for n in 1u64.. {
        let tip: Option<ShareInfo> = chain.best().cloned();
        let mut next = |chain: &Sharechain,
                        parent: Option<ShareHash>,
                        height: u64,
                        offset: u64,
                        uncles: Vec<ShareHash>| {
            nonce += 1;
            make_share(
                &p,
                chain.state(),
                parent,
                (n % 5) as u32 + offset as u32,
                T0 + 10 * height + offset,
                uncles,
                salt | nonce,
            )
            .expect("child: make share")
        };
        match tip {
            None => {
                let s = next(&chain, None, 0, 0, vec![]);
                insert(&mut chain, s);
            }
            // Every 7th: a sibling of the tip (a side chain), then the tip's child with the
            // sibling as its uncle.
            Some(tip) if n % 7 == 0 && tip.height > 0 => {
                let sibling = next(&chain, Some(tip.prev), tip.height, 3, vec![]);
                let sibling_id = sibling.id();
                insert(&mut chain, sibling);
                let s = next(&chain, Some(tip.id), tip.height + 1, 0, vec![sibling_id]);
                insert(&mut chain, s);
            }
            // Every 11th: a two-share fork from the tip's parent that overtakes (reorg of 1).
            Some(tip) if n % 11 == 0 && tip.height > 0 => {
                let a = next(&chain, Some(tip.prev), tip.height, 4, vec![]);
                let a_id = a.id();
                insert(&mut chain, a);
                let b = next(&chain, Some(a_id), tip.height + 1, 4, vec![]);
                insert(&mut chain, b);
            }
            Some(tip) => {
                let s = next(&chain, Some(tip.id), tip.height + 1, 0, vec![]);
                insert(&mut chain, s);
            }
        }
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs the child on `dir` for `delay`, then SIGKILLs it. Returns the ids it reported.
fn run_child_and_kill(dir: &Path, delay: Duration, ctx: &str) -> Vec<ShareHash> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "child_inserter",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(CHILD_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut stderr = child.stderr.take().expect("child stderr");
    let (tx, rx) = mpsc::channel::<Result<ShareHash, String>>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line cut short by the kill has no newline: it was never fully reported.
                Ok(_) if line.last() != Some(&b'\n') => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if let Some(hex) = text.trim_end().strip_prefix("accepted ") {
                        let id = ShareHash::from_str(hex).map_err(|e| format!("{hex}: {e}"));
                        if tx.send(id).is_err() {
                            break;
                        }
                    }
                }
            }
        }
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    std::thread::sleep(delay);
    let early = child.try_wait().expect("try_wait");
    child.kill().expect("kill child");
    child.wait().expect("wait child");
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(id) => ids.push(id.expect("child printed a malformed id")),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("child stdout still open 10 s after kill")
            }
        }
    }
    reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    if let Some(status) = early {
        panic!("{ctx}: child exited by itself ({status}) before the kill:\n{stderr}");
    }
    ids
}

/// Each of `ids` is stored whole (its record decodes to a share with that id) with its index
/// entry.
fn check_stored(chain: &Sharechain, ids: &[ShareHash], ctx: &str) {
    for id in ids {
        let share = chain.store().share(id).expect("read share");
        let share = share.unwrap_or_else(|| panic!("{ctx}: accepted share {id} lost"));
        assert_eq!(share.id(), *id, "{ctx}: share record of {id}");
        assert!(
            chain.store().info(id).expect("read info").is_some(),
            "{ctx}: index entry of accepted share {id} lost"
        );
    }
}

#[test]
fn sigkill_during_inserts_loses_no_accepted_share() {
    let p = pool();
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0x5eed_c0ff_ee15_dead);
    let mut x = seed | 1;
    let started = Instant::now();
    // Every stored share revalidated from scratch, growing round by round.
    let mut mem = MemoryChain::new();
    let mut reported: HashSet<ShareHash> = HashSet::new();
    let mut delays = Vec::new();
    for round in 0..ROUNDS {
        let delay = Duration::from_millis(20 + xorshift(&mut x) % 381);
        delays.push(delay.as_millis());
        let ctx = format!("seed {seed}, round {round}, delays so far {delays:?}");
        let ids = run_child_and_kill(dir.path(), delay, &ctx);
        reported.extend(ids.iter().copied());

        let chain = Sharechain::open(dir.path(), p.clone())
            .unwrap_or_else(|e| panic!("{ctx}: reopening after SIGKILL failed: {e}"));
        // The shares this child reported are stored whole with their index entries; those of
        // earlier rounds were checked then and are still indexed (the stored set equals the
        // revalidated one below); all are checked again at the end.
        check_stored(&chain, &ids, &ctx);
        // Revalidate every stored share not yet revalidated (height order: parents and uncles
        // first); the stored index entry must be exactly what validation computes.
        let stored = chain.store().infos_from_height(0).expect("infos");
        for info in &stored {
            if mem.infos.contains_key(&info.id) {
                continue;
            }
            let share = chain
                .store()
                .share(&info.id)
                .expect("read share")
                .unwrap_or_else(|| panic!("{ctx}: index entry {} without share", info.id));
            let recomputed = mem
                .validate_and_insert(&p, &share, LATE)
                .unwrap_or_else(|e| panic!("{ctx}: stored share {} invalid: {e:?}", info.id));
            // The skip pointer is a local lookup aid: any true ancestor at or above the skip
            // height serves (a node that no longer holds the exact one may keep a nearer one).
            let skip_ok = if info.height == 0 {
                info.skip == info.id
            } else {
                mem.share_info(&info.skip).is_some_and(|s| {
                    s.height >= skip_height(info.height)
                        && s.height < info.height
                        && mem.ancestor_at(&info.id, s.height).map(|a| a.id) == Some(s.id)
                })
            };
            assert!(skip_ok, "{ctx}: skip pointer of {}", info.id);
            let mut normalized = info.clone();
            normalized.skip = recomputed.skip;
            assert_eq!(
                recomputed, normalized,
                "{ctx}: stored index entry of {}",
                info.id
            );
        }
        assert_eq!(mem.infos.len(), stored.len(), "{ctx}: store lost shares");
        if stored.is_empty() {
            assert!(chain.best().is_none(), "{ctx}: best tip in an empty store");
            continue;
        }
        // The best tip: the stored one, loaded, with the most cumulative work.
        let best = chain
            .best()
            .unwrap_or_else(|| panic!("{ctx}: shares stored but no best tip"))
            .clone();
        assert_eq!(
            chain.store().best().expect("read best"),
            Some(best.id),
            "{ctx}"
        );
        let max_work = stored.iter().map(|i| i.cumulative_work).max().unwrap();
        assert_eq!(best.cumulative_work, max_work, "{ctx}: best tip's work");
        let mem_best = mem.best.expect("reference best");
        assert_eq!(mem.infos[&mem_best].cumulative_work, max_work, "{ctx}");
        // Payouts: the best tip's window, incremental state vs from scratch vs the reference.
        let window = chain
            .state()
            .best_window()
            .unwrap_or_else(|| panic!("{ctx}: no window for the best tip"));
        let scratch =
            WindowWeights::from_scratch(chain.state(), chain.pool(), &best).expect("window");
        assert_eq!(window, &scratch, "{ctx}: best window vs from scratch");
        assert_eq!(
            window, &mem.windows[&best.id],
            "{ctx}: best window vs reference"
        );
        // Recent side tips (within reach of new uncles and reorgs) have the right windows too.
        for leaf in chain.state().leaves() {
            let info = chain.state().share_info(leaf).expect("leaf info");
            if info.height + 10 >= best.height {
                let w = chain.state().window_weights(leaf).expect("leaf window");
                assert_eq!(*w, mem.windows[leaf], "{ctx}: window of side tip {leaf}");
            }
        }
    }

    // Every share reported accepted in any round is still there, and the chain continues.
    let mut chain = Sharechain::open(dir.path(), p.clone()).expect("final reopen");
    let all: Vec<ShareHash> = reported.iter().copied().collect();
    check_stored(&chain, &all, "final");
    let best = chain.best().expect("best").clone();
    let next = make_share(
        &p,
        chain.state(),
        Some(best.id),
        1,
        T0 + 10 * (best.height + 1),
        vec![],
        u64::MAX,
    )
    .expect("share");
    let out = chain.insert(next, LATE).expect("insert");
    assert!(
        matches!(out[0], InsertOutcome::NewBest { reorg_depth: 0, .. }),
        "{out:?}"
    );
    assert!(
        reported.len() >= ROUNDS,
        "only {} shares accepted in {ROUNDS} rounds: the kills hit nothing",
        reported.len()
    );
    eprintln!(
        "{ROUNDS} kills, {} shares accepted, {} stored, best height {}, {:.1} s",
        reported.len(),
        mem.infos.len(),
        best.height,
        started.elapsed().as_secs_f64()
    );
}
