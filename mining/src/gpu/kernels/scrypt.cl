// scrypt(N=1024, r=1, p=1) of an 80-byte header, one hash per work item (Otedama GPU worker).
//
// The host computes the SHA-256 midstate of the header's first 64 bytes (the HMAC key is the
// header's hash, and only its second block holds the nonce). Per item: the HMAC key states,
// PBKDF2-HMAC-SHA256(header, header, 1, 128), ROMix with Salsa20/8, and PBKDF2 again. The
// scratchpad keeps every LOOKUP_GAP-th of the 1024 ROMix states (128 bytes each), so an item
// needs 128 KiB / LOOKUP_GAP of global memory; a lookup recomputes up to LOOKUP_GAP - 1
// BlockMix steps from the stored state before it. Many items are in flight per compute unit,
// which hides the latency of the scratchpad reads.
//
// Nonces: item `gid` hashes nonce `base + gid`. The hash's top 32 bits (read as a 256-bit
// little-endian number) at most `limit` are reported; the host re-checks with the reference.
//
// params layout (uints): 0..7 SHA-256 state after the header's first 64 bytes, 8..27 the
// header as 20 big-endian words (word 19, the nonce, is replaced per item).

#ifndef LOOKUP_GAP
#define LOOKUP_GAP 1
#endif
#define SCRYPT_N 1024
#define STORED ((SCRYPT_N + LOOKUP_GAP - 1) / LOOKUP_GAP)

#define ROTL(x, n) rotate((uint)(x), (uint)(n))
#define BSWAP(x) as_uint(as_uchar4(x).wzyx)

__constant uint IV[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

// SHA-256 compression of the 16 big-endian words `w` into `st`.
static void sha256_block(uint st[8], const uint in[16]) {
    uint w[64];
    for (int i = 0; i < 16; i++) w[i] = in[i];
    for (int t = 16; t < 64; t++) w[t] = S1(w[t - 2]) + w[t - 7] + S0(w[t - 15]) + w[t - 16];
    uint a = st[0], b = st[1], c = st[2], d = st[3], e = st[4], f = st[5], g = st[6], h = st[7];
    for (int t = 0; t < 64; t++) {
        uint t1 = h + E1(e) + CH(e, f, g) + K[t] + w[t];
        uint t2 = E0(a) + MAJ(a, b, c);
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
    st[4] += e; st[5] += f; st[6] += g; st[7] += h;
}

// The outer HMAC hash over a 32-byte inner digest (total length 64 + 32 bytes).
static void hmac_finish(const uint outer[8], const uint digest[8], uint res[8]) {
    uint blk[16];
    for (int i = 0; i < 8; i++) { blk[i] = digest[i]; res[i] = outer[i]; }
    blk[8] = 0x80000000u;
    for (int i = 9; i < 15; i++) blk[i] = 0;
    blk[15] = (64 + 32) * 8;
    sha256_block(res, blk);
}

#define QR(a, b, c, d)           \
    b ^= ROTL(a + d, 7);         \
    c ^= ROTL(b + a, 9);         \
    d ^= ROTL(c + b, 13);        \
    a ^= ROTL(d + c, 18);

// Salsa20/8 core on 16 words, in place.
static void salsa8(uint B[16]) {
    uint x0 = B[0], x1 = B[1], x2 = B[2], x3 = B[3], x4 = B[4], x5 = B[5], x6 = B[6], x7 = B[7],
         x8 = B[8], x9 = B[9], x10 = B[10], x11 = B[11], x12 = B[12], x13 = B[13], x14 = B[14],
         x15 = B[15];
    for (int i = 0; i < 4; i++) {
        // Columns.
        QR(x0, x4, x8, x12);
        QR(x5, x9, x13, x1);
        QR(x10, x14, x2, x6);
        QR(x15, x3, x7, x11);
        // Rows.
        QR(x0, x1, x2, x3);
        QR(x5, x6, x7, x4);
        QR(x10, x11, x8, x9);
        QR(x15, x12, x13, x14);
    }
    B[0] += x0; B[1] += x1; B[2] += x2; B[3] += x3; B[4] += x4; B[5] += x5; B[6] += x6;
    B[7] += x7; B[8] += x8; B[9] += x9; B[10] += x10; B[11] += x11; B[12] += x12;
    B[13] += x13; B[14] += x14; B[15] += x15;
}

// BlockMix with r = 1 on X = B0 || B1 (16 words each), in place.
static void block_mix(uint X[32]) {
    for (int i = 0; i < 16; i++) X[i] ^= X[16 + i];
    salsa8(X);
    for (int i = 0; i < 16; i++) X[16 + i] ^= X[i];
    salsa8(X + 16);
}

// The candidate list: out[0] counts reports, out[1..=MAX_OUT] hold the nonces.
#define MAX_OUT 255

__kernel void scrypt_scan(__constant uint *params, const uint base, const uint limit,
                          volatile __global uint *out, __global uint4 *scratch) {
    const uint gid = (uint)get_global_id(0);
    const uint nonce = base + gid;
    uint hdr[20];
    for (int i = 0; i < 19; i++) hdr[i] = params[8 + i];
    hdr[19] = BSWAP(nonce);

    // The HMAC key: SHA-256 of the 80-byte header (longer than a block).
    uint key[8], blk[16];
    for (int i = 0; i < 8; i++) key[i] = params[i];
    for (int i = 0; i < 4; i++) blk[i] = hdr[16 + i];
    blk[4] = 0x80000000u;
    for (int i = 5; i < 15; i++) blk[i] = 0;
    blk[15] = 80 * 8;
    sha256_block(key, blk);
    uint inner[8], outer[8];
    for (int i = 0; i < 8; i++) { inner[i] = IV[i]; outer[i] = IV[i]; }
    for (int i = 0; i < 8; i++) blk[i] = key[i] ^ 0x36363636u;
    for (int i = 8; i < 16; i++) blk[i] = 0x36363636u;
    sha256_block(inner, blk);
    for (int i = 0; i < 8; i++) blk[i] = key[i] ^ 0x5c5c5c5cu;
    for (int i = 8; i < 16; i++) blk[i] = 0x5c5c5c5cu;
    sha256_block(outer, blk);

    // PBKDF2(header, header, 1, 128): X as little-endian words.
    uint after_first[8];
    for (int i = 0; i < 8; i++) after_first[i] = inner[i];
    for (int i = 0; i < 16; i++) blk[i] = hdr[i];
    sha256_block(after_first, blk);
    uint X[32];
    for (uint n = 0; n < 4; n++) {
        uint s[8], t[8];
        for (int i = 0; i < 8; i++) s[i] = after_first[i];
        for (int i = 0; i < 4; i++) blk[i] = hdr[16 + i];
        blk[4] = n + 1;
        blk[5] = 0x80000000u;
        for (int i = 6; i < 15; i++) blk[i] = 0;
        blk[15] = (64 + 84) * 8;
        sha256_block(s, blk);
        hmac_finish(outer, s, t);
        for (int i = 0; i < 8; i++) X[8 * n + i] = BSWAP(t[i]);
    }

    // ROMix.
    __global uint4 *V = scratch + (size_t)gid * STORED * 8;
    for (int i = 0; i < SCRYPT_N; i++) {
        if (i % LOOKUP_GAP == 0) {
            __global uint4 *e = V + (i / LOOKUP_GAP) * 8;
            for (int q = 0; q < 8; q++)
                e[q] = (uint4)(X[4 * q], X[4 * q + 1], X[4 * q + 2], X[4 * q + 3]);
        }
        block_mix(X);
    }
    for (int i = 0; i < SCRYPT_N; i++) {
        const uint j = X[16] & (SCRYPT_N - 1);
        uint Y[32];
        __global const uint4 *e = V + (j / LOOKUP_GAP) * 8;
        for (int q = 0; q < 8; q++) {
            uint4 r = e[q];
            Y[4 * q] = r.x; Y[4 * q + 1] = r.y; Y[4 * q + 2] = r.z; Y[4 * q + 3] = r.w;
        }
        for (uint m = 0; m < j % LOOKUP_GAP; m++) block_mix(Y);
        for (int q = 0; q < 32; q++) X[q] ^= Y[q];
        block_mix(X);
    }

    // PBKDF2(header, X, 1, 32).
    uint s[8], t[8];
    for (int i = 0; i < 8; i++) s[i] = inner[i];
    for (int i = 0; i < 16; i++) blk[i] = BSWAP(X[i]);
    sha256_block(s, blk);
    for (int i = 0; i < 16; i++) blk[i] = BSWAP(X[16 + i]);
    sha256_block(s, blk);
    blk[0] = 1;
    blk[1] = 0x80000000u;
    for (int i = 2; i < 15; i++) blk[i] = 0;
    blk[15] = (64 + 128 + 4) * 8;
    sha256_block(s, blk);
    hmac_finish(outer, s, t);
    // The hash's bytes are t's big-endian words; its top 32 bits little-endian: t[7] swapped.
    uint top = BSWAP(t[7]);
#ifdef OTEDAMA_FAULT_INJECT
    // Test hook: a broken device that reports the wrong nonce.
    if (top <= limit) {
        const uint i = atomic_inc(&out[0]);
        if (i < MAX_OUT) out[1 + i] = nonce ^ 1;
    }
#else
    if (top <= limit) {
        const uint i = atomic_inc(&out[0]);
        if (i < MAX_OUT) out[1 + i] = nonce;
    }
#endif
}
