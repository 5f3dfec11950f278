//! Address strings to output scripts for Bitcoin-family chains.
//!
//! The `bitcoin` crate's `Address` knows only Bitcoin's networks, so Litecoin's prefixes (HRPs
//! `ltc`/`tltc`/`rltc`, version bytes 48/50/58) are handled here with the same crate's bech32 and
//! base58 codecs and script builders, parameterised by chain.

use super::BitcoinFamilyParams;
use bitcoin::bech32::{self, Hrp};
use bitcoin::hashes::Hash;
use bitcoin::{PubkeyHash, ScriptBuf, ScriptHash, WitnessProgram, WitnessVersion};

/// Why an address string is not a payout address of a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("not a valid bech32/bech32m or base58check address")]
    Malformed,
    #[error("address is for another network (prefix {found:?}, this chain uses {expected:?})")]
    WrongNetwork { found: String, expected: String },
    #[error("unknown base58 version byte {0}")]
    UnknownVersion(u8),
    #[error("unsupported witness program (version {version}, {len} bytes)")]
    UnsupportedWitness { version: u8, len: usize },
}

/// Parses an address of `chain` and returns the output script that pays it.
pub fn parse_address(params: &BitcoinFamilyParams, s: &str) -> Result<ScriptBuf, AddressError> {
    let s = s.trim();
    if let Some(script) = parse_segwit(params, s)? {
        return Ok(script);
    }
    parse_base58(params, s)
}

fn parse_segwit(params: &BitcoinFamilyParams, s: &str) -> Result<Option<ScriptBuf>, AddressError> {
    let Some(sep) = s.rfind('1') else {
        return Ok(None);
    };
    let Ok(hrp) = Hrp::parse(&s[..sep]) else {
        return Ok(None);
    };
    let Ok((hrp, version, program)) = bech32::segwit::decode(s) else {
        // Strings with a known segwit HRP must decode; anything else may be base58.
        if is_known_hrp(&hrp) {
            return Err(AddressError::Malformed);
        }
        return Ok(None);
    };
    let expected = Hrp::parse(params.bech32_hrp).map_err(|_| AddressError::Malformed)?;
    if hrp != expected {
        return Err(AddressError::WrongNetwork {
            found: hrp.to_string(),
            expected: params.bech32_hrp.to_string(),
        });
    }
    let version = WitnessVersion::try_from(version.to_u8()).map_err(|_| AddressError::Malformed)?;
    let wp =
        WitnessProgram::new(version, &program).map_err(|_| AddressError::UnsupportedWitness {
            version: version.to_num(),
            len: program.len(),
        })?;
    // Only programs wallets can spend today: v0 key/script hash, v1 taproot.
    let ok = matches!(
        (version.to_num(), program.len()),
        (0, 20) | (0, 32) | (1, 32)
    );
    if !ok {
        return Err(AddressError::UnsupportedWitness {
            version: version.to_num(),
            len: program.len(),
        });
    }
    Ok(Some(ScriptBuf::new_witness_program(&wp)))
}

fn is_known_hrp(hrp: &Hrp) -> bool {
    ["bc", "tb", "bcrt", "ltc", "tltc", "rltc"]
        .iter()
        .any(|k| hrp.to_lowercase() == *k)
}

fn parse_base58(params: &BitcoinFamilyParams, s: &str) -> Result<ScriptBuf, AddressError> {
    let data = bitcoin::base58::decode_check(s).map_err(|_| AddressError::Malformed)?;
    if data.len() != 21 {
        return Err(AddressError::Malformed);
    }
    let version = data[0];
    let mut hash = [0u8; 20];
    hash.copy_from_slice(&data[1..]);
    if params.p2pkh_versions.contains(&version) {
        return Ok(ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array(hash)));
    }
    if params.p2sh_versions.contains(&version) {
        return Ok(ScriptBuf::new_p2sh(&ScriptHash::from_byte_array(hash)));
    }
    Err(AddressError::UnknownVersion(version))
}

/// Whether a script is one of the standard payout forms (P2PKH, P2SH, P2WPKH, P2WSH, P2TR):
/// shares may only pay scripts that a wallet can spend and every node relays.
pub fn is_standard_payout_script(script: &bitcoin::Script) -> bool {
    script.is_p2pkh()
        || script.is_p2sh()
        || script.is_p2wpkh()
        || script.is_p2wsh()
        || script.is_p2tr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::bitcoin_family::*;

    fn hex_script(params: &BitcoinFamilyParams, addr: &str) -> String {
        hex::encode(parse_address(params, addr).unwrap().as_bytes())
    }

    #[test]
    fn bitcoin_mainnet_forms() {
        // Satoshi's genesis coinbase key hash.
        assert_eq!(
            hex_script(&BITCOIN, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        // P2WPKH, encoded here, and upper case accepted as BIP173 requires.
        let prog = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        let addr = bech32::segwit::encode_v0(Hrp::parse("bc").unwrap(), &prog).unwrap();
        assert_eq!(
            hex_script(&BITCOIN, &addr),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        assert_eq!(
            hex_script(&BITCOIN, &addr.to_uppercase()),
            "0014751e76e8199196d454941c45d1b3a323f1433bd6"
        );
        // BIP173 P2WSH example.
        assert_eq!(
            hex_script(
                &BITCOIN,
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
            ),
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"
        );
        // BIP350 taproot example.
        assert_eq!(
            hex_script(
                &BITCOIN,
                "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0"
            ),
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
        );
        assert_eq!(
            hex_script(&BITCOIN, "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"),
            "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"
        );
    }

    #[test]
    fn litecoin_forms_and_network_checks() {
        // Same key hash as Satoshi's, in Litecoin's P2PKH version (48).
        let ltc_p2pkh = bitcoin::base58::encode_check(
            &[
                &[48u8][..],
                &hex::decode("62e907b15cbf27d5425399ebf6f0fb50ebb88f18").unwrap(),
            ]
            .concat(),
        );
        assert!(ltc_p2pkh.starts_with('L'));
        assert_eq!(
            hex_script(&LITECOIN, &ltc_p2pkh),
            "76a91462e907b15cbf27d5425399ebf6f0fb50ebb88f1888ac"
        );
        let prog = hex::decode("751e76e8199196d454941c45d1b3a323f1433bd6").unwrap();
        for (params, hrp) in [
            (&LITECOIN, "ltc"),
            (&LITECOIN_TESTNET, "tltc"),
            (&LITECOIN_REGTEST, "rltc"),
        ] {
            let addr = bech32::segwit::encode_v0(Hrp::parse(hrp).unwrap(), &prog).unwrap();
            assert_eq!(
                hex_script(params, &addr),
                "0014751e76e8199196d454941c45d1b3a323f1433bd6"
            );
            // The same address is refused by every other chain.
            assert!(matches!(
                parse_address(&BITCOIN, &addr),
                Err(AddressError::WrongNetwork { .. })
            ));
        }
        // A Bitcoin address is not a Litecoin address.
        assert!(parse_address(
            &LITECOIN,
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3"
        )
        .is_err());
        assert_eq!(
            parse_address(&LITECOIN, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"),
            Err(AddressError::UnknownVersion(0))
        );
        // Regtest P2SH version 58 ('Q...').
        let p2sh = bitcoin::base58::encode_check(&[&[58u8][..], &[7u8; 20][..]].concat());
        assert!(parse_address(&LITECOIN_REGTEST, &p2sh).unwrap().is_p2sh());
    }

    #[test]
    fn garbage_is_rejected_without_panic() {
        for s in [
            "",
            "1",
            "ltc1",
            "ltc1qqqqqq",
            "zzzz",
            "\u{1f600}1abc",
            "rltc1zzzzzzzzzzzzzz",
        ] {
            assert!(parse_address(&LITECOIN, s).is_err(), "{s}");
        }
        // Bad checksum (last character of the BIP173 P2WSH example changed).
        assert_eq!(
            parse_address(
                &BITCOIN,
                "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv4"
            ),
            Err(AddressError::Malformed)
        );
    }
}
