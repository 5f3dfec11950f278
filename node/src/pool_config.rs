//! Custom pools: `--pool-config FILE`, a TOML file of pool parameters.
//!
//! Like Monero P2Pool's `--sidechain-config`, this lets a group run its own pool (smaller
//! windows, its own share floor, its own name) without a code change. Every key is a
//! [`PoolParams`] field in kebab-case; a key left out keeps the value of the `--pool` preset.
//! Every value is hashed into the consensus id, so nodes with different files never peer.
//!
//! The parsing lives here, not in the consensus crate, because consensus does no I/O and has
//! no TOML dependency; the limits themselves are [`PoolParams::check`]'s, so a file can never
//! describe a pool the consensus code refuses.

use bitcoin::pow::CompactTarget;
use otedama_consensus::chain::Chain;
use otedama_consensus::pool::{ParamsError, PoolParams, Preset};
use otedama_consensus::ShareHash;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The keys a pool file may hold: the [`PoolParams`] fields in kebab-case. `chain` may only
/// repeat the node's `--chain` (the chain is never chosen by the pool file).
pub const KEYS: [&str; 13] = [
    "chain",
    "name",
    "share-period-secs",
    "pplns-window",
    "retarget-half-life-secs",
    "max-uncles",
    "uncle-depth",
    "uncle-penalty-percent",
    "max-share-target",
    "max-payout-outputs",
    "min-payout",
    "max-future-secs",
    "genesis",
];

/// The one accepted form of `genesis`, for error messages.
const SHARE_ID_FORM: &str = "a share id: a string of 64 hex digits, as `otedama-cli shares` shows";

/// The one accepted form of `max-share-target`, for error messages.
const COMPACT_FORM: &str =
    "a compact target as a string of \"0x\" and 8 hex digits, like \"0x1e0fffff\"";

/// Why a pool file is unusable; each says which file and which key to fix.
#[derive(Debug, thiserror::Error)]
pub enum PoolConfigError {
    #[error("cannot read pool config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("pool config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("pool config file {path}: unknown key `{key}` (known keys: {known})")]
    UnknownKey {
        path: PathBuf,
        key: String,
        known: String,
    },
    #[error("pool config file {path}: `{key}` must be {expected}, not {found}")]
    WrongType {
        path: PathBuf,
        key: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error(
        "pool config file {path}: `{key}` = {value}{origin} is out of range (allowed: {allowed})"
    )]
    OutOfRange {
        path: PathBuf,
        key: String,
        value: String,
        /// Empty when the value is in the file; " (from the PRESET preset)" otherwise.
        origin: String,
        allowed: String,
    },
    #[error("pool config file {path}: `chain` = {found:?} but the node runs on {chain}; --chain chooses the chain, a pool file may only repeat it")]
    ChainMismatch {
        path: PathBuf,
        found: String,
        chain: &'static str,
    },
}

/// Reads and checks a pool file: the `preset` parameters on `chain`, with the file's keys
/// replacing theirs.
pub fn load(path: &Path, chain: Chain, preset: Preset) -> Result<PoolParams, PoolConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| PoolConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text, chain, preset)
}

/// [`load`] on text already read (`path` only names the file in errors).
pub fn parse(
    path: &Path,
    text: &str,
    chain: Chain,
    preset: Preset,
) -> Result<PoolParams, PoolConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| PoolConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut params = PoolParams::preset(chain, preset);
    // Each key's text as written, to quote it when `check` refuses the value.
    let mut written: BTreeMap<&'static str, String> = BTreeMap::new();
    {
        // Destructured without `..`: a new PoolParams field does not compile until a pool file
        // can set it (and KEYS, the docs and the tests name it).
        let PoolParams {
            chain: _,
            name,
            share_period_secs,
            pplns_window,
            retarget_half_life_secs,
            max_uncles,
            uncle_depth,
            uncle_penalty_percent,
            max_share_target,
            max_payout_outputs,
            min_payout,
            max_future_secs,
            genesis,
        } = &mut params;
        for (key, value) in &table {
            let Some(&key) = KEYS.iter().find(|k| **k == key.as_str()) else {
                return Err(PoolConfigError::UnknownKey {
                    path: path.to_path_buf(),
                    key: key.clone(),
                    known: KEYS.join(", "),
                });
            };
            written.insert(key, show(value));
            let v = Value { path, key, value };
            match key {
                "chain" => {
                    let found = v.string()?;
                    if found != chain.name() {
                        return Err(PoolConfigError::ChainMismatch {
                            path: path.to_path_buf(),
                            found,
                            chain: chain.name(),
                        });
                    }
                }
                "name" => *name = v.string()?,
                "share-period-secs" => *share_period_secs = v.uint()?,
                "pplns-window" => *pplns_window = v.uint()?,
                "retarget-half-life-secs" => *retarget_half_life_secs = v.uint()?,
                "max-uncles" => *max_uncles = saturate(v.uint()?),
                "uncle-depth" => *uncle_depth = v.uint()?,
                "uncle-penalty-percent" => *uncle_penalty_percent = saturate(v.uint()?),
                "max-share-target" => *max_share_target = v.compact()?,
                "max-payout-outputs" => *max_payout_outputs = saturate(v.uint()?),
                "min-payout" => *min_payout = v.uint()?,
                "max-future-secs" => *max_future_secs = v.uint()?,
                "genesis" => *genesis = Some(v.share_id()?),
                // KEYS and this match list the same names (test `every_key_sets_its_field`).
                _ => unreachable!("key {key} is in KEYS but not parsed"),
            }
        }
    }
    params.check().map_err(|e| {
        let ParamsError::OutOfRange {
            field,
            value,
            allowed,
        } = e;
        let key = field.replace('_', "-");
        let (value, origin) = match written.get(key.as_str()) {
            Some(text) => (text.clone(), String::new()),
            None => (value, format!(" (from the {} preset)", preset.name())),
        };
        PoolConfigError::OutOfRange {
            path: path.to_path_buf(),
            key,
            value,
            origin,
            allowed,
        }
    })?;
    Ok(params)
}

/// Narrows an integer, saturating: every bound in [`PoolParams::check`] is far below each
/// type's maximum, so a value too large for the field is still refused there, with the range.
fn saturate<T: TryFrom<u64> + Bounded>(v: u64) -> T {
    T::try_from(v).unwrap_or(T::MAX)
}

/// The largest value of a narrow integer type (for [`saturate`]).
trait Bounded {
    const MAX: Self;
}
impl Bounded for u8 {
    const MAX: u8 = u8::MAX;
}
impl Bounded for u32 {
    const MAX: u32 = u32::MAX;
}
impl Bounded for usize {
    const MAX: usize = usize::MAX;
}

/// A value as the file wrote it (near enough: strings quoted, containers summarised), for error
/// messages; the `toml` crate is built without its serializer.
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        toml::Value::Array(a) => format!("[..{} items]", a.len()),
        toml::Value::Table(_) => "{..}".into(),
    }
}

/// One value of the file, with what errors about it need.
struct Value<'a> {
    path: &'a Path,
    key: &'static str,
    value: &'a toml::Value,
}

impl Value<'_> {
    fn wrong(&self, expected: &'static str) -> PoolConfigError {
        PoolConfigError::WrongType {
            path: self.path.to_path_buf(),
            key: self.key,
            expected,
            found: format!("{} {}", self.value.type_str(), show(self.value)),
        }
    }

    fn string(&self) -> Result<String, PoolConfigError> {
        self.value
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| self.wrong("a string"))
    }

    /// A non-negative integer; a negative one saturates to `u64::MAX`, so that
    /// [`PoolParams::check`] refuses it with the field's range (the message quotes the value as
    /// written).
    fn uint(&self) -> Result<u64, PoolConfigError> {
        let i = self
            .value
            .as_integer()
            .ok_or_else(|| self.wrong("an integer"))?;
        Ok(u64::try_from(i).unwrap_or(u64::MAX))
    }

    /// Exactly `"0x"` and 8 hex digits: the form Core's `getblocktemplate` shows `bits` in
    /// (with the prefix), and one spelling per value so a file reads the same to everyone.
    fn share_id(&self) -> Result<ShareHash, PoolConfigError> {
        let s = self
            .value
            .as_str()
            .filter(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.wrong(SHARE_ID_FORM))?;
        s.parse::<ShareHash>()
            .map_err(|_| self.wrong(SHARE_ID_FORM))
    }

    fn compact(&self) -> Result<CompactTarget, PoolConfigError> {
        let s = self
            .value
            .as_str()
            .ok_or_else(|| self.wrong(COMPACT_FORM))?;
        let digits = s
            .strip_prefix("0x")
            .filter(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.wrong(COMPACT_FORM))?;
        let bits = u32::from_str_radix(digits, 16).map_err(|_| self.wrong(COMPACT_FORM))?;
        Ok(CompactTarget::from_consensus(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHAIN: Chain = Chain::LitecoinRegtest;

    fn parse_as(text: &str, preset: Preset) -> Result<PoolParams, PoolConfigError> {
        parse(Path::new("club.toml"), text, CHAIN, preset)
    }

    fn parse_main(text: &str) -> Result<PoolParams, PoolConfigError> {
        parse_as(text, Preset::Main)
    }

    fn err(text: &str) -> String {
        parse_main(text).expect_err(text).to_string()
    }

    #[test]
    fn an_empty_file_is_the_preset() {
        for preset in Preset::ALL {
            let p = parse_as("", preset).unwrap();
            assert_eq!(p, PoolParams::preset(CHAIN, preset));
        }
    }

    #[test]
    fn every_key_sets_its_field() {
        let base = PoolParams::preset(CHAIN, Preset::Main);
        type Check = fn(&PoolParams) -> bool;
        let cases: [(&str, Check); 13] = [
            ("chain = \"litecoin-regtest\"", |p| p.chain == CHAIN),
            ("name = \"club\"", |p| p.name == "club"),
            ("share-period-secs = 20", |p| p.share_period_secs == 20),
            ("pplns-window = 30", |p| p.pplns_window == 30),
            ("retarget-half-life-secs = 300", |p| {
                p.retarget_half_life_secs == 300
            }),
            ("max-uncles = 5", |p| p.max_uncles == 5),
            ("uncle-depth = 2", |p| p.uncle_depth == 2),
            ("uncle-penalty-percent = 50", |p| {
                p.uncle_penalty_percent == 50
            }),
            ("max-share-target = \"0x1e0fffff\"", |p| {
                p.max_share_target.to_consensus() == 0x1e0fffff
            }),
            ("max-payout-outputs = 50", |p| p.max_payout_outputs == 50),
            ("min-payout = 100000", |p| p.min_payout == 100_000),
            ("max-future-secs = 30", |p| p.max_future_secs == 30),
            (
                "genesis = \"00000000000000000000000000000000000000000000000000000000000000ab\"",
                |p| {
                    p.genesis.map(|g| g.to_string()).as_deref()
                        == Some("00000000000000000000000000000000000000000000000000000000000000ab")
                },
            ),
        ];
        for (i, (line, holds)) in cases.iter().enumerate() {
            let key = line.split(' ').next().unwrap();
            assert_eq!(KEYS[i], key, "KEYS and the cases are in field order");
            let p = parse_main(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert!(holds(&p), "{line} did not set its field: {p:?}");
            // Only that field changed (chain: nothing changed at all).
            let changed = p != base;
            assert_eq!(changed, key != "chain", "{line}");
        }
    }

    #[test]
    fn a_genesis_pin_must_be_a_share_id() {
        for bad in [
            "genesis = 5",
            "genesis = \"abc\"",
            "genesis = \"zz00000000000000000000000000000000000000000000000000000000000000\"",
        ] {
            let e = err(bad);
            assert!(e.contains("`genesis` must be a share id"), "{bad}: {e}");
        }
        let id = "11".repeat(32);
        let p = parse_main(&format!("genesis = \"{id}\"")).unwrap();
        assert_eq!(p.genesis.map(|g| g.to_string()), Some(id));
        assert_ne!(
            p.consensus_id(),
            PoolParams::preset(CHAIN, Preset::Main).consensus_id()
        );
    }

    #[test]
    fn keys_left_out_come_from_the_preset() {
        let p = parse_as("name = \"club\"\npplns-window = 30\n", Preset::Mini).unwrap();
        let mini = PoolParams::preset(CHAIN, Preset::Mini);
        assert_eq!(
            p,
            PoolParams {
                name: "club".into(),
                pplns_window: 30,
                ..mini
            }
        );
    }

    #[test]
    fn an_unknown_key_is_refused_by_name() {
        let e = err("pplns-window = 30\nwindow = 30\n");
        assert!(
            e.contains("club.toml") && e.contains("unknown key `window`"),
            "{e}"
        );
        assert!(e.contains("pplns-window"), "lists the known keys: {e}");
        // snake_case is not the file's spelling.
        assert!(err("pplns_window = 30").contains("unknown key `pplns_window`"));
        // `pool` belongs in the node's --config, not in a pool file.
        assert!(err("pool = \"mini\"").contains("unknown key `pool`"));
        assert!(err("[pplns]\nwindow = 30").contains("unknown key `pplns`"));
    }

    #[test]
    fn out_of_range_values_name_the_key_the_value_and_the_range() {
        for (text, key, value, allowed) in [
            ("name = \"\"", "name", "\"\"", "1..=64"),
            (
                "name = \"my club\"",
                "name",
                "\"my club\"",
                "letters, digits",
            ),
            (
                "share-period-secs = 0",
                "share-period-secs",
                "0",
                "1..=3600 s",
            ),
            (
                "share-period-secs = -5",
                "share-period-secs",
                "-5",
                "1..=3600 s",
            ),
            ("pplns-window = 0", "pplns-window", "0", "1..=16384 shares"),
            (
                "pplns-window = 16385",
                "pplns-window",
                "16385",
                "1..=16384 shares",
            ),
            (
                "retarget-half-life-secs = 5",
                "retarget-half-life-secs",
                "5",
                "10..=16777216 s",
            ),
            ("max-uncles = 6", "max-uncles", "6", "0..=5"),
            ("uncle-depth = 0", "uncle-depth", "0", "1..=3"),
            ("uncle-depth = 4", "uncle-depth", "4", "1..=3"),
            (
                "uncle-penalty-percent = 101",
                "uncle-penalty-percent",
                "101",
                "0..=100",
            ),
            (
                "uncle-penalty-percent = 300",
                "uncle-penalty-percent",
                "300",
                "0..=100",
            ),
            (
                "max-share-target = \"0x00000000\"",
                "max-share-target",
                "\"0x00000000\"",
                "at most 2^80",
            ),
            (
                "max-share-target = \"0x1e0000ff\"",
                "max-share-target",
                "\"0x1e0000ff\"",
                "canonical",
            ),
            (
                "max-share-target = \"0x0a000001\"",
                "max-share-target",
                "\"0x0a000001\"",
                "2^80",
            ),
            (
                "max-payout-outputs = 1",
                "max-payout-outputs",
                "1",
                "2..=1000",
            ),
            (
                "max-payout-outputs = 5000000000",
                "max-payout-outputs",
                "5000000000",
                "2..=1000",
            ),
            (
                "min-payout = 5459",
                "min-payout",
                "5459",
                "5460..=8400000000000000",
            ),
            (
                "max-future-secs = 7201",
                "max-future-secs",
                "7201",
                "0..=7200 s",
            ),
        ] {
            let e = err(text);
            let expected = format!("`{key}` = {value} is out of range (allowed: ");
            assert!(e.contains(&expected) && e.contains(allowed), "{text}: {e}");
            assert!(e.starts_with("pool config file club.toml: "), "{e}");
        }
    }

    #[test]
    fn a_preset_value_made_invalid_by_the_file_says_where_it_came_from() {
        // Main's half-life is 600 s: below a 3600 s share period.
        let e = err("share-period-secs = 3600");
        assert!(
            e.contains("`retarget-half-life-secs` = 600 (from the main preset) is out of range")
                && e.contains("3600..=16777216 s"),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_and_target_spellings_are_refused() {
        let e = err("pplns-window = \"30\"");
        assert!(
            e.contains("`pplns-window` must be an integer, not string \"30\""),
            "{e}"
        );
        assert!(err("pplns-window = 30.0").contains("must be an integer"));
        assert!(err("name = 7").contains("`name` must be a string"));
        for bad in [
            "504365055",
            "\"1e0fffff\"",
            "\"0X1E0FFFFF\"",
            "\"0x1e0ffff\"",
            "\"0x01e0fffff\"",
            "\"0x1e0fffzz\"",
            "\"0x+e0fffff\"",
        ] {
            let e = err(&format!("max-share-target = {bad}"));
            assert!(
                e.contains("`max-share-target` must be a compact target as a string"),
                "{bad}: {e}"
            );
        }
        // Upper-case digits are hex too.
        let p = parse_main("max-share-target = \"0x1E0FFFFF\"").unwrap();
        assert_eq!(p.max_share_target.to_consensus(), 0x1e0fffff);
    }

    #[test]
    fn the_chain_key_may_only_repeat_the_nodes_chain() {
        let e = err("chain = \"litecoin\"");
        assert!(
            e.contains("`chain` = \"litecoin\" but the node runs on litecoin-regtest"),
            "{e}"
        );
        assert!(err("chain = 13").contains("`chain` must be a string"));
    }

    #[test]
    fn the_contrib_example_pool_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/pool-club.toml");
        let p = load(&path, Chain::Litecoin, Preset::Main).unwrap();
        assert_eq!((p.name.as_str(), p.pplns_window), ("club", 1080));
        assert_eq!(p.max_payout_outputs, 50);
    }

    #[test]
    fn bad_toml_and_missing_files_are_reported_with_the_path() {
        assert!(err("pplns-window = ").starts_with("pool config file club.toml: "));
        let e = load(Path::new("/nonexistent/club.toml"), CHAIN, Preset::Main).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("cannot read pool config file /nonexistent/club.toml: "),
            "{e}"
        );
    }

    #[test]
    fn one_changed_field_changes_the_id_and_the_preset_spelled_out_keeps_it() {
        let main = PoolParams::preset(CHAIN, Preset::Main);
        let full = |window: u64| {
            format!(
                "chain = \"litecoin-regtest\"\nname = \"{}\"\nshare-period-secs = {}\n\
                 pplns-window = {window}\nretarget-half-life-secs = {}\nmax-uncles = {}\n\
                 uncle-depth = {}\nuncle-penalty-percent = {}\nmax-share-target = \"{:#010x}\"\n\
                 max-payout-outputs = {}\nmin-payout = {}\nmax-future-secs = {}\n",
                main.name,
                main.share_period_secs,
                main.retarget_half_life_secs,
                main.max_uncles,
                main.uncle_depth,
                main.uncle_penalty_percent,
                main.max_share_target.to_consensus(),
                main.max_payout_outputs,
                main.min_payout,
                main.max_future_secs,
            )
        };
        // Every key, equal to main: main's id, whichever preset fills the (no) gaps.
        let same = parse_as(&full(main.pplns_window), Preset::Mini).unwrap();
        assert_eq!(same.consensus_id(), main.consensus_id());
        let a = parse_main("name = \"club\"\npplns-window = 30\n").unwrap();
        let b = parse_main("name = \"club\"\npplns-window = 31\n").unwrap();
        let c = parse_main("name = \"club2\"\npplns-window = 30\n").unwrap();
        assert_ne!(a.consensus_id(), b.consensus_id());
        assert_ne!(a.consensus_id(), c.consensus_id());
        assert_ne!(a.consensus_id(), main.consensus_id());
        assert_eq!(
            a.consensus_id(),
            parse_main("pplns-window = 30\nname = \"club\"\n")
                .unwrap()
                .consensus_id(),
            "key order does not matter"
        );
    }
}
