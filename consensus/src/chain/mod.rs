//! Parent chains and their parameters.
//!
//! A chain *family* is a module: the Bitcoin family (Bitcoin and Litecoin, which share block,
//! transaction and script formats and differ in proof of work and constants) lives in
//! [`bitcoin_family`], the Monero family (RandomX, one-time output keys) in [`monero_family`]
//! and [`monero`]. Code that differs by family matches on [`Family`]; pool parameters, PPLNS,
//! retarget and fork choice never do.

pub mod address;
pub mod bitcoin_family;
pub mod monero;
pub mod monero_family;

use crate::pow::{NoStatelessPow, PowAlgo, PowHasher};
pub use bitcoin_family::BitcoinFamilyParams;
pub use monero_family::MoneroParams;

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
    Monero,
    MoneroStagenet,
    MoneroRegtest,
}

/// The families of chains; each has its own block-candidate format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Bitcoin(&'static BitcoinFamilyParams),
    Monero(&'static MoneroParams),
}

/// The two kinds of family without their parameters, for encodings and messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FamilyKind {
    Bitcoin,
    Monero,
}

impl Family {
    pub fn kind(self) -> FamilyKind {
        match self {
            Family::Bitcoin(_) => FamilyKind::Bitcoin,
            Family::Monero(_) => FamilyKind::Monero,
        }
    }
}

impl FamilyKind {
    pub fn name(self) -> &'static str {
        match self {
            FamilyKind::Bitcoin => "bitcoin",
            FamilyKind::Monero => "monero",
        }
    }
}

impl Chain {
    pub const ALL: [Chain; 10] = [
        Chain::Bitcoin,
        Chain::BitcoinTestnet4,
        Chain::BitcoinSignet,
        Chain::BitcoinRegtest,
        Chain::Litecoin,
        Chain::LitecoinTestnet,
        Chain::LitecoinRegtest,
        Chain::Monero,
        Chain::MoneroStagenet,
        Chain::MoneroRegtest,
    ];

    /// The name used on the command line and in the consensus id.
    pub fn name(self) -> &'static str {
        match self.family() {
            Family::Bitcoin(p) => p.name,
            Family::Monero(p) => p.name,
        }
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
            Chain::Monero => 21,
            Chain::MoneroStagenet => 22,
            Chain::MoneroRegtest => 23,
        }
    }

    pub fn family(self) -> Family {
        use bitcoin_family::*;
        use monero_family::*;
        match self {
            Chain::Bitcoin => Family::Bitcoin(&BITCOIN),
            Chain::BitcoinTestnet4 => Family::Bitcoin(&BITCOIN_TESTNET4),
            Chain::BitcoinSignet => Family::Bitcoin(&BITCOIN_SIGNET),
            Chain::BitcoinRegtest => Family::Bitcoin(&BITCOIN_REGTEST),
            Chain::Litecoin => Family::Bitcoin(&LITECOIN),
            Chain::LitecoinTestnet => Family::Bitcoin(&LITECOIN_TESTNET),
            Chain::LitecoinRegtest => Family::Bitcoin(&LITECOIN_REGTEST),
            Chain::Monero => Family::Monero(&MONERO),
            Chain::MoneroStagenet => Family::Monero(&MONERO_STAGENET),
            Chain::MoneroRegtest => Family::Monero(&MONERO_REGTEST),
        }
    }

    /// Parameters of a Bitcoin-family chain; `None` for another family. Code that only exists
    /// for the Bitcoin family (its full-node client, Stratum dialect and block assembly) asks
    /// here once and refuses other chains with a clear error.
    pub fn bitcoin_params(self) -> Option<&'static BitcoinFamilyParams> {
        match self.family() {
            Family::Bitcoin(p) => Some(p),
            Family::Monero(_) => None,
        }
    }

    /// Parameters of a Monero chain; `None` for another family.
    pub fn monero_params(self) -> Option<&'static MoneroParams> {
        match self.family() {
            Family::Monero(p) => Some(p),
            Family::Bitcoin(_) => None,
        }
    }

    /// The header hash function of a Bitcoin-family chain; `None` for RandomX chains, whose
    /// hash needs the node's seed caches ([`Chain::stateless_pow`]).
    pub fn pow_algo(self) -> Option<PowAlgo> {
        self.bitcoin_params().map(|p| p.pow)
    }

    /// The hasher validation uses when the node has no stateful one: the Bitcoin family's own
    /// functions, or, for RandomX chains, one that answers "unsupported" to every hash.
    pub fn stateless_pow(self) -> &'static dyn PowHasher {
        static SHA256D: PowAlgo = PowAlgo::Sha256d;
        static SCRYPT: PowAlgo = PowAlgo::Scrypt1024;
        static NONE: NoStatelessPow = NoStatelessPow;
        match self.pow_algo() {
            Some(PowAlgo::Sha256d) => &SHA256D,
            Some(PowAlgo::Scrypt1024) => &SCRYPT,
            None => &NONE,
        }
    }

    /// The least a block pays that every node can check: the Bitcoin family's subsidy at a
    /// parent-chain height, Monero's tail emission (its base reward depends on the coins
    /// already generated, which only the full node knows).
    pub fn subsidy(self, height: u32) -> u64 {
        match self.family() {
            Family::Bitcoin(p) => p.subsidy(height),
            Family::Monero(p) => p.subsidy_floor(),
        }
    }

    /// Smallest output value the chain's default relay policy does not call dust (Monero: the
    /// fee to spend the output, see [`MoneroParams::dust_threshold`]).
    pub fn dust_threshold(self) -> u64 {
        match self.family() {
            Family::Bitcoin(p) => p.dust_threshold,
            Family::Monero(p) => p.dust_threshold,
        }
    }

    /// The chain's money supply bound: no amount may exceed it.
    pub fn max_money(self) -> u64 {
        match self.family() {
            Family::Bitcoin(p) => p.max_money,
            Family::Monero(p) => p.max_money,
        }
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
