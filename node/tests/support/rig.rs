//! A blocking Stratum v1 rig for end-to-end tests: subscribes, authorizes, and grinds scrypt
//! over the jobs it is sent until a hash meets its difficulty, as a real rig does (BIP 310
//! version rolling optional).

use bitcoin::hashes::{sha256d, Hash};
use otedama_consensus::pow::PowAlgo;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A blocking Stratum client that grinds scrypt.
pub struct Rig {
    stream: BufReader<TcpStream>,
    next_id: u64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    difficulty: f64,
    pub job: Option<Value>,
    version_mask: u32,
    user: String,
}

impl Rig {
    pub fn connect(port: u16) -> Rig {
        let start = Instant::now();
        let stream = loop {
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(s) => break s,
                Err(_) if start.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("stratum port {port}: {e}"),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Rig {
            stream: BufReader::new(stream),
            next_id: 1,
            extranonce1: vec![],
            extranonce2_size: 0,
            difficulty: 1.0,
            job: None,
            version_mask: 0,
            user: String::new(),
        }
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.stream.get_mut().write_all(line.as_bytes()).unwrap();
        id
    }

    /// Reads until the reply to `id`, handling notifications on the way.
    fn reply(&mut self, id: u64) -> Value {
        loop {
            let msg = self.read();
            if msg["id"] == json!(id) && msg.get("method").is_none_or(|m| m.is_null()) {
                return msg;
            }
            self.handle(&msg);
        }
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self.stream.read_line(&mut line).expect("read from node");
        assert!(n > 0, "node closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    fn handle(&mut self, msg: &Value) {
        match msg["method"].as_str() {
            Some("mining.set_difficulty") => self.difficulty = msg["params"][0].as_f64().unwrap(),
            Some("mining.notify") => self.job = Some(msg["params"].clone()),
            _ => {}
        }
    }

    pub fn start(&mut self, user: &str, version_rolling: bool) {
        if version_rolling {
            let id = self.send("mining.configure", json!([["version-rolling"], {"version-rolling.mask": "1fffe000", "version-rolling.min-bit-count": 2}]));
            let r = self.reply(id);
            assert_eq!(r["result"]["version-rolling"], json!(true), "{r}");
            self.version_mask =
                u32::from_str_radix(r["result"]["version-rolling.mask"].as_str().unwrap(), 16)
                    .unwrap();
            assert_ne!(self.version_mask, 0);
        }
        let id = self.send("mining.subscribe", json!(["otedama-e2e-rig/1.0"]));
        let r = self.reply(id);
        self.extranonce1 = hex::decode(r["result"][1].as_str().unwrap()).unwrap();
        self.extranonce2_size = r["result"][2].as_u64().unwrap() as usize;
        self.user = user.to_string();
        let id = self.send("mining.authorize", json!([user, "x"]));
        let r = self.reply(id);
        assert_eq!(r["result"], json!(true), "{r}");
    }

    /// Waits for a job, grinds until a hash meets the connection's difficulty, submits it and
    /// returns whether it was accepted.
    pub fn mine_one(&mut self, counter: &mut u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.job.is_none() {
            assert!(Instant::now() < deadline, "no job from the node");
            let msg = self.read();
            self.handle(&msg);
        }
        let job = self.job.clone().unwrap();
        let job_id = job[0].as_str().unwrap().to_string();
        let prev = hex::decode(job[1].as_str().unwrap()).unwrap();
        let coinb1 = hex::decode(job[2].as_str().unwrap()).unwrap();
        let coinb2 = hex::decode(job[3].as_str().unwrap()).unwrap();
        let branch: Vec<Vec<u8>> = job[4]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| hex::decode(h.as_str().unwrap()).unwrap())
            .collect();
        let version = u32::from_str_radix(job[5].as_str().unwrap(), 16).unwrap();
        let nbits = u32::from_str_radix(job[6].as_str().unwrap(), 16).unwrap();
        let ntime = u32::from_str_radix(job[7].as_str().unwrap(), 16).unwrap();
        // Stratum's prevhash is the header's bytes with each 4-byte word reversed.
        let mut prev_header = [0u8; 32];
        for (i, w) in prev.chunks(4).enumerate() {
            for (j, b) in w.iter().rev().enumerate() {
                prev_header[i * 4 + j] = *b;
            }
        }
        let target =
            otedama_mining::stratum::difficulty::difficulty_to_target(self.difficulty, 65536);
        *counter += 1;
        let en2 = counter.to_le_bytes()[..self.extranonce2_size].to_vec();
        let mut coinbase = coinb1.clone();
        coinbase.extend_from_slice(&self.extranonce1);
        coinbase.extend_from_slice(&en2);
        coinbase.extend_from_slice(&coinb2);
        let mut root = sha256d::Hash::hash(&coinbase).to_byte_array();
        for b in &branch {
            let mut buf = root.to_vec();
            buf.extend_from_slice(b);
            root = sha256d::Hash::hash(&buf).to_byte_array();
        }
        let rolled = if self.version_mask != 0 {
            (version & !self.version_mask) | (0x0000_2000 & self.version_mask)
        } else {
            version
        };
        let mut header = [0u8; 80];
        header[..4].copy_from_slice(&rolled.to_le_bytes());
        header[4..36].copy_from_slice(&prev_header);
        header[36..68].copy_from_slice(&root);
        header[68..72].copy_from_slice(&ntime.to_le_bytes());
        header[72..76].copy_from_slice(&nbits.to_le_bytes());
        for nonce in 0u32..1_000_000 {
            header[76..].copy_from_slice(&nonce.to_le_bytes());
            if target.is_met_by(&PowAlgo::Scrypt1024.hash(&header)) {
                let mut params = vec![
                    json!(self.user),
                    json!(job_id),
                    json!(hex::encode(&en2)),
                    json!(format!("{ntime:08x}")),
                    json!(format!("{nonce:08x}")),
                ];
                if self.version_mask != 0 {
                    params.push(json!(format!("{:08x}", rolled & self.version_mask)));
                }
                let id = self.send("mining.submit", Value::Array(params));
                let r = self.reply(id);
                // On regtest every other hash is a share: pace the rig far below the server's
                // per-connection request limit (100/s), as real hardware on a real chain is.
                std::thread::sleep(Duration::from_millis(30));
                if r["result"] != json!(true) {
                    eprintln!("submit refused: {r}");
                }
                return r["result"] == json!(true);
            }
        }
        false
    }
}
