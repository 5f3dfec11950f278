//! The store writer's part of a Monero sync: every share of a chain validated (stateless and
//! contextual rules, the payout check included) and inserted in chain order, as a node does
//! with shares from a peer. RandomX is left out (a stand-in hasher, as in
//! consensus/tests/monero_family.rs; the RandomX part is `randomx_sync` in the mining crate).
//!
//! The chain: the main preset (a 2,160-share window, at most 200 payouts), 200 wallets, every
//! fourth a subaddress, each share by a wallet drawn from a fixed pseudo-random sequence, and a
//! new Monero parent every 12 shares (one share per 10 s, a block per 2 minutes). Baseline in
//! the same run: the same shares through a view without a derivation memo (every payee's curve
//! work done for every share, as before the memo); then through the chain's own memo.
//!
//! `cargo bench -p otedama-consensus --bench monero_sync` (4,320 shares of 200 wallets;
//! `-- SHARES WALLETS` for others). `OTEDAMA_BENCH_QUICK=1` for 360 shares.

use otedama_consensus::chain::monero::derivation_memo::DerivationMemo;
use otedama_consensus::chain::monero::hash::{keccak256_concat, Hash32};
use otedama_consensus::chain_view::ChainView;
use otedama_consensus::monero_builder::MoneroTemplate;
use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_consensus::pplns::WindowWeights;
use otedama_consensus::testkit::monero_pool_chain;
use otedama_consensus::validation::{check_contextual, check_stateless};
use otedama_consensus::{Chain, MemoryChain, PoolParams, Preset};
use otedama_consensus::{Share, ShareHash, ShareInfo};
use std::borrow::Cow;
use std::time::{Duration, Instant};

const T0: u64 = 1_750_000_000;
const SEED: Hash32 = [0x5e; 32];
/// Wallets mining, unless given: as many as the main preset pays.
const WALLETS: usize = 200;
/// Shares per Monero parent: a 120 s block over 10 s shares.
const SHARES_PER_PARENT: u64 = 12;

/// Keccak(seed || blob): the consensus crate cannot link RandomX.
struct StandInPow;

impl PowHasher for StandInPow {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        match input {
            PowInput::RandomX { seed, blob } => Ok(keccak256_concat(&[seed, blob])),
            PowInput::Header(_) => Err(PowError::Unsupported("header")),
        }
    }
}

/// A chain view that delegates to a [`MemoryChain`] but offers no memo: the baseline.
struct NoMemo<'a>(&'a MemoryChain);

impl ChainView for NoMemo<'_> {
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        self.0.share_info(id)
    }
    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>> {
        self.0.window_weights(id)
    }
    fn derivation_memo(&self) -> Option<&DerivationMemo> {
        None
    }
}

fn template(n: u64) -> MoneroTemplate {
    let height = 3_000_000 + n / SHARES_PER_PARENT;
    MoneroTemplate {
        major_version: 16,
        minor_version: 16,
        timestamp: T0 + 10 * n,
        prev_id: keccak256_concat(&[b"parent", &height.to_le_bytes()]),
        height,
        seed_hash: SEED,
        tx_hashes: (1..40u8).map(|i| [i; 32]).collect(),
        reward: 600_000_000_000 + 9_876_543,
    }
}

/// The chain's shares in order (built with the builder's memo, so building is quick too).
fn build_chain(pool: &PoolParams, shares: u64, wallets: usize) -> Vec<Share> {
    monero_pool_chain(pool, shares, wallets, T0, template, &StandInPow)
}

/// What one pass over the chain cost.
struct Pass {
    total: Duration,
    stateless: Duration,
    contextual: Duration,
    outputs: usize,
}

/// Validates and inserts `shares` into a new chain, through its memo or not.
fn sync(pool: &PoolParams, shares: &[Share], memo: bool) -> Pass {
    let mut chain = MemoryChain::default();
    let mut outputs = 0usize;
    let (mut stateless, mut contextual) = (Duration::ZERO, Duration::ZERO);
    let now = T0 + 10 * shares.len() as u64;
    let start = Instant::now();
    for (n, share) in shares.iter().enumerate() {
        let t = Instant::now();
        let checked = check_stateless(pool, share, &StandInPow).expect("stateless");
        stateless += t.elapsed();
        let t = Instant::now();
        let info = if memo {
            check_contextual(pool, &chain, share, &checked, now)
        } else {
            check_contextual(pool, &NoMemo(&chain), share, &checked, now)
        }
        .unwrap_or_else(|e| panic!("share {n} refused: {e}"));
        contextual += t.elapsed();
        outputs += checked.payout_count;
        chain.insert_valid(pool, info);
    }
    Pass {
        total: start.elapsed(),
        stateless,
        contextual,
        outputs,
    }
}

fn main() {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    // Positional numbers after `--` (cargo bench adds `--bench`, skipped): shares, wallets.
    let mut numbers = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let shares = numbers.next().unwrap_or(if quick { 360 } else { 4_320 });
    let wallets = numbers.next().map_or(WALLETS, |w| w.max(1) as usize);
    let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
    pool.check().expect("valid parameters");

    let start = Instant::now();
    let chain = build_chain(&pool, shares, wallets);
    println!(
        "monero_sync: {shares} shares, {}-share window, {wallets} wallets (every 4th a subaddress), a new parent every {SHARES_PER_PARENT} shares; built in {:.1} s",
        pool.pplns_window,
        start.elapsed().as_secs_f64()
    );

    let base = sync(&pool, &chain, false);
    let memo = sync(&pool, &chain, true);
    assert_eq!(base.outputs, memo.outputs);
    let per = |d: Duration| d.as_secs_f64() * 1e3 / shares as f64;
    println!(
        "payout outputs checked: {} ({:.1} per share)",
        base.outputs,
        base.outputs as f64 / shares as f64
    );
    for (name, p) in [
        ("baseline: validate + insert, no memo", &base),
        ("with the chain's derivation memo    ", &memo),
    ] {
        println!(
            "{name} {:>8.2} s  ({:.2} ms/share: stateless {:.2}, contextual {:.2}, insert {:.2}; {:.1}x faster)",
            p.total.as_secs_f64(),
            per(p.total),
            per(p.stateless),
            per(p.contextual),
            per(p.total.saturating_sub(p.stateless + p.contextual)),
            base.total.as_secs_f64() / p.total.as_secs_f64()
        );
    }
}
