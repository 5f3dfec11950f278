//! The sharechain on real RocksDB in temporary directories: in-order and any-order insertion,
//! reorgs, orphans, restart, pruning, and refusal of corrupt or foreign stores.

use bitcoin::hashes::Hash;
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::pplns::WindowWeights;
use otedama_consensus::testkit::{make_share, T0};
use otedama_consensus::{ChainView, MemoryChain, Share, ShareHash};
use otedama_sharechain::{InsertOutcome, Sharechain, StoreError};
use proptest::prelude::*;

fn pool(window: u64) -> PoolParams {
    let mut p = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
    p.pplns_window = window;
    p.min_payout = 1000;
    p.max_payout_outputs = 50;
    p
}

/// A share tree built on a reference `MemoryChain`: a main chain of `len` shares and side
/// branches of `branch_len` forking every `every` shares, the main chain always strictly ahead.
fn tree(p: &PoolParams, len: u64, every: u64, branch_len: u64) -> (Vec<Share>, MemoryChain) {
    let mut mem = MemoryChain::new();
    let mut shares = Vec::new();
    let mut parent: Option<ShareHash> = None;
    let mut nonce = 0u64;
    let mut add = |mem: &mut MemoryChain,
                   parent: Option<ShareHash>,
                   who: u32,
                   now: u64,
                   shares: &mut Vec<Share>| {
        nonce += 1;
        let s = make_share(p, mem, parent, who, now, vec![], nonce).expect("share");
        mem.validate_and_insert(p, &s, now).expect("valid");
        shares.push(s.clone());
        s.id()
    };
    for h in 0..len {
        let id = add(&mut mem, parent, (h % 5) as u32, T0 + 10 * h, &mut shares);
        if h > 0 && h % every == 0 && h + branch_len + 1 < len {
            let mut b = Some(id);
            for k in 0..branch_len {
                b = Some(add(
                    &mut mem,
                    b,
                    7 + k as u32,
                    T0 + 10 * h + 5 + k,
                    &mut shares,
                ));
            }
        }
        parent = Some(id);
    }
    (shares, mem)
}

fn open(dir: &std::path::Path, p: &PoolParams) -> Sharechain {
    Sharechain::open(dir, p.clone()).expect("open")
}

fn insert_all(chain: &mut Sharechain, shares: &[Share]) -> Vec<InsertOutcome> {
    let mut out = Vec::new();
    for s in shares {
        out.extend(chain.insert(s.clone(), T0 + 1_000_000).expect("insert"));
    }
    out
}

fn best_window_from_scratch(chain: &Sharechain) -> WindowWeights {
    let best = chain.best().expect("best").clone();
    WindowWeights::from_scratch(chain.state(), chain.pool(), &best).expect("window")
}

#[test]
fn in_order_insert_restart_and_prune() {
    let p = pool(30);
    let (shares, mem) = tree(&p, 120, 1000, 0);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut chain = open(dir.path(), &p);
        let outcomes = insert_all(&mut chain, &shares);
        assert!(outcomes
            .iter()
            .all(|o| matches!(o, InsertOutcome::NewBest { reorg_depth: 0, .. })));
        assert_eq!(chain.best().unwrap().id, mem.best.unwrap());
        assert_eq!(
            chain.state().best_window().unwrap(),
            &mem.windows[&mem.best.unwrap()]
        );
        // Duplicates are recognised.
        let again = chain.insert(shares[5].clone(), T0).unwrap();
        assert!(matches!(again[0], InsertOutcome::Duplicate { .. }));
    }
    // Restart: the same tip and window, loaded without revalidation.
    let mut chain = open(dir.path(), &p);
    assert_eq!(chain.best().unwrap().id, mem.best.unwrap());
    assert_eq!(
        chain.state().best_window().unwrap(),
        &mem.windows[&mem.best.unwrap()]
    );
    assert_eq!(
        chain.store().share(&shares[3].id()).unwrap().unwrap(),
        shares[3]
    );
    // Prune to the window plus 10 below the tip (height 119): heights below 79 go.
    let pruned = chain.prune(10).unwrap();
    assert_eq!(pruned, 79);
    assert!(chain.store().share(&shares[10].id()).unwrap().is_none());
    // The chain continues after pruning and a restart.
    drop(chain);
    let mut chain = open(dir.path(), &p);
    // Built from the detached snapshot, which carries the share leaving the window.
    let snap = chain.tip_snapshot().unwrap();
    assert!(snap.leaving.is_some());
    let next = make_share(&p, &snap, Some(mem.best.unwrap()), 3, T0 + 1300, vec![], 99).unwrap();
    let out = chain.insert(next, T0 + 1300).unwrap();
    assert!(
        matches!(out[0], InsertOutcome::NewBest { reorg_depth: 0, .. }),
        "{out:?}"
    );
    assert_eq!(
        chain.state().best_window().unwrap(),
        &best_window_from_scratch(&chain)
    );
}

#[test]
fn longer_side_chain_overtakes_with_the_right_reorg_depth_and_payouts() {
    let p = pool(40);
    let mut mem = MemoryChain::new();
    let mut ids = Vec::new();
    let mut shares = Vec::new();
    let mut parent = None;
    for h in 0..20u64 {
        let s = make_share(&p, &mem, parent, (h % 3) as u32, T0 + 10 * h, vec![], h).unwrap();
        mem.validate_and_insert(&p, &s, T0 + 10 * h).unwrap();
        parent = Some(s.id());
        ids.push(s.id());
        shares.push(s);
    }
    // A branch from height 11 that ends two shares longer than the main chain (deep reorg: 8).
    let mut b = Some(ids[11]);
    let mut branch = Vec::new();
    for k in 0..10u64 {
        let s = make_share(&p, &mem, b, 9, T0 + 115 + 10 * k, vec![], 1000 + k).unwrap();
        mem.validate_and_insert(&p, &s, T0 + 400).unwrap();
        b = Some(s.id());
        branch.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    insert_all(&mut chain, &shares);
    let outcomes = insert_all(&mut chain, &branch);
    // Branch shares 12..=19 tie or trail; the 9th (height 20) overtakes, leaving 8 main shares.
    assert!(
        outcomes[..8]
            .iter()
            .all(|o| matches!(o, InsertOutcome::SideChain { .. })),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[8],
        InsertOutcome::NewBest {
            id: branch[8].id(),
            reorg_depth: 8
        }
    );
    assert_eq!(chain.best().unwrap().id, branch[9].id());
    assert_eq!(
        chain.state().best_window().unwrap(),
        &best_window_from_scratch(&chain)
    );
    assert_eq!(
        chain.state().best_window().unwrap(),
        &mem.windows[&branch[9].id()]
    );
}

#[test]
fn locator_headers_found_blocks_and_address_book() {
    let p = pool(30);
    let (shares, mem) = tree(&p, 200, 1000, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    insert_all(&mut chain, &shares);
    let loc = chain.locator();
    // 10 dense entries, then doubling steps down to genesis: about 10 + log2(190).
    assert_eq!(loc[0], mem.best.unwrap());
    assert_eq!(*loc.last().unwrap(), shares[0].id());
    assert!(loc.len() <= 20, "{}", loc.len());
    // A peer that has the chain up to height 149 gets 150.. onwards, capped by `max`.
    let peer_loc = vec![shares[149].id()];
    let h = chain.headers_after(&peer_loc, 20);
    assert_eq!(h.len(), 20);
    assert_eq!(h[0].height, 150);
    assert_eq!(h[19].id, shares[169].id());
    // Unknown locator: from the oldest loaded share; a huge max is capped.
    let all = chain.headers_after(&[ShareHash::all_zeros()], usize::MAX);
    assert_eq!(all.len(), 200);
    assert_eq!(all[0].height, 0);
    // Height range from the store.
    let ids = chain.store().ids_by_height(10, 14, 100).unwrap();
    assert_eq!(
        ids.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        vec![10, 11, 12, 13, 14]
    );
    // Found blocks and peers persist.
    let fb = otedama_sharechain::FoundBlock {
        share: shares[7].id(),
        parent_height: 107,
        reward: 5_000_000_000,
        time: T0 + 70,
        status: otedama_sharechain::BlockStatus::Rejected,
        reason: "bad-txnmrklroot ".repeat(30),
        attempts: 3,
    };
    chain.store().put_found_block(&fb).unwrap();
    // The reason is kept to its bound.
    let mut fb = fb;
    fb.reason.truncate(otedama_sharechain::MAX_BLOCK_REASON);
    chain
        .store()
        .put_peer(b"peer-a", b"/ip4/127.0.0.1/tcp/1")
        .unwrap();
    assert!(chain.store().put_peer(b"peer-b", &vec![0u8; 5000]).is_err());
    chain.store().put_ban(b"peer-bad", 1_900_000_000).unwrap();
    chain.store().put_ban(b"peer-gone", 1).unwrap();
    chain.store().remove_ban(b"peer-gone").unwrap();
    drop(chain);
    let chain = open(dir.path(), &p);
    assert_eq!(
        chain.store().bans().unwrap(),
        vec![(b"peer-bad".to_vec(), 1_900_000_000)]
    );
    assert_eq!(chain.store().found_blocks().unwrap(), vec![fb]);
    assert_eq!(
        chain.store().peers(10).unwrap(),
        vec![(b"peer-a".to_vec(), b"/ip4/127.0.0.1/tcp/1".to_vec())]
    );
}

#[test]
fn uncle_candidates_are_recent_stale_siblings_not_yet_included() {
    let p = pool(40);
    let (shares, mut mem) = tree(&p, 12, 1000, 0);
    let tip = mem.best.unwrap();
    let parent = shares[10].id();
    // Two stale siblings of the tip (children of height 10), one of height 9.
    let s1 = make_share(&p, &mem, Some(parent), 8, T0 + 111, vec![], 501).unwrap();
    let s2 = make_share(&p, &mem, Some(parent), 9, T0 + 112, vec![], 502).unwrap();
    let s3 = make_share(&p, &mem, Some(shares[8].id()), 9, T0 + 95, vec![], 503).unwrap();
    for s in [&s1, &s2, &s3] {
        mem.validate_and_insert(&p, s, T0 + 200).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    insert_all(&mut chain, &shares);
    insert_all(&mut chain, &[s1.clone(), s2.clone(), s3.clone()]);
    assert_eq!(chain.best().unwrap().id, tip);
    let mut expect = vec![s1.id(), s2.id(), s3.id()];
    expect.sort();
    assert_eq!(chain.uncle_candidates(), expect);
    // A share including them is valid, and afterwards they are no longer candidates.
    let next = make_share(
        &p,
        chain.state(),
        Some(tip),
        1,
        T0 + 120,
        expect.clone(),
        504,
    )
    .unwrap();
    let out = chain.insert(next, T0 + 200).unwrap();
    assert!(matches!(out[0], InsertOutcome::NewBest { .. }), "{out:?}");
    assert!(chain.uncle_candidates().is_empty());
}

#[test]
fn corrupt_and_foreign_stores_are_refused_clearly() {
    let p = pool(30);
    let (shares, _) = tree(&p, 5, 1000, 0);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut chain = open(dir.path(), &p);
        insert_all(&mut chain, &shares);
    }
    // Another pool's store.
    let other = PoolParams::preset(Chain::BitcoinRegtest, Preset::Mini);
    let mut other = other;
    other.pplns_window = 31;
    match Sharechain::open(dir.path(), other) {
        Err(StoreError::ForeignPool { .. }) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("foreign store opened"),
    }
    // A truncated index value (of the current format).
    {
        let chain = open(dir.path(), &p);
        chain
            .store()
            .put_raw_index(
                &shares[3].id(),
                &[otedama_sharechain::codec::INDEX_FORMAT, 2, 3],
            )
            .unwrap();
    }
    let err = Sharechain::open(dir.path(), p.clone())
        .err()
        .expect("corrupt store opened");
    let msg = err.to_string();
    assert!(
        matches!(err, StoreError::Corrupt { what: "index", .. }),
        "{msg}"
    );
    assert!(msg.contains("index") && msg.contains("ends early"), "{msg}");
    // A store of another layout version.
    let dir2 = tempfile::tempdir().unwrap();
    {
        let chain = open(dir2.path(), &p);
        chain
            .store()
            .put_raw_meta(b"version", &99u32.to_le_bytes())
            .unwrap();
    }
    match Sharechain::open(dir2.path(), p.clone()) {
        Err(StoreError::Version {
            found: 99,
            expected: otedama_sharechain::STORE_VERSION,
        }) => {}
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("versioned store opened"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any insertion order, orphans included, ends at the same best tip and the same payouts.
    #[test]
    fn any_insertion_order_gives_the_same_result(seed in any::<u64>()) {
        let p = pool(25);
        let (shares, mem) = tree(&p, 60, 7, 3);
        let mut order: Vec<usize> = (0..shares.len()).collect();
        // Fisher-Yates with a seeded xorshift.
        let mut x = seed | 1;
        for i in (1..order.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            order.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let dir = tempfile::tempdir().unwrap();
        let mut chain = open(dir.path(), &p);
        let shuffled: Vec<Share> = order.iter().map(|&i| shares[i].clone()).collect();
        let outcomes = insert_all(&mut chain, &shuffled);
        prop_assert!(outcomes.iter().all(|o| !matches!(o, InsertOutcome::Invalid { .. })), "{:?}", outcomes);
        prop_assert_eq!(chain.orphans().len(), 0);
        prop_assert_eq!(chain.state().len(), shares.len());
        prop_assert_eq!(chain.best().unwrap().id, mem.best.unwrap());
        prop_assert_eq!(chain.state().best_window().unwrap(), &mem.windows[&mem.best.unwrap()]);
        prop_assert_eq!(chain.state().best_window().unwrap(), &best_window_from_scratch(&chain));
        let _ = mem.share_info(&shares[0].id());
    }
}

#[test]
fn reorg_with_uncles_on_both_branches_keeps_payouts_exact() {
    let p = pool(40);
    let mut mem = MemoryChain::new();
    let mut all = Vec::new();
    let mine = |mem: &mut MemoryChain,
                parent: Option<ShareHash>,
                who: u32,
                now: u64,
                uncles: Vec<ShareHash>,
                n: u64,
                all: &mut Vec<Share>| {
        let s = make_share(&p, mem, parent, who, now, uncles, n).expect("share");
        mem.validate_and_insert(&p, &s, now).expect("valid");
        all.push(s.clone());
        s.id()
    };
    let mut parent = None;
    for h in 0..10u64 {
        parent = Some(mine(
            &mut mem,
            parent,
            (h % 3) as u32,
            T0 + 10 * h,
            vec![],
            h,
            &mut all,
        ));
    }
    let a10 = mine(&mut mem, parent, 1, T0 + 100, vec![], 100, &mut all);
    let b10 = mine(&mut mem, parent, 2, T0 + 101, vec![], 101, &mut all);
    // Each branch includes the other's first share as an uncle.
    let a11 = mine(&mut mem, Some(a10), 1, T0 + 110, vec![b10], 102, &mut all);
    let b11 = mine(&mut mem, Some(b10), 2, T0 + 111, vec![a10], 103, &mut all);
    let b12 = mine(&mut mem, Some(b11), 2, T0 + 120, vec![], 104, &mut all);
    let b13 = mine(&mut mem, Some(b12), 2, T0 + 130, vec![], 105, &mut all);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    let outcomes = insert_all(&mut chain, &all);
    assert_eq!(chain.best().unwrap().id, b13);
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, InsertOutcome::NewBest { reorg_depth: 2, .. })),
        "{outcomes:?}"
    );
    assert_eq!(
        chain.state().best_window().unwrap(),
        &best_window_from_scratch(&chain)
    );
    assert_eq!(chain.state().best_window().unwrap(), &mem.windows[&b13]);
    // The next share on b13 may include a11 (off the best chain, parent a10 is not on it: no)
    // -- nothing qualifies: a10 was included by b11 and a11's parent is off the best chain.
    assert!(chain.uncle_candidates().is_empty());
    // The uncle credits of both branches are in the index.
    assert_eq!(chain.state().share_info(&a11).unwrap().uncles[0].id, b10);
    assert_eq!(chain.state().share_info(&b11).unwrap().uncles[0].id, a10);
}

/// After a restart only the window is loaded, yet a peer syncing from nothing gets the whole
/// best chain from genesis (read from the store), in batches that continue from a locator
/// anywhere on it, deep or loaded; after pruning, from the oldest share kept.
#[test]
fn best_ids_reach_below_the_loaded_index() {
    let p = pool(30);
    let (shares, mem) = tree(&p, 200, 40, 3);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut chain = open(dir.path(), &p);
        insert_all(&mut chain, &shares);
    }
    let mut chain = open(dir.path(), &p);
    assert!(
        chain.state().len() < 100,
        "only the window and margin are loaded"
    );
    let best = mem.best.unwrap();
    let expected: Vec<ShareHash> = (0..200)
        .map(|h| mem.ancestor_at(&best, h).unwrap().id)
        .collect();
    let (start, first) = chain.best_ids_after(&[], 64).unwrap();
    assert_eq!((start, first.as_slice()), (0, &expected[..64]));
    // Continue from a deep id, then from a loaded one; a side-branch id is not on the best
    // chain and is skipped in favour of the next locator entry.
    let side = shares
        .iter()
        .map(|s| s.id())
        .find(|id| !expected.contains(id))
        .unwrap();
    let (start, next) = chain.best_ids_after(&[side, expected[63]], 100).unwrap();
    assert_eq!((start, next.as_slice()), (64, &expected[64..164]));
    let (start, rest) = chain.best_ids_after(&[expected[163]], 1500).unwrap();
    assert_eq!((start, rest.as_slice()), (164, &expected[164..]));
    let (_, none) = chain.best_ids_after(&[expected[199]], 10).unwrap();
    assert!(none.is_empty());
    // Pruned: a locator with nothing on our chain gets no ids and the height of our oldest
    // share (the signal to ask for a trusted base); a locator that meets the kept part continues.
    chain.prune(10).unwrap();
    drop(chain);
    let mut chain = open(dir.path(), &p);
    let oldest = 200 - 1 - 30 - 10;
    let (start, ids) = chain.best_ids_after(&[], 1500).unwrap();
    assert_eq!((start, ids.len()), (oldest, 0));
    let (start, ids) = chain.best_ids_after(&[expected[10]], 1500).unwrap();
    assert_eq!((start, ids.len()), (oldest, 0));
    let (start, ids) = chain
        .best_ids_after(&[expected[oldest as usize + 5]], 1500)
        .unwrap();
    assert_eq!(start, oldest + 6);
    assert_eq!(ids.as_slice(), &expected[start as usize..]);
}

/// The node's pruning (`prune_if_due`): the store keeps `prune_depth` shares below the tip (five
/// windows and the margins), prunes in steps of a window, and what it keeps validates new
/// shares, serves a base two windows deep, and loads after a restart.
#[test]
fn pruning_keeps_what_validation_and_joiners_need_across_a_restart() {
    use otedama_sharechain::chain::{prune_depth, prune_step};
    let p = pool(30);
    assert_eq!(prune_depth(&p), 5 * 30 + 3 + 16);
    assert_eq!(prune_step(&p), 30);
    let (shares, mem) = tree(&p, 400, 50, 2);
    let dir = tempfile::tempdir().unwrap();
    let best = mem.best.unwrap();
    {
        let mut chain = open(dir.path(), &p);
        insert_all(&mut chain, &shares);
        let keep_from = 399 - prune_depth(&p);
        let below = shares.iter().filter(|s| s.side.height < keep_from).count();
        assert_eq!(chain.prune_if_due().unwrap(), below);
        assert_eq!(chain.pruned_below(), keep_from);
        assert_eq!(chain.store().min_height().unwrap(), Some(keep_from));
        assert!(chain.store().share(&shares[0].id()).unwrap().is_none());
        // Not due again until another window has passed.
        assert_eq!(chain.prune_if_due().unwrap(), 0);
        // A base two windows below the tip is still there.
        let (base, info) = chain.base_for_peer().unwrap().expect("a base");
        assert_eq!(base.side.height, 399 - 60);
        assert_eq!(info, mem.infos[&base.id()].clone());
    }
    let mut chain = open(dir.path(), &p);
    assert_eq!(chain.best().unwrap().id, best);
    assert_eq!(chain.pruned_below(), 399 - prune_depth(&p));
    assert_eq!(best_window_from_scratch(&chain), mem.windows[&best]);
    let snap = chain.tip_snapshot().unwrap();
    let next = make_share(&p, &snap, Some(best), 3, T0 + 5000, vec![], 99).unwrap();
    let out = chain.insert(next, T0 + 5000).unwrap();
    assert!(matches!(out[0], InsertOutcome::NewBest { .. }), "{out:?}");
}

/// A joiner takes a base from a pruned peer, fetches the shares above it (payouts of the first
/// window unchecked, everything after in full), ends with the peer's tip and window, keeps its
/// base across a restart, and its next share is accepted by the peer. A share with wrong payouts
/// a window above the base is refused.
#[test]
fn a_trusted_base_syncs_a_pruned_chain_and_persists_across_a_restart() {
    let p = pool(30);
    let (shares, mem) = tree(&p, 400, 1000, 0);
    let server_dir = tempfile::tempdir().unwrap();
    let mut server = open(server_dir.path(), &p);
    insert_all(&mut server, &shares);
    assert!(server.prune_if_due().unwrap() > 0);
    let (base, info) = server.base_for_peer().unwrap().expect("a base");
    let b = base.side.height;
    assert_eq!(b, 399 - 60);

    let dir = tempfile::tempdir().unwrap();
    {
        let mut joiner = open(dir.path(), &p);
        // A base whose entry disagrees with its share is refused and leaves nothing behind.
        let mut bent = info.clone();
        bent.height += 1;
        assert!(joiner
            .insert_trusted_base(base.clone(), &bent, T0)
            .unwrap()
            .is_err());
        assert!(joiner.best().is_none());
        let out = joiner
            .insert_trusted_base(base.clone(), &info, T0)
            .unwrap()
            .unwrap();
        assert!(matches!(out[0], InsertOutcome::NewBest { .. }));
        assert_eq!(joiner.trusted_base(), Some(base.id()));
        let above: Vec<Share> = shares
            .iter()
            .filter(|s| s.side.height > b)
            .cloned()
            .collect();
        let out = insert_all(&mut joiner, &above);
        assert!(
            out.iter()
                .all(|o| matches!(o, InsertOutcome::NewBest { .. })),
            "{out:?}"
        );
        assert_eq!(joiner.partially_validated(), 29);
        assert_eq!(joiner.best().unwrap(), server.best().unwrap());
        assert_eq!(
            joiner.state().best_window().unwrap(),
            server.state().best_window().unwrap()
        );
        // The joiner serves what it has: our own locator meets its chain, an empty one gets the
        // pruned signal (its oldest share is the base).
        let (start, ids) = joiner.best_ids_after(&[], 100).unwrap();
        assert_eq!((start, ids.len()), (b, 0));
    }
    let mut joiner = open(dir.path(), &p);
    assert_eq!(joiner.trusted_base(), Some(base.id()));
    assert_eq!(joiner.best().unwrap().id, mem.best.unwrap());
    assert_eq!(
        best_window_from_scratch(&joiner),
        mem.windows[&mem.best.unwrap()]
    );
    // Wrong payouts on the tip (a window above the base) are refused.
    let mut snap = joiner.tip_snapshot().unwrap();
    let (script, w) = snap
        .window
        .iter()
        .next()
        .map(|(s, w)| (s.clone(), w))
        .unwrap();
    snap.window.add(&script, w);
    let tip = mem.best.unwrap();
    let bad = make_share(&p, &snap, Some(tip), 3, T0 + 5000, vec![], 98).unwrap();
    let out = joiner.insert(bad, T0 + 5000).unwrap();
    assert!(
        matches!(
            &out[0],
            InsertOutcome::Invalid {
                reason: otedama_consensus::RejectReason::WrongPayouts,
                ..
            }
        ),
        "{out:?}"
    );
    // The joiner's own next share is valid for the server.
    let snap = joiner.tip_snapshot().unwrap();
    let next = make_share(&p, &snap, Some(tip), 3, T0 + 5000, vec![], 99).unwrap();
    let out = joiner.insert(next.clone(), T0 + 5000).unwrap();
    assert!(matches!(out[0], InsertOutcome::NewBest { .. }), "{out:?}");
    let out = server.insert(next, T0 + 5000).unwrap();
    assert!(matches!(out[0], InsertOutcome::NewBest { .. }), "{out:?}");
    // Once the base is pruned away, the mark goes with it.
    let mut parent = joiner.best().unwrap().id;
    for k in 0..300u64 {
        let snap = joiner.tip_snapshot().unwrap();
        let s = make_share(
            &p,
            &snap,
            Some(parent),
            (k % 4) as u32,
            T0 + 5010 + 10 * k,
            vec![],
            200 + k,
        )
        .unwrap();
        parent = s.id();
        joiner.insert(s, T0 + 10_000).unwrap();
    }
    assert!(joiner.prune_if_due().unwrap() > 0);
    assert_eq!(joiner.trusted_base(), None);
    drop(joiner);
    let joiner = open(dir.path(), &p);
    assert_eq!(joiner.trusted_base(), None);
    assert_eq!(joiner.best().unwrap().id, parent);
}

/// Two branches longer than the window that fork below what start-up loads: after a restart the
/// node reads the fork's ancestry back from the store, validates the branch, and adopts it when
/// it is heavier, with the payouts the reference chain computes.
#[test]
fn a_fork_deeper_than_the_loaded_range_is_read_back_and_adopted_after_a_restart() {
    let p = pool(30);
    let mut mem = MemoryChain::new();
    let mut main = Vec::new();
    let mut parent = None;
    for h in 0..150u64 {
        let s = make_share(&p, &mem, parent, (h % 4) as u32, T0 + 10 * h, vec![], h).unwrap();
        mem.validate_and_insert(&p, &s, T0 + 10 * h).unwrap();
        parent = Some(s.id());
        main.push(s);
    }
    // A branch from height 60: 89 shares below the main tip, far below the 49 loaded.
    let mut b = Some(main[60].id());
    let mut branch = Vec::new();
    for k in 0..100u64 {
        let t = T0 + 605 + 10 * k;
        let s = make_share(&p, &mem, b, 10 + (k % 3) as u32, t, vec![], 10_000 + k).unwrap();
        mem.validate_and_insert(&p, &s, t).unwrap();
        b = Some(s.id());
        branch.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    insert_all(&mut chain, &main);
    assert_eq!(chain.best().unwrap().id, main[149].id());
    drop(chain);

    let mut chain = open(dir.path(), &p);
    assert_eq!(chain.best().unwrap().id, main[149].id());
    assert!(
        !chain.state().contains(&main[60].id()),
        "the fork point is below the loaded range"
    );
    let outcomes = insert_all(&mut chain, &branch);
    assert!(
        !outcomes.iter().any(|o| matches!(
            o,
            InsertOutcome::Invalid { .. } | InsertOutcome::Orphan { .. }
        )),
        "{:?}",
        outcomes
            .iter()
            .filter(|o| !matches!(o, InsertOutcome::SideChain { .. }))
            .collect::<Vec<_>>()
    );
    assert!(outcomes.iter().any(|o| matches!(
        o,
        InsertOutcome::NewBest {
            reorg_depth: 89,
            ..
        }
    )));
    let tip = branch.last().unwrap().id();
    assert_eq!(chain.best().unwrap().id, tip);
    assert_eq!(chain.state().best_window().unwrap(), &mem.windows[&tip]);
    assert_eq!(
        chain.state().best_window().unwrap(),
        &best_window_from_scratch(&chain)
    );
}

/// A side chain taller than the best chain (more shares, less work) must not push the best
/// chain out of what start-up loads: the node restarts on its best tip with its exact window.
#[test]
fn start_up_loads_below_the_best_tip_not_the_tallest_share() {
    let p = pool(30);
    let (shares, _) = tree(&p, 120, 1000, 0);
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    insert_all(&mut chain, &shares);
    let best = chain.best().unwrap().clone();
    let window = chain.state().best_window().unwrap().clone();
    // A stored share far above the best tip with less work (as a cheap tall side chain leaves).
    let tall = shares[5].clone();
    let mut info = chain.state().share_info(&shares[5].id()).unwrap().clone();
    info.height = 100_000;
    chain.store().put_share(&tall, &info, None).unwrap();
    drop(chain);
    let chain = open(dir.path(), &p);
    assert_eq!(chain.best().unwrap().id, best.id);
    assert_eq!(chain.state().best_window().unwrap(), &window);
    assert!(chain.state().len() >= 49);
}

/// The in-memory index stays bounded while the chain grows; trimmed shares stay in the store,
/// a fork below the trimmed range is still read back, and a restart sees the same best tip.
#[test]
fn memory_is_trimmed_to_the_window_and_trimmed_shares_stay_usable() {
    let p = pool(30);
    let mut mem = MemoryChain::new();
    let mut main = Vec::new();
    let mut parent = None;
    for h in 0..1200u64 {
        let s = make_share(&p, &mem, parent, (h % 4) as u32, T0 + 10 * h, vec![], h).unwrap();
        let info = mem.validate_and_insert(&p, &s, T0 + 10 * h).unwrap();
        if h > 0 {
            mem.windows.remove(&info.prev);
        }
        parent = Some(s.id());
        main.push(s);
    }
    let dir = tempfile::tempdir().unwrap();
    let mut chain = open(dir.path(), &p);
    let mut peak = 0;
    let mut trimmed = 0;
    for s in &main {
        chain.insert(s.clone(), T0 + 1_000_000).unwrap();
        trimmed += chain.trim_memory();
        peak = peak.max(chain.state().len());
    }
    // 30 + 3 + 16 below the tip, plus at most one trim step.
    assert!(
        peak <= 49 + 1 + otedama_sharechain::TRIM_STEP as usize,
        "{peak}"
    );
    assert!(trimmed >= 1000, "{trimmed}");
    assert!(chain.store().share(&main[10].id()).unwrap().is_some());
    assert_eq!(
        chain.state().best_window().unwrap(),
        &best_window_from_scratch(&chain)
    );
    // The locator still reaches genesis, through the store.
    assert!(chain.locator().contains(&main[0].id()));
    let tip = chain.best().unwrap().id;
    drop(chain);
    let chain = open(dir.path(), &p);
    assert_eq!(chain.best().unwrap().id, tip);
}
