//! Where a node keeps its data unless told otherwise, in one place: `otedama-node` uses it as its
//! default `--data-dir`, and `otedama-cli` looks there for the node's cookie, so that
//! `otedama-cli stop` works with no flags on the machine running the node (as `bitcoin-cli stop`
//! does with `~/.bitcoin`). Both must agree on the path, hence one definition here.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Parent-chain names of `--chain`, as the node accepts them.
pub const CHAIN_NAMES: [&str; 10] = [
    "bitcoin",
    "bitcoin-testnet4",
    "bitcoin-signet",
    "bitcoin-regtest",
    "litecoin",
    "litecoin-testnet",
    "litecoin-regtest",
    "monero",
    "monero-stagenet",
    "monero-regtest",
];

/// Pool preset names of `--pool`, as the node accepts them.
pub const POOL_NAMES: [&str; 2] = ["main", "mini"];

/// The directory under `$HOME` holding one data directory per chain and pool.
pub const HOME_SUBDIR: &str = ".otedama";

/// The default data directory of a node for `chain` and `pool`: `$HOME/.otedama/CHAIN-POOL`
/// (e.g. `~/.otedama/litecoin-main`); `None` without `HOME` (or with an empty one), since a
/// relative guess would depend on where the command happens to run.
///
/// `pool` is used as given, so a custom pool's directory name (the node's choice) works too.
pub fn default_data_dir(chain: &str, pool: &str) -> Option<PathBuf> {
    under_home(std::env::var_os("HOME"), chain, pool)
}

/// [`default_data_dir`] for a given `HOME` value (kept apart so it can be tested without
/// changing the process environment).
pub fn under_home(home: Option<OsString>, chain: &str, pool: &str) -> Option<PathBuf> {
    let home = home.filter(|h| !h.is_empty())?;
    Some(
        Path::new(&home)
            .join(HOME_SUBDIR)
            .join(format!("{chain}-{pool}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_chain_dash_pool_under_dot_otedama_in_home() {
        assert_eq!(
            under_home(Some("/home/alice".into()), "litecoin", "main"),
            Some(PathBuf::from("/home/alice/.otedama/litecoin-main"))
        );
        assert_eq!(
            under_home(Some("/root".into()), "bitcoin-regtest", "mini"),
            Some(PathBuf::from("/root/.otedama/bitcoin-regtest-mini"))
        );
    }

    #[test]
    fn no_home_means_no_default() {
        assert_eq!(under_home(None, "litecoin", "main"), None);
        assert_eq!(under_home(Some("".into()), "litecoin", "main"), None);
    }

    #[test]
    fn default_data_dir_reads_home() {
        // Only compares with HOME as it is; the test never changes the environment.
        let expected = under_home(std::env::var_os("HOME"), "litecoin", "main");
        assert_eq!(default_data_dir("litecoin", "main"), expected);
    }
}
