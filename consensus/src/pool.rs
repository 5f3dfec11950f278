//! Pool parameters, the shipped presets and the consensus id.
//!
//! Every parameter here changes which shares are valid, so every one of them is hashed into the
//! consensus id: a node can only ever agree with nodes that run the same parameters.

use crate::chain::Chain;
use crate::hash::{tagged_hash, ConsensusId};
use crate::work::{Target, MAX_SHARE_WORK};
use bitcoin::hashes::Hash;
use bitcoin::pow::CompactTarget;

/// Hard upper bounds that every preset must respect; they size buffers and bound loops.
pub mod limits {
    /// Most uncles one share may include. Five is Monero P2Pool's figure; with a 2 % stale rate
    /// one or two are realistic, and five bounds the per-share uncle checks to a constant.
    pub const MAX_UNCLES: usize = 5;
    /// Deepest an uncle may be, counted from the including share (heights h-1 .. h-MAX).
    pub const MAX_UNCLE_DEPTH: u64 = 3;
    /// Longest PPLNS window: 2^14 shares, 45 hours of 10 s shares.
    pub const MAX_PPLNS_WINDOW: u64 = 1 << 14;
    /// Most payout outputs in one coinbase. 1000 outputs of at most 43 bytes is 43 kB, about 1 %
    /// of a 4 MWU block.
    pub const MAX_PAYOUT_OUTPUTS: u32 = 1000;
}

/// The shipped parameter sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// The main pool: for farms and larger home setups.
    Main,
    /// A pool with ten times lower share difficulty floor, so small miners find shares often.
    Mini,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Main, Preset::Mini];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Main => "main",
            Preset::Mini => "mini",
        }
    }

    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Everything that defines one pool on one parent chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolParams {
    pub chain: Chain,
    /// Name shown to operators, also hashed into the consensus id.
    pub name: String,
    /// Target seconds between shares on the best chain.
    pub share_period_secs: u64,
    /// Shares (by ancestry, including the paying share) whose work the coinbase pays.
    pub pplns_window: u64,
    /// Seconds for the share difficulty to double or halve under ASERT when shares come at twice
    /// or half the target rate.
    pub retarget_half_life_secs: u64,
    /// Most uncles a share may include (<= [`limits::MAX_UNCLES`]).
    pub max_uncles: usize,
    /// Deepest uncle (<= [`limits::MAX_UNCLE_DEPTH`]).
    pub uncle_depth: u64,
    /// Percent of an uncle's weight that goes to the share including it instead of to its miner.
    pub uncle_penalty_percent: u8,
    /// Easiest share target allowed (the minimum share difficulty), compact. The first share of a
    /// sharechain uses it.
    pub max_share_target: CompactTarget,
    /// Most payout outputs per coinbase.
    pub max_payout_outputs: u32,
    /// No payout output is smaller than this (at least the chain's dust threshold).
    pub min_payout: u64,
    /// Seconds a share's timestamp may be ahead of the validating node's clock.
    pub max_future_secs: u64,
}

/// Why parameters are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{0}")]
    OutOfRange(&'static str),
}

impl PoolParams {
    /// The shipped presets. See docs/consensus.md and docs/simulation.md for the derivations.
    pub fn preset(chain: Chain, preset: Preset) -> PoolParams {
        let dust = chain.dust_threshold();
        // Share floors in expected hashes per share. Main: a 10 s share of 1 TH/s (SHA256d)
        // or 100 MH/s (scrypt) hardware, so one modern rig finds shares on its own; mini: a tenth.
        // Test chains: regtest floors are the parent chain's own (every share is nearly a
        // block, so tests are quick); public test networks use a thousandth of main.
        let (main_floor_work, regtest): (u128, bool) = match chain {
            Chain::Bitcoin => (10u128 * 1_000_000_000_000, false),
            Chain::BitcoinTestnet4 | Chain::BitcoinSignet => (10u128 * 1_000_000_000, false),
            Chain::Litecoin => (10u128 * 100_000_000, false),
            Chain::LitecoinTestnet => (10u128 * 100_000, false),
            Chain::BitcoinRegtest | Chain::LitecoinRegtest => (2, true),
        };
        let floor_work = match (preset, regtest) {
            (_, true) => main_floor_work,
            (Preset::Main, false) => main_floor_work,
            (Preset::Mini, false) => main_floor_work / 10,
        };
        let max_share_target = Target::from_work(crate::work::Work(floor_work)).to_compact();
        let (window, outputs, min_payout) = match preset {
            // 2160 shares = 6 hours at 10 s: Monero P2Pool's window, long enough that a rig at
            // 1/1000 of the pool has ~2 shares in it.
            Preset::Main => (2160, 200, dust.max(10_000)),
            // A longer window evens out the luck of the many small miners a mini pool serves,
            // and more outputs with a lower floor pay more of them directly.
            Preset::Mini => (4320, 400, dust.max(5_460)),
        };
        PoolParams {
            chain,
            name: format!("otedama-{}", preset.name()),
            share_period_secs: 10,
            pplns_window: window,
            // 60 share periods: responsive enough to follow a 10x hashrate step within minutes,
            // slow enough that the difficulty noise stays near sqrt(10/(2*600)) = 9 %.
            retarget_half_life_secs: 600,
            max_uncles: 3,
            uncle_depth: 3,
            uncle_penalty_percent: 20,
            max_share_target,
            max_payout_outputs: outputs,
            min_payout,
            max_future_secs: 60,
        }
    }

    /// Checks every parameter against the hard limits.
    pub fn check(&self) -> Result<(), ParamsError> {
        use ParamsError::OutOfRange;
        if self.share_period_secs == 0 || self.share_period_secs > 3600 {
            return Err(OutOfRange("share period must be 1..=3600 s"));
        }
        if self.pplns_window == 0 || self.pplns_window > limits::MAX_PPLNS_WINDOW {
            return Err(OutOfRange("PPLNS window must be 1..=16384 shares"));
        }
        if self.retarget_half_life_secs < self.share_period_secs
            || self.retarget_half_life_secs > 1 << 24
        {
            return Err(OutOfRange(
                "half-life must be between one share period and 2^24 s",
            ));
        }
        if self.max_uncles > limits::MAX_UNCLES {
            return Err(OutOfRange("too many uncles"));
        }
        if self.uncle_depth == 0 || self.uncle_depth > limits::MAX_UNCLE_DEPTH {
            return Err(OutOfRange("uncle depth must be 1..=3"));
        }
        if self.uncle_penalty_percent > 100 {
            return Err(OutOfRange("uncle penalty is a percentage"));
        }
        if self.max_payout_outputs < 2 || self.max_payout_outputs > limits::MAX_PAYOUT_OUTPUTS {
            return Err(OutOfRange("payout outputs must be 2..=1000"));
        }
        if self.min_payout < self.chain.dust_threshold() {
            return Err(OutOfRange(
                "minimum payout below the chain's dust threshold",
            ));
        }
        let t = Target::from_compact(self.max_share_target);
        if t.0.is_zero() || t.work().0 > MAX_SHARE_WORK {
            return Err(OutOfRange("share target floor out of range"));
        }
        Ok(())
    }

    /// Easiest target a share may have.
    pub fn max_target(&self) -> Target {
        Target::from_compact(self.max_share_target)
    }

    /// Hardest target a share may have: the one worth [`MAX_SHARE_WORK`], rounded to the
    /// nearest compact value below it (so its work is at most 2^80 x (1 + 2^-15)).
    pub fn min_target(&self) -> Target {
        Target::from_compact(Target::from_work(crate::work::Work(MAX_SHARE_WORK)).to_compact())
    }

    /// The canonical byte encoding hashed into the consensus id (layout in docs/consensus.md).
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(128);
        v.extend_from_slice(&crate::share::FORMAT_VERSION.to_le_bytes());
        v.push(self.chain.id_byte());
        v.push(self.chain.name().len() as u8);
        v.extend_from_slice(self.chain.name().as_bytes());
        let name = self.name.as_bytes();
        let name = &name[..name.len().min(255)];
        v.push(name.len() as u8);
        v.extend_from_slice(name);
        v.extend_from_slice(&self.share_period_secs.to_le_bytes());
        v.extend_from_slice(&self.pplns_window.to_le_bytes());
        v.extend_from_slice(&self.retarget_half_life_secs.to_le_bytes());
        v.extend_from_slice(&(self.max_uncles as u64).to_le_bytes());
        v.extend_from_slice(&self.uncle_depth.to_le_bytes());
        v.push(self.uncle_penalty_percent);
        v.extend_from_slice(&self.max_share_target.to_consensus().to_le_bytes());
        v.extend_from_slice(&self.max_payout_outputs.to_le_bytes());
        v.extend_from_slice(&self.min_payout.to_le_bytes());
        v.extend_from_slice(&self.max_future_secs.to_le_bytes());
        v
    }

    /// `SHA256d(tagged_hash("otedama/consensus-id", encode()))`.
    pub fn consensus_id(&self) -> ConsensusId {
        let inner = tagged_hash("otedama/consensus-id", &[&self.encode()]);
        ConsensusId::hash(&inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_ids_are_distinct() {
        let mut ids = std::collections::HashSet::new();
        for chain in Chain::ALL {
            for preset in Preset::ALL {
                let p = PoolParams::preset(chain, preset);
                p.check()
                    .unwrap_or_else(|e| panic!("{chain} {preset:?}: {e}"));
                assert!(ids.insert(p.consensus_id()), "{chain} {preset:?}");
            }
        }
    }

    #[test]
    fn every_parameter_changes_the_id() {
        let base = PoolParams::preset(Chain::Litecoin, Preset::Main);
        let id = base.consensus_id();
        type Edit = Box<dyn Fn(&mut PoolParams)>;
        let variants: Vec<Edit> = vec![
            Box::new(|p| p.chain = Chain::LitecoinTestnet),
            Box::new(|p| p.name.push('x')),
            Box::new(|p| p.share_period_secs += 1),
            Box::new(|p| p.pplns_window += 1),
            Box::new(|p| p.retarget_half_life_secs += 1),
            Box::new(|p| p.max_uncles += 1),
            Box::new(|p| p.uncle_depth += 1),
            Box::new(|p| p.uncle_penalty_percent += 1),
            Box::new(|p| p.max_share_target = CompactTarget::from_consensus(0x1e0ffff0)),
            Box::new(|p| p.max_payout_outputs += 1),
            Box::new(|p| p.min_payout += 1),
            Box::new(|p| p.max_future_secs += 1),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut p = base.clone();
            change(&mut p);
            assert_ne!(p.consensus_id(), id, "parameter {i} is not hashed");
        }
    }

    #[test]
    fn out_of_range_parameters_are_refused() {
        let mut p = PoolParams::preset(Chain::Bitcoin, Preset::Main);
        p.pplns_window = 0;
        assert!(p.check().is_err());
        let mut p = PoolParams::preset(Chain::Bitcoin, Preset::Main);
        p.min_payout = 1;
        assert!(p.check().is_err());
        let mut p = PoolParams::preset(Chain::Bitcoin, Preset::Main);
        p.max_uncles = 6;
        assert!(p.check().is_err());
    }
}
