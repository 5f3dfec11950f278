//! SHA256d with the x86 SHA extensions (SHA-NI).
//!
//! `sha256rnds2` does two rounds and its latency is several times its issue interval, so a
//! single compression (as the `sha2` crate runs it) leaves the SHA unit idle most of the time.
//! This kernel runs [`WAYS`] nonces' compressions interleaved instruction by instruction, which
//! fills it; on top of that it skips the first round pair of the first hash's second block
//! (constant per header) and the last round pair of the second hash (only `H7` is needed, and
//! `H7 = IV7 + f` after rounds 60..61).

// Fixed-size state arrays indexed by round / row / lane read clearest as index loops.
#![allow(clippy::needless_range_loop)]

use super::sha256d::{Sha256dWork, IV, K};
use std::arch::x86_64::*;

/// Nonces in flight. Measured on AMD Zen 4 (MH/s, one thread; `compress256` / 2 = 14.1):
/// 1: 12.7, 2: 17.7, 3: 24.7, 4: 29.4, 5: 29.6, 6: 21.3, 8: 21.2. Beyond five the states no
/// longer fit the sixteen xmm registers the (VEX-less) SHA instructions can use.
pub(crate) const WAYS: usize = 4;

#[inline(always)]
unsafe fn k4(i: usize) -> __m128i {
    _mm_loadu_si128(K.as_ptr().add(4 * i).cast())
}

/// Loads `[s0..s7]` (a..h) as the ABEF and CDGH registers `sha256rnds2` works on.
#[inline(always)]
unsafe fn load_state(s: &[u32; 8]) -> (__m128i, __m128i) {
    let dcba = _mm_loadu_si128(s.as_ptr().cast());
    let hgfe = _mm_loadu_si128(s.as_ptr().add(4).cast());
    let cdab = _mm_shuffle_epi32::<0xb1>(dcba);
    let efgh = _mm_shuffle_epi32::<0x1b>(hgfe);
    (
        _mm_alignr_epi8::<8>(cdab, efgh),
        _mm_blend_epi16::<0xf0>(efgh, cdab),
    )
}

/// ABEF/CDGH back to message order: `(a, b, c, d)` and `(e, f, g, h)` in lanes 0..3.
#[inline(always)]
unsafe fn state_words(abef: __m128i, cdgh: __m128i) -> (__m128i, __m128i) {
    let feba = _mm_shuffle_epi32::<0x1b>(abef);
    let dchg = _mm_shuffle_epi32::<0xb1>(cdgh);
    (
        _mm_blend_epi16::<0xf0>(feba, dchg),
        _mm_alignr_epi8::<8>(dchg, feba),
    )
}

/// Next four schedule words from the previous sixteen `w0..w3`.
#[inline(always)]
unsafe fn sched(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
    let t = _mm_add_epi32(_mm_sha256msg1_epu32(w0, w1), _mm_alignr_epi8::<4>(w3, w2));
    _mm_sha256msg2_epu32(t, w3)
}

/// Four rounds on `N` interleaved states with their `K + W` vectors.
#[inline(always)]
unsafe fn rounds4<const N: usize>(
    abef: &mut [__m128i; N],
    cdgh: &mut [__m128i; N],
    kw: [__m128i; N],
) {
    for s in 0..N {
        cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], kw[s]);
    }
    for s in 0..N {
        abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32::<0x0e>(kw[s]));
    }
}

/// 48 rounds 16..63 with the schedule computed on the fly from `w` (rounds 0..15's words).
/// With `last_pair_only`, rounds 62..63 are skipped and `cdgh` holds the state after round 61.
#[inline(always)]
unsafe fn rounds_16_to_64<const N: usize>(
    abef: &mut [__m128i; N],
    cdgh: &mut [__m128i; N],
    w: &mut [[__m128i; 4]; N],
    skip_last_pair: bool,
) {
    for r in 4..16 {
        let i = r % 4;
        let mut kw = [_mm_setzero_si128(); N];
        for s in 0..N {
            let ws = &mut w[s];
            ws[i] = sched(ws[i], ws[(i + 1) % 4], ws[(i + 2) % 4], ws[(i + 3) % 4]);
            kw[s] = _mm_add_epi32(ws[i], k4(r));
        }
        if r == 15 && skip_last_pair {
            for s in 0..N {
                cdgh[s] = _mm_sha256rnds2_epu32(cdgh[s], abef[s], kw[s]);
            }
        } else {
            rounds4(abef, cdgh, kw);
        }
    }
}

/// Scans `steps * WAYS` big-endian nonce values from `start`; see [`Sha256dKernel::scan`].
///
/// [`Sha256dKernel::scan`]: super::sha256d::Sha256dKernel::scan
#[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
pub(crate) unsafe fn scan<const N: usize>(
    job: &Sha256dWork,
    start: u32,
    steps: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    // Per header: the midstate and the state after rounds 0..1 of the second block.
    let (mid_abef, mid_cdgh) = load_state(&job.midstate);
    let m0_base = _mm_setr_epi32(
        job.tail[0] as i32,
        job.tail[1] as i32,
        job.tail[2] as i32,
        0,
    );
    let pre_cdgh = _mm_sha256rnds2_epu32(mid_cdgh, mid_abef, _mm_add_epi32(m0_base, k4(0)));
    let pre_abef = mid_abef;
    let m1 = _mm_setr_epi32(0x8000_0000u32 as i32, 0, 0, 0);
    let m2 = _mm_setzero_si128();
    let m3 = _mm_setr_epi32(0, 0, 0, 640);
    let kw1 = _mm_add_epi32(m1, k4(1));
    let kw2 = _mm_add_epi32(m2, k4(2));
    let kw3 = _mm_add_epi32(m3, k4(3));
    // Second hash: IV, and its padding block words.
    let (iv_abef, iv_cdgh) = load_state(&IV);
    let p2 = _mm_setr_epi32(0x8000_0000u32 as i32, 0, 0, 0);
    let p3 = _mm_setr_epi32(0, 0, 0, 256);
    let pkw2 = _mm_add_epi32(p2, k4(2));
    let pkw3 = _mm_add_epi32(p3, k4(3));
    let iv7 = IV[7];

    for step in 0..steps {
        let base = start.wrapping_add(step.wrapping_mul(N as u32));
        // ---- First hash, second block.
        let mut w = [[_mm_setzero_si128(); 4]; N];
        let mut abef = [pre_abef; N];
        let mut cdgh = [pre_cdgh; N];
        let mut kw = [_mm_setzero_si128(); N];
        for s in 0..N {
            let m0 = _mm_insert_epi32::<3>(m0_base, base.wrapping_add(s as u32) as i32);
            w[s] = [m0, m1, m2, m3];
            kw[s] = _mm_add_epi32(m0, k4(0));
        }
        // Rounds 2..3 (0..1 are in `pre_*`).
        for s in 0..N {
            abef[s] = _mm_sha256rnds2_epu32(abef[s], cdgh[s], _mm_shuffle_epi32::<0x0e>(kw[s]));
        }
        rounds4(&mut abef, &mut cdgh, [kw1; N]);
        rounds4(&mut abef, &mut cdgh, [kw2; N]);
        rounds4(&mut abef, &mut cdgh, [kw3; N]);
        rounds_16_to_64(&mut abef, &mut cdgh, &mut w, false);
        // ---- Second hash.
        let mut kw = [_mm_setzero_si128(); N];
        let mut kw_b = [_mm_setzero_si128(); N];
        for s in 0..N {
            let (dcba, hgfe) = state_words(
                _mm_add_epi32(abef[s], mid_abef),
                _mm_add_epi32(cdgh[s], mid_cdgh),
            );
            w[s] = [dcba, hgfe, p2, p3];
            kw[s] = _mm_add_epi32(dcba, k4(0));
            kw_b[s] = _mm_add_epi32(hgfe, k4(1));
        }
        let mut abef = [iv_abef; N];
        let mut cdgh = [iv_cdgh; N];
        rounds4(&mut abef, &mut cdgh, kw);
        rounds4(&mut abef, &mut cdgh, kw_b);
        rounds4(&mut abef, &mut cdgh, [pkw2; N]);
        rounds4(&mut abef, &mut cdgh, [pkw3; N]);
        rounds_16_to_64(&mut abef, &mut cdgh, &mut w, true);
        // After rounds 60..61, `cdgh` holds (a, b, e, f) with f = e after round 60 = H7 - IV7.
        for (s, st) in cdgh.iter().enumerate() {
            let h7 = (_mm_cvtsi128_si32(*st) as u32).wrapping_add(iv7);
            if h7.swap_bytes() <= limit {
                out.push(base.wrapping_add(s as u32).swap_bytes());
            }
        }
    }
}
