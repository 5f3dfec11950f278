//! A small seeded random number generator: xoshiro256** seeded through SplitMix64.
//!
//! Hand-written so the simulator depends on no RNG crate whose output could change between
//! versions: the same seed gives the same run, byte for byte, on every build.

/// One SplitMix64 step: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless 64-bit mix of `x` (one SplitMix64 output).
pub fn mix(x: u64) -> u64 {
    let mut s = x;
    splitmix64(&mut s)
}

/// xoshiro256** (Blackman and Vigna).
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed` and an independent `stream` (graph, hashrates, mining, ...), so
    /// that changing how one part draws numbers does not shift the others.
    pub fn new(seed: u64, stream: u64) -> Rng {
        let mut st = seed ^ mix(stream.wrapping_add(0x5eed));
        let s = [
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
            splitmix64(&mut st),
        ];
        Rng { s }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`: safe to take the logarithm of.
    pub fn open01(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with mean 1.
    pub fn exp1(&mut self) -> f64 {
        -self.open01().ln()
    }

    /// Uniform in `[a, b)`.
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.f64()
    }

    /// Uniform integer in `[0, n)` for `n > 0` (Lemire's multiply-shift; the bias is below
    /// 2^-32 for the sizes used here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// Walker's alias table: O(1) draws of an index with probability proportional to its weight.
#[derive(Clone, Debug, Default)]
pub struct Alias {
    prob: Vec<f64>,
    alias: Vec<u32>,
    total: f64,
}

impl Alias {
    /// Vose's construction; zero weights are never drawn.
    pub fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        let mut prob = vec![0.0; n];
        let mut alias = vec![0u32; n];
        if n == 0 || total <= 0.0 {
            return Alias {
                prob,
                alias,
                total: 0.0,
            };
        }
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        for (i, p) in scaled.iter().enumerate() {
            if *p < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            prob[s as usize] = scaled[s as usize];
            alias[s as usize] = l;
            scaled[l as usize] -= 1.0 - scaled[s as usize];
            if scaled[l as usize] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for l in large {
            prob[l as usize] = 1.0;
            alias[l as usize] = l;
        }
        // Leftovers from rounding: full columns, except that a zero weight is never drawn.
        let fallback = weights.iter().position(|w| *w > 0.0).unwrap_or(0) as u32;
        for s in small {
            if weights[s as usize] > 0.0 {
                prob[s as usize] = 1.0;
                alias[s as usize] = s;
            } else {
                prob[s as usize] = 0.0;
                alias[s as usize] = fallback;
            }
        }
        Alias { prob, alias, total }
    }

    /// Sum of the weights.
    pub fn total(&self) -> f64 {
        self.total
    }

    pub fn draw(&self, rng: &mut Rng) -> usize {
        let i = rng.below(self.prob.len() as u64) as usize;
        if rng.f64() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream() {
        let mut a = Rng::new(7, 1);
        let mut b = Rng::new(7, 1);
        let mut c = Rng::new(7, 2);
        let xa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
    }

    #[test]
    fn exponential_mean_is_one() {
        let mut r = Rng::new(1, 0);
        let n = 200_000;
        let mean = (0..n).map(|_| r.exp1()).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn alias_follows_weights() {
        let w = [1.0, 0.0, 3.0, 6.0];
        let a = Alias::new(&w);
        let mut r = Rng::new(3, 0);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[a.draw(&mut r)] += 1;
        }
        assert_eq!(counts[1], 0);
        for (i, c) in counts.iter().enumerate() {
            let expect = w[i] / 10.0 * 100_000.0;
            assert!((*c as f64 - expect).abs() < 1_000.0, "{i}: {c} vs {expect}");
        }
    }
}
