//! Monero's own test vectors (Debian `monero-tests` 0.18, copied into tests/vectors/monero with
//! their source in its README) against `chain::monero`: Keccak, tree hash, key derivation,
//! one-time keys, view tags; plus known mainnet addresses.

use otedama_consensus::chain::monero::address::{Address, AddressKind, Network};
use otedama_consensus::chain::monero::hash::{keccak256, tree_hash, Hash32};
use otedama_consensus::chain::monero::keys;

const KECCAK: &str = include_str!("vectors/monero/keccak.txt");
const TREE: &str = include_str!("vectors/monero/tree-hash.txt");
const CRYPTO: &str = include_str!("vectors/monero/crypto.txt");

fn h32(s: &str) -> Hash32 {
    let v = hex::decode(s).expect("hex");
    v.try_into().expect("32 bytes")
}

#[test]
fn keccak_vectors() {
    let mut n = 0;
    for line in KECCAK.lines() {
        let (want, input) = line.split_once(' ').expect("two fields");
        let input = if input == "x" {
            vec![]
        } else {
            hex::decode(input).expect("hex")
        };
        assert_eq!(hex::encode(keccak256(&input)), want, "input {line}");
        n += 1;
    }
    assert_eq!(n, 80);
}

#[test]
fn tree_hash_vectors() {
    let mut n = 0;
    for line in TREE.lines() {
        let (want, all) = line.split_once(' ').expect("two fields");
        let bytes = hex::decode(all).expect("hex");
        let hashes: Vec<Hash32> = bytes
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32"))
            .collect();
        assert_eq!(hex::encode(tree_hash(&hashes).expect("non-empty")), want);
        n += 1;
    }
    assert_eq!(n, 16);
}

#[test]
fn crypto_vectors() {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for line in CRYPTO.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "generate_key_derivation" => {
                let got = keys::generate_key_derivation(&h32(f[1]), &h32(f[2]));
                match f[3] {
                    "true" => assert_eq!(got.map(hex::encode), Ok(f[4].to_owned()), "{line}"),
                    _ => assert!(got.is_err(), "{line}"),
                }
            }
            "derive_public_key" => {
                let index: u64 = f[2].parse().expect("index");
                let got = keys::derive_public_key(&h32(f[1]), index, &h32(f[3]));
                match f[4] {
                    "true" => assert_eq!(got.map(hex::encode), Ok(f[5].to_owned()), "{line}"),
                    _ => assert!(got.is_err(), "{line}"),
                }
            }
            "derive_secret_key" => {
                let index: u64 = f[2].parse().expect("index");
                let got = keys::derive_secret_key(&h32(f[1]), index, &h32(f[3]));
                assert_eq!(got.map(hex::encode), Ok(f[4].to_owned()), "{line}");
            }
            "derive_view_tag" => {
                let index: u64 = f[2].parse().expect("index");
                let got = keys::derive_view_tag(&h32(f[1]), index);
                assert_eq!(format!("{got:02x}"), f[3], "{line}");
            }
            "secret_key_to_public_key" => {
                let got = keys::secret_key_to_public_key(&h32(f[1]));
                match f[2] {
                    "true" => assert_eq!(got.map(hex::encode), Ok(f[3].to_owned()), "{line}"),
                    _ => assert!(got.is_err(), "{line}"),
                }
            }
            "hash_to_scalar" => {
                let input = hex::decode(f[1]).expect("hex");
                let got = keys::hash_to_scalar(&input).to_bytes();
                assert_eq!(hex::encode(got), f[2], "{line}");
            }
            "check_key" => {
                assert_eq!(keys::check_key(&h32(f[1])), f[2] == "true", "{line}");
            }
            "check_scalar" => {
                assert_eq!(keys::scalar(&h32(f[1])).is_ok(), f[2] == "true", "{line}");
            }
            other => panic!("unexpected vector kind {other}"),
        }
        *counts.entry(f[0]).or_default() += 1;
    }
    eprintln!("{counts:?}");
    assert_eq!(counts.len(), 8, "every kind present: {counts:?}");
}

/// The Monero Project's donation addresses (getmonero.org): a mainnet standard address and the
/// General Fund's subaddress. The 4-byte Keccak checksum makes a typo fail the parse.
#[test]
fn known_mainnet_addresses() {
    let standard = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A";
    let sub = "888tNkZrPN6JsEgekjMnABU4TBzc2Dt29EPAvkRxbANsAnjyPbb3iQ1YBRk1UXcdRsiKc9dhwMVgN5S9cQUiyoogDavup3H";
    let a = Address::parse(standard).expect("standard address");
    assert_eq!(
        (a.network, a.kind),
        (Network::Mainnet, AddressKind::Standard)
    );
    assert_eq!(a.to_string(), standard);
    let s = Address::parse(sub).expect("subaddress");
    assert_eq!(
        (s.network, s.kind),
        (Network::Mainnet, AddressKind::Subaddress)
    );
    assert_eq!(s.to_string(), sub);
    // A changed character breaks the checksum (or a block's range).
    let mut bad = standard.to_owned();
    bad.replace_range(50..51, "z");
    assert!(Address::parse(&bad).is_err());
    // Other networks' tags round-trip too.
    for network in [Network::Stagenet, Network::Testnet] {
        for kind in [
            AddressKind::Standard,
            AddressKind::Subaddress,
            AddressKind::Integrated { payment_id: [7; 8] },
        ] {
            let other = Address { network, kind, ..a };
            let text = other.to_string();
            assert_eq!(Address::parse(&text), Ok(other), "{text}");
            assert!(Address::parse_for(&text, Network::Mainnet).is_err());
        }
    }
}

const MAINNET: &str = include_str!("vectors/monero/mainnet.txt");

/// Real mainnet blocks: parse, byte-identical re-serialisation, miner tx hash, block id and
/// reward; and a real mainnet template's hashing blob.
#[test]
fn mainnet_blocks_and_template() {
    use otedama_consensus::chain::monero::block::Block;
    let mut n = 0;
    for line in MAINNET.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "block" => {
                let height: u64 = f[1].parse().expect("height");
                let blob = hex::decode(f[5]).expect("hex");
                let block = Block::parse(&blob).unwrap_or_else(|e| panic!("block {height}: {e}"));
                assert_eq!(block.serialize(), blob, "block {height} round trip");
                assert_eq!(block.miner_tx.height, height);
                assert_eq!(block.miner_tx.unlock_time, height + 60);
                assert_eq!(
                    hex::encode(block.miner_tx.hash()),
                    f[3],
                    "miner tx {height}"
                );
                assert_eq!(hex::encode(block.id()), f[2], "block id {height}");
                let reward: u64 = f[4].parse().expect("reward");
                assert_eq!(block.miner_tx.total_amount(), Some(reward));
                assert!(block
                    .miner_tx
                    .outputs
                    .iter()
                    .all(|o| o.target.view_tag().is_some()));
            }
            "template" => {
                let blob = hex::decode(f[3]).expect("hex");
                let block = Block::parse(&blob).expect("template");
                assert_eq!(block.serialize(), blob);
                assert_eq!(hex::encode(block.hashing_blob()), f[2], "template {}", f[1]);
                assert_eq!(block.tx_hashes.len(), 5);
            }
            other => panic!("unknown line kind {other}"),
        }
        n += 1;
    }
    assert_eq!(n, 3);
}
