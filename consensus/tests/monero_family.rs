//! Monero as a sharechain family: shares built by `monero_builder` pass the same generic rules
//! as the Bitcoin family's (retarget, window, PPLNS split) and the Monero ones (one-time keys,
//! view tags, the deterministic transaction key), and every tampering is refused.
//!
//! The proof of work here is a stand-in hasher (Keccak of seed and blob) implementing the same
//! `PowHasher` seam the node's RandomX hasher does: consensus tests cannot link RandomX (the
//! crate depends on nothing of ours). Real RandomX and a real monerod accepting a block built
//! this way: tests/tests/monerod_block.rs.

use otedama_consensus::chain::monero::block::OutputTarget;
use otedama_consensus::chain::monero::hash::{keccak256_concat, Hash32};
use otedama_consensus::chain::monero::keys;
use otedama_consensus::chain::monero::miner_tx::parse_miner_tx;
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::FamilyKind;
use otedama_consensus::monero_builder::{
    build_monero_share, grind_monero, MoneroShareInput, MoneroTemplate,
};
use otedama_consensus::pow::{PowError, PowHasher, PowInput};
use otedama_consensus::share::{Candidate, DecodeError};
use otedama_consensus::validation::{check_contextual, check_stateless, Severity};
use otedama_consensus::{Chain, MemoryChain, PayoutScript, PoolParams, Preset, RejectReason};
use otedama_consensus::{Share, ShareHash};

const T0: u64 = 1_700_000_000;
const SEED: Hash32 = [0x5e; 32];

/// Keccak(seed || blob) for the one seed it holds; any other seed is unknown, as with the
/// node's RandomX hasher.
struct StandInPow;

impl PowHasher for StandInPow {
    fn pow_hash(&self, input: PowInput<'_>) -> Result<[u8; 32], PowError> {
        match input {
            PowInput::RandomX { seed, blob } if *seed == SEED => {
                Ok(keccak256_concat(&[seed, blob]))
            }
            PowInput::RandomX { seed, .. } => Err(PowError::UnknownSeed(*seed)),
            PowInput::Header(_) => Err(PowError::Unsupported("header")),
        }
    }
}

struct Wallet {
    view_secret: Hash32,
    payee: Payee,
}

fn wallet(i: u8) -> Wallet {
    let spend = keys::hash_to_scalar(&[b'w', i]).to_bytes();
    let view_secret = keys::hash_to_scalar(&spend).to_bytes();
    let payee = Payee::new(
        keys::secret_key_to_public_key(&spend).unwrap(),
        keys::secret_key_to_public_key(&view_secret).unwrap(),
        false,
    )
    .unwrap();
    Wallet { view_secret, payee }
}

/// Regtest's main preset with a 9-share window, so the test chain (40 shares) is longer than
/// the window and its first miner has left it by the tip.
fn pool() -> PoolParams {
    let pool = PoolParams {
        pplns_window: 9,
        ..PoolParams::preset(Chain::MoneroRegtest, Preset::Main)
    };
    pool.check().expect("valid parameters");
    pool
}

/// Mined the first shares only; out of the window at the tip.
const EARLY_MINER: u8 = 3;
const SHARES: u64 = 40;

fn template(height: u64) -> MoneroTemplate {
    MoneroTemplate {
        major_version: 16,
        minor_version: 16,
        timestamp: T0,
        prev_id: [height as u8; 32],
        height,
        seed_hash: SEED,
        tx_hashes: vec![[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]],
        reward: 600_000_000_000 + 12_345_678,
    }
}

fn script(w: &Wallet) -> PayoutScript {
    PayoutScript::new(&w.payee.to_bytes())
}

fn next(
    pool: &PoolParams,
    chain: &MemoryChain,
    parent: Option<ShareHash>,
    who: &Wallet,
    n: u64,
) -> Share {
    let t = template(100);
    let share = build_monero_share(
        pool,
        chain,
        &MoneroShareInput {
            parent,
            uncles: vec![],
            payout_script: script(who),
            now: T0 + 10 * n,
            software_version: 1,
            template: &t,
            extra_nonce: &n.to_le_bytes(),
        },
    )
    .expect("built");
    grind_monero(share, &StandInPow).expect("ground")
}

/// A chain of 40 shares, the first four by [`EARLY_MINER`], the rest by three wallets in turn;
/// returns the chain, the three wallets and the tip share.
fn three_miner_chain() -> (PoolParams, MemoryChain, Vec<Wallet>, Share) {
    let pool = pool();
    let wallets: Vec<Wallet> = (0..3).map(wallet).collect();
    let mut chain = MemoryChain::default();
    let mut parent = None;
    let mut last = None;
    let early = wallet(EARLY_MINER);
    for n in 0..SHARES {
        let who = if n < 4 {
            &early
        } else {
            &wallets[(n % 3) as usize]
        };
        let s = next(&pool, &chain, parent, who, n);
        let info = chain
            .validate_and_insert_with(&pool, &s, T0 + 10 * n, &StandInPow)
            .unwrap_or_else(|e| panic!("share {n} refused: {e}"));
        parent = Some(info.id);
        last = Some(s);
    }
    (pool, chain, wallets, last.unwrap())
}

#[test]
fn a_three_miner_monero_chain_pays_each_wallet_what_the_split_says() {
    let (pool, chain, wallets, tip) = three_miner_chain();
    let Candidate::Monero(c) = &tip.candidate else {
        panic!("a Monero candidate")
    };
    let parts = parse_miner_tx(&c.miner_tx).unwrap();
    assert!(
        parts.additional.is_empty(),
        "standard addresses need no additional keys"
    );
    // The split the rules demand, from the parent's window.
    let parent = chain.infos.get(&tip.side.prev_share).unwrap().id;
    let rebuilt = build_monero_share(
        &pool,
        &chain,
        &MoneroShareInput {
            parent: Some(parent),
            uncles: vec![],
            payout_script: tip.side.payout_script.clone(),
            now: tip.side.timestamp,
            software_version: 1,
            template: &template(100),
            extra_nonce: &(SHARES - 1).to_le_bytes(),
        },
    )
    .unwrap();
    assert_eq!(rebuilt.side, tip.side);
    let total: u64 = c.miner_tx.outputs.iter().map(|o| o.amount).sum();
    assert_eq!(total, template(100).reward);
    let mut seen = 0u64;
    for w in &wallets {
        // What the wallet finds with its view key (and the view tag), the way monero-wallet-rpc
        // scans: every output it owns, none of the others'.
        let mut found = 0u64;
        for (i, out) in c.miner_tx.outputs.iter().enumerate() {
            let OutputTarget::TaggedKey { key, view_tag } = out.target else {
                panic!("tagged outputs only")
            };
            if keys::output_is_mine(
                &w.view_secret,
                &w.payee.spend,
                &parts.tx_public,
                i as u64,
                &key,
                Some(view_tag),
            )
            .unwrap()
            {
                found += out.amount;
            }
        }
        assert!(found > 0, "every miner of the window is paid");
        assert_eq!(found, tip.paid_to(&pool, &script(w)));
        seen += found;
    }
    assert_eq!(seen, total, "the wallets own every output");
    // The early miner's shares left the window: nothing for it, by the rules or its wallet.
    assert_eq!(tip.paid_to(&pool, &script(&wallet(EARLY_MINER))), 0);
}

#[test]
fn monero_shares_round_trip_and_keep_their_id() {
    let (_, _, _, tip) = three_miner_chain();
    let bytes = tip.encode();
    let back = Share::decode(&bytes).unwrap();
    assert_eq!(back, tip);
    assert_eq!(back.id(), tip.id());
    assert_eq!(
        &bytes[..4],
        &otedama_consensus::share::MONERO_FORMAT_VERSION.to_le_bytes()
    );
}

/// A truncated or corrupt Monero candidate is a decode error naming the candidate.
#[test]
fn decode_monero_candidate() {
    let (_, _, _, tip) = three_miner_chain();
    let bytes = tip.encode();
    let mut bad = bytes.clone();
    bad.truncate(60);
    assert!(
        matches!(Share::decode(&bad), Err(DecodeError::Monero(_))),
        "{:?}",
        Share::decode(&bad)
    );
    assert_eq!(
        RejectReason::Decode(DecodeError::Monero(
            otedama_consensus::chain::monero::candidate::CandidateError::Truncated(0)
        ))
        .severity(),
        Severity::Invalid
    );
}

fn contextual(pool: &PoolParams, chain: &MemoryChain, s: &Share) -> Result<(), RejectReason> {
    let checked = check_stateless(pool, s, &StandInPow)?;
    check_contextual(pool, chain, s, &checked, T0 + 1_000).map(|_| ())
}

fn reground(s: Share) -> Share {
    grind_monero(s, &StandInPow).unwrap()
}

#[test]
fn tampered_payouts_are_refused() {
    let (pool, chain, _, tip) = three_miner_chain();
    // The tip itself is valid on the chain without it.
    let mut without = chain.clone();
    without.infos.remove(&tip.id());
    assert_eq!(contextual(&pool, &without, &tip), Ok(()));

    // One piconero moved between two outputs: same sum, same commitment.
    let mut s = tip.clone();
    {
        let c = s.candidate.as_monero_mut().unwrap();
        c.miner_tx.outputs[0].amount -= 1;
        c.miner_tx.outputs[1].amount += 1;
    }
    assert_eq!(
        contextual(&pool, &without, &reground(s)),
        Err(RejectReason::WrongPayouts)
    );

    // An output key swapped for another point: the payee could not spend it.
    let mut s = tip.clone();
    {
        let c = s.candidate.as_monero_mut().unwrap();
        let other = keys::secret_key_to_public_key(&keys::hash_to_scalar(b"x").to_bytes()).unwrap();
        c.miner_tx.outputs[0].target = OutputTarget::TaggedKey {
            key: other,
            view_tag: c.miner_tx.outputs[0].target.view_tag().unwrap(),
        };
    }
    assert_eq!(
        contextual(&pool, &without, &reground(s)),
        Err(RejectReason::WrongPayouts)
    );

    // Outputs made with a transaction key of the miner's choosing (the burn attack the
    // deterministic key prevents): refused.
    let mut s = tip.clone();
    {
        let c = s.candidate.as_monero_mut().unwrap();
        let payees: Vec<(Payee, u64)> = (0..c.miner_tx.outputs.len())
            .map(|_| (wallet(0).payee, 1))
            .collect();
        let own = keys::hash_to_scalar(b"my key").to_bytes();
        let outs =
            otedama_consensus::chain::monero::outputs::payout_outputs(&own, &payees).unwrap();
        for (o, n) in c.miner_tx.outputs.iter_mut().zip(outs.outputs) {
            o.target = n.target;
        }
    }
    assert!(contextual(&pool, &without, &reground(s)).is_err());
}

/// The Monero candidate rules reach validation as `RejectReason::Monero` (one test per rule is
/// in chain/monero/check.rs).
#[test]
fn monero_candidate_rules() {
    let (pool, _, _, tip) = three_miner_chain();
    let mut s = tip.clone();
    s.side.parent_height += 1;
    let got = check_stateless(&pool, &s, &StandInPow).unwrap_err();
    assert!(matches!(got, RejectReason::Monero(_)), "{got:?}");
    assert_eq!(got.severity(), Severity::Invalid);

    let mut s = tip.clone();
    s.candidate.as_monero_mut().unwrap().header.major_version = 15;
    assert!(matches!(
        check_stateless(&pool, &s, &StandInPow),
        Err(RejectReason::Monero(_))
    ));
}

#[test]
fn a_seed_the_node_does_not_hold_blames_nobody() {
    let (pool, _, _, tip) = three_miner_chain();
    let mut s = tip.clone();
    s.candidate.as_monero_mut().unwrap().seed_hash = [9; 32];
    let got = check_stateless(&pool, &s, &StandInPow).unwrap_err();
    assert_eq!(
        got,
        RejectReason::PowUnavailable(PowError::UnknownSeed([9; 32]))
    );
    assert_eq!(got.severity(), Severity::NotYet);
    // Without a RandomX hasher at all (the chain's stateless one): unsupported, not invalid.
    let got = check_stateless(&pool, &tip, pool.chain.stateless_pow()).unwrap_err();
    assert!(matches!(
        got,
        RejectReason::PowUnavailable(PowError::Unsupported(_))
    ));
}

#[test]
fn families_do_not_mix() {
    let (_, _, _, tip) = three_miner_chain();
    let ltc = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
    assert_eq!(
        check_stateless(&ltc, &tip, &StandInPow),
        Err(RejectReason::WrongFamily {
            pool: FamilyKind::Bitcoin,
            share: FamilyKind::Monero
        })
    );
}

/// A payee that is not a Monero payee encoding (a Bitcoin script) is refused as a Monero
/// share's payout script.
#[test]
fn bitcoin_scripts_are_not_monero_payees() {
    let (pool, _, _, tip) = three_miner_chain();
    let mut s = tip;
    s.side.payout_script = PayoutScript::new(&[
        0x00, 0x14, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    ]);
    assert_eq!(
        check_stateless(&pool, &s, &StandInPow),
        Err(RejectReason::NonStandardPayoutScript)
    );
}
