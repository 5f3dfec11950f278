//! monerod's ZMQ-pub notifications (`monerod --zmq-pub tcp://127.0.0.1:18083`, Otedama's
//! `--node-zmq tcp://127.0.0.1:18083`): a task subscribed to
//!
//! * `json-minimal-chain_main`: the main chain changed (a new tip, or a reorg);
//! * `json-full-miner_data`: new data for a block template (after every chain change);
//! * `json-minimal-txpool_add`: transactions entered the pool;
//!
//! that turns each message into a typed [`ZmqEvent`] on a bounded channel ([`spawn_zmq`]).
//!
//! Every message is one frame, `TOPIC:JSON` (monerod's `zmq_pub.cpp`). A malformed message is
//! logged as an error and dropped; nothing from the publisher can end the task or panic it.
//! ZeroMQ is the pure-Rust `zeromq` crate (no libzmq): the SUB socket reconnects by itself and
//! subscribes again when monerod restarts; [`ZmqEvent::Disconnected`] and
//! [`ZmqEvent::Connected`] tell the consumer, which should poll monerod while notifications are
//! off (ZMQ pub also drops messages when congested: monerod's docs advise a timeout against
//! `chain_main`).

use super::work::{parse_hash32, parse_wide_difficulty};
use futures::StreamExt;
use otedama_consensus::chain::monero::hash::Hash32;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, error, info, warn};
use zeromq::{Endpoint, Socket, SocketEvent, SocketOptions, SocketRecv, SubSocket};

/// The topics subscribed to.
pub const TOPICS: [&str; 3] = [
    "json-minimal-chain_main",
    "json-full-miner_data",
    "json-minimal-txpool_add",
];
/// Events buffered for the consumer. Chain and miner-data events wait for room (they must not
/// be lost); pool additions are dropped when the buffer is full (the next refresh sees them).
pub const CHANNEL_CAPACITY: usize = 64;
/// Longest message read; monerod's largest (`json-full-miner_data` with a full pool backlog)
/// is far smaller.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Limit for one connection attempt (TCP and the ZMTP handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Delays between connection attempts: from the first to the last, doubling.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// One notification from monerod, or a change of the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZmqEvent {
    /// Subscribed (at start, or again after a reconnection): notifications flow from now on;
    /// whatever happened while disconnected was missed.
    Connected,
    /// The publisher is gone (monerod stopped?); the socket keeps reconnecting.
    Disconnected,
    /// `json-minimal-chain_main`: the main chain's tip is now `id` at `height` (after a reorg
    /// the message starts at the fork point and ends at the new tip).
    ChainMain { height: u64, id: Hash32 },
    /// `json-full-miner_data`: what the next block is built on.
    MinerData {
        major_version: u8,
        /// Height of the next block.
        height: u64,
        prev_id: Hash32,
        seed_hash: Hash32,
        difficulty: u128,
        median_weight: u64,
        already_generated_coins: u64,
        /// Mineable transactions in the pool.
        tx_backlog: usize,
    },
    /// `json-minimal-txpool_add`: `count` transactions entered the pool.
    TxPoolAdd { count: usize },
}

/// Why a message from the publisher is not one of ours.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ZmqMessageError {
    #[error("a message of {0} frames (monerod sends one, TOPIC:JSON)")]
    Frames(usize),
    #[error("a message of {0} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")]
    TooLarge(usize),
    #[error("no ':' after the topic in {0:?}")]
    NoTopic(String),
    #[error("topic {0:?} was not subscribed to")]
    UnknownTopic(String),
    #[error("{topic}: the JSON does not parse: {error}")]
    Json { topic: &'static str, error: String },
    #[error("{topic}: {what}")]
    Invalid { topic: &'static str, what: String },
}

#[derive(Deserialize)]
struct MinimalChain {
    first_height: u64,
    ids: Vec<String>,
}

#[derive(Deserialize)]
struct FullMinerData {
    major_version: u8,
    height: u64,
    prev_id: String,
    seed_hash: String,
    difficulty: String,
    median_weight: u64,
    already_generated_coins: u64,
    #[serde(default)]
    tx_backlog: Vec<IgnoredAny>,
}

fn json<'a, T: Deserialize<'a>>(topic: &'static str, body: &'a [u8]) -> Result<T, ZmqMessageError> {
    serde_json::from_slice(body).map_err(|e| ZmqMessageError::Json {
        topic,
        error: e.to_string(),
    })
}

fn hash(topic: &'static str, field: &str, s: &str) -> Result<Hash32, ZmqMessageError> {
    parse_hash32(s).ok_or_else(|| ZmqMessageError::Invalid {
        topic,
        what: format!("{field} {s:?} is not a 32-byte hex hash"),
    })
}

/// Reads one message frame, `TOPIC:JSON`.
pub fn parse_message(frame: &[u8]) -> Result<ZmqEvent, ZmqMessageError> {
    if frame.len() > MAX_MESSAGE_BYTES {
        return Err(ZmqMessageError::TooLarge(frame.len()));
    }
    let Some(colon) = frame.iter().position(|&b| b == b':') else {
        let shown = String::from_utf8_lossy(&frame[..frame.len().min(64)]).into_owned();
        return Err(ZmqMessageError::NoTopic(shown));
    };
    let (topic, body) = (&frame[..colon], &frame[colon + 1..]);
    let Some(topic) = TOPICS.iter().copied().find(|t| t.as_bytes() == topic) else {
        return Err(ZmqMessageError::UnknownTopic(
            String::from_utf8_lossy(&topic[..topic.len().min(64)]).into_owned(),
        ));
    };
    match topic {
        "json-minimal-chain_main" => {
            let m: MinimalChain = json(topic, body)?;
            let last = m.ids.last().ok_or_else(|| ZmqMessageError::Invalid {
                topic,
                what: "no block ids".to_owned(),
            })?;
            let height = u64::try_from(m.ids.len() - 1)
                .ok()
                .and_then(|n| m.first_height.checked_add(n))
                .ok_or_else(|| ZmqMessageError::Invalid {
                    topic,
                    what: format!("first_height {} overflows", m.first_height),
                })?;
            Ok(ZmqEvent::ChainMain {
                height,
                id: hash(topic, "id", last)?,
            })
        }
        "json-full-miner_data" => {
            let m: FullMinerData = json(topic, body)?;
            Ok(ZmqEvent::MinerData {
                major_version: m.major_version,
                height: m.height,
                prev_id: hash(topic, "prev_id", &m.prev_id)?,
                seed_hash: hash(topic, "seed_hash", &m.seed_hash)?,
                difficulty: parse_wide_difficulty(&m.difficulty).ok_or_else(|| {
                    ZmqMessageError::Invalid {
                        topic,
                        what: format!("difficulty {:?} is not hex", m.difficulty),
                    }
                })?,
                median_weight: m.median_weight,
                already_generated_coins: m.already_generated_coins,
                tx_backlog: m.tx_backlog.len(),
            })
        }
        _ => {
            let txs: Vec<IgnoredAny> = json(topic, body)?;
            Ok(ZmqEvent::TxPoolAdd { count: txs.len() })
        }
    }
}

/// `--node-zmq` is not a usable endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid monerod ZMQ endpoint {endpoint:?} ({reason}): give monerod's --zmq-pub address, \
     e.g. tcp://127.0.0.1:18083"
)]
pub struct ZmqEndpointError {
    pub endpoint: String,
    pub reason: String,
}

/// Checks `endpoint` (`tcp://HOST:PORT`).
pub fn check_endpoint(endpoint: &str) -> Result<(), ZmqEndpointError> {
    let bad = |reason: String| ZmqEndpointError {
        endpoint: endpoint.to_owned(),
        reason,
    };
    match endpoint.parse::<Endpoint>() {
        Ok(Endpoint::Tcp(..)) => Ok(()),
        Ok(_) => Err(bad("only tcp:// is supported".to_owned())),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Starts the subscriber task on the current Tokio runtime. It connects to `endpoint`
/// (retrying, with one warning, until monerod's publisher is there), subscribes to [`TOPICS`]
/// and sends a [`ZmqEvent`] per message, plus `Connected`/`Disconnected`, on the returned
/// channel ([`CHANNEL_CAPACITY`]). It ends when the receiver is dropped (or when aborted).
pub fn spawn_zmq(
    endpoint: &str,
) -> Result<(mpsc::Receiver<ZmqEvent>, JoinHandle<()>), ZmqEndpointError> {
    check_endpoint(endpoint)?;
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let task = tokio::spawn(run(endpoint.to_owned(), tx));
    Ok((rx, task))
}

/// Connects and subscribes one fresh socket; `Err` says why not.
async fn subscribe(endpoint: &str) -> Result<SubSocket, String> {
    let mut options = SocketOptions::default();
    options.connect_timeout(CONNECT_TIMEOUT);
    let mut socket = SubSocket::with_options(options);
    // The connect future retries refused connections by itself until the timeout; the outer
    // timeout also bounds a publisher that accepts TCP but never completes the handshake.
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, socket.connect(endpoint)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e.to_string()),
        Err(_) => return Err(format!("no connection within {:?}", CONNECT_TIMEOUT * 2)),
    }
    for topic in TOPICS {
        socket
            .subscribe(topic)
            .await
            .map_err(|e| format!("subscribing to {topic}: {e}"))?;
    }
    Ok(socket)
}

/// Resolves to the next monitor event; never, once the monitor is gone.
async fn next_monitor_event(
    monitor: &mut Option<futures::channel::mpsc::Receiver<SocketEvent>>,
) -> SocketEvent {
    if let Some(m) = monitor {
        if let Some(event) = m.next().await {
            return event;
        }
        *monitor = None;
    }
    std::future::pending().await
}

async fn run(endpoint: String, tx: mpsc::Sender<ZmqEvent>) {
    let mut retry = RETRY_MIN;
    let mut warned = false;
    loop {
        let socket = tokio::select! {
            s = subscribe(&endpoint) => s,
            () = tx.closed() => return,
        };
        let mut socket = match socket {
            Ok(socket) => socket,
            Err(e) => {
                if warned {
                    debug!("monerod's ZMQ publisher at {endpoint} still unreachable: {e}");
                } else {
                    warn!(
                        "cannot subscribe to monerod's ZMQ notifications at {endpoint} ({e}): is \
                         monerod running with --zmq-pub {endpoint}? Retrying; new blocks are \
                         noticed by polling meanwhile"
                    );
                    warned = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = tx.closed() => return,
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        info!(
            "subscribed to monerod's ZMQ notifications at {endpoint} ({})",
            TOPICS.join(", ")
        );
        warned = false;
        retry = RETRY_MIN;
        // Reconnections by the socket itself show up here (it subscribes again by itself).
        let mut monitor = Some(socket.monitor());
        if tx.send(ZmqEvent::Connected).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                message = socket.recv() => match message {
                    Ok(message) => {
                        let event = match message.len() {
                            1 => message
                                .get(0)
                                .ok_or(ZmqMessageError::Frames(0))
                                .and_then(|frame| parse_message(frame)),
                            n => Err(ZmqMessageError::Frames(n)),
                        };
                        match event {
                            Ok(event @ ZmqEvent::TxPoolAdd { .. }) => {
                                debug!("monerod ZMQ: {event:?}");
                                match tx.try_send(event) {
                                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                                }
                            }
                            Ok(event) => {
                                debug!("monerod ZMQ: {event:?}");
                                if tx.send(event).await.is_err() {
                                    return;
                                }
                            }
                            Err(e) => error!(
                                "malformed ZMQ message from monerod at {endpoint}, ignored: {e}"
                            ),
                        }
                    }
                    Err(e) => {
                        warn!(
                            "monerod's ZMQ publisher at {endpoint} failed ({e}); connecting again"
                        );
                        if tx.send(ZmqEvent::Disconnected).await.is_err() {
                            return;
                        }
                        break;
                    }
                },
                event = next_monitor_event(&mut monitor) => match event {
                    SocketEvent::Disconnected(_) => {
                        warn!(
                            "lost monerod's ZMQ publisher at {endpoint} (monerod stopped?); \
                             reconnecting"
                        );
                        if tx.send(ZmqEvent::Disconnected).await.is_err() {
                            return;
                        }
                    }
                    SocketEvent::Connected(..) => {
                        info!("monerod's ZMQ publisher at {endpoint} is back");
                        if tx.send(ZmqEvent::Connected).await.is_err() {
                            return;
                        }
                    }
                    other => debug!("monerod ZMQ socket: {other:?}"),
                },
                () = tx.closed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monerods_messages_parse() {
        // As monerod v0.18 writes them (zmq_pub.cpp).
        let chain = br#"json-minimal-chain_main:{"first_height":5,"first_prev_id":"1111111111111111111111111111111111111111111111111111111111111111","ids":["2222222222222222222222222222222222222222222222222222222222222222","3333333333333333333333333333333333333333333333333333333333333333"]}"#;
        assert_eq!(
            parse_message(chain),
            Ok(ZmqEvent::ChainMain {
                height: 6,
                id: [0x33; 32]
            })
        );
        let miner = br#"json-full-miner_data:{"major_version":16,"height":7,"prev_id":"4444444444444444444444444444444444444444444444444444444444444444","seed_hash":"418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3","difficulty":"0x10000000000000001","median_weight":300000,"already_generated_coins":17592186044415,"tx_backlog":[{"id":"5555555555555555555555555555555555555555555555555555555555555555","weight":1500,"fee":30000000}]}"#;
        match parse_message(miner) {
            Ok(ZmqEvent::MinerData {
                major_version: 16,
                height: 7,
                prev_id,
                difficulty,
                tx_backlog: 1,
                ..
            }) => {
                assert_eq!(prev_id, [0x44; 32]);
                assert_eq!(difficulty, (1u128 << 64) | 1);
            }
            other => panic!("{other:?}"),
        }
        let pool = br#"json-minimal-txpool_add:[{"id":"5555555555555555555555555555555555555555555555555555555555555555","blob_size":1500,"weight":1500,"fee":30000000},{"id":"6666666666666666666666666666666666666666666666666666666666666666","blob_size":1,"weight":1,"fee":1}]"#;
        assert_eq!(parse_message(pool), Ok(ZmqEvent::TxPoolAdd { count: 2 }));
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            &b""[..],
            b"no colon",
            b"json-full-chain_main:[]",
            b"json-minimal-chain_main:",
            b"json-minimal-chain_main:{}",
            br#"json-minimal-chain_main:{"first_height":1,"ids":[]}"#,
            br#"json-minimal-chain_main:{"first_height":1,"ids":["zz"]}"#,
            br#"json-minimal-chain_main:{"first_height":18446744073709551615,"ids":["2222222222222222222222222222222222222222222222222222222222222222","2222222222222222222222222222222222222222222222222222222222222222"]}"#,
            br#"json-full-miner_data:{"major_version":16}"#,
            br#"json-full-miner_data:{"major_version":300,"height":7,"prev_id":"","seed_hash":"","difficulty":"0x1","median_weight":1,"already_generated_coins":1}"#,
            b"json-minimal-txpool_add:{}",
            b"json-minimal-txpool_add:\xff\xfe",
        ] {
            assert!(parse_message(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn endpoints() {
        assert!(check_endpoint("tcp://127.0.0.1:18083").is_ok());
        assert!(check_endpoint("tcp://localhost:18083").is_ok());
        for bad in [
            "127.0.0.1:18083",
            "ipc:///tmp/x",
            "tcp://127.0.0.1",
            "http://x:1",
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(e.to_string().contains("--zmq-pub"), "{e}");
        }
    }

    #[tokio::test]
    async fn the_task_ends_with_its_receiver() {
        // Nothing listens there: the task keeps retrying until the receiver goes.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let (rx, task) = spawn_zmq(&format!("tcp://127.0.0.1:{port}")).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(rx);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("the task ends")
            .unwrap();
    }
}
