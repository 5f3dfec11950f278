//! The Stratum v1 server.
//!
//! Newline-delimited JSON-RPC over TCP, as cgminer, bmminer, cpuminer and their descendants
//! speak it, with BIP 310 version rolling. The dialect (methods, replies, error codes,
//! difficulty units, limits) is specified in `docs/stratum.md`.
//!
//! * [`StratumServer::bind`] + [`StratumServer::run`] (or [`serve`]) run the server over a
//!   [`crate::job::JobSource`]; submits that meet the share target go out as
//!   [`crate::job::FoundShare`] on an `mpsc` channel, never blocking a connection.
//! * [`StratumStats`]: counters and the per-miner table.
//! * [`guard`]: per-address connection caps, bad-submit scoring and bans, the payout cap.
//! * [`difficulty`]: Stratum difficulty <-> target, the `prevhash` word order, header building.
//!
//! One task per connection reads through a bounded line reader and writes through a bounded
//! queue drained by a writer task; no lock is held across an await.

mod config;
pub(crate) mod conn;
pub mod difficulty;
#[doc(hidden)]
pub mod fuzz;
pub mod guard;
pub(crate) mod line;
pub(crate) mod listener;
mod protocol;
mod server;
pub(crate) mod session;
pub(crate) mod stats;
mod username;

pub use config::{StratumConfig, VardiffConfig, DEFAULT_VERSION_ROLLING_MASK};
pub use protocol::ErrorCode;
pub use server::{serve, StratumServer};
pub use stats::{MinerStats, StratumCounters, StratumStats, MAX_MINERS};
pub use username::{parse_username, script_address, Username, UsernameError, MAX_USERNAME_BYTES};
