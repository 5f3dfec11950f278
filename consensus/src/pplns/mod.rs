//! PPLNS: who a share's coinbase pays, and how much, to the last unit.
//!
//! * [`window`]: the window of the last N shares by ancestry (uncles included) and its weights,
//!   maintained incrementally.
//! * [`split`]: the exact, dust-free, capped split of the coinbase value over those weights.

pub mod split;
pub mod window;

pub use split::{lottery_seed, payout_outputs, SplitParams};
pub use window::{window_after, WindowWeights};

use crate::chain_view::{ChainView, ShareInfo};
use crate::pool::PoolParams;
use crate::share::PayoutScript;
use bitcoin::hashes::Hash;

/// The payouts of a share: the exact split of `reward` over the window the share `info` makes
/// on its parent (the parent's window in `view`, plus the share's credits, less the ancestor
/// that leaves), the lottery seeded by the parent-chain previous block hash `prev_block` and the
/// share's parent `info.prev`. `f` gets them in script order.
///
/// The one code path of the builder (what to pay), validation (what must be paid) and compact
/// relay (what was paid: `share::compact`): a payout rule changed here changes all three, so a
/// rebuilt coinbase cannot drift from a built one. `None` when `view` lacks the parent's window
/// or the ancestor that leaves it. O(window entries + changes).
pub fn with_share_payouts<V: ChainView + ?Sized, R>(
    view: &V,
    pool: &PoolParams,
    info: &ShareInfo,
    prev_block: &[u8; 32],
    reward: u64,
    f: impl FnOnce(&[(&PayoutScript, u64)]) -> R,
) -> Option<R> {
    let delta = window::WindowDelta::new(view, pool, info)?;
    let mut entries: Vec<(&PayoutScript, u128)> =
        Vec::with_capacity(delta.base.len() + delta.changes.len());
    delta.for_each(|s, w| entries.push((s, w)));
    let seed = lottery_seed(prev_block, info.prev.as_byte_array());
    let params = SplitParams {
        min_payout: pool.min_payout,
        max_outputs: pool.max_payout_outputs,
    };
    let payouts = split::split_amounts(&entries, delta.total, reward, &params, &seed);
    Some(f(&payouts))
}
