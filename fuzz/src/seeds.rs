//! Writes the seed corpora (`fuzz/corpus/<target>/seed-*`) from real values: shares built and
//! ground by the consensus testkit, messages of the sync protocol, gossip, Stratum lines from
//! docs/stratum.md, `getblocktemplate` replies of a real litecoind (`/work/shared/vectors`
//! when present), HTTP heads. Run when a format changes:
//!
//!   cargo +nightly fuzz build && $CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/write_seeds fuzz/corpus

use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{PoolParams, Preset};
use otedama_consensus::testkit::{first_share_on, make_share, script, template, T0};
use otedama_consensus::{MemoryChain, Share};
use otedama_node::p2p::{gossip, wire};
use otedama_sharechain::{codec, BlockStatus, FoundBlock};
use std::path::Path;

fn write(root: &Path, target: &str, name: &str, data: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

/// Writes every seed under `root/<target>/`.
pub fn write_all(root: &Path) {
    let pool = PoolParams::preset(Chain::LitecoinRegtest, Preset::Main);
    let mut view = MemoryChain::new();
    let mut parent = None;
    let mut shares: Vec<Share> = Vec::new();
    let mut infos = Vec::new();
    for i in 0..12u64 {
        let t = T0 + 10 * i;
        let s = make_share(&pool, &view, parent, i as u32, t, vec![], i).unwrap();
        infos.push(view.validate_and_insert(&pool, &s, t).unwrap());
        parent = Some(s.id());
        shares.push(s);
    }
    let first = &shares[0];
    let last = &shares[shares.len() - 1];
    let ids: Vec<_> = shares.iter().map(Share::id).collect();

    // share_decode
    write(root, "share_decode", "first", &first.encode());
    write(root, "share_decode", "twelve-miners", &last.encode());

    // p2p_wire
    let msgs = [
        (
            "get-headers",
            wire::Request::GetHeaders {
                locator: ids[..5].to_vec(),
                max: 2000,
            }
            .encode(),
        ),
        (
            "get-headers-empty",
            wire::Request::GetHeaders {
                locator: vec![],
                max: 0,
            }
            .encode(),
        ),
        (
            "get-shares",
            wire::Request::GetShares {
                ids: ids[3..6].to_vec(),
            }
            .encode(),
        ),
        (
            "headers",
            wire::Response::Headers {
                tip: Some(wire::TipInfo {
                    id: ids[11],
                    height: 11,
                    cumulative_work: 123_456_789,
                }),
                start_height: 3,
                ids: ids[3..].to_vec(),
            }
            .encode(),
        ),
        (
            "headers-none",
            wire::Response::Headers {
                tip: None,
                start_height: 0,
                ids: vec![],
            }
            .encode(),
        ),
        (
            "shares",
            wire::Response::Shares {
                shares: vec![first.encode(), last.encode()],
            }
            .encode(),
        ),
        ("busy", wire::Response::Busy.encode()),
        ("get-base", wire::Request::GetBase.encode()),
        (
            "base",
            wire::Response::Base {
                tip: Some(wire::TipInfo {
                    id: ids[11],
                    height: 11,
                    cumulative_work: 123_456_789,
                }),
                base: Some(wire::BaseData {
                    share: shares[4].encode(),
                    info: codec::encode_info(&infos[4]),
                }),
            }
            .encode(),
        ),
        (
            "base-none",
            wire::Response::Base {
                tip: None,
                base: None,
            }
            .encode(),
        ),
    ];
    for (name, m) in &msgs {
        write(root, "p2p_wire", name, m);
    }

    // gossip_frame
    write(root, "gossip_frame", "share", &gossip::encode(first));
    write(root, "gossip_frame", "share-twelve", &gossip::encode(last));
    for (name, share) in [("compact", first), ("compact-twelve", last)] {
        if let Some(c) = gossip::encode_compact(share) {
            write(root, "gossip_frame", name, &c);
        }
    }
    let t = template(500, 5_000_000_000);
    let s = first_share_on(&pool, &t, &script(9), [3; 12]);
    let block = t.assemble_block(
        &s.candidate.as_bitcoin().unwrap().header,
        &s.candidate.as_bitcoin().unwrap().coinbase,
    );
    write(root, "gossip_frame", "block", &gossip::encode_block(&block));

    // gbt_reply: real litecoind replies, and a block and a transaction on the wire
    let vectors = Path::new("/work/shared/vectors/litecoin-regtest-gbt");
    if let Ok(entries) = std::fs::read_dir(vectors) {
        for e in entries {
            let p = e.unwrap().path();
            let json: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            write(
                root,
                "gbt_reply",
                &name,
                serde_json::to_string(&json).unwrap().as_bytes(),
            );
        }
    }
    write(root, "gbt_reply", "block", &block);
    write(
        root,
        "gbt_reply",
        "coinbase-tx",
        &bitcoin::consensus::serialize(&s.candidate.as_bitcoin().unwrap().coinbase),
    );

    // stratum_line: the session of docs/stratum.md, line by line and as one stream
    let lines = [
        r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"ffffffff","version-rolling.min-bit-count":2}]}"#,
        r#"{"id":2,"method":"mining.subscribe","params":["cgminer/4.11.1"]}"#,
        r#"{"id":3,"method":"mining.authorize","params":["rltc1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq.rig1","d=1024"]}"#,
        r#"{"id":3,"method":"mining.authorize","params":["rig7","x"]}"#,
        r#"{"id":5,"method":"mining.suggest_difficulty","params":[512]}"#,
        r#"{"id":4,"method":"mining.submit","params":["rig7","0006a1f3c0000001","0000000000000001","6650b2c1","a1b2c3d4","00002000"]}"#,
        r#"{"id":6,"method":"mining.extranonce.subscribe","params":[]}"#,
        r#"{"id":7,"result":true,"error":null}"#,
    ];
    for (i, l) in lines.iter().enumerate() {
        write(
            root,
            "stratum_line",
            &format!("line{i}"),
            format!("{l}\n").as_bytes(),
        );
    }
    write(
        root,
        "stratum_line",
        "session",
        (lines.join("\r\n") + "\n").as_bytes(),
    );

    // http_request
    let heads: [(&str, &[u8]); 3] = [
        ("post", b"POST / HTTP/1.1\r\nHost: 127.0.0.1:9334\r\nAuthorization: Basic X19jb29raWVfXzphYmM=\r\nContent-Type: application/json\r\nContent-Length: 52\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getstatus\"}"),
        ("get-metrics", b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"),
        ("get-events", b"GET /events HTTP/1.0\r\nAccept: text/event-stream\r\nConnection: keep-alive\r\n\r\n"),
    ];
    for (name, h) in heads {
        write(root, "http_request", name, h);
    }

    // http_response: flags byte (bit 0: HEAD request), then what the server sent
    let responses: [(&str, u8, &[u8]); 6] = [
        ("length", 0, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"result\":null,\"error\":null,\"id\":1}    "),
        ("chunked", 0, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"),
        ("close", 0, b"HTTP/1.0 500 Internal Server Error\r\nConnection: close\r\n\r\n{\"error\":{\"code\":-8}}"),
        ("interim", 0, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jsonrpc\"\r\nContent-Length: 0\r\n\r\n"),
        ("head", 1, b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        ("no-content", 0, b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n"),
    ];
    for (name, flags, r) in responses {
        let mut v = vec![flags];
        v.extend_from_slice(r);
        write(root, "http_response", name, &v);
    }

    // store_codecs
    write(
        root,
        "store_codecs",
        "info-first",
        &codec::encode_info(&infos[0]),
    );
    write(
        root,
        "store_codecs",
        "info-last",
        &codec::encode_info(&infos[11]),
    );
    write(
        root,
        "store_codecs",
        "height-key",
        &codec::height_key(11, &ids[11]),
    );
    let fb = FoundBlock {
        share: ids[4],
        parent_height: 104,
        reward: 5_000_000_000,
        time: T0,
        status: BlockStatus::Rejected,
        reason: "bad-txnmrklroot".into(),
        attempts: 3,
    };
    write(root, "store_codecs", "found-block", &fb.encode());
    let mut v1 = fb.encode();
    v1[0] = 1;
    v1.truncate(1 + 32 + 4 + 8 + 8);
    write(root, "store_codecs", "found-block-v1", &v1);
}
