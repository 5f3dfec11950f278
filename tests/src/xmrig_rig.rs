//! A mining rig that speaks the xmrig dialect of Stratum to a node, as an unmodified xmrig
//! does (login, job, submit, keepalived), and really computes RandomX (light mode, one cache per
//! seed): what the end-to-end tests point at a Monero node's Stratum port.
//!
//! Written from xmrig's published protocol, independently of the server: it decodes the
//! compact `target` the way xmrig does and submits only nonces whose hash meets it.

use otedama_randomx::{Cache, Flags, LargePages, Vm};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the rig has done so far.
#[derive(Default)]
pub struct RigCounters {
    pub accepted: AtomicU64,
    pub rejected: AtomicU64,
    pub jobs: AtomicU64,
    pub reconnects: AtomicU64,
}

/// A running rig thread; stopped on drop.
pub struct XmrigRig {
    stop: Arc<AtomicBool>,
    pub counters: Arc<RigCounters>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

/// The 64-bit target xmrig reads from a job's `target` (its `Job::setTarget`): 8 hex digits are
/// a little-endian u32 `t`, which xmrig turns into a difficulty and back,
/// `(2^64 - 1) / ((2^32 - 1) / t)`; 16 hex digits are the little-endian u64 itself. A result
/// meets it when the hash's top 64 bits (bytes 24..32, little-endian) are below it. Written from
/// xmrig's published behaviour, not from the node's code, so the two check each other.
pub fn target_t64(target: &str) -> Option<u64> {
    let bytes = hex::decode(target).ok()?;
    match bytes.len() {
        4 => {
            let t = u32::from_le_bytes(bytes.try_into().ok()?);
            let difficulty = u64::from(u32::MAX).checked_div(u64::from(t))?;
            u64::MAX.checked_div(difficulty)
        }
        8 => {
            let t = u64::from_le_bytes(bytes.try_into().ok()?);
            (t != 0).then_some(t)
        }
        _ => None,
    }
}

/// Whether `hash` meets the 64-bit target `t64` as xmrig checks a result before it submits.
pub fn meets_t64(hash: &[u8; 32], t64: u64) -> bool {
    let mut top = [0u8; 8];
    top.copy_from_slice(&hash[24..32]);
    u64::from_le_bytes(top) < t64
}

struct Job {
    id: String,
    blob: Vec<u8>,
    /// What xmrig compares a hash's top 64 bits with.
    t64: u64,
    seed: [u8; 32],
}

fn job_of(v: &Value) -> Result<Job, String> {
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("job without {k}: {v}"))
    };
    let seed: [u8; 32] = hex::decode(field("seed_hash")?)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "seed_hash is not 32 bytes".to_string())?;
    let target = field("target")?;
    Ok(Job {
        id: field("job_id")?,
        blob: hex::decode(field("blob")?).map_err(|e| e.to_string())?,
        t64: target_t64(&target).ok_or_else(|| format!("bad target {target}"))?,
        seed,
    })
}

/// Pause between batches of two hashes: a rig of a few hashes per second is enough to mine
/// shares at the regtest pools' low difficulty.
const RIG_PAUSE: Duration = Duration::from_millis(300);

/// Offset of the nonce in a Monero hashing blob as xmrig finds it: byte 39 for the blobs of
/// today's header (major and minor version varints of one byte, a 5-byte timestamp varint).
const NONCE_OFFSET: usize = 39;

impl XmrigRig {
    /// Connects to `127.0.0.1:port`, logs in as `login` and mines until dropped.
    pub fn start(port: u16, login: &str) -> XmrigRig {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(RigCounters::default());
        let (s, c, login) = (stop.clone(), counters.clone(), login.to_string());
        let thread = std::thread::spawn(move || {
            // As xmrig does: a refused login ("no work yet") or a dropped connection is retried
            // after a pause, until stopped; the last failure is reported.
            let mut last = Ok(());
            while !s.load(Ordering::Relaxed) {
                last = mine(port, &login, &s, &c);
                if last.is_err() {
                    c.reconnects.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
            last
        });
        XmrigRig {
            stop,
            counters,
            thread: Some(thread),
        }
    }

    pub fn accepted(&self) -> u64 {
        self.counters.accepted.load(Ordering::Relaxed)
    }

    /// Stops the rig and returns how its last connection ended.
    pub fn stop(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("rig thread panicked".into())),
            None => Ok(()),
        }
    }
}

impl Drop for XmrigRig {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn mine(port: u16, login: &str, stop: &AtomicBool, counters: &RigCounters) -> Result<(), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut send = |v: Value| -> Result<(), String> {
        writer
            .write_all(format!("{v}\n").as_bytes())
            .map_err(|e| e.to_string())
    };
    send(
        json!({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
        "login": login, "pass": "x", "agent": "otedama-test-rig/1.0 (xmrig dialect)",
        "algo": ["rx/0"]}}),
    )?;
    let mut session = String::new();
    let mut job: Option<Job> = None;
    let mut vm: Option<([u8; 32], Vm)> = None;
    let mut nonce: u32 = 0;
    let mut line = String::new();
    let mut next_id = 2u64;
    while !stop.load(Ordering::Relaxed) {
        // Read whatever the node sent (jobs, answers) without blocking the hashing for long.
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Err("the node closed the connection".into()),
            Ok(_) => {
                let v: Value = serde_json::from_str(line.trim()).map_err(|e| e.to_string())?;
                if let Some(result) = v.get("result").filter(|r| !r.is_null()) {
                    if let Some(j) = result.get("job") {
                        session = result["id"].as_str().unwrap_or_default().to_string();
                        job = Some(job_of(j)?);
                        counters.jobs.fetch_add(1, Ordering::Relaxed);
                        nonce = 0;
                    } else if result["status"] == "OK" && v["id"].as_u64() != Some(1) {
                        counters.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                } else if v.get("error").is_some_and(|e| !e.is_null()) {
                    if v["id"].as_u64() == Some(1) {
                        return Err(format!("login refused: {v}"));
                    }
                    counters.rejected.fetch_add(1, Ordering::Relaxed);
                } else if v["method"] == "job" {
                    job = Some(job_of(&v["params"])?);
                    counters.jobs.fetch_add(1, Ordering::Relaxed);
                    nonce = 0;
                }
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e.to_string()),
        }
        let Some(j) = &job else { continue };
        if vm.as_ref().map(|(s, _)| *s) != Some(j.seed) {
            let cache = Cache::new(&j.seed, Flags::recommended(), LargePages::Off)
                .map_err(|e| e.to_string())?;
            let machine = Vm::light(Arc::new(cache)).map_err(|e| e.to_string())?;
            vm = Some((j.seed, machine));
        }
        let Some((_, machine)) = vm.as_mut() else {
            continue;
        };
        // A few hashes between reads, as xmrig checks for new jobs between batches; then a
        // pause, so the rig (about 5 H/s) leaves the shared test machine's cores to the node.
        std::thread::sleep(RIG_PAUSE);
        for _ in 0..2 {
            let mut blob = j.blob.clone();
            let Some(slot) = blob.get_mut(NONCE_OFFSET..NONCE_OFFSET + 4) else {
                return Err("blob too short for a nonce".into());
            };
            slot.copy_from_slice(&nonce.to_le_bytes());
            let hash = machine.hash(&blob);
            if meets_t64(&hash, j.t64) {
                send(
                    json!({"id": next_id, "jsonrpc": "2.0", "method": "submit", "params": {
                    "id": session, "job_id": j.id, "nonce": hex::encode(nonce.to_le_bytes()),
                    "result": hex::encode(hash)}}),
                )?;
                next_id += 1;
            }
            nonce = nonce.wrapping_add(1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_xmrig_reads_them() {
        // Difficulty 5000 in the short form: 0x000d1b71 = (2^32 - 1) / 5000.
        assert_eq!(target_t64("711b0d00"), Some(u64::MAX / 5000));
        // The easiest short target is difficulty 1: every hash.
        assert_eq!(target_t64("ffffffff"), Some(u64::MAX));
        // The long form is the target itself; zero and odd lengths are refused.
        assert_eq!(target_t64("0100000000000080"), Some(0x8000_0000_0000_0001));
        assert_eq!(target_t64("0000000000000000"), None);
        assert_eq!(target_t64("00000000"), None);
        assert_eq!(target_t64("abc"), None);
    }

    #[test]
    fn a_result_meets_the_target_when_its_top_64_bits_are_below_it() {
        let mut hash = [0xff; 32];
        hash[24..32].copy_from_slice(&41u64.to_le_bytes());
        assert!(meets_t64(&hash, 42));
        assert!(!meets_t64(&hash, 41), "equal is not below");
        // A 1.5 difficulty target in the long form: a hash just above it misses, although a
        // difficulty check rounded down to 1 would take it (what the rig did before).
        let t64 = (u64::MAX / 3) * 2;
        hash[24..32].copy_from_slice(&t64.to_le_bytes());
        assert!(!meets_t64(&hash, t64));
    }
}
