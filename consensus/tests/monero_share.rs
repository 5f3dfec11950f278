//! The Monero side of a share (`chain::monero::{tree, payee, tx_key, outputs, miner_tx, reward,
//! candidate, check}`) against Monero's own data: the tree-hash vectors and real mainnet blocks
//! from tests/vectors/monero, and the miner-transaction pattern monerod and monero-wallet-rpc
//! accepted in tests/tests/monerod_block.rs.

use otedama_consensus::chain::monero::block::Block;
use otedama_consensus::chain::monero::hash::{tree_hash, Hash32};
use otedama_consensus::chain::monero::tree::{
    branch_len_for, first_leaf_branch, root_from_first_leaf,
};

const TREE: &str = include_str!("vectors/monero/tree-hash.txt");
const MAINNET: &str = include_str!("vectors/monero/mainnet.txt");

fn hashes_of(hex_concat: &str) -> Vec<Hash32> {
    hex::decode(hex_concat)
        .expect("hex")
        .chunks_exact(32)
        .map(|c| c.try_into().expect("32"))
        .collect()
}

/// Monero's tree-hash vectors, recomputed from leaf 0 and its branch.
#[test]
fn tree_vectors_from_leaf_zero() {
    let mut n = 0;
    for line in TREE.lines() {
        let (want, all) = line.split_once(' ').expect("two fields");
        let h = hashes_of(all);
        let branch = first_leaf_branch(&h);
        assert_eq!(Some(branch.len()), branch_len_for(h.len() as u64));
        assert_eq!(hex::encode(root_from_first_leaf(&h[0], &branch)), want);
        n += 1;
    }
    assert_eq!(n, 16);
}

/// Real mainnet blocks and a template (6 transactions): the id from the miner transaction, its
/// branch and the count equals the block's id and hashing blob.
#[test]
fn real_blocks_from_leaf_zero() {
    let mut checked = 0;
    for line in MAINNET.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let blob = match f[0] {
            "block" => f[5],
            _ => f[3],
        };
        let block = Block::parse(&hex::decode(blob).expect("hex")).expect("block");
        let mut leaves = vec![block.miner_tx.hash()];
        leaves.extend_from_slice(&block.tx_hashes);
        let branch = first_leaf_branch(&leaves);
        let root = root_from_first_leaf(&leaves[0], &branch);
        assert_eq!(Some(root), tree_hash(&leaves));
        assert_eq!(root, block.tx_tree_root());
        checked += 1;
    }
    assert_eq!(checked, 3);
}

/// The Monero Project's donation addresses (a standard address and a subaddress) as payees, and
/// back; an integrated address of the same wallet is refused.
#[test]
fn payees_of_real_addresses() {
    use otedama_consensus::chain::monero::address::{Address, AddressKind, Network};
    use otedama_consensus::chain::monero::payee::{Payee, PayeeError};
    let standard = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    let sub = "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H";
    for (text, is_sub) in [(standard, false), (sub, true)] {
        let a = Address::parse(text).expect("address");
        let p = Payee::from_address(&a).expect("payee");
        assert_eq!(p.subaddress, is_sub);
        assert_eq!(Payee::from_bytes(&p.to_bytes()), Ok(p));
        assert_eq!(p.to_address(Network::Mainnet).to_string(), text);
    }
    let a = Address::parse(standard).expect("address");
    let integrated = Address {
        kind: AddressKind::Integrated { payment_id: [0; 8] },
        ..a
    };
    assert_eq!(
        Payee::from_address(&integrated),
        Err(PayeeError::Integrated)
    );
}

/// The wallets of tests/tests/monerod_block.rs: spend secret from a name, view secret its Hs.
fn e2e_wallet(name: &str) -> (Hash32, Hash32, Hash32, Hash32) {
    use otedama_consensus::chain::monero::keys;
    let b = keys::hash_to_scalar(name.as_bytes()).to_bytes();
    let a = keys::hash_to_scalar(&b).to_bytes();
    let b_pub = keys::secret_key_to_public_key(&b).expect("spend");
    let a_pub = keys::secret_key_to_public_key(&a).expect("view");
    (b, a, b_pub, a_pub)
}

/// `payout_outputs` gives exactly the outputs and keys of the miner transaction that a real
/// regtest monerod accepted and monero-wallet-rpc credited in tests/tests/monerod_block.rs (two
/// standard addresses and a subaddress, hence additional keys, the standard slots repeating R),
/// built there by hand from `keys::derive_output`.
#[test]
fn outputs_follow_the_pattern_monero_wallet_accepted() {
    use otedama_consensus::chain::monero::block::{OutputTarget, TxOut};
    use otedama_consensus::chain::monero::keys;
    use otedama_consensus::chain::monero::outputs::{payout_outputs, payouts_match};
    use otedama_consensus::chain::monero::payee::Payee;
    let w: Vec<_> = (1..=3)
        .map(|i| e2e_wallet(&format!("otedama e2e wallet {i}")))
        .collect();
    let (d, c) = keys::subaddress_keys(&w[2].1, &w[2].2, 0, 1).expect("subaddress");
    let payees = [
        (Payee::new(w[0].2, w[0].3, false).expect("payee"), 3_000),
        (Payee::new(w[1].2, w[1].3, false).expect("payee"), 2_000),
        (Payee::new(d, c, true).expect("payee"), 1_000),
    ];
    let tx_secret = keys::hash_to_scalar(b"otedama e2e tx secret, height 2").to_bytes();
    let tx_public = keys::secret_key_to_public_key(&tx_secret).expect("tx key");
    // The hand-built construction of monerod_block.rs.
    let mut outputs = Vec::new();
    let mut additional = Vec::new();
    for (i, (p, amount)) in payees.iter().enumerate() {
        let o = keys::derive_output(&tx_secret, &p.spend, &p.view, p.subaddress, i as u64)
            .expect("derive");
        outputs.push(TxOut {
            amount: *amount,
            target: OutputTarget::TaggedKey {
                key: o.key,
                view_tag: o.view_tag,
            },
        });
        additional.push(o.subaddress_tx_key.unwrap_or(tx_public));
    }
    let got = payout_outputs(&tx_secret, &payees).expect("outputs");
    assert_eq!(got.tx_public, tx_public);
    assert_eq!(got.additional, additional);
    assert_eq!(got.outputs, outputs);
    assert!(payouts_match(
        &tx_secret,
        &payees,
        &tx_public,
        &additional,
        &outputs
    ));
    // Each wallet finds its output (main key or the output's additional key) and no other.
    let wallets = [(w[0].1, w[0].2), (w[1].1, w[1].2), (w[2].1, d)];
    for (j, (view_secret, spend)) in wallets.iter().enumerate() {
        let mine: Vec<usize> = (0..3)
            .filter(|&i| {
                [tx_public, additional[i]].iter().any(|r| {
                    keys::output_is_mine(
                        view_secret,
                        spend,
                        r,
                        i as u64,
                        outputs[i].target.key(),
                        outputs[i].target.view_tag(),
                    )
                    .expect("keys")
                })
            })
            .collect();
        assert_eq!(mine, vec![j]);
    }
}

/// A candidate made from a real mainnet block has the block's id; from the real template, the
/// template's hashing blob; and it round-trips through its encoding. Block 2,751,506 pays
/// exactly the tail emission (it has no fees), which `reward` gives for today's mainnet.
#[test]
fn candidates_of_real_blocks() {
    use otedama_consensus::chain::monero::candidate::MoneroCandidate;
    use otedama_consensus::chain::monero::reward::{base_reward, penalized_reward, TAIL_EMISSION};
    let mut checked = 0;
    for line in MAINNET.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let blob = if f[0] == "block" { f[5] } else { f[3] };
        let block = Block::parse(&hex::decode(blob).expect("hex")).expect("block");
        let mut leaves = vec![block.miner_tx.hash()];
        leaves.extend_from_slice(&block.tx_hashes);
        let c = MoneroCandidate {
            header: block.header.clone(),
            miner_tx: block.miner_tx.clone(),
            tx_branch: first_leaf_branch(&leaves),
            tx_count: leaves.len() as u64,
            seed_hash: [0; 32],
        };
        if f[0] == "block" {
            assert_eq!(hex::encode(c.id()), f[2], "block {}", f[1]);
            assert_eq!(c.reward(), Some(f[4].parse().expect("reward")));
            if f[1] == "2751506" {
                assert_eq!(c.reward(), Some(TAIL_EMISSION));
                let now = base_reward(18_300_000 * 1_000_000_000_000);
                assert_eq!(penalized_reward(now, 100_000, 300_000), c.reward());
            }
        } else {
            assert_eq!(hex::encode(c.hashing_blob()), f[2], "template {}", f[1]);
        }
        assert_eq!(c.hashing_blob(), block.hashing_blob());
        let mut enc = Vec::new();
        c.encode(&mut enc);
        assert_eq!(MoneroCandidate::decode(&enc), Ok((c, enc.len())));
        checked += 1;
    }
    assert_eq!(checked, 3);
}

/// A whole Monero share's candidate on the real mainnet template (hard fork 14 header, raised to
/// 16 for the rule): deterministic tx key, outputs to a mix of payees, the miner transaction in
/// the share layout, the candidate through its encoding, the stateless checks, and the payouts
/// recomputed from the facts as a validating node does. The full block built from the same
/// parts (template transactions included) has the candidate's id.
#[test]
fn a_share_candidate_end_to_end() {
    use otedama_consensus::chain::monero::candidate::MoneroCandidate;
    use otedama_consensus::chain::monero::check::check_candidate;
    use otedama_consensus::chain::monero::keys;
    use otedama_consensus::chain::monero::miner_tx::build_miner_tx;
    use otedama_consensus::chain::monero::outputs::{payout_outputs, payouts_match};
    use otedama_consensus::chain::monero::payee::Payee;
    use otedama_consensus::chain::monero::tx_key::tx_secret_key;
    let line = MAINNET
        .lines()
        .find(|l| l.starts_with("template"))
        .expect("template");
    let f: Vec<&str> = line.split(' ').collect();
    let mut block = Block::parse(&hex::decode(f[3]).expect("hex")).expect("template");
    block.header.major_version = 16;
    block.header.minor_version = 16;
    let height = block.miner_tx.height;

    let w: Vec<_> = (0..4)
        .map(|i| e2e_wallet(&format!("share wallet {i}")))
        .collect();
    let (d, c) = keys::subaddress_keys(&w[3].1, &w[3].2, 2, 7).expect("subaddress");
    let payees = vec![
        (
            Payee::new(w[0].2, w[0].3, false).expect("payee"),
            300_000_000_000,
        ),
        (
            Payee::new(w[1].2, w[1].3, false).expect("payee"),
            200_000_000_000,
        ),
        (
            Payee::new(w[2].2, w[2].3, false).expect("payee"),
            99_000_000_000,
        ),
        (Payee::new(d, c, true).expect("payee"), 1_000_000_000),
    ];
    let consensus_id = [0x11; 32];
    let commitment = [0x22; 32];
    let r = tx_secret_key(&consensus_id, &block.header.prev_id);
    let outs = payout_outputs(&r, &payees).expect("outputs");
    let miner_tx = build_miner_tx(height, &outs, &[0; 8], &commitment).expect("miner tx");
    block.miner_tx = miner_tx.clone();

    let mut leaves = vec![miner_tx.hash()];
    leaves.extend_from_slice(&block.tx_hashes);
    let cand = MoneroCandidate {
        header: block.header.clone(),
        miner_tx,
        tx_branch: first_leaf_branch(&leaves),
        tx_count: leaves.len() as u64,
        seed_hash: [0x33; 32],
    };
    let mut enc = Vec::new();
    cand.encode(&mut enc);
    let (cand, n) = MoneroCandidate::decode(&enc).expect("decode");
    assert_eq!(n, enc.len());
    assert_eq!(cand.id(), block.id());
    assert_eq!(cand.hashing_blob(), block.hashing_blob());
    assert_eq!(Block::parse(&block.serialize()).expect("block"), block);

    let facts = check_candidate(&cand, height, &commitment, 1000).expect("stateless");
    assert_eq!(facts.payout_count, 4);
    assert_eq!(facts.reward, 600_000_000_000);
    // The validating node's side: the key from the share, the payouts from its PPLNS window.
    let r_node = tx_secret_key(&consensus_id, &cand.header.prev_id);
    assert!(payouts_match(
        &r_node,
        &payees,
        &facts.tx_public,
        &facts.additional,
        &cand.miner_tx.outputs
    ));
    // Another parent or pool gives another key, and the outputs no longer match.
    for other in [
        tx_secret_key(&consensus_id, &[0x23; 32]),
        tx_secret_key(&[0x12; 32], &cand.header.prev_id),
    ] {
        assert!(!payouts_match(
            &other,
            &payees,
            &facts.tx_public,
            &facts.additional,
            &cand.miner_tx.outputs
        ));
    }
}
