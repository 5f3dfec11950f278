//! Monero's one-time output keys (CryptoNote "stealth addresses", `src/crypto/crypto.cpp`) and
//! subaddress keys (`src/device/device_default.cpp`), over Ed25519 with curve25519-dalek.
//!
//! A payment to the address `(A, B)` (view and spend public keys) from a transaction with secret
//! key `r` (public `R = r·G` in `tx_extra`):
//!
//! * derivation `D = 8·r·A`, which the recipient computes as `8·a·R`;
//! * one-time key of output `i`: `P = Hs(D || varint(i))·G + B`, where `Hs` is Keccak-256
//!   reduced modulo the group order `l`;
//! * view tag of output `i`: the first byte of `Keccak("view_tag" || D || varint(i))`, which lets
//!   a wallet skip 255 of 256 foreign outputs without the point arithmetic.
//!
//! A subaddress `(C, D)` at index `(major, minor) != (0, 0)` of a wallet with keys `(a, B)` is
//! `D = B + m·G`, `C = a·D` with `m = Hs("SubAddr\0" || a || major || minor)` (indices as 4-byte
//! little-endian). Paying one uses a per-output transaction key `R_i = r_i·D` and the derivation
//! `8·r_i·C` (the wallet again computes `8·a·R_i`).
//!
//! Keys are 32-byte arrays on the outside. A public key must be the canonical encoding of a
//! curve point, a secret key a scalar below `l`, as Monero's `check_key` and `sc_check` demand.

use super::hash::{keccak256, keccak256_concat, Hash32};
use super::varint::varint;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;

/// Domain separator of view tags (8 bytes, no terminator), `config::HASH_KEY_VIEW_TAG`.
pub const VIEW_TAG_DOMAIN: &[u8] = b"view_tag";
/// Domain separator of subaddress secrets (with its terminating zero byte, as Monero hashes
/// `sizeof(config::HASH_KEY_SUBADDRESS)`).
pub const SUBADDRESS_DOMAIN: &[u8] = b"SubAddr\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("not a canonical encoding of a curve point")]
    InvalidPoint,
    #[error("secret key is not a reduced scalar")]
    InvalidScalar,
}

/// A point from its encoding; only canonical encodings are points here (a non-canonical `y`
/// would give two encodings of one key, and two addresses for one wallet).
pub fn point(bytes: &[u8; 32]) -> Result<EdwardsPoint, KeyError> {
    let p = CompressedEdwardsY(*bytes)
        .decompress()
        .ok_or(KeyError::InvalidPoint)?;
    if p.compress().0 != *bytes {
        return Err(KeyError::InvalidPoint);
    }
    Ok(p)
}

/// Whether `bytes` is a valid public key (Monero's `check_key`, canonical encodings only).
pub fn check_key(bytes: &[u8; 32]) -> bool {
    point(bytes).is_ok()
}

/// A secret key: a scalar below the group order (Monero's `sc_check`).
pub fn scalar(bytes: &[u8; 32]) -> Result<Scalar, KeyError> {
    Option::from(Scalar::from_canonical_bytes(*bytes)).ok_or(KeyError::InvalidScalar)
}

/// `Hs`: Keccak-256 reduced modulo `l` (Monero's `hash_to_scalar`, `sc_reduce32`).
pub fn hash_to_scalar(data: &[u8]) -> Scalar {
    Scalar::from_bytes_mod_order(keccak256(data))
}

fn hash_parts_to_scalar(parts: &[&[u8]]) -> Scalar {
    Scalar::from_bytes_mod_order(keccak256_concat(parts))
}

/// `a·G`.
pub fn secret_key_to_public_key(secret: &[u8; 32]) -> Result<Hash32, KeyError> {
    Ok(EdwardsPoint::mul_base(&scalar(secret)?).compress().0)
}

/// The shared secret `8·secret·public` of a transaction key and a view key.
pub fn generate_key_derivation(public: &[u8; 32], secret: &[u8; 32]) -> Result<Hash32, KeyError> {
    let p = point(public)?;
    let s = scalar(secret)?;
    Ok((s * p).mul_by_cofactor().compress().0)
}

/// `Hs(D || varint(i))`, the scalar that output `i` adds to the spend key.
pub fn derivation_to_scalar(derivation: &[u8; 32], index: u64) -> Scalar {
    hash_parts_to_scalar(&[derivation, &varint(index)])
}

/// One-time public key of output `index`: `Hs(D || varint(index))·G + spend_public`.
pub fn derive_public_key(
    derivation: &[u8; 32],
    index: u64,
    spend_public: &[u8; 32],
) -> Result<Hash32, KeyError> {
    let b = point(spend_public)?;
    Ok(
        (EdwardsPoint::mul_base(&derivation_to_scalar(derivation, index)) + b)
            .compress()
            .0,
    )
}

/// One-time secret key of output `index` (the recipient's): `Hs(D || varint(index)) + b`.
pub fn derive_secret_key(
    derivation: &[u8; 32],
    index: u64,
    spend_secret: &[u8; 32],
) -> Result<Hash32, KeyError> {
    Ok((derivation_to_scalar(derivation, index) + scalar(spend_secret)?).to_bytes())
}

/// View tag of output `index`: the first byte of `Keccak("view_tag" || D || varint(index))`.
pub fn derive_view_tag(derivation: &[u8; 32], index: u64) -> u8 {
    keccak256_concat(&[VIEW_TAG_DOMAIN, derivation, &varint(index)])[0]
}

/// The subaddress secret `m = Hs("SubAddr\0" || a || major || minor)`.
pub fn subaddress_secret(view_secret: &[u8; 32], major: u32, minor: u32) -> Scalar {
    hash_parts_to_scalar(&[
        SUBADDRESS_DOMAIN,
        view_secret,
        &major.to_le_bytes(),
        &minor.to_le_bytes(),
    ])
}

/// The (spend, view) public keys of subaddress `(major, minor)` of the wallet with view secret
/// `a` and spend public key `B`. Index (0, 0) is the main address `(B, a·G)`.
pub fn subaddress_keys(
    view_secret: &[u8; 32],
    spend_public: &[u8; 32],
    major: u32,
    minor: u32,
) -> Result<(Hash32, Hash32), KeyError> {
    let a = scalar(view_secret)?;
    let b = point(spend_public)?;
    if major == 0 && minor == 0 {
        return Ok((*spend_public, EdwardsPoint::mul_base(&a).compress().0));
    }
    let d = b + EdwardsPoint::mul_base(&subaddress_secret(view_secret, major, minor));
    Ok((d.compress().0, (a * d).compress().0))
}

/// What a transaction puts on chain for one output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DerivedOutput {
    /// The one-time public key.
    pub key: Hash32,
    pub view_tag: u8,
    /// For an output to a subaddress, the transaction key `r·D` the recipient derives with (an
    /// entry of the additional public keys in `tx_extra`); for a standard address, `None`:
    /// the recipient uses the main `R = r·G`.
    pub subaddress_tx_key: Option<Hash32>,
}

/// The one-time key and view tag of output `index` paying `(spend_public, view_public)` from a
/// transaction with secret key `tx_secret`. For a subaddress the derivation uses the per-output
/// key `tx_secret·spend_public` (returned for `tx_extra`'s additional keys).
pub fn derive_output(
    tx_secret: &[u8; 32],
    spend_public: &[u8; 32],
    view_public: &[u8; 32],
    is_subaddress: bool,
    index: u64,
) -> Result<DerivedOutput, KeyError> {
    let (derivation, subaddress_tx_key) =
        payee_derivation(tx_secret, spend_public, view_public, is_subaddress)?;
    output_from_derivation(&derivation, index, spend_public, subaddress_tx_key)
}

/// The index-free half of [`derive_output`], its two variable-base multiplications: the
/// derivation `8·r·view` (in every case) and, for a subaddress, its transaction key `r·spend`.
pub fn payee_derivation(
    tx_secret: &[u8; 32],
    spend_public: &[u8; 32],
    view_public: &[u8; 32],
    is_subaddress: bool,
) -> Result<(Hash32, Option<Hash32>), KeyError> {
    let derivation = generate_key_derivation(view_public, tx_secret)?;
    let subaddress_tx_key = if is_subaddress {
        Some((scalar(tx_secret)? * point(spend_public)?).compress().0)
    } else {
        None
    };
    Ok((derivation, subaddress_tx_key))
}

/// [`derive_output`] from its two variable-base multiplications already done: the derivation
/// `8·r·view` and, for a subaddress, `r·spend`. Both depend on the transaction key and the payee
/// only, not on the output's index, so a node that checks many outputs to one payee under one
/// key computes them once ([`super::derivation_memo`]); what is left here is one fixed-base
/// multiplication and two hashes.
pub fn output_from_derivation(
    derivation: &[u8; 32],
    index: u64,
    spend_public: &[u8; 32],
    subaddress_tx_key: Option<Hash32>,
) -> Result<DerivedOutput, KeyError> {
    Ok(DerivedOutput {
        key: derive_public_key(derivation, index, spend_public)?,
        view_tag: derive_view_tag(derivation, index),
        subaddress_tx_key,
    })
}

/// A wallet's check of output `index`: whether the one-time `output_key` is to `spend_public`
/// under the transaction key `tx_public` (`R`, or the output's additional key), and the view tag
/// matches.
pub fn output_is_mine(
    view_secret: &[u8; 32],
    spend_public: &[u8; 32],
    tx_public: &[u8; 32],
    index: u64,
    output_key: &[u8; 32],
    view_tag: Option<u8>,
) -> Result<bool, KeyError> {
    let derivation = generate_key_derivation(tx_public, view_secret)?;
    if let Some(tag) = view_tag {
        if derive_view_tag(&derivation, index) != tag {
            return Ok(false);
        }
    }
    Ok(derive_public_key(&derivation, index, spend_public)? == *output_key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any 32 bytes as keys: a value or an error, never a panic.
        #[test]
        fn arbitrary_keys_never_panic(p in any::<[u8; 32]>(), s in any::<[u8; 32]>(), i in any::<u64>()) {
            let _ = point(&p);
            let _ = scalar(&s);
            let _ = generate_key_derivation(&p, &s);
            let _ = derive_public_key(&s, i, &p);
            let _ = derive_secret_key(&p, i, &s);
            let _ = subaddress_keys(&s, &p, 1, 2);
            let _ = derive_output(&s, &p, &p, i % 2 == 0, i);
        }

        /// Whatever the keys and index, the recipient finds what the sender derived, for
        /// standard addresses and subaddresses.
        #[test]
        fn sender_and_recipient_agree(seed in any::<[u8; 8]>(), index in any::<u64>(), major in 0u32..4, minor in 0u32..4) {
            let b = hash_to_scalar(&[&seed[..], b"spend"].concat()).to_bytes();
            let a = hash_to_scalar(&[&seed[..], b"view"].concat()).to_bytes();
            let r = hash_to_scalar(&[&seed[..], b"tx"].concat()).to_bytes();
            let b_pub = secret_key_to_public_key(&b).unwrap();
            let (spend, view) = subaddress_keys(&a, &b_pub, major, minor).unwrap();
            let is_sub = (major, minor) != (0, 0);
            let out = derive_output(&r, &spend, &view, is_sub, index).unwrap();
            let tx_key = out.subaddress_tx_key.unwrap_or(secret_key_to_public_key(&r).unwrap());
            prop_assert!(output_is_mine(&a, &spend, &tx_key, index, &out.key, Some(out.view_tag)).unwrap());
        }
    }

    fn key(seed: u8) -> [u8; 32] {
        hash_to_scalar(&[seed]).to_bytes()
    }

    #[test]
    fn payment_round_trip_standard_and_subaddress() {
        let (a, b) = (key(1), key(2));
        let (a_pub, b_pub) = (
            secret_key_to_public_key(&a).unwrap(),
            secret_key_to_public_key(&b).unwrap(),
        );
        let r = key(3);
        let r_pub = secret_key_to_public_key(&r).unwrap();
        for index in [0u64, 1, 200, 1 << 40] {
            let out = derive_output(&r, &b_pub, &a_pub, false, index).unwrap();
            assert!(out.subaddress_tx_key.is_none());
            assert!(
                output_is_mine(&a, &b_pub, &r_pub, index, &out.key, Some(out.view_tag)).unwrap()
            );
            // The recipient can spend it: x·G = P with x = Hs(D||i) + b.
            let d = generate_key_derivation(&r_pub, &a).unwrap();
            let x = derive_secret_key(&d, index, &b).unwrap();
            assert_eq!(secret_key_to_public_key(&x).unwrap(), out.key);
            // Another wallet does not see it.
            assert!(!output_is_mine(&key(9), &b_pub, &r_pub, index, &out.key, None).unwrap());
        }
        let (sd, sc) = subaddress_keys(&a, &b_pub, 0, 1).unwrap();
        assert_ne!(sd, b_pub);
        assert_eq!(subaddress_keys(&a, &b_pub, 0, 0).unwrap(), (b_pub, a_pub));
        let out = derive_output(&r, &sd, &sc, true, 3).unwrap();
        let r_i = out.subaddress_tx_key.unwrap();
        assert!(output_is_mine(&a, &sd, &r_i, 3, &out.key, Some(out.view_tag)).unwrap());
        // With the main key R instead, the subaddress output is not found.
        assert!(!output_is_mine(&a, &sd, &r_pub, 3, &out.key, None).unwrap());
    }

    #[test]
    fn invalid_keys_are_errors() {
        // y = p (non-canonical encoding of y = 0).
        let mut non_canonical = [0xff; 32];
        non_canonical[0] = 0xed;
        non_canonical[31] = 0x7f;
        assert_eq!(point(&non_canonical), Err(KeyError::InvalidPoint));
        assert_eq!(scalar(&[0xff; 32]), Err(KeyError::InvalidScalar));
        assert!(generate_key_derivation(&non_canonical, &key(1)).is_err());
        assert!(derive_public_key(&[0; 32], 0, &non_canonical).is_err());
    }
}
