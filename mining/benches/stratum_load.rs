//! Stratum load: many concurrent miner connections submitting shares at a fixed aggregate rate
//! against the real `StratumServer`, and the same load against a minimal newline-JSON echo
//! server as the baseline, both measured in the same run.
//!
//! The server runs in a child process (this binary re-executed with `OTEDAMA_STRATUM_LOAD_SERVER`
//! set), on a multi-thread tokio runtime like the node's, so its resident memory (VmRSS from
//! /proc/PID/status) and CPU time (/proc/PID/stat) are its own. The load generator in this process
//! shares the machine's cores with it.
//!
//! * Stratum server: one real SHA256d job (bitcoin-regtest pool, main preset, extranonce 4 + 8
//!   bytes, built like `tests/stratum.rs` builds its jobs) behind a fake `JobSource`; vardiff off,
//!   every connection at difficulty 2^-31 (the regtest limit: half of all hashes meet it, so about
//!   half the submits are accepted and half answered error 23; both cost the server hashing the
//!   coinbase, the merkle branch and the header); the pool's share target is made 1024x harder
//!   than regtest's so that, as on a real pool, only a few accepted submits are shares (they are
//!   handed on through the found-share channel, which a task drains).
//! * Echo baseline: one task per connection reads lines, parses each as JSON and writes
//!   `{"id":N,"result":true,"error":null}`: what any newline JSON-RPC server pays (accept, task,
//!   reads, writes, parsing), without Stratum's work.
//!
//! The client: each connection subscribes and authorizes (`d=` password), then one task per
//! `--conns-per-task` connections writes submits (distinct nonces, so no duplicates) round-robin
//! at the aggregate `--rate`; one small task per connection reads the replies. A submit's id is
//! its send time, so a reply's latency is read off the reply itself. Latencies go into a
//! fixed-bucket log-linear histogram (1.6 % resolution).
//!
//! CPU: `server_cpu` and `client_cpu` are each process's user + system time over the measured
//! window (loopback TCP delivery is charged to the sender, so the server's figure includes
//! handing its replies to the client); `machine_cpu` is the whole machine's, to show whether
//! anything else ran. `server_us_per_submit` is server CPU time per answered submit.
//!
//! `cargo bench -p otedama-mining --bench stratum_load [-- --connections N --rate R --seconds S
//! --warmup S --conns-per-task K --client-threads T --server-threads T --only stratum|echo
//! --timeline]`; defaults 10,000 connections, 50,000 submits/s, 10 s (after 2 s of warm-up).
//! `OTEDAMA_BENCH_QUICK=1`: 500 connections, 2,500 submits/s, 3 s (+0.5 s). `--timeline` prints
//! the worst latency of every 100 ms. Each process needs one file descriptor per connection: the
//! bench scales down, and says so, when `ulimit -n` is too low (run `ulimit -n 65536` first).

use otedama_consensus::testkit;
use otedama_consensus::{Chain, PayoutScript, PoolParams, Preset, Target, Work};
use otedama_mining::job::{FoundShare, Job, JobSource, WorkEpoch};
use otedama_mining::stratum::{StratumConfig, StratumServer, StratumStats};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;

/// Set in the child process: which server it runs (`stratum` or `echo`).
const CHILD_ENV: &str = "OTEDAMA_STRATUM_LOAD_SERVER";
/// Set in the child process when `--server-threads` is given.
const THREADS_ENV: &str = "OTEDAMA_STRATUM_LOAD_SERVER_THREADS";
/// Submit ids are this plus the send time in microseconds since the client's origin; smaller
/// ids are handshake requests.
const SUBMIT_ID_BASE: u64 = 1_000_000;
/// One hash in this many meets the pool's share target.
const SHARE_WORK: u128 = 1024;
/// Every connection's difficulty, 2^-31: the regtest proof-of-work limit (half of all hashes).
const CONNECTION_DIFFICULTY: &str = "4.656612873077393e-10";
/// File descriptors each process keeps for itself beyond one per connection.
const FD_RESERVE: u64 = 64;
/// Connects and handshakes in flight at once: below the listen backlog of 128 that tokio gives
/// `TcpListener::bind`, so no SYN is dropped.
const CONNECT_CONCURRENCY: usize = 64;
/// Pacing tick of the submit writers.
const TICK: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------------------------
// /proc readings.

/// A kB figure (`VmRSS`, `VmHWM`) from /proc/PID/status; 0 where there is none.
fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system, all threads) of a process, from /proc/PID/stat at 100 ticks/s.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (tick(11) + tick(12)) as f64 / 100.0
}

/// Busy and stolen CPU seconds of the whole machine, from /proc/stat at 100 ticks/s (busy:
/// everything but idle and iowait, softirq included, which /proc/PID/stat may not charge to the
/// process that raised it).
fn machine_cpu_secs() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let get = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    let busy = get(0) + get(1) + get(2) + get(5) + get(6);
    (busy as f64 / 100.0, get(7) as f64 / 100.0)
}

/// The soft limit on open files of this process.
fn nofile_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap_or(1024)
}

/// Local ports the kernel hands out to outgoing connections.
fn ephemeral_ports() -> u64 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let v: Vec<u64> = s
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(v.get(1)?.saturating_sub(*v.first()?) + 1)
        })
        .unwrap_or(28_232)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// The server child.

/// A job source with one real share job for one payout.
struct OneJob {
    job: Arc<Job>,
    epoch: watch::Sender<WorkEpoch>,
}

impl OneJob {
    fn new(payout: PayoutScript) -> Arc<OneJob> {
        let mut pool = PoolParams::preset(Chain::BitcoinRegtest, Preset::Main);
        pool.max_share_target = Target::from_work(Work(SHARE_WORK)).to_compact();
        let share_job = testkit::live_job(&pool, &payout, 200, unix_now());
        Arc::new(OneJob {
            job: Arc::new(Job {
                id: 0x0123_4567_0000_0001,
                share_job,
                payout,
                parent_height: 200,
                template: None,
            }),
            epoch: watch::channel(WorkEpoch::default()).0,
        })
    }
}

impl JobSource for OneJob {
    fn job_for(&self, payout: &PayoutScript) -> Option<Arc<Job>> {
        (*payout == self.job.payout).then(|| self.job.clone())
    }

    fn job_by_id(&self, id: u64) -> Option<Arc<Job>> {
        (id == self.job.id).then(|| self.job.clone())
    }

    fn subscribe(&self) -> watch::Receiver<WorkEpoch> {
        self.epoch.subscribe()
    }
}

/// Commands from the parent, one a line on stdin: `STATS` (answered with one `STATS ...` line
/// on stdout) and `STOP`; end of input stops too.
fn stdin_commands() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn server_child(mode: &str) {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        builder.worker_threads(n.max(1));
    }
    let rt = builder.enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut commands = stdin_commands();
        let report: Box<dyn Fn() -> String> = match mode {
            "stratum" => {
                let payout = testkit::script(99);
                let jobs = OneJob::new(payout.clone());
                let mut config = StratumConfig::new(
                    "127.0.0.1:0".parse().expect("addr"),
                    Chain::BitcoinRegtest.bitcoin_params().unwrap(),
                    payout,
                );
                config.min_difficulty = 1e-12;
                config.vardiff.enabled = false;
                // Every simulated rig connects from 127.0.0.1: lift the per-address cap.
                config.max_connections_per_ip = config.max_connections;
                // The node's found-share queue (node/src/run.rs).
                let (found_tx, mut found_rx) = mpsc::channel::<FoundShare>(1024);
                let drained = Arc::new(AtomicU64::new(0));
                let d = drained.clone();
                tokio::spawn(async move {
                    while found_rx.recv().await.is_some() {
                        d.fetch_add(1, Ordering::Relaxed);
                    }
                });
                let stats = Arc::new(StratumStats::new());
                let server = StratumServer::bind(
                    config,
                    jobs as Arc<dyn JobSource>,
                    found_tx,
                    stats.clone(),
                )
                .await
                .expect("bind");
                let addr = server.local_addr();
                tokio::spawn(server.run(std::future::pending::<()>()));
                say(&format!("LISTEN {addr} nofile={}", nofile_limit()));
                Box::new(move || {
                    let c = stats.counters();
                    format!(
                        "STATS open={} total={} refused={} accepted={} low_difficulty={} stale={} duplicate={} rejected={} shares_found={} shares_dropped={} shares_drained={}",
                        c.connections_open,
                        c.connections_total,
                        c.connections_refused,
                        c.submits_accepted,
                        c.submits_low_difficulty,
                        c.submits_stale,
                        c.submits_duplicate,
                        c.submits_rejected,
                        c.shares_found,
                        c.shares_dropped,
                        drained.load(Ordering::Relaxed),
                    )
                })
            }
            _ => {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let addr = listener.local_addr().expect("addr");
                let open = Arc::new(AtomicU64::new(0));
                let answered = Arc::new(AtomicU64::new(0));
                let (o, a) = (open.clone(), answered.clone());
                tokio::spawn(async move {
                    loop {
                        match listener.accept().await {
                            Ok((sock, _)) => {
                                tokio::spawn(echo_connection(sock, o.clone(), a.clone()));
                            }
                            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                        }
                    }
                });
                say(&format!("LISTEN {addr} nofile={}", nofile_limit()));
                Box::new(move || {
                    format!(
                        "STATS open={} answered={}",
                        open.load(Ordering::Relaxed),
                        answered.load(Ordering::Relaxed)
                    )
                })
            }
        };
        while let Some(cmd) = commands.recv().await {
            match cmd.trim() {
                "STATS" => say(&report()),
                "STOP" => break,
                _ => {}
            }
        }
    });
    // Dropping the runtime closes every connection.
    drop(rt);
}

/// The baseline: a newline JSON-RPC server that answers every request `true`.
async fn echo_connection(sock: TcpStream, open: Arc<AtomicU64>, answered: Arc<AtomicU64>) {
    open.fetch_add(1, Ordering::Relaxed);
    let _ = sock.set_nodelay(true);
    let (rd, mut wr) = sock.into_split();
    // 1 KiB (not the default 8 KiB): a submit line is ~150 bytes, and the baseline should be lean.
    let mut lines = tokio::io::BufReader::with_capacity(1024, rd).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let id = match serde_json::from_str::<Value>(&line) {
            Ok(Value::Object(mut o)) => o.remove("id").unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let reply = format!("{{\"id\":{id},\"result\":true,\"error\":null}}\n");
        if wr.write_all(reply.as_bytes()).await.is_err() {
            break;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
    open.fetch_sub(1, Ordering::Relaxed);
}

/// The parent's handle on a server child.
struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    pid: String,
    addr: SocketAddr,
    nofile: u64,
}

impl ServerProc {
    fn spawn(mode: &str, threads: Option<usize>) -> ServerProc {
        let mut cmd = Command::new(std::env::current_exe().expect("bench binary"));
        cmd.env(CHILD_ENV, mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(n) = threads {
            cmd.env(THREADS_ENV, n.to_string());
        }
        let mut child = cmd.spawn().expect("spawn the server child");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let pid = child.id().to_string();
        let line = read_line_starting(&mut stdout, "LISTEN ");
        let mut words = line.split_whitespace().skip(1);
        let addr = words.next().and_then(|a| a.parse().ok()).expect("address");
        let nofile = words
            .next()
            .and_then(|w| w.strip_prefix("nofile=")?.parse().ok())
            .unwrap_or(1024);
        ServerProc {
            child,
            stdin,
            stdout,
            pid,
            addr,
            nofile,
        }
    }

    /// The child's counters as `key=value` pairs.
    fn stats(&mut self) -> Vec<(String, u64)> {
        let _ = writeln!(self.stdin, "STATS");
        let _ = self.stdin.flush();
        read_line_starting(&mut self.stdout, "STATS ")
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    fn rss_mb(&self) -> f64 {
        status_kb(&self.pid, "VmRSS") as f64 / 1024.0
    }

    fn peak_rss_mb(&self) -> f64 {
        status_kb(&self.pid, "VmHWM") as f64 / 1024.0
    }

    fn cpu_secs(&self) -> f64 {
        cpu_secs(&self.pid)
    }

    fn stop(mut self) {
        let _ = writeln!(self.stdin, "STOP");
        let _ = self.stdin.flush();
        drop(self.stdin);
        let _ = self.child.wait();
    }
}

fn read_line_starting(r: &mut impl BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line).expect("read from the server child");
        assert!(n > 0, "the server child exited");
        if line.starts_with(prefix) {
            return line.trim_end().to_string();
        }
    }
}

fn stat(stats: &[(String, u64)], key: &str) -> u64 {
    stats.iter().find(|(k, _)| k == key).map_or(0, |(_, v)| *v)
}

// ---------------------------------------------------------------------------------------------
// Latency histogram.

/// Log-linear buckets of microseconds: exact below 128 us, then 64 buckets per power of two.
struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    fn new() -> Histogram {
        Histogram {
            buckets: (0..128 + 58 * 64).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    fn index(us: u64) -> usize {
        if us < 128 {
            return us as usize;
        }
        let e = 63 - us.leading_zeros() as u64;
        let m = (us >> (e - 6)) & 63;
        (128 + (e - 7) * 64 + m) as usize
    }

    /// The largest value of a bucket.
    fn upper(i: usize) -> u64 {
        if i < 128 {
            return i as u64;
        }
        let e = ((i - 128) / 64 + 7) as u64;
        let m = ((i - 128) % 64) as u64;
        ((64 + m) << (e - 6)) + (1u64 << (e - 6)) - 1
    }

    fn record(&self, us: u64) {
        self.buckets[Self::index(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(us, Ordering::Relaxed);
    }

    /// The `q` quantile in milliseconds (the upper edge of its bucket, at most the maximum).
    fn quantile_ms(&self, q: f64) -> f64 {
        let n = self.count.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return Self::upper(i).min(self.max.load(Ordering::Relaxed)) as f64 / 1e3;
            }
        }
        self.max_ms()
    }

    fn max_ms(&self) -> f64 {
        self.max.load(Ordering::Relaxed) as f64 / 1e3
    }
}

// ---------------------------------------------------------------------------------------------
// The load generator.

/// What the reader tasks count; shared by every connection.
struct Tally {
    origin: Instant,
    /// Replies to submits sent from this time (us since `origin`) on are measured.
    measure_from_us: AtomicU64,
    hist: Histogram,
    /// Replies to measured submits, by kind.
    ok: AtomicU64,
    low_difficulty: AtomicU64,
    other_error: AtomicU64,
    /// Replies to submits sent before the measured window.
    unmeasured: AtomicU64,
    notifications: AtomicU64,
    /// Worst latency (us) of the submits sent in each 100 ms of the measured window.
    timeline: Vec<AtomicU64>,
    /// Connections the server closed (EOF or error on read).
    closed: AtomicU64,
}

impl Tally {
    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    fn measured_replies(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.low_difficulty.load(Ordering::Relaxed)
            + self.other_error.load(Ordering::Relaxed)
    }
}

/// One connection's submit writer state.
struct Conn {
    wr: OwnedWriteHalf,
    /// Everything of a submit line after the id, up to the nonce.
    prefix: String,
    nonce: u32,
    /// Bytes the socket did not take yet.
    pending: Vec<u8>,
    dead: bool,
}

/// The number after `"id":` in a reply, `None` for `null` or none.
fn reply_id(line: &[u8]) -> Option<u64> {
    let at = find(line, b"\"id\":")? + 5;
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn on_reply(t: &Tally, line: &[u8], now_us: u64) {
    let Some(id) = reply_id(line) else {
        t.notifications.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let Some(sent_us) = id.checked_sub(SUBMIT_ID_BASE) else {
        return;
    };
    let measure_from = t.measure_from_us.load(Ordering::Relaxed);
    if sent_us < measure_from {
        t.unmeasured.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let latency = now_us.saturating_sub(sent_us);
    t.hist.record(latency);
    let slot = ((sent_us - measure_from) / 100_000) as usize;
    if let Some(worst) = t.timeline.get(slot) {
        worst.fetch_max(latency, Ordering::Relaxed);
    }
    if find(line, b"\"error\":null").is_some() {
        t.ok.fetch_add(1, Ordering::Relaxed);
    } else if find(line, b"\"error\":[23,").is_some() {
        t.low_difficulty.fetch_add(1, Ordering::Relaxed);
    } else {
        t.other_error.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads one connection's replies until it closes; `buf` holds bytes read during the handshake.
async fn read_replies(mut rd: OwnedReadHalf, mut buf: Vec<u8>, t: Arc<Tally>) {
    let mut chunk = [0u8; 1024];
    loop {
        let n = match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = t.now_us();
        buf.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(p) = buf[start..].iter().position(|b| *b == b'\n') {
            on_reply(&t, &buf[start..start + p], now);
            start += p + 1;
        }
        buf.drain(..start);
    }
    t.closed.fetch_add(1, Ordering::Relaxed);
}

/// Connects, subscribes and authorizes (the echo server answers both `true`: one round trip
/// paces the connects alike), and for Stratum waits for the first job.
async fn open_connection(
    addr: SocketAddr,
    i: usize,
    stratum: bool,
) -> Result<(OwnedReadHalf, Vec<u8>, Conn), String> {
    let sock = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = sock.set_nodelay(true);
    let (mut rd, mut wr) = sock.into_split();
    let worker = format!("rig{i}");
    let extranonce2 = format!("{:016x}", i);
    let hello = format!(
        "{{\"id\":1,\"method\":\"mining.subscribe\",\"params\":[\"stratum-load/1\"]}}\n{{\"id\":2,\"method\":\"mining.authorize\",\"params\":[\"{worker}\",\"d={CONNECTION_DIFFICULTY}\"]}}\n"
    );
    wr.write_all(hello.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = rd
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(p) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=p).collect();
            let msg: Value = serde_json::from_slice(&line).map_err(|e| format!("bad JSON: {e}"))?;
            if msg["id"] == 2 && msg["result"] != true {
                return Err(format!("authorize refused: {msg}"));
            }
            if !stratum && msg["id"] == 2 {
                // The echo server: both requests answered, no work to wait for.
                let prefix = format!(
                    ",\"method\":\"mining.submit\",\"params\":[\"{worker}\",\"0123456700000001\",\"{extranonce2}\",\"00000000\",\""
                );
                return Ok((rd, buf, conn(wr, prefix)));
            }
            if msg["method"] == "mining.notify" {
                let p = &msg["params"];
                let (Some(job), Some(ntime)) = (p[0].as_str(), p[7].as_str()) else {
                    return Err(format!("bad notify: {msg}"));
                };
                let prefix = format!(
                    ",\"method\":\"mining.submit\",\"params\":[\"{worker}\",\"{job}\",\"{extranonce2}\",\"{ntime}\",\""
                );
                return Ok((rd, buf, conn(wr, prefix)));
            }
        }
    }
}

fn conn(wr: OwnedWriteHalf, prefix: String) -> Conn {
    Conn {
        wr,
        prefix,
        nonce: 0,
        pending: Vec::new(),
        dead: false,
    }
}

/// Writes `bytes` (after whatever is pending) without waiting; keeps what the socket refuses.
fn push(c: &mut Conn, bytes: &[u8]) -> bool {
    if !c.pending.is_empty() {
        c.pending.extend_from_slice(bytes);
        return flush(c);
    }
    match c.wr.try_write(bytes) {
        Ok(n) => {
            if n < bytes.len() {
                c.pending.extend_from_slice(&bytes[n..]);
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            c.pending.extend_from_slice(bytes);
            true
        }
        Err(_) => {
            c.dead = true;
            false
        }
    }
}

fn flush(c: &mut Conn) -> bool {
    while !c.pending.is_empty() {
        match c.wr.try_write(&c.pending) {
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => {
                c.dead = true;
                return false;
            }
        }
    }
    true
}

#[derive(Default)]
struct PaceCount {
    /// Submits written in the measured window.
    measured: u64,
    /// Submits that had to wait in the client because the socket was full.
    backlogged: u64,
    /// Submits not sent because the connection was dead.
    skipped: u64,
}

/// Writes submits round-robin over `conns` at `rate` per second from `start` until `end`.
async fn pace(
    mut conns: Vec<Conn>,
    rate: f64,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
    t: Arc<Tally>,
) -> (Vec<Conn>, PaceCount) {
    let mut count = PaceCount::default();
    let mut sent = 0u64;
    let mut next = 0usize;
    let mut line = String::with_capacity(256);
    let measure_from = t.measure_from_us.load(Ordering::Relaxed);
    let len = conns.len();
    tokio::time::sleep_until(start).await;
    loop {
        let now = tokio::time::Instant::now();
        if now >= end {
            break;
        }
        let due = ((now - start).as_secs_f64() * rate) as u64;
        let mut any_pending = false;
        while sent < due {
            sent += 1;
            let c = &mut conns[next];
            next = (next + 1) % len;
            if c.dead {
                count.skipped += 1;
                continue;
            }
            let id_us = t.now_us();
            line.clear();
            let _ = writeln!(
                line,
                "{{\"id\":{}{}{:08x}\"]}}",
                SUBMIT_ID_BASE + id_us,
                c.prefix,
                c.nonce
            );
            c.nonce = c.nonce.wrapping_add(1);
            if !c.pending.is_empty() {
                count.backlogged += 1;
            }
            if push(c, line.as_bytes()) && id_us >= measure_from {
                count.measured += 1;
            }
            any_pending |= !c.pending.is_empty();
        }
        if any_pending {
            for c in conns.iter_mut().filter(|c| !c.pending.is_empty()) {
                flush(c);
            }
        }
        tokio::time::sleep_until((now + TICK).min(end)).await;
    }
    for c in conns
        .iter_mut()
        .filter(|c| !c.pending.is_empty() && !c.dead)
    {
        let bytes = std::mem::take(&mut c.pending);
        let _ = c.wr.write_all(&bytes).await;
    }
    (conns, count)
}

#[derive(Clone, Copy)]
struct Options {
    connections: usize,
    rate: f64,
    seconds: f64,
    warmup: f64,
    conns_per_task: usize,
    client_threads: Option<usize>,
    server_threads: Option<usize>,
    /// Run only one server (`stratum` or `echo`), without the summary.
    only: Option<&'static str>,
    /// Print the worst latency of every 100 ms.
    timeline: bool,
}

/// What one run against one server measured.
struct RunResult {
    connections: usize,
    held: u64,
    answered_per_sec: f64,
    sent_per_sec: f64,
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
    rss_idle_mb: f64,
    rss_mb: f64,
    rss_peak_mb: f64,
    server_cpu: f64,
    client_cpu: f64,
    machine_cpu: f64,
    steal: f64,
    server_us_per_submit: f64,
}

async fn run_load(mode: &str, opt: Options) -> RunResult {
    let stratum = mode == "stratum";
    let mut server = ServerProc::spawn(mode, opt.server_threads);
    let fd_room = nofile_limit()
        .min(server.nofile)
        .saturating_sub(FD_RESERVE)
        .min(ephemeral_ports().saturating_sub(1000)) as usize;
    let mut n = opt.connections;
    if n > fd_room {
        println!(
            "stratum_load: only {fd_room} connections fit: open-files limit (ulimit -n) {} here, {} in the server, {} ephemeral ports; {} connections need {} descriptors in each process. Scaling down to {fd_room}; run `ulimit -n 65536` (within the hard limit) before the bench for the full count.",
            nofile_limit(),
            server.nofile,
            ephemeral_ports(),
            n,
            n as u64 + FD_RESERVE,
        );
        n = fd_room;
    }
    let per_conn = opt.rate / n as f64;
    if per_conn > 80.0 {
        println!(
            "stratum_load: {per_conn:.0} submits/s per connection is near the server's 100/s limit per connection; expect error 20 replies"
        );
    }

    let tally = Arc::new(Tally {
        origin: Instant::now(),
        measure_from_us: AtomicU64::new(u64::MAX),
        hist: Histogram::new(),
        ok: AtomicU64::new(0),
        low_difficulty: AtomicU64::new(0),
        other_error: AtomicU64::new(0),
        unmeasured: AtomicU64::new(0),
        notifications: AtomicU64::new(0),
        timeline: (0..(opt.seconds * 10.0).ceil() as usize + 1)
            .map(|_| AtomicU64::new(0))
            .collect(),
        closed: AtomicU64::new(0),
    });

    // Connect and handshake, CONNECT_CONCURRENCY at a time.
    let setup = Instant::now();
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let mut opening = JoinSet::new();
    let addr = server.addr;
    for i in 0..n {
        let gate = gate.clone();
        opening.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let r =
                tokio::time::timeout(Duration::from_secs(30), open_connection(addr, i, stratum))
                    .await
                    .unwrap_or_else(|_| Err("handshake timed out".into()));
            (i, r)
        });
    }
    let mut conns: Vec<(usize, Conn)> = Vec::with_capacity(n);
    let mut readers = JoinSet::new();
    let mut failed = 0usize;
    let mut first_error = None;
    while let Some(done) = opening.join_next().await {
        let (i, r) = done.expect("connection task");
        match r {
            Ok((rd, buf, c)) => {
                readers.spawn(read_replies(rd, buf, tally.clone()));
                conns.push((i, c));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    conns.sort_by_key(|(i, _)| *i);
    let conns: Vec<Conn> = conns.into_iter().map(|(_, c)| c).collect();
    let established = conns.len();
    if let Some(e) = first_error {
        println!("stratum_load: {failed} of {n} connections failed; first error: {e}");
    }
    assert!(established > 0, "no connection could be opened");
    eprintln!(
        "{mode}: {established} connections subscribed and authorized in {:.1} s; server pid {}",
        setup.elapsed().as_secs_f64(),
        server.pid
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle_mb = server.rss_mb();

    // The load: pacer tasks of `conns_per_task` connections each.
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let measure_start = start + Duration::from_secs_f64(opt.warmup);
    let end = measure_start + Duration::from_secs_f64(opt.seconds);
    tally.measure_from_us.store(
        (measure_start.into_std() - tally.origin).as_micros() as u64,
        Ordering::Relaxed,
    );
    let groups = established.div_ceil(opt.conns_per_task.max(1));
    let per_group = established.div_ceil(groups);
    let mut pacers = JoinSet::new();
    let mut iter = conns.into_iter();
    loop {
        let group: Vec<Conn> = iter.by_ref().take(per_group).collect();
        if group.is_empty() {
            break;
        }
        let rate = opt.rate * group.len() as f64 / established as f64;
        pacers.spawn(pace(group, rate, start, end, tally.clone()));
    }
    tokio::time::sleep_until(measure_start).await;
    let (server_cpu0, client_cpu0) = (server.cpu_secs(), cpu_secs("self"));
    let (busy0, steal0) = machine_cpu_secs();
    let replies0 = tally.measured_replies();
    tokio::time::sleep_until(end).await;
    let (server_cpu1, client_cpu1) = (server.cpu_secs(), cpu_secs("self"));
    let (busy1, steal1) = machine_cpu_secs();
    let replies_in_window = tally.measured_replies() - replies0;
    let rss_mb = server.rss_mb();
    let mut kept: Vec<Conn> = Vec::with_capacity(established);
    let mut count = PaceCount::default();
    while let Some(done) = pacers.join_next().await {
        let (c, p) = done.expect("pacer");
        kept.extend(c);
        count.measured += p.measured;
        count.backlogged += p.backlogged;
        count.skipped += p.skipped;
    }
    // Replies still on their way.
    let drain_until = Instant::now() + Duration::from_secs(5);
    while tally.measured_replies() < count.measured && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = server.stats();
    let rss_peak_mb = server.peak_rss_mb();
    let closed = tally.closed.load(Ordering::Relaxed);
    let held = stat(&stats, "open");
    let dead = kept.iter().filter(|c| c.dead).count();

    let window = opt.seconds;
    let answered = tally.measured_replies();
    let r = RunResult {
        connections: established,
        held,
        answered_per_sec: replies_in_window as f64 / window,
        sent_per_sec: count.measured as f64 / window,
        p50: tally.hist.quantile_ms(0.5),
        p99: tally.hist.quantile_ms(0.99),
        p999: tally.hist.quantile_ms(0.999),
        max: tally.hist.max_ms(),
        rss_idle_mb,
        rss_mb,
        rss_peak_mb,
        server_cpu: (server_cpu1 - server_cpu0) / window,
        client_cpu: (client_cpu1 - client_cpu0) / window,
        machine_cpu: (busy1 - busy0) / window,
        steal: (steal1 - steal0) / window,
        server_us_per_submit: (server_cpu1 - server_cpu0) * 1e6 / replies_in_window.max(1) as f64,
    };
    let detail = if stratum {
        format!(
            "accepted={} low_difficulty={} other_errors={} shares_found={} shares_dropped={} server_refused={} server_stale={} server_duplicate={} server_rejected={}",
            tally.ok.load(Ordering::Relaxed),
            tally.low_difficulty.load(Ordering::Relaxed),
            tally.other_error.load(Ordering::Relaxed),
            stat(&stats, "shares_found"),
            stat(&stats, "shares_dropped"),
            stat(&stats, "refused"),
            stat(&stats, "stale"),
            stat(&stats, "duplicate"),
            stat(&stats, "rejected"),
        )
    } else {
        format!(
            "ok={} errors={}",
            tally.ok.load(Ordering::Relaxed),
            tally.other_error.load(Ordering::Relaxed)
                + tally.low_difficulty.load(Ordering::Relaxed),
        )
    };
    let name = if stratum {
        "stratum_load"
    } else {
        "echo_baseline"
    };
    println!(
        "{name} connections={} held={} client_closed={closed} client_dead={dead} rate={:.0}/s seconds={window} sent={:.0}/s answered={:.0}/s replies={answered} unanswered={} backlogged={} skipped={} p50={:.3}ms p99={:.3}ms p999={:.3}ms max={:.3}ms server_rss={:.1}MB server_rss_idle={:.1}MB server_rss_peak={:.1}MB server_cpu={:.2}cores client_cpu={:.2}cores machine_cpu={:.2}cores steal={:.2}cores server_us_per_submit={:.1} {detail}",
        r.connections,
        r.held,
        opt.rate,
        r.sent_per_sec,
        r.answered_per_sec,
        count.measured.saturating_sub(answered),
        count.backlogged,
        count.skipped,
        r.p50,
        r.p99,
        r.p999,
        r.max,
        r.rss_mb,
        r.rss_idle_mb,
        r.rss_peak_mb,
        r.server_cpu,
        r.client_cpu,
        r.machine_cpu,
        r.steal,
        r.server_us_per_submit,
    );

    if opt.timeline {
        let worst: Vec<String> = tally
            .timeline
            .iter()
            .map(|w| format!("{:.0}", w.load(Ordering::Relaxed) as f64 / 1e3))
            .collect();
        println!(
            "{name} timeline (worst ms per 100 ms of sends): {}",
            worst.join(" ")
        );
    }
    readers.abort_all();
    drop(kept);
    while readers.join_next().await.is_some() {}
    server.stop();
    r
}

fn parse_options() -> Options {
    let quick = std::env::var_os("OTEDAMA_BENCH_QUICK").is_some();
    let mut o = if quick {
        Options {
            connections: 500,
            rate: 2_500.0,
            seconds: 3.0,
            warmup: 0.5,
            conns_per_task: 250,
            client_threads: None,
            server_threads: None,
            only: None,
            timeline: false,
        }
    } else {
        Options {
            connections: 10_000,
            rate: 50_000.0,
            seconds: 10.0,
            warmup: 2.0,
            conns_per_task: 500,
            client_threads: None,
            server_threads: None,
            only: None,
            timeline: false,
        }
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).map(String::as_str);
        let num = |v: Option<&str>| -> f64 {
            v.and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} needs a number", args[i]))
        };
        match args[i].as_str() {
            "--connections" => o.connections = num(value) as usize,
            "--rate" => o.rate = num(value),
            "--seconds" => o.seconds = num(value),
            "--warmup" => o.warmup = num(value),
            "--conns-per-task" => o.conns_per_task = num(value) as usize,
            "--client-threads" => o.client_threads = Some(num(value) as usize),
            "--server-threads" => o.server_threads = Some(num(value) as usize),
            "--timeline" => {
                o.timeline = true;
                i += 1;
                continue;
            }
            "--only" => {
                o.only = match value {
                    Some("stratum") => Some("stratum"),
                    Some("echo") => Some("echo"),
                    _ => panic!("--only needs stratum or echo"),
                }
            }
            // `cargo bench` passes `--bench`; anything else unknown is ignored too.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    assert!(
        o.connections > 0 && o.rate > 0.0 && o.seconds > 0.0,
        "connections, rate and seconds must be > 0"
    );
    o
}

fn main() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        server_child(&mode);
        return;
    }
    let opt = parse_options();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = opt.client_threads {
        builder.worker_threads(n.max(1));
    }
    let rt = builder.enable_all().build().expect("runtime");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "stratum_load: {} connections, {:.0} submits/s for {} s (+{} s warm-up), {} cores shared by the server child and this load generator",
        opt.connections, opt.rate, opt.seconds, opt.warmup, cores
    );
    if let Some(mode) = opt.only {
        rt.block_on(run_load(mode, opt));
        return;
    }
    let s = rt.block_on(run_load("stratum", opt));
    let b = rt.block_on(run_load("echo", opt));
    let ratio = |x: f64, y: f64| if y > 0.0 { x / y } else { f64::NAN };
    println!(
        "stratum_load summary connections={} held={} rate={:.0}/s answered={:.0}/s p50={:.3}ms p99={:.3}ms max={:.3}ms server_rss={:.1}MB baseline_answered={:.0}/s baseline_p99={:.3}ms baseline_rss={:.1}MB ratio_p99={:.2} ratio_server_cpu={:.2} server_us_per_submit={:.1} baseline_us_per_submit={:.1}",
        s.connections,
        s.held,
        opt.rate,
        s.answered_per_sec,
        s.p50,
        s.p99,
        s.max,
        s.rss_mb,
        b.answered_per_sec,
        b.p99,
        b.rss_mb,
        ratio(s.p99, b.p99),
        ratio(s.server_us_per_submit, b.server_us_per_submit),
        s.server_us_per_submit,
        b.server_us_per_submit,
    );
}
