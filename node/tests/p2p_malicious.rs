//! A malicious peer: a test harness speaking the pool's protocols over real libp2p on 127.0.0.1
//! gossips every kind of invalid share to a victim node V (bad proof of work, wrong payouts,
//! wrong difficulty, future timestamp, bad uncle, oversized, another consensus id, garbage
//! bytes) and abuses the sync protocol. Each is rejected for exactly the reason named, nothing
//! reaches the observer node O behind V, and the peer is banned (a share from the future costs
//! nothing: it may be V's clock that is slow, so that peer stays, unpenalised).
//!
//! V and O start from the same 20-share chain, so every contextual rule has a parent to check
//! against; each kind comes from a fresh peer identity, so one ban never explains another.

#[path = "support/chains.rs"]
mod chains;
#[path = "support/test_peer.rs"]
mod test_peer;

use bitcoin::Amount;
use chains::{bin, grow, pool, seed, unix_now, CHAIN};
use libp2p::{Multiaddr, PeerId};
use otedama_consensus::builder::grind;
use otedama_consensus::chain::Chain;
use otedama_consensus::coinbase::{build_coinbase, CoinbaseSpec};
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::template::witness_commitment_script;
use otedama_consensus::testkit::{make_job, make_share};
use otedama_consensus::{
    check_contextual, check_stateless, MemoryChain, RejectReason, Share, ShareHash, Target,
};
use otedama_node::p2p::gossip::{self, GossipError, MAX_GOSSIP_BYTES};
use otedama_node::p2p::service::TOPIC_OVERLAP;
use otedama_node::p2p::wire::{Request, Response, WireError};
use otedama_node::p2p::GOSSIP_FULL_SHARE;
use otedama_tests::node::{eventually, NodeProc, NO_FULL_NODE};
use serde_json::json;
use std::time::{Duration, Instant};
use test_peer::TestPeer;

fn payout(n: u8) -> String {
    chains::address("bcrt", n)
}
/// How long anything the node does for one message may take.
/// Positive waits only (each returns as soon as the thing happens); long enough for a loaded CI
/// machine.
const WAIT: Duration = Duration::from_secs(30);
/// The log line of a node that switched to the compact topic (`chain_task`).
const ON_COMPACT: &str = "taking shares on the Compact topic now";

/// What the node's two layers of validation say about `share` on `view` at `now`.
fn verdict(
    pool: &PoolParams,
    view: &MemoryChain,
    share: &Share,
    now: u64,
) -> Result<(), RejectReason> {
    let checked = check_stateless(pool, share, pool.chain.stateless_pow())?;
    check_contextual(pool, view, share, &checked, now).map(|_| ())
}

/// The builder's coinbase for `job` again, after its side data changed (the commitment covers
/// it); the same layout `testkit::make_job` uses.
fn relay_coinbase(pool: &PoolParams, job: &mut otedama_consensus::builder::ShareJob) {
    let wc = witness_commitment_script(&[]);
    job.coinbase = build_coinbase(&CoinbaseSpec {
        parent_height: job.side.parent_height,
        payouts: &job.payouts,
        commitment: job.side.commitment(&pool.consensus_id()),
        witness_commitment: Some(&wc),
        extranonce_len: 8,
        tag: b"/otedama-test/",
    })
    .unwrap();
}

/// Rolls the nonce until the header meets the share target again (after a coinbase edit the
/// merkle root is recomputed first), so only the intended rule breaks.
fn reseal(pool: &PoolParams, share: &mut Share) {
    share.candidate.as_bitcoin_mut().unwrap().header.merkle_root =
        share.candidate.as_bitcoin().unwrap().computed_merkle_root();
    let target = share.side.target();
    let algo = pool.chain.pow_algo().unwrap();
    for nonce in 0..=u32::MAX {
        share.candidate.as_bitcoin_mut().unwrap().header.nonce = nonce;
        if target.is_met_by(&algo.hash(&share.candidate.as_bitcoin().unwrap().header_bytes())) {
            return;
        }
    }
    panic!("no nonce meets the share target");
}

/// The `/metrics` counters a case looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Counters {
    offences: u64,
    bans: u64,
    gossip_received: u64,
    /// `otedama_shares_total` by outcome: new_best, side_chain, orphan, duplicate, invalid.
    shares: [u64; 5],
}

fn counters(n: &NodeProc) -> Counters {
    let (status, body) = n.client().request("GET", "/metrics", b"").unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let get = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
            .trim()
            .parse()
            .unwrap()
    };
    let share = |outcome: &str| get(&format!("otedama_shares_total{{outcome=\"{outcome}\"}}"));
    Counters {
        offences: get("otedama_p2p_offences_total"),
        bans: get("otedama_p2p_bans_total"),
        gossip_received: get("otedama_p2p_gossip_received_total"),
        shares: ["new_best", "side_chain", "orphan", "duplicate", "invalid"].map(share),
    }
}

const INVALID: usize = 4;
const ORPHAN: usize = 2;

fn has_share(n: &NodeProc, id: &ShareHash) -> bool {
    n.call("getshare", json!({"id": id.to_string()})).is_ok()
}

/// `n`'s log has a line holding every one of `parts`.
fn logged(n: &NodeProc, parts: &[&str]) -> bool {
    n.log_text()
        .lines()
        .any(|l| parts.iter().all(|p| l.contains(p)))
}

/// One kind of abuse: gossip messages from one fresh peer.
struct Case {
    name: &'static str,
    /// Gossip payloads, sent one after the other (undecodable bytes cost half a ban each).
    payloads: Vec<Vec<u8>>,
    /// The share inside, when the bytes decode as one (or would, but for their size).
    share_id: Option<ShareHash>,
    /// Why V must refuse the share (checked locally and found in V's log).
    reason: Option<RejectReason>,
    /// The peer ends up banned (every kind but a share from the future).
    banned: bool,
    /// Each message costs the peer score (every kind but a share from the future).
    penalised: bool,
    /// The ban's label in V's log.
    offence: &'static str,
}

/// The invalid shares and payloads, each built on `tip` of `view` and checked locally to fail
/// exactly as its name says (next to a control that shows the same share valid without the
/// defect).
fn cases(
    pool: &PoolParams,
    view: &MemoryChain,
    tip: ShareHash,
    grandparent: ShareHash,
) -> Vec<Case> {
    let now = unix_now();
    let valid = |who: u32, extranonce: u64| {
        let s = make_share(pool, view, Some(tip), who, now, vec![], extranonce).unwrap();
        assert_eq!(verdict(pool, view, &s, now), Ok(()), "control share");
        s
    };
    let share_case = |name, share: Share, reason: RejectReason, banned: bool| {
        assert_eq!(
            verdict(pool, view, &share, now),
            Err(reason.clone()),
            "{name}"
        );
        Case {
            name,
            payloads: vec![gossip::encode(&share)],
            share_id: Some(share.id()),
            reason: Some(reason),
            banned,
            penalised: true,
            offence: "invalid_share",
        }
    };
    let mut out = Vec::new();

    // Bad proof of work: the nonce moved until the header misses the share target.
    let mut s = valid(101, 1);
    let algo = pool.chain.pow_algo().unwrap();
    while s
        .side
        .target()
        .is_met_by(&algo.hash(&s.candidate.as_bitcoin().unwrap().header_bytes()))
    {
        s.candidate.as_bitcoin_mut().unwrap().header.nonce = s
            .candidate
            .as_bitcoin()
            .unwrap()
            .header
            .nonce
            .wrapping_add(1);
    }
    out.push(share_case(
        "bad proof of work",
        s,
        RejectReason::InsufficientWork,
        true,
    ));

    // Wrong payouts: one satoshi moved between two payouts, merkle root and work made right.
    let mut s = valid(102, 2);
    let outs = &mut s.candidate.as_bitcoin_mut().unwrap().coinbase.output;
    assert!(outs.len() >= 4, "at least two payouts");
    outs[0].value = Amount::from_sat(outs[0].value.to_sat() - 1);
    outs[1].value = Amount::from_sat(outs[1].value.to_sat() + 1);
    reseal(pool, &mut s);
    out.push(share_case(
        "wrong payouts",
        s,
        RejectReason::WrongPayouts,
        true,
    ));

    // Wrong difficulty: a target twice as hard as the retarget's, committed and ground.
    let mut job = make_job(pool, view, Some(tip), 103, now, vec![]).unwrap();
    let expected = job.side.share_bits;
    let harder = Target(Target::from_compact(expected).0 >> 1).to_compact();
    job.side.share_bits = harder;
    relay_coinbase(pool, &mut job);
    let s = grind(pool, &job, &3u64.to_le_bytes(), job.side.timestamp as u32).unwrap();
    let reason = RejectReason::WrongTarget {
        expected,
        got: harder,
    };
    out.push(share_case("wrong difficulty", s, reason, true));

    // Future timestamp: built an hour ahead; valid by then.
    let later = now + 3600;
    let s = make_share(pool, view, Some(tip), 104, later, vec![], 4).unwrap();
    assert_eq!(verdict(pool, view, &s, later), Ok(()));
    let mut c = share_case(
        "future timestamp",
        s,
        RejectReason::TimestampInFuture,
        false,
    );
    c.penalised = false;
    out.push(c);

    // Bad uncle: the grandparent, an ancestor, named as an uncle.
    let s = make_share(pool, view, Some(tip), 105, now, vec![grandparent], 5).unwrap();
    let reason = RejectReason::UncleIsAncestor(grandparent);
    out.push(share_case("bad uncle", s, reason, true));

    // Another consensus id: a share of the mini pool on the same chain (valid there).
    let mini = PoolParams::preset(Chain::BitcoinRegtest, Preset::Mini);
    assert_ne!(mini.consensus_id(), pool.consensus_id());
    let s = make_share(&mini, view, Some(tip), 106, now, vec![], 6).unwrap();
    assert!(check_stateless(&mini, &s, mini.chain.stateless_pow()).is_ok());
    out.push(share_case(
        "another consensus id",
        s,
        RejectReason::CommitmentMismatch,
        true,
    ));

    // Oversized: a valid share's gossip padded one byte (then two) past the limit; the padding
    // differs so each message is new to gossipsub.
    let s = valid(107, 7);
    let padded = |len: usize| {
        let mut p = gossip::encode(&s);
        p.resize(len, 0);
        assert_eq!(gossip::decode(&p), Err(GossipError::TooLarge(len)));
        p
    };
    out.push(Case {
        name: "oversized",
        payloads: vec![padded(MAX_GOSSIP_BYTES + 1), padded(MAX_GOSSIP_BYTES + 2)],
        share_id: Some(s.id()),
        reason: None,
        banned: true,
        penalised: true,
        offence: "malformed",
    });

    // Garbage: pseudo-random bytes after the share format byte, then an unknown format.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut noise = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    let mut garbage = vec![GOSSIP_FULL_SHARE];
    garbage.extend((0..400).map(|_| noise()));
    assert!(matches!(
        gossip::decode(&garbage),
        Err(GossipError::Share(_))
    ));
    let mut unknown = vec![0xee];
    unknown.extend((0..400).map(|_| noise()));
    assert_eq!(
        gossip::decode(&unknown),
        Err(GossipError::UnknownFormat(0xee))
    );
    out.push(Case {
        name: "garbage bytes",
        payloads: vec![garbage, unknown],
        share_id: None,
        reason: None,
        banned: true,
        penalised: true,
        offence: "malformed",
    });
    out
}

/// A fresh peer connected to V, with V subscribed to its gossip.
fn fresh_peer(v: &NodeProc, v_addr: &Multiaddr, v_id: PeerId) -> TestPeer {
    let peer = TestPeer::new(&pool().consensus_id());
    assert_eq!(peer.connect(v_addr), Ok(v_id));
    assert!(
        peer.wait_subscribed(v_id, WAIT),
        "V never subscribed\n{}",
        v.log_text()
    );
    peer
}

/// Waits until V counted `n` offences in all (the exact count is checked after each case).
fn wait_offences(v: &NodeProc, n: u64, what: &str) {
    assert!(
        eventually(WAIT, || counters(v).offences >= n),
        "{what}: V did not penalise the peer\n{}",
        v.log_text()
    );
}

/// V and O stay as they were: same best share, O saw no gossip and no new share at all.
fn assert_nothing_forwarded(
    v: &NodeProc,
    o: &NodeProc,
    o_before: &Counters,
    best: &str,
    what: &str,
) {
    // A forwarded message reaches O in milliseconds on loopback; leave it several heartbeats.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        &counters(o),
        o_before,
        "{what}: O heard of it\n{}",
        o.log_text()
    );
    assert_eq!(v.best().1, best, "{what}");
    assert_eq!(o.best().1, best, "{what}");
}

#[test]
fn malicious_peer_is_refused_forwards_nothing_and_is_banned() {
    let started = Instant::now();
    let pool = pool();
    let mut view = MemoryChain::new();
    let shares = grow(&mut view, None, 20, unix_now() - 20 * 10 - 30, 0, 5);
    let dir_v = NodeProc::fresh_dir("mal-v");
    let dir_o = NodeProc::fresh_dir("mal-o");
    seed(&dir_v, &shares);
    seed(&dir_o, &shares);
    let mut v = NodeProc::start_in(bin(), "mal-v", dir_v, CHAIN, NO_FULL_NODE, &payout(1), &[]);
    let o = NodeProc::start_in(
        bin(),
        "mal-o",
        dir_o,
        CHAIN,
        NO_FULL_NODE,
        &payout(2),
        &["--peer", &v.multiaddr()],
    );
    o.wait_until(WAIT, "O connects to V", |o| o.peer_count() == 1);
    // V and O are synced with one another and move to the compact topic a few seconds later
    // (`TOPIC_SETTLE`). Wait for it: a message published while V leaves the full topic is lost
    // in flight, and the cases below would wait for a verdict that never comes.
    for n in [&v, &o] {
        n.wait_until(
            Duration::from_secs(60),
            "the node takes the compact topic",
            |n| n.log_text().contains(ON_COMPACT),
        );
    }
    // ... and leave the full topic after the overlap; until then a share reaches O twice.
    std::thread::sleep(TOPIC_OVERLAP + Duration::from_secs(1));
    let v_addr: Multiaddr = v.multiaddr().parse().unwrap();
    let v_id: PeerId = v.peer_id().parse().unwrap();

    // Control: a valid share from a test peer is accepted by V and forwarded to O, so the
    // path that must stay silent below is open. The invalid shares are built on it.
    let peer = fresh_peer(&v, &v_addr, v_id);
    let now = unix_now();
    let tip = shares.last().unwrap().id();
    let good = make_share(&pool, &view, Some(tip), 100, now, vec![], 100).unwrap();
    view.validate_and_insert(&pool, &good, now).unwrap();
    peer.publish(gossip::encode(&good)).unwrap();
    o.wait_until(WAIT, "a valid share reaches O through V", |o| {
        has_share(o, &good.id())
    });
    assert!(peer.is_connected(v_id));
    assert_eq!(counters(&o).gossip_received, 1, "O got it by gossip");
    assert_eq!(counters(&v).offences, 0);
    assert_eq!(
        counters(&o).shares[0],
        1,
        "O took the valid share as its new best"
    );
    drop(peer);
    let best = good.id().to_string();
    v.wait_until(WAIT, "V has the control share as best", |v| {
        v.best().1 == best
    });

    for case in cases(&pool, &view, good.id(), tip) {
        let what = case.name;
        let v_before = counters(&v);
        let o_before = counters(&o);
        let peer = fresh_peer(&v, &v_addr, v_id);
        let pid = peer.peer_id.to_string();
        let n = case.payloads.len() as u64;
        for (i, payload) in case.payloads.into_iter().enumerate() {
            peer.publish(payload)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let i = i as u64 + 1;
            if case.penalised {
                wait_offences(&v, v_before.offences + i, what);
            } else {
                // Nothing to count: wait until V has decided (its log names the share).
                let id = case.share_id.map(|id| id.to_string()).unwrap_or_default();
                assert!(
                    eventually(WAIT, || logged(
                        &v,
                        &[&pid, &id, "peer gossiped an invalid share"]
                    )),
                    "{what}: V did not decide\n{}",
                    v.log_text()
                );
            }
            if i < n {
                // Half a ban so far.
                assert!(peer.is_connected(v_id), "{what}: banned after message {i}");
                assert_eq!(counters(&v).bans, v_before.bans, "{what}");
            }
        }
        if case.banned {
            assert!(
                peer.wait_disconnected(v_id, WAIT),
                "{what}: V kept the peer\n{}",
                v.log_text()
            );
            assert!(
                eventually(WAIT, || counters(&v).bans == v_before.bans + 1),
                "{what}"
            );
            let refused = peer.redial(&v_addr);
            assert!(refused.is_err(), "{what}: V let a banned peer back in");
            eprintln!("{what}: redial refused: {}", refused.unwrap_err());
            let label = format!("peer banned: {}", case.offence);
            assert!(logged(&v, &[&pid, &label]), "{what}\n{}", v.log_text());
        } else {
            std::thread::sleep(Duration::from_millis(1500));
            assert!(peer.is_connected(v_id), "{what}: V dropped the peer");
            assert_eq!(counters(&v).bans, v_before.bans, "{what}");
            assert!(!logged(&v, &[&pid, "peer banned"]), "{what}");
        }
        let v_after = counters(&v);
        assert_eq!(
            v_after.offences,
            v_before.offences + if case.penalised { n } else { 0 },
            "{what}: one offence per penalised message"
        );
        // A share that decodes counts as invalid (never orphaned or stored); bytes that do
        // not decode never reach the sharechain.
        let mut expect_shares = v_before.shares;
        if case.reason.is_some() {
            expect_shares[INVALID] += 1;
        }
        assert_eq!(v_after.shares, expect_shares, "{what}");
        assert_eq!(v_after.shares[ORPHAN], v_before.shares[ORPHAN], "{what}");
        if let Some(id) = case.share_id {
            assert!(!has_share(&v, &id), "{what}: V stored it");
            assert!(!has_share(&o, &id), "{what}: O has it");
            if let Some(reason) = &case.reason {
                let line = format!("peer gossiped an invalid share: {reason}");
                assert!(
                    logged(&v, &[&pid, &id.to_string(), &line]),
                    "{what}: V refused it for another reason than {reason}\n{}",
                    v.log_text()
                );
            }
        }
        assert_nothing_forwarded(&v, &o, &o_before, &best, what);
        assert!(peer.received().is_empty(), "{what}: gossip came back");
        eprintln!("{what}: refused, not forwarded, banned: {}", case.banned);
    }

    // Sync abuse: a GetShares request whose bytes do not decode is penalised (a well-formed one
    // from the same peer is answered); the second one bans.
    let v_before = counters(&v);
    let o_before = counters(&o);
    let peer = fresh_peer(&v, &v_addr, v_id);
    let pid = peer.peer_id.to_string();
    let answer = peer.request(
        v_id,
        Request::GetShares {
            ids: vec![good.id()],
        },
    );
    assert!(
        matches!(&answer, Ok(Response::Shares { shares }) if shares.len() == 1),
        "{answer:?}"
    );
    let mut truncated = Request::GetShares {
        ids: vec![good.id(), tip],
    }
    .encode();
    truncated.truncate(truncated.len() - 1);
    assert_eq!(Request::decode(&truncated), Err(WireError::Truncated));
    let mut too_many = vec![1u8];
    too_many.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Request::decode(&too_many),
        Err(WireError::TooMany { .. })
    ));
    let answer = peer.request_raw(v_id, truncated);
    assert!(
        answer.is_err(),
        "V answered an undecodable request: {answer:?}"
    );
    wait_offences(&v, v_before.offences + 1, "undecodable GetShares");
    assert!(
        peer.is_connected(v_id),
        "banned after one undecodable request"
    );
    let _ = peer.request_raw(v_id, too_many);
    wait_offences(&v, v_before.offences + 2, "second undecodable GetShares");
    assert!(peer.wait_disconnected(v_id, WAIT), "V kept the peer");
    assert!(eventually(WAIT, || counters(&v).bans == v_before.bans + 1));
    assert!(peer.redial(&v_addr).is_err(), "V let a banned peer back in");
    assert!(
        logged(&v, &[&pid, "peer banned: malformed"]),
        "{}",
        v.log_text()
    );
    assert_eq!(counters(&v).offences, v_before.offences + 2);
    assert_nothing_forwarded(&v, &o, &o_before, &best, "sync abuse");
    eprintln!("undecodable sync requests: penalised, banned at the second");

    // Bans outlive a restart: the banned peer stays out.
    v.restart();
    assert!(
        v.log_text().contains("bans from the last run restored"),
        "{}",
        v.log_text()
    );
    assert!(
        peer.redial(&v_addr).is_err(),
        "a restart let a banned peer back in"
    );
    eprintln!("bans: kept across a restart");

    // O never penalised V: nothing invalid came from it.
    assert_eq!(counters(&o).offences, 0);
    assert_eq!(counters(&o).bans, 0);
    assert_eq!(o.peer_count(), 1);
    eprintln!(
        "malicious peer test took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
