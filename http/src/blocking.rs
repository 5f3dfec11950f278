//! The client for synchronous code: [`BlockingClient`], and [`block_on`] for any future (such
//! as a whole JSON-RPC call of a client built on [`HttpClient`]).
//!
//! Why a worker thread rather than a `std::net` copy of the client: one implementation of the
//! framing, the pool and the retry rules, not two that drift apart. Why not `block_on` on a
//! runtime of the caller's own: tokio refuses to start a runtime inside another (it panics),
//! and callers such as the tests' `litecoind` harness run both from plain `#[test]`s and from
//! inside `#[tokio::test]`s. So the futures run on one process-wide worker thread that owns a
//! current-thread runtime, started at first use; the caller's thread just waits for the
//! answer, which works from anywhere (inside a runtime it blocks that worker thread, as any
//! blocking call does: async code should use [`HttpClient`] itself). Each future is a task of
//! its own there, so concurrent callers (from several threads) do not queue behind each other.

use crate::wire::{Request, Response};
use crate::{Config, HttpClient, HttpError, Origin};
use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::OnceLock;
use tokio::sync::mpsc;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    /// Set on the worker thread: a [`block_on`] there would wait for itself forever.
    static ON_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// The worker's queue, or `None` when it could not be started (no threads left).
fn worker() -> Option<&'static mpsc::UnboundedSender<Job>> {
    static WORKER: OnceLock<Option<mpsc::UnboundedSender<Job>>> = OnceLock::new();
    WORKER
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            std::thread::Builder::new()
                .name("otedama-http".into())
                .spawn(move || {
                    ON_WORKER.with(|on| on.set(true));
                    runtime.block_on(async move {
                        // The sender lives in a static: this runs as long as the process.
                        while let Some(job) = rx.recv().await {
                            tokio::spawn(job);
                        }
                    });
                })
                .ok()?;
            Some(tx)
        })
        .as_ref()
}

/// Runs `future` on the HTTP worker thread and waits for its output, from synchronous code or
/// from inside a tokio runtime alike. Errors: the worker could not be started, the future
/// panicked, or this is the worker thread itself (which would wait for itself).
pub fn block_on<F>(future: F) -> io::Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if ON_WORKER.with(Cell::get) {
        return Err(io::Error::other(
            "otedama_http::blocking::block_on called on the HTTP worker thread",
        ));
    }
    let worker = worker().ok_or_else(|| io::Error::other("cannot start the HTTP worker thread"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    worker
        .send(Box::pin(async move {
            let _ = tx.send(future.await);
        }))
        .map_err(|_| io::Error::other("the HTTP worker thread has stopped"))?;
    // A panicking future drops `tx` unsent.
    rx.recv()
        .map_err(|_| io::Error::other("the HTTP request task panicked"))
}

/// [`HttpClient`] for synchronous code (see the [module](self) docs). Cheap to clone: clones
/// share the connections.
#[derive(Clone, Debug)]
pub struct BlockingClient {
    client: HttpClient,
}

impl BlockingClient {
    pub fn new(origin: Origin, config: Config) -> BlockingClient {
        BlockingClient {
            client: HttpClient::new(origin, config),
        }
    }

    /// The async client underneath (same connections).
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// [`HttpClient::send`], waiting for the response.
    pub fn send(&self, request: Request) -> Result<Response, HttpError> {
        let client = self.client.clone();
        block_on(async move { client.send(&request).await })
            .unwrap_or_else(|e| Err(HttpError::Io(e)))
    }
}
