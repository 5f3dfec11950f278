//! The full-node link against real regtest `litecoind` daemons: the JSON-RPC client (both
//! auths, refused credentials, wrong chain, nothing listening, call statistics) and the
//! template source (no work without a peer, long polling, a node that stops and comes back).
//!
//! Needs `/usr/lib/litecoin/litecoind` (`apt-get install -y litecoind`). Without it the tests
//! that need a daemon are skipped, unless `OTEDAMA_REQUIRE_FULL_NODES` is set, which makes a
//! missing daemon a failure.

use otedama_consensus::template::BlockTemplate;
use otedama_consensus::Chain;
use otedama_mining::node_rpc::{
    genesis_hash, probe, spawn, NodeRpc, NodeRpcError, Problem, RpcAuth, RpcConfig, SourceStatus,
    TemplateSource,
};
use otedama_tests::litecoind::{self, free_ports, Litecoind, RPC_PASSWORD, RPC_USER};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const CHAIN: Chain = Chain::LitecoinRegtest;
/// Longest wait for the source to notice anything (its retries back off to 30 s).
const WAIT: Duration = Duration::from_secs(60);
/// Longest wait for what the long poll or `refresh_now` brings: well under the minute after
/// which Core answers a long poll for new transactions, and under the test's 10-minute refresh.
const QUICK: Duration = Duration::from_secs(30);

/// Runs blocking harness work (daemon start/stop, blocking RPC) off the async workers.
fn blocking<R>(f: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(f)
}

fn client(url: String, auth: RpcAuth) -> NodeRpc {
    NodeRpc::new(RpcConfig::new(url, auth)).unwrap_or_else(|e| panic!("NodeRpc::new: {e}"))
}

fn user_pass(node: &Litecoind) -> NodeRpc {
    client(
        node.rpc_url(),
        RpcAuth::UserPass {
            user: RPC_USER.into(),
            pass: RPC_PASSWORD.into(),
        },
    )
}

fn cookie(node: &Litecoind) -> NodeRpc {
    client(node.rpc_url(), RpcAuth::Cookie(node.cookie_path()))
}

/// Waits (at most `within`) until the current template satisfies `pred`; returns it.
async fn wait_template(
    rx: &mut watch::Receiver<Option<Arc<BlockTemplate>>>,
    within: Duration,
    what: &str,
    mut pred: impl FnMut(&Option<Arc<BlockTemplate>>) -> bool,
) -> Option<Arc<BlockTemplate>> {
    let started = Instant::now();
    let waited = tokio::time::timeout(within, rx.wait_for(|t| pred(t)))
        .await
        .map(|r| r.map(|t| t.clone()));
    match waited {
        Ok(Ok(t)) => {
            eprintln!("{what}: after {:?}", started.elapsed());
            t
        }
        Ok(Err(_)) => panic!("{what}: the template source ended"),
        Err(_) => panic!(
            "timed out after {within:?}: {what}; current template: {:?}",
            rx.borrow().as_ref().map(|t| (t.height, t.prev_blockhash))
        ),
    }
}

/// Waits (at most [`WAIT`]) until the source's status satisfies `pred`.
async fn wait_status(
    source: &mut TemplateSource,
    what: &str,
    mut pred: impl FnMut(&SourceStatus) -> bool,
) -> SourceStatus {
    let waited = tokio::time::timeout(WAIT, source.status.wait_for(|s| pred(s)))
        .await
        .map(|r| r.map(|s| s.clone()));
    match waited {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => panic!("{what}: the template source ended"),
        Err(_) => panic!(
            "timed out after {WAIT:?}: {what}; status: {:?}",
            *source.status.borrow()
        ),
    }
}

/// A daemon with a peer and one block: out of initial sync, so it gives templates.
fn mining_pair() -> (Litecoind, Litecoind) {
    let node = Litecoind::start("node1", &[]);
    let peer = node.start_peer("node2");
    node.generate(1);
    (node, peer)
}

fn best_block(node: &Litecoind) -> String {
    node.call_str("getbestblockhash", json!([]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_password_and_cookie_auth_work_and_a_wrong_password_is_refused() {
    if !litecoind::available("user_password_and_cookie_auth_work") {
        return;
    }
    let node = blocking(|| Litecoind::start("auth", &[]));
    let genesis = genesis_hash(CHAIN).expect("a Bitcoin-family chain");

    for (name, rpc) in [
        ("user/password", user_pass(&node)),
        ("cookie", cookie(&node)),
    ] {
        let info = rpc
            .get_blockchain_info()
            .await
            .unwrap_or_else(|e| panic!("{name}: getblockchaininfo: {e}"));
        assert_eq!(info.chain, "regtest", "{name}");
        assert_eq!(info.blocks, 0, "{name}");
        assert!(
            info.initialblockdownload,
            "{name}: a fresh regtest node is in IBD"
        );
        assert_eq!(info.bestblockhash.to_string(), genesis, "{name}");
        assert_eq!(
            rpc.get_best_block_hash()
                .await
                .unwrap_or_else(|e| panic!("{name}: getbestblockhash: {e}"))
                .to_string(),
            genesis
        );
        let net = rpc
            .get_network_info()
            .await
            .unwrap_or_else(|e| panic!("{name}: getnetworkinfo: {e}"));
        assert!(net.subversion.contains("LitecoinCore"), "{net:?}");
        assert!(net.version >= 210_000, "{net:?}");
        assert_eq!(net.connections, 0);
        let count: u64 = rpc
            .call("getblockcount", json!([]))
            .await
            .unwrap_or_else(|e| panic!("{name}: getblockcount: {e}"));
        assert_eq!(count, 0);
    }

    // A JSON-RPC error comes back as `Rpc`, with the node's code.
    match user_pass(&node)
        .call::<Value>("nosuchmethod", json!([]))
        .await
    {
        Err(NodeRpcError::Rpc { code, .. }) => assert_eq!(code, -32601),
        other => panic!("unknown method: {other:?}"),
    }

    let wrong = client(
        node.rpc_url(),
        RpcAuth::UserPass {
            user: RPC_USER.into(),
            pass: "not-the-password".into(),
        },
    );
    let err = wrong
        .get_blockchain_info()
        .await
        .expect_err("a wrong password must be refused");
    assert!(matches!(err, NodeRpcError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("--node-rpc-password"), "{err}");

    let missing = node.datadir().join("no-such-cookie");
    let err = client(node.rpc_url(), RpcAuth::Cookie(missing.clone()))
        .get_blockchain_info()
        .await
        .expect_err("a missing cookie file");
    match &err {
        NodeRpcError::CookieUnreadable { path, .. } => assert_eq!(path, &missing),
        other => panic!("missing cookie: {other:?}"),
    }
    eprintln!("{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_template_without_a_peer_then_one_after_a_peer_and_a_block() {
    if !litecoind::available("no_template_without_a_peer") {
        return;
    }
    let node = blocking(|| Litecoind::start("alone", &[]));
    let rpc = user_pass(&node);
    let err = rpc
        .get_block_template(CHAIN, None)
        .await
        .expect_err("no template without a peer");
    assert!(err.is_not_connected(), "{err:?}");
    eprintln!("{err}");

    let mut source = spawn(rpc.clone(), CHAIN, Duration::from_secs(1));
    let status = wait_status(&mut source, "the source to fail", |s| {
        matches!(s, SourceStatus::Failing { .. })
    })
    .await;
    assert_eq!(
        status,
        SourceStatus::Failing {
            problem: Problem::NotConnected,
            message: status_message(&status),
        }
    );
    assert!(
        source.templates.borrow().is_none(),
        "no work without a peer"
    );

    let peer = blocking(|| node.start_peer("peer"));
    let tip = blocking(|| node.generate(1)).remove(0);
    let template = wait_template(
        &mut source.templates,
        WAIT,
        "a template after a peer and a block",
        |t| t.is_some(),
    )
    .await
    .expect("waited for Some");
    assert_eq!(template.prev_blockhash.to_string(), tip);
    assert_eq!(template.height, 2);
    assert!(template.mweb.is_none(), "MWEB activates only at height 432");
    assert_eq!(template.coinbase_value, CHAIN.subsidy(2));
    assert_eq!(
        *source.status.borrow(),
        SourceStatus::Ready { height: 2 },
        "status follows the template"
    );
    source.task.abort();
    drop(peer);
}

fn status_message(status: &SourceStatus) -> String {
    match status {
        SourceStatus::Failing { message, .. } => message.clone(),
        other => format!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_another_chain_is_refused() {
    if !litecoind::available("a_node_on_another_chain_is_refused") {
        return;
    }
    let node = blocking(|| Litecoind::start("chain", &[]));
    let rpc = user_pass(&node);
    rpc.check_chain(CHAIN)
        .await
        .unwrap_or_else(|e| panic!("check_chain({CHAIN}): {e}"));
    probe(&rpc, CHAIN)
        .await
        .unwrap_or_else(|e| panic!("probe: {e}"));

    // Another chain name.
    let err = rpc
        .check_chain(Chain::Litecoin)
        .await
        .expect_err("a regtest node is not Litecoin mainnet");
    match &err {
        NodeRpcError::WrongChain { expected, found } => {
            assert_eq!(*expected, Chain::Litecoin);
            assert!(found.contains("regtest"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    eprintln!("{err}");
    // Same chain name, another genesis block: Bitcoin's regtest.
    let err = rpc
        .check_chain(Chain::BitcoinRegtest)
        .await
        .expect_err("a Litecoin regtest node is not Bitcoin regtest");
    assert!(matches!(err, NodeRpcError::WrongChain { .. }), "{err:?}");
    assert!(err.to_string().contains("litecoin-regtest"), "{err}");
    eprintln!("{err}");
    assert!(matches!(
        probe(&rpc, Chain::Litecoin).await,
        Err(NodeRpcError::WrongChain { .. })
    ));

    // The source gives no work from a node of another chain.
    let mut source = spawn(rpc, Chain::Litecoin, Duration::from_secs(1));
    wait_status(&mut source, "the source to see the wrong chain", |s| {
        matches!(
            s,
            SourceStatus::Failing {
                problem: Problem::WrongChain,
                ..
            }
        )
    })
    .await;
    assert!(source.templates.borrow().is_none());
    source.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_listening_is_unreachable_with_the_url() {
    // No daemon needed: a port that was free a moment ago.
    let (port, _) = free_ports();
    let url = format!("http://127.0.0.1:{port}");
    let rpc = client(
        url.clone(),
        RpcAuth::UserPass {
            user: "u".into(),
            pass: "p".into(),
        },
    );
    let err = rpc
        .get_blockchain_info()
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, NodeRpcError::Unreachable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("-rpcport"), "{message}");
    eprintln!("{message}");

    let mut source = spawn(rpc, CHAIN, Duration::from_secs(1));
    wait_status(&mut source, "the source to see nothing there", |s| {
        matches!(
            s,
            SourceStatus::Failing {
                problem: Problem::Unreachable,
                ..
            }
        )
    })
    .await;
    assert!(source.templates.borrow().is_none());
    source.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_brings_a_new_tip_and_refresh_now_new_transactions() {
    if !litecoind::available("long_poll_brings_a_new_tip") {
        return;
    }
    let (node, _peer) = blocking(mining_pair);
    // A refresh far beyond the test: new tips can only come from the long poll.
    let mut source = spawn(user_pass(&node), CHAIN, Duration::from_secs(600));
    let first = wait_template(&mut source.templates, WAIT, "the first template", |t| {
        t.is_some()
    })
    .await
    .expect("waited for Some");
    assert_eq!(
        first.prev_blockhash.to_string(),
        blocking(|| best_block(&node))
    );

    for round in 0..3 {
        let tip = blocking(|| node.generate(1)).remove(0);
        let t = wait_template(
            &mut source.templates,
            QUICK,
            &format!("round {round}: the long poll to bring the new tip"),
            |t| {
                t.as_ref()
                    .is_some_and(|t| t.prev_blockhash.to_string() == tip)
            },
        )
        .await
        .expect("waited for Some");
        assert_eq!(t.height, first.height + 1 + round);
    }

    // New transactions reach miners at the next refresh, or sooner when asked: a wallet with
    // a mature coinbase pays itself, and `refresh_now` fetches the template with the payment.
    // (The long poll would bring it only after a minute; Core serves its cached template for 5 s
    // after making one, so `refresh_now` is repeated until the payment shows.)
    let tip = blocking(|| {
        node.call("createwallet", json!(["w"]));
        let addr = node.call_str("getnewaddress", json!([]));
        node.call("generatetoaddress", json!([101, addr]));
        node.call("sendtoaddress", json!([addr, 1.0]));
        best_block(&node)
    });
    let refresh_now = source.refresh_now.clone();
    let nudger = tokio::spawn(async move {
        loop {
            refresh_now.notify_one();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let t = wait_template(
        &mut source.templates,
        QUICK,
        "refresh_now to bring the new transaction",
        |t| {
            t.as_ref()
                .is_some_and(|t| t.prev_blockhash.to_string() == tip && t.txids.len() == 1)
        },
    )
    .await
    .expect("waited for Some");
    nudger.abort();
    assert!(
        t.coinbase_value > CHAIN.subsidy(t.height),
        "the fee is in the coinbase value"
    );

    // Long polls are never abandoned while their tip stands (Core would keep serving each on
    // one of its few RPC threads): after all those tips, at most one is open on the node.
    let open = blocking(|| {
        litecoind::wait_for("at most one open getblocktemplate", || {
            let info = node.call("getrpcinfo", json!([]));
            let open = info["active_commands"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter(|c| c["method"] == "getblocktemplate")
                        .count()
                })
                .unwrap_or(0);
            (open <= 1).then_some(open)
        })
    });
    eprintln!("open getblocktemplate calls on the node: {open}");
    source.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_source_withdraws_work_while_the_node_is_away_and_resumes_after_a_restart() {
    if !litecoind::available("the_source_withdraws_work_while_the_node_is_away") {
        return;
    }
    let (mut node, _peer) = blocking(mining_pair);
    // Cookie auth: the restarted node has a new cookie, which the client must read again.
    let mut source = spawn(cookie(&node), CHAIN, Duration::from_secs(2));
    let before = wait_template(&mut source.templates, WAIT, "the first template", |t| {
        t.is_some()
    })
    .await
    .expect("waited for Some");

    blocking(|| node.stop());
    wait_template(
        &mut source.templates,
        WAIT,
        "no work while the node is away",
        |t| t.is_none(),
    )
    .await;
    let status = source.status.borrow().clone();
    match &status {
        SourceStatus::Failing { problem, .. } => {
            assert!(problem.work_unusable(), "{status:?}")
        }
        other => panic!("status while the node is away: {other:?}"),
    }
    eprintln!("while away: {status:?}");

    blocking(|| node.restart());
    let after = wait_template(
        &mut source.templates,
        WAIT,
        "work again after the restart",
        |t| t.is_some(),
    )
    .await
    .expect("waited for Some");
    assert_eq!(
        after.prev_blockhash, before.prev_blockhash,
        "same chain tip"
    );
    assert_eq!(after.height, before.height);

    // And it follows the chain again.
    let tip = blocking(|| node.generate(1)).remove(0);
    wait_template(
        &mut source.templates,
        WAIT,
        "the next tip after the restart",
        |t| {
            t.as_ref()
                .is_some_and(|t| t.prev_blockhash.to_string() == tip)
        },
    )
    .await;
    assert!(!source.task.is_finished(), "the source never exits");
    source.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_stats_count_real_calls_and_keep_long_polls_out_of_the_latency() {
    if !litecoind::available("rpc_stats_count_real_calls") {
        return;
    }
    let (node, _peer) = blocking(mining_pair);
    let rpc = user_pass(&node);
    let stats = rpc.stats();
    assert_eq!(stats.latency_count(), 0);

    rpc.get_blockchain_info()
        .await
        .unwrap_or_else(|e| panic!("getblockchaininfo: {e}"));
    rpc.get_network_info()
        .await
        .unwrap_or_else(|e| panic!("getnetworkinfo: {e}"));
    let tip = rpc
        .get_best_block_hash()
        .await
        .unwrap_or_else(|e| panic!("getbestblockhash: {e}"));
    rpc.get_block_hash(0)
        .await
        .unwrap_or_else(|e| panic!("getblockhash: {e}"));
    let template = rpc
        .get_block_template(CHAIN, None)
        .await
        .unwrap_or_else(|e| panic!("getblocktemplate: {e}"));
    assert_eq!(template.previousblockhash, tip.to_string());
    let id = template
        .longpollid
        .clone()
        .expect("Core gives a longpollid");

    // A real long poll: answered once a new block arrives (generated while it waits).
    let poll = {
        let rpc = rpc.clone();
        tokio::spawn(async move { rpc.get_block_template(CHAIN, Some(&id)).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let new_tip = blocking(|| node.generate(1)).remove(0);
    let polled = tokio::time::timeout(QUICK, poll)
        .await
        .expect("the long poll answers after a new block")
        .expect("the long poll task")
        .unwrap_or_else(|e| panic!("long poll: {e}"));
    assert_eq!(polled.previousblockhash, new_tip);

    // A JSON-RPC error.
    assert!(rpc.call::<Value>("nosuchmethod", json!([])).await.is_err());

    for method in [
        "getblockchaininfo",
        "getnetworkinfo",
        "getbestblockhash",
        "getblockhash",
        "other",
    ] {
        assert_eq!(stats.calls(method), 1, "{method}");
    }
    assert_eq!(
        stats.calls("getblocktemplate"),
        2,
        "the long poll is a call"
    );
    assert_eq!(stats.calls("submitblock"), 0);
    // 7 calls, one of them a long poll.
    assert_eq!(stats.latency_count(), 6, "the long poll is not timed");
    assert!(stats.latency_sum() > Duration::ZERO);
    assert!(
        stats.latency_sum() < Duration::from_secs(30),
        "{:?}",
        stats.latency_sum()
    );
    assert_eq!(stats.errors("rpc_error"), 1);
    assert_eq!(stats.errors("unreachable"), 0);
    let text = stats.render_prometheus("otedama");
    assert!(
        text.contains("\notedama_node_rpc_calls_total{method=\"getblocktemplate\"} 2\n"),
        "{text}"
    );
    assert!(
        text.contains("\notedama_node_rpc_latency_seconds_count 6\n"),
        "{text}"
    );
    assert!(
        text.contains("\notedama_node_rpc_latency_seconds_bucket{le=\"+Inf\"} 6\n"),
        "{text}"
    );
    eprintln!("{text}");

    // Nothing listening: counted as unreachable.
    let (port, _) = free_ports();
    let away = client(
        format!("http://127.0.0.1:{port}"),
        RpcAuth::UserPass {
            user: RPC_USER.into(),
            pass: RPC_PASSWORD.into(),
        },
    );
    let err = away
        .get_blockchain_info()
        .await
        .expect_err("nothing listens there");
    assert!(matches!(err, NodeRpcError::Unreachable { .. }), "{err:?}");
    assert_eq!(away.stats().errors("unreachable"), 1);
    assert_eq!(away.stats().calls("getblockchaininfo"), 1);
    assert_eq!(away.stats().latency_count(), 1);
    assert!(away
        .stats()
        .render_prometheus("otedama")
        .contains("\notedama_node_rpc_errors_total{kind=\"unreachable\"} 1\n"));
    // Each client (and its clones) has its own statistics.
    assert_eq!(stats.errors("unreachable"), 0);
}
