// SHA256d nonce scan over an 80-byte header (Otedama GPU worker).
//
// The host computes everything that does not depend on the nonce (mining/src/workers/
// sha256d.rs, `Sha256dWork`): the midstate of the first 64 header bytes, the state after
// rounds 0..2 of the second block, and the constant parts of that block's message schedule.
// Work item `gid` scans NONCES_PER_ITEM consecutive values `v` of header word 19 as SHA-256
// reads it (big-endian), from `base + gid * NONCES_PER_ITEM`; the nonce is `v` byte-swapped.
// The second hash stops after round 60: `IV7 + e` then equals the last state word H7, whose
// byte swap is the top 32 bits of the hash read as a little-endian number. Values whose top
// 32 bits are at most `limit` are reported; the host re-checks each with the reference hash.
//
// params layout (uints): 0..7 midstate, 8..10 tail words, 11..18 state after round 2,
// 19..50 the precomputed schedule words W[0..31] (only some are used).

#ifndef NONCES_PER_ITEM
#define NONCES_PER_ITEM 64
#endif

#define IV0 0x6a09e667
#define IV1 0xbb67ae85
#define IV2 0x3c6ef372
#define IV3 0xa54ff53a
#define IV4 0x510e527f
#define IV5 0x9b05688c
#define IV6 0x1f83d9ab
#define IV7 0x5be0cd19

// One round on the state array s (a..h = s[0..7]) with `kw` = K[t] + W[t].
#define ROUND(s, kw)                                                     \
    {                                                                    \
        uint t1 = s[7] + E1(s[4]) + CH(s[4], s[5], s[6]) + (kw);         \
        uint t2 = E0(s[0]) + MAJ(s[0], s[1], s[2]);                      \
        s[7] = s[6]; s[6] = s[5]; s[5] = s[4]; s[4] = s[3] + t1;         \
        s[3] = s[2]; s[2] = s[1]; s[1] = s[0]; s[0] = t1 + t2;           \
    }

// The candidate list: out[0] counts reports, out[1..=MAX_OUT] hold the nonces.
#define MAX_OUT 255

__kernel void sha256d_scan(__constant uint *params, const uint base, const uint limit,
                           volatile __global uint *out) {
    const uint first = base + (uint)get_global_id(0) * NONCES_PER_ITEM;
    for (uint k = 0; k < NONCES_PER_ITEM; k++) {
        const uint v = first + k;
        uint w[64];
        w[0] = params[8];
        w[1] = params[9];
        w[2] = params[10];
        w[3] = v;
        w[4] = 0x80000000u;
        for (int i = 5; i < 15; i++) w[i] = 0;
        w[15] = 640;
        w[16] = params[19 + 16];
        w[17] = params[19 + 17];
        w[18] = S0(v) + params[19 + 18];
        w[19] = v + params[19 + 19];
        w[20] = S1(w[18]) + params[19 + 20];
        w[21] = S1(w[19]);
        w[22] = S1(w[20]) + params[19 + 22];
        w[23] = S1(w[21]) + params[19 + 23];
        w[24] = S1(w[22]) + params[19 + 24];
        w[25] = S1(w[23]) + w[18];
        w[26] = S1(w[24]) + w[19];
        w[27] = S1(w[25]) + w[20];
        w[28] = S1(w[26]) + w[21];
        w[29] = S1(w[27]) + w[22];
        w[30] = S1(w[28]) + w[23] + params[19 + 30];
        w[31] = S1(w[29]) + w[24] + params[19 + 31];
        for (int t = 32; t < 64; t++) w[t] = S1(w[t - 2]) + w[t - 7] + S0(w[t - 15]) + w[t - 16];
        uint s[8];
        for (int i = 0; i < 8; i++) s[i] = params[11 + i];
        for (int t = 3; t < 64; t++) ROUND(s, K[t] + w[t]);
        // Second hash: words 0..7 the first hash, 8..15 its padding.
        for (int i = 0; i < 8; i++) w[i] = s[i] + params[i];
        w[8] = 0x80000000u;
        for (int i = 9; i < 15; i++) w[i] = 0;
        w[15] = 256;
        for (int t = 16; t < 61; t++) w[t] = S1(w[t - 2]) + w[t - 7] + S0(w[t - 15]) + w[t - 16];
        s[0] = IV0; s[1] = IV1; s[2] = IV2; s[3] = IV3;
        s[4] = IV4; s[5] = IV5; s[6] = IV6; s[7] = IV7;
        for (int t = 0; t < 60; t++) ROUND(s, K[t] + w[t]);
        // Round 60: only e (= d + T1) matters; it ends as H7 - IV7 after round 63.
        const uint h7 = s[3] + s[7] + E1(s[4]) + CH(s[4], s[5], s[6]) + K[60] + w[60] + IV7;
        const uint top = as_uint(as_uchar4(h7).wzyx);
#ifdef OTEDAMA_FAULT_INJECT
        // Test hook: a broken device that reports the wrong nonce.
        if (top <= limit) {
            const uint i = atomic_inc(&out[0]);
            if (i < MAX_OUT) out[1 + i] = as_uint(as_uchar4(v ^ 0x01000000u).wzyx);
        }
#else
        if (top <= limit) {
            const uint i = atomic_inc(&out[0]);
            if (i < MAX_OUT) out[1 + i] = as_uint(as_uchar4(v).wzyx);
        }
#endif
    }
}
