//! SHA256d nonce scanning: the double SHA-256 of an 80-byte header over a range of nonces.
//!
//! Per header (fixed for a whole nonce range) everything that does not depend on the nonce is
//! computed once in [`Sha256dWork::new`]: the midstate of the first 64 bytes, the first three
//! rounds of the second block (its words 0..2 are the tail of the merkle root, the time and the
//! bits), and the constant parts of that block's message schedule. Per nonce the kernels then
//! skip the work known in advance:
//!
//! * the second compression of the first hash starts at round 3 (SHA-NI: round 2, its rounds go
//!   in pairs), and its schedule words 16, 17 and the constant halves of 18..31 are precomputed;
//! * the second hash's padding words (8..15) are constants folded into the round constants;
//! * the second hash stops after round 60 (SHA-NI: 61): only the last state word `H7` is
//!   computed, `IV7 + e` after round 60 equals it, and it alone decides whether the hash can
//!   meet a target (`H7` byte-swapped is the top 32 bits of the hash read as a little-endian
//!   number). Nonces that pass are candidates that the caller re-checks with the reference hash.
//!
//! Nonces are scanned in "big-endian order": a kernel visits the values `v` of header word 19
//! as SHA-256 reads it (big-endian), that is nonce `v.swap_bytes()`, so no per-lane byte swap
//! is needed; a full sweep of `v` is a full sweep of the nonces.

// Fixed-size state arrays indexed by round / row / lane read clearest as index loops.
#![allow(clippy::needless_range_loop)]

use super::lanes::U32Lanes;

pub(crate) const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

pub(crate) const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Which implementation scans nonces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sha256dKernel {
    /// SHA-NI (x86 SHA extensions), four nonces interleaved to hide the instruction latency.
    ShaNi,
    /// AVX-512 (F + BW): sixteen nonces per vector (built with Rust 1.89 or later).
    Avx512,
    /// AVX2: eight nonces per vector.
    Avx2,
    /// Plain Rust, one nonce at a time (any CPU).
    Portable,
}

impl Sha256dKernel {
    /// The fastest kernel this CPU runs.
    pub fn best() -> Sha256dKernel {
        Sha256dKernel::available()[0]
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn available() -> Vec<Sha256dKernel> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("sha")
                && std::arch::is_x86_feature_detected!("sse4.1")
            {
                v.push(Sha256dKernel::ShaNi);
            }
            #[cfg(otedama_avx512)]
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                v.push(Sha256dKernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Sha256dKernel::Avx2);
            }
        }
        v.push(Sha256dKernel::Portable);
        v
    }

    pub fn name(self) -> &'static str {
        match self {
            Sha256dKernel::ShaNi => "sha-ni",
            Sha256dKernel::Avx512 => "avx512",
            Sha256dKernel::Avx2 => "avx2",
            Sha256dKernel::Portable => "portable",
        }
    }

    /// Nonces per kernel step: scanned counts are rounded up to a multiple of this.
    pub fn step(self) -> u32 {
        match self {
            #[cfg(target_arch = "x86_64")]
            Sha256dKernel::ShaNi => super::sha_ni::WAYS as u32,
            #[cfg(not(target_arch = "x86_64"))]
            Sha256dKernel::ShaNi => 1,
            Sha256dKernel::Avx512 => 16,
            Sha256dKernel::Avx2 => 8,
            Sha256dKernel::Portable => 1,
        }
    }

    /// Scans `count` values `start, start + 1, ...` of the big-endian nonce word (nonce
    /// `v.swap_bytes()`, see the module docs) and appends to `out` every nonce whose hash's top
    /// 32 bits (little-endian) are `<= limit`. `count` is rounded up to a multiple of
    /// [`Self::step`]. Panics if this CPU lacks the kernel's instructions.
    pub fn scan(self, work: &Sha256dWork, start: u32, count: u32, limit: u32, out: &mut Vec<u32>) {
        let steps = count.div_ceil(self.step());
        match self {
            #[cfg(target_arch = "x86_64")]
            Sha256dKernel::ShaNi => {
                assert!(
                    std::arch::is_x86_feature_detected!("sha")
                        && std::arch::is_x86_feature_detected!("sse4.1")
                );
                // SAFETY: the CPU has the SHA extensions and SSE4.1 (checked above).
                unsafe {
                    super::sha_ni::scan::<{ super::sha_ni::WAYS }>(work, start, steps, limit, out)
                }
            }
            #[cfg(all(target_arch = "x86_64", otedama_avx512))]
            Sha256dKernel::Avx512 => {
                assert!(
                    std::arch::is_x86_feature_detected!("avx512f")
                        && std::arch::is_x86_feature_detected!("avx512bw")
                );
                // SAFETY: the CPU has AVX-512F and AVX-512BW (checked above).
                unsafe { scan_avx512(work, start, steps, limit, out) }
            }
            #[cfg(target_arch = "x86_64")]
            Sha256dKernel::Avx2 => {
                assert!(std::arch::is_x86_feature_detected!("avx2"));
                // SAFETY: the CPU has AVX2 (checked above).
                unsafe { scan_avx2(work, start, steps, limit, out) }
            }
            #[cfg(not(target_arch = "x86_64"))]
            Sha256dKernel::ShaNi | Sha256dKernel::Avx2 => {
                panic!("{} needs an x86-64 CPU", self.name())
            }
            #[cfg(not(all(target_arch = "x86_64", otedama_avx512)))]
            Sha256dKernel::Avx512 => {
                panic!("avx512 needs an x86-64 CPU and Rust 1.89 or later")
            }
            Sha256dKernel::Portable => scan_lanes::<u32>(work, start, steps, limit, out),
        }
    }
}

/// The SHA-NI kernel with `ways` (1..=6, or 8) nonces interleaved (benchmarks); `count` is rounded
/// up to a multiple of `ways`. Panics without SHA-NI.
#[doc(hidden)]
#[cfg(target_arch = "x86_64")]
pub fn scan_sha_ni_ways(
    ways: usize,
    work: &Sha256dWork,
    start: u32,
    count: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    assert!(
        std::arch::is_x86_feature_detected!("sha") && std::arch::is_x86_feature_detected!("sse4.1")
    );
    let steps = count.div_ceil(ways as u32);
    use super::sha_ni::scan;
    // SAFETY: the CPU has the SHA extensions and SSE4.1 (checked above).
    unsafe {
        match ways {
            1 => scan::<1>(work, start, steps, limit, out),
            2 => scan::<2>(work, start, steps, limit, out),
            3 => scan::<3>(work, start, steps, limit, out),
            4 => scan::<4>(work, start, steps, limit, out),
            5 => scan::<5>(work, start, steps, limit, out),
            6 => scan::<6>(work, start, steps, limit, out),
            _ => scan::<8>(work, start, steps, limit, out),
        }
    }
}

#[inline(always)]
fn s0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
#[inline(always)]
fn s1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}

/// One scalar SHA-256 round on `s = [a, b, c, d, e, f, g, h]` with `kw = K[t] + W[t]`.
#[inline(always)]
fn round1(s: &mut [u32; 8], kw: u32) {
    let [a, b, c, d, e, f, g, h] = *s;
    let t1 = h
        .wrapping_add(e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25))
        .wrapping_add(g ^ (e & (f ^ g)))
        .wrapping_add(kw);
    let t2 = (a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22))
        .wrapping_add((a & b) | (c & (a | b)));
    *s = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
}

/// A plain SHA-256 compression (midstates; tests).
pub(crate) fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for t in 16..64 {
        w[t] = s1(w[t - 2])
            .wrapping_add(w[t - 7])
            .wrapping_add(s0(w[t - 15]))
            .wrapping_add(w[t - 16]);
    }
    let mut s = *state;
    for t in 0..64 {
        round1(&mut s, K[t].wrapping_add(w[t]));
    }
    for (o, x) in state.iter_mut().zip(s) {
        *o = o.wrapping_add(x);
    }
}

/// What is fixed for a whole nonce range of one header.
#[derive(Clone, Debug)]
pub struct Sha256dWork {
    /// State after the first 64 header bytes.
    pub(crate) midstate: [u32; 8],
    /// Words 0..2 of the second block (merkle tail, time, bits).
    pub(crate) tail: [u32; 3],
    /// State after rounds 0..2 of the second block.
    pub(crate) pre3: [u32; 8],
    /// `W16`, `W17`, and the constant parts of `W18..W31` (see `scan_lanes`).
    pub(crate) w: [u32; 32],
}

impl Sha256dWork {
    /// Everything constant over the nonces of `header` (its nonce field is ignored).
    pub fn new(header: &[u8; 80]) -> Sha256dWork {
        let mut midstate = IV;
        let first: &[u8; 64] = header[..64].try_into().expect("64 bytes");
        compress(&mut midstate, first);
        let word = |i: usize| u32::from_be_bytes(header[i..i + 4].try_into().expect("4 bytes"));
        let tail = [word(64), word(68), word(72)];
        let mut pre3 = midstate;
        for (t, w) in tail.iter().enumerate() {
            round1(&mut pre3, K[t].wrapping_add(*w));
        }
        // Second block: W0..W2 = tail, W3 = nonce, W4 = 0x80000000, W5..W14 = 0, W15 = 640.
        let mut w = [0u32; 32];
        w[16] = s0(tail[1]).wrapping_add(tail[0]);
        w[17] = s1(640).wrapping_add(s0(tail[2])).wrapping_add(tail[1]);
        // Constant parts (the nonce-dependent terms are added per nonce).
        w[18] = s1(w[16]).wrapping_add(tail[2]); // + s0(W3)
        w[19] = s1(w[17]).wrapping_add(s0(0x8000_0000)); // + W3
        w[20] = 0x8000_0000; // + s1(W18)
        w[22] = 640; // + s1(W20)
        w[23] = w[16]; // + s1(W21)
        w[24] = w[17]; // + s1(W22)
        w[30] = s0(640); // + s1(W28) + W23
        w[31] = s0(w[16]).wrapping_add(640); // + s1(W29) + W24
        Sha256dWork {
            midstate,
            tail,
            pre3,
            w,
        }
    }
}

#[inline(always)]
fn sig0<L: U32Lanes>(x: L) -> L {
    L::xor3(x.rotr::<7, 25>(), x.rotr::<18, 14>(), x.shr::<3>())
}
#[inline(always)]
fn sig1<L: U32Lanes>(x: L) -> L {
    L::xor3(x.rotr::<17, 15>(), x.rotr::<19, 13>(), x.shr::<10>())
}

#[inline(always)]
fn round<L: U32Lanes>(s: &mut [L; 8], kw: L) {
    let [a, b, c, d, e, f, g, h] = *s;
    let big1 = L::xor3(e.rotr::<6, 26>(), e.rotr::<11, 21>(), e.rotr::<25, 7>());
    let t1 = h.add(big1).add(L::ch(e, f, g)).add(kw);
    let big0 = L::xor3(a.rotr::<2, 30>(), a.rotr::<13, 19>(), a.rotr::<22, 10>());
    let t2 = big0.add(L::maj(a, b, c));
    *s = [t1.add(t2), a, b, c, d.add(t1), e, f, g];
}

/// `W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16]` for `t` in `from..64`.
#[inline(always)]
fn expand<L: U32Lanes>(w: &mut [L; 64], from: usize) {
    for t in from..64 {
        w[t] = sig1(w[t - 2])
            .add(w[t - 7])
            .add(sig0(w[t - 15]))
            .add(w[t - 16]);
    }
}

/// `N` nonces: returns a bit per lane for the nonces whose hash passes the `limit` prefilter.
#[inline(always)]
fn hash_lanes<L: U32Lanes>(job: &Sha256dWork, nonce_be: L, limit: u32) -> u64 {
    let c = |x: u32| L::splat(x);
    // ---- First hash, second block, from round 3.
    let mut w = [c(0); 64];
    w[0] = c(job.tail[0]);
    w[1] = c(job.tail[1]);
    w[2] = c(job.tail[2]);
    w[3] = nonce_be;
    w[4] = c(0x8000_0000);
    w[15] = c(640);
    w[16] = c(job.w[16]);
    w[17] = c(job.w[17]);
    w[18] = sig0(nonce_be).add(c(job.w[18]));
    w[19] = nonce_be.add(c(job.w[19]));
    w[20] = sig1(w[18]).add(c(job.w[20]));
    w[21] = sig1(w[19]);
    w[22] = sig1(w[20]).add(c(job.w[22]));
    w[23] = sig1(w[21]).add(c(job.w[23]));
    w[24] = sig1(w[22]).add(c(job.w[24]));
    w[25] = sig1(w[23]).add(w[18]);
    w[26] = sig1(w[24]).add(w[19]);
    w[27] = sig1(w[25]).add(w[20]);
    w[28] = sig1(w[26]).add(w[21]);
    w[29] = sig1(w[27]).add(w[22]);
    w[30] = sig1(w[28]).add(w[23]).add(c(job.w[30]));
    w[31] = sig1(w[29]).add(w[24]).add(c(job.w[31]));
    expand(&mut w, 32);
    let mut s = job.pre3.map(c);
    round(&mut s, nonce_be.add(c(K[3])));
    for t in 4..16 {
        // Padding words: constants.
        let pad = match t {
            4 => 0x8000_0000u32,
            15 => 640,
            _ => 0,
        };
        round(&mut s, c(K[t].wrapping_add(pad)));
    }
    for t in 16..64 {
        round(&mut s, w[t].add(c(K[t])));
    }
    // ---- Second hash: one block, words 0..7 the first hash, 8..15 padding.
    let mut h = [c(0); 64];
    for i in 0..8 {
        h[i] = s[i].add(c(job.midstate[i]));
    }
    h[8] = c(0x8000_0000);
    h[15] = c(256);
    h[16] = sig0(h[1]).add(h[0]);
    h[17] = sig1(h[15]).add(sig0(h[2])).add(h[1]);
    h[18] = sig1(h[16]).add(sig0(h[3])).add(h[2]);
    h[19] = sig1(h[17]).add(sig0(h[4])).add(h[3]);
    h[20] = sig1(h[18]).add(sig0(h[5])).add(h[4]);
    h[21] = sig1(h[19]).add(sig0(h[6])).add(h[5]);
    h[22] = sig1(h[20]).add(h[15]).add(sig0(h[7])).add(h[6]);
    h[23] = sig1(h[21]).add(h[16]).add(c(s0(0x8000_0000))).add(h[7]);
    h[24] = sig1(h[22]).add(h[17]).add(h[8]);
    h[25] = sig1(h[23]).add(h[18]);
    h[26] = sig1(h[24]).add(h[19]);
    h[27] = sig1(h[25]).add(h[20]);
    h[28] = sig1(h[26]).add(h[21]);
    h[29] = sig1(h[27]).add(h[22]);
    h[30] = sig1(h[28]).add(h[23]).add(c(s0(256)));
    h[31] = sig1(h[29]).add(h[24]).add(sig0(h[16])).add(h[15]);
    // Only up to W60 is needed.
    for t in 32..61 {
        h[t] = sig1(h[t - 2])
            .add(h[t - 7])
            .add(sig0(h[t - 15]))
            .add(h[t - 16]);
    }
    let mut s2 = IV.map(c);
    for t in 0..60 {
        round(&mut s2, h[t].add(c(K[t])));
    }
    // Round 60: only e (= d + T1) matters; it ends as H7 - IV7 after round 63.
    let [_, _, _, d, e, f, g, hh] = s2;
    let big1 = L::xor3(e.rotr::<6, 26>(), e.rotr::<11, 21>(), e.rotr::<25, 7>());
    let t1 = hh.add(big1).add(L::ch(e, f, g)).add(h[60].add(c(K[60])));
    let h7 = d.add(t1).add(c(IV[7]));
    h7.swapped_le_mask(limit)
}

#[inline(always)]
fn scan_lanes<L: U32Lanes>(
    job: &Sha256dWork,
    start: u32,
    steps: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    let n = L::N as u32;
    for i in 0..steps {
        let base = start.wrapping_add(i.wrapping_mul(n));
        let mut mask = hash_lanes(job, L::sequence(base), limit);
        while mask != 0 {
            let lane = mask.trailing_zeros();
            mask &= mask - 1;
            out.push(base.wrapping_add(lane).swap_bytes());
        }
    }
}

// `unsafe fn`: safe `#[target_feature]` functions need Rust 1.86; the MSRV is 1.85.
/// # Safety
/// The CPU has the enabled features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(job: &Sha256dWork, start: u32, steps: u32, limit: u32, out: &mut Vec<u32>) {
    scan_lanes::<super::lanes::Avx2x8>(job, start, steps, limit, out)
}

// `unsafe fn`: safe `#[target_feature]` functions need Rust 1.86; the MSRV is 1.85.
/// # Safety
/// The CPU has the enabled features.
#[cfg(all(target_arch = "x86_64", otedama_avx512))]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan_avx512(job: &Sha256dWork, start: u32, steps: u32, limit: u32, out: &mut Vec<u32>) {
    scan_lanes::<super::lanes::Avx512x16>(job, start, steps, limit, out)
}

/// The top 32 bits of a 256-bit little-endian target, the kernels' prefilter `limit`.
pub fn target_limit(target_le: &[u8; 32]) -> u32 {
    u32::from_le_bytes([target_le[28], target_le[29], target_le[30], target_le[31]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::{sha256d, Hash};

    fn top32(header: &[u8; 80]) -> u32 {
        let h = sha256d::Hash::hash(header).to_byte_array();
        u32::from_le_bytes([h[28], h[29], h[30], h[31]])
    }

    #[test]
    fn compress_matches_sha2() {
        let block = [7u8; 64];
        let mut a = IV;
        compress(&mut a, &block);
        let mut b = IV;
        sha2::block_api::compress256(&mut b, &[block]);
        assert_eq!(a, b);
    }

    #[test]
    fn every_kernel_finds_exactly_the_reference_candidates() {
        let mut header = [0u8; 80];
        for (i, b) in header.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
        let work = Sha256dWork::new(&header);
        let limit = u32::MAX / 64;
        let start = 0xffff_ff00u32; // wraps
        let count = 960u32; // a multiple of every step, of 3 and of 5
        let mut expect = Vec::new();
        for i in 0..count {
            let v = start.wrapping_add(i);
            header[76..].copy_from_slice(&v.swap_bytes().to_le_bytes());
            if top32(&header) <= limit {
                expect.push(v.swap_bytes());
            }
        }
        assert!(!expect.is_empty());
        for k in Sha256dKernel::available() {
            let mut got = Vec::new();
            k.scan(&work, start, count, limit, &mut got);
            assert_eq!(got, expect, "{}", k.name());
        }
        #[cfg(target_arch = "x86_64")]
        if Sha256dKernel::available().contains(&Sha256dKernel::ShaNi) {
            for ways in [1, 2, 3, 4, 5, 6, 8] {
                let mut got = Vec::new();
                scan_sha_ni_ways(ways, &work, start, count, limit, &mut got);
                assert_eq!(got, expect, "sha-ni x{ways}");
            }
        }
    }
}
