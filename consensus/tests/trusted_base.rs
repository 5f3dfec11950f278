//! Validation above a trusted base (docs/consensus.md section 13): a view that holds a base share
//! and what lies above it, not the base's ancestors. Exactly the payout check of the first
//! `pplns_window - 1` shares above the base is skipped; every other check runs, and a share with
//! wrong payouts a window above the base is refused.

mod common;

use common::pool;
use otedama_consensus::pplns::WindowWeights;
use otedama_consensus::testkit::{make_share, T0};
use otedama_consensus::validation::{
    check_contextual, check_stateless, check_trusted_base, payouts_cross_base, BaseError,
};
use otedama_consensus::{ChainView, MemoryChain, PoolParams, RejectReason, Share, ShareHash};
use otedama_consensus::{ShareInfo, Work};
use std::borrow::Cow;
use std::collections::HashMap;

const W: u64 = 10;
const BASE: u64 = 20;

/// What a joiner holds: index entries from the base up, windows rebuilt from them.
struct BaseView {
    pool: PoolParams,
    infos: HashMap<ShareHash, ShareInfo>,
    base: Option<ShareHash>,
}

impl ChainView for BaseView {
    fn share_info(&self, id: &ShareHash) -> Option<&ShareInfo> {
        self.infos.get(id)
    }
    fn window_weights(&self, id: &ShareHash) -> Option<Cow<'_, WindowWeights>> {
        let info = self.infos.get(id)?;
        WindowWeights::from_scratch(self, &self.pool, info).map(Cow::Owned)
    }
    fn trusted_base(&self) -> Option<&ShareInfo> {
        self.base.and_then(|b| self.infos.get(&b))
    }
}

/// A linear chain of `n` shares, five miners round-robin, 10 s apart.
fn chain(p: &PoolParams, n: u64) -> (Vec<Share>, MemoryChain) {
    let mut mem = MemoryChain::new();
    let mut shares: Vec<Share> = Vec::new();
    for h in 0..n {
        let parent = shares.last().map(|s| s.id());
        let now = T0 + 10 * h;
        let s = make_share(p, &mem, parent, (h % 5) as u32, now, vec![], h).expect("share");
        mem.validate_and_insert(p, &s, now).expect("valid");
        shares.push(s);
    }
    (shares, mem)
}

/// The joiner's view after taking `shares[BASE]` as its base (index entry as `full` has it).
fn joined(p: &PoolParams, shares: &[Share], full: &MemoryChain) -> BaseView {
    let base = &shares[BASE as usize];
    let info = check_trusted_base(p, base, &full.infos[&base.id()], p.chain.stateless_pow())
        .expect("base accepted");
    let mut infos = HashMap::new();
    infos.insert(info.id, info);
    BaseView {
        pool: p.clone(),
        infos,
        base: Some(base.id()),
    }
}

fn validate(p: &PoolParams, view: &BaseView, s: &Share) -> Result<ShareInfo, RejectReason> {
    let checked = check_stateless(p, s, p.chain.stateless_pow())?;
    check_contextual(p, view, s, &checked, T0 + 1_000_000)
}

#[test]
fn every_share_above_the_base_validates_to_the_same_index_entry() {
    let p = pool(W);
    let (shares, full) = chain(&p, 60);
    let mut view = joined(&p, &shares, &full);
    let mut skipped = 0;
    for s in &shares[BASE as usize + 1..] {
        let info = validate(&p, &view, s).unwrap_or_else(|e| panic!("{e}"));
        let want = &full.infos[&s.id()];
        // Cumulative work and anchor continue from the trusted entry: equal to the full chain's.
        assert_eq!(
            (info.cumulative_work, info.anchor_height, info.anchor_time),
            (want.cumulative_work, want.anchor_height, want.anchor_time)
        );
        if payouts_cross_base(&p, &view, &info) {
            skipped += 1;
            assert!(info.height < BASE + W);
        }
        view.infos.insert(info.id, info);
    }
    // Heights BASE + 1 ..= BASE + W - 1 skip their payout check; nothing else does.
    assert_eq!(skipped, W - 1);
    // Without the base mark the first share above it lacks its window: missing data, not a
    // skipped check.
    let unmarked = BaseView {
        base: None,
        ..joined(&p, &shares, &full)
    };
    assert_eq!(
        validate(&p, &unmarked, &shares[BASE as usize + 1]),
        Err(RejectReason::WindowUnavailable)
    );
}

/// A share on `parent` whose payouts are computed from a window with one miner's weight
/// doubled: wrong for the real chain.
fn wrong_payouts(p: &PoolParams, full: &MemoryChain, parent: ShareHash, nonce: u64) -> Share {
    let mut bent = full.clone();
    let mut w = bent.windows[&parent].clone();
    let (script, weight) = w.iter().next().map(|(s, w)| (s.clone(), w)).unwrap();
    w.add(&script, weight);
    bent.windows.insert(parent, w);
    let h = full.infos[&parent].height + 1;
    make_share(p, &bent, Some(parent), 9, T0 + 10 * h, vec![], 1000 + nonce).expect("share")
}

#[test]
fn wrong_payouts_pass_only_within_the_first_window_above_the_base() {
    let p = pool(W);
    let (shares, full) = chain(&p, 60);
    let mut view = joined(&p, &shares, &full);
    for s in &shares[BASE as usize + 1..] {
        let info = validate(&p, &view, s).unwrap();
        view.infos.insert(info.id, info);
    }
    // The full chain refuses all three.
    for parent_h in [BASE, BASE + W - 2, BASE + W - 1, BASE + W + 5] {
        let parent = shares[parent_h as usize].id();
        let bad = wrong_payouts(&p, &full, parent, parent_h);
        let checked = check_stateless(&p, &bad, p.chain.stateless_pow()).unwrap();
        assert_eq!(
            check_contextual(&p, &full, &bad, &checked, T0 + 1_000_000),
            Err(RejectReason::WrongPayouts),
            "parent height {parent_h}"
        );
        let on_base = validate(&p, &view, &bad);
        if parent_h + 1 < BASE + W {
            // Its window reaches below the base: payouts cannot be checked.
            assert!(on_base.is_ok(), "height {}: {on_base:?}", parent_h + 1);
        } else {
            assert_eq!(
                on_base,
                Err(RejectReason::WrongPayouts),
                "height {}",
                parent_h + 1
            );
        }
    }
}

#[test]
fn a_base_whose_fields_disagree_with_its_share_is_refused() {
    let p = pool(W);
    let (shares, full) = chain(&p, 30);
    let base = &shares[BASE as usize];
    let good = full.infos[&base.id()].clone();
    let bent = |f: &dyn Fn(&mut ShareInfo)| {
        let mut i = good.clone();
        f(&mut i);
        check_trusted_base(&p, base, &i, p.chain.stateless_pow())
    };
    assert_eq!(bent(&|i| i.height += 1), Err(BaseError::Mismatch("height")));
    assert_eq!(
        bent(&|i| i.timestamp += 1),
        Err(BaseError::Mismatch("timestamp"))
    );
    assert_eq!(
        bent(&|i| i.payout_script = otedama_consensus::testkit::script(77)),
        Err(BaseError::Mismatch("payout script"))
    );
    assert_eq!(
        bent(&|i| i.cumulative_work = Work(i.work.0)),
        Err(BaseError::Implausible(
            "cumulative work below its height's minimum"
        ))
    );
    assert_eq!(
        bent(&|i| i.anchor_height = i.height),
        Err(BaseError::Implausible("retarget anchor"))
    );
    assert_eq!(
        bent(&|i| i.anchor_time = base.side.timestamp + 1),
        Err(BaseError::Implausible("retarget anchor"))
    );
    // A share of another base is not this one.
    let mut other = shares[BASE as usize + 1].clone();
    other.side.height += 1;
    assert!(matches!(
        check_trusted_base(&p, &other, &good, p.chain.stateless_pow()),
        Err(BaseError::Share(_))
    ));
}

/// A lying anchor shows at the base's first child, which is not blamed for it.
#[test]
fn target_disagrees_with_trusted_base() {
    let p = pool(W);
    let (shares, full) = chain(&p, 30);
    let base = &shares[BASE as usize];
    let mut lie = full.infos[&base.id()].clone();
    // A plausible anchor (the parent's height, no later than the base) 10 s later than the
    // real one: the chain looks a share period ahead of schedule, so the child's target would
    // be harder than the floor the real child carries.
    assert_eq!(lie.anchor_height, BASE - 1);
    lie.anchor_time += 10;
    assert_eq!(lie.anchor_time, base.side.timestamp);
    let info = check_trusted_base(&p, base, &lie, p.chain.stateless_pow()).expect("plausible");
    let mut infos = HashMap::new();
    infos.insert(info.id, info);
    let view = BaseView {
        pool: p.clone(),
        infos,
        base: Some(base.id()),
    };
    match validate(&p, &view, &shares[BASE as usize + 1]) {
        Err(e @ RejectReason::TargetDisagreesWithTrustedBase { .. }) => {
            assert_eq!(
                e.severity(),
                otedama_consensus::validation::Severity::MissingData
            );
        }
        other => panic!("{other:?}"),
    }
}

/// Uncle rules run in full just above the base: the ancestor walk stops at the base instead of
/// calling its parent missing, and an uncle that is the base itself is still an ancestor.
#[test]
fn uncles_just_above_the_base_are_checked_in_full() {
    let p = pool(W);
    let (shares, mut full) = chain(&p, BASE + 2);
    let base = shares[BASE as usize].id();
    let main1 = shares[BASE as usize + 1].id();
    // A stale sibling of BASE + 1, then a share at BASE + 2 that includes it.
    let t = T0 + 10 * (BASE + 1) + 3;
    let uncle = make_share(&p, &full, Some(base), 8, t, vec![], 500).expect("uncle");
    full.validate_and_insert(&p, &uncle, t)
        .expect("valid uncle");
    let t2 = T0 + 10 * (BASE + 2);
    let nephew = make_share(&p, &full, Some(main1), 9, t2, vec![uncle.id()], 501).expect("nephew");
    full.validate_and_insert(&p, &nephew, t2)
        .expect("valid on the full chain");

    let mut view = joined(&p, &shares, &full);
    for s in [&shares[BASE as usize + 1], &uncle] {
        let info = validate(&p, &view, s).unwrap();
        view.infos.insert(info.id, info);
    }
    let info = validate(&p, &view, &nephew).expect("valid above the base");
    assert_eq!(info.uncles.len(), 1);
    assert_eq!(
        info.cumulative_work,
        full.infos[&nephew.id()].cumulative_work
    );
    // Naming the base as an uncle is still naming an ancestor (stateless checks pass: the
    // base is not the parent).
    let bad = make_share(&p, &full, Some(main1), 9, t2, vec![base], 502).expect("built");
    assert_eq!(
        validate(&p, &view, &bad),
        Err(RejectReason::UncleIsAncestor(base))
    );
}
