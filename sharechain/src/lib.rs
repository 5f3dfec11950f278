//! The sharechain: a crash-safe RocksDB store of valid shares and the chain state over it.
//!
//! * [`store`]: RocksDB column families and atomic batches (one writer: [`Sharechain`]).
//! * [`state`]: the in-memory index, leaves and their PPLNS windows ([`ChainView`] for
//!   validation).
//! * [`orphans`]: shares waiting for a parent or uncle.
//! * [`chain`]: insert in any order, fork choice, reorgs, pruning, start-up.
//!
//! [`ChainView`]: otedama_consensus::ChainView

pub mod chain;
pub mod codec;
pub mod orphans;
pub mod snapshot;
pub mod state;
pub mod store;

pub use chain::{InsertOutcome, Sharechain, TRIM_STEP};
pub use otedama_consensus as consensus;
pub use snapshot::TipSnapshot;
pub use store::{BlockStatus, FoundBlock, Store, StoreError, MAX_BLOCK_REASON, STORE_VERSION};
