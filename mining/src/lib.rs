//! Mining: the full-node link, job building, the Stratum v1 server and block submission.
//!
//! * [`node_rpc`]: Bitcoin Core / Litecoin Core JSON-RPC client and the template source.
//! * [`job`]: what miners work on ([`job::Job`], [`job::JobSource`]).
//! * [`board`]: the job board: templates + sharechain tip -> jobs per payout script.
//! * [`stratum`]: the Stratum v1 server.
//! * [`workers`]: embedded CPU workers (`--mine N`) and their SHA256d / scrypt kernels.
//! * [`gpu`]: embedded GPU workers (`--gpu LIST`) on OpenCL.

pub mod board;
pub mod gpu;
pub mod job;
pub mod node_rpc;
pub mod stratum;
pub mod workers;

pub use otedama_consensus as consensus;
