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

use bitcoin::hashes::Hash as _;
use otedama_consensus::chain::monero::address::{Address, AddressKind, Network};
use otedama_consensus::chain::monero::block::{
    extra_pubkey, Block, MinerTx, OutputTarget, TxOut, EXTRA_TAG_ADDITIONAL_PUBKEYS,
    EXTRA_TAG_NONCE, EXTRA_TAG_PUBKEY,
};
use otedama_consensus::chain::monero::hash::Hash32;
use otedama_consensus::chain::monero::keys;
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::monero::varint::write_varint;
use otedama_consensus::monero_builder::{
    build_monero_share, grind_monero, MoneroShareInput, MoneroTemplate,
};
use otedama_consensus::pow::{PowHasher, PowInput};
use otedama_consensus::{Chain, MemoryChain, PayoutScript, PoolParams, Preset};
use otedama_mining::randomx_pow::RandomXHasher;
use otedama_randomx::{Cache, Flags, LargePages, Vm};
use otedama_tests::monerod::{available, block_of, grind, Monerod, RpcError, WalletRpc};
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

/// Restores `w` from its keys as the open wallet of `wallets` and returns its refreshed balance.
fn restored_balance(wallets: &WalletRpc, file: &str, w: &Wallet) -> u64 {
    wallets.restore(
        file,
        &w.address.to_string(),
        &hex::encode(w.spend_secret),
        &hex::encode(w.view_secret),
    );
    wallets.refreshed_balance()
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
    let miss = grind(&block1, &mut |b| vm.hash(b), difficulty, 0, false);
    match submit(&daemon, &miss) {
        Err(RpcError::Node { code, message }) => {
            eprintln!(
                "nonce {} refused as expected: {code} {message}",
                miss.header.nonce
            )
        }
        other => panic!("a block our hash says misses was not refused: {other:?}"),
    }
    let hit = grind(
        &block1,
        &mut |b| vm.hash(b),
        difficulty,
        miss.header.nonce + 1,
        true,
    );
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
    let mined = grind(&block2, &mut |b| vm.hash(b), difficulty2, 0, true);
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
        let balance = restored_balance(&wallets, &format!("w{i}"), w);
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

/// Issue 16, part 3: a Monero sharechain of three miners (two standard addresses and a
/// subaddress) built by Otedama's consensus code (`monero_builder`: PPLNS split, deterministic
/// transaction key, one-time keys, view tags), every share validated with real RandomX through
/// the node's hasher (`RandomXHasher`); the last share also meets monerod's difficulty, so it is
/// a block: monerod accepts it, and each wallet sees exactly what the split assigned to it.
///
/// Not a friendly chain: the template carries real transactions from the pool (a funded wallet
/// sends several before the shares are built), so the shares' transaction-tree branches are
/// non-trivial and the reward includes their fees.
#[test]
fn a_block_found_by_a_monero_share_pays_the_pplns_split() {
    if !available("a_block_found_by_a_monero_share_pays_the_pplns_split") {
        return;
    }
    let daemon = Monerod::start("monerod-shares", DIFFICULTY);
    let wallets = WalletRpc::start("monero-wallet-rpc-shares", &daemon);

    // A funded wallet fills the pool: coinbase outputs unlock after 60 blocks, and wallet2
    // needs 16 unlocked outputs on chain as ring members, so 90 blocks leave ~30 spendable.
    let funder = wallet("otedama share funder");
    daemon.generate_blocks(90, &funder.address.to_string());
    let balance = restored_balance(&wallets, "funder", &funder);
    assert!(balance > 0, "the funder mined nothing");
    let sink = wallet("otedama share payment sink");
    const PAYMENTS: u64 = 4;
    for i in 0..PAYMENTS {
        wallets
            .rpc()
            .call(
                "transfer",
                json!({
                    "destinations": [{"amount": 1_000_000_000_000u64 + i, "address": sink.address.to_string()}],
                    "priority": 0,
                }),
            )
            .unwrap_or_else(|e| panic!("transfer {i}: {e}\n{}", wallets.log_tail(20)));
    }
    let pool_size = |d: &Monerod| {
        d.rpc()
            .call("get_info", json!({}))
            .unwrap_or_else(|e| panic!("get_info: {e}"))["tx_pool_size"]
            .as_u64()
            .expect("tx_pool_size")
    };
    assert_eq!(pool_size(&daemon), PAYMENTS, "payments in the pool");

    let (block, t) = template(&daemon, &sink.address);
    assert_eq!(
        block.tx_hashes.len() as u64,
        PAYMENTS,
        "the template carries the pool's transactions"
    );
    let seed: Hash32 = hex::decode(t["seed_hash"].as_str().expect("seed"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let difficulty = u128::from(t["difficulty"].as_u64().expect("difficulty"));
    let height = t["height"].as_u64().expect("height");
    let monero_template = MoneroTemplate {
        major_version: block.header.major_version,
        minor_version: block.header.minor_version,
        timestamp: block.header.timestamp,
        prev_id: block.header.prev_id,
        height,
        seed_hash: seed,
        tx_hashes: block.tx_hashes.clone(),
        reward: block.miner_tx.total_amount().expect("reward"),
    };
    assert!(
        Some(monero_template.reward) == t["expected_reward"].as_u64(),
        "the template's reward (base + fees) is monerod's expected reward"
    );
    let hasher = RandomXHasher::new(Flags::recommended());
    hasher.set_seeds(seed, None).expect("RandomX cache");

    let miners: Vec<Wallet> = (0..3)
        .map(|i| wallet(&format!("otedama share wallet {i}")))
        .collect();
    // The third miner is paid at its subaddress (0, 1).
    let (d, c) = keys::subaddress_keys(
        &miners[2].view_secret,
        &miners[2].address.spend_public,
        0,
        1,
    )
    .expect("subaddress");
    let addresses = [
        miners[0].address,
        miners[1].address,
        Address {
            network: Network::Mainnet,
            kind: AddressKind::Subaddress,
            spend_public: d,
            view_public: c,
        },
    ];
    let payees: Vec<PayoutScript> = addresses
        .iter()
        .map(|a| PayoutScript::new(&Payee::from_address(a).expect("payee").to_bytes()))
        .collect();

    let pool = PoolParams::preset(Chain::MoneroRegtest, Preset::Main);
    let mut chain = MemoryChain::default();
    let now = block.header.timestamp;
    let mut parent = None;
    let mut tip = None;
    let mut randomx = |blob: &[u8]| {
        hasher
            .pow_hash(PowInput::RandomX { seed: &seed, blob })
            .expect("a seed the hasher holds")
    };
    for n in 0..6u64 {
        let share = build_monero_share(
            &pool,
            &chain,
            &MoneroShareInput {
                parent,
                uncles: vec![],
                payout_script: payees[(n % 3) as usize].clone(),
                now: now + n,
                software_version: 1,
                template: &monero_template,
                extra_nonce: &n.to_le_bytes(),
            },
        )
        .unwrap_or_else(|e| panic!("share {n}: {e}"));
        // The last share is also a block: grind until RandomX meets monerod's difficulty.
        let share = if n < 5 {
            grind_monero(share, &hasher).expect("share ground")
        } else {
            let mined = grind(
                &block_of(&share, &monero_template),
                &mut randomx,
                difficulty,
                0,
                true,
            );
            let mut s = share;
            s.candidate.as_monero_mut().expect("monero").header.nonce = mined.header.nonce;
            s
        };
        let info = chain
            .validate_and_insert_with(&pool, &share, now + 100, &hasher)
            .unwrap_or_else(|e| panic!("share {n} refused: {e}"));
        parent = Some(info.id);
        tip = Some(share);
    }
    let tip = tip.expect("six shares");
    let block = block_of(&tip, &monero_template);
    assert_eq!(block.id(), *tip.id().as_byte_array(), "share id = block id");
    submit(&daemon, &block)
        .unwrap_or_else(|e| panic!("block from a share refused: {e}\n{}", daemon.log_tail(30)));
    assert_eq!(header_hash(&daemon, height), hex::encode(block.id()));
    assert_eq!(
        pool_size(&daemon),
        0,
        "the block mined the pool's transactions"
    );

    // What the split paid each payee, by the consensus code; all of the reward.
    let paid: Vec<u64> = payees.iter().map(|p| tip.paid_to(&pool, p)).collect();
    assert_eq!(paid.iter().sum::<u64>(), monero_template.reward);
    assert!(paid.iter().all(|p| *p > 0), "{paid:?}");

    for (i, (w, amount)) in miners.iter().zip(&paid).enumerate() {
        let balance = restored_balance(&wallets, &format!("s{i}"), w);
        assert_eq!(
            balance,
            *amount,
            "wallet {i} sees {balance}, the split paid {amount}; transfers: {}",
            wallets.incoming()
        );
        eprintln!("share wallet {i}: {balance} piconero, as split");
    }
}
