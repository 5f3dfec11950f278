//! A malicious or broken full node never panics or hangs the node: every way of answering
//! `getblocktemplate` (and `submitblock`) wrongly over HTTP, from bad chunk sizes and huge
//! lengths to garbage JSON, an endless body and silence, ends in an error from `NodeRpc`
//! within its timeout, and the client reads at most its body limit
//! ([`MAX_RESPONSE_BYTES`]) before giving up (issue 14).

use otedama_consensus::chain::Chain;
use otedama_mining::node_rpc::client::{NodeRpc, RpcAuth, RpcConfig, MAX_RESPONSE_BYTES};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The client's whole-request timeout in these tests.
const TIMEOUT: Duration = Duration::from_secs(3);

/// What the broken node does once it has read a request.
#[derive(Clone, Copy, Debug)]
enum Play {
    /// Sends these bytes, then closes.
    Bytes(&'static [u8]),
    /// Sends this head, then body bytes forever (until the client goes away).
    Endless(&'static [u8]),
    /// Sends this head, then one byte every 100 ms.
    Drip(&'static [u8]),
    /// Reads the request and says nothing, keeping the connection open.
    Silent,
}

/// A one-trick RPC server on 127.0.0.1: plays `play` to every connection. Counts the body
/// bytes it managed to send.
async fn broken_node(play: Play) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(serve(sock, play, counter.clone()));
        }
    });
    (url, sent)
}

async fn serve(mut sock: TcpStream, play: Play, sent: Arc<AtomicUsize>) {
    // Read the request head (and whatever body came with it).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return,
        }
    }
    match play {
        Play::Bytes(b) => {
            let _ = sock.write_all(b).await;
            let _ = sock.shutdown().await;
        }
        Play::Endless(head) => {
            if sock.write_all(head).await.is_err() {
                return;
            }
            let block = vec![b'7'; 64 << 10];
            while sock.write_all(&block).await.is_ok() {
                sent.fetch_add(block.len(), Ordering::Relaxed);
            }
        }
        Play::Drip(head) => {
            if sock.write_all(head).await.is_err() {
                return;
            }
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if sock.write_all(b"{").await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        Play::Silent => {
            // Hold the connection until the client gives up.
            let _ = sock.read(&mut chunk).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    }
}

fn client(url: &str) -> NodeRpc {
    let mut config = RpcConfig::new(
        url,
        RpcAuth::UserPass {
            user: "u".into(),
            pass: "p".into(),
        },
    );
    config.timeout = TIMEOUT;
    NodeRpc::new(config).unwrap()
}

/// Runs getblocktemplate and submitblock against `play`; both must fail, in time.
async fn must_fail(name: &str, play: Play) -> Arc<AtomicUsize> {
    let (url, sent) = broken_node(play).await;
    let rpc = client(&url);
    let started = Instant::now();
    let gbt = rpc.get_block_template(Chain::LitecoinRegtest, None).await;
    let submit = rpc.submit_block("00").await;
    let took = started.elapsed();
    assert!(gbt.is_err(), "{name}: getblocktemplate succeeded: {gbt:?}");
    assert!(submit.is_err(), "{name}: submitblock succeeded: {submit:?}");
    // Two calls, each within the timeout (and a little slack for a loaded machine).
    assert!(
        took < 2 * TIMEOUT + Duration::from_secs(5),
        "{name}: took {took:?}"
    );
    eprintln!(
        "{name}: {took:?}\n  gbt: {}\n  submitblock: {}",
        gbt.unwrap_err(),
        submit.unwrap_err()
    );
    sent
}

const OK_JSON: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_chunk_sizes_are_errors() {
    let cases: [(&str, &'static [u8]); 6] = [
        ("chunk longer than its size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"result\":null}\r\n0\r\n\r\n"),
        ("chunk shorter than its size", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{\"result\":null}\r\n0\r\n\r\n"),
        ("chunk size not hex", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        ("chunk size overflowing u64", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
        ("chunk of 2^64-1 bytes", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n{}\r\n0\r\n\r\n"),
        ("no last chunk", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n"),
    ];
    for (name, bytes) in cases {
        must_fail(name, Play::Bytes(bytes)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_and_lying_lengths_are_errors() {
    let cases: [(&str, &'static [u8]); 5] = [
        ("Content-Length of 10 GB", b"HTTP/1.1 200 OK\r\nContent-Length: 10000000000\r\n\r\n{\"result\":null,\"error\":null,\"id\":1}"),
        ("Content-Length over u64", b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}"),
        ("negative Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}"),
        ("two Content-Lengths", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"),
        ("truncated body", b"HTTP/1.1 200 OK\r\nContent-Length: 400\r\n\r\n{\"result\":{\"version\":536870912,"),
    ];
    for (name, bytes) in cases {
        must_fail(name, Play::Bytes(bytes)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_misshapen_json_are_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep: &'static str = Box::leak(
        format!("{OK_JSON}Content-Length: {}\r\n\r\n{deep}", deep.len()).into_boxed_str(),
    );
    let bodies: [(&str, &str); 8] = [
        ("not JSON", "<html>502 Bad Gateway</html>"),
        ("half JSON", "{\"result\":{\"version\":"),
        ("binary", "\u{0}\u{1}\u{ff}\u{7f}"),
        ("a JSON array", "[1,2,3]"),
        ("result of the wrong shape", "{\"result\":{\"version\":\"two\",\"bits\":7},\"error\":null,\"id\":1}"),
        ("result a string", "{\"result\":\"template\",\"error\":null,\"id\":1}"),
        ("error of the wrong shape", "{\"result\":null,\"error\":\"boom\",\"id\":1}"),
        ("template with bad hex", "{\"result\":{\"version\":1,\"previousblockhash\":\"zz\",\"transactions\":[{\"data\":\"0g\",\"txid\":\"\",\"hash\":\"\"}],\"coinbasevalue\":1,\"bits\":\"nothex\",\"height\":1,\"curtime\":1},\"error\":null,\"id\":1}"),
    ];
    // All but the last: that one is a well-formed reply whose template is refused later.
    for &(name, body) in &bodies[..7] {
        let bytes: &'static [u8] = Box::leak(
            format!("{OK_JSON}Content-Length: {}\r\n\r\n{body}", body.len()).into_boxed_str(),
        )
        .as_bytes();
        must_fail(name, Play::Bytes(bytes)).await;
    }
    // Nested 100,000 deep: serde_json's recursion limit, not a stack overflow.
    must_fail("JSON nested 100,000 deep", Play::Bytes(deep.as_bytes())).await;
    // `bad hex` parses as a RawTemplate; it is the template check that refuses it.
    let body = bodies[7].1;
    let bytes: &'static [u8] = Box::leak(
        format!("{OK_JSON}Content-Length: {}\r\n\r\n{body}", body.len()).into_boxed_str(),
    )
    .as_bytes();
    let (url, _) = broken_node(Play::Bytes(bytes)).await;
    if let Ok(raw) = client(&url)
        .get_block_template(Chain::LitecoinRegtest, None)
        .await
    {
        assert!(otedama_consensus::template::BlockTemplate::from_raw(&raw).is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_framing_is_an_error() {
    let cases: [(&str, &'static [u8]); 5] = [
        (
            "no status line",
            b"{\"result\":null,\"error\":null,\"id\":1}\n",
        ),
        ("closed before any byte", b""),
        (
            "head without its end",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n",
        ),
        (
            "101 switching protocols",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ),
        (
            "status 600",
            b"HTTP/1.1 600 Odd\r\nContent-Length: 2\r\n\r\n{}",
        ),
    ];
    for (name, bytes) in cases {
        must_fail(name, Play::Bytes(bytes)).await;
    }
    // A head of endless headers: refused at the head limit.
    let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
    while head.len() < 200 << 10 {
        head.extend_from_slice(
            b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let head: &'static [u8] = Box::leak(head.into_boxed_slice());
    must_fail("head of 200 KiB", Play::Bytes(head)).await;
}

/// An endless body is cut off at the client's body limit: the broken node gets to send at most
/// the limit plus what the sockets buffer, not gigabytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_bodies_stop_at_the_limit() {
    let heads: [(&str, &'static [u8]); 3] = [
        (
            "endless body, read to close",
            b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n",
        ),
        (
            "endless body, Content-Length at the limit + 1",
            b"HTTP/1.1 200 OK\r\nContent-Length: 33554433\r\n\r\n",
        ),
        (
            "endless chunk",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7fffffff\r\n",
        ),
    ];
    for (name, head) in heads {
        let sent = must_fail(name, Play::Endless(head)).await;
        // Let the server notice the closed connection.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = sent.load(Ordering::Relaxed);
        // Two calls, each cut at the limit; socket buffers hold a few MB more at most.
        assert!(
            sent <= 2 * MAX_RESPONSE_BYTES + (16 << 20),
            "{name}: the client read {sent} bytes"
        );
    }
}

/// Silence and a body dripping one byte per 100 ms both end at the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_dripping_nodes_time_out() {
    must_fail("silent", Play::Silent).await;
    must_fail(
        "dripping body",
        Play::Drip(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"),
    )
    .await;
    must_fail("dripping head", Play::Drip(b"HTTP/1.1 200 OK\r\nX-Slow: ")).await;
}
