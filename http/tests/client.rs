//! The client against a scripted local HTTP/1.1 server: connection reuse, reconnection,
//! retries (and their absence), `Connection: close`, chunked bodies, concurrency, timeouts and
//! the blocking facade.

use otedama_http::blocking::{block_on, BlockingClient};
use otedama_http::{Config, HttpClient, HttpError, Origin, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with one request.
#[derive(Clone)]
enum Act {
    /// `200` with the body; the connection stays open.
    Reply(&'static str),
    /// The same, chunked.
    Chunked(&'static str),
    /// `200` with `Connection: close`, then closes.
    ReplyClose(&'static str),
    /// `200`, then closes without saying so (as a server closing an idle connection does).
    ReplyThenDrop(&'static str),
    /// Waits, then replies.
    Slow(Duration, &'static str),
    /// Closes without a byte of reply.
    Drop,
    /// Sends part of a response head, then closes.
    Partial,
    /// Never answers (keeps the connection open).
    Hang,
}

#[derive(Default)]
struct Log {
    accepts: AtomicUsize,
    requests: AtomicUsize,
    heads: Mutex<Vec<String>>,
}

struct Server {
    origin: Origin,
    log: Arc<Log>,
}

impl Server {
    /// Serves with `script(n, path)` deciding about the `n`th request (from 0) overall.
    async fn start(script: impl Fn(usize, &str) -> Act + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Log::default());
        let script = Arc::new(script);
        let server_log = log.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                server_log.accepts.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, server_log.clone(), script.clone()));
            }
        });
        Server {
            origin: Origin::parse(&format!("http://{addr}")).unwrap(),
            log,
        }
    }

    fn accepts(&self) -> usize {
        self.log.accepts.load(Ordering::SeqCst)
    }

    fn requests(&self) -> usize {
        self.log.requests.load(Ordering::SeqCst)
    }

    fn client(&self) -> HttpClient {
        HttpClient::new(self.origin.clone(), Config::default())
    }
}

/// Reads requests (head and `Content-Length` body) until the client closes.
async fn serve(
    mut stream: TcpStream,
    log: Arc<Log>,
    script: Arc<impl Fn(usize, &str) -> Act + Send + Sync>,
) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        while buf.len() < end + len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + len);
        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
        let n = log.requests.fetch_add(1, Ordering::SeqCst);
        log.heads.lock().unwrap().push(head);
        let ok = |body: &str, extra: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n{extra}\r\n{body}",
                body.len()
            )
        };
        let (reply, then_close) = match script(n, &path) {
            Act::Reply(body) => (ok(body, ""), false),
            Act::Chunked(body) => {
                let (a, b) = body.split_at(body.len() / 2);
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                    a.len(),
                    b.len()
                );
                (reply, false)
            }
            Act::ReplyClose(body) => (ok(body, "Connection: close\r\n"), true),
            Act::ReplyThenDrop(body) => (ok(body, ""), true),
            Act::Slow(after, body) => {
                tokio::time::sleep(after).await;
                (ok(body, ""), false)
            }
            Act::Drop => return,
            Act::Partial => ("HTTP/1.1 200 OK\r\nContent-Le".to_owned(), true),
            Act::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
        };
        if stream.write_all(reply.as_bytes()).await.is_err() || then_close {
            return;
        }
    }
}

async fn get(client: &HttpClient, path: &str) -> Result<String, HttpError> {
    let r = client
        .send(
            &Request::post(path.as_bytes())
                .path(path)
                .timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    assert_eq!(r.status, 200);
    Ok(String::from_utf8(r.body).unwrap())
}

#[tokio::test]
async fn many_requests_share_one_connection() {
    let server = Server::start(|n, _| {
        if n % 2 == 0 {
            Act::Reply("even")
        } else {
            Act::Chunked("odd and chunked")
        }
    })
    .await;
    let client = server.client();
    for i in 0..50 {
        let want = if i % 2 == 0 {
            "even"
        } else {
            "odd and chunked"
        };
        assert_eq!(get(&client, "/").await.unwrap(), want);
    }
    assert_eq!(server.requests(), 50);
    assert_eq!(server.accepts(), 1, "keep-alive: one connection for all");
    assert_eq!(client.connections_opened(), 1);
    assert_eq!(client.idle_connections(), 1);
    let heads = server.log.heads.lock().unwrap();
    assert!(
        heads[0].starts_with(&format!(
            "POST / HTTP/1.1\r\nHost: {}\r\n",
            server.origin.authority()
        )),
        "{}",
        heads[0]
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_replaced() {
    // Every reply is followed by a close the client is not told of.
    let server = Server::start(|_, _| Act::ReplyThenDrop("ok")).await;
    let client = server.client();
    for _ in 0..5 {
        assert_eq!(get(&client, "/").await.unwrap(), "ok");
        // Let the close arrive: the idle check sees it and drops the connection.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.requests(), 5, "no request was sent twice");
    assert_eq!(server.accepts(), 5);
}

#[tokio::test]
async fn a_request_on_a_stale_connection_is_sent_again_on_a_fresh_one() {
    // Request 1 arrives on the kept connection, which the server then closes unanswered (as
    // when its idle timeout strikes just as the request arrives): sent again, answered.
    let server = Server::start(|n, _| match n {
        1 => Act::Drop,
        _ => Act::Reply("ok"),
    })
    .await;
    let client = server.client();
    assert_eq!(get(&client, "/").await.unwrap(), "ok");
    assert_eq!(get(&client, "/").await.unwrap(), "ok");
    assert_eq!(server.requests(), 3, "the dropped request and its retry");
    assert_eq!(server.accepts(), 2);
    assert_eq!(get(&client, "/").await.unwrap(), "ok");
    assert_eq!(server.accepts(), 2, "the new connection is kept in turn");
}

#[tokio::test]
async fn a_partial_response_is_never_retried() {
    let server = Server::start(|n, _| match n {
        0 => Act::Reply("ok"),
        _ => Act::Partial,
    })
    .await;
    let client = server.client();
    assert_eq!(get(&client, "/").await.unwrap(), "ok");
    let err = get(&client, "/").await.unwrap_err();
    assert!(matches!(err, HttpError::Io(_)), "{err:?}");
    assert_eq!(
        server.requests(),
        2,
        "sent once: the server had begun answering"
    );
}

#[tokio::test]
async fn a_fresh_connection_that_fails_is_not_retried() {
    let server = Server::start(|_, _| Act::Drop).await;
    let client = server.client();
    let err = get(&client, "/").await.unwrap_err();
    assert!(matches!(err, HttpError::Io(_)), "{err:?}");
    assert_eq!((server.accepts(), server.requests()), (1, 1));
}

#[tokio::test]
async fn connection_close_is_honoured() {
    let server = Server::start(|_, _| Act::ReplyClose("bye")).await;
    let client = server.client();
    for _ in 0..3 {
        assert_eq!(get(&client, "/").await.unwrap(), "bye");
        assert_eq!(client.idle_connections(), 0);
    }
    assert_eq!((server.accepts(), server.requests()), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_does_not_hold_up_other_requests() {
    let server = Server::start(|_, path| match path {
        "/longpoll" => Act::Slow(Duration::from_secs(2), "new tip"),
        _ => Act::Reply("fast"),
    })
    .await;
    let client = server.client();
    assert_eq!(get(&client, "/").await.unwrap(), "fast");
    let poller = client.clone();
    let long_poll = tokio::spawn(async move { get(&poller, "/longpoll").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    for _ in 0..10 {
        assert_eq!(get(&client, "/").await.unwrap(), "fast");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the other calls waited for the long poll: {:?}",
        started.elapsed()
    );
    assert_eq!(long_poll.await.unwrap().unwrap(), "new tip");
    assert_eq!(
        server.accepts(),
        2,
        "the long poll's connection and one more"
    );
    assert_eq!(client.idle_connections(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_open_connections_and_the_pool_keeps_a_few() {
    let server = Server::start(|_, _| Act::Slow(Duration::from_millis(300), "ok")).await;
    let client = server.client();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { get(&c, "/").await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "ok");
    }
    assert_eq!(server.accepts(), 10);
    assert_eq!(client.idle_connections(), Config::default().max_idle);
}

#[tokio::test]
async fn timeouts_drop_the_connection() {
    let server = Server::start(|n, _| match n {
        0 => Act::Hang,
        _ => Act::Reply("ok"),
    })
    .await;
    let client = server.client();
    let after = Duration::from_millis(200);
    let err = client
        .send(&Request::get().timeout(Some(after)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, HttpError::Timeout(t) if t == after),
        "{err:?}"
    );
    assert_eq!(client.idle_connections(), 0);
    assert_eq!(get(&client, "/").await.unwrap(), "ok");
    assert_eq!(server.accepts(), 2);
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let client = HttpClient::new(
        Origin::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        Config::default(),
    );
    let err = get(&client, "/").await.unwrap_err();
    assert!(matches!(err, HttpError::Connect(_)), "{err:?}");
    assert_eq!(client.connections_opened(), 0);
}

#[test]
fn the_blocking_client_works_from_plain_threads_and_inside_runtimes() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(Server::start(|_, _| Act::Reply("ok")));
    // The server runs on `rt`: drive it from a thread of its own.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = std::thread::spawn(move || {
        rt.block_on(async {
            let _ = stop_rx.await;
        })
    });
    let client = BlockingClient::new(server.origin.clone(), Config::default());
    let call = |c: &BlockingClient| {
        let r = c
            .send(
                Request::post(&b"{}"[..])
                    .basic_auth("u:p")
                    .timeout(Some(Duration::from_secs(10))),
            )
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    };
    // A plain thread.
    for _ in 0..3 {
        call(&client);
    }
    // Inside a current-thread and a multi-thread runtime (where tokio's own block_on panics).
    for rt in [
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap(),
    ] {
        let c = client.clone();
        rt.block_on(async move { call(&c) });
    }
    // Threads at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| call(&client));
        }
    });
    assert_eq!(server.requests(), 9);
    assert!(server.accepts() <= 4, "{}", server.accepts());
    assert!(server.log.heads.lock().unwrap()[0].contains("Authorization: Basic dTpw\r\n"));
    // A block_on on the worker thread itself refuses instead of waiting for itself forever.
    let nested = block_on(async { block_on(async {}) }).unwrap();
    assert!(nested.is_err());
    // A panicking future is an error, not a panic of the caller.
    assert!(block_on(async { panic!("boom") }).is_err());
    let _ = stop_tx.send(());
    runner.join().unwrap();
}
