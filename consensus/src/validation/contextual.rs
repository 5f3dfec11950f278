//! Checks that need the sharechain.

use super::{Checked, RejectReason};
use crate::chain::monero::candidate::MoneroCandidate;
use crate::chain::monero::derivation_memo::DerivationMemo;
use crate::chain::monero::miner_tx::parse_miner_tx;
use crate::chain::monero::outputs::payouts_match_with;
use crate::chain::monero::payee::Payee;
use crate::chain_view::{ChainView, ShareInfo, UncleCredit};
use crate::pool::PoolParams;
use crate::pplns::with_share_payouts;
use crate::retarget::{anchor_after, next_share_bits, RetargetInput};
use crate::share::{Candidate, PayoutScript, Share};

/// Contextual checks of a share that passed [`super::check_stateless`]. Returns the index entry
/// to store. `now` is the validating node's clock (Unix seconds).
pub fn check_contextual<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    share: &Share,
    checked: &Checked,
    now: u64,
) -> Result<ShareInfo, RejectReason> {
    let side = &share.side;
    if side.timestamp > now.saturating_add(pool.max_future_secs) {
        return Err(RejectReason::TimestampInFuture);
    }

    let parent = if side.height == 0 {
        None
    } else {
        let parent = view
            .share_info(&side.prev_share)
            .ok_or(RejectReason::MissingParent(side.prev_share))?;
        if side.height != parent.height + 1 {
            return Err(RejectReason::WrongHeight {
                expected: parent.height + 1,
                got: side.height,
            });
        }
        if side.timestamp < parent.timestamp {
            return Err(RejectReason::TimestampBeforeParent);
        }
        Some(parent)
    };
    // The first share of a sharechain is at the floor and anchors the retarget.
    let (expected_bits, parent_cum) = match parent {
        None => (pool.max_share_target, crate::work::Work::ZERO),
        Some(p) => (
            next_share_bits(pool, &RetargetInput::child_of(p)),
            p.cumulative_work,
        ),
    };
    if side.share_bits != expected_bits {
        // The parent's anchor came with the trusted base (it lies below the base and every
        // share above it inherited it): the base's entry may be what is wrong (section 13).
        let from_base = match (parent, view.trusted_base()) {
            (Some(p), Some(b)) => {
                p.anchor_height < b.height
                    && view
                        .ancestor_at(&p.id, b.height)
                        .is_some_and(|a| a.id == b.id)
            }
            _ => false,
        };
        if from_base {
            return Err(RejectReason::TargetDisagreesWithTrustedBase {
                expected: expected_bits,
                got: side.share_bits,
            });
        }
        return Err(RejectReason::WrongTarget {
            expected: expected_bits,
            got: side.share_bits,
        });
    }

    let uncles = check_uncles(pool, view, share)?;
    let mut cumulative_work = parent_cum.saturating_add(checked.work);
    for u in &uncles {
        cumulative_work = cumulative_work.saturating_add(u.work);
    }

    let skip = if side.height == 0 {
        checked.id
    } else {
        // The skip pointer is an index shortcut, not consensus: when the ancestor at the skip
        // height is not loaded (pruned, or below what start-up loads), the parent serves,
        // because `ancestor_at` follows a pointer only towards a height it has checked.
        view.ancestor_at(
            &side.prev_share,
            crate::chain_view::skip_height(side.height),
        )
        .map_or(side.prev_share, |a| a.id)
    };
    let (anchor_height, anchor_time) = anchor_after(pool, side.share_bits, side.timestamp, parent);
    let info = ShareInfo {
        id: checked.id,
        prev: side.prev_share,
        height: side.height,
        timestamp: side.timestamp,
        share_bits: side.share_bits,
        work: checked.work,
        cumulative_work,
        anchor_height,
        anchor_time,
        parent_height: side.parent_height,
        payout_script: side.payout_script.clone(),
        uncles,
        skip,
    };

    // Above a trusted base the first `pplns_window - 1` shares have windows that reach below
    // it: their payouts cannot be checked and are taken as the chain has them (section 13).
    if !super::payouts_cross_base(pool, view, &info) {
        check_payouts(pool, view, share, checked, &info)?;
    }
    Ok(info)
}

/// Uncle rules: each uncle is known, 1..=depth below, not an ancestor, a child of an ancestor,
/// and not already included by an ancestor. O(uncles x depth).
fn check_uncles<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    share: &Share,
) -> Result<Vec<UncleCredit>, RejectReason> {
    let side = &share.side;
    let mut credits = Vec::with_capacity(side.uncles.len());
    if side.uncles.is_empty() {
        return Ok(credits);
    }
    if side.height == 0 {
        return Err(RejectReason::UncleNotSibling(side.uncles[0]));
    }
    // The parent's recent ancestors and the uncles they already included.
    let lowest = side.height.saturating_sub(pool.uncle_depth + 1);
    let mut recent: Vec<&ShareInfo> = Vec::with_capacity(pool.uncle_depth as usize + 2);
    let mut cur = view
        .share_info(&side.prev_share)
        .ok_or(RejectReason::MissingParent(side.prev_share))?;
    // The walk ends at a trusted base too: every check of an uncle above the base needs
    // ancestors at or above the uncle's parent only, so none is skipped; an uncle at or below
    // the base is unknown to the view (its parent is) and stays `MissingUncle`.
    let base = view.trusted_base().map(|b| b.id);
    loop {
        recent.push(cur);
        if cur.height <= lowest || cur.height == 0 || Some(cur.id) == base {
            break;
        }
        cur = view
            .share_info(&cur.prev)
            .ok_or(RejectReason::MissingParent(cur.prev))?;
    }
    let ancestor_at = |h: u64| recent.iter().find(|a| a.height == h).map(|a| a.id);

    for uncle_id in &side.uncles {
        let uncle = view
            .share_info(uncle_id)
            .ok_or(RejectReason::MissingUncle(*uncle_id))?;
        if uncle.height >= side.height || side.height - uncle.height > pool.uncle_depth {
            return Err(RejectReason::UncleDepth(*uncle_id));
        }
        if ancestor_at(uncle.height) == Some(*uncle_id) {
            return Err(RejectReason::UncleIsAncestor(*uncle_id));
        }
        let parent_ok = uncle.height > 0 && ancestor_at(uncle.height - 1) == Some(uncle.prev);
        if !parent_ok {
            return Err(RejectReason::UncleNotSibling(*uncle_id));
        }
        if recent
            .iter()
            .filter(|a| a.height > uncle.height)
            .any(|a| a.uncles.iter().any(|u| u.id == *uncle_id))
        {
            return Err(RejectReason::UncleAlreadyIncluded(*uncle_id));
        }
        credits.push(UncleCredit {
            id: *uncle_id,
            script: uncle.payout_script.clone(),
            work: uncle.work,
        });
    }
    Ok(credits)
}

/// The coinbase's payout outputs must equal the split of its value over the new window.
fn check_payouts<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    share: &Share,
    checked: &Checked,
    info: &ShareInfo,
) -> Result<(), RejectReason> {
    let matches = with_share_payouts(
        view,
        pool,
        info,
        &share.candidate.parent_prev_id(),
        checked.reward,
        |expected| match &share.candidate {
            Candidate::Bitcoin(c) => {
                let outputs =
                    &c.coinbase.output[..checked.payout_count.min(c.coinbase.output.len())];
                expected.len() == outputs.len()
                    && expected.iter().zip(outputs).all(|((script, amount), out)| {
                        out.value.to_sat() == *amount
                            && out.script_pubkey.as_bytes() == script.as_bytes()
                    })
            }
            Candidate::Monero(c) => {
                monero_payouts_match(pool, share, c, expected, view.derivation_memo())
            }
        },
    )
    .ok_or(RejectReason::WindowUnavailable)?;
    if !matches {
        return Err(RejectReason::WrongPayouts);
    }
    Ok(())
}

/// A Monero miner transaction pays `expected` when recomputing its outputs with the share's
/// deterministic transaction key gives the same keys, view tags, amounts and public keys.
/// `memo` (the view's) saves the curve work shares on one Monero parent have in common.
fn monero_payouts_match(
    pool: &PoolParams,
    share: &Share,
    c: &MoneroCandidate,
    expected: &[(&PayoutScript, u64)],
    memo: Option<&DerivationMemo>,
) -> bool {
    let Ok(parts) = parse_miner_tx(&c.miner_tx) else {
        return false;
    };
    let mut payees = Vec::with_capacity(expected.len());
    for (script, amount) in expected {
        // Invalid keys are refused by the derivation (an error: no match); a payee the memo
        // knows was derived from, so its keys were checked then.
        let Ok(payee) = Payee::from_bytes_keys_unchecked(script.as_bytes()) else {
            return false;
        };
        payees.push((payee, *amount));
    }
    payouts_match_with(
        &share.monero_tx_secret(pool, c),
        &payees,
        &parts.tx_public,
        &parts.additional,
        &c.miner_tx.outputs,
        memo,
    )
}
