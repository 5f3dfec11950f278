//! Deterministic network simulator for Otedama nodes, over the real consensus and sharechain code.
//!
//! `run(&SimConfig)` builds a peer graph, miners and a bootstrap sharechain, runs the
//! discrete-event simulation ([`sim`]) and returns a [`SimResult`] (table, JSON, CSV, SVG).
//! Same configuration and seed, same bytes. See docs/simulation.md for the model, what it
//! approximates, and the figures for the shipped presets.

pub mod config;
pub mod net;
pub mod report;
pub mod rng;
pub mod sim;
pub mod svg;

pub use config::{HashrateDist, Scenario, SimConfig};
pub use report::SimResult;

/// Runs one simulation to the end.
pub fn run(cfg: &SimConfig) -> Result<SimResult, String> {
    cfg.check()?;
    let mut sim = sim::Sim::new(cfg);
    sim.run();
    Ok(report::finish(&sim))
}
