//! A memo of payout derivations: the curve work of a Monero share's payout check done once per
//! payee and Monero parent instead of once per payee and share.
//!
//! Why it pays. Checking a share's outputs costs two variable-base multiplications per payee
//! (`8·r·view`, and `r·spend` for a subaddress) and one fixed-base one per output
//! ([`keys::output_from_derivation`]): ~90 us a payee here, 18 ms a share at 200 payees, which a
//! syncing node pays for thousands of shares (docs/performance.md, "Monero share validation").
//! The transaction key `r` depends on the pool and the Monero parent only
//! ([`tx_key`](super::tx_key)), so every share built on one parent (about 12 at one share per
//! 10 s and a block per 2 minutes) has the same `r`, and the same payees at the same positions:
//! consecutive shares of a window mostly pay the same list. Monero P2Pool keeps the same kind of
//! cache for the same reason.
//!
//! A memo never changes an answer: each entry is the value of a pure function of its key (the
//! transaction key is part of every key), so a node with a cold memo, a warm one or none derives
//! the same outputs, and two nodes agree bit for bit whatever their memos hold. Every limit is
//! explicit: [`MEMO_TX_KEYS`] transaction keys (least recently used dropped first), and per key at
//! most [`MEMO_PAYEES_PER_KEY`] payees and [`MEMO_OUTPUTS_PER_KEY`] outputs (the key's memo is
//! emptied when it would exceed them), under 6 MiB in all.

use super::hash::Hash32;
use super::keys::DerivedOutput;
use super::payee::Payee;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Transaction keys remembered. Shares arrive in chain order during a sync (one key at a time,
/// each used by ~12 consecutive shares) and from at most a few competing Monero tips at the
/// sharechain's tip (the current parent, the previous one for shares mined just before a block,
/// a Monero reorg's rival): 4 covers that with room.
pub const MEMO_TX_KEYS: usize = 4;

/// Payees remembered per transaction key: the most a share pays (`PoolParams`'
/// `max_payout_outputs` is at most 1,000) with room for the window's turnover while one Monero
/// parent lasts.
pub const MEMO_PAYEES_PER_KEY: usize = 2_048;

/// Outputs (payee at a position) remembered per transaction key. A payee moves when one sorted
/// before it enters or leaves the window, so one key sees each payee at a few positions: four
/// full lists.
pub const MEMO_OUTPUTS_PER_KEY: usize = 4_096;

/// The two variable-base multiplications of a payee under one transaction key: the derivation
/// `8·r·view` and, for a subaddress, its transaction key `r·spend`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayeeDerivation {
    pub derivation: Hash32,
    pub subaddress_tx_key: Option<Hash32>,
}

/// What the memo knows of one payee at one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// The output itself (and its payee's derivation).
    Output(PayeeDerivation, DerivedOutput),
    /// The payee's derivation, not the output at this position.
    Derivation(PayeeDerivation),
    Nothing,
}

/// Everything remembered under one transaction key.
struct KeyMemo {
    tx_secret: Hash32,
    derivations: HashMap<Payee, PayeeDerivation>,
    outputs: HashMap<(Payee, u64), DerivedOutput>,
}

/// The memo. Interior mutability because validation sees the chain through `&self`
/// ([`ChainView::derivation_memo`](crate::chain_view::ChainView::derivation_memo)); the lock is
/// held for lookups and inserts only, never while deriving.
#[derive(Default)]
pub struct DerivationMemo {
    /// Least recently used first.
    keys: Mutex<VecDeque<KeyMemo>>,
}

/// A copy starts empty: a memo is a cache, and two chains sharing one would only contend.
impl Clone for DerivationMemo {
    fn clone(&self) -> Self {
        DerivationMemo::default()
    }
}

impl std::fmt::Debug for DerivationMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DerivationMemo")
            .field("tx_keys", &self.lock().len())
            .finish()
    }
}

impl DerivationMemo {
    /// A poisoned lock (a panic elsewhere while holding it) only means a half-made insert of
    /// correct values: the memo stays usable.
    fn lock(&self) -> MutexGuard<'_, VecDeque<KeyMemo>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What is known of each `payees[i]` at position `i` under `tx_secret`, in order.
    pub fn lookup(&self, tx_secret: &Hash32, payees: &[(Payee, u64)]) -> Vec<Known> {
        let mut keys = self.lock();
        let Some(at) = keys.iter().position(|k| k.tx_secret == *tx_secret) else {
            return vec![Known::Nothing; payees.len()];
        };
        // Most recently used goes last.
        if let Some(k) = keys.remove(at) {
            keys.push_back(k);
        }
        let Some(k) = keys.back() else {
            return vec![Known::Nothing; payees.len()];
        };
        payees
            .iter()
            .enumerate()
            .map(|(i, (payee, _))| match k.derivations.get(payee) {
                None => Known::Nothing,
                Some(d) => match k.outputs.get(&(*payee, i as u64)) {
                    Some(o) => Known::Output(*d, *o),
                    None => Known::Derivation(*d),
                },
            })
            .collect()
    }

    /// Remembers each `(position, payee, derived)` under `tx_secret`. The key becomes the most
    /// recently used; the least recently used beyond [`MEMO_TX_KEYS`] is dropped.
    pub fn record<'a>(
        &self,
        tx_secret: &Hash32,
        entries: impl IntoIterator<Item = (u64, &'a Payee, &'a (PayeeDerivation, DerivedOutput))>,
    ) {
        let mut keys = self.lock();
        let mut k = match keys.iter().position(|k| k.tx_secret == *tx_secret) {
            Some(at) => keys.remove(at).unwrap_or_else(|| KeyMemo::new(tx_secret)),
            None => KeyMemo::new(tx_secret),
        };
        for (i, payee, (derivation, output)) in entries {
            if k.derivations.len() >= MEMO_PAYEES_PER_KEY || k.outputs.len() >= MEMO_OUTPUTS_PER_KEY
            {
                // Derivations and outputs are emptied together, so an output in the memo
                // always has its payee's derivation beside it (what `lookup` relies on).
                k.derivations.clear();
                k.outputs.clear();
            }
            k.derivations.insert(*payee, *derivation);
            k.outputs.insert((*payee, i), *output);
        }
        keys.push_back(k);
        while keys.len() > MEMO_TX_KEYS {
            keys.pop_front();
        }
    }

    /// Transaction keys remembered now (for tests and stats).
    pub fn tx_keys(&self) -> usize {
        self.lock().len()
    }
}

impl KeyMemo {
    fn new(tx_secret: &Hash32) -> KeyMemo {
        KeyMemo {
            tx_secret: *tx_secret,
            derivations: HashMap::new(),
            outputs: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payee(n: u8) -> (Payee, u64) {
        (
            Payee {
                subaddress: false,
                spend: [n; 32],
                view: [n ^ 0xff; 32],
            },
            1,
        )
    }

    /// Records `derived[i]` for `list[i]` at position `i`, skipping errors, as `derive_all`
    /// does.
    fn record(
        memo: &DerivationMemo,
        r: &Hash32,
        list: &[(Payee, u64)],
        derived: &[Result<(PayeeDerivation, DerivedOutput), ()>],
    ) {
        memo.record(
            r,
            list.iter()
                .zip(derived)
                .enumerate()
                .filter_map(|(i, ((p, _), d))| Some((i as u64, p, d.as_ref().ok()?))),
        );
    }

    fn entry(n: u8) -> Result<(PayeeDerivation, DerivedOutput), ()> {
        Ok((
            PayeeDerivation {
                derivation: [n; 32],
                subaddress_tx_key: None,
            },
            DerivedOutput {
                key: [n.wrapping_add(1); 32],
                view_tag: n,
                subaddress_tx_key: None,
            },
        ))
    }

    #[test]
    fn remembers_by_key_payee_and_position() {
        let memo = DerivationMemo::default();
        let (r, other) = ([1; 32], [2; 32]);
        let list = [payee(1), payee(2)];
        assert_eq!(memo.lookup(&r, &list), vec![Known::Nothing; 2]);
        record(&memo, &r, &list, &[entry(1), Err(())]);
        let known = memo.lookup(&r, &list);
        let (d1, o1) = entry(1).unwrap();
        assert_eq!(known, vec![Known::Output(d1, o1), Known::Nothing]);
        // The same payee at another position: its derivation, not the output.
        assert_eq!(
            memo.lookup(&r, &[payee(2), payee(1)]),
            vec![Known::Nothing, Known::Derivation(d1)]
        );
        // Another transaction key knows nothing.
        assert_eq!(memo.lookup(&other, &list), vec![Known::Nothing; 2]);
    }

    #[test]
    fn keeps_the_most_recently_used_keys() {
        let memo = DerivationMemo::default();
        let list = [payee(1)];
        for k in 0..MEMO_TX_KEYS as u8 {
            record(&memo, &[k; 32], &list, &[entry(1)]);
        }
        // Key 0 used again: key 1 is now the least recently used and goes first.
        assert!(matches!(memo.lookup(&[0; 32], &list)[0], Known::Output(..)));
        record(&memo, &[0xee; 32], &list, &[entry(1)]);
        assert_eq!(memo.tx_keys(), MEMO_TX_KEYS);
        assert!(matches!(memo.lookup(&[0; 32], &list)[0], Known::Output(..)));
        assert_eq!(memo.lookup(&[1; 32], &list)[0], Known::Nothing);
    }

    #[test]
    fn a_full_key_memo_is_emptied_not_grown() {
        let memo = DerivationMemo::default();
        let r = [9; 32];
        // One payee at more positions than the limit allows.
        let list: Vec<_> = (0..MEMO_OUTPUTS_PER_KEY + 10).map(|_| payee(3)).collect();
        let derived: Vec<_> = list.iter().map(|_| entry(3)).collect();
        record(&memo, &r, &list, &derived);
        let known = memo.lookup(&r, &list);
        let outputs = known
            .iter()
            .filter(|k| matches!(k, Known::Output(..)))
            .count();
        assert!(outputs <= MEMO_OUTPUTS_PER_KEY);
        // The last ones recorded are there (emptied at the limit, then refilled).
        assert!(matches!(known[list.len() - 1], Known::Output(..)));
        assert_eq!(outputs, 10);
    }

    #[test]
    fn a_copy_starts_empty() {
        let memo = DerivationMemo::default();
        record(&memo, &[1; 32], &[payee(1)], &[entry(1)]);
        assert_eq!(memo.clone().tx_keys(), 0);
        assert_eq!(memo.tx_keys(), 1);
    }
}
