//! Otedama's Monero primitives against a real regtest `monerod` (Debian's 0.18) and real
//! `monero-wallet-rpc`, with RandomX from Debian's librandomx through `otedama-randomx`:
//!
//! 1. `get_block_template`'s blob parses and re-serialises byte for byte, our hashing blob is
//!    monerod's `blockhashing_blob`, the template's seed is the genesis id we compute, and
//!    monerod's own coinbase output is found by our key derivation (one-time key and view tag).
//! 2. Our RandomX hash decides for monerod: a nonce our hash says misses the difficulty is
//!    refused, one it says meets it is accepted, and the block id is ours.
//! 3. A miner transaction built by our code pays three fresh wallets (two standard addresses and
//!    a subaddress, so with additional transaction keys); monerod accepts the block, and each
//!    wallet, restored from its keys in monero-wallet-rpc, sees exactly its amount.

use otedama_consensus::chain::monero::address::{Address, AddressKind, Network};
use otedama_consensus::chain::monero::block::{
    extra_pubkey, Block, MinerTx, OutputTarget, TxOut, EXTRA_TAG_ADDITIONAL_PUBKEYS,
    EXTRA_TAG_NONCE, EXTRA_TAG_PUBKEY,
};
use otedama_consensus::chain::monero::difficulty::meets_difficulty;
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::keys;
use otedama_consensus::chain::monero::varint::write_varint;
use otedama_randomx::{Cache, Flags, LargePages, Vm};
use otedama_tests::monerod::{available, Monerod, RpcError, WalletRpc};
use serde_json::{json, Value};
use std::sync::Arc;

/// Monero mainnet's (and regtest's) genesis block id.
const GENESIS_ID: &str = "418015bb9ae982a1975da7d79277c2705727a56894ba0fb246adaabb1f4632e3";
/// Main-chain difficulty of the test chain: a block needs 16 hashes on average (about two
/// seconds of light-mode RandomX), and 15 of 16 nonces miss, so both outcomes are exercised.
const DIFFICULTY: u64 = 16;

struct Wallet {
    spend_secret: Hash32,
    view_secret: Hash32,
    address: Address,
}

/// A wallet the way Monero makes deterministic ones: spend secret `b` (here from a name), view
/// secret `a = Hs(b)`.
fn wallet(name: &str) -> Wallet {
    let spend_secret = keys::hash_to_scalar(name.as_bytes()).to_bytes();
    let view_secret = keys::hash_to_scalar(&spend_secret).to_bytes();
    let address = Address {
        network: Network::Mainnet,
        kind: AddressKind::Standard,
        spend_public: keys::secret_key_to_public_key(&spend_secret).expect("spend key"),
        view_public: keys::secret_key_to_public_key(&view_secret).expect("view key"),
    };
    Wallet {
        spend_secret,
        view_secret,
        address,
    }
}

fn template(daemon: &Monerod, address: &Address) -> (Block, Value) {
    let t = daemon
        .rpc()
        .call(
            "get_block_template",
            json!({"wallet_address": address.to_string(), "reserve_size": 16}),
        )
        .unwrap_or_else(|e| panic!("get_block_template: {e}"));
    let blob = hex::decode(t["blocktemplate_blob"].as_str().expect("blob")).expect("hex");
    let block = Block::parse(&blob).unwrap_or_else(|e| panic!("template does not parse: {e}"));
    assert_eq!(block.serialize(), blob, "template does not round-trip");
    assert_eq!(
        hex::encode(block.hashing_blob()),
        t["blockhashing_blob"].as_str().expect("hashing blob"),
        "our hashing blob differs from monerod's"
    );
    (block, t)
}

/// Hashes nonces from `start` until `want(meets)`; returns the block with that nonce and
/// whether it meets the difficulty.
fn grind(block: &Block, vm: &mut Vm, difficulty: u128, start: u32, want: bool) -> Block {
    let mut b = block.clone();
    let blob = b.hashing_blob();
    let at = b.header.nonce_offset();
    let mut hashing = blob.clone();
    for nonce in start.. {
        hashing[at..at + 4].copy_from_slice(&nonce.to_le_bytes());
        if meets_difficulty(&vm.hash(&hashing), difficulty) == want {
            b.header.nonce = nonce;
            assert_eq!(b.hashing_blob(), hashing);
            return b;
        }
    }
    unreachable!("2^32 nonces without the wanted outcome")
}

fn submit(daemon: &Monerod, block: &Block) -> Result<Value, RpcError> {
    daemon
        .rpc()
        .call("submit_block", json!([hex::encode(block.serialize())]))
}

fn header_hash(daemon: &Monerod, height: u64) -> String {
    let h = daemon
        .rpc()
        .call("get_block_header_by_height", json!({"height": height}))
        .unwrap_or_else(|e| panic!("get_block_header_by_height {height}: {e}"));
    h["block_header"]["hash"].as_str().expect("hash").to_owned()
}

#[test]
fn monerod_accepts_our_blocks_and_wallets_see_our_payouts() {
    if !available("monerod_accepts_our_blocks_and_wallets_see_our_payouts") {
        return;
    }
    let daemon = Monerod::start("monerod-block", DIFFICULTY);
    let miner = wallet("otedama e2e wallet 0");

    // 1. Template at height 1.
    let (block1, t1) = template(&daemon, &miner.address);
    assert_eq!(t1["height"], 1);
    assert_eq!(
        t1["seed_hash"], GENESIS_ID,
        "regtest's first key is the genesis id"
    );
    assert_eq!(header_hash(&daemon, 0), GENESIS_ID);
    let difficulty = u128::from(t1["difficulty"].as_u64().expect("difficulty"));
    assert_eq!(difficulty, u128::from(DIFFICULTY));
    // monerod's own coinbase output to our wallet: found by our derivation and view tag.
    let tx = &block1.miner_tx;
    let r_pub = extra_pubkey(&tx.extra).expect("template has a tx public key");
    assert_eq!(tx.outputs.len(), 1);
    let out = tx.outputs[0];
    assert!(
        keys::output_is_mine(
            &miner.view_secret,
            &miner.address.spend_public,
            &r_pub,
            0,
            out.target.key(),
            out.target.view_tag(),
        )
        .expect("valid keys"),
        "monerod's coinbase output is not ours by our derivation"
    );
    let reward1 = tx.total_amount().expect("reward");
    assert_eq!(Some(reward1), t1["expected_reward"].as_u64());

    // 2. Our RandomX hash decides: a miss is refused, a hit accepted.
    let seed = hex::decode(t1["seed_hash"].as_str().expect("seed")).expect("hex");
    let cache = Arc::new(Cache::new(&seed, Flags::recommended(), LargePages::Off).expect("cache"));
    let mut vm = Vm::light(cache).expect("vm");
    let miss = grind(&block1, &mut vm, difficulty, 0, false);
    match submit(&daemon, &miss) {
        Err(RpcError::Node { code, message }) => {
            eprintln!(
                "nonce {} refused as expected: {code} {message}",
                miss.header.nonce
            )
        }
        other => panic!("a block our hash says misses was not refused: {other:?}"),
    }
    let hit = grind(&block1, &mut vm, difficulty, miss.header.nonce + 1, true);
    submit(&daemon, &hit).unwrap_or_else(|e| {
        panic!(
            "block with nonce {} refused: {e}\n{}",
            hit.header.nonce,
            daemon.log_tail(20)
        )
    });
    assert_eq!(daemon.height(), 2);
    assert_eq!(header_hash(&daemon, 1), hex::encode(hit.id()), "block id");

    // 3. Our own miner transaction at height 2, paying three wallets; the third through a
    //    subaddress, which needs per-output transaction keys in tx_extra.
    let (mut block2, t2) = template(&daemon, &miner.address);
    assert_eq!(t2["height"], 2);
    let reward2 = block2.miner_tx.total_amount().expect("reward");
    let recipients: Vec<Wallet> = (1..=3)
        .map(|i| wallet(&format!("otedama e2e wallet {i}")))
        .collect();
    let sub = {
        let w = &recipients[2];
        let (d, c) = keys::subaddress_keys(&w.view_secret, &w.address.spend_public, 0, 1)
            .expect("subaddress");
        Address {
            network: Network::Mainnet,
            kind: AddressKind::Subaddress,
            spend_public: d,
            view_public: c,
        }
    };
    let payees = [recipients[0].address, recipients[1].address, sub];
    // An exact integer split: 1/2, 1/3, and the rest to the subaddress.
    let amounts = [
        reward2 / 2,
        reward2 / 3,
        reward2 - reward2 / 2 - reward2 / 3,
    ];
    let tx_secret = keys::hash_to_scalar(b"otedama e2e tx secret, height 2").to_bytes();
    let tx_public = keys::secret_key_to_public_key(&tx_secret).expect("tx key");
    let mut outputs = Vec::new();
    let mut additional = Vec::new();
    for (i, (payee, amount)) in payees.iter().zip(amounts).enumerate() {
        let d = keys::derive_output(
            &tx_secret,
            &payee.spend_public,
            &payee.view_public,
            payee.is_subaddress(),
            i as u64,
        )
        .expect("derivation");
        outputs.push(TxOut {
            amount,
            target: OutputTarget::TaggedKey {
                key: d.key,
                view_tag: d.view_tag,
            },
        });
        // Standard recipients derive from the main key; their slot repeats it.
        additional.push(d.subaddress_tx_key.unwrap_or(tx_public));
    }
    let mut extra = vec![EXTRA_TAG_PUBKEY];
    extra.extend_from_slice(&tx_public);
    extra.extend_from_slice(&[EXTRA_TAG_NONCE, 8]);
    extra.extend_from_slice(b"otedama!");
    extra.push(EXTRA_TAG_ADDITIONAL_PUBKEYS);
    write_varint(&mut extra, additional.len() as u64);
    for k in &additional {
        extra.extend_from_slice(k);
    }
    block2.miner_tx = MinerTx {
        version: 2,
        unlock_time: block2.miner_tx.unlock_time,
        height: block2.miner_tx.height,
        outputs,
        extra,
    };
    let difficulty2 = u128::from(t2["difficulty"].as_u64().expect("difficulty"));
    let mined = grind(&block2, &mut vm, difficulty2, 0, true);
    submit(&daemon, &mined).unwrap_or_else(|e| {
        panic!(
            "block with our miner tx refused: {e}\n{}",
            daemon.log_tail(30)
        )
    });
    assert_eq!(header_hash(&daemon, 2), hex::encode(mined.id()));

    // 4. Each wallet, restored from its keys, sees exactly what we paid it; the miner wallet
    //    sees monerod's block-1 reward.
    let wallets = WalletRpc::start("monero-wallet-rpc", &daemon);
    let mut expected: Vec<(&Wallet, u64)> = vec![(&miner, reward1)];
    expected.extend(recipients.iter().zip(amounts));
    for (i, (w, amount)) in expected.into_iter().enumerate() {
        wallets.restore(
            &format!("w{i}"),
            &w.address.to_string(),
            &hex::encode(w.spend_secret),
            &hex::encode(w.view_secret),
        );
        let balance = wallets.refreshed_balance();
        assert_eq!(
            balance,
            amount,
            "wallet {i} sees {balance}, was paid {amount}; transfers: {}",
            wallets.incoming()
        );
        eprintln!("wallet {i}: {balance} piconero, as paid");
        if i == 3 {
            // The wallet's own subaddress (0, 1), which it now knows as used, is the one our
            // keys code derived.
            let got = wallets
                .rpc()
                .call(
                    "get_address",
                    json!({"account_index": 0, "address_index": [1]}),
                )
                .unwrap_or_else(|e| panic!("get_address: {e}"));
            assert_eq!(
                got["addresses"][0]["address"],
                sub.to_string(),
                "subaddress (0, 1)"
            );
        }
    }
}
