//! Mining: the full-node link, job building, the Stratum v1 server and block submission.
//!
//! * [`node_rpc`]: Bitcoin Core / Litecoin Core JSON-RPC client and the template source.
//! * [`monerod`]: monerod's JSON-RPC client, ZMQ notifications and the Monero template source.
//! * [`job`]: what miners work on ([`job::Job`], [`job::JobSource`]).
//! * [`board`]: the job board: templates + sharechain tip -> jobs per payout script.
//! * [`stratum`]: the Stratum v1 server.
//! * [`workers`]: embedded CPU workers (`--mine N`) and their SHA256d / scrypt kernels.
//! * [`gpu`]: embedded GPU workers (`--gpu LIST`) on OpenCL.
//! * [`monero`]: Monero jobs (monerod template + sharechain tip) and where Monero finds go.
//! * [`randomx_pow`]: the node's RandomX hasher for Monero shares, over the seeds it chose.
//! * [`xmrig`]: Stratum for Monero rigs (the xmrig dialect).

pub mod board;
pub mod gpu;
pub mod job;
pub mod monero;
pub mod monerod;
pub mod node_rpc;
pub mod randomx_pow;
pub mod recent;
pub mod stratum;
pub mod workers;
pub mod xmrig;

pub use otedama_consensus as consensus;
