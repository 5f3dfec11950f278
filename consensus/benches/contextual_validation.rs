//! Contextual validation (everything but proof of work) of the next share on a chain whose PPLNS
//! window holds 2160 shares of 500 distinct payout scripts, against a baseline measured in the
//! same run: a validator that rebuilds the window from scratch for every share (what a
//! non-incremental implementation pays).
//!
//! It also times the compact-relay rebuild of the same share (`share::compact::rebuild`: the
//! payout outputs from the window, then the merkle root), which a receiver adds to validation.
//!
//! `cargo bench -p otedama-consensus --bench contextual_validation` prints one line per measure
//! and the ratio. Set `OTEDAMA_BENCH_QUICK=1` for a short smoke run.

#[path = "common.rs"]
mod common;
use common::measure;
use otedama_consensus::builder::{build_share_job, grind, ShareJobInput};
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::pplns::{payout_outputs, SplitParams, WindowWeights};
use otedama_consensus::template::BlockTemplate;
use otedama_consensus::validation::{check_contextual, check_stateless};
use otedama_consensus::{ChainView, MemoryChain, PayoutScript};
use std::hint::black_box;
use std::time::Instant;

const WINDOW: u64 = 2160;
const SCRIPTS: u32 = 500;
const T0: u64 = 1_800_000_000;

fn script(i: u32) -> PayoutScript {
    let mut s = vec![0x00, 0x14];
    s.extend_from_slice(&i.to_be_bytes());
    s.extend_from_slice(&[0x77; 16]);
    PayoutScript::new(&s)
}

fn template() -> BlockTemplate {
    otedama_consensus::testkit::template(1000, 312_500_000)
}

fn main() {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let mut pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    pool.pplns_window = WINDOW;
    let t = template();
    let mut chain = MemoryChain::new();
    let mut parent = None;
    let shares = WINDOW + 40;
    let setup = Instant::now();
    for h in 0..shares {
        let job = build_share_job(
            &pool,
            &chain,
            &ShareJobInput {
                parent,
                uncles: vec![],
                payout_script: script((h % SCRIPTS as u64) as u32),
                now: T0 + 10 * h,
                software_version: 1,
                template: &t,
                extranonce_len: 8,
                tag: b"",
            },
        )
        .expect("job");
        let share = grind(&pool, &job, &h.to_le_bytes(), (T0 + 10 * h) as u32).expect("grind");
        let info = chain
            .validate_and_insert(&pool, &share, T0 + 10 * h)
            .expect("valid");
        parent = Some(info.id);
    }
    let tip = parent.expect("tip");
    eprintln!(
        "setup: {shares} shares in {:.1} s; window holds {} scripts",
        setup.elapsed().as_secs_f64(),
        chain.window_weights(&tip).map_or(0, |w| w.len())
    );

    // The share under test: the next one on the tip, by a new miner.
    let job = build_share_job(
        &pool,
        &chain,
        &ShareJobInput {
            parent,
            uncles: vec![],
            payout_script: script(SCRIPTS + 1),
            now: T0 + 10 * shares,
            software_version: 1,
            template: &t,
            extranonce_len: 8,
            tag: b"",
        },
    )
    .expect("job");
    let share = grind(&pool, &job, &[9; 8], (T0 + 10 * shares) as u32).expect("grind");
    let checked = check_stateless(&pool, &share, pool.chain.stateless_pow()).expect("stateless");
    let now = T0 + 10 * shares;
    assert!(job.payouts.len() <= pool.max_payout_outputs as usize);

    let (rounds, iters) = if quick { (5, 20) } else { (31, 400) };
    let incremental = measure(rounds, iters, || {
        black_box(
            check_contextual(&pool, &chain, black_box(&share), &checked, now).expect("valid"),
        );
    });

    // Compact relay: what a receiver adds before validation, rebuilding the payout outputs
    // from its window and checking the merkle root (simnet adds it to the validation delay).
    let compact = otedama_consensus::share::compact::compact(&share).expect("compact form");
    let rebuild = measure(rounds, iters, || {
        black_box(
            otedama_consensus::share::compact::rebuild(&pool, &chain, black_box(&compact))
                .expect("rebuilds"),
        );
    });

    // Baseline: rebuild the window from scratch (O(window)) and split it, per share.
    let info = check_contextual(&pool, &chain, &share, &checked, now).expect("valid");
    let params = SplitParams {
        min_payout: pool.min_payout,
        max_outputs: pool.max_payout_outputs,
    };
    let seed = otedama_consensus::pplns::lottery_seed(
        &[0; 32],
        bitcoin::hashes::Hash::as_byte_array(&tip),
    );
    let baseline = measure(rounds, iters / 10 + 1, || {
        let mut w =
            WindowWeights::from_scratch(&chain, &pool, chain.share_info(&tip).expect("tip"))
                .expect("window");
        // Slide by one share as the validator would.
        w.add_share(&info, pool.uncle_penalty_percent);
        black_box(payout_outputs(&w, checked.reward, &params, &seed));
    });

    println!(
        "contextual_validation window={WINDOW} scripts={SCRIPTS} outputs={} incremental={:.2} us/share compact_rebuild={:.2} us/share baseline_from_scratch={:.2} us/share ratio={:.1}x",
        job.payouts.len(),
        incremental.as_secs_f64() * 1e6,
        rebuild.as_secs_f64() * 1e6,
        baseline.as_secs_f64() * 1e6,
        baseline.as_secs_f64() / incremental.as_secs_f64()
    );
}
