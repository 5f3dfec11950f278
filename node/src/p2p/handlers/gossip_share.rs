//! A gossiped share: decode, insert, and say what gossipsub should do with the message and
//! what the sender deserves. Nothing is forwarded before the sharechain has validated it.
//!
//! A compact share (docs/p2p.md, "Compact relay") is first rebuilt from our own PPLNS window;
//! rebuilt, it is judged as any full share. When it cannot be rebuilt here (we lack its parent
//! or an uncle, or our window computes other payouts) the sender is not at fault as far as we
//! can tell: the caller asks it for the full share, and the full share is what gets judged.

use crate::p2p::scoring::Offence;
use crate::p2p::{gossip, Acceptance};
use otedama_consensus::share::compact::{precheck, rebuild, RebuildError};
use otedama_consensus::validation::Severity;
use otedama_consensus::{Share, ShareHash};
use otedama_sharechain::{InsertOutcome, Sharechain, StoreError};

/// What became of one gossip message.
#[derive(Debug)]
pub struct GossipResult {
    /// The share, when the bytes were one.
    pub share: Option<Share>,
    /// Every insert outcome (the share's own first, then orphans it connected).
    pub outcomes: Vec<InsertOutcome>,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Decided now; penalise the sender with `offence` when there is one.
    Done {
        acceptance: Acceptance,
        offence: Option<Offence>,
    },
    /// Valid so far but `missing` (parent or uncle) is unknown: hold the message, fetch it.
    Held { id: ShareHash, missing: ShareHash },
    /// A share we hold, and the message is its canonical form on this topic: the other form of
    /// a share in flight (each form travels on its own topic), or a copy of a message gossipsub
    /// has forgotten. Nothing to judge and no penalty; the sharechain task forwards each form
    /// of a share once ([`crate::p2p::forwarded`]), since gossipsub refuses our own publish of
    /// a form whose author's copy already reached us.
    Known { id: ShareHash },
}

/// Gossiped shares more than this many heights below our best tip are neither stored nor
/// forwarded (no penalty): they cannot be uncles (depth 3) and their branch is far behind, so
/// they only cost every node disk and validation. One cheap ASIC could otherwise mint floor
/// difficulty side shares (or a new genesis) for every node to keep forever. If such a branch
/// ever grows heavier than ours, a peer that has it claims more work and sync fetches it, which
/// this rule does not touch. 64 shares are over 10 minutes of 10 s shares.
pub const MAX_GOSSIP_DEPTH: u64 = 64;

/// What became of one compact gossip message.
#[derive(Debug)]
pub enum CompactResult {
    /// Rebuilt from our window and judged as a full share.
    Rebuilt(GossipResult),
    /// Not rebuildable here: ask the sender for share `id` in full (no penalty; the full share
    /// is judged when it comes).
    Fallback { id: ShareHash, why: RebuildError },
    /// Decided without rebuilding: undecodable (malformed), already known, or far behind.
    Done(GossipResult),
}

fn malformed() -> GossipResult {
    GossipResult {
        share: None,
        outcomes: vec![],
        verdict: Verdict::Done {
            acceptance: Acceptance::Reject,
            offence: Some(Offence::Malformed),
        },
    }
}

fn ignored() -> GossipResult {
    GossipResult {
        share: None,
        outcomes: vec![],
        verdict: Verdict::Done {
            acceptance: Acceptance::Ignore,
            offence: None,
        },
    }
}

/// A full share message.
pub fn handle(chain: &mut Sharechain, data: &[u8], now: u64) -> Result<GossipResult, StoreError> {
    match gossip::decode(data) {
        Ok(share) => handle_share(chain, share, now),
        Err(e) => {
            tracing::debug!("undecodable gossip: {e}");
            Ok(malformed())
        }
    }
}

/// A compact share message: rebuilt and judged, or to be fetched in full.
pub fn handle_compact(
    chain: &mut Sharechain,
    data: &[u8],
    now: u64,
) -> Result<CompactResult, StoreError> {
    let c = match gossip::decode_compact(data) {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!("undecodable compact gossip: {e}");
            return Ok(CompactResult::Done(malformed()));
        }
    };
    let id = c.id();
    // Far behind, or waiting for its parent: nothing to rebuild or fetch.
    if too_deep_height(chain, c.side.height) || chain.orphans().contains(&id) {
        return Ok(CompactResult::Done(ignored()));
    }
    // Stored: the message is known if it is the compact form we would send ourselves (the
    // id does not commit to the compact encoding's own fields, so compare the bytes).
    if chain.state().contains(&id) {
        let stored = chain.store().share(&id)?;
        return Ok(CompactResult::Done(match stored {
            Some(share) if gossip::encode_compact(&share).as_deref() == Some(data) => {
                GossipResult {
                    share: Some(share),
                    outcomes: vec![],
                    verdict: Verdict::Known { id },
                }
            }
            _ => ignored(),
        }));
    }
    // What is provably wrong whatever the outputs (proof of work, commitment, target) is
    // judged now, as for a full share; only what needs our window can be our view's fault.
    if let Err(reason) = precheck(chain.pool(), &c) {
        tracing::debug!(%id, "invalid compact share: {reason}");
        return Ok(CompactResult::Done(GossipResult {
            share: None,
            outcomes: vec![],
            verdict: Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            },
        }));
    }
    match rebuild(chain.pool(), chain.state(), &c) {
        Ok(share) => Ok(CompactResult::Rebuilt(handle_share(chain, share, now)?)),
        Err(why) => Ok(CompactResult::Fallback { id, why }),
    }
}

/// A share from gossip, decoded (or rebuilt): insert it and judge the message.
pub fn handle_share(
    chain: &mut Sharechain,
    share: Share,
    now: u64,
) -> Result<GossipResult, StoreError> {
    if too_deep(chain, &share) {
        return Ok(GossipResult {
            share: Some(share),
            outcomes: vec![],
            verdict: Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            },
        });
    }
    let outcomes = chain.insert(share.clone(), now)?;
    let verdict = match outcomes.first() {
        Some(InsertOutcome::NewBest { .. } | InsertOutcome::SideChain { .. }) => Verdict::Done {
            acceptance: Acceptance::Accept,
            offence: None,
        },
        Some(InsertOutcome::Orphan { id, missing }) => Verdict::Held {
            id: *id,
            missing: *missing,
        },
        Some(InsertOutcome::Invalid { reason, .. }) => match reason.severity() {
            Severity::Invalid => Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            },
            // Not decidable by us now: a share from the future may be our clock's fault (a node
            // whose clock is slow would otherwise ban every honest relayer), and missing data
            // is ours to fetch. Neither is forwarded, neither costs the sender anything; the
            // share comes back by gossip or sync once it can be decided.
            Severity::NotYet | Severity::MissingData => Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            },
        },
        // Stored (not an orphan waiting for its parent) and byte for byte what we hold.
        Some(InsertOutcome::Duplicate { id })
            if chain.store().share(id)?.as_ref() == Some(&share) =>
        {
            Verdict::Known { id: *id }
        }
        Some(InsertOutcome::Duplicate { .. }) | None => Verdict::Done {
            acceptance: Acceptance::Ignore,
            offence: None,
        },
    };
    Ok(GossipResult {
        share: Some(share),
        outcomes,
        verdict,
    })
}

/// Whether `share` lies more than [`MAX_GOSSIP_DEPTH`] below our best tip.
pub fn too_deep(chain: &Sharechain, share: &Share) -> bool {
    too_deep_height(chain, share.side.height)
}

/// Whether a share at `height` lies more than [`MAX_GOSSIP_DEPTH`] below our best tip.
pub fn too_deep_height(chain: &Sharechain, height: u64) -> bool {
    chain
        .best()
        .is_some_and(|b| height.saturating_add(MAX_GOSSIP_DEPTH) < b.height)
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::Chain;
    use otedama_consensus::pool::{PoolParams, Preset};
    use otedama_consensus::testkit::{make_share, T0};

    #[test]
    fn shares_far_below_the_best_tip_are_not_stored() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let mut parent = None;
        let mut first = None;
        for h in 0..(MAX_GOSSIP_DEPTH + 3) {
            let s = make_share(&pool, chain.state(), parent, 1, T0 + 10 * h, vec![], h).unwrap();
            let o = chain.insert(s.clone(), T0 + 10 * h).unwrap();
            assert!(matches!(o[0], InsertOutcome::NewBest { .. }), "{o:?}");
            parent = Some(s.id());
            first.get_or_insert(s);
        }
        assert_eq!(chain.best().unwrap().height, MAX_GOSSIP_DEPTH + 2);
        // A second genesis (a new, backdated chain) and a side share on the first: both far
        // below the tip.
        let genesis = make_share(
            &pool,
            &otedama_consensus::MemoryChain::new(),
            None,
            2,
            T0,
            vec![],
            77,
        )
        .unwrap();
        let first = first.unwrap();
        let side = make_share(
            &pool,
            chain.state(),
            Some(first.id()),
            3,
            T0 + 5,
            vec![],
            78,
        )
        .unwrap();
        for s in [genesis, side] {
            let r = handle(&mut chain, &gossip::encode(&s), T0 + 10_000).unwrap();
            assert!(ignored_without_penalty(&r), "{:?}", r.verdict);
            assert!(r.outcomes.is_empty());
            assert!(!chain.state().contains(&s.id()));
            assert!(chain.store().share(&s.id()).unwrap().is_none());
        }
    }

    fn ignored_without_penalty(r: &GossipResult) -> bool {
        r.verdict
            == Verdict::Done {
                acceptance: Acceptance::Ignore,
                offence: None,
            }
    }

    #[test]
    fn a_share_from_the_future_costs_the_relayer_nothing() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let first = make_share(&pool, chain.state(), None, 1, T0, vec![], 1).unwrap();
        chain.insert(first.clone(), T0).unwrap();
        // Built an hour ahead of our clock: valid by then, not now.
        let later = T0 + 3600;
        let future = make_share(&pool, chain.state(), Some(first.id()), 2, later, vec![], 2);
        let future = future.unwrap();
        let r = handle(&mut chain, &gossip::encode(&future), T0).unwrap();
        assert!(
            matches!(
                r.outcomes.first(),
                Some(InsertOutcome::Invalid { reason, .. })
                    if reason.severity() == Severity::NotYet
            ),
            "{:?}",
            r.outcomes
        );
        assert!(ignored_without_penalty(&r), "{:?}", r.verdict);
        // Once our clock gets there the same bytes are accepted.
        let r = handle(&mut chain, &gossip::encode(&future), later).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Accept,
                offence: None,
            }
        );
    }

    /// Two stores of the same chain of `n` shares: the sender's and a receiver's that holds
    /// the first `known` of them.
    fn sender_and_receiver(
        pool: &PoolParams,
        n: u64,
        known: u64,
    ) -> (tempfile::TempDir, Sharechain, tempfile::TempDir, Sharechain) {
        let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut a = Sharechain::open(da.path(), pool.clone()).unwrap();
        let mut b = Sharechain::open(db.path(), pool.clone()).unwrap();
        let mut parent = None;
        for h in 0..n {
            let s = make_share(
                pool,
                a.state(),
                parent,
                h as u32 % 7,
                T0 + 10 * h,
                vec![],
                h,
            );
            let s = s.unwrap();
            a.insert(s.clone(), T0 + 10 * h).unwrap();
            if h < known {
                b.insert(s.clone(), T0 + 10 * h).unwrap();
            }
            parent = Some(s.id());
        }
        (da, a, db, b)
    }

    /// Applies the penalties among `cmds` to `scores`.
    fn apply(scores: &mut crate::p2p::scoring::Scores<u8>, cmds: &[crate::p2p::SwarmCommand]) {
        for c in cmds {
            if let crate::p2p::SwarmCommand::Penalise { offence, .. } = c {
                scores.penalise(0, *offence, std::time::Instant::now());
            }
        }
    }

    #[test]
    fn a_compact_share_is_rebuilt_from_our_window_and_accepted() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let (_da, a, _db, mut b) = sender_and_receiver(&pool, 12, 12);
        let tip = a.best().unwrap().id;
        let s = make_share(&pool, a.state(), Some(tip), 3, T0 + 200, vec![], 99).unwrap();
        let msg = gossip::encode_compact(&s).unwrap();
        assert!(msg.len() < gossip::encode(&s).len());
        let CompactResult::Rebuilt(r) = handle_compact(&mut b, &msg, T0 + 200).unwrap() else {
            panic!("not rebuilt")
        };
        assert_eq!(r.share.as_ref(), Some(&s));
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Accept,
                offence: None,
            }
        );
        assert_eq!(b.best().unwrap().id, s.id());
        // The same message again: known, not rebuilt, free (forwarded at most once a form,
        // which the sharechain task decides).
        let CompactResult::Done(r) = handle_compact(&mut b, &msg, T0 + 200).unwrap() else {
            panic!("a known share is not rebuilt again")
        };
        assert_eq!(r.verdict, Verdict::Known { id: s.id() });
        // Its full form, which the author also published: the same share, known.
        let r = handle(&mut b, &gossip::encode(&s), T0 + 200).unwrap();
        assert_eq!(r.verdict, Verdict::Known { id: s.id() });
        assert!(matches!(r.outcomes[..], [InsertOutcome::Duplicate { .. }]));
        // A compact message with the id of a known share but other bytes is no form of ours:
        // ignored, free.
        let mut other = otedama_consensus::share::compact::compact(&s).unwrap();
        other.reward += 1;
        let mut odd = vec![crate::p2p::GOSSIP_COMPACT_SHARE];
        odd.extend_from_slice(&other.encode());
        assert_eq!(odd.len(), msg.len());
        let CompactResult::Done(r) = handle_compact(&mut b, &odd, T0 + 200).unwrap() else {
            panic!("a known id is not rebuilt again")
        };
        assert!(ignored_without_penalty(&r), "{:?}", r.verdict);
        // A compact share without its proof of work is invalid whatever our window says.
        let mut c = otedama_consensus::share::compact::compact(&s).unwrap();
        c.side.software_version += 1;
        let mut bad = vec![crate::p2p::GOSSIP_COMPACT_SHARE];
        bad.extend_from_slice(&c.encode());
        let mut fresh = sender_and_receiver(&pool, 12, 12);
        let CompactResult::Done(r) = handle_compact(&mut fresh.3, &bad, T0 + 200).unwrap() else {
            panic!("a compact share with a broken commitment is decided at once")
        };
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            }
        );
        // Garbage in a compact message is malformed.
        let CompactResult::Done(r) = handle_compact(&mut b, &[3, 0, 1], T0).unwrap() else {
            panic!("garbage is decided at once")
        };
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::Malformed),
            }
        );
    }

    /// A receiver that cannot rebuild (it lacks the parent, or computes other payouts) costs the
    /// sender nothing: it fetches the full share, and only an invalid full share is penalised.
    #[test]
    fn an_honest_mismatch_costs_no_score_and_an_invalid_full_share_does() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let peer = libp2p::PeerId::random();
        let mut scores = crate::p2p::scoring::Scores::<u8>::default();
        let now = std::time::Instant::now();

        // The receiver lacks the last two shares: the parent of the new one is unknown.
        let (_da, a, _db, mut b) = sender_and_receiver(&pool, 12, 10);
        let tip = a.best().unwrap().id;
        let s = make_share(&pool, a.state(), Some(tip), 3, T0 + 200, vec![], 99).unwrap();
        let r = handle_compact(&mut b, &gossip::encode_compact(&s).unwrap(), T0 + 200).unwrap();
        let CompactResult::Fallback { id, why } = r else {
            panic!("rebuilt without the parent: {r:?}")
        };
        assert_eq!(id, s.id());
        assert_eq!(why, RebuildError::Unknown(tip));
        // The full share is fetched from the sender and connects once its parents come.
        let mut sync = crate::p2p::sync::SyncState::new();
        let mut cmds = sync.peer_connected(peer, &b);
        cmds.extend(sync.fetch(peer, vec![id], &b));
        assert!(cmds.iter().any(|c| matches!(c,
            crate::p2p::SwarmCommand::Send {
                request: crate::p2p::wire::Request::GetShares { ids }, ..
            } if *ids == vec![id])));
        let applied = sync
            .on_shares(peer, &[id], vec![s.encode()], &mut b, T0 + 200)
            .unwrap();
        apply(&mut scores, &cmds);
        apply(&mut scores, &applied.commands);
        assert_eq!(
            scores.score(0, now),
            0,
            "an honest mismatch cost the sender"
        );

        // A receiver with the parent, and a message whose checksum disagrees with the window
        // it computes: again no penalty, the full share is asked for...
        let (_da, a, _db, mut b) = sender_and_receiver(&pool, 12, 12);
        let tip = a.best().unwrap().id;
        let s = make_share(&pool, a.state(), Some(tip), 3, T0 + 200, vec![], 99).unwrap();
        let mut msg = gossip::encode_compact(&s).unwrap();
        // Format byte, version 4, header 80, reward 8: the checksum's first byte.
        msg[1 + 4 + 80 + 8] ^= 1;
        let r = handle_compact(&mut b, &msg, T0 + 200).unwrap();
        assert!(
            matches!(
                r,
                CompactResult::Fallback {
                    why: RebuildError::ChecksumMismatch,
                    ..
                }
            ),
            "{r:?}"
        );
        // ...and a full share that is invalid (same id: the witness is not in it) is.
        let mut bad = s.clone();
        bad.candidate.as_bitcoin_mut().unwrap().coinbase.input[0].witness =
            bitcoin::Witness::from_slice(&[[7u8; 32]]);
        assert_eq!(bad.id(), s.id());
        let mut sync = crate::p2p::sync::SyncState::new();
        let mut cmds = sync.peer_connected(peer, &b);
        cmds.extend(sync.fetch(peer, vec![s.id()], &b));
        apply(&mut scores, &cmds);
        assert_eq!(scores.score(0, now), 0);
        let applied = sync
            .on_shares(peer, &[s.id()], vec![bad.encode()], &mut b, T0 + 200)
            .unwrap();
        apply(&mut scores, &applied.commands);
        assert!(
            scores.score(0, now) <= -100,
            "an invalid full share went unpunished"
        );
    }

    #[test]
    fn an_invalid_share_still_costs_the_relayer() {
        let pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Sharechain::open(dir.path(), pool.clone()).unwrap();
        let mut bad = make_share(&pool, chain.state(), None, 1, T0, vec![], 1).unwrap();
        // A reserved value that is not zero (the id does not change, the bytes do).
        bad.candidate.as_bitcoin_mut().unwrap().coinbase.input[0].witness =
            bitcoin::Witness::from_slice(&[[7u8; 32]]);
        let r = handle(&mut chain, &gossip::encode(&bad), T0).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Done {
                acceptance: Acceptance::Reject,
                offence: Some(Offence::InvalidShare),
            }
        );
    }
}
