//! Coinbase transactions of shares: construction from a template, the Stratum split, and the
//! layout rules validation checks.
//!
//! Layout (see docs/consensus.md): one input spending the null outpoint, whose scriptSig is
//! `BIP34 height push | extranonce (extranonce1 || extranonce2) | pool tag`; outputs in the order
//! `payouts (ascending by script) | share commitment | witness commitment (if any)`; when the
//! witness commitment is present the input's witness is one 32-byte zero reserved value.

use crate::share::PayoutScript;
use bitcoin::absolute::LockTime;
use bitcoin::hashes::Hash;
use bitcoin::script::Builder;
use bitcoin::transaction::Version;
use bitcoin::{Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut, Witness};

/// Marker before the 32-byte share commitment in its `OP_RETURN` output ("OTDM").
pub const COMMITMENT_MAGIC: [u8; 4] = *b"OTDM";
/// Bytes of the commitment output's script: OP_RETURN, PUSH36, magic, commitment.
pub const COMMITMENT_SCRIPT_LEN: usize = 2 + 4 + 32;
/// Bitcoin's limit on a coinbase scriptSig (consensus: 2..=100 bytes).
pub const MAX_COINBASE_SCRIPT_SIG: usize = 100;

/// Largest standard payout script: P2WSH and P2TR (witness version, push of 32 bytes).
pub const MAX_STANDARD_PAYOUT_SCRIPT: u64 = 34;
/// Legacy sigops one script byte can count for at worst (`OP_CHECKMULTISIG` counts 20).
const MAX_SIGOPS_PER_SCRIPT_BYTE: u64 = 20;

/// The most block space and sigops any coinbase of this pool can take, given its output cap.
///
/// Non-witness bytes: version 4, input count 1, outpoint 36, scriptSig length 1 and at most 100
/// bytes, sequence 4, output count (compact size of `n + 2`), `n` payouts of at most
/// `8 + 1 + 34` bytes, the share commitment and the witness commitment (`8 + 1 + 38` each),
/// lock time 4. Witness: marker and flag 2, stack count 1, item length 1, reserved value 32.
/// Weight is 4x the non-witness bytes plus the witness bytes. With the output cap of 200 that is
/// 35,416 WU; Core's templates keep 4,000.
///
/// Sigops (cost, 4 per legacy sigop): a P2PKH payout counts one, the other standard forms none;
/// the extranonce and tag are raw scriptSig bytes, which legacy counting reads as opcodes, so
/// each may count as a 20-sigop `OP_CHECKMULTISIG`.
pub fn coinbase_reserve(
    max_payout_outputs: u32,
    extranonce_len: usize,
    tag: &[u8],
) -> crate::template::CoinbaseReserve {
    let n = max_payout_outputs as u64;
    let output = 8 + 1 + MAX_STANDARD_PAYOUT_SCRIPT;
    let commitment = 8 + 1 + 38;
    let non_witness = 4
        + 1
        + 36
        + 1
        + MAX_COINBASE_SCRIPT_SIG as u64
        + 4
        + crate::block_parse::compact_size_len(n + 2)
        + n * output
        + 2 * commitment
        + 4;
    let witness = 2 + 1 + 1 + 32;
    let script_bytes = (extranonce_len + tag.len()).min(MAX_COINBASE_SCRIPT_SIG) as u64;
    crate::template::CoinbaseReserve {
        weight: 4 * non_witness + witness,
        sigops: 4 * (n + script_bytes * MAX_SIGOPS_PER_SCRIPT_BYTE),
    }
}

/// `OP_RETURN PUSH36 "OTDM" || commitment`.
pub fn commitment_script(commitment: &[u8; 32]) -> ScriptBuf {
    let mut s = Vec::with_capacity(COMMITMENT_SCRIPT_LEN);
    s.push(0x6a);
    s.push(0x24);
    s.extend_from_slice(&COMMITMENT_MAGIC);
    s.extend_from_slice(commitment);
    ScriptBuf::from_bytes(s)
}

/// Reads the commitment back out of a commitment script.
pub fn parse_commitment_script(script: &[u8]) -> Option<[u8; 32]> {
    if script.len() != COMMITMENT_SCRIPT_LEN || script[0] != 0x6a || script[1] != 0x24 {
        return None;
    }
    if script[2..6] != COMMITMENT_MAGIC {
        return None;
    }
    script[6..].try_into().ok()
}

/// Whether a script is a BIP141 witness commitment (`OP_RETURN PUSH36 aa21a9ed ...`).
pub fn is_witness_commitment(script: &[u8]) -> bool {
    script.len() >= 38 && script[..6] == [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed]
}

/// The BIP34 height push: a minimal `CScriptNum` push, as Bitcoin Core writes it.
pub fn bip34_height_push(height: u32) -> Vec<u8> {
    Builder::new()
        .push_int(height as i64)
        .into_script()
        .into_bytes()
}

/// What goes into a share's coinbase.
#[derive(Clone, Debug)]
pub struct CoinbaseSpec<'a> {
    pub parent_height: u32,
    /// Exact payouts, ascending by script (from [`crate::pplns::payout_outputs`]).
    pub payouts: &'a [(PayoutScript, u64)],
    /// The share commitment ([`crate::share::SideData::commitment`]).
    pub commitment: [u8; 32],
    /// From the template.
    pub witness_commitment: Option<&'a ScriptBuf>,
    /// Bytes reserved for extranonce1 || extranonce2.
    pub extranonce_len: usize,
    /// Free-form tag after the extranonce (software name); trimmed to fit the scriptSig limit.
    pub tag: &'a [u8],
}

/// Why a coinbase cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoinbaseError {
    #[error("scriptSig would be {0} bytes, over the 100-byte limit")]
    ScriptSigTooLong(usize),
}

/// A coinbase split for Stratum: the miner's txid is
/// `SHA256d(prefix || extranonce1 || extranonce2 || suffix)` over the non-witness serialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StratumCoinbase {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
    pub extranonce_len: usize,
    /// Whether the full transaction needs the segwit reserved-value witness.
    pub has_witness_commitment: bool,
}

impl StratumCoinbase {
    /// The coinbase with a given extranonce filled in (witness included when committed).
    pub fn complete(
        &self,
        extranonce: &[u8],
    ) -> Result<Transaction, bitcoin::consensus::encode::Error> {
        let mut raw = Vec::with_capacity(self.prefix.len() + extranonce.len() + self.suffix.len());
        raw.extend_from_slice(&self.prefix);
        raw.extend_from_slice(extranonce);
        raw.extend_from_slice(&self.suffix);
        let mut tx: Transaction = bitcoin::consensus::deserialize(&raw)?;
        if self.has_witness_commitment {
            if let Some(input) = tx.input.first_mut() {
                input.witness = Witness::from_slice(&[[0u8; 32]]);
            }
        }
        Ok(tx)
    }
}

/// Builds the coinbase with a zeroed extranonce and returns it split around the extranonce.
pub fn build_coinbase(spec: &CoinbaseSpec<'_>) -> Result<StratumCoinbase, CoinbaseError> {
    let height = bip34_height_push(spec.parent_height);
    let room = MAX_COINBASE_SCRIPT_SIG
        .checked_sub(height.len() + spec.extranonce_len)
        .ok_or(CoinbaseError::ScriptSigTooLong(
            height.len() + spec.extranonce_len,
        ))?;
    let tag = &spec.tag[..spec.tag.len().min(room)];
    let mut script_sig = height.clone();
    script_sig.extend(std::iter::repeat_n(0u8, spec.extranonce_len));
    script_sig.extend_from_slice(tag);

    let mut output: Vec<TxOut> = spec
        .payouts
        .iter()
        .map(|(script, value)| TxOut {
            value: Amount::from_sat(*value),
            script_pubkey: ScriptBuf::from_bytes(script.as_bytes().to_vec()),
        })
        .collect();
    output.push(TxOut {
        value: Amount::ZERO,
        script_pubkey: commitment_script(&spec.commitment),
    });
    if let Some(wc) = spec.witness_commitment {
        output.push(TxOut {
            value: Amount::ZERO,
            script_pubkey: wc.clone(),
        });
    }
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(script_sig),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    };
    // Non-witness serialization: version(4) | vin count(1) | outpoint(36) | scriptSig length
    // (1 byte: <= 100) | scriptSig ...; the extranonce starts right after the height push.
    let raw = bitcoin::consensus::serialize(&tx);
    let start = 4 + 1 + 36 + 1 + height.len();
    let end = start + spec.extranonce_len;
    Ok(StratumCoinbase {
        prefix: raw[..start].to_vec(),
        suffix: raw[end..].to_vec(),
        extranonce_len: spec.extranonce_len,
        has_witness_commitment: spec.witness_commitment.is_some(),
    })
}

/// The txid a miner computes from the split coinbase and its extranonce.
pub fn stratum_txid(cb: &StratumCoinbase, extranonce: &[u8]) -> bitcoin::Txid {
    let mut engine = bitcoin::hashes::sha256d::Hash::engine();
    bitcoin::hashes::HashEngine::input(&mut engine, &cb.prefix);
    bitcoin::hashes::HashEngine::input(&mut engine, extranonce);
    bitcoin::hashes::HashEngine::input(&mut engine, &cb.suffix);
    bitcoin::Txid::from_raw_hash(bitcoin::hashes::sha256d::Hash::from_engine(engine))
}

/// Reads a BIP34 height push from the start of a scriptSig (minimal encodings only).
pub fn read_bip34_height(script_sig: &[u8]) -> Option<u32> {
    let (&op, rest) = script_sig.split_first()?;
    let value: i64 = match op {
        0x00 => 0,
        0x51..=0x60 => (op - 0x50) as i64,
        1..=5 => {
            let n = op as usize;
            let bytes = rest.get(..n)?;
            let mut v: i64 = 0;
            for (i, b) in bytes.iter().enumerate() {
                v |= (*b as i64) << (8 * i);
            }
            // Negative numbers are not heights.
            if bytes.last().is_some_and(|b| b & 0x80 != 0) {
                return None;
            }
            v
        }
        _ => return None,
    };
    let h = u32::try_from(value).ok()?;
    // Only the minimal push counts: re-encoding must reproduce the same bytes.
    let canonical = bip34_height_push(h);
    if script_sig.get(..canonical.len()) == Some(&canonical[..]) {
        Some(h)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bip34_round_trip() {
        for h in [
            0u32,
            1,
            16,
            17,
            127,
            128,
            255,
            256,
            432,
            500,
            65535,
            840_000,
            8_388_607,
            8_388_608,
            u32::MAX >> 1,
        ] {
            let push = bip34_height_push(h);
            assert_eq!(read_bip34_height(&push), Some(h), "{h}");
        }
        // Non-minimal push of 1.
        assert_eq!(read_bip34_height(&[0x02, 0x01, 0x00]), None);
        assert_eq!(read_bip34_height(&[]), None);
        assert_eq!(read_bip34_height(&[0x03, 0x01]), None);
    }

    #[test]
    fn commitment_script_round_trip() {
        let c = [7u8; 32];
        assert_eq!(
            parse_commitment_script(commitment_script(&c).as_bytes()),
            Some(c)
        );
        assert_eq!(parse_commitment_script(&[0x6a]), None);
    }

    #[test]
    fn split_coinbase_rebuilds_the_same_txid() {
        let payouts = vec![(PayoutScript::new(&[0x51; 25]), 1000u64)];
        let wc =
            ScriptBuf::from_bytes([&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed][..], &[1u8; 32]].concat());
        let spec = CoinbaseSpec {
            parent_height: 432,
            payouts: &payouts,
            commitment: [9; 32],
            witness_commitment: Some(&wc),
            extranonce_len: 12,
            tag: b"/otedama/",
        };
        let cb = build_coinbase(&spec).unwrap();
        let en = [0xabu8; 12];
        let tx = cb.complete(&en).unwrap();
        assert_eq!(tx.compute_txid(), stratum_txid(&cb, &en));
        assert_eq!(
            read_bip34_height(tx.input[0].script_sig.as_bytes()),
            Some(432)
        );
        assert_eq!(tx.input[0].witness.len(), 1);
        assert_eq!(tx.output.len(), 3);
        assert!(cb.complete(&en[..11]).is_err());
    }

    #[test]
    fn reserve_covers_the_largest_coinbase() {
        // 200 P2WSH payouts, the longest scriptSig: the real coinbase is within the reserve.
        let payouts: Vec<_> = (0..200u32)
            .map(|i| {
                let mut s = vec![0x00, 0x20];
                s.extend_from_slice(&[(i % 251) as u8; 32]);
                (PayoutScript::new(&s), 1000 + i as u64)
            })
            .collect();
        let wc =
            ScriptBuf::from_bytes([&[0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed][..], &[1; 32]].concat());
        let tag = [b'x'; 100];
        let spec = CoinbaseSpec {
            parent_height: 8_388_608,
            payouts: &payouts,
            commitment: [9; 32],
            witness_commitment: Some(&wc),
            extranonce_len: 12,
            tag: &tag,
        };
        let tx = build_coinbase(&spec)
            .unwrap()
            .complete(&[0xae; 12])
            .unwrap();
        let reserve = coinbase_reserve(200, 12, &tag);
        assert_eq!(reserve.weight, 35_416);
        assert!(tx.weight().to_wu() <= reserve.weight, "{}", tx.weight());
        assert!(reserve.weight - tx.weight().to_wu() < 100);
        let legacy: usize = tx.input[0].script_sig.count_sigops_legacy()
            + tx.output
                .iter()
                .map(|o| o.script_pubkey.count_sigops_legacy())
                .sum::<usize>();
        assert!(4 * legacy as u64 <= reserve.sigops);
    }

    #[test]
    fn oversized_extranonce_is_refused() {
        let spec = CoinbaseSpec {
            parent_height: 1,
            payouts: &[],
            commitment: [0; 32],
            witness_commitment: None,
            extranonce_len: 100,
            tag: b"",
        };
        assert!(build_coinbase(&spec).is_err());
    }
}
