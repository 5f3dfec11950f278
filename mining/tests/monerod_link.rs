//! The monerod link (`otedama_mining::monerod`) against a real regtest monerod (Debian's
//! v0.18.0.0): the start-up probe and its errors, submit_block's rejections, the restricted
//! RPC port, the ZMQ subscriber, and the template source following the tip by polling and by
//! ZMQ, through a monerod crash and restart.
//!
//! Every wait is bounded by a generous timeout, never timed itself.

use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::Chain;
use otedama_mining::monerod::client::{
    ERROR_BLOCK_NOT_ACCEPTED, ERROR_METHOD_NOT_FOUND, ERROR_WRONG_BLOCKBLOB,
};
use otedama_mining::monerod::source::Problem;
use otedama_mining::monerod::{
    placeholder_address, probe, spawn, spawn_zmq, MoneroRpc, MoneroRpcConfig, MoneroRpcError,
    MoneroSourceStatus, MoneroTemplateSource, MoneroWork, MonerodSourceConfig, ZmqEvent,
    MIN_RPC_VERSION,
};
use otedama_tests::monerod::{available, Monerod};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

/// Longest wait for anything the daemon or the source should do.
const WAIT: Duration = Duration::from_secs(40);
/// Regtest difficulty: monerod's `generateblocks` finds a block at the first hash.
const DIFFICULTY: u64 = 1;
const CHAIN: Chain = Chain::MoneroRegtest;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn address() -> String {
    placeholder_address(CHAIN).unwrap()
}

fn client(daemon: &Monerod) -> MoneroRpc {
    MoneroRpc::new(MoneroRpcConfig::new(format!(
        "http://127.0.0.1:{}",
        daemon.rpc_port
    )))
    .unwrap()
}

/// monerod's tip: (height, id), from the harness's own client.
fn tip(daemon: &Monerod) -> (u64, Hash32) {
    let h = daemon
        .rpc()
        .call("get_last_block_header", json!({}))
        .unwrap();
    let mut id = [0u8; 32];
    hex::decode_to_slice(h["block_header"]["hash"].as_str().unwrap(), &mut id).unwrap();
    (h["block_header"]["height"].as_u64().unwrap(), id)
}

/// Waits until the source's current work satisfies `want`; panics after [`WAIT`] with what
/// there was and the source's status.
fn wait_work(
    rt: &Runtime,
    source: &MoneroTemplateSource,
    what: &str,
    want: impl Fn(Option<&MoneroWork>) -> bool,
) -> Option<Arc<MoneroWork>> {
    let mut rx = source.templates.clone();
    let found = rt.block_on(async {
        tokio::time::timeout(WAIT, rx.wait_for(|w| want(w.as_deref())))
            .await
            .map(|r| r.map(|w| w.clone()))
    });
    match found {
        Ok(Ok(work)) => work,
        _ => panic!(
            "no {what} within {WAIT:?}: work {:?}, status {:?}",
            source
                .templates
                .borrow()
                .as_deref()
                .map(|w| w.template.height),
            *source.status.borrow()
        ),
    }
}

/// Work built on `daemon`'s current tip.
fn on_tip(daemon: &Monerod) -> impl Fn(Option<&MoneroWork>) -> bool {
    let (height, id) = tip(daemon);
    move |w| w.is_some_and(|w| w.template.prev_id == id && w.template.height == height + 1)
}

/// The next ZMQ event that `want` accepts (others are skipped).
fn wait_event(
    rt: &Runtime,
    rx: &mut mpsc::Receiver<ZmqEvent>,
    what: &str,
    want: impl Fn(&ZmqEvent) -> bool,
) -> ZmqEvent {
    rt.block_on(async {
        tokio::time::timeout(WAIT, async {
            loop {
                match rx.recv().await {
                    Some(e) if want(&e) => return e,
                    Some(e) => eprintln!("ZMQ event while waiting for {what}: {e:?}"),
                    None => panic!("the ZMQ subscriber ended while waiting for {what}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no ZMQ {what} within {WAIT:?}"))
    })
}

#[test]
fn a_closed_port_is_unreachable_with_the_hint() {
    let port = otedama_tests::ports::free_port();
    let rpc = MoneroRpc::new(MoneroRpcConfig::new(format!("http://127.0.0.1:{port}"))).unwrap();
    let e = runtime().block_on(probe(&rpc, CHAIN)).unwrap_err();
    assert!(matches!(e, MoneroRpcError::Unreachable { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("is monerod running?") && text.contains(&format!("--rpc-bind-port {port}")),
        "{text}"
    );
}

#[test]
fn probe_checks_the_network_and_submit_block_tells_rejections() {
    if !available("probe_checks_the_network_and_submit_block_tells_rejections") {
        return;
    }
    let rt = runtime();
    let daemon = Monerod::start("monerod-link-probe", DIFFICULTY);
    let rpc = client(&daemon);

    let info = rt.block_on(probe(&rpc, CHAIN)).unwrap();
    eprintln!(
        "regtest monerod: nettype {:?}, version {:?}, RPC version {} ({}.{})",
        info.info.nettype,
        info.info.version,
        info.rpc_version,
        info.rpc_version >> 16,
        info.rpc_version & 0xffff
    );
    assert_eq!(info.info.nettype, "fakechain");
    assert!(info.rpc_version >= MIN_RPC_VERSION);
    assert!(info.info.synchronized && !info.info.restricted);
    assert_eq!(info.miner_data.height, 1);
    let (height, id) = tip(&daemon);
    assert_eq!((height, info.info.top_block_hash), (0, id));
    assert_eq!(info.miner_data.prev_id, id);

    // Wrong chains: the error names both networks.
    for (chain, nettype) in [
        (Chain::Monero, "mainnet"),
        (Chain::MoneroStagenet, "stagenet"),
    ] {
        let e = rt.block_on(probe(&rpc, chain)).unwrap_err();
        match &e {
            MoneroRpcError::WrongNetwork { expected, got, .. } => {
                assert_eq!((*expected, got.as_str()), (chain, "fakechain"))
            }
            other => panic!("{chain}: {other}"),
        }
        let text = e.to_string();
        assert!(
            text.contains(&format!("{nettype:?}")) && text.contains("\"fakechain\""),
            "{text}"
        );
    }
    assert_eq!(rpc.stats().errors("wrong_network"), 2);

    // The headers and the work agree with the harness's view.
    let genesis = rt.block_on(rpc.get_block_header_by_height(0)).unwrap();
    assert_eq!(genesis.hash, id);
    assert_eq!(rt.block_on(rpc.get_last_block_header()).unwrap().hash, id);
    let t = rt.block_on(rpc.get_block_template(&address(), 0)).unwrap();
    let md = rt.block_on(rpc.get_miner_data()).unwrap();
    let work = MoneroWork::from_template(&t, &md).unwrap();
    assert_eq!((work.template.prev_id, work.template.height), (id, 1));
    assert_eq!(
        rt.block_on(rpc.get_work(&address(), 0))
            .unwrap()
            .template
            .prev_id,
        id
    );
    assert_eq!(work.difficulty, u128::from(DIFFICULTY));

    // A blob that does not parse, and a block that parses but overpays: both are rejections
    // (monerod's -6 and -7), not transport failures.
    match rt.block_on(rpc.submit_block("00")) {
        Err(MoneroRpcError::Rejected { code, message }) => {
            assert_eq!(code, ERROR_WRONG_BLOCKBLOB, "{message}")
        }
        other => panic!("a junk blob: {other:?}"),
    }
    let mut block = Block::parse(&hex::decode(&t.blocktemplate_blob).unwrap()).unwrap();
    block.miner_tx.outputs[0].amount += 1;
    let e = rt
        .block_on(rpc.submit_block(&hex::encode(block.serialize())))
        .unwrap_err();
    assert!(e.is_rejection(), "{e}");
    assert!(
        matches!(
            e,
            MoneroRpcError::Rejected {
                code: ERROR_BLOCK_NOT_ACCEPTED,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(tip(&daemon).0, 0, "no block was added");
    assert_eq!(rpc.stats().errors("rejected"), 2);
    assert_eq!(rpc.stats().errors("unreachable"), 0);
}

#[test]
fn a_restricted_port_serves_mining_and_refuses_the_rest() {
    if !available("a_restricted_port_serves_mining_and_refuses_the_rest") {
        return;
    }
    let rt = runtime();
    let daemon = Monerod::start_restricted("monerod-link-restricted", DIFFICULTY);
    let rpc = client(&daemon);
    // monerod serves get_info, get_version, get_miner_data, get_block_template and
    // submit_block on a restricted port: the probe passes and says so.
    let info = rt.block_on(probe(&rpc, CHAIN)).unwrap();
    assert!(info.info.restricted);
    assert_eq!(info.info.version, "", "a restricted port hides the version");
    let work = rt.block_on(rpc.get_work(&address(), 0)).unwrap();
    assert_eq!(work.template.height, 1);
    // What it refuses (here generateblocks) is Restricted, with the fix.
    let e = rt
        .block_on(rpc.call::<serde::de::IgnoredAny>(
            "generateblocks",
            json!({"amount_of_blocks": 1, "wallet_address": address()}),
        ))
        .unwrap_err();
    match &e {
        MoneroRpcError::Restricted { method, detail, .. } => {
            assert_eq!(method, "generateblocks");
            assert!(
                detail.contains(&ERROR_METHOD_NOT_FOUND.to_string()),
                "{detail}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("drop --restricted-rpc"), "{e}");
}

#[test]
fn the_source_follows_the_tip_by_polling_and_survives_a_restart() {
    if !available("the_source_follows_the_tip_by_polling_and_survives_a_restart") {
        return;
    }
    let rt = runtime();
    let mut daemon = Monerod::start("monerod-link-poll", DIFFICULTY);
    let rpc = client(&daemon);
    let mut config = MonerodSourceConfig::new(address());
    config.poll = Duration::from_millis(250);
    let source = rt.block_on(async { spawn(rpc.clone(), CHAIN, config) });

    let first = wait_work(&rt, &source, "work on the genesis block", on_tip(&daemon)).unwrap();
    assert_eq!(first.template.height, 1);
    assert_eq!(
        *source.status.borrow(),
        MoneroSourceStatus::Ready { height: 1 }
    );

    daemon.generate_blocks(2, &address());
    let second = wait_work(&rt, &source, "work on the new tip", on_tip(&daemon)).unwrap();
    assert_eq!(second.template.height, 3);

    // monerod crashes: the work is withdrawn and the status says why.
    daemon.kill();
    wait_work(&rt, &source, "withdrawn work", |w| w.is_none());
    assert!(
        matches!(
            *source.status.borrow(),
            MoneroSourceStatus::Failing {
                problem: Problem::Unreachable,
                ..
            }
        ),
        "{:?}",
        *source.status.borrow()
    );

    // ... and is back on the same data directory: work flows again, on its tip.
    daemon.restart(DIFFICULTY, None);
    wait_work(&rt, &source, "work after the restart", on_tip(&daemon));
    daemon.generate_blocks(1, &address());
    wait_work(
        &rt,
        &source,
        "work on a block mined after the restart",
        on_tip(&daemon),
    );
    assert!(matches!(
        *source.status.borrow(),
        MoneroSourceStatus::Ready { .. }
    ));
}

#[test]
fn zmq_notifications_drive_the_source() {
    if !available("zmq_notifications_drive_the_source") {
        return;
    }
    let rt = runtime();
    let (mut daemon, zmq_port) = Monerod::start_with_zmq("monerod-link-zmq", DIFFICULTY);
    let endpoint = format!("tcp://127.0.0.1:{zmq_port}");
    let rpc = client(&daemon);

    // The subscriber on its own: typed events for a new block.
    let (mut events, _task) = rt.block_on(async { spawn_zmq(&endpoint) }).unwrap();
    wait_event(&rt, &mut events, "connection", |e| {
        *e == ZmqEvent::Connected
    });

    // The source, with polling out of the way (an hour): only ZMQ can bring a new tip soon.
    let mut config = MonerodSourceConfig::new(address());
    config.zmq = Some(endpoint.clone());
    config.poll = Duration::from_secs(3600);
    config.refresh = Duration::from_secs(3600);
    let source = rt.block_on(async { spawn(rpc.clone(), CHAIN, config) });
    wait_work(&rt, &source, "work on the genesis block", on_tip(&daemon));
    // No race with the source's own subscription: a block mined before it is in place is
    // seen by the fetch its Connected event makes.

    daemon.generate_blocks(1, &address());
    let (height, id) = tip(&daemon);
    // monerod publishes miner_data, then chain_main, for every block.
    match wait_event(&rt, &mut events, "miner_data", |e| {
        matches!(e, ZmqEvent::MinerData { .. })
    }) {
        ZmqEvent::MinerData {
            height: next,
            prev_id,
            difficulty,
            major_version,
            ..
        } => {
            assert_eq!((next, prev_id), (height + 1, id));
            assert_eq!(difficulty, u128::from(DIFFICULTY));
            assert_eq!(major_version, 16);
        }
        other => unreachable!("{other:?}"),
    }
    let event = wait_event(&rt, &mut events, "chain_main", |e| {
        matches!(e, ZmqEvent::ChainMain { .. })
    });
    assert_eq!(event, ZmqEvent::ChainMain { height, id });
    let work = wait_work(&rt, &source, "work on the new tip, by ZMQ", on_tip(&daemon)).unwrap();
    assert_eq!(work.template.height, height + 1);
    assert_eq!(
        rpc.stats().calls("get_last_block_header"),
        0,
        "the new tip came by ZMQ, not by polling"
    );

    // A crash: the subscriber and the source notice; after the restart (same ZMQ port) the
    // socket reconnects by itself and notifications flow again.
    daemon.kill();
    wait_event(&rt, &mut events, "disconnection", |e| {
        *e == ZmqEvent::Disconnected
    });
    wait_work(&rt, &source, "withdrawn work", |w| w.is_none());
    daemon.restart(DIFFICULTY, Some(zmq_port));
    wait_event(&rt, &mut events, "reconnection", |e| {
        *e == ZmqEvent::Connected
    });
    wait_work(&rt, &source, "work after the restart", on_tip(&daemon));
    daemon.generate_blocks(1, &address());
    let (height, id) = tip(&daemon);
    assert_eq!(
        wait_event(&rt, &mut events, "chain_main after the restart", |e| {
            matches!(e, ZmqEvent::ChainMain { .. })
        }),
        ZmqEvent::ChainMain { height, id }
    );
    wait_work(
        &rt,
        &source,
        "work on a block mined after the restart",
        on_tip(&daemon),
    );
}
