//! Wire messages of the xmrig dialect: newline-delimited JSON-RPC 2.0, one serde struct per
//! message. A request line is read twice: once as an [`Envelope`] (id and method), then as the
//! method's own `Call<Params>`, so no message is ever held as an untyped JSON value.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

/// The algorithm of every job: RandomX as Monero uses it, xmrig's name.
pub const ALGO: &str = "rx/0";
/// Names of RandomX-for-Monero that rigs may list in `login.algo`.
pub const ALGO_ALIASES: [&str; 4] = ["rx/0", "randomx", "rx", "rx/monero"];
/// The extensions granted in the login reply: `algo` (submits name their algorithm, jobs carry
/// theirs) and `keepalive` (xmrig sends `keepalived` every 60 s).
pub const EXTENSIONS: [&str; 2] = ["algo", "keepalive"];
/// The one error code this dialect uses; rigs act on the message.
pub const ERROR_CODE: i32 = -1;

/// Error messages. xmrig closes the connection (and logs in again) on a message that starts with
/// `Unauthenticated`, `your IP is banned`, `IP Address currently banned` or `Invalid job id`
/// (`Client::isCriticalError`); it only logs the others.
pub mod msg {
    pub const UNAUTHENTICATED: &str = "Unauthenticated";
    pub const INVALID_JOB_ID: &str = "Invalid job id";
    pub const BLOCK_EXPIRED: &str = "Block expired";
    pub const DUPLICATE: &str = "Duplicate share";
    pub const LOW_DIFFICULTY: &str = "Low difficulty share";
    pub const INVALID_RESULT: &str = "Invalid result: not the hash of this nonce";
    pub const INVALID_NONCE: &str = "Invalid nonce: 8 hex digits expected";
    pub const MALFORMED_RESULT: &str = "Invalid result: 64 hex digits expected";
    pub const MALFORMED_SUBMIT: &str =
        "Malformed submit: params must be {id, job_id, nonce, result}";
    pub const MALFORMED_LOGIN: &str = "Malformed login: params must be {login, pass, agent, algo}";
    pub const MALFORMED_REQUEST: &str = "Malformed JSON-RPC request";
    pub const UNKNOWN_METHOD: &str = "Unknown method";
    pub const RATE_LIMIT: &str = "Rate limit exceeded";
    pub const LINE_TOO_LONG: &str = "Line too long; closing";
    pub const NOT_CHECKED: &str = "Share not checked: the node is out of resources, submit again";
    pub const ALREADY_LOGGED_IN: &str = "Already logged in";
    pub const NO_WORK: &str = "No work yet: the node has no Monero template or seed, try again";
    pub const UNSUPPORTED_ALGO: &str = "Unsupported algorithm: this pool mines rx/0 (RandomX)";
}

/// A request id: echoed as given. xmrig sends integers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Number(serde_json::Number),
    String(String),
}

/// What every line is read as first.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub id: Option<Id>,
    #[serde(default)]
    pub method: Option<String>,
    /// Present in replies from the client, which are ignored.
    #[serde(default)]
    pub result: Option<IgnoredAny>,
    #[serde(default)]
    pub error: Option<IgnoredAny>,
}

/// A request's params, read with the type of its method.
#[derive(Debug, Deserialize)]
pub struct Call<P> {
    pub params: P,
}

/// `login` params.
#[derive(Debug, Deserialize)]
pub struct LoginParams {
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub pass: Option<String>,
    #[serde(default)]
    pub agent: Option<String>,
    /// Algorithms the rig can mine (xmrig's names).
    #[serde(default)]
    pub algo: Option<Vec<String>>,
    #[serde(default)]
    pub rigid: Option<String>,
}

/// `submit` params.
#[derive(Debug, Deserialize)]
pub struct SubmitParams {
    /// The session id from the login reply.
    #[serde(default)]
    pub id: Option<String>,
    pub job_id: String,
    /// The 4 header nonce bytes as they go into the blob, 8 hex digits.
    pub nonce: String,
    /// The rig's RandomX hash, 64 hex digits (never trusted: the node hashes itself).
    pub result: String,
    #[serde(default)]
    pub algo: Option<String>,
}

/// A job, in the login reply and in `job` notifications.
#[derive(Clone, Debug, Serialize)]
pub struct JobParams {
    /// Hex of the hashing blob, header nonce zero.
    pub blob: String,
    /// 24 hex digits: the job id (16) and the connection's notification number (8).
    pub job_id: String,
    /// See [`super::target`].
    pub target: String,
    pub algo: &'static str,
    /// Monero height of the block the job makes.
    pub height: u64,
    /// RandomX key, 64 hex digits.
    pub seed_hash: String,
}

/// The error object of a reply.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: i32,
    pub message: &'a str,
}

/// A reply: exactly one of `error` and `result` is non-null.
#[derive(Debug, Serialize)]
pub struct Reply<'a, R> {
    pub id: Option<&'a Id>,
    pub jsonrpc: &'static str,
    pub error: Option<ErrorBody<'a>>,
    pub result: Option<R>,
}

/// The `login` result.
#[derive(Debug, Serialize)]
pub struct LoginResult<'a> {
    /// The session id rigs send back in `submit` and `keepalived`.
    pub id: &'a str,
    pub job: &'a JobParams,
    pub extensions: &'static [&'static str],
    pub status: &'static str,
}

/// `{"status": ...}`: `OK` for a submit, `KEEPALIVED` for a keepalive.
#[derive(Debug, Serialize)]
pub struct StatusResult {
    pub status: &'static str,
}

/// A notification from the server.
#[derive(Debug, Serialize)]
pub struct Notification<'a, P> {
    pub jsonrpc: &'static str,
    pub method: &'a str,
    pub params: P,
}

fn line<T: Serialize>(v: &T) -> String {
    // Serialising these structs cannot fail (string keys, no maps of other keys, no floats).
    let mut s = serde_json::to_string(v).unwrap_or_default();
    s.push('\n');
    s
}

pub fn reply_ok<R: Serialize>(id: Option<&Id>, result: R) -> String {
    line(&Reply {
        id,
        jsonrpc: "2.0",
        error: None,
        result: Some(result),
    })
}

pub fn reply_err(id: Option<&Id>, message: &str) -> String {
    line(&Reply::<()> {
        id,
        jsonrpc: "2.0",
        error: Some(ErrorBody {
            code: ERROR_CODE,
            message,
        }),
        result: None,
    })
}

pub fn job_notification(job: &JobParams) -> String {
    line(&Notification {
        jsonrpc: "2.0",
        method: "job",
        params: job,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let id: Envelope = serde_json::from_str(
            r#"{"id":7,"jsonrpc":"2.0","method":"keepalived","params":{"id":"s"}}"#,
        )
        .unwrap();
        assert_eq!(id.method.as_deref(), Some("keepalived"));
        assert_eq!(
            reply_ok(id.id.as_ref(), StatusResult { status: "KEEPALIVED" }),
            "{\"id\":7,\"jsonrpc\":\"2.0\",\"error\":null,\"result\":{\"status\":\"KEEPALIVED\"}}\n"
        );
        assert_eq!(
            reply_err(None, msg::UNAUTHENTICATED),
            "{\"id\":null,\"jsonrpc\":\"2.0\",\"error\":{\"code\":-1,\"message\":\"Unauthenticated\"},\"result\":null}\n"
        );
        let s: Envelope = serde_json::from_str(r#"{"id":"a","method":"x"}"#).unwrap();
        assert_eq!(s.id, Some(Id::String("a".into())));
        let r: Envelope = serde_json::from_str(r#"{"id":1,"result":true}"#).unwrap();
        assert!(r.method.is_none() && r.result.is_some());
        assert!(serde_json::from_str::<Envelope>(r#"{"id":[1],"method":"x"}"#).is_err());
        let c: Call<SubmitParams> = serde_json::from_str(
            r#"{"id":4,"method":"submit","params":{"id":"s","job_id":"j","nonce":"00000000","result":"00","algo":"rx/0"}}"#,
        )
        .unwrap();
        assert_eq!(c.params.job_id, "j");
    }
}
