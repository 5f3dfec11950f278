//! The peer graph and its link latencies.
//!
//! The graph is a random ring (so it is always connected) plus random links until every node
//! has its target degree; each link gets one one-way latency, used in both directions.

use crate::config::SimConfig;
use crate::rng::Rng;
use std::collections::HashSet;

/// One end of a link as seen from a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    pub node: u32,
    /// One-way latency in microseconds.
    pub lat_us: u32,
}

/// Regions of [`SimConfig::regions`]: North America, Europe, Asia, South America.
pub const REGIONS: [&str; 4] = ["na", "eu", "asia", "sa"];
/// Share of nodes in each region.
const REGION_WEIGHTS: [f64; 4] = [0.30, 0.35, 0.25, 0.10];
/// Typical one-way backbone latency between regions (ms), from public inter-region ping
/// tables halved: transatlantic ~45 ms, transpacific ~90 ms, Europe-Asia ~110 ms.
const REGION_MS: [[f64; 4]; 4] = [
    [20.0, 45.0, 90.0, 70.0],
    [45.0, 15.0, 110.0, 100.0],
    [90.0, 110.0, 30.0, 160.0],
    [70.0, 100.0, 160.0, 25.0],
];

pub struct Graph {
    pub peers: Vec<Vec<Peer>>,
    pub region: Vec<u8>,
}

/// Builds the graph. `degree_of(i)` is node i's target degree.
pub fn build(cfg: &SimConfig, rng: &mut Rng, degree_of: impl Fn(usize) -> usize) -> Graph {
    let n = cfg.nodes;
    let region: Vec<u8> = (0..n)
        .map(|_| {
            if !cfg.regions {
                return 0;
            }
            let mut x = rng.f64();
            for (i, w) in REGION_WEIGHTS.iter().enumerate() {
                if x < *w {
                    return i as u8;
                }
                x -= w;
            }
            (REGION_WEIGHTS.len() - 1) as u8
        })
        .collect();
    let latency = |a: usize, b: usize, rng: &mut Rng| -> u32 {
        let ms = if cfg.regions {
            let base = REGION_MS[region[a] as usize][region[b] as usize];
            // Route stretch and the last mile.
            base * rng.range(1.0, 1.3) + rng.range(2.0, 15.0)
        } else {
            rng.range(cfg.latency_ms.0, cfg.latency_ms.1)
        };
        (ms * 1000.0).round().max(1.0) as u32
    };

    let mut peers: Vec<Vec<Peer>> = vec![Vec::new(); n];
    let mut edges: HashSet<(u32, u32)> = HashSet::new();
    let mut add = |a: usize, b: usize, peers: &mut Vec<Vec<Peer>>, rng: &mut Rng| -> bool {
        let key = (a.min(b) as u32, a.max(b) as u32);
        if a == b || !edges.insert(key) {
            return false;
        }
        let lat = latency(a, b, rng);
        peers[a].push(Peer {
            node: b as u32,
            lat_us: lat,
        });
        peers[b].push(Peer {
            node: a as u32,
            lat_us: lat,
        });
        true
    };

    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    for i in 0..n {
        let (a, b) = (order[i], order[(i + 1) % n]);
        add(a, b, &mut peers, rng);
    }
    for a in 0..n {
        let target = degree_of(a).min(n - 1);
        let mut tries = 0;
        while peers[a].len() < target && tries < 50 * target {
            tries += 1;
            let b = rng.below(n as u64) as usize;
            // Prefer nodes still short of their own degree; late in the loop take any.
            if peers[b].len() >= degree_of(b).min(n - 1) + 2 && tries < 20 * target {
                continue;
            }
            add(a, b, &mut peers, rng);
        }
    }
    Graph { peers, region }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Scenario;
    use otedama_consensus::{Chain, Preset};

    #[test]
    fn connected_with_the_degree_and_latencies_asked_for() {
        let cfg = SimConfig::new(Scenario::Steady, 300, 1.0, 5, Chain::Litecoin, Preset::Main);
        let mut rng = Rng::new(5, 0);
        let g = build(&cfg, &mut rng, |_| 8);
        let mut seen = vec![false; 300];
        let mut stack = vec![0usize];
        seen[0] = true;
        while let Some(a) = stack.pop() {
            for p in &g.peers[a] {
                if !seen[p.node as usize] {
                    seen[p.node as usize] = true;
                    stack.push(p.node as usize);
                }
            }
        }
        assert!(seen.iter().all(|s| *s));
        for ps in &g.peers {
            assert!(ps.len() >= 8, "{}", ps.len());
            for p in ps {
                assert!((20_000..=300_000).contains(&p.lat_us));
            }
        }
    }
}
