//! Monero's transaction tree hash seen from the miner transaction, which is always leaf 0.
//!
//! A share carries a block candidate without the other transactions: only the miner
//! transaction, the hashes on the path from leaf 0 to the root (the *branch*) and the number of
//! transactions. From those a node recomputes the tree root, hence the hashing blob and the block
//! id, and can check that the payouts it sees are the ones the block commits to.
//!
//! Why a plain left fold suffices. [`tree_hash`](super::hash::tree_hash) (Monero's
//! `tree_hash`, `src/crypto/tree-hash.c`) hashes `n` leaves as follows: with `c` the largest
//! power of two strictly below `n` (for `n >= 3`), the first `2c - n` leaves stay as they are and
//! the remaining `2(n - c)` (the *pre-combined tail*) are hashed in pairs, giving `c` nodes that
//! are then halved pairwise to the root. Leaf 0 is always a left child:
//!
//! * if `n` is not a power of two, `2c - n >= 1`, so leaf 0 is never in the pre-combined tail;
//!   it enters the complete tree of `c` nodes as node 0 and climbs `log2 c` levels;
//! * if `n` is a power of two (`n = 2c`), every leaf is in the tail, and pre-combining pairs
//!   `(0, 1), (2, 3), ...` is exactly the first level of a complete tree of `n` leaves; leaf 0
//!   climbs `log2 n` levels.
//!
//! Either way leaf 0 climbs `floor(log2 n)` levels, at each one hashed on the left with one
//! sibling: `h = keccak(h || sibling)`. `n = 1` (no branch) and `n = 2` (one sibling) fit the
//! same rule.

use super::hash::{keccak256_concat, Hash32};

fn hash_pair(a: &Hash32, b: &Hash32) -> Hash32 {
    keccak256_concat(&[a, b])
}

/// The branch a block with `tx_count` transactions (the miner transaction included) has:
/// `floor(log2 tx_count)` hashes, the exponent of the largest power of two `<= tx_count` (see
/// the module doc). `None` for 0: a block always has its miner transaction.
pub fn branch_len_for(tx_count: u64) -> Option<usize> {
    if tx_count == 0 {
        return None;
    }
    Some((u64::BITS - 1 - tx_count.leading_zeros()) as usize)
}

/// The siblings of leaf 0 from the bottom up, for `hashes` = the miner transaction's hash then
/// the other transactions' hashes. Empty for zero or one hash.
///
/// Costs one pass over the tree (`n - 1` Keccak calls at most), as the root itself does.
pub fn first_leaf_branch(hashes: &[Hash32]) -> Vec<Hash32> {
    let n = hashes.len();
    if n <= 1 {
        return Vec::new();
    }
    // The bottom level of the complete tree leaf 0 climbs: all leaves when n is a power of two,
    // else the kept head and the pre-combined tail (see the module doc).
    let mut level: Vec<Hash32> = if n.is_power_of_two() {
        hashes.to_vec()
    } else {
        let c = 1usize << (usize::BITS - 1 - n.leading_zeros());
        let kept = 2 * c - n;
        let mut l = hashes[..kept].to_vec();
        l.extend(
            hashes[kept..]
                .chunks_exact(2)
                .map(|p| hash_pair(&p[0], &p[1])),
        );
        l
    };
    let mut branch = Vec::with_capacity(n.ilog2() as usize);
    while level.len() > 1 {
        branch.push(level[1]);
        level = level
            .chunks_exact(2)
            .map(|p| hash_pair(&p[0], &p[1]))
            .collect();
    }
    branch
}

/// The tree root from leaf 0 and its branch: `h = keccak(h || sibling)` for each sibling, bottom
/// up. Equals [`tree_hash`](super::hash::tree_hash) of the whole list when `branch` is
/// [`first_leaf_branch`] of it.
pub fn root_from_first_leaf(leaf: &Hash32, branch: &[Hash32]) -> Hash32 {
    branch
        .iter()
        .fold(*leaf, |h, sibling| hash_pair(&h, sibling))
}

#[cfg(test)]
mod tests {
    use super::super::hash::{keccak256, tree_hash};
    use super::*;

    /// Deterministic pseudo-random leaves (Keccak of a counter and a seed).
    fn leaves(n: usize, seed: u64) -> Vec<Hash32> {
        (0..n as u64)
            .map(|i| keccak256(&[seed.to_le_bytes(), i.to_le_bytes()].concat()))
            .collect()
    }

    #[test]
    fn fold_equals_tree_hash_for_every_count_up_to_600() {
        for seed in 0..2 {
            for n in 1..=600usize {
                let h = leaves(n, seed);
                let branch = first_leaf_branch(&h);
                assert_eq!(Some(branch.len()), branch_len_for(n as u64), "n = {n}");
                assert_eq!(
                    Some(root_from_first_leaf(&h[0], &branch)),
                    tree_hash(&h),
                    "n = {n}"
                );
            }
        }
    }

    #[test]
    fn branch_lengths() {
        assert_eq!(branch_len_for(0), None);
        assert_eq!(branch_len_for(1), Some(0));
        assert_eq!(branch_len_for(2), Some(1));
        assert_eq!(branch_len_for(3), Some(1));
        assert_eq!(branch_len_for(4), Some(2));
        assert_eq!(branch_len_for(7), Some(2));
        assert_eq!(branch_len_for(8), Some(3));
        assert_eq!(branch_len_for(1 << 28), Some(28));
        assert_eq!(branch_len_for((1 << 28) + 1), Some(28));
        assert_eq!(branch_len_for(u64::MAX), Some(63));
        assert!(first_leaf_branch(&[]).is_empty());
        assert!(first_leaf_branch(&leaves(1, 0)).is_empty());
    }

    /// Leaf 0 is outside Monero's pre-combined tail unless the count is a power of two, where
    /// pre-combining is a complete tree's first level and leaf 0's sibling is leaf 1.
    #[test]
    fn leaf_zero_and_the_pre_combined_tail() {
        for n in 3..=1100usize {
            let c = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let kept = 2 * c - n;
            assert_eq!(kept == 0, n.is_power_of_two(), "n = {n}");
            let h = leaves(n, 9);
            if n.is_power_of_two() || kept >= 2 {
                // Leaf 1 is leaf 0's neighbour on the bottom level.
                assert_eq!(first_leaf_branch(&h)[0], h[1], "n = {n}");
            } else {
                // kept == 1: leaf 0's first sibling is the hash of leaves 1 and 2.
                assert_eq!(first_leaf_branch(&h)[0], hash_pair(&h[1], &h[2]), "n = {n}");
            }
        }
    }
}
