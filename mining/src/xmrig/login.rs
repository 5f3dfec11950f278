//! The `login` of a rig: `WALLET[.WORKER][+DIFF]` pays WALLET; anything else is a worker of the
//! node's own payout.

use crate::stratum::MAX_USERNAME_BYTES;
use otedama_consensus::chain::monero::address::{Address, AddressKind};
use otedama_consensus::chain::monero::payee::Payee;
use otedama_consensus::chain::MoneroParams;
use otedama_consensus::PayoutScript;

/// Longest worker name taken from `rigid` or `pass`.
pub const MAX_WORKER_BYTES: usize = 64;

/// Who a login pays, what the rig is called and the difficulty it asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    pub payout: PayoutScript,
    /// The wallet as given, or the default payout's address.
    pub payout_address: String,
    /// See [`parse_login`] for where it comes from; may be empty.
    pub worker: String,
    /// Whether the node's own payout is paid (the login named no wallet).
    pub default_payout: bool,
    /// `+DIFF`: a fixed difficulty (vardiff off for the connection).
    pub fixed_difficulty: Option<u64>,
}

/// Why a login is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    #[error("login longer than {MAX_USERNAME_BYTES} bytes")]
    TooLong,
    #[error("login contains control characters")]
    ControlCharacters,
    #[error("{0} is an integrated address: a miner transaction cannot carry its payment id; mine to the wallet's standard address or a subaddress")]
    Integrated(String),
    #[error("{address} is a {network:?} address; this node mines on {chain}")]
    WrongNetwork {
        address: String,
        network: otedama_consensus::chain::monero::address::Network,
        chain: &'static str,
    },
    #[error("{address} looks like a Monero address but is not one ({why}); check it for typos")]
    NotAnAddress { address: String, why: String },
}

/// Resolves a login.
///
/// * A trailing `+DIFF` (decimal, > 0) is a fixed difficulty and is taken off first.
/// * When the part before the first `.` is a standard address or subaddress of `params`'
///   network (`monerod --regtest` uses mainnet's prefixes), that wallet is paid and the rest is
///   the worker name. An integrated address, an address of another network, or a 95- or
///   106-character base58 string that fails its checksum is refused: the rig meant a wallet,
///   and paying the node's own payout instead would take its work silently.
/// * Anything else (empty, `x`, `alice`, `alice.rig1`) is a worker name as a whole, paid to
///   `default_payout`.
/// * With no worker name in the login, the worker is `rigid` (xmrig's `--rig-id`), else `pass`
///   unless it is empty or `x` (xmrig's default), each only when at most
///   [`MAX_WORKER_BYTES`] without control characters; else it stays empty.
pub fn parse_login(
    params: &MoneroParams,
    default_payout: &PayoutScript,
    default_address: &str,
    login: &str,
    pass: Option<&str>,
    rigid: Option<&str>,
) -> Result<Login, LoginError> {
    let login = login.trim();
    if login.len() > MAX_USERNAME_BYTES {
        return Err(LoginError::TooLong);
    }
    if login.chars().any(char::is_control) {
        return Err(LoginError::ControlCharacters);
    }
    let (name, fixed_difficulty) = match login.rsplit_once('+') {
        Some((name, d)) => match plain_decimal(d) {
            Some(d) if d > 0 => (name, Some(d)),
            _ => (login, None),
        },
        None => (login, None),
    };
    let (head, tail) = match name.split_once('.') {
        Some((h, t)) => (h, Some(t)),
        None => (name, None),
    };
    let fallback = || {
        [rigid, pass]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|w| {
                !w.is_empty()
                    && *w != "x"
                    && w.len() <= MAX_WORKER_BYTES
                    && !w.chars().any(char::is_control)
            })
            .unwrap_or("")
            .to_string()
    };
    match Address::parse(head) {
        Ok(address) => {
            if address.network != params.network {
                return Err(LoginError::WrongNetwork {
                    address: head.to_string(),
                    network: address.network,
                    chain: params.name,
                });
            }
            if matches!(address.kind, AddressKind::Integrated { .. }) {
                return Err(LoginError::Integrated(head.to_string()));
            }
            let payee = Payee::from_address(&address).map_err(|e| LoginError::NotAnAddress {
                address: head.to_string(),
                why: e.to_string(),
            })?;
            let worker = match tail {
                Some(t) if !t.is_empty() => t.to_string(),
                _ => fallback(),
            };
            Ok(Login {
                payout: PayoutScript::new(&payee.to_bytes()),
                payout_address: head.to_string(),
                worker,
                default_payout: false,
                fixed_difficulty,
            })
        }
        Err(e) if looks_like_address(head) => Err(LoginError::NotAnAddress {
            address: head.to_string(),
            why: e.to_string(),
        }),
        Err(_) => Ok(Login {
            payout: default_payout.clone(),
            payout_address: default_address.to_string(),
            worker: if name.is_empty() {
                fallback()
            } else {
                name.to_string()
            },
            default_payout: true,
            fixed_difficulty,
        }),
    }
}

/// A difficulty written as a plain decimal (`+007` or `+1e3` stay part of the name).
fn plain_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// 95 (standard, subaddress) or 106 (integrated) characters of Monero's base58 alphabet.
fn looks_like_address(s: &str) -> bool {
    (s.len() == 95 || s.len() == 106)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::chain::monero::address::Network;
    use otedama_consensus::Chain;

    fn payee(i: u8) -> Payee {
        otedama_consensus::testkit::monero_payee(&[b'l', i], i % 2 == 1)
    }

    fn parse(login: &str, pass: Option<&str>, rigid: Option<&str>) -> Result<Login, LoginError> {
        let params = Chain::MoneroRegtest.monero_params().unwrap();
        parse_login(
            params,
            &PayoutScript::new(&payee(0).to_bytes()),
            "DEFAULT",
            login,
            pass,
            rigid,
        )
    }

    #[test]
    fn wallets_workers_and_difficulty() {
        let wallet = payee(2).to_address(Network::Mainnet).to_string();
        let sub = payee(3).to_address(Network::Mainnet).to_string();
        let l = parse(&format!("{wallet}.rig1+5000"), Some("x"), None).unwrap();
        assert_eq!(l.payout, PayoutScript::new(&payee(2).to_bytes()));
        assert_eq!(
            (l.worker.as_str(), l.fixed_difficulty, l.default_payout),
            ("rig1", Some(5000), false)
        );
        let l = parse(&sub, Some("x"), Some("rack7")).unwrap();
        assert_eq!(l.payout, PayoutScript::new(&payee(3).to_bytes()));
        assert_eq!((l.worker.as_str(), l.fixed_difficulty), ("rack7", None));
        let l = parse(&format!("{wallet}+100"), Some("den"), None).unwrap();
        assert_eq!((l.worker.as_str(), l.fixed_difficulty), ("den", Some(100)));
        let l = parse(&wallet, Some("x"), None).unwrap();
        assert_eq!(l.worker, "");

        // Not wallets: workers of the default payout.
        for (login, worker) in [("alice.rig1", "alice.rig1"), ("x", "x"), ("a+b", "a+b")] {
            let l = parse(login, None, None).unwrap();
            assert!(l.default_payout);
            assert_eq!(
                (l.worker.as_str(), l.payout_address.as_str()),
                (worker, "DEFAULT")
            );
        }
        let l = parse("", Some("garage"), None).unwrap();
        assert_eq!((l.worker.as_str(), l.default_payout), ("garage", true));
        let l = parse("+0", None, None).unwrap();
        assert_eq!((l.worker.as_str(), l.fixed_difficulty), ("+0", None));
        let l = parse("bob+007", None, None).unwrap();
        assert_eq!(l.fixed_difficulty, None);

        // Wallets the node cannot pay.
        let stagenet = payee(2).to_address(Network::Stagenet).to_string();
        assert!(matches!(
            parse(&stagenet, None, None),
            Err(LoginError::WrongNetwork { .. })
        ));
        let mut typo = wallet.clone().into_bytes();
        typo[50] = if typo[50] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        assert!(matches!(
            parse(&typo, None, None),
            Err(LoginError::NotAnAddress { .. })
        ));
        assert_eq!(
            parse(&"w".repeat(300), None, None),
            Err(LoginError::TooLong)
        );
        assert_eq!(
            parse("a\u{7}b", None, None),
            Err(LoginError::ControlCharacters)
        );
    }
}
