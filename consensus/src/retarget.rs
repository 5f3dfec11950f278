//! Share difficulty: ASERT (absolutely scheduled exponentially rising targets), anchored at the
//! sharechain's first share.
//!
//! Why ASERT: the next target depends only on the parent share and the anchor, so it is O(1) per
//! share, needs no window of timestamps, cannot oscillate, and every node computes it bit for
//! bit. The rule is Bitcoin Cash's aserti3-2d with the anchor at height 0:
//!
//! ```text
//! exponent = floor(((t_parent - t_anchor) - period * h_parent) * 2^16 / half_life)
//! target   = anchor_target * 2^(exponent / 2^16)
//! ```
//!
//! with 2^(frac) approximated by aserti3-2d's cubic (error < 0.013 %), integers only, then
//! rounded down to a compact value and clamped to the pool's bounds.

use crate::pool::PoolParams;
use crate::work::{Target, U256, U512};
use bitcoin::pow::CompactTarget;

/// The parent of the share being retargeted, as ASERT sees it.
#[derive(Clone, Copy, Debug)]
pub struct RetargetInput {
    /// Timestamp of the sharechain's first share (the anchor).
    pub anchor_time: u64,
    pub parent_height: u64,
    pub parent_time: u64,
}

/// `2^(frac / 65536) * 65536` for `frac < 65536`, aserti3-2d's cubic.
fn pow2_frac(frac: u64) -> u128 {
    let f = frac as u128;
    65536
        + ((195_766_423_245_049 * f + 971_821_376 * f * f + 5127 * f * f * f + (1u128 << 47)) >> 48)
}

/// The share target a child of `input`'s parent must carry.
pub fn next_share_bits(pool: &PoolParams, input: &RetargetInput) -> CompactTarget {
    let max = pool.max_target();
    let min = pool.min_target();
    // Signed seconds ahead of (positive: behind) the ideal schedule. Timestamps are u64 and
    // non-decreasing from the anchor, so the difference fits; heights are far below 2^63.
    let elapsed = input.parent_time as i128 - input.anchor_time as i128;
    let ideal = pool.share_period_secs as i128 * input.parent_height as i128;
    let exponent = ((elapsed - ideal) * 65536).div_euclid(pool.retarget_half_life_secs as i128);
    let shifts = exponent.div_euclid(65536);
    let frac = exponent.rem_euclid(65536) as u64;

    // anchor_target * factor < 2^256 * 2^17; keep 512 bits and shift.
    let mut t = crate::work::u512(max.0) * U512::from(pow2_frac(frac));
    let raw = if shifts >= 0 {
        // The anchor is the easiest target; any non-negative shift only makes it easier.
        if shifts > 200 {
            return max.to_compact();
        }
        t <<= shifts as usize;
        t >> 16
    } else {
        let s = (-shifts) as u128;
        if s > 400 {
            return min.to_compact();
        }
        t >>= s as usize;
        t >> 16
    };
    let raw = if raw > crate::work::u512(U256::MAX) {
        max
    } else {
        let limbs = raw.0;
        Target(U256([limbs[0], limbs[1], limbs[2], limbs[3]]))
    };
    let rounded = Target::from_compact(raw.to_compact());
    rounded.clamp(min, max).to_compact()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::pool::Preset;
    use proptest::prelude::*;

    fn pool() -> PoolParams {
        PoolParams::preset(Chain::Litecoin, Preset::Main)
    }

    #[test]
    fn on_schedule_keeps_the_anchor_target() {
        let p = pool();
        for h in [0u64, 1, 100, 10_000] {
            let input = RetargetInput {
                anchor_time: 1_000,
                parent_height: h,
                parent_time: 1_000 + 10 * h,
            };
            assert_eq!(next_share_bits(&p, &input), p.max_share_target);
        }
    }

    #[test]
    fn one_half_life_ahead_halves_the_target() {
        let mut p = pool();
        // Start from a target in the middle of the range so halving is visible.
        p.max_share_target = CompactTarget::from_consensus(0x1d00ffff);
        let input = RetargetInput {
            anchor_time: 0,
            parent_height: 120,
            parent_time: 600,
        };
        // 120 shares in 600 s: 600 s ahead of schedule = one half-life.
        let t = Target::from_compact(next_share_bits(&p, &input));
        let half = Target(p.max_target().0 >> 1);
        assert_eq!(t.to_compact(), half.to_compact());
    }

    #[test]
    fn bounds_hold_at_the_extremes() {
        let p = pool();
        let fast = RetargetInput {
            anchor_time: 0,
            parent_height: 1 << 40,
            parent_time: 0,
        };
        assert_eq!(next_share_bits(&p, &fast), p.min_target().to_compact());
        let slow = RetargetInput {
            anchor_time: 0,
            parent_height: 0,
            parent_time: u64::MAX,
        };
        assert_eq!(next_share_bits(&p, &slow), p.max_share_target);
    }

    /// Deterministic exponential inter-share times from a seeded xorshift, in integer
    /// milliseconds (-ln(U) via the bit length keeps this free of floats in consensus code;
    /// tests may use floats, and do, for the exponential draw).
    struct Rng(u64);
    impl Rng {
        fn next_f64(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
    }

    /// Simulates a chain at `hashrate(h)` hashes/s: returns per-share intervals in seconds.
    fn simulate(p: &PoolParams, seed: u64, n: u64, hashrate: impl Fn(u64) -> f64) -> Vec<f64> {
        let mut rng = Rng(seed | 1);
        let anchor = 1_700_000_000u64;
        let mut time_ms: u64 = anchor * 1000;
        let mut parent_time = anchor;
        let mut intervals = Vec::with_capacity(n as usize);
        for h in 0..n {
            let bits = if h == 0 {
                p.max_share_target
            } else {
                next_share_bits(
                    p,
                    &RetargetInput {
                        anchor_time: anchor,
                        parent_height: h - 1,
                        parent_time,
                    },
                )
            };
            let work = Target::from_compact(bits).work().0 as f64;
            let secs = -rng.next_f64().ln() * work / hashrate(h);
            time_ms += (secs * 1000.0) as u64;
            let ts = time_ms / 1000;
            intervals.push(ts.saturating_sub(parent_time) as f64);
            parent_time = ts.max(parent_time);
        }
        intervals
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]

        #[test]
        fn converges_to_the_share_period(seed in any::<u64>()) {
            let p = pool();
            // Pool hashrate 1000x the floor: the first hours ramp up from the anchor.
            let rate = p.max_target().work().0 as f64 * 1000.0 / 10.0;
            let iv = simulate(&p, seed, 12_000, |_| rate);
            // Skip the ramp (2000 shares), measure 10,000.
            let mean = iv[2000..].iter().sum::<f64>() / 10_000.0;
            prop_assert!((mean - 10.0).abs() <= 0.5, "mean interval {mean}");
        }

        #[test]
        fn follows_a_tenfold_hashrate_step(seed in any::<u64>()) {
            let p = pool();
            let rate = p.max_target().work().0 as f64 * 100.0 / 10.0;
            let iv = simulate(&p, seed, 16_000, |h| if h < 6000 { rate } else { rate * 10.0 });
            let before = iv[3000..6000].iter().sum::<f64>() / 3000.0;
            // One hour after the step the period is back on target.
            let after = iv[10_000..16_000].iter().sum::<f64>() / 6000.0;
            prop_assert!((before - 10.0).abs() <= 0.6, "before {before}");
            prop_assert!((after - 10.0).abs() <= 0.5, "after {after}");
        }
    }
}
