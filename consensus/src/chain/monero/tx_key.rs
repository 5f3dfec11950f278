//! The transaction secret key `r` of a share's miner transaction, derived rather than chosen.
//!
//! Why deterministic. Every output of the miner transaction is `Hs(8·r·A || i)·G + B`; a node
//! can only check that the outputs pay the PPLNS payees (and nobody else) if it knows `r`. A
//! random `r` would have to be published, and then a miner could pick it: reusing the `r` of an
//! earlier block towards the same payees gives one-time keys that already exist on chain, and
//! Monero's wallets treat a repeated one-time key as a burn (only one of the outputs can ever be
//! spent, since both have the same key image). Deriving `r` from what makes each share unique
//! takes the choice away. Monero P2Pool does the same with its own inputs (`get_tx_keys`: a
//! Keccak of a domain string, the sidechain seed and the Monero parent id, retried with a counter
//! until the reduced scalar is non-zero).
//!
//! Here: `r = Hs("otedama/monero-tx-key" || consensus_id || prev_id)`, with `Hs` Keccak-256
//! reduced modulo the group order `l`:
//!
//! * `consensus_id` separates pools (two pools paying the same miner on the same parent never
//!   share a key);
//! * `prev_id` is the Monero block the candidate builds on, so a share re-mined on a new parent
//!   gets a new key, and no two blocks of the main chain ever have the same key.
//!
//! Every share of the pool built on one Monero parent has the same `r`. That repeats no
//! one-time key on chain: all those shares are candidates for the same height (the child of
//! `prev_id`), and the main chain has one block per height, so at most one of them is ever a
//! block whose outputs count. It is also what makes checking a window cheap: the curve work of a
//! payee under `r` is shared by the ~12 shares of one parent
//! ([`derivation_memo`](super::derivation_memo)). An earlier rule also hashed the share's side
//! commitment, giving every share its own `r` and every check all its curve work again, for no
//! protection the parent does not already give. Monero P2Pool's key (`get_tx_keys`) has the same
//! two inputs: its sidechain's consensus seed and the Monero parent.
//!
//! Zero is not a usable secret key (`R = 0·G` is the identity, and every derivation would be the
//! identity too). A reduced Keccak output is zero with probability `1/l ≈ 2^-252`, so this never
//! happens by chance and nobody can aim for it (it needs a Keccak preimage of a multiple of `l`).
//! The rule must still be total, i.e. give every node the same answer for every input with no
//! panic and no "undefined": so a zero result is re-hashed with a one-byte counter `1, 2, ...`
//! appended, and after 255 zeros (probability `2^-2000`) the key is the scalar 1. Every branch is
//! defined and tested for shape, never reached in practice.

use super::hash::Hash32;
use super::keys::hash_to_scalar;
use curve25519_dalek::scalar::Scalar;

/// Domain separator (21 bytes, no terminator): no other Otedama or Monero hash starts with it.
pub const TX_KEY_DOMAIN: &[u8] = b"otedama/monero-tx-key";

/// The deterministic transaction secret key of a share's miner transaction: a non-zero scalar
/// below `l`, as 32 little-endian bytes (see the module doc).
pub fn tx_secret_key(consensus_id: &[u8; 32], prev_id: &Hash32) -> [u8; 32] {
    let mut preimage = Vec::with_capacity(TX_KEY_DOMAIN.len() + 2 * 32 + 1);
    preimage.extend_from_slice(TX_KEY_DOMAIN);
    preimage.extend_from_slice(consensus_id);
    preimage.extend_from_slice(prev_id);
    non_zero_scalar(preimage, hash_to_scalar)
}

/// `hs(preimage)`, re-hashed with a counter byte appended while it is zero; 1 if all 256 tries
/// are zero. `hs` is a parameter so the retry path can be exercised with a hash that returns
/// zero.
fn non_zero_scalar(mut preimage: Vec<u8>, hs: impl Fn(&[u8]) -> Scalar) -> [u8; 32] {
    let s = hs(&preimage);
    if s != Scalar::ZERO {
        return s.to_bytes();
    }
    preimage.push(0);
    for counter in 1..=u8::MAX {
        if let Some(last) = preimage.last_mut() {
            *last = counter;
        }
        let s = hs(&preimage);
        if s != Scalar::ZERO {
            return s.to_bytes();
        }
    }
    Scalar::ONE.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::keys::{scalar, secret_key_to_public_key};
    use super::*;

    fn inputs() -> ([u8; 32], Hash32) {
        ([1; 32], [3; 32])
    }

    #[test]
    fn deterministic_reduced_and_non_zero() {
        let (c, p) = inputs();
        let k = tx_secret_key(&c, &p);
        assert_eq!(k, tx_secret_key(&c, &p));
        assert_ne!(k, [0; 32]);
        // A valid secret key: reduced, so it has a public key.
        assert!(scalar(&k).is_ok());
        assert!(secret_key_to_public_key(&k).is_ok());
        // It is Hs of the documented preimage.
        let pre = [TX_KEY_DOMAIN, &c[..], &p[..]].concat();
        assert_eq!(k, hash_to_scalar(&pre).to_bytes());
    }

    #[test]
    fn every_input_byte_matters() {
        let (c, p) = inputs();
        let k = tx_secret_key(&c, &p);
        let mut seen = std::collections::HashSet::new();
        seen.insert(k);
        for i in 0..32 {
            for bit in [0x01u8, 0x80] {
                let mut c2 = c;
                c2[i] ^= bit;
                let mut p2 = p;
                p2[i] ^= bit;
                for k2 in [tx_secret_key(&c2, &p), tx_secret_key(&c, &p2)] {
                    assert!(seen.insert(k2), "byte {i} bit {bit:#x} gave a repeated key");
                }
            }
        }
        // The two inputs are not interchangeable.
        assert_ne!(tx_secret_key(&p, &c), k);
    }

    #[test]
    fn zero_is_retried_with_a_counter_then_one() {
        // A hash that is zero unless the preimage ends with counter 3.
        let pre = b"x".to_vec();
        let k = non_zero_scalar(pre.clone(), |b| {
            if b.len() == 2 && b[1] == 3 {
                Scalar::from(7u8)
            } else {
                Scalar::ZERO
            }
        });
        assert_eq!(k, Scalar::from(7u8).to_bytes());
        // Counters 1..=255 are all tried, then 1.
        let tried = std::cell::Cell::new(0u32);
        let k = non_zero_scalar(pre, |_| {
            tried.set(tried.get() + 1);
            Scalar::ZERO
        });
        assert_eq!(tried.get(), 256);
        assert_eq!(k, Scalar::ONE.to_bytes());
    }
}
