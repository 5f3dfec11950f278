//! Every scenario runs at a small size and shows the effect it exists for.

use otedama_consensus::{Chain, Preset};
use otedama_simnet::{run, Scenario, SimConfig, SimResult};

fn small(scenario: Scenario) -> (SimConfig, SimResult) {
    let mut cfg = SimConfig::new(scenario, 40, 4.0, 5, Chain::Litecoin, Preset::Main);
    cfg.pool_hashrate = 0.3 * cfg.network_hashrate;
    cfg.pool.pplns_window = 300;
    let r = run(&cfg).expect("valid config");
    let s = &r.summary;
    assert!(s.blocks.conserved, "{scenario:?}");
    assert!(
        s.shares.mined > 1000,
        "{scenario:?}: {} shares",
        s.shares.mined
    );
    assert!(
        (s.shares.mean_interval_secs - 10.0).abs() < 1.5,
        "{scenario:?}: interval {}",
        s.shares.mean_interval_secs
    );
    assert!(s.blocks.found > 0, "{scenario:?}");
    assert!(!r.table().is_empty());
    (cfg, r)
}

#[test]
fn steady() {
    let (_, r) = small(Scenario::Steady);
    let s = &r.summary;
    assert!(s.shares.stale_rate < 0.06, "{}", s.shares.stale_rate);
    assert!(s.propagation.p50_ms > 20.0 && s.propagation.p99_ms < 2000.0);
    assert!(s.reorgs.max_depth <= 3);
    assert!(s.bandwidth.mean_kbps > 0.0);
}

#[test]
fn doubling() {
    let (_, r) = small(Scenario::Doubling);
    let steps = &r.summary.config.steps_hours;
    assert_eq!(steps.len(), 2);
    // Difficulty follows the hashrate: higher in the doubled third than in the first.
    let mean = |from: f64, to: f64| {
        let rows: Vec<_> = r
            .series
            .iter()
            .filter(|x| x.hours >= from && x.hours < to && x.mined > 0)
            .collect();
        rows.iter().map(|x| x.difficulty).sum::<f64>() / rows.len() as f64
    };
    let before = mean(0.5, steps[0]);
    let during = mean(steps[0] + 0.6, steps[1]);
    assert!(during > 1.5 * before, "difficulty {before:e} -> {during:e}");
}

#[test]
fn partition() {
    let (_, r) = small(Scenario::Partition);
    let s = &r.summary;
    // The losing side's branch is orphaned in one deep reorg when the links come back.
    assert!(s.reorgs.max_depth > 10, "max reorg {}", s.reorgs.max_depth);
    assert!(
        s.shares.orphan_rate > 0.02,
        "orphans {}",
        s.shares.orphan_rate
    );
    assert!(s.propagation.fetched_shares > 0);
}

#[test]
fn late_joiner() {
    let (_, r) = small(Scenario::LateJoiner);
    let j = r.summary.joiners.as_ref().expect("joiners");
    assert_eq!(j.count, 4);
    let sync = j.sync_max_secs.expect("every joiner synced");
    assert!(sync < 120.0, "sync {sync} s");
    assert!(j.first_share_p50_hours.is_some());
}

#[test]
fn withholding() {
    let (_, r) = small(Scenario::Withholding);
    let a = r.summary.attacker.as_ref().expect("attacker");
    assert_eq!(a.role, "withholder");
    assert!(a.withheld_blocks > 0);
    assert_eq!(r.summary.blocks.withheld, a.withheld_blocks);
    // The withholder never pays out a block of its own.
    assert!(r.blocks.iter().all(|b| b.finder != 0));
}

#[test]
fn selfish() {
    let (_, r) = small(Scenario::Selfish);
    let a = r.summary.attacker.as_ref().expect("attacker");
    assert_eq!(a.role, "selfish");
    assert!((a.hashrate_share - 0.3).abs() < 1e-9);
    // Honest shares get orphaned (or uncled) far more than on a steady network.
    assert!(a.honest_stale_rate > 0.05, "{}", a.honest_stale_rate);
    assert!(r.summary.reorgs.max_depth >= 2);
}

#[test]
fn high_latency() {
    let (_, steady) = small(Scenario::Steady);
    let (cfg, r) = small(Scenario::HighLatency);
    assert_eq!(cfg.latency_ms, (150.0, 1200.0));
    assert!(r.summary.propagation.p50_ms > 2.0 * steady.summary.propagation.p50_ms);
    assert!(r.summary.shares.stale_rate > steady.summary.shares.stale_rate);
}

#[test]
fn tiny_miners() {
    let (cfg, r) = small(Scenario::TinyMiners);
    assert_eq!(r.miners.len(), cfg.nodes * 10);
    let sm = &r.summary.small_miners;
    assert_eq!(sm.count, cfg.nodes);
    // The window's many small weights hit the output cap or go to the lottery, and every
    // coinbase stays within the cap.
    assert!(r
        .blocks
        .iter()
        .all(|b| b.outputs <= cfg.pool.max_payout_outputs));
}

#[test]
fn floor_recovery() {
    // 14 h at half the floor rate, then 2 h at ten times it.
    let cfg = SimConfig::new(
        Scenario::FloorRecovery,
        20,
        16.0,
        5,
        Chain::Litecoin,
        Preset::Main,
    );
    let r = run(&cfg).expect("valid config");
    let rec = r.summary.recovery.as_ref().expect("recovery summary");
    assert!((rec.returned_hours - 14.0).abs() < 1e-9);
    assert!(
        (rec.slow_interval_secs - 20.0).abs() < 3.0,
        "{}",
        rec.slow_interval_secs
    );
    // The slow phase left the chain 25,200 s behind schedule; with the first share as the only
    // anchor the target stayed at the floor for ~2,800 s (the deficit repaid at 9 s a share).
    // With the anchor reset it leaves the floor at once and the interval is back within
    // half an hour.
    let pinned = rec.pinned_secs.expect("the target leaves the floor");
    assert!(pinned < 60.0, "pinned {pinned} s");
    let recovery = rec.recovery_secs.expect("the interval recovers");
    assert!(recovery < 1800.0, "recovery {recovery} s");
    assert!(r.table().contains("recovery"));
}
