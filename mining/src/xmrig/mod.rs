//! Stratum for Monero rigs: the xmrig dialect.
//!
//! Newline-delimited JSON-RPC 2.0 over TCP as xmrig (and xmrig-proxy, and the miners that copy
//! it) speaks to CryptoNote pools: `login` (with the first job in the reply), `job`
//! notifications, `submit` and `keepalived`. The dialect (messages, targets, logins, errors,
//! limits) is specified in `docs/stratum.md`, section "Monero rigs (the xmrig dialect)".
//!
//! * [`XmrigServer::bind`] + [`XmrigServer::run`] serve it over a
//!   [`crate::monero::MoneroJobSource`]; submits are checked with the node's
//!   [`crate::randomx_pow::RandomXHasher`] on blocking threads, and those that meet the share
//!   target go out through a [`crate::monero::MoneroFoundSink`] (block queue first).
//! * [`target`]: xmrig's compact `target` and how xmrig decodes it.
//! * [`login`]: who a rig's login pays, `WALLET[.WORKER][+DIFF]`.
//!
//! It reuses the Bitcoin server's parts ([`crate::stratum`]): the accept loop with its
//! connection caps and shutdown, the dialect-independent half of a connection (bounded line
//! reader, outbound queue, timeouts, request rate, bad-submit score and bans, vardiff window),
//! the payout cap, the vardiff settings and the [`crate::stratum::StratumStats`] table. One task
//! per connection, a bounded outbound queue, no lock across an await.

mod config;
pub mod login;
mod protocol;
mod server;
mod session;
pub mod target;

pub use config::XmrigConfig;
pub use login::{parse_login, Login, LoginError};
pub use protocol::{msg, ALGO, EXTENSIONS};
pub use server::XmrigServer;
pub use session::XMRIG_NONCE_OFFSET;
pub use target::{decode_target, RigTarget};
