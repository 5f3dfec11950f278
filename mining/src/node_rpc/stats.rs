//! Call, error and latency statistics of a [`NodeRpc`](super::NodeRpc), for Prometheus.
//!
//! Everything is a relaxed atomic counter over a fixed set of series (the methods the client
//! uses, the error kinds, the latency buckets), so recording never locks or allocates and the
//! exposition has a bounded, stable set of series.

use super::client::NodeRpcError;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The RPC methods counted by name, in exposition order; any other method is counted as
/// `other` (so a caller's ad hoc [`NodeRpc::call`](super::NodeRpc::call) cannot grow the
/// series set).
pub const METHODS: [&str; 7] = [
    "getblocktemplate",
    "submitblock",
    "getblockchaininfo",
    "getnetworkinfo",
    "getbestblockhash",
    "getblockhash",
    "other",
];

/// The error kinds, in exposition order: [`NodeRpcError::kind`] of each variant.
pub const ERROR_KINDS: [&str; 9] = [
    "unreachable",
    "timeout",
    "auth",
    "cookie_unreadable",
    "work_queue_full",
    "rpc_error",
    "protocol",
    "wrong_chain",
    "invalid_url",
];

/// Upper bounds (inclusive, seconds) of the latency histogram's finite buckets; a last `+Inf`
/// bucket takes the rest.
pub const LATENCY_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];

/// [`LATENCY_BUCKETS`] in nanoseconds, for the comparisons on the hot path.
const BUCKET_NANOS: [u64; 8] = [
    1_000_000,
    5_000_000,
    10_000_000,
    50_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];

fn method_index(method: &str) -> usize {
    METHODS[..METHODS.len() - 1]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

impl NodeRpcError {
    /// A short, stable snake_case label of the variant: the `kind` label of the
    /// `node_rpc_errors_total` metric (one of [`ERROR_KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            NodeRpcError::InvalidUrl { .. } => "invalid_url",
            NodeRpcError::Unreachable { .. } => "unreachable",
            NodeRpcError::Auth { .. } => "auth",
            NodeRpcError::CookieUnreadable { .. } => "cookie_unreadable",
            NodeRpcError::WorkQueueFull { .. } => "work_queue_full",
            NodeRpcError::Rpc { .. } => "rpc_error",
            NodeRpcError::WrongChain { .. } => "wrong_chain",
            NodeRpcError::Timeout { .. } => "timeout",
            NodeRpcError::Protocol(_) => "protocol",
        }
    }
}

/// Statistics of one [`NodeRpc`](super::NodeRpc) and its clones (they share one).
///
/// * Calls: every call, counted when it is sent, by method ([`METHODS`]); long polls included.
/// * Errors: every error a `NodeRpc` method returns, counted once where it arises, by kind
///   ([`ERROR_KINDS`]); long polls included.
/// * Latency: the time from sending a call to its result (success or error; a timeout counts
///   its timeout), in a histogram with [`LATENCY_BUCKETS`]. A call abandoned by its caller
///   (its future dropped) has no result and is not measured.
///
/// Long polls (`getblocktemplate` with a `longpollid`) are kept out of the latency histogram:
/// the node holds them open by design until the tip changes or a minute passes with new
/// transactions (on regtest or a quiet chain, for as long as it takes a block: minutes to
/// hours), so their duration measures the chain, not the node's responsiveness, and one of
/// them would outweigh the sum and the upper buckets of every real request.
#[derive(Debug, Default)]
pub struct RpcStats {
    calls: [AtomicU64; METHODS.len()],
    errors: [AtomicU64; ERROR_KINDS.len()],
    /// Per-bucket (not cumulative) counts; the last is `+Inf`.
    latency_buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    latency_sum_nanos: AtomicU64,
}

impl RpcStats {
    /// Empty statistics.
    pub fn new() -> RpcStats {
        RpcStats::default()
    }

    /// Counts a call of `method`.
    pub(crate) fn record_call(&self, method: &str) {
        self.calls[method_index(method)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an error by its kind.
    pub(crate) fn record_error(&self, error: &NodeRpcError) {
        let kind = error.kind();
        let i = ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| unreachable!("ERROR_KINDS lists every kind"));
        self.errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds the latency of one (non-long-poll) call.
    pub(crate) fn record_latency(&self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let i = BUCKET_NANOS
            .iter()
            .position(|&le| nanos <= le)
            .unwrap_or(BUCKET_NANOS.len());
        self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Calls of `method` so far (methods outside [`METHODS`] all read the `other` count).
    pub fn calls(&self, method: &str) -> u64 {
        self.calls[method_index(method)].load(Ordering::Relaxed)
    }

    /// Errors of `kind` (one of [`ERROR_KINDS`]; 0 for any other string).
    pub fn errors(&self, kind: &str) -> u64 {
        ERROR_KINDS
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.errors[i].load(Ordering::Relaxed))
    }

    /// Cumulative latency bucket counts: `(upper bound in seconds, calls at most that long)`,
    /// the last with bound `f64::INFINITY` (all measured calls).
    pub fn latency_buckets(&self) -> [(f64, u64); LATENCY_BUCKETS.len() + 1] {
        let mut out = [(f64::INFINITY, 0); LATENCY_BUCKETS.len() + 1];
        let mut cumulative = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            cumulative = cumulative.saturating_add(self.latency_buckets[i].load(Ordering::Relaxed));
            *slot = (
                LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY),
                cumulative,
            );
        }
        out
    }

    /// Calls measured in the latency histogram (all but long polls and abandoned calls).
    pub fn latency_count(&self) -> u64 {
        self.latency_buckets()[LATENCY_BUCKETS.len()].1
    }

    /// Total latency of the measured calls.
    pub fn latency_sum(&self) -> Duration {
        Duration::from_nanos(self.latency_sum_nanos.load(Ordering::Relaxed))
    }

    /// The statistics in the Prometheus text exposition format (version 0.0.4), metric names
    /// starting with `prefix` (e.g. `otedama`, which must be a valid metric name itself):
    ///
    /// * `{prefix}_node_rpc_calls_total{method="..."}`, counter, one per [`METHODS`] entry;
    /// * `{prefix}_node_rpc_errors_total{kind="..."}`, counter, one per [`ERROR_KINDS`] entry;
    /// * `{prefix}_node_rpc_latency_seconds`, histogram: `_bucket{le="..."}` (cumulative, up to
    ///   `+Inf`), `_sum`, `_count`.
    ///
    /// Every series is present (zeros included), in a fixed order. The output ends with a
    /// newline, ready to be concatenated with other metric families.
    pub fn render_prometheus(&self, prefix: &str) -> String {
        debug_assert!(
            is_metric_name(prefix),
            "{prefix:?} is not a valid Prometheus metric name prefix"
        );
        let mut out = String::with_capacity(2048);
        let calls = format!("{prefix}_node_rpc_calls_total");
        family(
            &mut out,
            &calls,
            "counter",
            "Full-node JSON-RPC calls sent, by method (long polls included; methods outside \
             the client's own set count as other).",
        );
        for (method, count) in METHODS.iter().zip(&self.calls) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{calls}{{method=\"{method}\"}} {count}");
        }
        let errors = format!("{prefix}_node_rpc_errors_total");
        family(
            &mut out,
            &errors,
            "counter",
            "Full-node JSON-RPC errors, by kind.",
        );
        for (kind, count) in ERROR_KINDS.iter().zip(&self.errors) {
            let count = count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{errors}{{kind=\"{kind}\"}} {count}");
        }
        let latency = format!("{prefix}_node_rpc_latency_seconds");
        family(
            &mut out,
            &latency,
            "histogram",
            "Full-node JSON-RPC call latency in seconds, errors included, long polls excluded.",
        );
        let buckets = self.latency_buckets();
        for (le, count) in buckets {
            let le = if le.is_infinite() {
                "+Inf".to_owned()
            } else {
                le.to_string()
            };
            let _ = writeln!(out, "{latency}_bucket{{le=\"{le}\"}} {count}");
        }
        let sum = self.latency_sum().as_secs_f64();
        let _ = writeln!(out, "{latency}_sum {sum}");
        // The count is the +Inf bucket itself, so the two always agree.
        let _ = writeln!(out, "{latency}_count {}", buckets[LATENCY_BUCKETS.len()].1);
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

#[cfg(test)]
mod tests {
    use super::*;
    use otedama_consensus::Chain;
    use std::collections::BTreeMap;
    use std::io;
    use std::path::PathBuf;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn buckets_match_their_bounds() {
        assert_eq!(BUCKET_NANOS.len(), LATENCY_BUCKETS.len());
        for (nanos, secs) in BUCKET_NANOS.iter().zip(LATENCY_BUCKETS) {
            assert_eq!(Duration::from_nanos(*nanos), Duration::from_secs_f64(secs));
        }
        assert!(BUCKET_NANOS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn histogram_buckets_are_cumulative_and_counts_right() {
        let stats = RpcStats::new();
        assert_eq!(stats.latency_count(), 0);
        assert!(stats.latency_buckets().iter().all(|(_, n)| *n == 0));
        // Bounds are inclusive (le): exactly 1 ms is in the 0.001 bucket.
        let samples = [
            Duration::from_micros(200),
            ms(1),
            ms(3),
            ms(7),
            Duration::from_micros(7_500),
            ms(80),
            ms(400),
            ms(1000),
            ms(2000),
            ms(6000),
            Duration::from_secs(600),
        ];
        for s in samples {
            stats.record_latency(s);
        }
        let expected: [(f64, u64); 9] = [
            (0.001, 2),
            (0.005, 3),
            (0.01, 5),
            (0.05, 5),
            (0.1, 6),
            (0.5, 7),
            (1.0, 8),
            (5.0, 9),
            (f64::INFINITY, 11),
        ];
        assert_eq!(stats.latency_buckets(), expected);
        assert!(stats.latency_buckets().windows(2).all(|w| w[0].1 <= w[1].1));
        assert_eq!(stats.latency_count(), samples.len() as u64);
        assert_eq!(stats.latency_sum(), samples.iter().sum::<Duration>());
    }

    #[test]
    fn calls_are_counted_by_method_with_others_pooled() {
        let stats = RpcStats::new();
        for m in METHODS {
            assert_eq!(stats.calls(m), 0);
        }
        stats.record_call("getblocktemplate");
        stats.record_call("getblocktemplate");
        stats.record_call("submitblock");
        stats.record_call("getblockcount");
        stats.record_call("nosuchmethod");
        assert_eq!(stats.calls("getblocktemplate"), 2);
        assert_eq!(stats.calls("submitblock"), 1);
        assert_eq!(stats.calls("getblockhash"), 0);
        assert_eq!(stats.calls("other"), 2);
        assert_eq!(stats.calls("anything-else"), 2, "reads the other count");
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let url = || "http://127.0.0.1:1/".to_owned();
        let all = [
            NodeRpcError::InvalidUrl {
                url: url(),
                reason: "r".into(),
            },
            NodeRpcError::Unreachable {
                url: url(),
                source: io::Error::from(io::ErrorKind::ConnectionRefused),
            },
            NodeRpcError::Auth { url: url() },
            NodeRpcError::CookieUnreadable {
                path: PathBuf::from("/nonexistent"),
                source: io::Error::from(io::ErrorKind::NotFound),
            },
            NodeRpcError::WorkQueueFull { url: url() },
            NodeRpcError::Rpc {
                method: "getblocktemplate".into(),
                code: -9,
                message: "not connected".into(),
            },
            NodeRpcError::WrongChain {
                expected: Chain::Litecoin,
                found: "chain \"regtest\"".into(),
            },
            NodeRpcError::Timeout {
                url: url(),
                method: "getblockchaininfo".into(),
                after: Duration::from_secs(30),
            },
            NodeRpcError::Protocol("bad".into()),
        ];
        // One label per variant, all listed, all distinct, all snake_case.
        let kinds: Vec<&str> = all.iter().map(NodeRpcError::kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort_unstable();
        let mut listed = ERROR_KINDS.to_vec();
        listed.sort_unstable();
        assert_eq!(sorted, listed);
        for k in &kinds {
            assert!(
                k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{k}"
            );
        }

        let stats = RpcStats::new();
        for (i, e) in all.iter().enumerate() {
            // Variant i is recorded i + 1 times.
            for _ in 0..=i {
                stats.record_error(e);
            }
        }
        for (i, e) in all.iter().enumerate() {
            assert_eq!(stats.errors(e.kind()), i as u64 + 1, "{}", e.kind());
        }
        assert_eq!(stats.errors("no_such_kind"), 0);
        assert_eq!(stats.errors("unreachable"), 2);
        assert_eq!(stats.errors("timeout"), 8);
    }

    /// Parses the exposition line by line: comments are `# HELP name text` or
    /// `# TYPE name type` (before the family's samples), every other line is
    /// `name{labels} value` or `name value`. Returns the samples as `name{labels}` -> value.
    fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
        assert!(text.ends_with('\n'), "ends with a newline");
        let mut samples = BTreeMap::new();
        let mut typed: BTreeMap<String, String> = BTreeMap::new();
        let mut helped = Vec::new();
        for line in text.lines() {
            assert!(!line.is_empty(), "no empty lines");
            if let Some(comment) = line.strip_prefix("# ") {
                let mut parts = comment.splitn(3, ' ');
                let (keyword, name, rest) = (
                    parts.next().unwrap(),
                    parts.next().expect("a metric name"),
                    parts.next().expect("help text or type"),
                );
                assert!(is_metric_name(name), "{line}");
                match keyword {
                    "HELP" => helped.push(name.to_owned()),
                    "TYPE" => {
                        assert!(
                            ["counter", "gauge", "histogram", "summary", "untyped"].contains(&rest),
                            "{line}"
                        );
                        assert!(typed.insert(name.to_owned(), rest.to_owned()).is_none());
                    }
                    _ => panic!("unknown comment {line:?}"),
                }
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("value of {line:?}")),
            };
            let name = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("closing brace");
                    for pair in labels.split(',') {
                        let (label, quoted) = pair.split_once('=').expect("label=value");
                        assert!(
                            is_metric_name(label) && !label.contains(':'),
                            "label {label:?}"
                        );
                        let inner = quoted
                            .strip_prefix('"')
                            .and_then(|q| q.strip_suffix('"'))
                            .expect("quoted label value");
                        assert!(!inner.contains(['"', '\\', '\n']), "{line}");
                    }
                    name
                }
                None => series,
            };
            assert!(is_metric_name(name), "{line}");
            // The sample belongs to a family declared above it.
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or(name);
            assert!(typed.contains_key(family), "no TYPE before {line:?}");
            assert!(
                helped.iter().any(|h| h == family),
                "no HELP before {line:?}"
            );
            assert!(
                samples.insert(series.to_owned(), value).is_none(),
                "duplicate {series}"
            );
        }
        samples
    }

    #[test]
    fn render_is_valid_prometheus_text() {
        let stats = RpcStats::new();
        let empty = stats.render_prometheus("otedama");
        let samples = parse_exposition(&empty);
        assert_eq!(
            samples.len(),
            METHODS.len() + ERROR_KINDS.len() + LATENCY_BUCKETS.len() + 1 + 2,
            "every series, zeros included"
        );
        assert!(samples.values().all(|v| *v == 0.0));

        stats.record_call("getblocktemplate");
        stats.record_call("getblocktemplate");
        stats.record_call("getblockcount");
        stats.record_error(&NodeRpcError::Auth {
            url: "http://h:1/".into(),
        });
        stats.record_latency(ms(3));
        stats.record_latency(ms(250));
        stats.record_latency(Duration::from_secs(7));
        let text = stats.render_prometheus("otedama");
        let samples = parse_exposition(&text);
        let get = |k: &str| *samples.get(k).unwrap_or_else(|| panic!("{k} in\n{text}"));
        assert_eq!(
            get("otedama_node_rpc_calls_total{method=\"getblocktemplate\"}"),
            2.0
        );
        assert_eq!(get("otedama_node_rpc_calls_total{method=\"other\"}"), 1.0);
        assert_eq!(
            get("otedama_node_rpc_calls_total{method=\"submitblock\"}"),
            0.0
        );
        assert_eq!(get("otedama_node_rpc_errors_total{kind=\"auth\"}"), 1.0);
        assert_eq!(get("otedama_node_rpc_errors_total{kind=\"timeout\"}"), 0.0);
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"0.001\"}"),
            0.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"0.005\"}"),
            1.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"0.1\"}"),
            1.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"0.5\"}"),
            2.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"1\"}"),
            2.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"5\"}"),
            2.0
        );
        assert_eq!(
            get("otedama_node_rpc_latency_seconds_bucket{le=\"+Inf\"}"),
            3.0
        );
        assert_eq!(get("otedama_node_rpc_latency_seconds_count"), 3.0);
        assert!(
            (get("otedama_node_rpc_latency_seconds_sum") - 7.253).abs() < 1e-9,
            "exact nanoseconds"
        );

        // Buckets in increasing order of le, cumulative, ending at +Inf == _count.
        let buckets: Vec<(f64, f64)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("otedama_node_rpc_latency_seconds_bucket{le=\""))
            .map(|l| {
                let (le, value) = l.split_once("\"} ").unwrap();
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap()
                };
                (le, value.parse().unwrap())
            })
            .collect();
        assert_eq!(buckets.len(), LATENCY_BUCKETS.len() + 1);
        assert!(buckets
            .windows(2)
            .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(
            buckets.last().copied(),
            Some((f64::INFINITY, get("otedama_node_rpc_latency_seconds_count")))
        );

        // Deterministic: the same stats render the same text; the order is fixed.
        assert_eq!(text, stats.render_prometheus("otedama"));
        let families: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .collect();
        assert_eq!(
            families,
            [
                "otedama_node_rpc_calls_total counter",
                "otedama_node_rpc_errors_total counter",
                "otedama_node_rpc_latency_seconds histogram",
            ]
        );
        let methods: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("otedama_node_rpc_calls_total{method=\""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        assert_eq!(methods, METHODS);
        assert!(stats
            .render_prometheus("other_prefix")
            .contains("\nother_prefix_node_rpc_errors_total{kind=\"unreachable\"} 0\n"));
    }

    #[test]
    fn metric_names() {
        assert!(is_metric_name("otedama"));
        assert!(is_metric_name("a_b:c9"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("9a"));
        assert!(!is_metric_name("a-b"));
    }
}
