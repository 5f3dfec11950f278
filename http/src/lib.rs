//! Otedama's one HTTP/1.1 client, and its one base64.
//!
//! Everything Otedama says over HTTP as a client goes through here: the full-node JSON-RPC
//! client (`otedama_mining::node_rpc::NodeRpc`, to Bitcoin Core and Litecoin Core), the
//! `otedama-cli` client of the node's own API (`otedama_rpc::client::Client`) and the tests'
//! `litecoind` harness. One implementation means one set of bounds, one chunked decoder and one
//! place to fix a framing bug, instead of three hand-written clients drifting apart.
//!
//! * [`HttpClient`]: async, for one `http://HOST:PORT[/PATH]` origin ([`Origin`]). It keeps
//!   connections open (HTTP/1.1 keep-alive) and reuses them, so a busy caller does not pay a
//!   TCP handshake per request nor leave a `TIME_WAIT` socket behind each one. See
//!   [`HttpClient`] for reconnection, retries and concurrency.
//! * [`blocking`]: the same client for synchronous code (the CLI, test harnesses), callable
//!   from plain threads and from inside a tokio runtime alike.
//! * [`base64`]: for `Authorization: Basic` (clients and the node's API server).
//!
//! Why hand-written rather than hyper or reqwest: the peers are Core's RPC server and our own
//! API, both plain HTTP/1.1 with small JSON bodies, so a few hundred lines with explicit size
//! limits cover them; a general HTTP stack would add dozens of crates (and TLS, which neither
//! peer speaks) to every build of the node.

mod client;
mod origin;
mod wire;

pub mod blocking;

pub use client::{Config, HttpClient};
pub use origin::{Origin, UrlError};
#[doc(hidden)]
pub use wire::fuzz_read_response;
pub use wire::{Request, Response};

use std::io;
use std::time::Duration;

/// Everything that can go wrong with one request.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request cannot be written as asked (a bad method, path or header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// No connection to the origin (refused, unresolvable, timed out).
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    /// The connection failed, or closed before the whole response arrived.
    #[error("connection failed: {0}")]
    Io(#[source] io::Error),
    /// The server's reply is not HTTP/1.x as this client reads it.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The response head or body is over the client's limit ([`Config`]).
    #[error("response {what} over the {limit}-byte limit")]
    TooLarge { what: &'static str, limit: usize },
    /// No complete response within the request's timeout ([`Request::timeout`]).
    #[error("no complete response within {0:?}")]
    Timeout(Duration),
}

/// Standard base64 with padding (RFC 4648 section 4), for `Authorization: Basic`.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn rfc4648_test_vectors() {
        // RFC 4648 section 10's test vectors.
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input:?}");
        }
        // The last two letters of the alphabet.
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(base64(b"__cookie__:secret"), "X19jb29raWVfXzpzZWNyZXQ=");
    }
}
