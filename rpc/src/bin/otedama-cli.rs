//! `otedama-cli`: asks a running `otedama-node` how it is doing.

use clap::{Parser, Subcommand};
use otedama_rpc::client::Client;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::ExitCode;

/// Query a running otedama-node: status, peers, shares, payouts, miners, blocks; addpeer,
/// banpeer and stop with the node's cookie.
#[derive(Parser, Debug)]
#[command(name = "otedama-cli", version)]
struct Args {
    /// URL of the node's API.
    #[arg(long, value_name = "URL", default_value = otedama_rpc::DEFAULT_RPC_URL, global = true)]
    rpc: String,

    /// Print the raw JSON result (stable field names) instead of a table.
    #[arg(long, global = true)]
    json: bool,

    /// Cookie file of the node (DATA_DIR/.cookie), for commands that change the node.
    #[arg(long, value_name = "PATH", global = true)]
    rpc_cookie: Option<PathBuf>,

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
    /// Connect to a peer now, e.g. /ip4/203.0.113.5/tcp/9339 (needs --rpc-cookie).
    Addpeer { address: String },
    /// Disconnect and ban a peer by peer id (needs --rpc-cookie).
    Banpeer {
        peer_id: String,
        /// Ban length in seconds [default: a day].
        #[arg(long)]
        seconds: Option<u64>,
    },
    /// Stop the node cleanly (needs the cookie: --rpc-cookie DATA_DIR/.cookie).
    Stop,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let mut client = Client::new(&args.rpc).map_err(|e| e.to_string())?;
    if let Some(path) = &args.rpc_cookie {
        let cookie = otedama_rpc::cookie::read(path)
            .map_err(|e| format!("cannot read cookie {}: {e}", path.display()))?;
        client = client.with_cookie(&cookie);
    }
    let (method, params) = match &args.command {
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
    };
    let result = client.call(method, params).map_err(|e| e.to_string())?;
    if args.json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&result).unwrap_or_default()
        ));
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
    })
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
