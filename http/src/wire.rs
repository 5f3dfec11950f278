//! HTTP/1.1 framing, the only copy in the workspace: writing a request, reading a response
//! (`Content-Length`, chunked, or to the end of the stream), within size limits, and telling
//! whether the connection may carry another request.

use crate::origin::{is_valid_path, Origin};
use crate::{base64, HttpError};
use std::fmt;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 64 << 10;
/// Longest chunk-size line of a chunked body (a size and extensions nobody sends).
const MAX_CHUNK_LINE: usize = 4 << 10;
/// Most interim (1xx) responses skipped before the final one.
const MAX_INTERIM: usize = 8;

/// One request. Built with [`Request::new`] (or [`Request::get`], [`Request::post`]) and the
/// builder methods; `Host`, `Content-Length` and the connection handling are the client's.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    path: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    timeout: Option<Duration>,
}

impl fmt::Debug for Request {
    /// Leaves out header values that carry secrets (`Authorization`) and the body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let shown = if name.eq_ignore_ascii_case("authorization") {
                    "<hidden>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Request {
    /// A `method` request for the origin's path, without body or timeout.
    pub fn new(method: &str) -> Request {
        Request {
            method: method.to_owned(),
            path: None,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: None,
        }
    }

    pub fn get() -> Request {
        Request::new("GET")
    }

    pub fn post(body: impl Into<Vec<u8>>) -> Request {
        Request::new("POST").body(body)
    }

    /// The request target (`/metrics`) instead of the origin's path.
    pub fn path(mut self, path: impl Into<String>) -> Request {
        self.path = Some(path.into());
        self
    }

    /// Adds a header (not `Host`, `Content-Length`, `Transfer-Encoding` or `Connection`, which
    /// the client writes itself).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// `Authorization: Basic` for `USER:PASSWORD`. Given per request, so that a caller can
    /// re-read credentials that change (Core's cookie file is rewritten at every node start).
    pub fn basic_auth(self, credentials: &str) -> Request {
        self.header(
            "Authorization",
            format!("Basic {}", base64(credentials.as_bytes())),
        )
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// Limit for the whole request: connecting (or taking an idle connection), sending, and
    /// the complete response. `None` (the default) waits as long as the server takes, for
    /// long polls that are given up by dropping the future.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Request {
        self.timeout = timeout;
        self
    }

    pub fn method(&self) -> &str {
        &self.method
    }

    pub fn timeout_value(&self) -> Option<Duration> {
        self.timeout
    }

    /// Whether the response to this request has no body whatever its headers say.
    pub(crate) fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// The request's bytes: request line, headers, body. Refuses what would not be one
    /// well-formed request (spaces in the path, line breaks in a header).
    pub(crate) fn encode(&self, origin: &Origin) -> Result<Vec<u8>, HttpError> {
        let bad = |what: String| Err(HttpError::InvalidRequest(what));
        if self.method.is_empty() || !self.method.bytes().all(is_tchar) {
            return bad(format!("bad method {:?}", self.method));
        }
        let path = self.path.as_deref().unwrap_or(origin.path());
        if !is_valid_path(path) {
            return bad(format!("bad path {path:?}"));
        }
        let mut head = format!(
            "{} {path} HTTP/1.1\r\nHost: {}\r\n",
            self.method,
            origin.authority()
        );
        for (name, value) in &self.headers {
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return bad(format!("bad header name {name:?}"));
            }
            if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                return bad(format!("header {name} has a line break"));
            }
            if ["host", "content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|reserved| name.eq_ignore_ascii_case(reserved))
            {
                return bad(format!("header {name} is the client's to write"));
            }
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        // A GET or HEAD without a body says nothing of one; everything else gives its length
        // (servers may refuse a POST without one).
        if !self.body.is_empty() || !matches!(self.method.as_str(), "GET" | "HEAD") {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut out = Vec::with_capacity(head.len() + self.body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}

/// RFC 9110 `tchar`: what a method or header name may be made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A complete response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// Decoded (chunked encoding removed).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Size limits of one response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_head: usize,
    pub max_body: usize,
}

/// What a response head says, as far as framing goes.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    /// `HTTP/1.1` (persistent unless told otherwise) rather than `HTTP/1.0`.
    http11: bool,
    content_length: Option<usize>,
    chunked: bool,
    /// `Connection: close`.
    close: bool,
    /// `Connection: keep-alive` (what makes an HTTP/1.0 response persistent).
    keep_alive: bool,
}

fn malformed(what: impl Into<String>) -> HttpError {
    HttpError::Malformed(what.into())
}

fn parse_head(raw: &[u8]) -> Result<Head, HttpError> {
    let text = std::str::from_utf8(raw).map_err(|_| malformed("response head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let not_status = || malformed(format!("not an HTTP/1.x status line: {status_line:?}"));
    let (version, rest) = status_line.split_once(' ').ok_or_else(not_status)?;
    let minor = version.strip_prefix("HTTP/1.").ok_or_else(not_status)?;
    let code = rest.get(..3).ok_or_else(not_status)?;
    if !code.bytes().all(|b| b.is_ascii_digit()) || !(rest.len() == 3 || rest[3..].starts_with(' '))
    {
        return Err(not_status());
    }
    // RFC 9110 section 15: three digits, 100 to 599.
    let status: u16 = code.parse().map_err(|_| not_status())?;
    if !(100..=599).contains(&status) {
        return Err(not_status());
    }
    let mut head = Head {
        status,
        headers: Vec::new(),
        http11: minor != "0",
        content_length: None,
        chunked: false,
        close: false,
        keep_alive: false,
    };
    let mut codings: Vec<String> = Vec::new();
    for line in lines {
        // Lines that are not `name: value` (there should be none) are skipped, not fatal.
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            let len: usize = value
                .parse()
                .map_err(|_| malformed(format!("bad Content-Length {value:?}")))?;
            if head.content_length.is_some_and(|l| l != len) {
                return Err(malformed("conflicting Content-Length headers"));
            }
            head.content_length = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            codings.extend(
                value
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .filter(|c| !c.is_empty() && c != "identity"),
            );
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                head.close |= token.eq_ignore_ascii_case("close");
                head.keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        }
        head.headers.push((name.to_owned(), value.to_owned()));
    }
    match codings.as_slice() {
        [] => {}
        [only] if only == "chunked" => head.chunked = true,
        _ => {
            return Err(malformed(format!(
                "unsupported Transfer-Encoding {:?}",
                codings.join(", ")
            )))
        }
    }
    Ok(head)
}

/// A connection and the bytes read from it but not yet used.
pub(crate) struct Conn<S> {
    stream: S,
    buf: Vec<u8>,
    /// Bytes received since the last request was sent: 0 when a failure came before any byte
    /// of the response, the only case in which the request may be sent again.
    received: usize,
}

impl<S> Conn<S> {
    pub fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: Vec::new(),
            received: 0,
        }
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    /// Whether any byte of the response arrived (see [`Conn::received`]).
    pub fn got_response_bytes(&self) -> bool {
        self.received > 0
    }

    /// Whether bytes are waiting that no request asked for (an idle connection must have
    /// none).
    pub fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// The error for a connection closed before the response was complete.
fn closed_early(received: usize) -> HttpError {
    HttpError::Io(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("connection closed after {received} bytes of response"),
    ))
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Sends `request` (from [`Request::encode`]) and reads its response. Returns the response
    /// and whether the connection may carry another request.
    pub async fn exchange(
        &mut self,
        request: &[u8],
        head_request: bool,
        limits: Limits,
    ) -> Result<(Response, bool), HttpError> {
        self.received = 0;
        self.stream
            .write_all(request)
            .await
            .map_err(HttpError::Io)?;
        self.read_response(head_request, limits).await
    }
}

impl<S: AsyncRead + Unpin> Conn<S> {
    /// Reads one response (skipping interim 1xx ones). Returns it and whether the connection
    /// may carry another request: HTTP/1.1 without `Connection: close` (or HTTP/1.0 with
    /// `Connection: keep-alive`), a body with a known end, nothing read past it.
    pub async fn read_response(
        &mut self,
        head_request: bool,
        limits: Limits,
    ) -> Result<(Response, bool), HttpError> {
        let mut interim = 0;
        let head = loop {
            let head = self.read_head(limits.max_head).await?;
            if (100..200).contains(&head.status) {
                if head.status == 101 {
                    return Err(malformed("101 Switching Protocols was not asked for"));
                }
                interim += 1;
                if interim > MAX_INTERIM {
                    return Err(malformed(format!("over {MAX_INTERIM} interim responses")));
                }
                continue;
            }
            break head;
        };
        let no_body = head_request || head.status == 204 || head.status == 304;
        let (body, delimited) = if no_body {
            (Vec::new(), true)
        } else if head.chunked {
            // Both headers: chunked wins (RFC 9112 section 6.3), but such a reply is odd
            // enough that its connection is not trusted with another request.
            (
                self.read_chunked(limits).await?,
                head.content_length.is_none(),
            )
        } else if let Some(len) = head.content_length {
            if len > limits.max_body {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: limits.max_body,
                });
            }
            let mut body = Vec::new();
            self.read_exact_into(len, &mut body).await?;
            (body, true)
        } else {
            (self.read_to_end(limits.max_body).await?, false)
        };
        let persistent =
            delimited && !head.close && (head.http11 || head.keep_alive) && self.buf.is_empty();
        Ok((
            Response {
                status: head.status,
                headers: head.headers,
                body,
            },
            persistent,
        ))
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> Result<usize, HttpError> {
        self.buf.reserve(READ_CHUNK);
        let n = self
            .stream
            .read_buf(&mut self.buf)
            .await
            .map_err(HttpError::Io)?;
        self.received += n;
        Ok(n)
    }

    /// Reads up to `delimiter`; returns what precedes it and consumes both. More than `max`
    /// bytes without it is [`HttpError::TooLarge`] (`what`).
    async fn read_until(
        &mut self,
        delimiter: &[u8],
        max: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, HttpError> {
        let mut scanned = 0;
        loop {
            if let Some(pos) = find(&self.buf[scanned..], delimiter) {
                let end = scanned + pos;
                if end > max {
                    return Err(HttpError::TooLarge { what, limit: max });
                }
                let found = self.buf[..end].to_vec();
                self.buf.drain(..end + delimiter.len());
                return Ok(found);
            }
            // Over the limit only once no delimiter can start within it: a `max`-byte head
            // is taken whether its delimiter arrives with it or a byte at a time (found by the
            // http_response fuzz target).
            if self.buf.len() >= max + delimiter.len() {
                return Err(HttpError::TooLarge { what, limit: max });
            }
            // The delimiter may straddle what is here and what comes next.
            scanned = self.buf.len().saturating_sub(delimiter.len() - 1);
            if self.fill().await? == 0 {
                return Err(closed_early(self.received));
            }
        }
    }

    async fn read_head(&mut self, max_head: usize) -> Result<Head, HttpError> {
        let raw = self.read_until(b"\r\n\r\n", max_head, "head").await?;
        parse_head(&raw)
    }

    /// Appends exactly `len` bytes to `out`.
    async fn read_exact_into(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), HttpError> {
        let buffered = len.min(self.buf.len());
        out.extend_from_slice(&self.buf[..buffered]);
        self.buf.drain(..buffered);
        let mut filled = out.len();
        let end = filled + (len - buffered);
        out.resize(end, 0);
        while filled < end {
            let n = self
                .stream
                .read(&mut out[filled..end])
                .await
                .map_err(HttpError::Io)?;
            if n == 0 {
                return Err(closed_early(self.received));
            }
            self.received += n;
            filled += n;
        }
        Ok(())
    }

    /// A chunked body (RFC 9112 section 7.1), decoded; trailers are read and dropped.
    async fn read_chunked(&mut self, limits: Limits) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        loop {
            let line = self
                .read_until(b"\r\n", MAX_CHUNK_LINE, "chunk size line")
                .await?;
            let line = std::str::from_utf8(&line).map_err(|_| malformed("chunk size not UTF-8"))?;
            let size_hex = line.split(';').next().unwrap_or_default().trim();
            let size = if !size_hex.is_empty() && size_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                usize::from_str_radix(size_hex, 16).ok()
            } else {
                None
            }
            .ok_or_else(|| malformed(format!("bad chunk size {size_hex:?}")))?;
            if size == 0 {
                let mut trailers = 0;
                loop {
                    let line = self
                        .read_until(b"\r\n", limits.max_head, "trailers")
                        .await?;
                    if line.is_empty() {
                        return Ok(body);
                    }
                    trailers += line.len() + 2;
                    if trailers > limits.max_head {
                        return Err(HttpError::TooLarge {
                            what: "trailers",
                            limit: limits.max_head,
                        });
                    }
                }
            }
            if size > limits.max_body - body.len() {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: limits.max_body,
                });
            }
            self.read_exact_into(size, &mut body).await?;
            let mut crlf = Vec::with_capacity(2);
            self.read_exact_into(2, &mut crlf).await?;
            if crlf != b"\r\n" {
                return Err(malformed("chunk data not followed by CRLF"));
            }
        }
    }

    /// A body without a declared length: everything until the server closes.
    async fn read_to_end(&mut self, max_body: usize) -> Result<Vec<u8>, HttpError> {
        let mut body = std::mem::take(&mut self.buf);
        loop {
            if body.len() > max_body {
                return Err(HttpError::TooLarge {
                    what: "body",
                    limit: max_body,
                });
            }
            body.reserve(READ_CHUNK);
            let n = self
                .stream
                .read_buf(&mut body)
                .await
                .map_err(HttpError::Io)?;
            if n == 0 {
                return Ok(body);
            }
            self.received += n;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Fuzzing entry (`fuzz/`, target `http_response`): reads one response from `raw`, handed over
/// `step` bytes per read, with the given limits. Returns the response and whether the
/// connection could be reused (nothing unread after it).
#[doc(hidden)]
pub fn fuzz_read_response(
    raw: &[u8],
    step: usize,
    head_request: bool,
    max_head: usize,
    max_body: usize,
) -> Result<(Response, bool), HttpError> {
    use std::pin::Pin;
    use std::task::{Context, Poll};
    struct Steps<'a> {
        data: &'a [u8],
        step: usize,
    }
    impl AsyncRead for Steps<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.step.max(1).min(self.data.len()).min(buf.remaining());
            let (now, rest) = self.data.split_at(n);
            buf.put_slice(now);
            self.data = rest;
            Poll::Ready(Ok(()))
        }
    }
    let mut conn = Conn::new(Steps { data: raw, step });
    let limits = Limits { max_head, max_body };
    let result = {
        use std::future::Future;
        let fut = std::pin::pin!(conn.read_response(head_request, limits));
        // The reader is always ready, so the read finishes in one poll.
        match fut.poll(&mut Context::from_waker(std::task::Waker::noop())) {
            Poll::Ready(r) => r,
            Poll::Pending => panic!("read_response waited on a reader that is always ready"),
        }
    };
    result.map(|(resp, keep)| (resp, keep && !conn.has_unread()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    const LIMITS: Limits = Limits {
        max_head: 1024,
        max_body: 64,
    };

    /// A stream that gives its bytes `step` at a time, to cross every boundary.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self
                .step
                .min(self.data.len() - self.at)
                .min(buf.remaining());
            let at = self.at;
            buf.put_slice(&self.data[at..at + n]);
            self.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// Reads one response from `raw`, fed 1, 2, 3, 7 bytes and all at a time; all must agree.
    fn read(raw: &[u8], head_request: bool) -> Result<(Response, bool), HttpError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut results = [1, 2, 3, 7, usize::MAX].map(|step| {
            let mut conn = Conn::new(Trickle {
                data: raw.to_vec(),
                at: 0,
                step,
            });
            rt.block_on(conn.read_response(head_request, LIMITS))
                .map(|(r, keep)| (r, keep && !conn.has_unread()))
        });
        let last = results[4].as_ref().map_err(|e| e.to_string()).cloned();
        for r in &results[..4] {
            assert_eq!(
                r.as_ref().map_err(|e| e.to_string()).cloned(),
                last,
                "{raw:?}"
            );
        }
        std::mem::replace(&mut results[4], Err(malformed("taken")))
    }

    fn body(raw: &[u8]) -> Vec<u8> {
        read(raw, false).unwrap().0.body
    }

    #[test]
    fn content_length_and_keep_alive() {
        let (r, keep) = read(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
            false,
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), keep),
            (200, &b"hello"[..], true)
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        // Told to close, HTTP/1.0 without keep-alive, or a body ended by the close: not reused.
        for raw in [
            &b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"[..],
            b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nto the end",
        ] {
            assert!(!read(raw, false).unwrap().1, "{raw:?}");
        }
        assert!(
            read(
                b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                false
            )
            .unwrap()
            .1
        );
        assert_eq!(body(b"HTTP/1.1 200 OK\r\n\r\nto the end"), b"to the end");
    }

    #[test]
    fn dechunks() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let (r, keep) = read(raw, false).unwrap();
        assert_eq!((r.body.as_slice(), keep), (&b"Wikipedia"[..], true));
        for bad in [
            &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            assert!(read(bad, false).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interim_and_bodiless_responses() {
        let (r, keep) = read(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            false,
        )
        .unwrap();
        assert_eq!((r.status, r.body.len(), keep), (204, 0, true));
        let (r, _) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true).unwrap();
        assert_eq!((r.status, r.body.len()), (200, 0));
    }

    #[test]
    fn limits_and_garbage() {
        // Found by the http_response fuzz target: a head of exactly the limit is taken however
        // it arrives (`read` feeds it 1, 2, 3, 7 and all bytes at a time), one byte more is not.
        for (len, ok) in [(1024, true), (1025, false)] {
            let mut raw = b"HTTP/1.1 204 No Content\r\nX: ".to_vec();
            raw.resize(len, b'a');
            raw.extend_from_slice(b"\r\n\r\n");
            assert_eq!(read(&raw, false).is_ok(), ok, "{len}");
        }
        // Found by the http_response fuzz target: status codes outside 100-599.
        for status in ["000", "099", "600", "999"] {
            let raw = format!("HTTP/1.1 {status} OK\r\nContent-Length: 0\r\n\r\n");
            assert!(
                matches!(read(raw.as_bytes(), false), Err(HttpError::Malformed(_))),
                "{status}"
            );
        }
        assert!(matches!(
            read(b"HTTP/1.1 200 OK\r\nContent-Length: 65\r\n\r\n", false),
            Err(HttpError::TooLarge { what: "body", .. })
        ));
        let chunked_over = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                             20\r\n01234567890123456789012345678901\r\n\
                             21\r\n012345678901234567890123456789012\r\n0\r\n\r\n";
        assert!(matches!(
            read(chunked_over, false),
            Err(HttpError::TooLarge { what: "body", .. })
        ));
        let to_end = [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &[b'x'; 65]].concat();
        assert!(matches!(
            read(&to_end, false),
            Err(HttpError::TooLarge { .. })
        ));
        let long_head = [&b"HTTP/1.1 200 OK\r\nX: "[..], &[b'x'; 2000], b"\r\n\r\n"].concat();
        assert!(matches!(
            read(&long_head, false),
            Err(HttpError::TooLarge { what: "head", .. })
        ));
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            assert!(
                matches!(read(bad, false), Err(HttpError::Malformed(_))),
                "{bad:?}"
            );
        }
        // Closed early: an I/O error (the node went away), not a malformed reply.
        for early in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\nContent-Le",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
        ] {
            assert!(
                matches!(read(early, false), Err(HttpError::Io(_))),
                "{early:?}"
            );
        }
    }

    #[test]
    fn requests_are_encoded_and_checked() {
        let origin = Origin::parse("http://[::1]:18443/wallet/w").unwrap();
        let raw = Request::post(&b"{}"[..])
            .header("Content-Type", "application/json")
            .basic_auth("u:p")
            .encode(&origin)
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "POST /wallet/w HTTP/1.1\r\nHost: [::1]:18443\r\nContent-Type: application/json\r\n\
             Authorization: Basic dTpw\r\nContent-Length: 2\r\n\r\n{}"
        );
        let raw = Request::get().path("/metrics").encode(&origin).unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "GET /metrics HTTP/1.1\r\nHost: [::1]:18443\r\n\r\n"
        );
        for bad in [
            Request::new("PO ST"),
            Request::get().path("/a b"),
            Request::get().path(""),
            Request::get().header("X", "a\r\nInjected: 1"),
            Request::get().header("Bad Name", "v"),
            Request::get().header("content-length", "5"),
            Request::get().header("Connection", "close"),
        ] {
            assert!(
                matches!(bad.encode(&origin), Err(HttpError::InvalidRequest(_))),
                "{bad:?}"
            );
        }
        let shown = format!("{:?}", Request::get().basic_auth("u:secret"));
        assert!(!shown.contains(&base64(b"u:secret")), "{shown}");
    }
}
