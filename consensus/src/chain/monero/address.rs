//! Monero addresses (`src/cryptonote_basic/cryptonote_basic_impl.cpp`, `src/common/base58.cpp`).
//!
//! An address is `varint(network tag) || spend public key || view public key [|| payment id]`
//! followed by the first 4 bytes of its Keccak-256 as a checksum, written in Monero's base58:
//! the bytes are cut into 8-byte blocks, each written as exactly 11 base58 digits (big-endian),
//! and a final shorter block of `n` bytes as the fewest digits that can hold `n` bytes
//! ([`ENCODED_BLOCK_SIZES`]). Unlike Bitcoin's base58, the length of the text fixes the length of
//! the bytes, and leading zero bytes are not special.
//!
//! Decoding is strict: the length must be a valid block layout, every digit in the alphabet,
//! every block within its byte range, the tag one of the nine known, the length right for the
//! kind, the checksum right and both keys valid points (Monero's `check_key`). Re-encoding a
//! decoded address gives the same text.

use super::hash::{keccak256, Hash32};
use super::keys::check_key;
use super::varint::{read_varint, write_varint};

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// Bytes per full block.
const FULL_BLOCK: usize = 8;
/// Digits per full block: 58^11 > 2^64 > 58^10.
const FULL_BLOCK_DIGITS: usize = 11;
/// Digits for a final block of `n` bytes (`n` = 0..=8): the least `k` with `58^k >= 256^n`.
pub const ENCODED_BLOCK_SIZES: [usize; 9] = [0, 2, 3, 5, 6, 7, 9, 10, 11];
/// Checksum bytes (`ADDRESS_CHECKSUM_SIZE`).
pub const CHECKSUM_LEN: usize = 4;
/// Payment id bytes of an integrated address.
pub const PAYMENT_ID_LEN: usize = 8;
/// Longest address text: an integrated address is 1 (tag) + 32 + 32 + 8 + 4 = 77 bytes, nine
/// full blocks and one of 5 bytes: 9·11 + 7 = 106 digits. All nine tags fit one varint byte.
pub const MAX_ADDRESS_CHARS: usize = 106;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    Mainnet,
    Stagenet,
    Testnet,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressKind {
    /// A wallet's main address, `(B, A)`.
    Standard,
    /// A main address with an 8-byte payment id (for exchanges; a coinbase output cannot carry
    /// it, so a pool refuses these for payouts).
    Integrated { payment_id: [u8; PAYMENT_ID_LEN] },
    /// A subaddress `(D, C)`; paying it needs a per-output transaction key.
    Subaddress,
}

/// Network tags (`CRYPTONOTE_PUBLIC_*_BASE58_PREFIX`) as (network, standard, integrated,
/// subaddress). Regtest uses mainnet's.
const TAGS: [(Network, u64, u64, u64); 3] = [
    (Network::Mainnet, 18, 19, 42),
    (Network::Stagenet, 24, 25, 36),
    (Network::Testnet, 53, 54, 63),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    pub network: Network,
    pub kind: AddressKind,
    pub spend_public: Hash32,
    pub view_public: Hash32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("address of {0} characters is too long")]
    TooLong(usize),
    #[error("{0} characters is not a base58 block layout")]
    BadLength(usize),
    #[error("character {0:?} is not in Monero's base58 alphabet")]
    BadChar(char),
    #[error("a base58 block overflows its byte length")]
    BlockOverflow,
    #[error("unknown network tag {0}")]
    UnknownTag(u64),
    #[error("bad network tag encoding")]
    BadTag,
    #[error("{got} bytes where this kind of address has {want}")]
    WrongSize { got: usize, want: usize },
    #[error("checksum mismatch")]
    Checksum,
    #[error("a key of the address is not a valid curve point")]
    InvalidKey,
}

/// Monero base58 of `data`.
pub fn base58_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(FULL_BLOCK) * FULL_BLOCK_DIGITS);
    for block in data.chunks(FULL_BLOCK) {
        let mut value = block.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b));
        let digits = ENCODED_BLOCK_SIZES[block.len()];
        let mut buf = [ALPHABET[0]; FULL_BLOCK_DIGITS];
        for slot in buf[..digits].iter_mut().rev() {
            *slot = ALPHABET[(value % 58) as usize];
            value /= 58;
        }
        out.extend(buf[..digits].iter().map(|&c| c as char));
    }
    out
}

fn digit(c: u8) -> Result<u64, AddressError> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .map(|p| p as u64)
        .ok_or(AddressError::BadChar(c as char))
}

/// Decodes Monero base58; the text's length must be whole blocks plus a valid final block.
pub fn base58_decode(text: &str) -> Result<Vec<u8>, AddressError> {
    let bytes = text.as_bytes();
    let full = bytes.len() / FULL_BLOCK_DIGITS;
    let last_digits = bytes.len() % FULL_BLOCK_DIGITS;
    let last_bytes = ENCODED_BLOCK_SIZES
        .iter()
        .position(|&d| d == last_digits)
        .ok_or(AddressError::BadLength(bytes.len()))?;
    let mut out = Vec::with_capacity(full * FULL_BLOCK + last_bytes);
    for block in bytes.chunks(FULL_BLOCK_DIGITS) {
        let n = if block.len() == FULL_BLOCK_DIGITS {
            FULL_BLOCK
        } else {
            last_bytes
        };
        // 58^11 < 2^65, so u128 holds any 11-digit value without overflow.
        let mut value: u128 = 0;
        for &c in block {
            value = value * 58 + u128::from(digit(c)?);
        }
        if value >> (8 * n) != 0 {
            return Err(AddressError::BlockOverflow);
        }
        out.extend_from_slice(&(value as u64).to_be_bytes()[FULL_BLOCK - n..]);
    }
    Ok(out)
}

impl Address {
    fn tag(&self) -> u64 {
        let (_, std, integrated, sub) = TAGS
            .iter()
            .copied()
            .find(|t| t.0 == self.network)
            .unwrap_or(TAGS[0]);
        match self.kind {
            AddressKind::Standard => std,
            AddressKind::Integrated { .. } => integrated,
            AddressKind::Subaddress => sub,
        }
    }

    /// The address bytes before base58 (tag, keys, payment id, checksum).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(1 + 64 + PAYMENT_ID_LEN + CHECKSUM_LEN);
        write_varint(&mut v, self.tag());
        v.extend_from_slice(&self.spend_public);
        v.extend_from_slice(&self.view_public);
        if let AddressKind::Integrated { payment_id } = &self.kind {
            v.extend_from_slice(payment_id);
        }
        let sum = keccak256(&v);
        v.extend_from_slice(&sum[..CHECKSUM_LEN]);
        v
    }

    /// Parses an address of any network and kind.
    pub fn parse(text: &str) -> Result<Address, AddressError> {
        if text.len() > MAX_ADDRESS_CHARS {
            return Err(AddressError::TooLong(text.len()));
        }
        let raw = base58_decode(text)?;
        let (tag, n) = read_varint(&raw).map_err(|_| AddressError::BadTag)?;
        let (network, kind_of) = TAGS
            .iter()
            .find_map(|&(net, s, i, sub)| match tag {
                t if t == s => Some((net, 0)),
                t if t == i => Some((net, 1)),
                t if t == sub => Some((net, 2)),
                _ => None,
            })
            .ok_or(AddressError::UnknownTag(tag))?;
        let body = 64 + if kind_of == 1 { PAYMENT_ID_LEN } else { 0 };
        let want = n + body + CHECKSUM_LEN;
        if raw.len() != want {
            return Err(AddressError::WrongSize {
                got: raw.len(),
                want,
            });
        }
        let (payload, sum) = raw.split_at(n + body);
        if keccak256(payload)[..CHECKSUM_LEN] != *sum {
            return Err(AddressError::Checksum);
        }
        let mut spend_public = [0u8; 32];
        let mut view_public = [0u8; 32];
        spend_public.copy_from_slice(&payload[n..n + 32]);
        view_public.copy_from_slice(&payload[n + 32..n + 64]);
        if !check_key(&spend_public) || !check_key(&view_public) {
            return Err(AddressError::InvalidKey);
        }
        let kind = match kind_of {
            0 => AddressKind::Standard,
            1 => {
                let mut payment_id = [0u8; PAYMENT_ID_LEN];
                payment_id.copy_from_slice(&payload[n + 64..]);
                AddressKind::Integrated { payment_id }
            }
            _ => AddressKind::Subaddress,
        };
        Ok(Address {
            network,
            kind,
            spend_public,
            view_public,
        })
    }

    /// Parses an address and checks its network.
    pub fn parse_for(text: &str, network: Network) -> Result<Address, AddressError> {
        let a = Address::parse(text)?;
        if a.network != network {
            return Err(AddressError::UnknownTag(a.tag()));
        }
        Ok(a)
    }

    pub fn is_subaddress(&self) -> bool {
        self.kind == AddressKind::Subaddress
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&base58_encode(&self.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base58_block_sizes() {
        assert_eq!(base58_encode(&[]), "");
        assert_eq!(base58_encode(&[0]), "11");
        assert_eq!(base58_encode(&[0xff]), "5Q");
        assert_eq!(base58_encode(&[0xff; 8]), "jpXCZedGfVQ");
        assert_eq!(base58_decode("jpXCZedGfVQ").unwrap(), [0xff; 8]);
        // One above 2^64 - 1 in 11 digits, and 256 in a 1-byte block: overflow.
        assert_eq!(
            base58_decode("jpXCZedGfVR"),
            Err(AddressError::BlockOverflow)
        );
        assert_eq!(base58_decode("5R"), Err(AddressError::BlockOverflow));
        assert_eq!(
            base58_decode("zzzzzzzzzzz"),
            Err(AddressError::BlockOverflow)
        );
        assert_eq!(base58_decode("1"), Err(AddressError::BadLength(1)));
        assert_eq!(base58_decode("0O"), Err(AddressError::BadChar('0')));
    }

    proptest! {
        #[test]
        fn base58_round_trip(data in proptest::collection::vec(any::<u8>(), 0..90)) {
            let text = base58_encode(&data);
            prop_assert_eq!(base58_decode(&text).unwrap(), data);
        }

        #[test]
        fn garbage_never_panics(text in "[1-9A-Za-z]{0,120}") {
            if let Ok(a) = Address::parse(&text) {
                prop_assert_eq!(a.to_string(), text.clone());
            }
            if let Ok(bytes) = base58_decode(&text) {
                prop_assert_eq!(base58_encode(&bytes), text);
            }
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let text = String::from_utf8_lossy(&bytes);
            let _ = Address::parse(&text);
        }
    }
}
