//! Just enough HTTP/1.1 for a local API (the server side): one request per connection, bounded
//! headers and body. Clients use `otedama_http` (as does the server's basic auth, for base64).

use std::collections::HashMap;

/// Longest request head (request line and headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Largest request body: JSON-RPC calls are small.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Lower-case header names.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request head over {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("request body over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("connection closed early")]
    Closed,
}

/// Position just past the blank line ending the head, if the buffer holds one.
pub fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Parses a complete head; returns the request without body and the declared body length.
pub fn parse_head(head: &[u8]) -> Result<(Request, usize), HttpError> {
    let text = std::str::from_utf8(head).map_err(|_| HttpError::Malformed("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines
        .next()
        .ok_or(HttpError::Malformed("no request line"))?;
    let mut parts = first.split(' ');
    let method = parts
        .next()
        .filter(|m| !m.is_empty())
        .ok_or(HttpError::Malformed("no method"))?;
    let path = parts.next().ok_or(HttpError::Malformed("no path"))?;
    let mut headers = HashMap::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("bad header"))?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len = match headers.get("content-length") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| HttpError::Malformed("bad content-length"))?,
        None => 0,
    };
    if len > MAX_BODY_BYTES {
        return Err(HttpError::BodyTooLarge);
    }
    Ok((
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers,
            body: Vec::new(),
        },
        len,
    ))
}

/// A complete response with `Connection: close`.
pub fn response(status: u16, reason: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_post() {
        let raw =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nAuthorization: Basic abc\r\n\r\n";
        let end = head_end(raw).unwrap();
        let (req, len) = parse_head(&raw[..end]).unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/");
        assert_eq!(len, 12);
        assert_eq!(req.headers["authorization"], "Basic abc");
    }

    #[test]
    fn refuses_garbage_and_huge_bodies() {
        assert!(parse_head(b"\r\n\r\n").is_err());
        assert!(parse_head(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n").is_err());
        assert_eq!(
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
            Err(HttpError::BodyTooLarge)
        );
    }
}
