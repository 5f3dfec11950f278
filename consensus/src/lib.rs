//! Otedama's consensus rules as a pure library: chain and pool parameters, the share format and
//! its encoding, proof of work and work maths, retarget, PPLNS payouts, coinbase construction,
//! validation and fork choice. No I/O, integer maths only; every rule is in docs/consensus.md.

pub mod block_check;
pub mod block_parse;
pub mod builder;
pub mod chain;
pub mod chain_view;
pub mod coinbase;
pub mod fork_choice;
pub mod hash;
pub mod monero_builder;
pub mod pool;
pub mod pow;
pub mod pplns;
pub mod retarget;
pub mod share;
pub mod template;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod validation;
pub mod work;

pub use chain::Chain;
pub use chain_view::{ChainView, MemoryChain, ShareInfo};
pub use hash::{ConsensusId, ShareHash};
pub use pool::{PoolParams, Preset};
pub use share::{PayoutScript, Share, SideData};
pub use validation::{check_contextual, check_stateless, RejectReason};
pub use work::{Target, Work};
