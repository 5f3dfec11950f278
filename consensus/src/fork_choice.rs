//! Fork choice: the best tip is the share with the most cumulative work (uncles included);
//! on equal work the tip seen first stays, so a node never flips between equal chains.

use crate::chain_view::ShareInfo;

/// Whether `candidate` should replace `current` as the best tip.
pub fn is_better(current: Option<&ShareInfo>, candidate: &ShareInfo) -> bool {
    match current {
        None => true,
        Some(cur) => candidate.cumulative_work > cur.cumulative_work,
    }
}
