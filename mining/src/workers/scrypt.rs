//! scrypt(N=1024, r=1, p=1) of 80-byte headers, several at once.
//!
//! Almost all of scrypt's time is its 2048 BlockMix steps, four thousand Salsa20/8 cores per
//! hash, each a chain of dependent add-rotate-xor steps. The kernels keep each hash's 64-byte
//! Salsa block as four 128-bit rows in the diagonal order SIMD Salsa implementations use (row
//! `i` holds words `(4i, 4i+5, 4i+10, 4i+15) mod 16`, so a column round is four whole-row
//! quarter steps and a row round the same after rotating three rows), and pack the rows of
//! several hashes side by side in one register (AVX2: 2 hashes per 256-bit register; AVX-512:
//! 4 per 512-bit register, with native rotates). Several registers' worth of hashes are then
//! interleaved instruction by instruction ([`ScryptKernel::interleave`]), so that while one
//! chain waits on its last add the others issue: the vector units stay busy.
//!
//! The scratchpad `V` (128 KiB per hash) is stored as the registers are laid out, so the first
//! loop writes whole registers; the second loop's data-dependent reads load each hash's 16-byte
//! row pieces from its own `V` entry and assemble the register.
//!
//! PBKDF2-HMAC-SHA256 (before and after) uses the `sha2` crate's compression function (SHA-NI
//! where the CPU has it), with the first header block of the HMAC key hash computed once per
//! header.

// Fixed-size state arrays indexed by round / row / lane read clearest as index loops.
#![allow(clippy::needless_range_loop)]

use otedama_consensus::work::Target;

/// Which implementation hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScryptKernel {
    /// AVX-512 (F + VL): 4 hashes per register (built with Rust 1.89 or later).
    Avx512,
    /// AVX2: 2 hashes per register.
    Avx2,
    /// Plain Rust (any CPU), one hash per 4-lane row.
    Portable,
}

/// Registers' worth of hashes interleaved per kernel. Measured on AMD Zen 4 (kH/s, one thread,
/// the `scrypt` crate 5.6): AVX-512 x1..x4: 21.0, 29.6, 33.8, 32.5; AVX2: 12.1, 20.0, 23.8,
/// 22.1; portable: 5.3, 4.3, 3.9, 3.9. Three registers (12 hashes, 1.5 MiB of scratchpad with
/// AVX-512) is the best trade between latency hiding and cache footprint here.
const AVX512_WAYS: usize = 3;
const AVX2_WAYS: usize = 3;
const PORTABLE_WAYS: usize = 1;

impl ScryptKernel {
    pub fn best() -> ScryptKernel {
        ScryptKernel::available()[0]
    }

    /// Every kernel this CPU runs, fastest first.
    pub fn available() -> Vec<ScryptKernel> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            #[cfg(otedama_avx512)]
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                v.push(ScryptKernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(ScryptKernel::Avx2);
            }
        }
        v.push(ScryptKernel::Portable);
        v
    }

    pub fn name(self) -> &'static str {
        match self {
            ScryptKernel::Avx512 => "avx512",
            ScryptKernel::Avx2 => "avx2",
            ScryptKernel::Portable => "portable",
        }
    }

    /// Hashes per register.
    fn lanes(self) -> usize {
        match self {
            ScryptKernel::Avx512 => 4,
            ScryptKernel::Avx2 => 2,
            ScryptKernel::Portable => 1,
        }
    }

    /// Registers interleaved.
    pub fn interleave(self) -> usize {
        match self {
            ScryptKernel::Avx512 => AVX512_WAYS,
            ScryptKernel::Avx2 => AVX2_WAYS,
            ScryptKernel::Portable => PORTABLE_WAYS,
        }
    }

    /// Hashes computed together.
    pub fn batch(self) -> usize {
        self.lanes() * self.interleave()
    }
}

/// What is fixed for all nonces of one header.
#[derive(Clone, Debug)]
pub struct ScryptWork {
    header: [u8; 80],
    /// SHA-256 state after the header's first 64 bytes (the HMAC key is the header's hash).
    key_mid: [u32; 8],
}

impl ScryptWork {
    /// For `header` (its nonce field is ignored).
    pub fn new(header: &[u8; 80]) -> ScryptWork {
        let mut key_mid = super::sha256d::IV;
        let first: [u8; 64] = header[..64].try_into().expect("64 bytes");
        compress(&mut key_mid, &first);
        ScryptWork {
            header: *header,
            key_mid,
        }
    }

    pub fn header(&self, nonce: u32) -> [u8; 80] {
        let mut h = self.header;
        h[76..].copy_from_slice(&nonce.to_le_bytes());
        h
    }
}

#[inline]
fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::block_api::compress256(state, std::slice::from_ref(block));
}

fn words_be(block: &mut [u8; 64], at: usize, words: &[u32]) {
    for (i, w) in words.iter().enumerate() {
        block[at + 4 * i..at + 4 * i + 4].copy_from_slice(&w.to_be_bytes());
    }
}

/// A final SHA-256 block: `len` message bytes so far plus padding; `data` at the start.
fn last_block(data: &[u8], total_len: u64) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[..data.len()].copy_from_slice(data);
    b[data.len()] = 0x80;
    b[56..].copy_from_slice(&(total_len * 8).to_be_bytes());
    b
}

/// The HMAC-SHA256 states of one header (the key): after `ipad` and after `opad`.
struct Hmac {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Hmac {
    fn new(work: &ScryptWork, header: &[u8; 80]) -> Hmac {
        // The key is longer than a block: HMAC uses its SHA-256.
        let mut key = work.key_mid;
        compress(&mut key, &last_block(&header[64..], 80));
        let mut ipad = [0x36u8; 64];
        let mut opad = [0x5cu8; 64];
        for (i, w) in key.iter().enumerate() {
            let b = w.to_be_bytes();
            for j in 0..4 {
                ipad[4 * i + j] ^= b[j];
                opad[4 * i + j] ^= b[j];
            }
        }
        let mut inner = super::sha256d::IV;
        compress(&mut inner, &ipad);
        let mut outer = super::sha256d::IV;
        compress(&mut outer, &opad);
        Hmac { inner, outer }
    }

    /// The outer hash over a 32-byte inner digest.
    fn finish(&self, inner_digest: &[u32; 8]) -> [u32; 8] {
        let mut b = [0u8; 64];
        words_be(&mut b, 0, inner_digest);
        b[32] = 0x80;
        b[56..].copy_from_slice(&(96u64 * 8).to_be_bytes());
        let mut s = self.outer;
        compress(&mut s, &b);
        s
    }
}

/// The Salsa word order inside a 64-byte block's four rows: row `r`, lane `i` holds word
/// `DIAG[4 * r + i]`.
const DIAG: [usize; 16] = [0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11];

/// PBKDF2-HMAC-SHA256(header, header, 1, 128) as 32 little-endian words in diagonal order.
fn pbkdf2_in(hmac: &Hmac, header: &[u8; 80]) -> [u32; 32] {
    let first: &[u8; 64] = header[..64].try_into().expect("64 bytes");
    let mut after_first = hmac.inner;
    compress(&mut after_first, first);
    let mut b = [0u32; 32];
    for i in 0..4u32 {
        let mut tail = [0u8; 20];
        tail[..16].copy_from_slice(&header[64..]);
        tail[16..].copy_from_slice(&(i + 1).to_be_bytes());
        let mut s = after_first;
        compress(&mut s, &last_block(&tail, 64 + 84));
        let t = hmac.finish(&s);
        for (j, w) in t.iter().enumerate() {
            b[8 * i as usize + j] = w.swap_bytes();
        }
    }
    let mut d = [0u32; 32];
    for blk in 0..2 {
        for (pos, src) in DIAG.iter().enumerate() {
            d[16 * blk + pos] = b[16 * blk + src];
        }
    }
    d
}

/// PBKDF2-HMAC-SHA256(header, B, 1, 32) from `B` in diagonal order: the scrypt hash.
fn pbkdf2_out(hmac: &Hmac, d: &[u32; 32]) -> [u8; 32] {
    let mut b = [0u32; 32];
    for blk in 0..2 {
        for (pos, src) in DIAG.iter().enumerate() {
            b[16 * blk + src] = d[16 * blk + pos];
        }
    }
    let mut s = hmac.inner;
    for half in 0..2 {
        let mut block = [0u8; 64];
        for j in 0..16 {
            block[4 * j..4 * j + 4].copy_from_slice(&b[16 * half + j].to_le_bytes());
        }
        compress(&mut s, &block);
    }
    compress(&mut s, &last_block(&1u32.to_be_bytes(), 64 + 128 + 4));
    let t = hmac.finish(&s);
    let mut out = [0u8; 32];
    for (j, w) in t.iter().enumerate() {
        out[4 * j..4 * j + 4].copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// Registers of 4-word rows, one row of each of `HASHES` hashes side by side.
pub(crate) trait Rows: Copy {
    const HASHES: usize;
    fn add(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    /// Rotate left by `L`; `R` must be `32 - L`.
    fn rotl<const L: i32, const R: i32>(self) -> Self;
    /// Within each row: lane `i` takes lane `i + 1` (`i + 2`, `i + 3`), mod 4.
    fn shuf1(self) -> Self;
    fn shuf2(self) -> Self;
    fn shuf3(self) -> Self;
    /// Hash `h`'s row from `p[h]` (4 words each).
    ///
    /// # Safety
    /// Each of the first `HASHES` pointers is valid for reading 16 bytes.
    unsafe fn gather(p: &[*const u32; 4]) -> Self;
    /// Hash `h`'s row to `p[h]`.
    ///
    /// # Safety
    /// Each of the first `HASHES` pointers is valid for writing 16 bytes.
    unsafe fn scatter(self, p: &[*mut u32; 4]);
    /// Lane 0 of each hash's row.
    fn firsts(self) -> [u32; 4];
}

impl Rows for [u32; 4] {
    const HASHES: usize = 1;
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        [
            self[0].wrapping_add(o[0]),
            self[1].wrapping_add(o[1]),
            self[2].wrapping_add(o[2]),
            self[3].wrapping_add(o[3]),
        ]
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        [
            self[0] ^ o[0],
            self[1] ^ o[1],
            self[2] ^ o[2],
            self[3] ^ o[3],
        ]
    }
    #[inline(always)]
    fn rotl<const L: i32, const R: i32>(self) -> Self {
        self.map(|x| x.rotate_left(L as u32))
    }
    #[inline(always)]
    fn shuf1(self) -> Self {
        [self[1], self[2], self[3], self[0]]
    }
    #[inline(always)]
    fn shuf2(self) -> Self {
        [self[2], self[3], self[0], self[1]]
    }
    #[inline(always)]
    fn shuf3(self) -> Self {
        [self[3], self[0], self[1], self[2]]
    }
    #[inline(always)]
    unsafe fn gather(p: &[*const u32; 4]) -> Self {
        p[0].cast::<[u32; 4]>().read_unaligned()
    }
    #[inline(always)]
    unsafe fn scatter(self, p: &[*mut u32; 4]) {
        p[0].cast::<[u32; 4]>().write_unaligned(self)
    }
    #[inline(always)]
    fn firsts(self) -> [u32; 4] {
        [self[0], 0, 0, 0]
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Rows;
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(crate) struct Avx2Rows(__m256i);

    // SAFETY (all methods): only used inside `#[target_feature(enable = "avx2")]` kernels run
    // after runtime detection.
    impl Rows for Avx2Rows {
        const HASHES: usize = 2;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { Avx2Rows(_mm256_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { Avx2Rows(_mm256_xor_si256(self.0, o.0)) }
        }
        #[inline(always)]
        fn rotl<const L: i32, const R: i32>(self) -> Self {
            unsafe {
                Avx2Rows(_mm256_or_si256(
                    _mm256_slli_epi32::<L>(self.0),
                    _mm256_srli_epi32::<R>(self.0),
                ))
            }
        }
        #[inline(always)]
        fn shuf1(self) -> Self {
            unsafe { Avx2Rows(_mm256_shuffle_epi32::<0x39>(self.0)) }
        }
        #[inline(always)]
        fn shuf2(self) -> Self {
            unsafe { Avx2Rows(_mm256_shuffle_epi32::<0x4e>(self.0)) }
        }
        #[inline(always)]
        fn shuf3(self) -> Self {
            unsafe { Avx2Rows(_mm256_shuffle_epi32::<0x93>(self.0)) }
        }
        #[inline(always)]
        unsafe fn gather(p: &[*const u32; 4]) -> Self {
            Avx2Rows(_mm256_loadu2_m128i(p[1].cast(), p[0].cast()))
        }
        #[inline(always)]
        unsafe fn scatter(self, p: &[*mut u32; 4]) {
            _mm256_storeu2_m128i(p[1].cast(), p[0].cast(), self.0)
        }
        #[inline(always)]
        fn firsts(self) -> [u32; 4] {
            unsafe {
                [
                    _mm256_extract_epi32::<0>(self.0) as u32,
                    _mm256_extract_epi32::<4>(self.0) as u32,
                    0,
                    0,
                ]
            }
        }
    }

    #[cfg(otedama_avx512)]
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512Rows(__m512i);

    // SAFETY (all methods): only used inside `#[target_feature(enable = "avx512f,avx512vl")]`
    // kernels run after runtime detection.
    // AVX-512 intrinsics are stable since Rust 1.89; build.rs sets `otedama_avx512` only there.
    #[cfg(otedama_avx512)]
    #[allow(clippy::incompatible_msrv)]
    impl Rows for Avx512Rows {
        const HASHES: usize = 4;
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            unsafe { Avx512Rows(_mm512_add_epi32(self.0, o.0)) }
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            unsafe { Avx512Rows(_mm512_xor_si512(self.0, o.0)) }
        }
        #[inline(always)]
        fn rotl<const L: i32, const R: i32>(self) -> Self {
            unsafe { Avx512Rows(_mm512_rol_epi32::<L>(self.0)) }
        }
        #[inline(always)]
        fn shuf1(self) -> Self {
            unsafe { Avx512Rows(_mm512_shuffle_epi32::<0x39>(self.0)) }
        }
        #[inline(always)]
        fn shuf2(self) -> Self {
            unsafe { Avx512Rows(_mm512_shuffle_epi32::<0x4e>(self.0)) }
        }
        #[inline(always)]
        fn shuf3(self) -> Self {
            unsafe { Avx512Rows(_mm512_shuffle_epi32::<0x93>(self.0)) }
        }
        #[inline(always)]
        unsafe fn gather(p: &[*const u32; 4]) -> Self {
            let lo = _mm256_loadu2_m128i(p[1].cast(), p[0].cast());
            let hi = _mm256_loadu2_m128i(p[3].cast(), p[2].cast());
            Avx512Rows(_mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi))
        }
        #[inline(always)]
        unsafe fn scatter(self, p: &[*mut u32; 4]) {
            for (h, ptr) in p.iter().enumerate() {
                let v = match h {
                    0 => _mm512_extracti32x4_epi32::<0>(self.0),
                    1 => _mm512_extracti32x4_epi32::<1>(self.0),
                    2 => _mm512_extracti32x4_epi32::<2>(self.0),
                    _ => _mm512_extracti32x4_epi32::<3>(self.0),
                };
                _mm_storeu_si128(ptr.cast(), v);
            }
        }
        #[inline(always)]
        fn firsts(self) -> [u32; 4] {
            unsafe {
                let idx = _mm_setr_epi32(0, 4, 8, 12);
                let v = _mm512_castsi512_si128(_mm512_permutexvar_epi32(
                    _mm512_castsi128_si512(idx),
                    self.0,
                ));
                std::mem::transmute::<__m128i, [u32; 4]>(v)
            }
        }
    }
}

/// Salsa20/8 on `K` registers of blocks: `x = x + rounds(x)` (rows `[a, b, c, d]`).
#[inline(always)]
fn salsa8<R: Rows, const K: usize>(x: &mut [[R; 4]; K]) {
    let orig = *x;
    let mut a = [orig[0][0]; K];
    let mut b = [orig[0][1]; K];
    let mut c = [orig[0][2]; K];
    let mut d = [orig[0][3]; K];
    for k in 0..K {
        a[k] = orig[k][0];
        b[k] = orig[k][1];
        c[k] = orig[k][2];
        d[k] = orig[k][3];
    }
    for _ in 0..8 {
        // A column round, then (rows rotated) a row round: the same four steps.
        for k in 0..K {
            b[k] = b[k].xor(a[k].add(d[k]).rotl::<7, 25>());
        }
        for k in 0..K {
            c[k] = c[k].xor(b[k].add(a[k]).rotl::<9, 23>());
        }
        for k in 0..K {
            d[k] = d[k].xor(c[k].add(b[k]).rotl::<13, 19>());
        }
        for k in 0..K {
            a[k] = a[k].xor(d[k].add(c[k]).rotl::<18, 14>());
        }
        for k in 0..K {
            let (nb, nc, nd) = (d[k].shuf1(), c[k].shuf2(), b[k].shuf3());
            b[k] = nb;
            c[k] = nc;
            d[k] = nd;
        }
    }
    for k in 0..K {
        x[k] = [
            a[k].add(orig[k][0]),
            b[k].add(orig[k][1]),
            c[k].add(orig[k][2]),
            d[k].add(orig[k][3]),
        ];
    }
}

/// BlockMix (r = 1) on `K` registers of `[block0 rows, block1 rows]`.
#[inline(always)]
fn block_mix<R: Rows, const K: usize>(x: &mut [[R; 8]; K]) {
    let mut t = [[x[0][0]; 4]; K];
    for k in 0..K {
        for i in 0..4 {
            t[k][i] = x[k][4 + i].xor(x[k][i]);
        }
    }
    salsa8(&mut t);
    for k in 0..K {
        for i in 0..4 {
            x[k][i] = t[k][i];
            t[k][i] = t[k][i].xor(x[k][4 + i]);
        }
    }
    salsa8(&mut t);
    for k in 0..K {
        for i in 0..4 {
            x[k][4 + i] = t[k][i];
        }
    }
}

/// ROMix on `K * R::HASHES` hashes' states `d` (diagonal order); `v` holds
/// `1024 * K * 8` rows.
#[inline(always)]
fn romix<R: Rows, const K: usize>(d: &mut [[u32; 32]], v: &mut [R]) {
    let hashes = R::HASHES;
    assert_eq!(d.len(), K * hashes);
    assert_eq!(v.len(), 1024 * K * 8);
    // Pack: register k, row q, hash h = d[k * HASHES + h][4q..4q + 4].
    let mut x = [[unsafe_gather::<R>(&[d[0].as_ptr(); 4]); 8]; K];
    for k in 0..K {
        for q in 0..8 {
            let mut p = [d[k * hashes].as_ptr(); 4];
            for (h, ptr) in p.iter_mut().enumerate().take(hashes) {
                *ptr = d[k * hashes + h][4 * q..].as_ptr();
            }
            x[k][q] = unsafe_gather::<R>(&p);
        }
    }
    for i in 0..1024 {
        let row = &mut v[i * K * 8..(i + 1) * K * 8];
        for k in 0..K {
            row[k * 8..k * 8 + 8].copy_from_slice(&x[k]);
        }
        block_mix(&mut x);
    }
    let base = v.as_ptr().cast::<u32>();
    // One register of rows is 4 * HASHES words; hash h's piece is at word offset 4h.
    let reg_words = 4 * hashes;
    for _ in 0..1024 {
        for k in 0..K {
            let firsts = x[k][4].firsts();
            let mut entry = [0usize; 4];
            for h in 0..hashes {
                let j = (firsts[h] & 1023) as usize;
                entry[h] = (j * K + k) * 8 * reg_words + 4 * h;
            }
            for q in 0..8 {
                let mut p = [base; 4];
                for h in 0..hashes {
                    // SAFETY: j < 1024, k < K, q < 8, h < HASHES: inside `v`.
                    p[h] = unsafe { base.add(entry[h] + q * reg_words) };
                }
                x[k][q] = x[k][q].xor(unsafe_gather::<R>(&p));
            }
        }
        block_mix(&mut x);
    }
    for k in 0..K {
        for q in 0..8 {
            let mut p = [d[k * hashes].as_mut_ptr(); 4];
            for (h, ptr) in p.iter_mut().enumerate().take(hashes) {
                *ptr = d[k * hashes + h][4 * q..].as_mut_ptr();
            }
            // SAFETY: each pointer is 4 words inside its hash's 32-word state.
            unsafe { x[k][q].scatter(&p) };
        }
    }
}

#[inline(always)]
fn unsafe_gather<R: Rows>(p: &[*const u32; 4]) -> R {
    // SAFETY: callers pass pointers to at least 4 readable words for every used hash slot.
    unsafe { R::gather(p) }
}

// `unsafe fn`: safe `#[target_feature]` functions need Rust 1.86; the MSRV is 1.85.
/// # Safety
/// The CPU has the enabled features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn romix_avx2<const K: usize>(d: &mut [[u32; 32]], v: &mut [Scratch]) {
    // SAFETY: `Scratch` is 64-byte aligned and two 32-byte registers; the cast slice covers
    // the same memory.
    let v = unsafe {
        std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<x86::Avx2Rows>(), v.len() * 2)
    };
    romix::<x86::Avx2Rows, K>(d, v)
}

// `unsafe fn`: safe `#[target_feature]` functions need Rust 1.86; the MSRV is 1.85.
/// # Safety
/// The CPU has the enabled features.
#[cfg(all(target_arch = "x86_64", otedama_avx512))]
#[target_feature(enable = "avx512f,avx512vl")]
unsafe fn romix_avx512<const K: usize>(d: &mut [[u32; 32]], v: &mut [Scratch]) {
    // SAFETY: `Scratch` is one 64-byte aligned register.
    let v = unsafe {
        std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<x86::Avx512Rows>(), v.len())
    };
    romix::<x86::Avx512Rows, K>(d, v)
}

fn romix_portable<const K: usize>(d: &mut [[u32; 32]], v: &mut [Scratch]) {
    // SAFETY: `Scratch` is 64 bytes of `u32`s, four rows.
    let v =
        unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<[u32; 4]>(), v.len() * 4) };
    romix::<[u32; 4], K>(d, v)
}

/// Dispatches a `romix_*::<K>` on a runtime `K` in 1..=4.
macro_rules! with_ways {
    ($f:ident, $k:expr, $d:expr, $v:expr) => {
        match $k {
            1 => $f::<1>($d, $v),
            2 => $f::<2>($d, $v),
            3 => $f::<3>($d, $v),
            _ => $f::<4>($d, $v),
        }
    };
}

/// 64 bytes, aligned for any register type.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Scratch([u32; 16]);

/// A kernel with its scratchpad (128 KiB per hash of a batch), reused across batches.
pub struct ScryptHasher {
    kernel: ScryptKernel,
    ways: usize,
    v: Vec<Scratch>,
    states: Vec<[u32; 32]>,
    hmacs: Vec<Hmac>,
}

impl ScryptHasher {
    /// Panics if this CPU lacks the kernel's instructions.
    pub fn new(kernel: ScryptKernel) -> ScryptHasher {
        ScryptHasher::with_interleave(kernel, kernel.interleave())
    }

    /// With `ways` registers interleaved (1..=4) instead of the kernel's default (benchmarks).
    pub fn with_interleave(kernel: ScryptKernel, ways: usize) -> ScryptHasher {
        assert!(
            ScryptKernel::available().contains(&kernel),
            "{} is not supported by this CPU",
            kernel.name()
        );
        assert!((1..=4).contains(&ways), "1 to 4 ways");
        let batch = kernel.lanes() * ways;
        ScryptHasher {
            kernel,
            ways,
            // 1024 entries x 128 bytes per hash = 2 scratch units each.
            v: vec![Scratch([0; 16]); 1024 * 2 * batch],
            states: vec![[0; 32]; batch],
            hmacs: Vec::with_capacity(batch),
        }
    }

    pub fn kernel(&self) -> ScryptKernel {
        self.kernel
    }

    /// Hashes per call of [`Self::hash_nonces`].
    pub fn batch(&self) -> usize {
        self.kernel.lanes() * self.ways
    }

    /// The scrypt hashes of `work`'s header with each of `nonces` (exactly [`Self::batch`]).
    pub fn hash_nonces(&mut self, work: &ScryptWork, nonces: &[u32], out: &mut [[u8; 32]]) {
        assert_eq!(nonces.len(), self.batch());
        assert_eq!(out.len(), self.batch());
        self.hmacs.clear();
        for (n, st) in nonces.iter().zip(self.states.iter_mut()) {
            let header = work.header(*n);
            let hmac = Hmac::new(work, &header);
            *st = pbkdf2_in(&hmac, &header);
            self.hmacs.push(hmac);
        }
        match self.kernel {
            #[cfg(all(target_arch = "x86_64", otedama_avx512))]
            // SAFETY: `new` checked the CPU has AVX-512F and VL.
            ScryptKernel::Avx512 => unsafe {
                with_ways!(romix_avx512, self.ways, &mut self.states, &mut self.v)
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `new` checked the CPU has AVX2.
            ScryptKernel::Avx2 => unsafe {
                with_ways!(romix_avx2, self.ways, &mut self.states, &mut self.v)
            },
            #[cfg(not(target_arch = "x86_64"))]
            ScryptKernel::Avx2 => unreachable!("checked in new"),
            #[cfg(not(all(target_arch = "x86_64", otedama_avx512)))]
            ScryptKernel::Avx512 => unreachable!("checked in new"),
            ScryptKernel::Portable => {
                with_ways!(romix_portable, self.ways, &mut self.states, &mut self.v)
            }
        }
        for ((st, hmac), o) in self.states.iter().zip(&self.hmacs).zip(out.iter_mut()) {
            *o = pbkdf2_out(hmac, st);
        }
    }

    /// Hashes `count` nonces from `start` (rounded up to whole batches) and appends the nonces
    /// whose hash meets `target` to `found`.
    pub fn scan(
        &mut self,
        work: &ScryptWork,
        start: u32,
        count: u32,
        target: &Target,
        found: &mut Vec<u32>,
    ) {
        let batch = self.batch();
        let mut nonces = vec![0u32; batch];
        let mut out = vec![[0u8; 32]; batch];
        let mut done = 0u32;
        while done < count {
            for (i, n) in nonces.iter_mut().enumerate() {
                *n = start.wrapping_add(done).wrapping_add(i as u32);
            }
            self.hash_nonces(work, &nonces, &mut out);
            for (n, h) in nonces.iter().zip(&out) {
                if target.is_met_by(h) {
                    found.push(*n);
                }
            }
            done = done.saturating_add(batch as u32);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::pow::PowAlgo;

    #[test]
    fn every_kernel_and_interleave_equals_the_reference() {
        let mut header = [0u8; 80];
        for (i, b) in header.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(91).wrapping_add(3);
        }
        let work = ScryptWork::new(&header);
        for (k, ways) in ScryptKernel::available()
            .into_iter()
            .flat_map(|k| (1..=4).map(move |w| (k, w)))
        {
            let mut h = ScryptHasher::with_interleave(k, ways);
            let nonces: Vec<u32> = (0..h.batch() as u32).map(|i| 0xffff_fffe ^ i).collect();
            let mut out = vec![[0u8; 32]; h.batch()];
            h.hash_nonces(&work, &nonces, &mut out);
            for (n, got) in nonces.iter().zip(&out) {
                assert_eq!(
                    *got,
                    PowAlgo::Scrypt1024.hash(&work.header(*n)),
                    "{} x{ways} nonce {n}",
                    k.name()
                );
            }
        }
    }
}
