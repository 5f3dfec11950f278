//! Constants of the Monero chains (mainnet, stagenet, regtest), from Monero's
//! `cryptonote_config.h`.

use super::monero::address::{Address, AddressKind, Network};

/// One XMR: 10^12 piconero.
pub const XMR: u64 = 1_000_000_000_000;

/// Parameters of one Monero chain.
#[derive(Debug, PartialEq, Eq)]
pub struct MoneroParams {
    /// Command-line name, also hashed into the consensus id.
    pub name: &'static str,
    /// The address network payouts must belong to. `monerod --regtest` uses mainnet's address
    /// prefixes.
    pub network: Network,
    /// The least a block pays from emission: the tail emission `FINAL_SUBSIDY_PER_MINUTE` x 2
    /// minutes = 0.6 XMR, reached on mainnet in 2022. The base reward before it depends on the
    /// coins already generated, which a share cannot show, so the share rules check this floor
    /// and the full node checks the rest (as the Bitcoin family leaves fees to the full node).
    pub min_block_reward: u64,
    /// Smallest payout the presets pay directly: about the fee of the transaction that spends
    /// it (a 1-input 2-output CLSAG transaction of ~1.5 kB at the v16 base fee of ~20 piconero
    /// per byte is ~3 x 10^7 piconero), so no output costs more to spend than it is worth.
    pub dust_threshold: u64,
    /// Money supply bound: Monero amounts are 64-bit (`MONEY_SUPPLY` = 2^64 - 1).
    pub max_money: u64,
}

impl MoneroParams {
    /// The address a payee encoding (kind byte, spend key, view key) stands for on this chain,
    /// for display; `None` for bytes that are not a payee.
    pub fn payee_address(&self, payee: &[u8]) -> Option<String> {
        let (kind, keys) = payee.split_first()?;
        let kind = match kind {
            0 => AddressKind::Standard,
            1 => AddressKind::Subaddress,
            _ => return None,
        };
        if keys.len() != 64 {
            return None;
        }
        let (spend, view) = keys.split_at(32);
        let address = Address {
            network: self.network,
            kind,
            spend_public: spend.try_into().ok()?,
            view_public: view.try_into().ok()?,
        };
        Some(address.to_string())
    }

    /// The block reward floor every share's payouts must reach (see [`Self::min_block_reward`]).
    pub fn subsidy_floor(&self) -> u64 {
        self.min_block_reward
    }
}

pub static MONERO: MoneroParams = MONERO_BASE;

pub static MONERO_STAGENET: MoneroParams = MoneroParams {
    name: "monero-stagenet",
    network: Network::Stagenet,
    ..MONERO_BASE
};

pub static MONERO_REGTEST: MoneroParams = MoneroParams {
    name: "monero-regtest",
    network: Network::Mainnet,
    ..MONERO_BASE
};

const MONERO_BASE: MoneroParams = MoneroParams {
    name: "monero",
    network: Network::Mainnet,
    min_block_reward: 6 * XMR / 10,
    dust_threshold: 30_000_000,
    max_money: u64::MAX,
};
