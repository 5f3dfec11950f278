//! xmrig's `target`: a rig's difficulty on the wire, decoded exactly as xmrig decodes it.
//!
//! A Monero difficulty `d` is met by a RandomX hash `h` (a 256-bit little-endian integer) when
//! `h * d < 2^256`, about one hash in `d`. xmrig does not carry 256 bits: it compares only the
//! hash's top 64 bits, `u64::from_le_bytes(h[24..32]) < t64`, against a 64-bit target it reads
//! from the job's `target` string (`Job::setTarget`):
//!
//! * 8 hex digits, the 32-bit form: 4 bytes, a little-endian `t32`, and
//!   `t64 = (2^64 - 1) / ((2^32 - 1) / t32)` (integer divisions; `t32 = 0` divides by zero and is
//!   never sent);
//! * 16 hex digits, the 64-bit form: 8 bytes, a little-endian `t64` as is.
//!
//! and its difficulty is `(2^64 - 1) / t64`. The server sends difficulty `d` as the 32-bit form
//! `t32 = (2^32 - 1) / d` when `d <= 65535`, where xmrig's decoding gives back exactly
//! `t64 = (2^64 - 1) / d` (for larger `d` the 32-bit form rounds, by up to a factor of two just
//! below `2^32`), and as the 64-bit form `t64 = (2^64 - 1) / d` otherwise. Either way the rig
//! works to exactly `t64 = (2^64 - 1) / d`, and the server checks submits against the `t64` that
//! [`decode_target`] reads back from the string it sent, so server and rig never disagree on
//! which hashes meet a target.

use otedama_consensus::work::U256;
use otedama_consensus::Target;

/// Largest difficulty sent in the 32-bit form (the form's decoding is exact up to here).
pub const SHORT_FORM_MAX_DIFFICULTY: u64 = 65_535;

/// A rig's target: the `target` string of a job and the 64-bit target xmrig reads from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RigTarget {
    /// The `target` field: 8 or 16 lowercase hex digits.
    pub hex: String,
    /// What xmrig compares the hash's top 64 bits with ([`decode_target`] of `hex`).
    pub t64: u64,
}

impl RigTarget {
    /// The target of difficulty `d` (at least 1), in the form the module doc describes.
    pub fn from_difficulty(d: u64) -> RigTarget {
        let d = d.max(1);
        let hex = if d <= SHORT_FORM_MAX_DIFFICULTY {
            let t32 = (u32::MAX as u64 / d) as u32;
            hex::encode(t32.to_le_bytes())
        } else {
            hex::encode((u64::MAX / d).to_le_bytes())
        };
        RigTarget::from_hex(hex)
    }

    /// The 64-bit form of `t64` (at least 1).
    pub fn from_t64(t64: u64) -> RigTarget {
        RigTarget::from_hex(hex::encode(t64.max(1).to_le_bytes()))
    }

    fn from_hex(hex: String) -> RigTarget {
        // Both forms built above decode: t32 >= 1 (d <= 65535 < 2^32 - 1), t64 >= 1.
        let t64 = decode_target(&hex).unwrap_or(u64::MAX);
        RigTarget { hex, t64 }
    }

    /// The target for difficulty `d`, capped so that it is never harder than `share_target`:
    /// every hash that meets the share target then also meets the rig's, so the rig submits
    /// every share it finds. The cap goes out in the 64-bit form, exactly.
    pub fn capped(d: u64, share_target: &Target) -> RigTarget {
        let wanted = RigTarget::from_difficulty(d);
        let cap = share_cap(share_target);
        if wanted.t64 < cap {
            RigTarget::from_t64(cap)
        } else {
            wanted
        }
    }

    /// xmrig's difficulty of this target, `(2^64 - 1) / t64`, as a float (for statistics).
    pub fn difficulty(&self) -> f64 {
        u64::MAX as f64 / self.t64.max(1) as f64
    }

    /// Whether `hash` (little-endian) meets this target the way xmrig checks it:
    /// `top 64 bits < t64`, which is `hash <= t64 * 2^192 - 1` over all 256 bits
    /// ([`RigTarget::as_target`]).
    pub fn is_met_by(&self, hash: &[u8; 32]) -> bool {
        top64(hash) < self.t64
    }

    /// The same target over 256 bits, `t64 * 2^192 - 1`.
    pub fn as_target(&self) -> Target {
        Target((U256::from(self.t64) << 192) - U256::one())
    }
}

/// The hash's top 64 bits, as xmrig reads them: bytes 24..32, little-endian.
pub fn top64(hash: &[u8; 32]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&hash[24..32]);
    u64::from_le_bytes(b)
}

/// The easiest 64-bit target that every hash meeting `share_target` meets (the top 64 bits of
/// such a hash are at most those of the target): `top64(share_target) + 1`, saturating.
pub fn share_cap(share_target: &Target) -> u64 {
    top64(&share_target.to_le_bytes()).saturating_add(1)
}

/// xmrig's reading of a `target` string (`Job::setTarget`): the 64-bit target, or `None` where
/// xmrig refuses the job (not 8 or 16 hex digits, or a zero target).
pub fn decode_target(hex: &str) -> Option<u64> {
    let raw = hex::decode(hex).ok()?;
    let t64 = match raw.len() {
        4 => {
            let t32 = u32::from_le_bytes(raw.as_slice().try_into().ok()?) as u64;
            if t32 == 0 {
                return None;
            }
            u64::MAX / (u32::MAX as u64 / t32)
        }
        8 => u64::from_le_bytes(raw.as_slice().try_into().ok()?),
        _ => return None,
    };
    (t64 != 0).then_some(t64)
}

/// xmrig's difficulty of a `target` string (`Job::toDiff`): `(2^64 - 1) / t64`.
pub fn target_difficulty(hex: &str) -> Option<u64> {
    decode_target(hex).map(|t| u64::MAX / t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::work::Work;
    use proptest::prelude::*;

    #[test]
    fn known_strings() {
        // Difficulty 5000 in the 32-bit form, the value every CryptoNote pool has sent.
        assert_eq!(RigTarget::from_difficulty(5000).hex, "711b0d00");
        assert_eq!(RigTarget::from_difficulty(1).hex, "ffffffff");
        assert_eq!(RigTarget::from_difficulty(1).t64, u64::MAX);
        assert_eq!(RigTarget::from_difficulty(2).hex, "ffffff7f");
        assert_eq!(RigTarget::from_difficulty(2).t64, u64::MAX / 2);
        assert_eq!(
            RigTarget::from_difficulty(1 << 32).hex,
            "ffffffff00000000",
            "the 64-bit form, little-endian"
        );
        assert_eq!(target_difficulty("711b0d00"), Some(5000));
        assert_eq!(target_difficulty("ffffffff00000000"), Some((1 << 32) + 1));
        // What xmrig refuses.
        for bad in [
            "",
            "00000000",
            "0000000000000000",
            "ffffff",
            "ffffffffff",
            "zzzzzzzz",
        ] {
            assert_eq!(decode_target(bad), None, "{bad:?}");
        }
        // The 32-bit form rounds above 65535: 2^31 + 1 reads as about 2^32.
        let t32 = (u32::MAX as u64 / ((1 << 31) + 1)) as u32;
        let lossy = decode_target(&hex::encode(t32.to_le_bytes())).unwrap();
        assert_eq!(u64::MAX / lossy, u32::MAX as u64);
    }

    #[test]
    fn cap_keeps_every_share() {
        // Regtest's share target: about half of all hashes.
        let share = Target::from_work(Work(2));
        let cap = share_cap(&share);
        let rig = RigTarget::capped(1_000_000, &share);
        assert_eq!(rig.t64, cap);
        assert_eq!(rig.hex.len(), 16);
        // The largest hash that meets the share target meets the rig's.
        assert!(share.is_met_by(&share.to_le_bytes()));
        assert!(rig.is_met_by(&share.to_le_bytes()));
        // An easier wish is kept as is.
        assert_eq!(RigTarget::capped(1, &share), RigTarget::from_difficulty(1));
        assert_eq!(share_cap(&Target(U256::MAX)), u64::MAX);
    }

    proptest! {
        #[test]
        fn both_forms_decode_to_the_exact_target(d in 1u64..) {
            let rig = RigTarget::from_difficulty(d);
            prop_assert_eq!(rig.t64, u64::MAX / d);
            prop_assert_eq!(decode_target(&rig.hex), Some(rig.t64));
            prop_assert_eq!(rig.hex.len(), if d <= SHORT_FORM_MAX_DIFFICULTY { 8 } else { 16 });
        }

        #[test]
        fn short_form_is_exact(d in 1u64..=SHORT_FORM_MAX_DIFFICULTY) {
            let rig = RigTarget::from_difficulty(d);
            prop_assert_eq!(target_difficulty(&rig.hex), Some(d));
            prop_assert_eq!(rig.t64, u64::MAX / d);
        }

        #[test]
        fn top_bits_check_is_the_256_bit_check(t64 in 1u64.., hash in any::<[u8; 32]>()) {
            let rig = RigTarget::from_t64(t64);
            prop_assert_eq!(rig.is_met_by(&hash), rig.as_target().is_met_by(&hash));
            // And at the boundary: top bits t64 - 1 (met, whatever below) and t64 (not met).
            let mut edge = [0xff; 32];
            edge[24..].copy_from_slice(&(t64 - 1).to_le_bytes());
            prop_assert!(rig.is_met_by(&edge) && rig.as_target().is_met_by(&edge));
            let mut over = [0; 32];
            over[24..].copy_from_slice(&t64.to_le_bytes());
            prop_assert!(!rig.is_met_by(&over) && !rig.as_target().is_met_by(&over));
        }

        #[test]
        fn capped_never_misses_a_share(d in 1u64.., work in 1u128..(1u128 << 100), shift in 0usize..256) {
            let share = Target::from_work(Work(work));
            let rig = RigTarget::capped(d, &share);
            // Hashes at and below the share target, down from its very boundary.
            let hash = Target(share.0 >> shift).to_le_bytes();
            prop_assert!(share.is_met_by(&hash));
            prop_assert!(rig.is_met_by(&hash));
            prop_assert!(rig.t64 >= RigTarget::from_difficulty(d).t64);
        }
    }
}
