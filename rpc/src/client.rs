//! A blocking JSON-RPC 2.0 client for `otedama-cli` and tests.

use crate::http;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Largest reply read (share lists are bounded by the server).
const MAX_REPLY: u64 = 64 * 1024 * 1024;

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
    host_port: String,
    auth: Option<String>,
    timeout: Duration,
}

impl Client {
    pub fn new(url: &str) -> Result<Client, ClientError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| ClientError::BadUrl(url.into()))?;
        let host_port = rest.trim_end_matches('/').to_string();
        if host_port.is_empty() || !host_port.contains(':') {
            return Err(ClientError::BadUrl(url.into()));
        }
        Ok(Client {
            url: url.to_string(),
            host_port,
            auth: None,
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
        self.auth = Some(format!("Basic {}", http::base64(cookie.as_bytes())));
        self
    }

    fn unreachable(&self, reason: impl ToString) -> ClientError {
        ClientError::Unreachable {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// One raw HTTP exchange; returns (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let addr = self
            .host_port
            .to_socket_addrs()
            .map_err(|e| self.unreachable(e))?
            .next()
            .ok_or_else(|| self.unreachable("no address"))?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| self.unreachable(e))?;
        s.set_read_timeout(Some(self.timeout))
            .map_err(|e| self.unreachable(e))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.host_port,
            body.len()
        );
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes())
            .map_err(|e| self.unreachable(e))?;
        s.write_all(body).map_err(|e| self.unreachable(e))?;
        let mut reply = Vec::new();
        s.take(MAX_REPLY)
            .read_to_end(&mut reply)
            .map_err(|e| self.unreachable(e))?;
        let bad = |reason: &str| ClientError::BadReply {
            url: self.url.clone(),
            reason: reason.into(),
        };
        let end = http::head_end(&reply).ok_or_else(|| bad("no HTTP head"))?;
        let status_line = std::str::from_utf8(&reply[..end]).map_err(|_| bad("head not UTF-8"))?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad("no status"))?;
        Ok((status, reply[end..].to_vec()))
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
