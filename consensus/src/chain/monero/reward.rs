//! Monero's block reward: the emission curve with its tail, and the penalty for blocks heavier
//! than the median (`get_block_reward`, `src/cryptonote_basic/cryptonote_basic_impl.cpp`; the
//! constants are `cryptonote_config.h`'s).
//!
//! Emission. `MONEY_SUPPLY = 2^64 - 1` piconero (`(uint64_t)(-1)`). With 2-minute blocks
//! (`DIFFICULTY_TARGET_V2` = 120 s, from hard fork 2) the emission speed factor is
//! `EMISSION_SPEED_FACTOR_PER_MINUTE - (target_minutes - 1)` = 20 - 1 = 19, so the base reward is
//! `(MONEY_SUPPLY - already_generated_coins) >> 19`, but never below the tail emission
//! `FINAL_SUBSIDY_PER_MINUTE x target_minutes` = 3·10^11 x 2 = 6·10^11 piconero = 0.6 XMR (the
//! floor since mainnet height 2,641,623, June 2022).
//!
//! Penalty. With `M` the median weight raised to the full-reward zone (300,000 from hard fork 5,
//! `CRYPTONOTE_BLOCK_GRANTED_FULL_REWARD_ZONE_V5`) and `W` the block weight: `W <= M` earns the
//! base reward, `W > 2M` is not a valid block, and in between the reward is
//! `base x (2M - W) x W / M^2`, computed as Monero does: `(2M - W) x W` in 64 bits, the product
//! with `base` in 128 bits, then divided by `M` twice (which floors like one division by `M^2`).

/// `MONEY_SUPPLY`: all the piconero there will be before tail emission, `2^64 - 1`.
pub const MONEY_SUPPLY: u64 = u64::MAX;
/// The right shift of the emission curve with 2-minute blocks: 20 - (2 - 1).
pub const EMISSION_SPEED_FACTOR: u32 = 20 - (2 - 1);
/// The tail emission, `FINAL_SUBSIDY_PER_MINUTE` (3·10^11) x 2 minutes: 0.6 XMR.
pub const TAIL_EMISSION: u64 = 300_000_000_000 * 2;
/// Median weight below which no block is penalised, from hard fork 5.
pub const FULL_REWARD_ZONE: u64 = 300_000;

/// The base reward of the next block after `already_generated_coins` piconero were emitted.
pub fn base_reward(already_generated_coins: u64) -> u64 {
    base_reward_with(
        already_generated_coins,
        EMISSION_SPEED_FACTOR,
        TAIL_EMISSION,
    )
}

/// The reward of a block of weight `block_weight` when the median weight is `median_weight`:
/// `None` if the block is too heavy (over twice the raised median), or if `(2M - W) x W`
/// overflows 64 bits (weights over 4 GB, which Monero's weight limits never reach and where its
/// own 64-bit arithmetic would wrap).
pub fn penalized_reward(base: u64, block_weight: u64, median_weight: u64) -> Option<u64> {
    penalized_with(base, block_weight, median_weight, FULL_REWARD_ZONE)
}

/// `get_block_reward`'s emission with its era's shift and floor (hard fork 1 used 20 and
/// 3·10^11; Monero's unit vectors are for that era).
fn base_reward_with(already_generated_coins: u64, shift: u32, floor: u64) -> u64 {
    // already_generated_coins <= u64::MAX = MONEY_SUPPLY: no underflow.
    ((MONEY_SUPPLY - already_generated_coins) >> shift).max(floor)
}

fn penalized_with(base: u64, weight: u64, median: u64, zone: u64) -> Option<u64> {
    let median = median.max(zone);
    if weight <= median {
        return Some(base);
    }
    let twice = median.checked_mul(2)?;
    if weight > twice {
        return None;
    }
    // (2M - W) x W < M^2; Monero holds it in a uint64_t.
    let multiplicand = (twice - weight).checked_mul(weight)?;
    let product = u128::from(base) * u128::from(multiplicand);
    let reward = product / u128::from(median) / u128::from(median);
    // reward < base because (2M - W) x W < M^2, so it fits u64.
    u64::try_from(reward).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hard fork 1 parameters, those of Monero's tests/unit_tests/block_reward.cpp: 1-minute
    /// blocks (shift 20, floor FINAL_SUBSIDY_PER_MINUTE) and the v1 full-reward zone 20,000.
    const V1_SHIFT: u32 = 20;
    const V1_FLOOR: u64 = 300_000_000_000;
    const V1_ZONE: u64 = 20_000;

    fn v1_base(generated: u64) -> u64 {
        base_reward_with(generated, V1_SHIFT, V1_FLOOR)
    }

    fn v1_reward(median: u64, weight: u64, generated: u64) -> Option<u64> {
        penalized_with(v1_base(generated), weight, median, V1_ZONE)
    }

    /// block_reward_and_already_generated_coins.
    #[test]
    fn monero_vectors_already_generated_coins() {
        let w = V1_ZONE / 2;
        // handles_first_values
        assert_eq!(v1_reward(0, w, 0), Some(17_592_186_044_415));
        assert_eq!(
            v1_reward(0, w, 17_592_186_044_415),
            Some(17_592_169_267_200)
        );
        assert_eq!(
            v1_reward(0, w, 2_756_434_948_434_199_641),
            Some(14_963_444_829_249)
        );
        // correctly_steps_from_2_to_1, handles_max
        for g in [
            MONEY_SUPPLY - ((2 << 20) + 1),
            MONEY_SUPPLY - (2 << 20),
            MONEY_SUPPLY - ((2 << 20) - 1),
            MONEY_SUPPLY - ((1 << 20) + 1),
            MONEY_SUPPLY - (1 << 20),
            MONEY_SUPPLY - ((1 << 20) - 1),
        ] {
            assert_eq!(v1_reward(0, w, g), Some(V1_FLOOR));
        }
    }

    /// block_reward_and_current_block_weight (median 0, raised to the zone).
    #[test]
    fn monero_vectors_current_block_weight() {
        let standard = v1_reward(0, 0, 0).unwrap();
        assert!(V1_ZONE < standard);
        assert_eq!(v1_reward(0, V1_ZONE - 1, 0), Some(standard));
        assert_eq!(v1_reward(0, V1_ZONE, 0), Some(standard));
        assert!(v1_reward(0, V1_ZONE + 1, 0).unwrap() < standard);
        let r = v1_reward(0, 2 * V1_ZONE - 1, 0).unwrap();
        assert!(0 < r && r < standard);
        assert_eq!(v1_reward(0, 2 * V1_ZONE, 0), Some(0));
        assert_eq!(v1_reward(0, 2 * V1_ZONE + 1, 0), None);
    }

    /// block_reward_and_last_block_weights (median of 3, 5, 7, 11, 13 zones = 7 zones).
    #[test]
    fn monero_vectors_last_block_weights() {
        let m = 7 * V1_ZONE;
        let standard = v1_reward(m, 0, 0).unwrap();
        assert_eq!(v1_reward(m, m - 1, 0), Some(standard));
        assert_eq!(v1_reward(m, m, 0), Some(standard));
        assert!(v1_reward(m, m + 1, 0).unwrap() < standard);
        let r = v1_reward(m, 2 * m - 1, 0).unwrap();
        assert!(0 < r && r < standard);
        assert_eq!(v1_reward(m, 2 * m, 0), Some(0));
        assert_eq!(v1_reward(m, 2 * m + 1, 0), None);
        // calculates_correctly
        assert_eq!(m % 8, 0);
        assert_eq!(v1_reward(m, m * 9 / 8, 0), Some(standard * 63 / 64));
        assert_eq!(v1_reward(m, m * 3 / 2, 0), Some(standard * 3 / 4));
        assert_eq!(v1_reward(m, m * 15 / 8, 0), Some(standard * 15 / 64));
    }

    /// Today's rules: shift 19, tail 0.6 XMR, zone 300,000.
    #[test]
    fn current_rules() {
        assert_eq!(EMISSION_SPEED_FACTOR, 19);
        assert_eq!(TAIL_EMISSION, 600_000_000_000);
        assert_eq!(base_reward(0), (1 << 45) - 1);
        // The switch to the tail: (S - g) >> 19 reaches 0.6 XMR exactly at this g.
        let switch = MONEY_SUPPLY - (TAIL_EMISSION << 19);
        assert_eq!(base_reward(switch), TAIL_EMISSION);
        assert_eq!(base_reward(switch - (1 << 19)), TAIL_EMISSION + 1);
        assert_eq!(base_reward(switch + 1), TAIL_EMISSION);
        assert_eq!(base_reward(MONEY_SUPPLY), TAIL_EMISSION);
        // Mainnet today (about 18.4 million XMR emitted, past the switch at ~18.13 million).
        assert_eq!(base_reward(18_400_000 * 1_000_000_000_000), TAIL_EMISSION);
        // The zone raises any smaller median.
        let b = TAIL_EMISSION;
        assert_eq!(penalized_reward(b, 300_000, 0), Some(b));
        assert_eq!(penalized_reward(b, 600_000, 100), Some(0));
        assert_eq!(penalized_reward(b, 600_001, 100), None);
        assert_eq!(penalized_reward(b, 450_000, 0), Some(b * 3 / 4));
        // Weights whose 64-bit product Monero could not hold.
        assert_eq!(penalized_reward(b, (1 << 33) + 1, 1 << 33), None);
        assert_eq!(penalized_reward(b, u64::MAX, u64::MAX), Some(b));
        assert_eq!(penalized_reward(b, u64::MAX, u64::MAX / 2 + 1), None);
    }

    proptest! {
        #[test]
        fn penalty_never_raises_and_falls_with_weight(
            base in any::<u64>(),
            median in 0u64..50_000_000,
            a in 0u64..100_000_001,
            b in 0u64..100_000_001,
        ) {
            let (lo, hi) = (a.min(b), a.max(b));
            let r_lo = penalized_reward(base, lo, median);
            let r_hi = penalized_reward(base, hi, median);
            if let Some(r) = r_lo {
                prop_assert!(r <= base);
            }
            if let Some(r) = r_hi {
                prop_assert!(r <= base);
                // A lighter block is never refused when a heavier one is accepted, and never
                // earns less.
                prop_assert!(r_lo.is_some());
                prop_assert!(r_lo.unwrap() >= r);
            }
            let m = median.max(FULL_REWARD_ZONE);
            prop_assert_eq!(r_hi.is_none(), hi > 2 * m);
            if hi <= m {
                prop_assert_eq!(r_hi, Some(base));
            }
        }

        #[test]
        fn base_reward_falls_with_emission(a in any::<u64>(), b in any::<u64>()) {
            let (lo, hi) = (a.min(b), a.max(b));
            prop_assert!(base_reward(lo) >= base_reward(hi));
            prop_assert!(base_reward(hi) >= TAIL_EMISSION);
        }
    }
}
