//! Constants of the Bitcoin-family chains (Bitcoin, Litecoin), from their reference clients'
//! `chainparams.cpp`.

use crate::pow::PowAlgo;
use bitcoin::pow::CompactTarget;

/// Parameters of one Bitcoin-family chain.
#[derive(Debug, PartialEq, Eq)]
pub struct BitcoinFamilyParams {
    /// Command-line name, also hashed into the consensus id.
    pub name: &'static str,
    pub pow: PowAlgo,
    /// Easiest parent-chain target (`powLimit`), compact.
    pub pow_limit: u32,
    /// Human-readable part of segwit (bech32/bech32m) addresses.
    pub bech32_hrp: &'static str,
    /// Base58 version bytes of P2PKH addresses.
    pub p2pkh_versions: &'static [u8],
    /// Base58 version bytes of P2SH addresses (Litecoin accepts its legacy `3...` byte too).
    pub p2sh_versions: &'static [u8],
    /// Blocks between subsidy halvings.
    pub halving_interval: u32,
    /// Subsidy of the first era, in the smallest unit.
    pub initial_subsidy: u64,
    /// Output value below which the default relay policy calls an output dust.
    ///
    /// Derivation (Bitcoin Core `GetDustThreshold`, 3000 units/kvB dust relay fee): a P2PKH output
    /// (34 bytes) plus the input that spends it (148 bytes) is 182 bytes, x 3 = 546. Litecoin
    /// relays at ten times Bitcoin's fee rates, so 5460 there. Segwit outputs have lower
    /// thresholds; the P2PKH figure for all is conservative: a higher floor only makes every
    /// output more certainly relayable and spendable.
    pub dust_threshold: u64,
    /// The chain's money supply bound (`MAX_MONEY`): no amount may exceed it.
    pub max_money: u64,
    /// Whether templates from this chain carry the MWEB extension block (Litecoin).
    pub has_mweb: bool,
}

/// One coin: 10^8 of the smallest unit.
pub const COIN: u64 = 100_000_000;

impl BitcoinFamilyParams {
    /// `initial_subsidy >> (height / halving_interval)`, zero after 64 halvings (Core's rule).
    pub fn subsidy(&self, height: u32) -> u64 {
        let halvings = height / self.halving_interval;
        if halvings >= 64 {
            0
        } else {
            self.initial_subsidy >> halvings
        }
    }

    pub fn pow_limit(&self) -> CompactTarget {
        CompactTarget::from_consensus(self.pow_limit)
    }
}

pub static BITCOIN: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "bitcoin",
    pow: PowAlgo::Sha256d,
    pow_limit: 0x1d00ffff,
    bech32_hrp: "bc",
    p2pkh_versions: &[0],
    p2sh_versions: &[5],
    halving_interval: 210_000,
    initial_subsidy: 50 * COIN,
    dust_threshold: 546,
    max_money: 21_000_000 * COIN,
    has_mweb: false,
};

pub static BITCOIN_TESTNET4: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "bitcoin-testnet4",
    bech32_hrp: "tb",
    p2pkh_versions: &[111],
    p2sh_versions: &[196],
    ..BITCOIN_BASE
};

pub static BITCOIN_SIGNET: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "bitcoin-signet",
    pow_limit: 0x1e0377ae,
    bech32_hrp: "tb",
    p2pkh_versions: &[111],
    p2sh_versions: &[196],
    ..BITCOIN_BASE
};

pub static BITCOIN_REGTEST: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "bitcoin-regtest",
    pow_limit: 0x207fffff,
    bech32_hrp: "bcrt",
    p2pkh_versions: &[111],
    p2sh_versions: &[196],
    halving_interval: 150,
    ..BITCOIN_BASE
};

pub static LITECOIN: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "litecoin",
    pow: PowAlgo::Scrypt1024,
    pow_limit: 0x1e0fffff,
    bech32_hrp: "ltc",
    p2pkh_versions: &[48],
    p2sh_versions: &[50, 5],
    halving_interval: 840_000,
    initial_subsidy: 50 * COIN,
    dust_threshold: 5460,
    max_money: 84_000_000 * COIN,
    has_mweb: true,
};

pub static LITECOIN_TESTNET: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "litecoin-testnet",
    bech32_hrp: "tltc",
    p2pkh_versions: &[111],
    p2sh_versions: &[58, 196],
    ..LITECOIN_BASE
};

pub static LITECOIN_REGTEST: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "litecoin-regtest",
    pow_limit: 0x207fffff,
    bech32_hrp: "rltc",
    p2pkh_versions: &[111],
    p2sh_versions: &[58, 196],
    halving_interval: 150,
    ..LITECOIN_BASE
};

const BITCOIN_BASE: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "bitcoin",
    pow: PowAlgo::Sha256d,
    pow_limit: 0x1d00ffff,
    bech32_hrp: "bc",
    p2pkh_versions: &[0],
    p2sh_versions: &[5],
    halving_interval: 210_000,
    initial_subsidy: 50 * COIN,
    dust_threshold: 546,
    max_money: 21_000_000 * COIN,
    has_mweb: false,
};

const LITECOIN_BASE: BitcoinFamilyParams = BitcoinFamilyParams {
    name: "litecoin",
    pow: PowAlgo::Scrypt1024,
    pow_limit: 0x1e0fffff,
    bech32_hrp: "ltc",
    p2pkh_versions: &[48],
    p2sh_versions: &[50, 5],
    halving_interval: 840_000,
    initial_subsidy: 50 * COIN,
    dust_threshold: 5460,
    max_money: 84_000_000 * COIN,
    has_mweb: true,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsidy_schedule() {
        assert_eq!(BITCOIN.subsidy(0), 50 * COIN);
        assert_eq!(BITCOIN.subsidy(209_999), 50 * COIN);
        assert_eq!(BITCOIN.subsidy(210_000), 25 * COIN);
        assert_eq!(BITCOIN.subsidy(840_000), 312_500_000);
        assert_eq!(BITCOIN.subsidy(210_000 * 64), 0);
        assert_eq!(LITECOIN.subsidy(840_000 * 3), 625_000_000);
        assert_eq!(LITECOIN_REGTEST.subsidy(150), 25 * COIN);
        assert_eq!(LITECOIN_REGTEST.subsidy(432), 1_250_000_000);
        assert_eq!(BITCOIN_REGTEST.subsidy(u32::MAX), 0);
    }

    #[test]
    fn total_supply_is_below_max_money() {
        for p in [&BITCOIN, &LITECOIN] {
            let mut total: u64 = 0;
            for era in 0..64u32 {
                total += p.subsidy(era * p.halving_interval) * p.halving_interval as u64;
            }
            assert!(total <= p.max_money, "{}", p.name);
        }
    }
}
