//! The outputs of a share's miner transaction: one tagged one-time key per payee, in the given
//! order, and the transaction public keys a wallet needs to find them.
//!
//! The transaction keys follow Monero's wallet rules (`construct_tx_with_tx_key` and
//! `classify_addresses` in `src/cryptonote_core/cryptonote_tx_utils.cpp`), so that
//! `monero-wallet-rpc` recognises every payout, as tests/tests/monerod_block.rs shows against a
//! real wallet. With `r` the transaction secret key ([`tx_key`](super::tx_key)), counting
//! *distinct* destinations (by their keys; the first occurrence's kind counts, as in
//! `classify_addresses`):
//!
//! * main key `R = r·G`, except when the only destination is one subaddress `(D, C)`: then
//!   `R = r·D` (the wallet's `8·a·R = 8·r·C` is the derivation);
//! * additional keys (`tx_extra` tag 0x04, one per output) iff there is a subaddress destination
//!   and also a standard one or a second subaddress. Output `i` to a subaddress then has the
//!   additional key `r·D_i` and derivation `8·r·C_i`; output `i` to a standard address has the
//!   additional key `r·G` (= `R`; a wallet tries the main key and the output's additional key)
//!   and derivation `8·r·A_i`.
//!
//! Monero's wallet draws a fresh random `r_i` per additional key; one `r` for all is what the
//! real wallet was shown to accept and keeps everything derivable from the one deterministic key.
//!
//! Output `i` (0-based, the position in the miner transaction) has the one-time key
//! `Hs(D_i || varint i)·G + B_i` and view tag `Keccak("view_tag" || D_i || varint i)[0]`
//! ([`keys::derive_output`]), as a `txout_to_tagged_key` (the only output type from hard fork 16).

use super::block::{OutputTarget, TxOut};
use super::derivation_memo::{DerivationMemo, Known, PayeeDerivation};
use super::hash::Hash32;
use super::keys::{self, KeyError};
use super::payee::Payee;
use std::collections::BTreeSet;

/// What a payee list and a transaction key put in the miner transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayoutOutputs {
    /// The main transaction public key (`tx_extra` tag 0x01).
    pub tx_public: Hash32,
    /// One key per output when additional keys are needed (`tx_extra` tag 0x04), else empty.
    pub additional: Vec<Hash32>,
    /// The outputs, in the payees' order.
    pub outputs: Vec<TxOut>,
}

/// Which keys a payee list needs (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyPlan {
    /// `R = r·G`, no additional keys.
    Main,
    /// A single subaddress destination: `R = r·D`, no additional keys.
    SingleSubaddress,
    /// `R = r·G` and one additional key per output.
    Additional,
}

fn key_plan(payees: &[(Payee, u64)]) -> KeyPlan {
    let mut seen = BTreeSet::new();
    let (mut standard, mut sub) = (0usize, 0usize);
    for (p, _) in payees {
        if seen.insert((p.spend, p.view)) {
            if p.subaddress {
                sub += 1;
            } else {
                standard += 1;
            }
        }
    }
    match (standard, sub) {
        (_, 0) => KeyPlan::Main,
        (0, 1) => KeyPlan::SingleSubaddress,
        _ => KeyPlan::Additional,
    }
}

/// The outputs paying `payees` (each with its amount) from a transaction with secret key
/// `tx_secret`, and the transaction public keys. An error if `tx_secret` is not a reduced
/// scalar or a payee key is not a valid point.
pub fn payout_outputs(
    tx_secret: &[u8; 32],
    payees: &[(Payee, u64)],
) -> Result<PayoutOutputs, KeyError> {
    payout_outputs_with(tx_secret, payees, None)
}

/// [`payout_outputs`], taking what `memo` already knows under `tx_secret` and recording what it
/// derives there: the same result with any memo or none (see [`DerivationMemo`]).
pub fn payout_outputs_with(
    tx_secret: &[u8; 32],
    payees: &[(Payee, u64)],
    memo: Option<&DerivationMemo>,
) -> Result<PayoutOutputs, KeyError> {
    let plan = key_plan(payees);
    let main = keys::secret_key_to_public_key(tx_secret)?;
    let mut outputs = Vec::with_capacity(payees.len());
    let mut additional = Vec::new();
    if plan == KeyPlan::Additional {
        additional.reserve(payees.len());
    }
    let mut tx_public = main;
    let derived = derive_all(tx_secret, payees, memo);
    for ((_, amount), d) in payees.iter().zip(derived) {
        let (_, d) = d?;
        outputs.push(TxOut {
            amount: *amount,
            target: OutputTarget::TaggedKey {
                key: d.key,
                view_tag: d.view_tag,
            },
        });
        match plan {
            KeyPlan::Main => {}
            KeyPlan::SingleSubaddress => {
                if let Some(k) = d.subaddress_tx_key {
                    tx_public = k;
                }
            }
            KeyPlan::Additional => additional.push(d.subaddress_tx_key.unwrap_or(main)),
        }
    }
    Ok(PayoutOutputs {
        tx_public,
        additional,
        outputs,
    })
}

/// Payee lists with at least this many outputs to derive do it on several threads. One
/// derivation costs ~90 us here (two scalar multiplications, docs/performance.md "Monero share
/// validation"), starting a scoped thread ~20 us, so a thread pays for itself from a handful of
/// payees; 32 keeps small shares (and the many tests with a few payees) on the calling thread.
pub const PARALLEL_MIN_PAYEES: usize = 32;

type Derived = Result<(PayeeDerivation, keys::DerivedOutput), KeyError>;

/// The derivation of every payee's output, in order: `derive_output(r, payee, i)` for each `i`.
/// What `memo` knows is taken from it; the rest is derived on up to `available_parallelism`
/// scoped threads when at least [`PARALLEL_MIN_PAYEES`] outputs are not in the memo, each
/// thread taking one contiguous chunk of them, and recorded in `memo`. The result is the same
/// list whatever the memo and the threads (each entry depends on its own inputs only), so every
/// node computes the same outputs; a chunk whose thread cannot be started or fails is derived on
/// the calling thread instead. Why threads: a share of a window with 200 payees costs 18 ms of
/// derivations, which the store's single writer pays for every share of a sync it has no memo
/// for.
fn derive_all(
    tx_secret: &[u8; 32],
    payees: &[(Payee, u64)],
    memo: Option<&DerivationMemo>,
) -> Vec<Derived> {
    let known = match memo {
        Some(m) => m.lookup(tx_secret, payees),
        None => vec![Known::Nothing; payees.len()],
    };
    let derive = |i: usize| -> Derived {
        let (payee, _) = &payees[i];
        let d = match known[i] {
            Known::Output(d, o) => return Ok((d, o)),
            Known::Derivation(d) => d,
            Known::Nothing => {
                let (derivation, subaddress_tx_key) =
                    keys::payee_derivation(tx_secret, &payee.spend, &payee.view, payee.subaddress)?;
                PayeeDerivation {
                    derivation,
                    subaddress_tx_key,
                }
            }
        };
        let o = keys::output_from_derivation(
            &d.derivation,
            i as u64,
            &payee.spend,
            d.subaddress_tx_key,
        )?;
        Ok((d, o))
    };
    // Everything but a remembered output costs at least a fixed-base multiplication (~30 us);
    // a payee the memo does not know costs ~90 us.
    let cold: Vec<usize> = (0..payees.len())
        .filter(|&i| !matches!(known[i], Known::Output(..)))
        .collect();
    let threads = if cold.len() < PARALLEL_MIN_PAYEES {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(cold.len() / (PARALLEL_MIN_PAYEES / 2))
    };
    let mut all: Vec<Option<Derived>> = vec![None; payees.len()];
    if threads > 1 {
        let chunk = cold.len().div_ceil(threads);
        let serial = |part: &[usize]| -> Vec<Derived> { part.iter().map(|&i| derive(i)).collect() };
        std::thread::scope(|scope| {
            // The calling thread takes the first chunk itself; the others get a thread each.
            let mut parts = cold.chunks(chunk);
            let first = parts.next();
            let spawned: Vec<_> = parts
                .map(|part| {
                    let handle = std::thread::Builder::new()
                        .name("monero-derive".into())
                        .spawn_scoped(scope, move || serial(part));
                    (part, handle)
                })
                .collect();
            let mut done = Vec::with_capacity(threads);
            if let Some(part) = first {
                done.push((part, serial(part)));
            }
            for (part, handle) in spawned {
                match handle.map(|h| h.join()) {
                    Ok(Ok(derived)) => done.push((part, derived)),
                    // No thread (resources) or a failed one: the same chunk, here.
                    _ => done.push((part, serial(part))),
                }
            }
            for (part, derived) in done {
                for (&i, d) in part.iter().zip(derived) {
                    all[i] = Some(d);
                }
            }
        });
    }
    let all: Vec<Derived> = all
        .into_iter()
        .enumerate()
        .map(|(i, d)| d.unwrap_or_else(|| derive(i)))
        .collect();
    if let Some(m) = memo {
        // What came from the memo is there already: only the new work is recorded.
        m.record(
            tx_secret,
            cold.iter().filter_map(|&i| {
                let d = all[i].as_ref().ok()?;
                Some((i as u64, &payees[i].0, d))
            }),
        );
    }
    all
}

/// Whether `tx_public`, `additional` and `outputs` are exactly what [`payout_outputs`] gives for
/// `tx_secret` and `payees`: what every validating node checks of a share's miner transaction.
/// False on any difference, including invalid keys.
pub fn payouts_match(
    tx_secret: &[u8; 32],
    payees: &[(Payee, u64)],
    tx_public: &Hash32,
    additional: &[Hash32],
    outputs: &[TxOut],
) -> bool {
    payouts_match_with(tx_secret, payees, tx_public, additional, outputs, None)
}

/// [`payouts_match`] with a [`DerivationMemo`]: the same answer, with the curve work the memo
/// already holds skipped.
pub fn payouts_match_with(
    tx_secret: &[u8; 32],
    payees: &[(Payee, u64)],
    tx_public: &Hash32,
    additional: &[Hash32],
    outputs: &[TxOut],
    memo: Option<&DerivationMemo>,
) -> bool {
    if outputs.len() != payees.len() {
        return false;
    }
    match payout_outputs_with(tx_secret, payees, memo) {
        Ok(p) => p.tx_public == *tx_public && p.additional == additional && p.outputs == outputs,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{hash_to_scalar, output_is_mine, secret_key_to_public_key};
    use super::*;

    /// A wallet: secrets, and the payee of its main address or subaddress (0, 1).
    struct Wallet {
        view_secret: Hash32,
        payee: Payee,
    }

    fn wallet(seed: u8, subaddress: bool) -> Wallet {
        let b = hash_to_scalar(&[seed, b's']).to_bytes();
        let a = hash_to_scalar(&b).to_bytes();
        let b_pub = secret_key_to_public_key(&b).unwrap();
        let (spend, view) = if subaddress {
            keys::subaddress_keys(&a, &b_pub, 0, 1).unwrap()
        } else {
            (b_pub, secret_key_to_public_key(&a).unwrap())
        };
        Wallet {
            view_secret: a,
            payee: Payee::new(spend, view, subaddress).unwrap(),
        }
    }

    fn tx_secret() -> [u8; 32] {
        hash_to_scalar(b"outputs test tx key").to_bytes()
    }

    /// Which outputs `w` finds, scanning like wallet2: the main key, then the output's
    /// additional key if there is one.
    fn found_by(w: &Wallet, p: &PayoutOutputs) -> Vec<usize> {
        p.outputs
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                let mut keys_to_try = vec![p.tx_public];
                if let Some(k) = p.additional.get(*i) {
                    keys_to_try.push(*k);
                }
                keys_to_try.iter().any(|r| {
                    output_is_mine(
                        &w.view_secret,
                        &w.payee.spend,
                        r,
                        *i as u64,
                        o.target.key(),
                        o.target.view_tag(),
                    )
                    .unwrap()
                })
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn check_mix(kinds: &[bool]) -> PayoutOutputs {
        let wallets: Vec<Wallet> = kinds
            .iter()
            .enumerate()
            .map(|(i, &sub)| wallet(i as u8, sub))
            .collect();
        let payees: Vec<(Payee, u64)> = wallets
            .iter()
            .enumerate()
            .map(|(i, w)| (w.payee, 1000 + i as u64))
            .collect();
        let r = tx_secret();
        let p = payout_outputs(&r, &payees).unwrap();
        assert_eq!(p.outputs.len(), payees.len());
        for (i, w) in wallets.iter().enumerate() {
            assert_eq!(found_by(w, &p), vec![i], "kinds {kinds:?}, wallet {i}");
            assert_eq!(p.outputs[i].amount, 1000 + i as u64);
            assert!(p.outputs[i].target.view_tag().is_some());
        }
        assert!(payouts_match(
            &r,
            &payees,
            &p.tx_public,
            &p.additional,
            &p.outputs
        ));
        p
    }

    #[test]
    fn all_standard_uses_r_g_and_no_additional_keys() {
        let p = check_mix(&[false, false, false]);
        assert_eq!(p.tx_public, secret_key_to_public_key(&tx_secret()).unwrap());
        assert!(p.additional.is_empty());
    }

    #[test]
    fn one_subaddress_alone_uses_r_d() {
        let p = check_mix(&[true]);
        let w = wallet(0, true);
        let r = keys::scalar(&tx_secret()).unwrap();
        let d = keys::point(&w.payee.spend).unwrap();
        assert_eq!(p.tx_public, (r * d).compress().0);
        assert!(p.additional.is_empty());
        // Two outputs to the same subaddress: still one destination.
        let payees = [(w.payee, 5), (w.payee, 6)];
        let p2 = payout_outputs(&tx_secret(), &payees).unwrap();
        assert_eq!(p2.tx_public, p.tx_public);
        assert!(p2.additional.is_empty());
        assert_eq!(found_by(&w, &p2), vec![0, 1]);
    }

    #[test]
    fn mixes_use_additional_keys() {
        let main = secret_key_to_public_key(&tx_secret()).unwrap();
        for kinds in [
            &[false, true][..],
            &[true, false],
            &[true, true],
            &[false, true, false, true, true],
            &[true, true, true, false],
        ] {
            let p = check_mix(kinds);
            assert_eq!(p.tx_public, main);
            assert_eq!(p.additional.len(), kinds.len());
            for (i, &sub) in kinds.iter().enumerate() {
                // Standard outputs' slots repeat R.
                assert_eq!(p.additional[i] == main, !sub, "{kinds:?} {i}");
            }
        }
    }

    #[test]
    fn mismatches_are_caught() {
        let wallets = [wallet(1, false), wallet(2, true)];
        let payees: Vec<(Payee, u64)> = wallets.iter().map(|w| (w.payee, 10)).collect();
        let r = tx_secret();
        let p = payout_outputs(&r, &payees).unwrap();
        let ok =
            |tp: &Hash32, add: &[Hash32], outs: &[TxOut]| payouts_match(&r, &payees, tp, add, outs);
        assert!(ok(&p.tx_public, &p.additional, &p.outputs));
        let mut outs = p.outputs.clone();
        outs[1].amount += 1;
        assert!(!ok(&p.tx_public, &p.additional, &outs));
        let mut outs = p.outputs.clone();
        outs.swap(0, 1);
        assert!(!ok(&p.tx_public, &p.additional, &outs));
        let mut outs = p.outputs.clone();
        if let OutputTarget::TaggedKey { view_tag, .. } = &mut outs[0].target {
            *view_tag ^= 1;
        }
        assert!(!ok(&p.tx_public, &p.additional, &outs));
        assert!(!ok(&p.tx_public, &[], &p.outputs));
        assert!(!ok(&[9; 32], &p.additional, &p.outputs));
        assert!(!ok(&p.tx_public, &p.additional, &p.outputs[..1]));
        // Another key, or another order of payees, gives other outputs.
        let r2 = hash_to_scalar(b"other").to_bytes();
        assert!(!payouts_match(
            &r2,
            &payees,
            &p.tx_public,
            &p.additional,
            &p.outputs
        ));
        let rev: Vec<_> = payees.iter().rev().copied().collect();
        assert!(!payouts_match(
            &r,
            &rev,
            &p.tx_public,
            &p.additional,
            &p.outputs
        ));
        // Invalid keys: an error from payout_outputs, false from payouts_match.
        let bad = Payee {
            subaddress: false,
            spend: {
                let mut b = [0xff; 32];
                b[0] = 0xed;
                b[31] = 0x7f;
                b
            },
            view: p.tx_public,
        };
        assert_eq!(payout_outputs(&r, &[(bad, 1)]), Err(KeyError::InvalidPoint));
        assert!(!payouts_match(
            &r,
            &[(bad, 1)],
            &p.tx_public,
            &[],
            &p.outputs[..1]
        ));
        assert_eq!(
            payout_outputs(&[0xff; 32], &payees),
            Err(KeyError::InvalidScalar)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
        /// Whatever sequence of transaction keys and payee lists a memo has seen, it gives the
        /// outputs derived without one (the memo is only a cache: consensus must not depend on
        /// what a node happened to check before).
        #[test]
        fn a_memo_never_changes_outputs(
            steps in proptest::collection::vec(
                (0u8..3, proptest::collection::vec((0u8..12, proptest::prelude::any::<bool>()), 0..8)),
                1..6,
            )
        ) {
            let memo = DerivationMemo::default();
            for (key, list) in steps {
                let r = hash_to_scalar(&[b'k', key]).to_bytes();
                let payees: Vec<(Payee, u64)> = list
                    .iter()
                    .map(|&(w, sub)| (wallet(w, sub).payee, 1_000 + w as u64))
                    .collect();
                proptest::prop_assert_eq!(
                    payout_outputs_with(&r, &payees, Some(&memo)),
                    payout_outputs(&r, &payees)
                );
            }
        }
    }

    /// A memo changes no output: cold, warm, with the list shifted by a new payee (outputs
    /// moved to other positions: derivations reused, outputs derived again), with an invalid
    /// payee (an error, nothing recorded for it), and under another transaction key.
    #[test]
    fn a_memo_gives_the_outputs_derived_without_one() {
        let r = tx_secret();
        let memo = DerivationMemo::default();
        let n = 2 * PARALLEL_MIN_PAYEES + 3;
        let mut payees: Vec<(Payee, u64)> = (0..n)
            .map(|i| (wallet(i as u8, i % 5 == 2).payee, 500 + i as u64))
            .collect();
        let fresh = payout_outputs(&r, &payees).unwrap();
        assert_eq!(
            payout_outputs_with(&r, &payees, Some(&memo)).unwrap(),
            fresh
        );
        assert!(memo
            .lookup(&r, &payees)
            .iter()
            .all(|k| matches!(k, Known::Output(..))));
        // Warm: every output from the memo.
        assert_eq!(
            payout_outputs_with(&r, &payees, Some(&memo)).unwrap(),
            fresh
        );
        // A payee enters at the front: all the others move one position.
        payees.insert(0, (wallet(200, true).payee, 77));
        let known = memo.lookup(&r, &payees);
        assert_eq!(known[0], Known::Nothing);
        assert!(known[1..].iter().all(|k| matches!(k, Known::Derivation(_))));
        assert_eq!(
            payout_outputs_with(&r, &payees, Some(&memo)).unwrap(),
            payout_outputs(&r, &payees).unwrap()
        );
        // Another key: nothing known, same outputs as without a memo.
        let r2 = hash_to_scalar(b"another parent").to_bytes();
        assert_eq!(
            payout_outputs_with(&r2, &payees, Some(&memo)).unwrap(),
            payout_outputs(&r2, &payees).unwrap()
        );
        // An invalid view key: the same error with a warm memo, and it is not remembered.
        let mut bad = payees.clone();
        bad[5].0.view = [0xff; 32];
        assert_eq!(
            payout_outputs_with(&r, &bad, Some(&memo)),
            Err(KeyError::InvalidPoint)
        );
        assert_eq!(memo.lookup(&r, &bad)[5], Known::Nothing);
        let p = payout_outputs(&r, &payees).unwrap();
        assert!(payouts_match_with(
            &r,
            &payees,
            &p.tx_public,
            &p.additional,
            &p.outputs,
            Some(&memo)
        ));
    }

    /// Long payee lists are derived on several threads; the outputs are exactly the ones one
    /// thread derives in order, and an invalid key far down the list is still the error.
    #[test]
    fn long_lists_derive_on_threads_to_the_same_outputs() {
        let r = tx_secret();
        let n = 3 * PARALLEL_MIN_PAYEES + 5;
        let payees: Vec<(Payee, u64)> = (0..n)
            .map(|i| (wallet(i as u8, i % 7 == 3).payee, 1_000 + i as u64))
            .collect();
        let p = payout_outputs(&r, &payees).unwrap();
        assert_eq!(p.outputs.len(), n);
        assert_eq!(
            p.additional.len(),
            n,
            "mixed kinds: one additional key each"
        );
        for (i, ((payee, amount), out)) in payees.iter().zip(&p.outputs).enumerate() {
            let d = keys::derive_output(&r, &payee.spend, &payee.view, payee.subaddress, i as u64)
                .unwrap();
            assert_eq!(out.amount, *amount);
            assert_eq!(
                out.target,
                OutputTarget::TaggedKey {
                    key: d.key,
                    view_tag: d.view_tag
                },
                "output {i}"
            );
            let main = secret_key_to_public_key(&r).unwrap();
            assert_eq!(p.additional[i], d.subaddress_tx_key.unwrap_or(main));
        }
        assert!(payouts_match(
            &r,
            &payees,
            &p.tx_public,
            &p.additional,
            &p.outputs
        ));
        // An invalid view key in the last chunk.
        let mut bad = payees.clone();
        bad[n - 2].0 = Payee {
            view: {
                let mut b = [0xff; 32];
                b[0] = 0xed;
                b[31] = 0x7f;
                b
            },
            ..bad[n - 2].0
        };
        assert_eq!(payout_outputs(&r, &bad), Err(KeyError::InvalidPoint));
    }
}
