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

/// Concurrent API request connections: `otedama-cli`, Prometheus scrapes and the dashboard's
/// calls, each answered in milliseconds. Event streams have their own pool
/// ([`MAX_EVENT_STREAMS`]), so idle subscribers can never use up the slots `stop` needs; and
/// when every slot is taken, the connection that has waited longest for its request's bytes
/// (a slowloris client: honest clients send at once) is dropped to make room.
pub const MAX_CONNECTIONS: usize = 64;
/// Concurrent `/events` subscribers: a few dashboards and log shippers per node.
pub const MAX_EVENT_STREAMS: usize = 32;
/// A client must send its whole request within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A response (or one event) must be taken by the client within this time; a client that stops
/// reading is dropped instead of holding a task and its buffers.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Host names accepted in the `Host` header besides IP literals and `localhost` (a reverse
    /// proxy's name). Others are refused, so a web page cannot reach the API by DNS rebinding.
    pub allowed_hosts: Vec<String>,
}

struct Shared<A> {
    api: Arc<A>,
    config: ApiConfig,
    events: broadcast::Sender<Value>,
    expected_auth: String,
    event_slots: Arc<Semaphore>,
    /// Connections still reading their request, oldest first: whom to drop when slots run out.
    readers: std::sync::Mutex<std::collections::VecDeque<(u64, tokio::task::AbortHandle)>>,
}

/// Whether `host` (a `Host` header: `name[:port]`) may address this API: IP literals and
/// `localhost` always (a browser reaching them typed them), other names only when configured.
/// DNS rebinding makes a page of `evil.example` talk to 127.0.0.1 under its own name; refusing
/// unknown names closes that door.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(n, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                n
            } else {
                host
            }
        }),
    };
    name.parse::<std::net::IpAddr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// Equality in time independent of where the inputs differ, so the cookie cannot be guessed a
/// byte at a time from response times.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Writes all of `bytes` within [`WRITE_TIMEOUT`].
async fn write_timed(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
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
                event_slots: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
                readers: std::sync::Mutex::new(std::collections::VecDeque::new()),
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
        let mut next_id = 0u64;
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
            let permit = match limit.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                // Full: drop the connection waiting longest for its request (it frees its slot
                // as it ends), then take the slot.
                Err(_) => {
                    let oldest = self
                        .shared
                        .readers
                        .lock()
                        .ok()
                        .and_then(|mut r| r.pop_front());
                    match oldest {
                        Some((_, abort)) => {
                            abort.abort();
                            tokio::time::timeout(
                                Duration::from_secs(1),
                                limit.clone().acquire_owned(),
                            )
                            .await
                            .ok()
                            .and_then(Result::ok)
                        }
                        None => None,
                    }
                }
            };
            let Some(permit) = permit else {
                let mut s = stream;
                let _ = write_timed(
                    &mut s,
                    &http::response(503, "Busy", "text/plain", b"too many API connections\n"),
                )
                .await;
                continue;
            };
            let shared = self.shared.clone();
            let stop = stop_rx.clone();
            next_id += 1;
            let id = next_id;
            let (start_tx, start_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                // Registered as a reader before it reads a byte.
                let _ = start_rx.await;
                handle(shared, stream, stop, permit, id).await;
            });
            if let Ok(mut r) = self.shared.readers.lock() {
                r.push_back((id, task.abort_handle()));
            }
            let _ = start_tx.send(());
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
    permit: tokio::sync::OwnedSemaphorePermit,
    id: u64,
) {
    let read = tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await;
    // No longer a reader: never dropped to make room from here on.
    if let Ok(mut r) = shared.readers.lock() {
        r.retain(|(i, _)| *i != id);
    }
    let req = match read {
        Ok(Ok(r)) => r,
        Ok(Err(HttpError::Closed)) | Err(_) => return,
        Ok(Err(e)) => {
            let _ = write_timed(
                &mut stream,
                &http::response(
                    400,
                    "Bad Request",
                    "text/plain",
                    format!("{e}\n").as_bytes(),
                ),
            )
            .await;
            return;
        }
    };
    if let Some(host) = req.headers.get("host") {
        if !host_allowed(host, &shared.config.allowed_hosts) {
            let _ = write_timed(
                &mut stream,
                &http::response(
                    403,
                    "Forbidden",
                    "text/plain",
                    b"Host not allowed: address the API by IP or localhost, or list the name in --rpc-allow-host\n",
                ),
            )
            .await;
            return;
        }
    }
    let out = match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/") => {
            let authorized = req
                .headers
                .get("authorization")
                .is_some_and(|a| constant_time_eq(a.as_bytes(), shared.expected_auth.as_bytes()));
            let body = rpc_body(&shared, &req.body, authorized).await;
            http::response(200, "OK", "application/json", body.as_bytes())
        }
        ("GET", "/metrics") => {
            let text = shared.api.metrics().await;
            http::response(200, "OK", "text/plain; version=0.0.4", text.as_bytes())
        }
        ("GET", "/events") => {
            // From the request pool to the stream pool: a subscriber never holds a request slot.
            drop(permit);
            let Ok(slot) = shared.event_slots.clone().try_acquire_owned() else {
                let _ = write_timed(
                    &mut stream,
                    &http::response(503, "Busy", "text/plain", b"too many event streams\n"),
                )
                .await;
                return;
            };
            stream_events(&shared, stream, stop).await;
            drop(slot);
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
    let _ = write_timed(&mut stream, &out).await;
    drop(permit);
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
    if !write_timed(&mut stream, head).await {
        return;
    }
    let mut rx = shared.events.subscribe();
    loop {
        let msg = tokio::select! {
            _ = stop.changed() => return,
            m = rx.recv() => m,
            _ = tokio::time::sleep(Duration::from_secs(15)) => {
                // Keep-alive comment so proxies and clients see the stream is alive.
                if !write_timed(&mut stream, b": keep-alive\n\n").await { return; }
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
        if !write_timed(&mut stream, text.as_bytes()).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_by_ip_or_localhost_pass_and_other_names_only_when_listed() {
        let none: Vec<String> = vec![];
        for ok in [
            "127.0.0.1:9334",
            "127.0.0.1",
            "localhost:9334",
            "LOCALHOST",
            "[::1]:9334",
            "192.168.1.20:9334",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.example:9334",
            "evil.example",
            "127.0.0.1.evil.example",
            "[evil]:1",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        let listed = vec!["pool.home.arpa".to_string()];
        assert!(host_allowed("pool.home.arpa:443", &listed));
        assert!(!host_allowed("other.home.arpa", &listed));
    }

    #[test]
    fn cookie_comparison_is_exact() {
        assert!(constant_time_eq(b"Basic abc", b"Basic abc"));
        assert!(!constant_time_eq(b"Basic abc", b"Basic abd"));
        assert!(!constant_time_eq(b"Basic abc", b"Basic ab"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
