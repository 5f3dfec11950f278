//! Usernames: `ADDRESS[.worker]` pays ADDRESS; anything else is a worker of the default payout.

use otedama_consensus::chain::address::parse_address;
use otedama_consensus::chain::BitcoinFamilyParams;
use otedama_consensus::PayoutScript;

/// Longest username accepted, in bytes.
pub const MAX_USERNAME_BYTES: usize = 256;

/// Who a username pays and what it is called.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username {
    pub payout: PayoutScript,
    /// The address as given, or the default payout's address.
    pub payout_address: String,
    /// The part after `ADDRESS.` (empty if none), or the whole username when it is not an
    /// address.
    pub worker: String,
    /// Whether the default payout is paid.
    pub default_payout: bool,
}

/// Why a username is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsernameError {
    #[error("empty username")]
    Empty,
    #[error("username longer than {MAX_USERNAME_BYTES} bytes")]
    TooLong,
    #[error("username contains control characters")]
    ControlCharacters,
}

/// Resolves a username: when the part before the first `.` is an address of `chain`
/// (`parse_address` accepts it), that address is paid and the rest is the worker name;
/// otherwise the whole username is a worker name paid to `default_payout`.
pub fn parse_username(
    chain: &BitcoinFamilyParams,
    default_payout: &PayoutScript,
    default_address: &str,
    user: &str,
) -> Result<Username, UsernameError> {
    let user = user.trim();
    if user.is_empty() {
        return Err(UsernameError::Empty);
    }
    if user.len() > MAX_USERNAME_BYTES {
        return Err(UsernameError::TooLong);
    }
    if user.chars().any(char::is_control) {
        return Err(UsernameError::ControlCharacters);
    }
    let (addr, worker) = match user.split_once('.') {
        Some((a, w)) => (a, w),
        None => (user, ""),
    };
    match parse_address(chain, addr) {
        Ok(script) => Ok(Username {
            payout: PayoutScript::from(script),
            payout_address: addr.to_string(),
            worker: worker.to_string(),
            default_payout: false,
        }),
        Err(e) => {
            if looks_like_address(addr) {
                tracing::warn!(username = user, error = %e, "username looks like an address but is not one of this chain; paying the default payout");
            }
            Ok(Username {
                payout: default_payout.clone(),
                payout_address: default_address.to_string(),
                worker: user.to_string(),
                default_payout: true,
            })
        }
    }
}

fn looks_like_address(s: &str) -> bool {
    s.len() >= 26 && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The address of a standard output script on `chain` (P2PKH, P2SH, segwit v0 and v1), for
/// display; `None` for other scripts.
pub fn script_address(chain: &BitcoinFamilyParams, script: &PayoutScript) -> Option<String> {
    use bitcoin::bech32::{segwit, Hrp};
    let s = script.as_script();
    let b = script.as_bytes();
    if s.is_p2pkh() {
        let v = *chain.p2pkh_versions.first()?;
        return Some(bitcoin::base58::encode_check(&[&[v], &b[3..23]].concat()));
    }
    if s.is_p2sh() {
        let v = *chain.p2sh_versions.first()?;
        return Some(bitcoin::base58::encode_check(&[&[v], &b[2..22]].concat()));
    }
    let hrp = Hrp::parse(chain.bech32_hrp).ok()?;
    if s.is_p2wpkh() || s.is_p2wsh() {
        return segwit::encode_v0(hrp, &b[2..]).ok();
    }
    if s.is_p2tr() {
        return segwit::encode_v1(hrp, &b[2..]).ok();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::bitcoin_family::{BITCOIN, LITECOIN_REGTEST};

    #[test]
    fn addresses_round_trip_and_workers_get_the_default() {
        let def = PayoutScript::new(&[
            0x00, 0x14, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ]);
        let def_addr = script_address(&LITECOIN_REGTEST, &def).unwrap();
        assert!(def_addr.starts_with("rltc1q"));
        let u = parse_username(
            &LITECOIN_REGTEST,
            &def,
            &def_addr,
            &format!("{def_addr}.rig1"),
        )
        .unwrap();
        assert_eq!(u.payout, def);
        assert_eq!(u.worker, "rig1");
        assert!(!u.default_payout);
        let u = parse_username(&LITECOIN_REGTEST, &def, &def_addr, "alice.rig2").unwrap();
        assert!(u.default_payout);
        assert_eq!(u.worker, "alice.rig2");
        assert_eq!(u.payout_address, def_addr);
        for a in [
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
            "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ] {
            let s = PayoutScript::from(parse_address(&BITCOIN, a).unwrap());
            assert_eq!(script_address(&BITCOIN, &s).unwrap(), a);
        }
        assert_eq!(
            parse_username(&BITCOIN, &def, "", " "),
            Err(UsernameError::Empty)
        );
        assert_eq!(
            parse_username(&BITCOIN, &def, "", "a\u{7}b"),
            Err(UsernameError::ControlCharacters)
        );
    }
}
