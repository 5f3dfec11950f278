//! Vectors of independent 32-bit lanes for the multi-lane ("vertical") SHA-256 kernels: lane
//! `i` of every vector belongs to nonce `i`, so one instruction advances `N` hashes.
//!
//! Every method is `#[inline(always)]` and the kernels that use a SIMD type are compiled with
//! `#[target_feature]`, so the intrinsics inline into them; the types are only ever constructed
//! inside such a kernel, after runtime feature detection.

/// A vector of `N` 32-bit lanes.
pub(crate) trait U32Lanes: Copy {
    const N: usize;
    fn splat(x: u32) -> Self;
    /// `start, start + 1, ..., start + N - 1` (wrapping).
    fn sequence(start: u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    /// Rotate right by `R`; `L` must be `32 - R` (stable Rust cannot compute it from `R`).
    fn rotr<const R: i32, const L: i32>(self) -> Self;
    /// Logical shift right by `R`.
    fn shr<const R: i32>(self) -> Self;
    fn xor3(a: Self, b: Self, c: Self) -> Self {
        a.xor(b).xor(c)
    }
    /// `(e & f) ^ (!e & g)`.
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// `(a & b) ^ (a & c) ^ (b & c)`.
    fn maj(a: Self, b: Self, c: Self) -> Self;
    /// A bit per lane: lane `i` is `<= limit` after a byte swap (the top 32 bits of a hash read
    /// as a little-endian number, from the big-endian SHA-256 word).
    fn swapped_le_mask(self, limit: u32) -> u64;
}

impl U32Lanes for u32 {
    const N: usize = 1;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        x
    }
    #[inline(always)]
    fn sequence(start: u32) -> Self {
        start
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        self ^ o
    }
    #[inline(always)]
    fn rotr<const R: i32, const L: i32>(self) -> Self {
        self.rotate_right(R as u32)
    }
    #[inline(always)]
    fn shr<const R: i32>(self) -> Self {
        self >> R
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        g ^ (e & (f ^ g))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        (a & b) | (c & (a | b))
    }
    #[inline(always)]
    fn swapped_le_mask(self, limit: u32) -> u64 {
        (self.swap_bytes() <= limit) as u64
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx2x8;
#[cfg(all(target_arch = "x86_64", otedama_avx512))]
pub(crate) use x86::Avx512x16;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::U32Lanes;
    use std::arch::x86_64::*;

    /// Eight lanes in a 256-bit AVX2 register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2x8(__m256i);

    // SAFETY (all impls below): `Avx2x8` values only exist inside functions compiled with
    // `#[target_feature(enable = "avx2")]` that run after `is_x86_feature_detected!("avx2")`.
    impl U32Lanes for Avx2x8 {
        const N: usize = 8;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { Avx2x8(_mm256_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        fn sequence(start: u32) -> Self {
            unsafe {
                Avx2x8(_mm256_add_epi32(
                    _mm256_set1_epi32(start as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                ))
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { Avx2x8(_mm256_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { Avx2x8(_mm256_xor_si256(self.0, o.0)) }
        }
        #[inline(always)]
        fn rotr<const R: i32, const L: i32>(self) -> Self {
            unsafe {
                Avx2x8(_mm256_or_si256(
                    _mm256_srli_epi32::<R>(self.0),
                    _mm256_slli_epi32::<L>(self.0),
                ))
            }
        }
        #[inline(always)]
        fn shr<const R: i32>(self) -> Self {
            unsafe { Avx2x8(_mm256_srli_epi32::<R>(self.0)) }
        }
        #[inline(always)]
        fn ch(e: Self, f: Self, g: Self) -> Self {
            unsafe {
                Avx2x8(_mm256_xor_si256(
                    g.0,
                    _mm256_and_si256(e.0, _mm256_xor_si256(f.0, g.0)),
                ))
            }
        }
        #[inline(always)]
        fn maj(a: Self, b: Self, c: Self) -> Self {
            unsafe {
                Avx2x8(_mm256_or_si256(
                    _mm256_and_si256(a.0, b.0),
                    _mm256_and_si256(c.0, _mm256_or_si256(a.0, b.0)),
                ))
            }
        }
        #[inline(always)]
        fn swapped_le_mask(self, limit: u32) -> u64 {
            unsafe {
                let bswap = _mm256_setr_epi8(
                    3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3, 2, 1, 0, 7, 6, 5, 4,
                    11, 10, 9, 8, 15, 14, 13, 12,
                );
                let v = _mm256_shuffle_epi8(self.0, bswap);
                // Unsigned v <= limit  <=>  max(v, limit) == limit.
                let lim = _mm256_set1_epi32(limit as i32);
                let le = _mm256_cmpeq_epi32(_mm256_max_epu32(v, lim), lim);
                _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32 as u64
            }
        }
    }

    /// Sixteen lanes in a 512-bit AVX-512 register (native rotates and three-input logic); needs
    /// AVX-512F and AVX-512BW.
    #[cfg(otedama_avx512)]
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512x16(__m512i);

    // SAFETY (all impls below): `Avx512x16` values only exist inside functions compiled with
    // `#[target_feature(enable = "avx512f,avx512bw")]` that run after `is_x86_feature_detected!`.
    // AVX-512 intrinsics are stable since Rust 1.89; build.rs sets `otedama_avx512` only there.
    #[cfg(otedama_avx512)]
    #[allow(clippy::incompatible_msrv)]
    impl U32Lanes for Avx512x16 {
        const N: usize = 16;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            unsafe { Avx512x16(_mm512_set1_epi32(x as i32)) }
        }
        #[inline(always)]
        fn sequence(start: u32) -> Self {
            unsafe {
                Avx512x16(_mm512_add_epi32(
                    _mm512_set1_epi32(start as i32),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                ))
            }
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { Avx512x16(_mm512_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { Avx512x16(_mm512_xor_si512(self.0, o.0)) }
        }
        #[inline(always)]
        fn rotr<const R: i32, const L: i32>(self) -> Self {
            unsafe { Avx512x16(_mm512_ror_epi32::<R>(self.0)) }
        }
        #[inline(always)]
        fn shr<const R: i32>(self) -> Self {
            // The immediate form takes a `u32` constant; with a constant count LLVM emits the
            // immediate shift anyway.
            unsafe { Avx512x16(_mm512_srl_epi32(self.0, _mm_cvtsi32_si128(R))) }
        }
        #[inline(always)]
        fn xor3(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx512x16(_mm512_ternarylogic_epi32::<0x96>(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn ch(e: Self, f: Self, g: Self) -> Self {
            unsafe { Avx512x16(_mm512_ternarylogic_epi32::<0xca>(e.0, f.0, g.0)) }
        }
        #[inline(always)]
        fn maj(a: Self, b: Self, c: Self) -> Self {
            unsafe { Avx512x16(_mm512_ternarylogic_epi32::<0xe8>(a.0, b.0, c.0)) }
        }
        #[inline(always)]
        fn swapped_le_mask(self, limit: u32) -> u64 {
            unsafe {
                let bswap = _mm512_set4_epi32(0x0c0d_0e0f, 0x0809_0a0b, 0x0405_0607, 0x0001_0203);
                let mid = _mm512_shuffle_epi8(self.0, bswap);
                _mm512_cmple_epu32_mask(mid, _mm512_set1_epi32(limit as i32)) as u64
            }
        }
    }
}
