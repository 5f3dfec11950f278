//! Fuzzing entry (`fuzz/`, target `stratum_line`): what a Stratum connection does with the bytes
//! a miner sends before any job state is involved. The bytes go through the connection's
//! bounded line reader; each line is read as the session reads it (UTF-8, JSON-RPC object, id,
//! method, params) and its params go through the parsers of the method it names (username,
//! password difficulty, suggested difficulty, version-rolling mask, submit fields).

use super::line::{LineRead, LineReader};
use super::protocol::parse_hex_uint;
use super::session::password_difficulty;
use super::username::{parse_username, script_address};
use otedama_consensus::chain::Chain;
use otedama_consensus::PayoutScript;
use serde_json::Value;
use std::future::Future;
use std::task::{Context, Poll, Waker};

/// Feeds `input` to a line reader of `max_line` bytes and every line to the request parsers.
/// Returns how many lines were whole JSON-RPC requests with a method.
#[doc(hidden)]
pub fn fuzz_lines(input: &[u8], max_line: usize) -> usize {
    let mut reader = LineReader::new(input, max_line);
    let mut requests = 0;
    let mut lines = 0;
    loop {
        let next = {
            let fut = std::pin::pin!(reader.next_line());
            // A byte slice is always ready: one poll finishes the read.
            match fut.poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(r) => r.expect("reading a byte slice cannot fail"),
                Poll::Pending => panic!("the line reader waited on a byte slice"),
            }
        };
        match next {
            LineRead::Line(line) => {
                assert!(line.len() <= max_line, "a line over the limit was returned");
                lines += 1;
                assert!(lines <= input.len() + 1, "more lines than bytes");
                if fuzz_request(&line) {
                    requests += 1;
                }
            }
            LineRead::TooLong | LineRead::Eof => return requests,
        }
    }
}

/// One line as `Session::on_line` reads it, then the params parsers of its method. Returns
/// whether it was a request with a method.
#[doc(hidden)]
pub fn fuzz_request(raw: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(raw) else {
        return false;
    };
    let text = text.trim();
    let Ok(Value::Object(mut obj)) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    let _id = obj.remove("id").unwrap_or(Value::Null);
    let Some(Value::String(method)) = obj.remove("method") else {
        return false;
    };
    let params = obj.remove("params").unwrap_or(Value::Null);
    match method.as_str() {
        "mining.authorize" => {
            if let Some(user) = params.get(0).and_then(Value::as_str) {
                let default = PayoutScript::new(&[
                    0x00, 0x14, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                ]);
                for chain in [Chain::Bitcoin, Chain::LitecoinRegtest] {
                    let Some(params) = chain.bitcoin_params() else {
                        continue;
                    };
                    let address = script_address(params, &default).expect("p2wpkh has an address");
                    if let Ok(u) = parse_username(params, &default, &address, user) {
                        assert!(u.default_payout || script_address(params, &u.payout).is_some());
                    }
                }
            }
            if let Some(d) = params
                .get(1)
                .and_then(Value::as_str)
                .and_then(password_difficulty)
            {
                assert!(d.is_finite() && d > 0.0);
            }
        }
        "mining.suggest_difficulty" => {
            let _ = params.get(0).and_then(|v| match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            });
        }
        "mining.configure" => {
            if let Some(Value::Object(o)) = params.get(1) {
                if let Some(m) = o.get("version-rolling.mask") {
                    if let Some(mask) = parse_hex_uint(m, 1, 8) {
                        assert!(mask <= u64::from(u32::MAX));
                    }
                }
            }
        }
        "mining.submit" => {
            if let Some(p) = params.as_array() {
                for (i, (min, max)) in [(1, 16), (8, 8), (8, 8), (1, 8)].into_iter().enumerate() {
                    let at = if i == 0 { 1 } else { i + 2 };
                    if let Some(v) = p.get(at).and_then(|v| parse_hex_uint(v, min, max)) {
                        assert!(max == 16 || v <= u64::from(u32::MAX));
                    }
                }
                if let Some(e2) = p.get(2).and_then(Value::as_str) {
                    let _ = hex::decode(e2);
                }
            }
        }
        _ => {}
    }
    true
}
