//! `otedama-cli`: asks a running `otedama-node` how it is doing, and tells it what to do.
//!
//! Commands that change the node need its cookie (see `otedama_rpc::cookie`), which the CLI finds
//! the way `bitcoin-cli` does: `--rpc-cookie PATH`, else `DIR/.cookie` of `--data-dir DIR`, else
//! the cookie in the node's default data directory (`$HOME/.otedama/CHAIN-POOL`), so that
//! `otedama-cli stop` works with no flags beside a node run with its defaults.

use clap::{Parser, Subcommand};
use otedama_rpc::client::{Client, ClientError};
use otedama_rpc::data_dir::{CHAIN_NAMES, POOL_NAMES};
use otedama_rpc::server::codes;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `--help`'s closing words: where the cookie comes from and what the exit status means, for
/// scripts that act on it.
const AFTER_HELP: &str = "\
Cookie (for addpeer, banpeer, stop and other methods that change the node), the first that applies:
  --rpc-cookie PATH   that file (it must be readable)
  --data-dir DIR      DIR/.cookie
  otherwise           $HOME/.otedama/CHAIN-POOL/.cookie, the node's default data dir (--chain, --pool)
Commands that only read work without a cookie.

Exit status:
  0  success
  1  the node answered with an error or could not be reached, or a needed cookie is missing
  2  usage error: unknown flag or command, missing argument, bad --rpc URL,
     PARAMS of `call` not a JSON object or array";

/// Query a running otedama-node: status, peers, shares, payouts, miners, blocks; addpeer,
/// banpeer and stop with the node's cookie; any method with `call`.
#[derive(Parser, Debug)]
#[command(
    name = "otedama-cli",
    version = env!("OTEDAMA_VERSION_LONG"),
    after_help = AFTER_HELP
)]
struct Args {
    /// URL of the node's API.
    #[arg(long, value_name = "URL", default_value = otedama_rpc::DEFAULT_RPC_URL, global = true)]
    rpc: String,

    /// Print the raw JSON result (stable field names) instead of a table.
    #[arg(long, global = true)]
    json: bool,

    /// Cookie file of the node, for commands that change the node [default: DIR/.cookie of
    /// --data-dir, else of the default data dir].
    #[arg(long, value_name = "PATH", global = true)]
    rpc_cookie: Option<PathBuf>,

    /// The node's data directory, where it writes its cookie (DIR/.cookie) [default:
    /// $HOME/.otedama/CHAIN-POOL].
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,

    /// The node's --chain, only to find its default data dir.
    #[arg(long, value_name = "CHAIN", default_value = "litecoin", value_parser = CHAIN_NAMES,
          global = true)]
    chain: String,

    /// The node's --pool, only to find its default data dir.
    #[arg(long, value_name = "POOL", default_value = "main", value_parser = POOL_NAMES,
          global = true)]
    pool: String,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Sync state, best share, parent chain, peers, hashrates, difficulty, uptime.
    Status,
    /// Connected peers.
    Peers,
    /// Recent shares of the best chain.
    Shares {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Only shares below this height.
        #[arg(long)]
        before: Option<u64>,
    },
    /// One share by id.
    Share { id: String },
    /// The exact outputs the next block found by this node would pay.
    Payouts,
    /// Stratum connections and embedded workers.
    Miners,
    /// Blocks found, with their status on the full node.
    Blocks,
    /// Connect to a peer now, e.g. /ip4/203.0.113.5/tcp/9339 (needs the cookie).
    Addpeer { address: String },
    /// Disconnect and ban a peer by peer id (needs the cookie).
    Banpeer {
        peer_id: String,
        /// Ban length in seconds [default: a day].
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Stop the node cleanly (needs the cookie).
    Stop,
    /// Call any API method (docs/api.md); prints its result as JSON.
    ///
    /// E.g. `otedama-cli call getshares '{"limit": 5}'`. Sends the cookie when one is found, so
    /// methods that change the node work too.
    Call {
        /// The method's name.
        method: String,
        /// Its parameters: one JSON object or array [default: {}].
        params: Option<String>,
    },
}

/// Why the CLI gives up; each kind has its exit status.
#[derive(Debug, PartialEq, Eq)]
enum CliError {
    /// The command line cannot work as given (exit 2, as clap's own usage errors).
    Usage(String),
    /// The node said no or was not there, or a needed cookie is missing (exit 1).
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Failed(_) => 1,
        }
    }

    fn message(&self) -> &str {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => m,
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", e.message());
            ExitCode::from(e.exit_code())
        }
    }
}

/// The `params` of `call`: one JSON object or array, `{}` when absent. JSON-RPC 2.0 allows only
/// these two shapes, so anything else is refused here rather than by the node.
fn parse_params(text: Option<&str>) -> Result<Value, CliError> {
    let Some(text) = text else {
        return Ok(json!({}));
    };
    let value: Value = serde_json::from_str(text).map_err(|e| {
        CliError::Usage(format!(
            "PARAMS is not valid JSON ({e}); give one JSON object or array, e.g. '{{\"limit\": 5}}'"
        ))
    })?;
    match value {
        Value::Object(_) | Value::Array(_) => Ok(value),
        other => Err(CliError::Usage(format!(
            "PARAMS must be a JSON object or array, not {other}; e.g. '{{\"limit\": 5}}'"
        ))),
    }
}

/// Where to look for the node's cookie, in order of precedence.
#[derive(Debug, PartialEq, Eq)]
enum CookieSource {
    /// `--rpc-cookie PATH`: asked for by name, so it must be readable.
    Flag(PathBuf),
    /// `DIR/.cookie` of `--data-dir DIR`.
    DataDir(PathBuf),
    /// The cookie in the default data dir of `--chain` and `--pool`.
    DefaultDir(PathBuf),
    /// Neither flag, and no `HOME` to find the default data dir in.
    Nowhere,
}

/// `--rpc-cookie` > `--data-dir` > the default data dir (`default_dir`, `None` without `HOME`).
fn cookie_source(
    rpc_cookie: Option<&Path>,
    data_dir: Option<&Path>,
    default_dir: Option<PathBuf>,
) -> CookieSource {
    if let Some(path) = rpc_cookie {
        CookieSource::Flag(path.to_path_buf())
    } else if let Some(dir) = data_dir {
        CookieSource::DataDir(otedama_rpc::cookie::path_in(dir))
    } else if let Some(dir) = default_dir {
        CookieSource::DefaultDir(otedama_rpc::cookie::path_in(&dir))
    } else {
        CookieSource::Nowhere
    }
}

/// The cookie, or why there is none: a missing cookie only matters to commands that change the
/// node, which report `Missing`'s sentence; the rest go on without one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cookie {
    Found(String),
    Missing(String),
}

/// Reads the cookie from `source`. Only an unreadable `--rpc-cookie` is an error here: the user
/// named that file, so going on without it would hide their mistake.
fn load_cookie(source: &CookieSource, chain: &str, pool: &str) -> Result<Cookie, CliError> {
    let advice = "the node is probably not running, or uses another data dir \
                  (give it with --data-dir DIR, or the cookie with --rpc-cookie PATH)";
    let (path, whose) = match source {
        CookieSource::Flag(path) => {
            return otedama_rpc::cookie::read(path)
                .map(Cookie::Found)
                .map_err(|e| {
                    CliError::Failed(format!("cannot read cookie {}: {e}", path.display()))
                });
        }
        CookieSource::DataDir(path) => (path, "in --data-dir".to_string()),
        CookieSource::DefaultDir(path) => (
            path,
            format!("in the default data dir of --chain {chain} --pool {pool}"),
        ),
        CookieSource::Nowhere => {
            return Ok(Cookie::Missing(
                "no cookie: HOME is not set, so there is no default data dir; \
                 give --data-dir DIR or --rpc-cookie PATH"
                    .into(),
            ))
        }
    };
    Ok(match otedama_rpc::cookie::read(path) {
        Ok(cookie) => Cookie::Found(cookie),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cookie::Missing(format!(
            "no cookie at {} ({whose}): {advice}",
            path.display()
        )),
        Err(e) => Cookie::Missing(format!(
            "cannot read cookie {} ({whose}): {e}",
            path.display()
        )),
    })
}

/// The method and params of a command.
fn request(command: &Cmd) -> Result<(&str, Value), CliError> {
    Ok(match command {
        Cmd::Status => ("getstatus", json!({})),
        Cmd::Peers => ("getpeers", json!({})),
        Cmd::Shares { limit, before } => ("getshares", json!({"limit": limit, "before": before})),
        Cmd::Share { id } => ("getshare", json!({"id": id})),
        Cmd::Payouts => ("getpayouts", json!({})),
        Cmd::Miners => ("getminers", json!({})),
        Cmd::Blocks => ("getblocks", json!({})),
        Cmd::Addpeer { address } => ("addpeer", json!({"address": address})),
        Cmd::Banpeer { peer_id, seconds } => (
            "banpeer",
            match seconds {
                Some(s) => json!({"peer_id": peer_id, "seconds": s}),
                None => json!({"peer_id": peer_id}),
            },
        ),
        Cmd::Stop => ("stop", json!({})),
        Cmd::Call { method, params } => (method.as_str(), parse_params(params.as_deref())?),
    })
}

/// Whether the command always needs the cookie (the node's privileged methods the CLI has a
/// command for): without one it fails before asking the node, saying where it looked.
fn needs_cookie(command: &Cmd) -> bool {
    matches!(
        command,
        Cmd::Addpeer { .. } | Cmd::Banpeer { .. } | Cmd::Stop
    )
}

fn run(args: &Args) -> Result<String, CliError> {
    // Usage errors first, before any file or network access.
    let (method, params) = request(&args.command)?;
    let mut client = Client::new(&args.rpc).map_err(|e| CliError::Usage(e.to_string()))?;
    let source = cookie_source(
        args.rpc_cookie.as_deref(),
        args.data_dir.as_deref(),
        otedama_rpc::data_dir::default_data_dir(&args.chain, &args.pool),
    );
    let missing = match load_cookie(&source, &args.chain, &args.pool)? {
        Cookie::Found(cookie) => {
            client = client.with_cookie(&cookie);
            None
        }
        Cookie::Missing(why) if needs_cookie(&args.command) => {
            return Err(CliError::Failed(format!(
                "{method} needs the cookie: {why}"
            )))
        }
        Cookie::Missing(why) => Some(why),
    };
    let result = client
        .call(method, params)
        .map_err(|e| match (&e, &missing) {
            // A `call` of a privileged method without a cookie: say where the cookie was looked for.
            (ClientError::Rpc { code, .. }, Some(why)) if *code == codes::UNAUTHORIZED => {
                CliError::Failed(format!("{e}; {why}"))
            }
            _ => CliError::Failed(e.to_string()),
        })?;
    if args.json {
        return Ok(pretty(&result));
    }
    Ok(match &args.command {
        Cmd::Status | Cmd::Share { .. } => key_values(&result),
        Cmd::Peers => table(
            &result["peers"],
            &[
                ("PEER", "peer_id"),
                ("ADDRESS", "address"),
                ("DIRECTION", "direction"),
                ("AGENT", "agent"),
                ("SCORE", "score"),
                ("PING MS", "ping_ms"),
                ("CONNECTED S", "connected_secs"),
            ],
        ),
        Cmd::Shares { .. } => table(
            &result["shares"],
            &[
                ("HEIGHT", "height"),
                ("ID", "id"),
                ("MINER", "address"),
                ("DIFFICULTY", "difficulty"),
                ("UNCLES", "uncles"),
                ("TIME", "timestamp"),
            ],
        ),
        Cmd::Payouts => {
            let mut t = table(
                &result["outputs"],
                &[
                    ("ADDRESS", "address"),
                    ("AMOUNT", "amount_coins"),
                    ("PERCENT", "percent"),
                    ("WEIGHT", "weight"),
                ],
            );
            t.push_str(&format!(
                "total {} over {} outputs (next block at parent height {})\n",
                cell(&result["reward_coins"]),
                cell(&result["count"]),
                cell(&result["parent_height"])
            ));
            t
        }
        Cmd::Miners => table(
            &result["miners"],
            &[
                ("WORKER", "worker"),
                ("ADDRESS", "address"),
                ("HASHRATE", "hashrate"),
                ("ACCEPTED", "accepted"),
                ("STALE", "stale"),
                ("REJECTED", "rejected"),
                ("LAST SHARE", "last_share"),
            ],
        ),
        Cmd::Blocks => table(
            &result["blocks"],
            &[
                ("HEIGHT", "height"),
                ("HASH", "hash"),
                ("REWARD", "reward_coins"),
                ("OUR PAYOUT", "our_payout_coins"),
                ("STATUS", "status"),
                ("TRIES", "attempts"),
                ("REASON", "reason"),
            ],
        ),
        Cmd::Addpeer { .. } => format!("dialing {}\n", cell(&result["dialing"])),
        Cmd::Banpeer { .. } => format!(
            "banned {} for {} s\n",
            cell(&result["banned"]),
            cell(&result["seconds"])
        ),
        Cmd::Stop => "stopping\n".to_string(),
        // Any method's result: nothing to lay out, so always JSON.
        Cmd::Call { .. } => pretty(&result),
    })
}

/// Indented JSON and a newline.
fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `key: value` lines, nested objects flattened with dots.
fn key_values(v: &Value) -> String {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => out.push((prefix.to_string(), cell(other))),
        }
    }
    let mut rows = Vec::new();
    walk("", v, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, v)| format!("{k:width$}  {v}\n"))
        .collect()
}

/// A left-aligned table of the given columns of an array of objects.
fn table(rows: &Value, columns: &[(&str, &str)]) -> String {
    let rows = rows.as_array().cloned().unwrap_or_default();
    if rows.is_empty() {
        return "(none)\n".into();
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|(_, key)| cell(&r[*key])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (h, _))| {
            cells
                .iter()
                .map(|r| r[i].len())
                .max()
                .unwrap_or(0)
                .max(h.len())
        })
        .collect();
    let line = |vals: Vec<&str>| -> String {
        let mut s = vals
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect::<Vec<_>>()
            .join("  ");
        s.truncate(s.trim_end().len());
        s + "\n"
    };
    let mut out = line(columns.iter().map(|(h, _)| *h).collect());
    for r in &cells {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn chain_and_pool_default_to_the_nodes_and_take_only_its_names() {
        let a = Args::try_parse_from(["otedama-cli", "status"]).unwrap();
        assert_eq!((a.chain.as_str(), a.pool.as_str()), ("litecoin", "main"));
        let a = Args::try_parse_from([
            "otedama-cli",
            "stop",
            "--chain",
            "bitcoin-regtest",
            "--pool",
            "mini",
        ])
        .unwrap();
        assert_eq!(
            (a.chain.as_str(), a.pool.as_str()),
            ("bitcoin-regtest", "mini")
        );
        assert!(Args::try_parse_from(["otedama-cli", "--chain", "dogecoin", "status"]).is_err());
        assert!(Args::try_parse_from(["otedama-cli", "--pool", "maxi", "status"]).is_err());
    }

    #[test]
    fn call_params_are_one_json_object_or_array() {
        assert_eq!(parse_params(None), Ok(json!({})));
        assert_eq!(
            parse_params(Some(r#"{"limit": 5, "before": null}"#)),
            Ok(json!({"limit": 5, "before": null}))
        );
        assert_eq!(parse_params(Some("[1, \"a\"]")), Ok(json!([1, "a"])));
        assert_eq!(parse_params(Some(" {} ")), Ok(json!({})));
        for bad in ["{", "{limit: 5}", "", "'{}'", "{} {}"] {
            match parse_params(Some(bad)) {
                Err(CliError::Usage(m)) => assert!(m.contains("not valid JSON"), "{bad}: {m}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        for scalar in ["5", "\"x\"", "null", "true"] {
            match parse_params(Some(scalar)) {
                Err(CliError::Usage(m)) => {
                    assert!(m.contains("must be a JSON object or array"), "{m}")
                }
                other => panic!("{scalar:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn call_passes_method_and_params_through() {
        let cmd = Cmd::Call {
            method: "getshares".into(),
            params: Some(r#"{"limit": 3}"#.into()),
        };
        assert_eq!(request(&cmd), Ok(("getshares", json!({"limit": 3}))));
        assert!(!needs_cookie(&cmd));
        assert!(needs_cookie(&Cmd::Stop));
    }

    #[test]
    fn cookie_lookup_order_is_flag_then_data_dir_then_default_dir() {
        let flag = Path::new("/etc/otedama/cookie");
        let dir = Path::new("/srv/otedama");
        let default = PathBuf::from("/home/a/.otedama/litecoin-main");
        assert_eq!(
            cookie_source(Some(flag), Some(dir), Some(default.clone())),
            CookieSource::Flag(flag.into())
        );
        assert_eq!(
            cookie_source(None, Some(dir), Some(default.clone())),
            CookieSource::DataDir("/srv/otedama/.cookie".into())
        );
        assert_eq!(
            cookie_source(None, None, Some(default)),
            CookieSource::DefaultDir("/home/a/.otedama/litecoin-main/.cookie".into())
        );
        assert_eq!(cookie_source(None, None, None), CookieSource::Nowhere);
    }

    #[test]
    fn a_missing_cookie_is_explained_and_only_a_named_one_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let secret = otedama_rpc::cookie::create(tmp.path()).unwrap();
        let expected = Cookie::Found(format!("__cookie__:{secret}"));
        let path = tmp.path().join(".cookie");
        for source in [
            CookieSource::Flag(path.clone()),
            CookieSource::DataDir(path.clone()),
            CookieSource::DefaultDir(path),
        ] {
            assert_eq!(
                load_cookie(&source, "litecoin", "main"),
                Ok(expected.clone())
            );
        }

        let absent = tmp.path().join("elsewhere").join(".cookie");
        match load_cookie(&CookieSource::Flag(absent.clone()), "litecoin", "main") {
            Err(CliError::Failed(m)) => assert!(m.contains(&absent.display().to_string()), "{m}"),
            other => panic!("{other:?}"),
        }
        match load_cookie(&CookieSource::DataDir(absent.clone()), "litecoin", "main") {
            Ok(Cookie::Missing(m)) => {
                assert!(m.contains(&absent.display().to_string()), "{m}");
                assert!(m.contains("not running"), "{m}");
                assert!(m.contains("another data dir"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        match load_cookie(&CookieSource::DefaultDir(absent.clone()), "bitcoin", "mini") {
            Ok(Cookie::Missing(m)) => {
                assert!(m.contains(&absent.display().to_string()), "{m}");
                assert!(m.contains("--chain bitcoin --pool mini"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        match load_cookie(&CookieSource::Nowhere, "litecoin", "main") {
            Ok(Cookie::Missing(m)) => assert!(m.contains("HOME"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn usage_errors_exit_2_and_failures_1() {
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::Failed("x".into()).exit_code(), 1);
    }
}
