//! Compact relay (`share::compact`): a share without its payout outputs, rebuilt from the
//! receiver's own view of the parent's window, must be the full share byte for byte, for random
//! windows, payouts at the output cap and below it, uncles, and the lottery; anything else is
//! refused with a reason, never a panic.

mod common;

use common::*;
use otedama_consensus::share::compact::{
    compact, precheck, rebuild, CompactDecodeError, CompactShare, RebuildError, MAX_COMPACT_BYTES,
};
use otedama_consensus::{MemoryChain, Share, ShareHash};
use proptest::prelude::*;

/// Compacts `share`, sends it through its encoding, rebuilds it on `view` (which holds the
/// share's parent but not the share) and checks the result is the share itself.
fn round_trip(m: &Miner, share: &Share) -> CompactShare {
    let c = compact(share).expect("every valid share has a compact form");
    let bytes = c.encode();
    assert!(bytes.len() <= MAX_COMPACT_BYTES);
    assert!(
        bytes.len() < share.encode().len()
            || share.candidate.as_bitcoin().unwrap().coinbase.output.len() <= 2
    );
    let back = CompactShare::decode(&bytes).expect("compact decodes");
    assert_eq!(back, c);
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.id(), share.id());
    let rebuilt = rebuild(&m.pool, &m.chain, &back).expect("rebuilds on the author's view");
    assert_eq!(rebuilt.encode(), share.encode(), "byte-identical");
    assert_eq!(rebuilt.id(), share.id());
    assert_eq!(&rebuilt, share);
    c
}

/// A chain of `n` shares over `miners` miners with a pool of `window` shares and `cap`
/// outputs; every `uncle_every`-th height also gets a side share that the next share includes
/// as an uncle. Every share is round-tripped before it is inserted. Returns the largest payout
/// count seen.
fn mine_and_check(
    window: u64,
    cap: u32,
    min_payout: u64,
    miners: u32,
    n: u64,
    uncle_every: u64,
    order: &[u32],
) -> usize {
    let mut p = pool(window);
    p.max_payout_outputs = cap;
    p.min_payout = min_payout;
    let mut m = Miner::new(p);
    let mut parent: Option<ShareHash> = None;
    let mut pending_uncle: Option<ShareHash> = None;
    let mut most = 0;
    for h in 0..n {
        let who = order[(h as usize) % order.len()] % miners;
        let now = T0 + 10 * h;
        let uncles: Vec<ShareHash> = pending_uncle.take().into_iter().collect();
        let job = m.job(parent, who, now, uncles);
        let share = m.grind(&job);
        round_trip(&m, &share);
        most = most.max(job.payouts.len());
        let id = m
            .chain
            .validate_and_insert(&m.pool, &share, now)
            .expect("valid")
            .id;
        if uncle_every > 0 && h > 0 && h % uncle_every == 0 {
            // A sibling of this share (same parent, another miner): the next share's uncle.
            let job = m.job(parent, who.wrapping_add(1) % miners.max(1), now + 1, vec![]);
            let side = m.grind(&job);
            round_trip(&m, &side);
            m.chain
                .validate_and_insert(&m.pool, &side, now + 1)
                .expect("side share valid");
            pending_uncle = Some(side.id());
        }
        parent = Some(id);
    }
    most
}

#[test]
fn payouts_at_the_cap_with_the_lottery_and_uncles_rebuild_exactly() {
    // 40 miners over 8 outputs: the cap binds and most of the window goes to the lottery.
    let most = mine_and_check(30, 8, 1000, 40, 80, 4, &(0..40).collect::<Vec<_>>());
    assert_eq!(most, 8, "the cap was reached");
    // A high floor: few direct payments, the lottery pays the rest, below the cap.
    let most = mine_and_check(20, 50, 1_000_000_000, 12, 40, 3, &[0, 5, 1, 7, 3, 11]);
    assert!(most < 50);
}

#[test]
fn main_preset_at_its_cap_of_200_outputs() {
    // The wire-cost case: 250 distinct miners in the main preset's window.
    let mut p = otedama_consensus::PoolParams::preset(
        otedama_consensus::Chain::BitcoinRegtest,
        otedama_consensus::Preset::Main,
    );
    p.pplns_window = 300;
    let cap = p.max_payout_outputs as usize;
    let mut m = Miner::new(p);
    let mut parent = None;
    for h in 0..250u64 {
        let job = m.job(parent, h as u32, T0 + 10 * h, vec![]);
        let share = m.grind(&job);
        if h % 50 == 49 || h == 0 {
            let c = round_trip(&m, &share);
            eprintln!(
                "{} payees: full {} bytes, compact {} bytes",
                h + 1,
                share.encode().len(),
                c.encode().len()
            );
        }
        if h == 249 {
            assert_eq!(job.payouts.len(), cap);
        }
        parent = Some(
            m.chain
                .validate_and_insert(&m.pool, &share, T0 + 10 * h)
                .unwrap()
                .id,
        );
    }
}

#[test]
fn a_different_view_or_a_tampered_message_is_refused_with_its_reason() {
    let mut m = Miner::new(pool(10));
    let ids = m.extend(None, 12, 4, T0);
    let tip = *ids.last().unwrap();
    let job = m.job(Some(tip), 1, T0 + 200, vec![]);
    let share = m.grind(&job);
    let c = compact(&share).unwrap();
    assert_eq!(rebuild(&m.pool, &m.chain, &c).unwrap(), share);

    // A receiver without the parent.
    assert_eq!(
        rebuild(&m.pool, &MemoryChain::new(), &c),
        Err(RebuildError::Unknown(tip))
    );
    // A receiver whose window differs (here: another minimum payout) computes other payouts.
    let mut other = m.pool.clone();
    other.min_payout = 2_000_000_000;
    assert_eq!(
        rebuild(&other, &m.chain, &c),
        Err(RebuildError::ChecksumMismatch)
    );
    // Another reward than the payouts sum to.
    let mut bad = c.clone();
    bad.reward -= 1;
    assert_eq!(
        rebuild(&m.pool, &m.chain, &bad),
        Err(RebuildError::ChecksumMismatch)
    );
    let mut bad = c.clone();
    bad.checksum[0] ^= 1;
    assert_eq!(
        rebuild(&m.pool, &m.chain, &bad),
        Err(RebuildError::ChecksumMismatch)
    );
    // The right payouts but another coinbase than the header commits to.
    let mut bad = c.clone();
    bad.stub.lock_time = bitcoin::absolute::LockTime::from_consensus(1);
    assert_eq!(
        rebuild(&m.pool, &m.chain, &bad),
        Err(RebuildError::IdMismatch)
    );
    // A height that does not follow the parent.
    let mut bad = c.clone();
    bad.side.height += 1;
    assert!(matches!(
        rebuild(&m.pool, &m.chain, &bad),
        Err(RebuildError::WrongHeight { .. })
    ));
    // An uncle we do not know.
    let mut bad = c.clone();
    bad.side.uncles = vec![<ShareHash as bitcoin::hashes::Hash>::from_byte_array(
        [7; 32],
    )];
    assert!(matches!(
        rebuild(&m.pool, &m.chain, &bad),
        Err(RebuildError::Unknown(_))
    ));
    // What can be judged without the window: the proof of work, the commitment, the target.
    assert_eq!(precheck(&m.pool, &c), Ok(()));
    let mut bad = c.clone();
    // Another nonce: the header no longer meets the share target (half of regtest hashes do,
    // so look for one that does not).
    bad.header.nonce = (0..u32::MAX)
        .find(|n| {
            let mut h = bad.header;
            h.nonce = *n;
            let mut bytes = [0u8; 80];
            bytes.copy_from_slice(&bitcoin::consensus::serialize(&h));
            !bad.side
                .target()
                .is_met_by(&m.pool.chain.pow_algo().unwrap().hash(&bytes))
        })
        .unwrap();
    assert_eq!(
        precheck(&m.pool, &bad),
        Err(otedama_consensus::RejectReason::InsufficientWork)
    );
    let mut bad = c.clone();
    bad.side.software_version += 1;
    assert_eq!(
        precheck(&m.pool, &bad),
        Err(otedama_consensus::RejectReason::CommitmentMismatch)
    );
    let mut bad = c.clone();
    // A negative compact target: no canonical target has these bits.
    bad.side.share_bits = bitcoin::CompactTarget::from_consensus(0x0480_0000);
    assert!(matches!(
        precheck(&m.pool, &bad),
        Err(otedama_consensus::RejectReason::TargetOutOfBounds(_))
    ));
    // A stub with a payout left in it is not a compact share.
    let mut bad = c.clone();
    bad.stub.output.insert(
        0,
        share.candidate.as_bitcoin().unwrap().coinbase.output[0].clone(),
    );
    assert_eq!(
        CompactShare::decode(&bad.encode()),
        Err(CompactDecodeError::StubLayout)
    );
    let big = vec![0u8; MAX_COMPACT_BYTES + 1];
    assert_eq!(
        CompactShare::decode(&big),
        Err(CompactDecodeError::TooLarge(big.len()))
    );
}

/// A chain and a compact share on its tip, for the corruption properties.
fn fixture() -> (Miner, Vec<u8>) {
    let mut m = Miner::new(pool(8));
    let base = m.extend(None, 6, 5, T0);
    let uncle_job = m.job(Some(base[3]), 9, T0 + 41, vec![]);
    let uncle = m.grind(&uncle_job);
    m.chain
        .validate_and_insert(&m.pool, &uncle, T0 + 41)
        .unwrap();
    let job = m.job(Some(base[5]), 2, T0 + 60, vec![uncle.id()]);
    let share = m.grind(&job);
    let bytes = compact(&share).unwrap().encode();
    (m, bytes)
}

/// Decoding and rebuilding must not panic; whatever decodes re-encodes to the same bytes, and
/// whatever rebuilds is a share whose id is the header's.
fn check_corrupt(m: &Miner, bytes: &[u8]) {
    if let Ok(c) = CompactShare::decode(bytes) {
        assert_eq!(c.encode(), bytes, "decoded bytes re-encode differently");
        if let Ok(s) = rebuild(&m.pool, &m.chain, &c) {
            assert_eq!(s.id(), c.id());
            assert_eq!(
                s.candidate.as_bitcoin().unwrap().computed_merkle_root(),
                s.candidate.as_bitcoin().unwrap().header.merkle_root
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn compact_then_rebuild_is_the_full_share(
        window in 3u64..40,
        cap in 2u32..16,
        high_floor in any::<bool>(),
        miners in 1u32..40,
        n in 1u64..50,
        uncle_every in 0u64..6,
        order in prop::collection::vec(any::<u32>(), 1..20),
    ) {
        let min_payout = if high_floor { 700_000_000 } else { 1000 };
        mine_and_check(window, cap, min_payout, miners, n, uncle_every, &order);
    }
}

proptest! {
    #[test]
    fn corrupted_compact_bytes_never_panic(
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..=4),
    ) {
        thread_local! {
            static FIX: (Miner, Vec<u8>) = fixture();
        }
        FIX.with(|(m, bytes)| {
            let mut b = bytes.clone();
            for (i, v) in &mutations {
                let i = i.index(b.len());
                b[i] = *v;
            }
            check_corrupt(m, &b);
        });
    }

    #[test]
    fn truncated_or_extended_compact_bytes_never_panic(
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        thread_local! {
            static FIX: (Miner, Vec<u8>) = fixture();
        }
        FIX.with(|(m, bytes)| {
            let mut b = bytes[..cut.index(bytes.len() + 1)].to_vec();
            b.extend_from_slice(&extra);
            check_corrupt(m, &b);
        });
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..800)) {
        let mut v = 2u32.to_le_bytes().to_vec();
        v.extend_from_slice(&b);
        let _ = CompactShare::decode(&b);
        let _ = CompactShare::decode(&v);
    }
}
