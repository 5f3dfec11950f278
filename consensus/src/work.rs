//! 256-bit targets and the work they stand for.
//!
//! Targets are compared against proof-of-work hashes read as little-endian 256-bit integers, as
//! Bitcoin does. Work is the expected number of hashes to meet a target, `floor(2^256 / (t + 1))`,
//! which is what cumulative chain work and PPLNS weights add up. Everything here is integer maths.

use bitcoin::pow::CompactTarget;

#[allow(clippy::manual_div_ceil, clippy::assign_op_pattern)]
mod wide {
    uint::construct_uint! {
        /// Unsigned 256-bit integer (four little-endian u64 limbs).
        pub struct U256(4);
    }
    uint::construct_uint! {
        /// Unsigned 512-bit integer, for intermediate products that must not overflow.
        pub struct U512(8);
    }
}
pub use wide::{U256, U512};

/// Widens a 256-bit integer.
pub fn u512(x: U256) -> U512 {
    let mut limbs = [0u64; 8];
    limbs[..4].copy_from_slice(&x.0);
    U512(limbs)
}

/// The full 512-bit product of two 256-bit integers (cannot overflow).
pub fn full_mul(a: U256, b: U256) -> U512 {
    u512(a) * u512(b)
}

/// Largest work one share may claim: 2^80 expected hashes.
///
/// Derivation: a share needs at most the work of a parent-chain block to be useful, and a pool
/// whose 10 s shares need 2^80 hashes runs at 2^80 / 10 s ~ 1.2e23 H/s, over 100 times the whole
/// Bitcoin network of 2026. The bound keeps every weight, and every window total
/// (< 2^14 shares x 5 x 2^80 < 2^97), far inside `u128`.
pub const MAX_SHARE_WORK: u128 = 1 << 80;

/// Work: the expected number of hashes needed to meet a target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Work(pub u128);

impl Work {
    pub const ZERO: Work = Work(0);

    /// Sum that saturates at `u128::MAX` instead of wrapping; at 2^80 per share it would take
    /// 2^48 shares (89 million years of 10 s shares) to get there.
    pub fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    /// Difficulty relative to Bitcoin's difficulty-1 target (work / 2^32), for display only.
    pub fn difficulty_f64(self) -> f64 {
        self.0 as f64 / 4_294_967_296.0
    }
}

/// A 256-bit proof-of-work target: a hash meets it when, read as a little-endian integer, it is
/// less than or equal to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target(pub U256);

impl Target {
    /// Decodes compact bits exactly as Bitcoin Core does (negative and overflowing encodings
    /// decode to zero, which no hash can meet... except the all-zero hash; callers bound targets).
    pub fn from_compact(bits: CompactTarget) -> Target {
        let t = bitcoin::Target::from_compact(bits);
        Target(U256::from_little_endian(&t.to_le_bytes()))
    }

    /// Encodes to compact bits, rounding down (compact keeps 23 bits of mantissa), as Bitcoin
    /// Core's `GetCompact` does.
    pub fn to_compact(self) -> CompactTarget {
        bitcoin::Target::from_le_bytes(self.to_le_bytes()).to_compact_lossy()
    }

    pub fn to_le_bytes(self) -> [u8; 32] {
        self.0.to_little_endian()
    }

    pub fn from_le_bytes(bytes: [u8; 32]) -> Target {
        Target(U256::from_little_endian(&bytes))
    }

    /// Whether a proof-of-work hash (little-endian bytes, as hashed) meets this target.
    pub fn is_met_by(&self, pow_hash_le: &[u8; 32]) -> bool {
        U256::from_little_endian(pow_hash_le) <= self.0
    }

    /// Expected hashes to meet this target, `floor(2^256 / (target + 1))`, saturating at
    /// `u128::MAX` (only targets below 2^128 get there, and share targets are bounded far above).
    pub fn work(&self) -> Work {
        let w = work_u256(self.0);
        if w > U256::from(u128::MAX) {
            Work(u128::MAX)
        } else {
            Work(w.as_u128())
        }
    }

    /// The largest target whose work is at least `work` (the inverse of [`Target::work`]):
    /// `floor(2^256 / work) - 1`, computed from `2^256 - 1 = q * work + r` without 257 bits.
    pub fn from_work(work: Work) -> Target {
        if work.0 <= 1 {
            return Target(U256::MAX);
        }
        let w = U256::from(work.0);
        let (q, r) = U256::MAX.div_mod(w);
        // floor(2^256 / w) is q + 1 when w divides 2^256 (r + 1 == w), else q.
        if r + U256::one() == w {
            Target(q)
        } else {
            Target(q - U256::one())
        }
    }

    /// Difficulty relative to Bitcoin's difficulty-1 target, for display only.
    pub fn difficulty_f64(&self) -> f64 {
        self.work().difficulty_f64()
    }
}

/// `floor(2^256 / (t + 1))` without a 257-bit intermediate: `(~t / (t + 1)) + 1`, Bitcoin Core's
/// `GetBlockProof` identity.
fn work_u256(t: U256) -> U256 {
    if t == U256::MAX {
        return U256::one();
    }
    (!t / (t + U256::one())) + U256::one()
}

/// `floor(a * b / c)` exactly, for `c > 0`, with a 256-bit intermediate product. The common case
/// (product fits in 128 bits) stays in native arithmetic.
pub fn mul_div_floor(a: u128, b: u128, c: u128) -> u128 {
    debug_assert!(c > 0);
    if c == 0 {
        return 0;
    }
    if let Some(p) = a.checked_mul(b) {
        // Hardware 64-bit division when everything fits: the common case for window weights.
        if let (Ok(p64), Ok(c64)) = (u64::try_from(p), u64::try_from(c)) {
            return (p64 / c64) as u128;
        }
        return p / c;
    }
    let q = full_mul(U256::from(a), U256::from(b)) / U512::from(c);
    // q <= a*b/c; callers only ask for quotients that fit (a <= c or b <= c).
    let limbs = q.0;
    ((limbs[1] as u128) << 64) | limbs[0] as u128
}

/// Whether `a * b < c * d`, exactly.
pub fn mul_lt(a: u128, b: u128, c: u128, d: u128) -> bool {
    full_mul(U256::from(a), U256::from(b)) < full_mul(U256::from(c), U256::from(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn diff1_work_is_2_pow_32_ish() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x1d00ffff));
        // 2^256 / (0xffff * 2^208 + 1) = 4295032833 (Bitcoin's chainwork per diff-1 block).
        assert_eq!(t.work(), Work(0x1_0001_0001));
    }

    #[test]
    fn regtest_target_work_is_two() {
        let t = Target::from_compact(CompactTarget::from_consensus(0x207fffff));
        assert_eq!(t.work(), Work(2));
    }

    #[test]
    fn compact_round_trip_of_known_values() {
        for bits in [
            0x1d00ffffu32,
            0x207fffff,
            0x1b04864c,
            0x170331db,
            0x1e0ffff0,
        ] {
            let c = CompactTarget::from_consensus(bits);
            assert_eq!(Target::from_compact(c).to_compact(), c);
        }
    }

    #[test]
    fn mul_div_handles_wide_products() {
        let a = 1u128 << 100;
        let b = 1u128 << 60;
        let c = 1u128 << 101;
        assert_eq!(mul_div_floor(a, b, c), 1u128 << 59);
        assert_eq!(mul_div_floor(7, 3, 2), 10);
        assert!(mul_lt(1 << 100, 1 << 60, 1 << 100, (1 << 60) + 1));
    }

    proptest! {
        #[test]
        fn compact_normalised_round_trips(exp in 3u32..=0x20, mantissa in 0x008000u32..=0x7fffff) {
            let c = CompactTarget::from_consensus((exp << 24) | mantissa);
            prop_assert_eq!(Target::from_compact(c).to_compact(), c);
        }

        #[test]
        fn target_to_compact_rounds_down(limbs in proptest::array::uniform4(any::<u64>())) {
            let t = Target(U256(limbs));
            let back = Target::from_compact(t.to_compact());
            prop_assert!(back <= t);
            // Only low bits are lost: compact keeps at least the top 16 significant bits.
            prop_assert!(t.0 - back.0 < (U256::one() << t.0.bits().saturating_sub(16).max(1)));
        }

        #[test]
        fn work_and_target_are_inverse(w in 2u128..(1u128 << 100)) {
            let t = Target::from_work(Work(w));
            prop_assert!(t.work() >= Work(w));
            prop_assert!(Target(t.0 + U256::one()).work() < Work(w) || t.0 == U256::MAX);
        }

        #[test]
        fn mul_div_matches_u256(a in any::<u128>(), b in any::<u64>(), c in 1u128..) {
            let expect = full_mul(U256::from(a), U256::from(b)) / U512::from(c);
            if expect <= U512::from(u128::MAX) {
                prop_assert_eq!(U512::from(mul_div_floor(a, b as u128, c)), expect);
            }
        }
    }
}
