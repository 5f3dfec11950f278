//! The exact, dust-free, capped split of a coinbase value over window weights.
//!
//! 1. **Exact split.** Over entries in script order with weights `w_i`, cumulative `C_i`, total
//!    `W`: `r_i = floor(C_i R / W) - floor(C_{i-1} R / W)`. The `r_i` sum to `R` exactly and each
//!    differs from the ideal `w_i R / W` by less than one unit.
//! 2. **Quantum.** `Q = max(min_payout, ceil(R / max_outputs))`. An entry with `r_i >= Q` is
//!    paid directly. The rest ("small", total `T`) go to a lottery. If `0 < T < Q` the largest
//!    direct entry (first in script order on ties) joins the lottery so there is enough to pay.
//! 3. **Lottery, systematic sampling.** `P = max(1, floor(T / Q))` prizes; prize `k` is
//!    `floor((k+1) T / P) - floor(k T / P)` (so they sum to `T` and each is `>= Q`). Entrants
//!    are laid end to end, entrant `j` covering `[P A_{j-1}, P A_j)` of `[0, P T)` where `A` is
//!    the cumulative of their `r`; prize `k` goes to whoever covers point `u + k T`, with
//!    `u = floor(seed * T / 2^256)` drawn from data no miner chooses while mining. Each point is
//!    uniform in its own block of length `T`, so an entrant covering length `P a_j` expects
//!    `sum_k prize_k * overlap_k / T`, which is `a_j` up to the sub-unit unevenness of the prizes.
//!
//!    Why a fraction of the seed and not `seed mod T`: `T` depends on the coinbase value `R` the
//!    share's author picks. With `seed mod T`, burning one unit of `R` moves `u` to an unrelated
//!    point of `[0, T)` and re-rolls every prize; with `u / T ~ seed / 2^256` fixed, a small
//!    change of `R` (or of the window through uncles) moves the sample points only in proportion
//!    to the change, so it hands at most the odd prize at a boundary to a neighbour.
//! 4. **Outputs**: direct payments and prizes merged per script, in script order.
//!
//! Guarantees (tested): the outputs sum to `R`; there are at most `max_outputs`; none is below
//! `min_payout` unless the whole reward is; expected payouts equal the exact split.

use crate::hash::tagged_hash;
use crate::share::PayoutScript;
use crate::work::{full_mul, mul_div_floor, U256};

/// The pool parameters the split uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SplitParams {
    pub min_payout: u64,
    pub max_outputs: u32,
}

/// `tagged_hash("otedama/lottery", parent-chain previous block hash || previous share id)`:
/// fixed before anyone mines on the job, chosen by no miner.
pub fn lottery_seed(prev_block: &[u8; 32], prev_share: &[u8; 32]) -> [u8; 32] {
    tagged_hash("otedama/lottery", &[prev_block, prev_share])
}

/// `floor(seed * t / 2^256)` with the seed read big-endian: the same fraction `seed / 2^256` of
/// every lottery length, so the offset moves in proportion to `t` instead of jumping when `t`
/// changes by one unit. Exact (the 256 x 128-bit product is kept in 512 bits), and below `t`
/// because `seed < 2^256`.
fn lottery_offset(seed: &[u8; 32], t: u128) -> u128 {
    let s = U256::from_big_endian(seed);
    let product = full_mul(s, U256::from(t)) >> 256;
    // product < t <= u128::MAX: the two low limbs hold it.
    let limbs = product.0;
    ((limbs[1] as u128) << 64) | limbs[0] as u128
}

/// The split for weights already in script order. `total` must equal the sum of the weights.
/// Entries with zero weight are ignored.
pub fn split_amounts<'s>(
    entries: &[(&'s PayoutScript, u128)],
    total: u128,
    reward: u64,
    params: &SplitParams,
    seed: &[u8; 32],
) -> Vec<(&'s PayoutScript, u64)> {
    split_with_offset(entries, total, reward, params, |t| lottery_offset(seed, t))
}

/// Step 1 alone: `r_i = floor(C_i R / W) - floor(C_{i-1} R / W)`, zero weights skipped.
pub fn exact_split<'s>(
    entries: &[(&'s PayoutScript, u128)],
    total: u128,
    reward: u64,
) -> Vec<(&'s PayoutScript, u64)> {
    let mut exact = Vec::with_capacity(entries.len());
    let mut cum: u128 = 0;
    let mut paid_before: u128 = 0;
    for (script, w) in entries {
        if *w == 0 || total == 0 {
            continue;
        }
        cum += w;
        let paid = mul_div_floor(cum, reward as u128, total);
        exact.push((*script, (paid - paid_before) as u64));
        paid_before = paid;
    }
    exact
}

/// One entry of a split, before direct payments and prizes are merged per script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SplitEntry<'s> {
    script: &'s PayoutScript,
    /// Paid directly (0 for a lottery entrant).
    direct: u64,
    /// Lottery prizes won, and their total.
    prizes: u32,
    won: u64,
}

/// [`split_amounts`] with the lottery offset chosen by `offset(T)` (which must return a value
/// below `T`); tests use it to average over every offset.
fn split_with_offset<'s>(
    entries: &[(&'s PayoutScript, u128)],
    total: u128,
    reward: u64,
    params: &SplitParams,
    offset: impl FnOnce(u128) -> u128,
) -> Vec<(&'s PayoutScript, u64)> {
    split_detail(entries, total, reward, params, offset)
        .into_iter()
        .filter_map(|e| {
            let amount = e.direct + e.won;
            (amount > 0).then_some((e.script, amount))
        })
        .collect()
}

/// The split, entry by entry (only entries with a non-zero exact share), in script order.
fn split_detail<'s>(
    entries: &[(&'s PayoutScript, u128)],
    total: u128,
    reward: u64,
    params: &SplitParams,
    offset: impl FnOnce(u128) -> u128,
) -> Vec<SplitEntry<'s>> {
    if reward == 0 || total == 0 {
        return Vec::new();
    }
    let r = reward as u128;

    // 1. Exact split by cumulative floors.
    let exact = exact_split(entries, total, reward);

    // 2. Quantum and the direct / lottery partition.
    let max_outputs = params.max_outputs.max(1) as u128;
    let q = (params.min_payout as u128)
        .max(r.div_ceil(max_outputs))
        .max(1);
    let mut small_total: u128 = exact
        .iter()
        .filter(|(_, a)| (*a as u128) < q)
        .map(|(_, a)| *a as u128)
        .sum();
    let mut promoted: Option<usize> = None;
    if small_total > 0 && small_total < q {
        // Largest direct entry, first in order on ties.
        let mut best: Option<(usize, u64)> = None;
        for (i, (_, a)) in exact.iter().enumerate() {
            if (*a as u128) >= q && best.is_none_or(|(_, b)| *a > b) {
                best = Some((i, *a));
            }
        }
        if let Some((i, a)) = best {
            promoted = Some(i);
            small_total += a as u128;
        }
    }
    let in_lottery = |i: usize, a: u64| (a as u128) < q || promoted == Some(i);

    // 3. Prizes to the entrants covering the sample points.
    let mut out: Vec<SplitEntry<'s>> = Vec::with_capacity(exact.len());
    let t = small_total;
    if t == 0 {
        out.extend(
            exact
                .iter()
                .filter(|(_, a)| *a > 0)
                .map(|(script, a)| SplitEntry {
                    script,
                    direct: *a,
                    prizes: 0,
                    won: 0,
                }),
        );
        return out;
    }
    let prizes = (t / q).max(1);
    let u = offset(t) % t;
    let mut k: u128 = 0; // next point
    let mut point = u; // u + k t
    let mut covered_end: u128 = 0; // P * A_j
    for (i, (script, a)) in exact.iter().enumerate() {
        if *a == 0 {
            continue;
        }
        if !in_lottery(i, *a) {
            out.push(SplitEntry {
                script,
                direct: *a,
                prizes: 0,
                won: 0,
            });
            continue;
        }
        covered_end += prizes * *a as u128;
        let mut won: u128 = 0;
        let mut count: u32 = 0;
        while k < prizes && point < covered_end {
            won += mul_div_floor(k + 1, t, prizes) - mul_div_floor(k, t, prizes);
            k += 1;
            count += 1;
            point += t;
        }
        out.push(SplitEntry {
            script,
            direct: 0,
            prizes: count,
            won: won as u64,
        });
    }
    out
}

/// The payout outputs for a window: owned scripts, ready for a coinbase.
pub fn payout_outputs(
    weights: &crate::pplns::WindowWeights,
    reward: u64,
    params: &SplitParams,
    seed: &[u8; 32],
) -> Vec<(PayoutScript, u64)> {
    let entries: Vec<(&PayoutScript, u128)> = weights.iter().collect();
    split_amounts(&entries, weights.total(), reward, params, seed)
        .into_iter()
        .map(|(s, a)| (s.clone(), a))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn scripts(n: usize) -> Vec<PayoutScript> {
        (0..n)
            .map(|i| PayoutScript::new(&(i as u32).to_be_bytes()))
            .collect()
    }

    fn run(weights: &[u128], reward: u64, p: SplitParams, seed: [u8; 32]) -> Vec<(usize, u64)> {
        let s = scripts(weights.len());
        let entries: Vec<(&PayoutScript, u128)> = s.iter().zip(weights.iter().copied()).collect();
        let total = weights.iter().sum();
        split_amounts(&entries, total, reward, &p, &seed)
            .into_iter()
            .map(|(sc, a)| (s.iter().position(|x| x == sc).unwrap(), a))
            .collect()
    }

    fn weights_strategy() -> impl Strategy<Value = Vec<u128>> {
        prop::collection::vec(
            prop_oneof![
                1u128..1000,
                1u128..(1u128 << 40),
                (1u128 << 70)..(1u128 << 81)
            ],
            1..300,
        )
    }

    #[test]
    fn worked_example_from_the_spec() {
        // docs/consensus.md, "Worked example".
        let p = SplitParams {
            min_payout: 10_000,
            max_outputs: 4,
        };
        let out = run(&[600, 250, 100, 30, 15, 5], 100_000, p, [0; 32]);
        // Exact: 60000, 25000, 10000, 3000, 1500, 500. Q = max(10000, 25000) = 25000.
        // Direct: #0 60000, #1 25000. Lottery T = 15000 < Q: #0 joins, T = 75000, P = 3,
        // prizes 25000 each, u = 0: points 0, 75000, 150000 in [0, 225000).
        // #0 covers [0, 180000): it takes all three prizes this time; its expectation over all
        // offsets is still exactly 60000 - 25000 + ... = its exact share (see the mean test).
        assert_eq!(out, vec![(0, 75_000), (1, 25_000)]);
        assert_eq!(out.iter().map(|(_, a)| a).sum::<u64>(), 100_000);
    }

    #[test]
    fn no_lottery_when_everyone_is_large() {
        let p = SplitParams {
            min_payout: 1,
            max_outputs: 100,
        };
        let out = run(&[1, 1, 1], 10, p, [0; 32]);
        assert_eq!(out, vec![(0, 3), (1, 3), (2, 4)]);
    }

    #[test]
    fn reward_below_min_payout_is_still_paid_in_full() {
        let p = SplitParams {
            min_payout: 546,
            max_outputs: 10,
        };
        let out = run(&[5, 5], 100, p, [3; 32]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1, 100);
    }

    #[test]
    fn lottery_offset_is_the_seed_as_a_fraction_of_t() {
        let mut half = [0u8; 32];
        half[0] = 0x80;
        for t in [1u128, 2, 3, 75_000, u64::MAX as u128, u128::MAX] {
            assert_eq!(lottery_offset(&[0; 32], t), 0);
            assert_eq!(lottery_offset(&[0xff; 32], t), t - 1);
            assert_eq!(lottery_offset(&half, t), t / 2);
        }
        // 0x40.. is a quarter: floor(75,001 / 4).
        let mut quarter = [0u8; 32];
        quarter[0] = 0x40;
        assert_eq!(lottery_offset(&quarter, 75_001), 18_750);
    }

    /// Per entry of the split (script index), the lottery prizes it won and whether it was
    /// paid directly.
    fn prize_counts(
        weights: &[u128],
        reward: u64,
        p: SplitParams,
        offset: impl FnOnce(u128) -> u128,
    ) -> Vec<(u32, u64, u64)> {
        let s = scripts(weights.len());
        let entries: Vec<(&PayoutScript, u128)> = s.iter().zip(weights.iter().copied()).collect();
        let total = weights.iter().sum();
        let mut out = vec![(0u32, 0u64, 0u64); weights.len()];
        for e in split_detail(&entries, total, reward, &p, offset) {
            let i = s.iter().position(|x| x == e.script).unwrap();
            out[i] = (e.prizes, e.won, e.direct);
        }
        out
    }

    /// The old rule, `seed mod T`, against the new one: an author who burns one unit of the
    /// reward re-rolled most prizes before; now the prizes stay where they were.
    #[test]
    fn one_unit_of_reward_does_not_reroll_the_lottery() {
        // 120 small miners sharing a lottery of 15 prizes (T = R = 155,000, Q = 10,000; one
        // unit less keeps P = 15: a change of P re-spaces every point, see the docs).
        let weights: Vec<u128> = (0..120u128).map(|i| 1_000 + 37 * i).collect();
        let p = SplitParams {
            min_payout: 10_000,
            max_outputs: 20,
        };
        let reward = 155_000u64;
        let (mut moved_new, mut moved_old, mut prizes) = (0u32, 0u32, 0u32);
        for n in 0..200u32 {
            let seed = crate::hash::tagged_hash("test/seed", &[&n.to_le_bytes()]);
            let old = |t: u128| (U256::from_big_endian(&seed) % U256::from(t)).as_u128();
            let new = |t: u128| lottery_offset(&seed, t);
            let moved = |a: &[(u32, u64, u64)], b: &[(u32, u64, u64)]| {
                a.iter().zip(b).map(|(x, y)| x.0.abs_diff(y.0)).sum::<u32>()
            };
            let before = prize_counts(&weights, reward, p, new);
            prizes += before.iter().map(|x| x.0).sum::<u32>();
            moved_new += moved(&before, &prize_counts(&weights, reward - 1, p, new));
            moved_old += moved(
                &prize_counts(&weights, reward, p, old),
                &prize_counts(&weights, reward - 1, p, old),
            );
        }
        // Each moved prize counts twice (one loses it, one wins it). Old rule: almost every
        // prize moves; new rule: under 2 % of them.
        assert!(moved_old > prizes, "old rule moved {moved_old} of {prizes}");
        assert!(
            moved_new * 50 < prizes,
            "new rule moved {moved_new} of {prizes}"
        );
    }

    proptest! {
        #[test]
        fn one_unit_of_reward_moves_no_prize_count_by_more_than_one(
            weights in weights_strategy(),
            reward in 2u64..2_100_000_000_000_000,
            min_payout in 1u64..100_000,
            max_outputs in 2u32..1000,
            seed in any::<[u8; 32]>(),
        ) {
            let p = SplitParams { min_payout, max_outputs };
            let offset = |t: u128| lottery_offset(&seed, t);
            let a = prize_counts(&weights, reward, p, offset);
            let b = prize_counts(&weights, reward - 1, p, offset);
            let max_prize = a.iter().chain(&b).filter(|x| x.0 > 0).map(|x| x.1.div_ceil(x.0 as u64)).max().unwrap_or(0);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                let lottery_in_both = x.2 == 0 && y.2 == 0;
                if lottery_in_both {
                    prop_assert!(x.0.abs_diff(y.0) <= 1, "miner {} prizes {} -> {}", i, x.0, y.0);
                } else {
                    // Paid directly on one side (the entry that joins the lottery when the
                    // small ones cannot fill a prize): its prizes replace a direct payment, and
                    // the two differ by at most one prize.
                    let (pa, pb) = (x.1 + x.2, y.1 + y.2);
                    prop_assert!(pa.abs_diff(pb) <= max_prize + 1, "miner {} paid {} -> {}", i, pa, pb);
                }
            }
        }

        #[test]
        fn sum_exact_cap_and_no_dust(
            weights in weights_strategy(),
            reward in 1u64..2_100_000_000_000_000,
            min_payout in 1u64..100_000,
            max_outputs in 2u32..1000,
            seed in any::<[u8; 32]>(),
        ) {
            let p = SplitParams { min_payout, max_outputs };
            let out = run(&weights, reward, p, seed);
            prop_assert_eq!(out.iter().map(|(_, a)| *a as u128).sum::<u128>(), reward as u128);
            prop_assert!(out.len() <= max_outputs as usize);
            if reward >= min_payout {
                prop_assert!(out.iter().all(|(_, a)| *a >= min_payout));
            }
            // One output per script, in script order.
            prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
        }

        #[test]
        fn exact_split_error_below_one_unit(
            weights in weights_strategy(),
            reward in 1u64..2_100_000_000_000_000,
        ) {
            let total: u128 = weights.iter().sum();
            let s = scripts(weights.len());
            let entries: Vec<(&PayoutScript, u128)> = s.iter().zip(weights.iter().copied()).collect();
            let out = exact_split(&entries, total, reward);
            prop_assert_eq!(out.iter().map(|(_, a)| *a as u128).sum::<u128>(), reward as u128);
            {
                for (i, (_, a)) in out.into_iter().enumerate() {
                    // |a - w R / W| < 1  <=>  |a W - w R| < W
                    let lhs = crate::work::U256::from(a as u128) * crate::work::U256::from(total);
                    let rhs = crate::work::full_mul(crate::work::U256::from(weights[i]), crate::work::U256::from(reward as u128));
                    let lhs = crate::work::u512(lhs);
                    let diff = if lhs > rhs { lhs - rhs } else { rhs - lhs };
                    prop_assert!(diff < crate::work::U512::from(total));
                }
            }
        }

        #[test]
        fn lottery_mean_converges_to_the_exact_share(
            weights in prop::collection::vec(1u128..1000, 5..40),
            reward in 10_000u64..1_000_000,
        ) {
            // Averaging over every offset u in [0, T) gives the exact expectation; check that
            // the mean over all offsets is within one unit of the exact split for everyone.
            let n = weights.len();
            let total: u128 = weights.iter().sum();
            let p = SplitParams { min_payout: reward / 8, max_outputs: 8 };
            let s = scripts(n);
            let entries: Vec<(&PayoutScript, u128)> = s.iter().zip(weights.iter().copied()).collect();
            let mut sums = vec![0u128; n];
            let samples: u128 = 512;
            for k in 0..samples {
                // Offsets evenly spaced over [0, T).
                for (sc, a) in split_with_offset(&entries, total, reward, &p, |t| k * t / samples) {
                    let i = s.iter().position(|x| x == sc).unwrap();
                    sums[i] += a as u128;
                }
            }
            for i in 0..n {
                let exact = weights[i] as f64 * reward as f64 / total as f64;
                let mean = sums[i] as f64 / samples as f64;
                // Sampling 512 offsets of a lottery paying at most reward/8 per prize: the mean
                // is within 1 % of the reward of the exact value.
                prop_assert!((mean - exact).abs() <= reward as f64 / 100.0 + 1.0,
                    "miner {} exact {} mean {}", i, exact, mean);
            }
        }

        #[test]
        fn insertion_order_does_not_matter(
            weights in prop::collection::vec(1u128..(1u128 << 60), 1..50),
            reward in 1u64..1_000_000_000,
            seed in any::<[u8; 32]>(),
        ) {
            let s = scripts(weights.len());
            let mut a = crate::pplns::WindowWeights::default();
            for (sc, w) in s.iter().zip(&weights) { a.add(sc, *w); }
            let mut b = crate::pplns::WindowWeights::default();
            for (sc, w) in s.iter().zip(&weights).rev() { b.add(sc, *w); }
            let p = SplitParams { min_payout: 546, max_outputs: 20 };
            prop_assert_eq!(payout_outputs(&a, reward, &p, &seed), payout_outputs(&b, reward, &p, &seed));
        }
    }
}
