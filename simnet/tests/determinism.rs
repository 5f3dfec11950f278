//! Same configuration and seed, byte-identical output; another seed, another run.

use otedama_consensus::{Chain, Preset};
use otedama_simnet::{run, Scenario, SimConfig};

fn files(seed: u64, scenario: Scenario) -> Vec<(&'static str, String)> {
    let mut cfg = SimConfig::new(scenario, 40, 2.0, seed, Chain::Litecoin, Preset::Main);
    cfg.regions = true;
    // Frequent blocks so payouts (and the lottery) are part of what is compared.
    cfg.pool_hashrate = 0.5 * cfg.network_hashrate;
    run(&cfg).expect("valid config").files()
}

#[test]
fn same_seed_gives_byte_identical_output() {
    for scenario in [Scenario::Steady, Scenario::Selfish, Scenario::Partition] {
        let a = files(7, scenario);
        let b = files(7, scenario);
        assert_eq!(a.len(), b.len());
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            assert!(x == y, "{scenario:?}: {name} differs between two runs");
        }
        let summary = &a[0].1;
        assert!(summary.contains("\"found\""), "summary has blocks");
    }
}

#[test]
fn another_seed_gives_another_run() {
    let a = files(7, Scenario::Steady);
    let b = files(8, Scenario::Steady);
    for (name, _) in &a {
        if name.ends_with(".json") || name.ends_with(".csv") {
            let x = &a.iter().find(|f| f.0 == *name).unwrap().1;
            let y = &b.iter().find(|f| f.0 == *name).unwrap().1;
            assert_ne!(x, y, "{name} is the same for seeds 7 and 8");
        }
    }
}
