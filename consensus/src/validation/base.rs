//! Trusted bases: how a node joins a pool whose peers have pruned the chain's beginning
//! (docs/consensus.md section 13, Monero P2Pool's approach).
//!
//! A joiner takes one share from a peer together with its index entry, checks everything the
//! share proves on its own and every index field that follows from the share, and trusts the
//! rest (cumulative work, the retarget anchor, the uncles' credits). Shares above the base are
//! then validated in full except the one check whose inputs reach below the base: the payouts
//! of the first `pplns_window - 1` shares above it ([`payouts_cross_base`]).

use super::stateless::is_valid_payee;
use super::{check_stateless, RejectReason};
use crate::chain_view::{ChainView, ShareInfo};
use crate::pool::PoolParams;
use crate::pow::PowHasher;
use crate::share::Share;
use crate::work::Work;

/// A base must lie at least this many PPLNS windows below the serving peer's tip. Why two: the
/// first window above the base is validated without payouts, the second in full, so the
/// joiner's tip window (the one its own shares pay from) lies wholly in the fully checked part,
/// and a peer cannot hand a fresh node a base next to a tip it invented: it would have to
/// produce two windows of valid shares on it, at the pool's difficulty, to be taken.
pub const MIN_BASE_DEPTH_WINDOWS: u64 = 2;

/// How many heights below `MIN_BASE_DEPTH_WINDOWS` windows a serving peer looks for a base whose
/// children include no uncle at or below it (such an uncle could never be validated by the
/// joiner: its parent is below the base). With a few per cent of stale shares a clean height is
/// found within a handful; 64 is far beyond that and cheap (index reads only).
pub const MAX_BASE_SEARCH: u64 = 64;

/// Why a claimed base is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    /// The share itself fails stateless validation.
    #[error("base share is invalid: {0}")]
    Share(RejectReason),
    /// An index field that follows from the share does not.
    #[error("base index entry disagrees with the share on {0}")]
    Mismatch(&'static str),
    /// A trusted field no chain can have.
    #[error("base index entry is implausible: {0}")]
    Implausible(&'static str),
}

/// Checks a base `share` and the index entry `claimed` a peer sent with it, and returns the
/// entry to store. Verified: the share's stateless rules, and that id, prev, height, timestamp,
/// bits, work, parent height, payout script and uncle ids are the share's own. Bounded but
/// trusted: the cumulative work (at least `height + 1` floor shares plus the uncles' work), the
/// retarget anchor (a floor share's is its parent; any other's lies below it and not later in
/// time), the uncle credits (standard scripts, at least floor work each).
pub fn check_trusted_base(
    pool: &PoolParams,
    share: &Share,
    claimed: &ShareInfo,
    pow: &dyn PowHasher,
) -> Result<ShareInfo, BaseError> {
    let checked = check_stateless(pool, share, pow).map_err(BaseError::Share)?;
    let side = &share.side;
    let derived = [
        (claimed.id == checked.id, "id"),
        (claimed.prev == side.prev_share, "parent"),
        (claimed.height == side.height, "height"),
        (claimed.timestamp == side.timestamp, "timestamp"),
        (claimed.share_bits == side.share_bits, "target"),
        (claimed.work == checked.work, "work"),
        (
            claimed.parent_height == side.parent_height,
            "parent-chain height",
        ),
        (claimed.payout_script == side.payout_script, "payout script"),
        (
            claimed.uncles.len() == side.uncles.len()
                && claimed
                    .uncles
                    .iter()
                    .zip(&side.uncles)
                    .all(|(c, u)| c.id == *u),
            "uncles",
        ),
    ];
    if let Some((_, what)) = derived.iter().find(|(ok, _)| !ok) {
        return Err(BaseError::Mismatch(what));
    }
    let floor_work = pool.max_target().work();
    let mut least = Work(floor_work.0.saturating_mul(u128::from(side.height) + 1));
    for u in &claimed.uncles {
        if u.work.0 < floor_work.0 {
            return Err(BaseError::Implausible("uncle work below the floor"));
        }
        if !is_valid_payee(pool.chain.family(), &u.script) {
            return Err(BaseError::Implausible("uncle payout script"));
        }
        least = least.saturating_add(u.work);
    }
    if claimed.cumulative_work.0 < least.0 {
        return Err(BaseError::Implausible(
            "cumulative work below its height's minimum",
        ));
    }
    let anchor_ok = match side.height {
        0 => claimed.anchor_height == 0 && claimed.anchor_time == side.timestamp,
        h if side.share_bits == pool.max_share_target => {
            claimed.anchor_height == h - 1 && claimed.anchor_time <= side.timestamp
        }
        h => claimed.anchor_height < h && claimed.anchor_time <= side.timestamp,
    };
    if !anchor_ok {
        return Err(BaseError::Implausible("retarget anchor"));
    }
    Ok(ShareInfo {
        // The skip pointer is a local index shortcut: the base's ancestors are not known, so it
        // points at the parent, where every walk stops.
        skip: side.prev_share,
        ..claimed.clone()
    })
}

/// Whether the payouts of `info` (a share being validated, or validated) cannot be checked in
/// `view` because its window's inputs reach below the view's trusted base: it descends from the
/// base `b` and `b < height < b + pplns_window`. The payout check of a share at `h` needs its
/// parent's window (heights `h - N .. h - 1`) and the share leaving it (`h - N`), so it is
/// complete from `h = b + N` on. Every other check of such a share runs as usual.
pub fn payouts_cross_base<V: ChainView + ?Sized>(
    pool: &PoolParams,
    view: &V,
    info: &ShareInfo,
) -> bool {
    let Some(base) = view.trusted_base() else {
        return false;
    };
    if info.height <= base.height || info.height >= base.height.saturating_add(pool.pplns_window) {
        return false;
    }
    view.ancestor_at(&info.prev, base.height)
        .is_some_and(|a| a.id == base.id)
}
