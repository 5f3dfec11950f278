//! The option table of `docs/configuration.md`, generated from the flags themselves so the
//! document cannot drift from the code: every flag with its environment variable, its key in
//! the `--config` file and its default. `config_reference::tests` compare the file with
//! [`markdown_table`] and the documented defaults with what [`crate::config::resolve`] yields;
//! `OTEDAMA_BLESS=1 cargo nextest run -p otedama-node config_reference` rewrites the table.

use crate::config::{Args, FileConfig};
use clap::CommandFactory;
use serde::de::{self, Deserialize, Deserializer, Visitor};

/// One option of `otedama-node`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionRow {
    /// `--flag`.
    pub flag: String,
    /// `OTEDAMA_FLAG`.
    pub env: Option<String>,
    /// Its key in the `--config` file, if it has one.
    pub file_key: Option<String>,
    /// The `[default: ...]` of its help, or empty.
    pub default: String,
    /// Its help, on one line, without the default.
    pub meaning: String,
}

/// Markers around the generated table in `docs/configuration.md`.
pub const TABLE_BEGIN: &str =
    "<!-- options:begin (generated: see node/src/config_reference.rs) -->";
pub const TABLE_END: &str = "<!-- options:end -->";

/// Every option of `otedama-node` (not those of its subcommands), in `--help` order.
pub fn rows() -> Vec<OptionRow> {
    let keys = file_keys();
    Args::command()
        .get_arguments()
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .filter_map(|a| {
            let flag = a.get_long()?.to_string();
            let help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
            let (meaning, default) = match help.rsplit_once("[default: ") {
                Some((text, rest)) => (
                    text.trim_end().to_string(),
                    rest.trim_end_matches(']').to_string(),
                ),
                None => (help.clone(), String::new()),
            };
            Some(OptionRow {
                env: a.get_env().map(|e| e.to_string_lossy().into_owned()),
                file_key: keys.iter().find(|k| **k == flag).map(|k| k.to_string()),
                default,
                meaning,
                flag,
            })
        })
        .collect()
}

/// The table as markdown, between [`TABLE_BEGIN`] and [`TABLE_END`].
pub fn markdown_table() -> String {
    let mut out = format!(
        "{TABLE_BEGIN}\n| Flag | Environment | File key | Default | Meaning |\n|---|---|---|---|---|\n"
    );
    let code = |s: &str| {
        if s.is_empty() {
            "-".to_string()
        } else {
            format!("`{}`", s.replace('|', "\\|"))
        }
    };
    for r in rows() {
        out.push_str(&format!(
            "| `--{}` | {} | {} | {} | {} |\n",
            r.flag,
            code(r.env.as_deref().unwrap_or("")),
            code(r.file_key.as_deref().unwrap_or("")),
            code(&r.default),
            r.meaning.replace('|', "\\|")
        ));
    }
    out.push_str(TABLE_END);
    out.push('\n');
    out
}

/// The keys [`FileConfig`] accepts, as serde sees them (read off its `Deserialize` impl, so a
/// key added to the struct shows up here without a second list).
pub fn file_keys() -> Vec<&'static str> {
    struct Fields(Vec<&'static str>);
    #[derive(Debug)]
    struct Captured;
    impl std::fmt::Display for Captured {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fields captured")
        }
    }
    impl std::error::Error for Captured {}
    impl de::Error for Captured {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Captured
        }
    }
    struct Capture<'a>(&'a mut Fields);
    impl<'de> Deserializer<'de> for Capture<'_> {
        type Error = Captured;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
            Err(Captured)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Captured> {
            self.0 .0.extend_from_slice(fields);
            Err(Captured)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut fields = Fields(Vec::new());
    let _ = FileConfig::deserialize(Capture(&mut fields));
    fields.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, resolve, DEFAULT_P2P_PORT_MAIN, DEFAULT_P2P_PORT_MINI};
    use std::path::Path;

    fn doc_path() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md")
    }

    #[test]
    fn docs_configuration_md_holds_the_generated_table() {
        let path = doc_path();
        let text = std::fs::read_to_string(&path).expect("docs/configuration.md");
        let (Some(begin), Some(end)) = (text.find(TABLE_BEGIN), text.find(TABLE_END)) else {
            panic!("docs/configuration.md lacks the {TABLE_BEGIN} ... {TABLE_END} markers");
        };
        let current = &text[begin..end + TABLE_END.len() + 1];
        let generated = markdown_table();
        if current != generated {
            if std::env::var("OTEDAMA_BLESS").is_ok() {
                let updated = text.replacen(current, &generated, 1);
                std::fs::write(&path, updated).expect("rewrite docs/configuration.md");
            } else {
                panic!(
                    "docs/configuration.md is out of date with the flags; rerun with \
                     OTEDAMA_BLESS=1 to regenerate. Expected:\n{generated}"
                );
            }
        }
    }

    #[test]
    fn every_flag_has_an_environment_variable_and_a_file_key() {
        for r in rows() {
            assert_eq!(
                r.env.as_deref(),
                Some(format!("OTEDAMA_{}", r.flag.to_uppercase().replace('-', "_")).as_str()),
                "--{}",
                r.flag
            );
            // `--config` names the file itself; `--peer` is the file's `peer` list.
            if r.flag != "config" {
                assert_eq!(r.file_key.as_deref(), Some(r.flag.as_str()), "--{}", r.flag);
            }
        }
        let flags: Vec<String> = rows().into_iter().map(|r| r.flag).collect();
        for key in file_keys() {
            assert!(flags.iter().any(|f| f == key), "file key {key} has no flag");
        }
    }

    /// The defaults the help (and so the document) states are the ones the code applies.
    #[test]
    fn documented_defaults_are_the_resolved_defaults() {
        std::env::remove_var("RUST_LOG");
        let rows = rows();
        let default = |flag: &str| {
            rows.iter()
                .find(|r| r.flag == flag)
                .map(|r| r.default.clone())
                .unwrap_or_else(|| panic!("no --{flag}"))
        };
        let payout = {
            use bitcoin::bech32::{segwit, Hrp};
            segwit::encode_v0(Hrp::parse("rltc").unwrap(), &[7; 20]).unwrap()
        };
        let args = config::Args {
            node_rpc: Some("http://127.0.0.1:19443".into()),
            node_rpc_cookie: Some("/tmp/cookie".into()),
            payout_address: Some(payout),
            ..config::Args::default()
        };
        let c = resolve(args, config::FileConfig::default()).unwrap();
        let mut checked = vec![];
        let mut check = |flag: &'static str, resolved: String| {
            assert_eq!(default(flag), resolved, "--{flag}");
            checked.push(flag);
        };
        check("chain", c.chain.name().to_string());
        check("pool", c.preset.name().to_string());
        check("stratum", c.stratum.to_string());
        check("rpc", c.rpc.to_string());
        check(
            "stratum-max-connections-per-ip",
            c.stratum_max_connections_per_ip.to_string(),
        );
        check("stratum-ban-secs", c.stratum_ban.as_secs().to_string());
        check("stratum-max-payouts", c.stratum_max_payouts.to_string());
        check("mine", c.mine.to_string());
        // `auto`: a dataset when the node does not mine (here --mine 0).
        assert!(c.randomx_dataset);
        check("randomx-verify", "auto".into());
        check("max-peers", c.max_peers.to_string());
        check("p2p-limit-loopback", c.p2p_limit_loopback.to_string());
        check("no-prune", c.no_prune.to_string());
        check("log-level", c.log.filter.clone());
        check("log-format", "text".into());
        assert_eq!(c.log.format, config::LogFormat::Text);
        assert_eq!(
            Some(c.data_dir.clone()),
            otedama_rpc::data_dir::default_data_dir("litecoin-regtest", "main")
        );
        check("data-dir", "~/.otedama/CHAIN-POOL".into());
        let listen = default("p2p-listen");
        assert!(
            listen.contains(&format!("PORT {DEFAULT_P2P_PORT_MAIN} for main"))
                && listen.contains(&format!("{DEFAULT_P2P_PORT_MINI} for mini"))
        );
        assert_eq!(
            c.p2p_listen
                .iter()
                .map(|a| a
                    .to_string()
                    .replace(&DEFAULT_P2P_PORT_MAIN.to_string(), "PORT"))
                .collect::<Vec<_>>()
                .join(" and "),
            listen.split(',').next().unwrap()
        );
        checked.push("p2p-listen");
        // Every flag that states a default is checked here.
        for r in &rows {
            if !r.default.is_empty() {
                assert!(checked.contains(&r.flag.as_str()), "--{} unchecked", r.flag);
            }
        }
    }
}
