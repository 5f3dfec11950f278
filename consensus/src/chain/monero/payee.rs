//! Who a Monero share pays: a wallet's public spend and view keys and whether they are a
//! subaddress's (which changes how the output is derived, see [`outputs`](super::outputs)).
//!
//! The network is not part of a payee: one pool runs on one network, and the keys alone decide
//! the outputs. An integrated address is refused: its payment id would have to travel
//! (encrypted) in the `tx_extra` nonce field, which holds one per transaction and in a miner
//! transaction is the extra nonce, so a payout could not carry it and the recipient (typically
//! an exchange) could not attribute the funds.
//!
//! Canonical bytes, 65: `kind:u8 (0 standard, 1 subaddress) || spend[32] || view[32]`. Payees
//! order by these bytes (PPLNS sorts and merges payees; the order must be the same on every
//! node and independent of the Rust layout), which is what the derived `Ord` gives because the
//! fields are declared in that order and `false < true`.

use super::address::{Address, AddressKind, Network};
use super::hash::Hash32;
use super::keys::check_key;

/// Bytes of [`Payee::to_bytes`]: kind (1) + spend key (32) + view key (32).
pub const PAYEE_BYTES: usize = 65;
/// Kind byte of a wallet's main address.
pub const PAYEE_STANDARD: u8 = 0;
/// Kind byte of a subaddress.
pub const PAYEE_SUBADDRESS: u8 = 1;

/// A payout destination. Field order is the byte order (see the module doc): do not reorder.
///
/// The fields are public for building test data; [`Payee::new`], [`Payee::from_bytes`] and
/// [`Payee::from_address`] check both keys, and output derivation refuses invalid ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Payee {
    /// A subaddress `(D, C)` rather than a main address `(B, A)`.
    pub subaddress: bool,
    /// Public spend key (`B`, or `D` for a subaddress).
    pub spend: Hash32,
    /// Public view key (`A`, or `C` for a subaddress).
    pub view: Hash32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayeeError {
    #[error("a payee is {PAYEE_BYTES} bytes, got {0}")]
    WrongLength(usize),
    #[error("unknown payee kind {0}")]
    UnknownKind(u8),
    #[error("a payee key is not a canonical curve point")]
    InvalidKey,
    #[error("an integrated address cannot be paid by a miner transaction (its payment id has nowhere to go)")]
    Integrated,
}

impl Payee {
    /// A payee from its keys, both checked (Monero's `check_key`, canonical encodings only).
    pub fn new(spend: Hash32, view: Hash32, subaddress: bool) -> Result<Payee, PayeeError> {
        if !check_key(&spend) || !check_key(&view) {
            return Err(PayeeError::InvalidKey);
        }
        Ok(Payee {
            subaddress,
            spend,
            view,
        })
    }

    /// The 65 canonical bytes.
    pub fn to_bytes(&self) -> [u8; PAYEE_BYTES] {
        let mut b = [0u8; PAYEE_BYTES];
        b[0] = if self.subaddress {
            PAYEE_SUBADDRESS
        } else {
            PAYEE_STANDARD
        };
        b[1..33].copy_from_slice(&self.spend);
        b[33..].copy_from_slice(&self.view);
        b
    }

    /// Parses the 65 canonical bytes: exact length, a known kind, both keys valid points.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payee, PayeeError> {
        let p = Payee::from_bytes_keys_unchecked(bytes)?;
        Payee::new(p.spend, p.view, p.subaddress)
    }

    /// [`Payee::from_bytes`] without the two key checks (a point decompression and
    /// recompression each, ~10 us): the length and kind only. For a caller that derives outputs
    /// to the payee right after, since derivation refuses an invalid key itself
    /// ([`outputs::payout_outputs`](super::outputs::payout_outputs)); a payout check of 200
    /// payees would otherwise spend 4 ms per share on checks the derivation repeats.
    pub fn from_bytes_keys_unchecked(bytes: &[u8]) -> Result<Payee, PayeeError> {
        if bytes.len() != PAYEE_BYTES {
            return Err(PayeeError::WrongLength(bytes.len()));
        }
        let subaddress = match bytes[0] {
            PAYEE_STANDARD => false,
            PAYEE_SUBADDRESS => true,
            other => return Err(PayeeError::UnknownKind(other)),
        };
        let mut spend = [0u8; 32];
        let mut view = [0u8; 32];
        spend.copy_from_slice(&bytes[1..33]);
        view.copy_from_slice(&bytes[33..]);
        Ok(Payee {
            subaddress,
            spend,
            view,
        })
    }

    /// The payee of a standard address or subaddress; an integrated address is refused.
    pub fn from_address(address: &Address) -> Result<Payee, PayeeError> {
        let subaddress = match address.kind {
            AddressKind::Standard => false,
            AddressKind::Subaddress => true,
            AddressKind::Integrated { .. } => return Err(PayeeError::Integrated),
        };
        Payee::new(address.spend_public, address.view_public, subaddress)
    }

    /// The payee's address on `network`.
    pub fn to_address(&self, network: Network) -> Address {
        Address {
            network,
            kind: if self.subaddress {
                AddressKind::Subaddress
            } else {
                AddressKind::Standard
            },
            spend_public: self.spend,
            view_public: self.view,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{hash_to_scalar, secret_key_to_public_key};
    use super::*;
    use proptest::prelude::*;

    fn pubkey(seed: &[u8]) -> Hash32 {
        secret_key_to_public_key(&hash_to_scalar(seed).to_bytes()).unwrap()
    }

    fn payee(seed: u8, subaddress: bool) -> Payee {
        Payee::new(pubkey(&[seed, 1]), pubkey(&[seed, 2]), subaddress).unwrap()
    }

    #[test]
    fn bytes_round_trip_and_rejections() {
        for sub in [false, true] {
            let p = payee(1, sub);
            let b = p.to_bytes();
            assert_eq!(b[0], u8::from(sub));
            assert_eq!(Payee::from_bytes(&b), Ok(p));
            assert_eq!(
                Payee::from_bytes(&b[..64]),
                Err(PayeeError::WrongLength(64))
            );
            let mut long = b.to_vec();
            long.push(0);
            assert_eq!(Payee::from_bytes(&long), Err(PayeeError::WrongLength(66)));
            let mut kind = b;
            kind[0] = 2;
            assert_eq!(Payee::from_bytes(&kind), Err(PayeeError::UnknownKind(2)));
            // y = p: a non-canonical encoding of y = 0, in either key.
            let mut bad = [0xffu8; 32];
            bad[0] = 0xed;
            bad[31] = 0x7f;
            let mut k = b;
            k[1..33].copy_from_slice(&bad);
            assert_eq!(Payee::from_bytes(&k), Err(PayeeError::InvalidKey));
            let mut k = b;
            k[33..].copy_from_slice(&bad);
            assert_eq!(Payee::from_bytes(&k), Err(PayeeError::InvalidKey));
        }
    }

    #[test]
    fn addresses() {
        for sub in [false, true] {
            let p = payee(3, sub);
            for net in [Network::Mainnet, Network::Stagenet, Network::Testnet] {
                let a = p.to_address(net);
                assert_eq!(a.is_subaddress(), sub);
                assert_eq!(Payee::from_address(&a), Ok(p));
                let parsed = Address::parse(&a.to_string()).unwrap();
                assert_eq!(Payee::from_address(&parsed), Ok(p));
            }
        }
        let integrated = Address {
            kind: AddressKind::Integrated { payment_id: [1; 8] },
            ..payee(4, false).to_address(Network::Mainnet)
        };
        assert_eq!(
            Payee::from_address(&integrated),
            Err(PayeeError::Integrated)
        );
    }

    proptest! {
        /// The derived order is the order of the canonical bytes.
        #[test]
        fn order_is_byte_order(a in any::<(bool, [u8; 32], [u8; 32])>(), b in any::<(bool, [u8; 32], [u8; 32])>()) {
            let pa = Payee { subaddress: a.0, spend: a.1, view: a.2 };
            let pb = Payee { subaddress: b.0, spend: b.1, view: b.2 };
            prop_assert_eq!(pa.cmp(&pb), pa.to_bytes().cmp(&pb.to_bytes()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..70)) {
            if let Ok(p) = Payee::from_bytes(&bytes) {
                prop_assert_eq!(&p.to_bytes()[..], &bytes[..]);
            }
        }
    }

    #[test]
    fn order_on_close_pairs() {
        let base = payee(5, false);
        let mut other = base;
        other.view[31] ^= 1;
        assert_eq!(base.cmp(&other), base.to_bytes().cmp(&other.to_bytes()));
        let sub = Payee {
            subaddress: true,
            ..base
        };
        assert!(base < sub);
        let mut low_spend = sub;
        low_spend.spend = [0; 32];
        // The kind byte comes first: any standard payee sorts before any subaddress.
        assert!(base < low_spend);
    }
}
