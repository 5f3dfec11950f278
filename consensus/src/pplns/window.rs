//! The PPLNS window and its payout weights.
//!
//! The window of share S at height h holds S and its ancestors down to height h - N + 1
//! (N = `pplns_window`), each with the credits of [`ShareInfo::credits`]: its own work, its
//! uncles' work less the penalty, and the penalties. Moving from the parent's window to S's
//! adds S's credits and removes those of the ancestor at height h - N: O(uncles) map updates,
//! independent of N.

use crate::chain_view::{ChainView, ShareInfo};
use crate::pool::PoolParams;
use crate::share::PayoutScript;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Weight per payout script over one window, ordered by script bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowWeights {
    weights: BTreeMap<PayoutScript, u128>,
    total: u128,
}

impl WindowWeights {
    pub fn total(&self) -> u128 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    pub fn get(&self, script: &PayoutScript) -> u128 {
        self.weights.get(script).copied().unwrap_or(0)
    }

    /// Entries in script order.
    pub fn iter(&self) -> impl Iterator<Item = (&PayoutScript, u128)> {
        self.weights.iter().map(|(s, w)| (s, *w))
    }

    pub fn add(&mut self, script: &PayoutScript, weight: u128) {
        if weight == 0 {
            return;
        }
        match self.weights.get_mut(script) {
            Some(w) => *w += weight,
            None => {
                self.weights.insert(script.clone(), weight);
            }
        }
        self.total += weight;
    }

    /// Removes weight previously added; a script whose weight reaches zero leaves the map.
    /// Removing more than was added is a caller bug and saturates at zero.
    pub fn remove(&mut self, script: &PayoutScript, weight: u128) {
        if let Some(w) = self.weights.get_mut(script) {
            let taken = weight.min(*w);
            *w -= taken;
            self.total -= taken;
            if *w == 0 {
                self.weights.remove(script);
            }
        }
    }

    pub fn add_share(&mut self, info: &ShareInfo, penalty_percent: u8) {
        for (s, w) in info.credits(penalty_percent) {
            self.add(s, w);
        }
    }

    pub fn remove_share(&mut self, info: &ShareInfo, penalty_percent: u8) {
        for (s, w) in info.credits(penalty_percent) {
            self.remove(s, w);
        }
    }

    /// The window ending at `tip`, from scratch: O(N). For tests and for stores that have to
    /// rebuild a window they did not keep.
    pub fn from_scratch<V: ChainView + ?Sized>(
        view: &V,
        pool: &PoolParams,
        tip: &ShareInfo,
    ) -> Option<WindowWeights> {
        let mut w = WindowWeights::default();
        let mut cur = tip;
        for i in 0..pool.pplns_window {
            w.add_share(cur, pool.uncle_penalty_percent);
            // The window's last share needs no parent: a view that starts there (pruned, or
            // a trusted base) still has the whole window.
            if cur.height == 0 || i + 1 == pool.pplns_window {
                break;
            }
            cur = view.share_info(&cur.prev)?;
        }
        Some(w)
    }
}

/// The window of a new share `info` whose parent is in `view`: the parent's window plus the
/// share, minus the ancestor that falls out. `None` when the view lacks the parent's window or
/// the ancestor.
pub fn window_after<'a, V: ChainView + ?Sized>(
    view: &'a V,
    pool: &PoolParams,
    info: &ShareInfo,
) -> Option<Cow<'a, WindowWeights>> {
    let mut w = if info.height == 0 {
        WindowWeights::default()
    } else {
        view.window_weights(&info.prev)?.into_owned()
    };
    w.add_share(info, pool.uncle_penalty_percent);
    if info.height >= pool.pplns_window {
        let leaving = view.ancestor_at(&info.prev, info.height - pool.pplns_window)?;
        w.remove_share(leaving, pool.uncle_penalty_percent);
    }
    Some(Cow::Owned(w))
}

/// The window of a new share as a change over its parent's, without copying the parent's map:
/// what validation uses to stay O(changes + outputs) per share.
pub struct WindowDelta<'a> {
    pub base: Cow<'a, WindowWeights>,
    /// Signed changes, sorted by script.
    pub changes: Vec<(&'a PayoutScript, i128)>,
    pub total: u128,
}

impl<'a> WindowDelta<'a> {
    pub fn new<V: ChainView + ?Sized>(
        view: &'a V,
        pool: &PoolParams,
        info: &'a ShareInfo,
    ) -> Option<WindowDelta<'a>> {
        let base = if info.height == 0 {
            Cow::Owned(WindowWeights::default())
        } else {
            view.window_weights(&info.prev)?
        };
        let mut changes: Vec<(&PayoutScript, i128)> = Vec::with_capacity(16);
        for (s, w) in info.credits(pool.uncle_penalty_percent) {
            changes.push((s, w as i128));
        }
        if info.height >= pool.pplns_window {
            let leaving = view.ancestor_at(&info.prev, info.height - pool.pplns_window)?;
            for (s, w) in leaving.credits(pool.uncle_penalty_percent) {
                changes.push((s, -(w as i128)));
            }
        }
        changes.sort_by(|a, b| a.0.cmp(b.0));
        changes.dedup_by(|later, earlier| {
            if later.0 == earlier.0 {
                earlier.1 += later.1;
                true
            } else {
                false
            }
        });
        let mut total = base.total() as i128;
        for (_, d) in &changes {
            total += d;
        }
        Some(WindowDelta {
            base,
            changes,
            total: total.max(0) as u128,
        })
    }

    /// Merged entries in script order, zero weights skipped. Unchanged runs of the base are
    /// walked with range scans, so no script comparison is spent on them.
    pub fn for_each<'s>(&'s self, mut f: impl FnMut(&'s PayoutScript, u128)) {
        use std::ops::Bound::{Excluded, Unbounded};
        let base = &self.base.weights;
        let mut lower: std::ops::Bound<&PayoutScript> = Unbounded;
        for (script, change) in &self.changes {
            for (s, w) in base.range::<PayoutScript, _>((lower, Excluded(*script))) {
                f(s, *w);
            }
            let (key, old) = match base.get_key_value(*script) {
                Some((k, w)) => (k, *w as i128),
                None => (*script, 0),
            };
            let new = old + change;
            if new > 0 {
                f(key, new as u128);
            }
            lower = Excluded(*script);
        }
        for (s, w) in base.range::<PayoutScript, _>((lower, Unbounded)) {
            f(s, *w);
        }
    }
}
