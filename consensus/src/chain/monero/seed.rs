//! RandomX seed heights (Monero's `rx_seedheight`, `src/crypto/rx-slow-hash.c`).
//!
//! The RandomX key of the block at height `h` is the hash of the block at `seed_height(h)`. The
//! key moves every [`SEEDHASH_EPOCH_BLOCKS`] blocks, and only [`SEEDHASH_EPOCH_LAG`] blocks
//! after the epoch boundary, so miners and nodes have time to build the next cache and dataset
//! before they need it. Until a whole epoch plus the lag exists, the key is the genesis block's
//! hash.

/// Blocks per key epoch (a power of two: the schedule masks with `!(EPOCH - 1)`).
pub const SEEDHASH_EPOCH_BLOCKS: u64 = 2048;
/// Blocks after an epoch boundary before its block becomes the key.
pub const SEEDHASH_EPOCH_LAG: u64 = 64;

/// Height of the block whose hash is the RandomX key at height `h`:
/// 0 while `h <= 2048 + 64`, then `(h - 64 - 1)` rounded down to a multiple of 2048.
pub const fn seed_height(h: u64) -> u64 {
    if h <= SEEDHASH_EPOCH_BLOCKS + SEEDHASH_EPOCH_LAG {
        0
    } else {
        (h - SEEDHASH_EPOCH_LAG - 1) & !(SEEDHASH_EPOCH_BLOCKS - 1)
    }
}

/// Height of the key that will be in use [`SEEDHASH_EPOCH_LAG`] blocks after `h` (Monero's
/// `rx_seedheights` "next" seed, what `get_block_template` reports as `next_seed_hash`): a node
/// builds that cache ahead of time. Saturates at the top of the `u64` range.
pub const fn next_seed_height(h: u64) -> u64 {
    seed_height(h.saturating_add(SEEDHASH_EPOCH_LAG))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(seed_height(0), 0);
        assert_eq!(seed_height(1), 0);
        assert_eq!(seed_height(2048), 0);
        assert_eq!(seed_height(2112), 0); // 2048 + 64: still the genesis key
        assert_eq!(seed_height(2113), 2048); // first block with block 2048's key
        assert_eq!(seed_height(4160), 2048); // 4096 + 64
        assert_eq!(seed_height(4161), 4096);
        assert_eq!(seed_height(6208), 4096);
        assert_eq!(seed_height(6209), 6144);
        // Block 3,300,000 hashes with block 3,299,328's key (3,300,000 - 65 = 3,299,935).
        assert_eq!(seed_height(3_300_000), 3_299_328);
        assert_eq!(seed_height(u64::MAX), (u64::MAX - 65) & !2047);
    }

    #[test]
    fn next_seed() {
        assert_eq!(next_seed_height(2048), 0);
        assert_eq!(next_seed_height(2049), 2048);
        assert_eq!(next_seed_height(u64::MAX), seed_height(u64::MAX));
    }

    #[test]
    fn schedule_properties() {
        for h in 0..20_000u64 {
            let s = seed_height(h);
            assert_eq!(s % SEEDHASH_EPOCH_BLOCKS, 0);
            assert!(s < h || h == 0 || s == 0);
            // The key block is at least LAG+1 blocks old once it is not genesis.
            assert!(s == 0 || h - s > SEEDHASH_EPOCH_LAG);
            // The key changes exactly at heights 2048k + 65.
            if h > 0 {
                let changed = seed_height(h) != seed_height(h - 1);
                let boundary = h > SEEDHASH_EPOCH_BLOCKS + SEEDHASH_EPOCH_LAG
                    && (h - SEEDHASH_EPOCH_LAG - 1) % SEEDHASH_EPOCH_BLOCKS == 0;
                assert_eq!(changed, boundary, "height {h}");
            }
        }
    }
}
