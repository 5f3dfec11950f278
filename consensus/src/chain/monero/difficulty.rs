//! Monero's proof-of-work test (`check_hash` in `src/cryptonote_basic/difficulty.cpp`): a hash,
//! read as a 256-bit little-endian integer, meets difficulty `d` when `hash * d < 2^256`. The
//! difficulty is 128-bit since hard fork 12 (`difficulty_type`); the product is computed exactly
//! in 64-bit limbs, no floating point and no division.

use super::hash::Hash32;

/// Whether `hash` meets `difficulty`. Difficulty 0 is met by nothing (Monero never asks for it;
/// a zero from a peer must not mean "anything goes").
pub fn meets_difficulty(hash: &Hash32, difficulty: u128) -> bool {
    if difficulty == 0 {
        return false;
    }
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(&hash[8 * i..8 * i + 8]);
        *limb = u64::from_le_bytes(b);
    }
    let d = [difficulty as u64, (difficulty >> 64) as u64];
    // Schoolbook product into 6 limbs; it fits 256 bits iff limbs 4 and 5 are zero.
    let mut product = [0u64; 6];
    for (i, &h) in limbs.iter().enumerate() {
        let mut carry: u128 = 0;
        for (j, &dj) in d.iter().enumerate() {
            let t = u128::from(h) * u128::from(dj) + u128::from(product[i + j]) + carry;
            product[i + j] = t as u64;
            carry = t >> 64;
        }
        // i + 2 <= 5: the carry lands in a limb not yet written by this row.
        let t = u128::from(product[i + 2]) + carry;
        product[i + 2] = t as u64;
        debug_assert!(t >> 64 == 0, "a 256x128 product fits 384 bits");
    }
    product[4] == 0 && product[5] == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(top_byte: u8) -> Hash32 {
        let mut h = [0u8; 32];
        h[31] = top_byte;
        h
    }

    #[test]
    fn boundaries() {
        let max = [0xff; 32];
        assert!(meets_difficulty(&max, 1));
        assert!(!meets_difficulty(&max, 2));
        assert!(!meets_difficulty(&[0; 32], 0));
        assert!(meets_difficulty(&[0; 32], u128::MAX));
        // 0x7f.. * 2 < 2^256; 0x80.. * 2 = 2^256.
        let mut h = [0xff; 32];
        h[31] = 0x7f;
        assert!(meets_difficulty(&h, 2));
        assert!(!meets_difficulty(&le(0x80), 2));
        // Difficulty 2^64 (a carry into the second limb): hash < 2^192 passes.
        let mut small = [0xff; 32];
        small[24..].fill(0);
        assert!(meets_difficulty(&small, 1 << 64));
        small[24] = 1;
        assert!(!meets_difficulty(&small, 1 << 64));
        // Difficulty 2^127: hash < 2^129 passes.
        let mut h = [0u8; 32];
        h[16] = 1; // 2^128
        assert!(meets_difficulty(&h, 1 << 127));
        h[16] = 2; // 2^129
        assert!(!meets_difficulty(&h, 1 << 127));
    }
}
