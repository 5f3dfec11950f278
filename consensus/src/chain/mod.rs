//! Parent chains and their parameters.
//!
//! A chain *family* is a module: the Bitcoin family (Bitcoin and Litecoin, which share block,
//! transaction and script formats and differ in proof of work and constants) lives in
//! [`bitcoin_family`]. A later family (Monero: RandomX, one-time output keys) adds a module and a
//! [`Family`] variant; pool parameters, PPLNS, retarget and fork choice do not change.

pub mod address;
pub mod bitcoin_family;
pub mod monero;

use crate::pow::PowAlgo;
pub use bitcoin_family::BitcoinFamilyParams;

/// Every parent chain Otedama knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Chain {
    Bitcoin,
    BitcoinTestnet4,
    BitcoinSignet,
    BitcoinRegtest,
    Litecoin,
    LitecoinTestnet,
    LitecoinRegtest,
}

/// The families of chains; each has its own block-candidate format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Bitcoin(&'static BitcoinFamilyParams),
}

impl Chain {
    pub const ALL: [Chain; 7] = [
        Chain::Bitcoin,
        Chain::BitcoinTestnet4,
        Chain::BitcoinSignet,
        Chain::BitcoinRegtest,
        Chain::Litecoin,
        Chain::LitecoinTestnet,
        Chain::LitecoinRegtest,
    ];

    /// The name used on the command line and in the consensus id.
    pub fn name(self) -> &'static str {
        self.params().name
    }

    pub fn from_name(name: &str) -> Option<Chain> {
        Chain::ALL.into_iter().find(|c| c.name() == name)
    }

    /// A one-byte tag for encodings (stable: never reuse a number).
    pub fn id_byte(self) -> u8 {
        match self {
            Chain::Bitcoin => 1,
            Chain::BitcoinTestnet4 => 2,
            Chain::BitcoinSignet => 3,
            Chain::BitcoinRegtest => 4,
            Chain::Litecoin => 11,
            Chain::LitecoinTestnet => 12,
            Chain::LitecoinRegtest => 13,
        }
    }

    pub fn family(self) -> Family {
        Family::Bitcoin(self.params())
    }

    /// Parameters of this chain (all chains are of the Bitcoin family for now).
    pub fn params(self) -> &'static BitcoinFamilyParams {
        use bitcoin_family::*;
        match self {
            Chain::Bitcoin => &BITCOIN,
            Chain::BitcoinTestnet4 => &BITCOIN_TESTNET4,
            Chain::BitcoinSignet => &BITCOIN_SIGNET,
            Chain::BitcoinRegtest => &BITCOIN_REGTEST,
            Chain::Litecoin => &LITECOIN,
            Chain::LitecoinTestnet => &LITECOIN_TESTNET,
            Chain::LitecoinRegtest => &LITECOIN_REGTEST,
        }
    }

    pub fn pow_algo(self) -> PowAlgo {
        self.params().pow
    }

    /// Block subsidy at a parent-chain height, in the chain's smallest unit.
    pub fn subsidy(self, height: u32) -> u64 {
        self.params().subsidy(height)
    }

    /// Smallest output value the chain's default relay policy does not call dust.
    pub fn dust_threshold(self) -> u64 {
        self.params().dust_threshold
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
