//! Pool parameters, the shipped presets and the consensus id.
//!
//! Every parameter here changes which shares are valid, so every one of them is hashed into the
//! consensus id: a node can only ever agree with nodes that run the same parameters.

use crate::chain::Chain;
use crate::hash::{tagged_hash, ConsensusId, ShareHash};
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
    /// Longest pool name in bytes. The name is hashed into the consensus id and shown in logs
    /// and paths (the default data directory of a custom pool), so it is short and plain.
    pub const MAX_NAME_LEN: usize = 64;
    /// Longest share period: an hour. Longer periods make the window span days per share and
    /// the retarget half-life bound below meaningless.
    pub const MAX_SHARE_PERIOD_SECS: u64 = 3600;
    /// Longest retarget half-life, 2^24 s (194 days): beyond it the ASERT exponent loses all
    /// precision for any realistic share rate.
    pub const MAX_HALF_LIFE_SECS: u64 = 1 << 24;
    /// Most seconds a share may be ahead of the validating clock: Bitcoin's two hours. A larger
    /// allowance would let a miner pull the difficulty down by backdating the next shares.
    pub const MAX_FUTURE_SECS: u64 = 7200;
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

/// Tag of the pinned genesis in [`PoolParams::encode`].
const GENESIS_TAG: u8 = 0x67;

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
    /// The one height-0 share this pool accepts, once it has launched. Without a pin any
    /// height-0 share at the floor is a genesis (how a pool starts), so anyone can mint a rival
    /// chain from nothing; with it, every other genesis is invalid. Hashed into the consensus id
    /// only when set, so unpinned pools keep their ids.
    pub genesis: Option<ShareHash>,
}

/// Why parameters are unusable. Custom pools (`otedama-node --pool-config`) build parameters
/// from an operator's file, so the error names the field (as in the struct), the value and the
/// allowed range: enough to fix the file without reading the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    #[error("{field} = {value} is out of range (allowed: {allowed})")]
    OutOfRange {
        /// The [`PoolParams`] field, e.g. `pplns_window`.
        field: &'static str,
        value: String,
        allowed: String,
    },
}

impl ParamsError {
    /// The field that is out of range.
    pub fn field(&self) -> &'static str {
        match self {
            ParamsError::OutOfRange { field, .. } => field,
        }
    }
}

impl PoolParams {
    /// The shipped presets. See docs/consensus.md and docs/simulation.md for the derivations.
    pub fn preset(chain: Chain, preset: Preset) -> PoolParams {
        let dust = chain.dust_threshold();
        // Share floors in expected hashes per share. Main: a 10 s share of 1 TH/s (SHA256d),
        // 100 MH/s (scrypt) or 100 kH/s (RandomX) hardware, so one modern rig finds shares on its own; mini: a tenth.
        // Test chains: regtest floors are the parent chain's own (every share is nearly a
        // block, so tests are quick); public test networks use a thousandth of main.
        let (main_floor_work, regtest): (u128, bool) = match chain {
            Chain::Bitcoin => (10u128 * 1_000_000_000_000, false),
            Chain::BitcoinTestnet4 | Chain::BitcoinSignet => (10u128 * 1_000_000_000, false),
            Chain::Litecoin => (10u128 * 100_000_000, false),
            Chain::LitecoinTestnet => (10u128 * 100_000, false),
            // RandomX: a 10 s share of a 100 kH/s farm (ten 10 kH/s desktop CPUs); Monero
            // P2Pool's main sidechain floor is 100,000 hashes per share, the same order.
            Chain::Monero => (10u128 * 100_000, false),
            Chain::MoneroStagenet => (10u128 * 100, false),
            Chain::BitcoinRegtest | Chain::LitecoinRegtest | Chain::MoneroRegtest => (2, true),
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
            // Pinned at launch, once the public pools' first shares exist.
            genesis: None,
        }
    }

    /// Checks every parameter against the hard limits, in field order; the first field out of
    /// range is reported.
    pub fn check(&self) -> Result<(), ParamsError> {
        fn out(field: &'static str, value: impl ToString, allowed: String) -> ParamsError {
            ParamsError::OutOfRange {
                field,
                value: value.to_string(),
                allowed,
            }
        }
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if self.name.is_empty()
            || self.name.len() > limits::MAX_NAME_LEN
            || !self.name.chars().all(name_ok)
        {
            return Err(out(
                "name",
                format!("{:?}", self.name),
                format!(
                    "1..={} ASCII letters, digits, '-', '_' or '.'",
                    limits::MAX_NAME_LEN
                ),
            ));
        }
        if self.share_period_secs == 0 || self.share_period_secs > limits::MAX_SHARE_PERIOD_SECS {
            return Err(out(
                "share_period_secs",
                self.share_period_secs,
                format!("1..={} s", limits::MAX_SHARE_PERIOD_SECS),
            ));
        }
        if self.pplns_window == 0 || self.pplns_window > limits::MAX_PPLNS_WINDOW {
            return Err(out(
                "pplns_window",
                self.pplns_window,
                format!("1..={} shares", limits::MAX_PPLNS_WINDOW),
            ));
        }
        if self.retarget_half_life_secs < self.share_period_secs
            || self.retarget_half_life_secs > limits::MAX_HALF_LIFE_SECS
        {
            return Err(out(
                "retarget_half_life_secs",
                self.retarget_half_life_secs,
                format!(
                    "one share period to 2^24 s: {}..={} s",
                    self.share_period_secs,
                    limits::MAX_HALF_LIFE_SECS
                ),
            ));
        }
        if self.max_uncles > limits::MAX_UNCLES {
            return Err(out(
                "max_uncles",
                self.max_uncles,
                format!("0..={}", limits::MAX_UNCLES),
            ));
        }
        if self.uncle_depth == 0 || self.uncle_depth > limits::MAX_UNCLE_DEPTH {
            return Err(out(
                "uncle_depth",
                self.uncle_depth,
                format!("1..={}", limits::MAX_UNCLE_DEPTH),
            ));
        }
        if self.uncle_penalty_percent > 100 {
            return Err(out(
                "uncle_penalty_percent",
                self.uncle_penalty_percent,
                "0..=100".into(),
            ));
        }
        let bits = self.max_share_target;
        let t = Target::from_compact(bits);
        // Canonical only: two encodings of one target would be one pool under two ids.
        if t.0.is_zero() || t.work().0 > MAX_SHARE_WORK || t.to_compact() != bits {
            return Err(out(
                "max_share_target",
                format!("{:#010x}", bits.to_consensus()),
                format!(
                    "a canonical, non-zero compact target worth at most 2^80 hashes, e.g. {:#010x}",
                    PoolParams::preset(self.chain, Preset::Main)
                        .max_share_target
                        .to_consensus()
                ),
            ));
        }
        if self.max_payout_outputs < 2 || self.max_payout_outputs > limits::MAX_PAYOUT_OUTPUTS {
            return Err(out(
                "max_payout_outputs",
                self.max_payout_outputs,
                format!("2..={}", limits::MAX_PAYOUT_OUTPUTS),
            ));
        }
        let dust = self.chain.dust_threshold();
        let max_money = self.chain.max_money();
        if self.min_payout < dust || self.min_payout > max_money {
            return Err(out(
                "min_payout",
                self.min_payout,
                format!("{dust}..={max_money} (the chain's dust threshold to its money supply)"),
            ));
        }
        if self.max_future_secs > limits::MAX_FUTURE_SECS {
            return Err(out(
                "max_future_secs",
                self.max_future_secs,
                format!("0..={} s", limits::MAX_FUTURE_SECS),
            ));
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
        let mut v = self.encode_unpinned();
        // Appended only when pinned: a tag byte, then the id (unpinned encodings are unchanged).
        if let Some(g) = &self.genesis {
            v.push(GENESIS_TAG);
            v.extend_from_slice(g.as_byte_array());
        }
        v
    }

    /// The encoding without the genesis pin.
    fn encode_unpinned(&self) -> Vec<u8> {
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

    /// `SHA256d(tagged_hash("otedama/consensus-id", encode()))`: what peers compare to know
    /// they are in the same pool (protocol names, handshake).
    pub fn consensus_id(&self) -> ConsensusId {
        let inner = tagged_hash("otedama/consensus-id", &[&self.encode()]);
        ConsensusId::hash(&inner)
    }

    /// The id every share's coinbase commits to: [`PoolParams::consensus_id`] of the parameters
    /// without the genesis pin. A pin is added once a pool has launched, naming a genesis mined
    /// before it existed; that genesis (and every share since) could not commit to an id that
    /// contains its own hash, so shares commit to the unpinned id and stay valid when the pin is
    /// added. Peers still tell pinned and unpinned pools apart by [`PoolParams::consensus_id`].
    pub fn commitment_id(&self) -> ConsensusId {
        let inner = tagged_hash("otedama/consensus-id", &[&self.encode_unpinned()]);
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
            Box::new(|p| p.genesis = Some(ShareHash::all_zeros())),
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

    #[test]
    fn each_out_of_range_field_is_named_with_its_value_and_range() {
        type Edit = (&'static str, Box<dyn Fn(&mut PoolParams)>);
        let cases: Vec<Edit> = vec![
            ("name", Box::new(|p| p.name = String::new())),
            ("name", Box::new(|p| p.name = "a b".into())),
            ("name", Box::new(|p| p.name = "x".repeat(65))),
            ("share_period_secs", Box::new(|p| p.share_period_secs = 0)),
            (
                "share_period_secs",
                Box::new(|p| p.share_period_secs = 3601),
            ),
            ("pplns_window", Box::new(|p| p.pplns_window = 16385)),
            (
                "retarget_half_life_secs",
                Box::new(|p| p.retarget_half_life_secs = 9),
            ),
            (
                "retarget_half_life_secs",
                Box::new(|p| p.retarget_half_life_secs = (1 << 24) + 1),
            ),
            ("max_uncles", Box::new(|p| p.max_uncles = 6)),
            ("uncle_depth", Box::new(|p| p.uncle_depth = 0)),
            ("uncle_depth", Box::new(|p| p.uncle_depth = 4)),
            (
                "uncle_penalty_percent",
                Box::new(|p| p.uncle_penalty_percent = 101),
            ),
            (
                "max_share_target",
                Box::new(|p| p.max_share_target = CompactTarget::from_consensus(0)),
            ),
            // The target of 0x1d00ff00 with a longer exponent: the same target, not canonical.
            (
                "max_share_target",
                Box::new(|p| p.max_share_target = CompactTarget::from_consensus(0x1e0000ff)),
            ),
            (
                "max_share_target",
                Box::new(|p| p.max_share_target = CompactTarget::from_consensus(0x03000001)),
            ),
            ("max_payout_outputs", Box::new(|p| p.max_payout_outputs = 1)),
            (
                "max_payout_outputs",
                Box::new(|p| p.max_payout_outputs = 1001),
            ),
            ("min_payout", Box::new(|p| p.min_payout = 545)),
            (
                "min_payout",
                Box::new(|p| p.min_payout = 21_000_000 * 100_000_000 + 1),
            ),
            ("max_future_secs", Box::new(|p| p.max_future_secs = 7201)),
        ];
        for (field, edit) in cases {
            let mut p = PoolParams::preset(Chain::Bitcoin, Preset::Main);
            edit(&mut p);
            let err = p.check().expect_err(field);
            assert_eq!(err.field(), field, "{err}");
            let text = err.to_string();
            assert!(
                text.starts_with(field) && text.contains("allowed: "),
                "{text}"
            );
        }
        // The edges are allowed.
        let mut p = PoolParams::preset(Chain::Bitcoin, Preset::Main);
        p.name = "a".repeat(64);
        p.pplns_window = 1;
        p.max_uncles = 0;
        p.uncle_depth = 1;
        p.uncle_penalty_percent = 100;
        p.max_payout_outputs = 2;
        p.min_payout = 546;
        p.max_future_secs = 0;
        p.max_share_target = CompactTarget::from_consensus(0x1d00ffff);
        p.check().unwrap();
    }
}
