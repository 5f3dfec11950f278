//! A blocking JSON-RPC 2.0 client for `otedama-cli` and tests, on the workspace's HTTP client
//! ([`otedama_http::blocking`]): the same framing, limits and connection reuse as the node's
//! own full-node client, usable from plain threads and from inside a tokio runtime.

use otedama_http::blocking::BlockingClient;
use otedama_http::{HttpError, Origin, Request};
use serde_json::{json, Value};
use std::time::Duration;

/// Largest reply read (share lists are bounded by the server).
const MAX_REPLY: usize = 64 * 1024 * 1024;
/// Longest wait for a connection: an unreachable node should say so well before the call's
/// own timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid --rpc URL {0:?}: expected http://HOST:PORT")]
    BadUrl(String),
    #[error(
        "cannot reach otedama-node at {url}: {reason} (is it running, with --rpc at that address?)"
    )]
    Unreachable { url: String, reason: String },
    #[error("bad reply from {url}: {reason}")]
    BadReply { url: String, reason: String },
    #[error("{method} failed: {message} (code {code})")]
    Rpc {
        method: String,
        code: i64,
        message: String,
    },
}

pub struct Client {
    url: String,
    http: BlockingClient,
    /// `__cookie__:SECRET`, sent as basic auth.
    cookie: Option<String>,
    timeout: Duration,
}

impl Client {
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let bad = || ClientError::BadUrl(url.into());
        if !url.starts_with("http://") {
            return Err(bad());
        }
        let origin = Origin::parse(url).map_err(|_| bad())?;
        let config = otedama_http::Config {
            max_body_bytes: MAX_REPLY,
            connect_timeout: Some(CONNECT_TIMEOUT),
            ..otedama_http::Config::default()
        };
        Ok(Client {
            url: url.to_string(),
            http: BlockingClient::new(origin, config),
            cookie: None,
            timeout: Duration::from_secs(30),
        })
    }

    /// How long one call may take (connect, send, answer); 30 s unless set.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Authenticates with a cookie line `__cookie__:SECRET`.
    pub fn with_cookie(mut self, cookie: &str) -> Client {
        self.cookie = Some(cookie.to_owned());
        self
    }

    /// One raw HTTP exchange; returns (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let mut request = Request::new(method)
            .path(path)
            .header("Content-Type", "application/json")
            .body(body)
            .timeout(Some(self.timeout));
        if let Some(cookie) = &self.cookie {
            request = request.basic_auth(cookie);
        }
        let reason = |e: HttpError| e.to_string();
        match self.http.send(request) {
            Ok(response) => Ok((response.status, response.body)),
            Err(e @ (HttpError::Connect(_) | HttpError::Io(_) | HttpError::Timeout(_))) => {
                Err(ClientError::Unreachable {
                    url: self.url.clone(),
                    reason: reason(e),
                })
            }
            Err(HttpError::InvalidRequest(_)) => Err(ClientError::BadUrl(format!(
                "{}{path}",
                self.url.trim_end_matches('/')
            ))),
            Err(e) => Err(ClientError::BadReply {
                url: self.url.clone(),
                reason: reason(e),
            }),
        }
    }

    /// Calls a method and returns its result.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let (status, reply) = self.request("POST", "/", body.as_bytes())?;
        let v: Value = serde_json::from_slice(&reply).map_err(|e| ClientError::BadReply {
            url: self.url.clone(),
            reason: format!("HTTP {status}: {e}"),
        })?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Err(ClientError::Rpc {
                method: method.into(),
                code: err["code"].as_i64().unwrap_or(0),
                message: err["message"].as_str().unwrap_or("").into(),
            });
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }
}
