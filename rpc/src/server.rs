//! The API server: JSON-RPC 2.0 on `POST /`, Prometheus text on `GET /metrics`, Server-Sent
//! Events on `GET /events`. Bound to 127.0.0.1 by default; methods that change state need the
//! cookie ([`crate::cookie`]).

use crate::http::{self, HttpError, Request, MAX_HEAD_BYTES};
use serde_json::{json, Value};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch, Semaphore};

/// Concurrent API connections (event streams included).
pub const MAX_CONNECTIONS: usize = 64;
/// A client must send its whole request within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// JSON-RPC error codes (the standard ones, and two of ours in the server range).
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;
    pub const UNAUTHORIZED: i64 = -32001;
    pub const NOT_AVAILABLE: i64 = -32002;
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("method not found: {0}")]
    MethodNotFound(String),
    #[error("invalid params: {0}")]
    InvalidParams(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("this method changes the node: authenticate with the cookie in the data directory")]
    Unauthorized,
    #[error("not available: {0}")]
    NotAvailable(String),
}

impl ApiError {
    pub fn code(&self) -> i64 {
        match self {
            ApiError::MethodNotFound(_) => codes::METHOD_NOT_FOUND,
            ApiError::InvalidParams(_) => codes::INVALID_PARAMS,
            ApiError::Internal(_) => codes::INTERNAL,
            ApiError::Unauthorized => codes::UNAUTHORIZED,
            ApiError::NotAvailable(_) => codes::NOT_AVAILABLE,
        }
    }
}

/// What a node exposes.
pub trait NodeApi: Send + Sync + 'static {
    /// Answers a method. Privileged methods reach here only with a valid cookie.
    fn call(
        &self,
        method: &str,
        params: &Value,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// The Prometheus exposition text.
    fn metrics(&self) -> impl Future<Output = String> + Send;
}

/// Server settings.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    /// The cookie secret (`__cookie__:SECRET` as HTTP Basic) for privileged methods.
    pub cookie_secret: String,
    /// Methods that need the cookie.
    pub privileged: Vec<String>,
}

struct Shared<A> {
    api: Arc<A>,
    config: ApiConfig,
    events: broadcast::Sender<Value>,
    expected_auth: String,
}

/// A bound API server.
pub struct ApiServer<A> {
    listener: TcpListener,
    shared: Arc<Shared<A>>,
}

impl<A: NodeApi> ApiServer<A> {
    pub async fn bind(
        config: ApiConfig,
        api: Arc<A>,
        events: broadcast::Sender<Value>,
    ) -> std::io::Result<ApiServer<A>> {
        let listener = TcpListener::bind(config.listen).await?;
        let expected_auth = format!(
            "Basic {}",
            otedama_http::base64(
                format!("{}:{}", crate::cookie::COOKIE_USER, config.cookie_secret).as_bytes()
            )
        );
        Ok(ApiServer {
            listener,
            shared: Arc::new(Shared {
                api,
                config,
                events,
                expected_auth,
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!("api accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = limit.clone().try_acquire_owned() else {
                let mut s = stream;
                let _ = s
                    .write_all(&http::response(
                        503,
                        "Busy",
                        "text/plain",
                        b"too many API connections\n",
                    ))
                    .await;
                continue;
            };
            let shared = self.shared.clone();
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                handle(shared, stream, stop).await;
                drop(permit);
            });
        }
        let _ = stop_tx.send(true);
    }
}

/// Appends what the client sends next to `buf`; a closed connection or an error ends the request.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), HttpError> {
    let mut chunk = [0u8; 2048];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|_| HttpError::Closed)?;
    if n == 0 {
        return Err(HttpError::Closed);
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

async fn read_request(stream: &mut TcpStream) -> Result<Request, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let end = loop {
        if let Some(end) = http::head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_HEAD_BYTES {
            return Err(HttpError::HeadTooLarge);
        }
        read_more(stream, &mut buf).await?;
    };
    let (mut req, len) = http::parse_head(&buf[..end])?;
    let mut body = buf[end..].to_vec();
    while body.len() < len {
        read_more(stream, &mut body).await?;
    }
    body.truncate(len);
    req.body = body;
    Ok(req)
}

async fn handle<A: NodeApi>(
    shared: Arc<Shared<A>>,
    mut stream: TcpStream,
    stop: watch::Receiver<bool>,
) {
    let req = match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(r)) => r,
        Ok(Err(HttpError::Closed)) | Err(_) => return,
        Ok(Err(e)) => {
            let _ = stream
                .write_all(&http::response(
                    400,
                    "Bad Request",
                    "text/plain",
                    format!("{e}\n").as_bytes(),
                ))
                .await;
            return;
        }
    };
    let out = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/") => {
            let authorized = req
                .headers
                .get("authorization")
                .is_some_and(|a| *a == shared.expected_auth);
            let body = rpc_body(&shared, &req.body, authorized).await;
            http::response(200, "OK", "application/json", body.as_bytes())
        }
        ("GET", "/metrics") => {
            let text = shared.api.metrics().await;
            http::response(200, "OK", "text/plain; version=0.0.4", text.as_bytes())
        }
        ("GET", "/events") => {
            stream_events(&shared, stream, stop).await;
            return;
        }
        // The read-only dashboard (crate::dashboard): embedded files, no API call of its own.
        ("GET", path) if crate::dashboard::is_asset(path) => {
            let tag = req.headers.get("if-none-match").map(String::as_str);
            crate::dashboard::response(path, tag).unwrap_or_default()
        }
        _ => http::response(
            404,
            "Not Found",
            "text/plain",
            b"POST / (JSON-RPC 2.0), GET / (dashboard), GET /metrics, GET /events\n",
        ),
    };
    let _ = stream.write_all(&out).await;
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

async fn one_call<A: NodeApi>(shared: &Shared<A>, call: &Value, authorized: bool) -> Value {
    let id = call.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = call.get("method").and_then(Value::as_str) else {
        return error_reply(id, codes::INVALID_REQUEST, "missing method");
    };
    let params = call.get("params").cloned().unwrap_or(Value::Null);
    if shared.config.privileged.iter().any(|m| m == method) && !authorized {
        return error_reply(id, codes::UNAUTHORIZED, &ApiError::Unauthorized.to_string());
    }
    match shared.api.call(method, &params).await {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => error_reply(id, e.code(), &e.to_string()),
    }
}

/// Most calls in one batch.
const MAX_BATCH: usize = 32;

async fn rpc_body<A: NodeApi>(shared: &Shared<A>, body: &[u8], authorized: bool) -> String {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return error_reply(
                Value::Null,
                codes::PARSE_ERROR,
                &format!("parse error: {e}"),
            )
            .to_string()
        }
    };
    match value {
        Value::Array(calls) if calls.len() <= MAX_BATCH && !calls.is_empty() => {
            let mut out = Vec::with_capacity(calls.len());
            for c in &calls {
                out.push(one_call(shared, c, authorized).await);
            }
            Value::Array(out).to_string()
        }
        Value::Array(_) => error_reply(
            Value::Null,
            codes::INVALID_REQUEST,
            "batch must hold 1..=32 calls",
        )
        .to_string(),
        call => one_call(shared, &call, authorized).await.to_string(),
    }
}

async fn stream_events<A>(
    shared: &Shared<A>,
    mut stream: TcpStream,
    mut stop: watch::Receiver<bool>,
) {
    let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n: otedama events\n\n";
    if stream.write_all(head).await.is_err() {
        return;
    }
    let mut rx = shared.events.subscribe();
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => return,
            m = rx.recv() => m,
            _ = tokio::time::sleep(Duration::from_secs(15)) => {
                // Keep-alive comment so proxies and clients see the stream is alive.
                if stream.write_all(b": keep-alive\n\n").await.is_err() { return; }
                continue;
            }
        };
        let text = match msg {
            Ok(ev) => {
                let kind = ev
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("event")
                    .to_string();
                format!("event: {kind}\ndata: {ev}\n\n")
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                format!(": {n} events dropped (slow reader)\n\n")
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if stream.write_all(text.as_bytes()).await.is_err() {
            return;
        }
    }
}
