//! PPLNS: who a share's coinbase pays, and how much, to the last unit.
//!
//! * [`window`]: the window of the last N shares by ancestry (uncles included) and its weights,
//!   maintained incrementally.
//! * [`split`]: the exact, dust-free, capped split of the coinbase value over those weights.

pub mod split;
pub mod window;

pub use split::{lottery_seed, payout_outputs, SplitParams};
pub use window::{window_after, WindowWeights};
