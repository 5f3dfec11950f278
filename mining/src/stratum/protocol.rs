//! Wire messages: JSON-RPC replies, notifications and the Stratum error codes.

use super::difficulty::stratum_prevhash;
use crate::job::Job;
use bitcoin::hashes::Hash;
use serde_json::{json, Value};
use std::borrow::Cow;

/// Stratum v1 error codes (the `[code, message, null]` triple of an error reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 20: anything else (malformed request, unknown method, bad parameter, rate limit).
    Other = 20,
    /// 21: job not found, the submit is stale.
    JobNotFound = 21,
    /// 22: the same submit was accepted before on this connection.
    Duplicate = 22,
    /// 23: the hash does not meet the connection's difficulty.
    LowDifficulty = 23,
    /// 24: the worker is not authorized on this connection.
    Unauthorized = 24,
    /// 25: the connection has not subscribed.
    NotSubscribed = 25,
}

impl ErrorCode {
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The conventional message of the code.
    pub fn message(self) -> &'static str {
        match self {
            ErrorCode::Other => "Other/Unknown",
            ErrorCode::JobNotFound => "Job not found (=stale)",
            ErrorCode::Duplicate => "Duplicate share",
            ErrorCode::LowDifficulty => "Low difficulty share",
            ErrorCode::Unauthorized => "Unauthorized worker",
            ErrorCode::NotSubscribed => "Not subscribed",
        }
    }
}

/// An error reply: a code and a message for the miner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RpcError {
    pub code: ErrorCode,
    pub message: Cow<'static, str>,
}

impl RpcError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> RpcError {
        RpcError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn of(code: ErrorCode) -> RpcError {
        RpcError::new(code, code.message())
    }

    pub(crate) fn other(message: impl Into<Cow<'static, str>>) -> RpcError {
        RpcError::new(ErrorCode::Other, message)
    }
}

fn line(v: Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

pub(crate) fn reply_ok(id: &Value, result: Value) -> String {
    line(json!({"id": id, "result": result, "error": null}))
}

pub(crate) fn reply_err(id: &Value, e: &RpcError) -> String {
    line(json!({"id": id, "result": null, "error": [e.code.code(), e.message, null]}))
}

pub(crate) fn notification(method: &str, params: Value) -> String {
    line(json!({"id": null, "method": method, "params": params}))
}

/// A difficulty as a JSON number: an integer when it is one (some firmware parses only
/// integers), else a float.
pub(crate) fn difficulty_json(d: f64) -> Value {
    if d.fract() == 0.0 && (1.0..9.007_199_254_740_992e15).contains(&d) {
        Value::from(d as u64)
    } else {
        Value::from(d)
    }
}

/// The `mining.notify` parameters of a job.
pub(crate) fn notify_params(job: &Job, ntime: u32, clean: bool) -> Value {
    let sj = &job.share_job;
    let branch: Vec<String> = sj
        .merkle_branch
        .iter()
        .map(|n| hex::encode(n.to_byte_array()))
        .collect();
    json!([
        format!("{:016x}", job.id),
        stratum_prevhash(&sj.prev_blockhash),
        hex::encode(&sj.coinbase.prefix),
        hex::encode(&sj.coinbase.suffix),
        branch,
        format!("{:08x}", sj.version.to_consensus() as u32),
        format!("{:08x}", sj.parent_bits.to_consensus()),
        format!("{ntime:08x}"),
        clean,
    ])
}

/// A hex string of exactly `digits` digits as a `u32`/`u64` (`digits` 1..=16).
pub(crate) fn parse_hex_uint(v: &Value, min_digits: usize, max_digits: usize) -> Option<u64> {
    let s = v.as_str()?;
    if s.len() < min_digits || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}
