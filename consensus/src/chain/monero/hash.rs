//! Keccak-256 as Monero uses it (`cn_fast_hash`: the original Keccak padding, not NIST SHA3-256)
//! and the tree hash over a block's transaction hashes (`src/crypto/tree-hash.c`).

use sha3::{Digest, Keccak256};

/// A 32-byte hash (block id, transaction hash, Keccak output).
pub type Hash32 = [u8; 32];

/// `cn_fast_hash`: Keccak-256 of `data`.
pub fn keccak256(data: &[u8]) -> Hash32 {
    Keccak256::digest(data).into()
}

/// Keccak-256 of the concatenation of `parts`, without building it.
pub fn keccak256_concat(parts: &[&[u8]]) -> Hash32 {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hash_pair(a: &Hash32, b: &Hash32) -> Hash32 {
    keccak256_concat(&[a, b])
}

/// Monero's tree hash of `hashes` (a block's miner transaction hash, then its other
/// transactions' hashes); `None` for an empty list, which no block has.
///
/// One hash is its own root and two are hashed together. For `n >= 3` the tree is made
/// complete first: with `c` the largest power of two below `n`, the first `2c - n` hashes stay
/// as they are and the remaining `2(n - c)` are hashed in pairs, giving `c` nodes; these are
/// then halved pairwise down to two, whose hash is the root.
pub fn tree_hash(hashes: &[Hash32]) -> Option<Hash32> {
    match hashes.len() {
        0 => None,
        1 => Some(hashes[0]),
        2 => Some(hash_pair(&hashes[0], &hashes[1])),
        n => {
            // Largest power of two strictly below n (n >= 3, so it is at least 2).
            let c = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let kept = 2 * c - n;
            let mut level: Vec<Hash32> = hashes[..kept].to_vec();
            level.extend(
                hashes[kept..]
                    .chunks_exact(2)
                    .map(|p| hash_pair(&p[0], &p[1])),
            );
            while level.len() > 2 {
                level = level
                    .chunks_exact(2)
                    .map(|p| hash_pair(&p[0], &p[1]))
                    .collect();
            }
            Some(hash_pair(&level[0], &level[1]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keccak_is_not_sha3() {
        assert_eq!(
            hex::encode(keccak256(b"")),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(keccak256_concat(&[b"ab", b"c"]), keccak256(b"abc"));
    }

    #[test]
    fn tree_shapes() {
        let h: Vec<Hash32> = (0..9u8).map(|i| [i; 32]).collect();
        assert_eq!(tree_hash(&[]), None);
        assert_eq!(tree_hash(&h[..1]), Some(h[0]));
        assert_eq!(tree_hash(&h[..2]), Some(hash_pair(&h[0], &h[1])));
        // n = 3: c = 2, h0 kept, (h1,h2) hashed, then the root.
        assert_eq!(
            tree_hash(&h[..3]),
            Some(hash_pair(&h[0], &hash_pair(&h[1], &h[2])))
        );
        // n = 4: a complete tree.
        let l = hash_pair(&h[0], &h[1]);
        let r = hash_pair(&h[2], &h[3]);
        assert_eq!(tree_hash(&h[..4]), Some(hash_pair(&l, &r)));
        // n = 5: c = 4, h0..h2 kept, (h3,h4) hashed.
        let a = hash_pair(&h[0], &h[1]);
        let b = hash_pair(&h[2], &hash_pair(&h[3], &h[4]));
        assert_eq!(tree_hash(&h[..5]), Some(hash_pair(&a, &b)));
        for n in 1..=h.len() {
            assert!(tree_hash(&h[..n]).is_some());
        }
    }
}
