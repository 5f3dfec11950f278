//! Steady state fairness: with equal miners on a fast network, each miner is paid its share of
//! the hashrate within a tolerance derived from the luck of PPLNS itself.
//!
//! Tolerance. Let miner i find a fraction p of the chain's shares, and let K_s be the number of
//! blocks whose window (N shares) holds chain share s. Miner i is paid R/N per block per share
//! of its in the block's window, so given where the blocks fell its pay is (R/N) sum_s X_s K_s
//! with X_s ~ Bernoulli(p) independent: mean p sum K_s, variance p (1 - p) sum K_s^2. Its
//! paid/expected therefore has relative standard deviation
//!
//! ```text
//! sigma = sqrt((1 - p) sum K_s^2 / (p (sum K_s)^2))
//! ```
//!
//! (about sqrt((1 - p)(1 + Nq) / (p N q M)) for M shares and block probability q per share).
//! Each miner must be within 4.5 sigma (two-sided, 7e-6 per miner by chance), and the mean of
//! the squared z-scores over the 10 miners (a chi-square with 10 degrees of freedom over 10)
//! at most 2.5 (by chance with probability 0.005). Shares' work varies by a few percent with
//! the retarget and 1-2 % of shares go stale or get uncled, which this bound ignores; the
//! expectation per unit of work found isolates those, and must be within 2 %.

use otedama_consensus::{Chain, Preset};
use otedama_simnet::{run, HashrateDist, Scenario, SimConfig};

#[test]
fn equal_miners_are_paid_their_share() {
    let mut cfg = SimConfig::new(Scenario::Steady, 10, 12.0, 3, Chain::Litecoin, Preset::Main);
    cfg.dist = HashrateDist::Equal;
    cfg.latency_ms = (20.0, 100.0);
    cfg.pool.pplns_window = 200;
    // 60 % of the network: a block every 25 shares or so.
    cfg.pool_hashrate = 0.6 * cfg.network_hashrate;
    let r = run(&cfg).expect("valid config");
    let s = &r.summary;
    assert!(s.blocks.found >= 100, "{} blocks", s.blocks.found);
    assert!(s.blocks.conserved);

    let n = cfg.pool.pplns_window;
    let first = s.config.bootstrap_shares as u64;
    let blocks: Vec<u64> = r
        .blocks
        .iter()
        .filter(|b| b.on_chain)
        .map(|b| b.share_height)
        .collect();
    let (mut sum_k, mut sum_k2) = (0f64, 0f64);
    for h in first..=s.shares.chain_height {
        let k = blocks.iter().filter(|b| **b >= h && **b < h + n).count() as f64;
        sum_k += k;
        sum_k2 += k * k;
    }
    let mut z2 = 0.0;
    for m in &r.miners {
        let p = m.hash_share;
        let sigma = ((1.0 - p) * sum_k2 / (p * sum_k * sum_k)).sqrt();
        let z = (m.paid_ratio - 1.0) / sigma;
        eprintln!(
            "miner {}: paid/expected {:.4}, sigma {:.4}, z {:+.2}",
            m.miner, m.paid_ratio, sigma, z
        );
        assert!(z.abs() <= 4.5, "miner {} z = {z:.2}", m.miner);
        z2 += z * z;
    }
    let mean_z2 = z2 / r.miners.len() as f64;
    assert!(mean_z2 <= 2.5, "mean z^2 = {mean_z2:.2}");

    let per_work = s.fairness.per_work.as_ref().expect("paid");
    assert!(
        per_work.min >= 0.98 && per_work.max <= 1.02,
        "per work {per_work:?}"
    );
    assert!(s.shares.stale_rate < 0.03, "stale {}", s.shares.stale_rate);
}
