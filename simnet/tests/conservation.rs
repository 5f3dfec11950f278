//! Everything mined is paid, to the unit: every block's outputs sum to its reward, and the
//! rewards of all blocks equal everything paid to the miners (and the bootstrap script).

use otedama_consensus::{Chain, Preset};
use otedama_simnet::{run, Scenario, SimConfig};

fn check(chain: Chain, preset: Preset, scenario: Scenario, miners_per_node: usize) {
    // Half the network: a block every other parent interval (150 s Litecoin, 600 s Bitcoin),
    // so dozens of blocks (Bitcoin: 36 expected in 12 h, less what a withholder discards).
    let hours = if chain == Chain::Bitcoin { 12.0 } else { 3.0 };
    let mut cfg = SimConfig::new(scenario, 30, hours, 11, chain, preset);
    cfg.pool_hashrate = 0.5 * cfg.network_hashrate;
    cfg.miners_per_node = miners_per_node;
    // A small output cap so the dust-free lottery pays most miners.
    cfg.pool.max_payout_outputs = 8;
    let r = run(&cfg).expect("valid config");
    let s = &r.summary;
    assert!(
        s.blocks.found >= 20,
        "{chain} {preset:?}: only {} blocks",
        s.blocks.found
    );
    for b in &r.blocks {
        assert_eq!(b.paid, b.reward, "block at {} h", b.hours);
        assert!(b.outputs >= 1 && b.outputs <= cfg.pool.max_payout_outputs);
    }
    let to_miners: u64 = r.miners.iter().map(|m| m.paid).sum();
    assert_eq!(
        to_miners + s.blocks.paid_to_bootstrap,
        s.blocks.total_reward
    );
    assert_eq!(s.blocks.total_paid, s.blocks.total_reward);
    let rewards: u64 = r.blocks.iter().map(|b| b.reward).sum();
    assert_eq!(rewards, s.blocks.total_reward);
    assert!(s.blocks.conserved);
    // The cap binds and the lottery runs: more miners were paid than outputs per block.
    let paid_miners = r.miners.iter().filter(|m| m.paid > 0).count();
    assert!(
        paid_miners > cfg.pool.max_payout_outputs as usize,
        "{paid_miners}"
    );
}

#[test]
fn litecoin_main_conserves() {
    check(Chain::Litecoin, Preset::Main, Scenario::Steady, 1);
}

#[test]
fn litecoin_mini_with_many_miners_conserves() {
    check(Chain::Litecoin, Preset::Mini, Scenario::TinyMiners, 4);
}

#[test]
fn bitcoin_main_conserves_under_attack() {
    check(Chain::Bitcoin, Preset::Main, Scenario::Withholding, 1);
    check(Chain::Bitcoin, Preset::Mini, Scenario::Selfish, 1);
}
