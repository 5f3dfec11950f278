//! Share difficulty: ASERT (absolutely scheduled exponentially rising targets) from a
//! reference share, the anchor, where the target is the pool's floor.
//!
//! Why ASERT: the next target depends only on the parent share and its anchor, so it is O(1)
//! per share, needs no window of timestamps, cannot oscillate, and every node computes it bit
//! for bit. The rule is Bitcoin Cash's aserti3-2d:
//!
//! ```text
//! exponent = floor(((t_parent - t_anchor) - period * (h_parent - h_anchor)) * 2^16 / half_life)
//! target   = max_target * 2^(exponent / 2^16)
//! ```
//!
//! with 2^(frac) approximated by aserti3-2d's cubic (error < 0.013 %), integers only, then
//! rounded down to a compact value and clamped to the pool's bounds.
//!
//! **Anchor reset** ([`anchor_after`]): a share whose target is the floor (`max_share_target`,
//! the clamp) hands its children a new anchor, its parent `(height, timestamp)`. Why: while the
//! pool's hashrate is below the floor rate, the chain falls further behind schedule with every
//! share, and a fixed anchor would remember all of it: once hashrate returns, the target would
//! stay pinned at the floor until the chain had caught up with the whole deficit (days after a
//! week at half the floor rate). A floor share can only be there because the chain was on or
//! behind schedule, so the reset forgets only a deficit the clamp already ignored, and it needs
//! nothing but the share's own bits and its parent: O(1), deterministic from chain data.

use crate::chain_view::ShareInfo;
use crate::pool::PoolParams;
use crate::work::{Target, U256, U512};
use bitcoin::pow::CompactTarget;

/// The parent of the share being retargeted, as ASERT sees it.
#[derive(Clone, Copy, Debug)]
pub struct RetargetInput {
    /// Height of the parent's anchor (see [`anchor_after`]).
    pub anchor_height: u64,
    /// Timestamp of the parent's anchor.
    pub anchor_time: u64,
    pub parent_height: u64,
    pub parent_time: u64,
}

impl RetargetInput {
    /// The input for a child of `parent`.
    pub fn child_of(parent: &ShareInfo) -> RetargetInput {
        RetargetInput {
            anchor_height: parent.anchor_height,
            anchor_time: parent.anchor_time,
            parent_height: parent.height,
            parent_time: parent.timestamp,
        }
    }
}

/// The anchor `(height, time)` a share with `share_bits` and `timestamp` hands to its children.
///
/// - The first share (no parent): itself, `(0, timestamp)`.
/// - A share whose target is the floor (`share_bits == max_share_target`, which the retarget
///   gives exactly when its exponent is `>= 0`, i.e. the chain is on or behind schedule): its
///   parent, `(parent.height, parent.timestamp)`. Its children are then retargeted as if the
///   schedule restarted at the parent with this share on time.
/// - Any other share: its parent's anchor.
pub fn anchor_after(
    pool: &PoolParams,
    share_bits: CompactTarget,
    timestamp: u64,
    parent: Option<&ShareInfo>,
) -> (u64, u64) {
    match parent {
        None => (0, timestamp),
        Some(p) if share_bits == pool.max_share_target => (p.height, p.timestamp),
        Some(p) => (p.anchor_height, p.anchor_time),
    }
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
    // Signed seconds ahead of (positive: behind) the ideal schedule. Timestamps and heights are
    // u64 and the period at most 3600 < 2^12, so |elapsed - ideal| < 2^77 and the product with
    // 2^16 below stays under 2^93: i128 never overflows.
    let elapsed = input.parent_time as i128 - input.anchor_time as i128;
    let ideal = pool.share_period_secs as i128
        * (input.parent_height as i128 - input.anchor_height as i128);
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
                anchor_height: 0,
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
            anchor_height: 0,
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
            anchor_height: 0,
            anchor_time: 0,
            parent_height: 1 << 40,
            parent_time: 0,
        };
        assert_eq!(next_share_bits(&p, &fast), p.min_target().to_compact());
        let slow = RetargetInput {
            anchor_height: 0,
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

    /// Simulates a chain at `hashrate(h)` hashes/s with the anchor rule of [`anchor_after`]
    /// (or, with `reset` false, the first share as the only anchor, the rule before format
    /// version 2): returns per-share intervals in seconds.
    fn simulate_with(
        p: &PoolParams,
        seed: u64,
        n: u64,
        reset: bool,
        hashrate: impl Fn(u64) -> f64,
    ) -> Vec<f64> {
        let mut rng = Rng(seed | 1);
        let anchor = 1_700_000_000u64;
        let mut time_ms: u64 = anchor * 1000;
        let mut parent_time = anchor;
        let (mut anchor_height, mut anchor_time) = (0u64, anchor);
        let mut intervals = Vec::with_capacity(n as usize);
        for h in 0..n {
            let bits = if h == 0 {
                p.max_share_target
            } else {
                let bits = next_share_bits(
                    p,
                    &RetargetInput {
                        anchor_height,
                        anchor_time,
                        parent_height: h - 1,
                        parent_time,
                    },
                );
                if reset && bits == p.max_share_target {
                    (anchor_height, anchor_time) = (h - 1, parent_time);
                }
                bits
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

    fn simulate(p: &PoolParams, seed: u64, n: u64, hashrate: impl Fn(u64) -> f64) -> Vec<f64> {
        simulate_with(p, seed, n, true, hashrate)
    }

    /// Seconds from share `from` until the mean interval of 100 consecutive shares first
    /// reaches 80 % of the period.
    fn recovery_secs(iv: &[f64], from: usize, period: f64) -> f64 {
        let mut elapsed = 0.0;
        for i in from..iv.len() - 100 {
            let mean = iv[i..i + 100].iter().sum::<f64>() / 100.0;
            if mean >= 0.8 * period {
                return elapsed;
            }
            elapsed += iv[i];
        }
        f64::INFINITY
    }

    #[test]
    fn a_floor_share_becomes_the_anchor() {
        let p = pool();
        let parent = |bits, anchor_height, anchor_time| ShareInfo {
            id: crate::ShareHash::genesis_parent(),
            prev: crate::ShareHash::genesis_parent(),
            height: 7,
            timestamp: 5_000,
            share_bits: bits,
            work: crate::work::Work(1),
            cumulative_work: crate::work::Work(1),
            anchor_height,
            anchor_time,
            parent_height: 1,
            payout_script: crate::PayoutScript::new(&[0x51]),
            uncles: vec![],
            skip: crate::ShareHash::genesis_parent(),
        };
        let par = parent(p.max_share_target, 3, 1_000);
        assert_eq!(anchor_after(&p, p.max_share_target, 9, None), (0, 9));
        assert_eq!(
            anchor_after(&p, p.max_share_target, 5_020, Some(&par)),
            (7, 5_000)
        );
        let harder = CompactTarget::from_consensus(0x1d00ffff);
        assert_eq!(anchor_after(&p, harder, 5_020, Some(&par)), (3, 1_000));
        // Behind schedule relative to the anchor: the child is clamped to the floor.
        let input = RetargetInput::child_of(&par);
        assert_eq!(next_share_bits(&p, &input), p.max_share_target);
    }

    /// A week at half the floor rate, then ten times the floor rate: with the first share as
    /// the only anchor the target stayed at the floor for ~9 hours (the week's 302,400 s
    /// deficit repaid at 9 s a share); with the reset, the interval is back within the hour.
    #[test]
    fn a_slow_week_does_not_pin_the_floor() {
        let p = pool();
        let floor_rate = p.max_target().work().0 as f64 / p.share_period_secs as f64;
        // 30,240 shares at 20 s = one week; then 60,000 shares (a week at 10 s, once pinned
        // shares at 1 s are through).
        let week = 30_240u64;
        let rate = |h: u64| {
            if h < week {
                floor_rate / 2.0
            } else {
                floor_rate * 10.0
            }
        };
        // (The generator ors the seed with 1: 1, 4 and 6 are three distinct streams.)
        for seed in [1u64, 4, 6] {
            let iv = simulate_with(&p, seed, week + 60_000, true, rate);
            let slow = iv[1000..week as usize].iter().sum::<f64>() / (week - 1000) as f64;
            assert!((slow - 20.0).abs() < 1.0, "slow interval {slow}");
            let rec = recovery_secs(&iv, week as usize, 10.0);
            assert!(rec < 3600.0, "seed {seed}: recovery {rec} s");
            let after = iv[week as usize + 10_000..].iter().sum::<f64>() / 50_000.0;
            assert!((after - 10.0).abs() < 0.5, "after {after}");

            let old = simulate_with(&p, seed, week + 60_000, false, rate);
            let rec_old = recovery_secs(&old, week as usize, 10.0);
            assert!(
                rec_old > 6.0 * 3600.0,
                "seed {seed}: old recovery {rec_old} s"
            );
        }
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
