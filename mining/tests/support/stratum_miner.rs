// A Stratum miner for the tests of `stratum.rs` and `stratum_abuse.rs`, included textually
// (`include!`) so each file keeps its own imports and `WAIT`: what a job looks like to a miner
// (`Work`, headers, grinding) and a JSON-RPC client over one TCP connection (`Client`).

/// A job as a miner sees it.
#[allow(dead_code)]
#[derive(Clone, Debug)]
struct Work {
    job_id: String,
    prev: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
    clean: bool,
}

#[allow(dead_code)]
impl Work {
    fn parse(p: &Value) -> Work {
        let s = |i: usize| p[i].as_str().unwrap().to_string();
        let u = |i: usize| u32::from_str_radix(&s(i), 16).unwrap();
        // cgminer: decode, then byte-swap every 32-bit word back into header order.
        let raw = hex::decode(s(1)).unwrap();
        let mut prev = [0u8; 32];
        for (o, w) in prev.chunks_exact_mut(4).zip(raw.chunks_exact(4)) {
            o.copy_from_slice(&[w[3], w[2], w[1], w[0]]);
        }
        Work {
            job_id: s(0),
            prev,
            coinb1: hex::decode(s(2)).unwrap(),
            coinb2: hex::decode(s(3)).unwrap(),
            branch: p[4]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    hex::decode(b.as_str().unwrap())
                        .unwrap()
                        .try_into()
                        .unwrap()
                })
                .collect(),
            version: u(5),
            nbits: u(6),
            ntime: u(7),
            clean: p[8].as_bool().unwrap(),
        }
    }

    fn job_id(&self) -> u64 {
        u64::from_str_radix(&self.job_id, 16).unwrap()
    }

    fn header(&self, e1: &[u8], e2: &[u8], version: u32, nonce: u32) -> [u8; 80] {
        let cb = [&self.coinb1[..], e1, e2, &self.coinb2[..]].concat();
        let mut root = sha256d::Hash::hash(&cb).to_byte_array();
        for b in &self.branch {
            root = sha256d::Hash::hash(&[&root[..], &b[..]].concat()).to_byte_array();
        }
        let mut h = [0u8; 80];
        h[0..4].copy_from_slice(&version.to_le_bytes());
        h[4..36].copy_from_slice(&self.prev);
        h[36..68].copy_from_slice(&root);
        h[68..72].copy_from_slice(&self.ntime.to_le_bytes());
        h[72..76].copy_from_slice(&self.nbits.to_le_bytes());
        h[76..80].copy_from_slice(&nonce.to_le_bytes());
        h
    }

    /// The first nonce from `start` whose hash satisfies `want`.
    fn grind(
        &self,
        algo: PowAlgo,
        e1: &[u8],
        e2: &[u8],
        version: u32,
        start: u32,
        want: impl Fn(&[u8; 32]) -> bool,
    ) -> (u32, [u8; 80]) {
        for nonce in start.. {
            let h = self.header(e1, e2, version, nonce);
            if want(&algo.hash(&h)) {
                return (nonce, h);
            }
        }
        unreachable!()
    }
}

#[allow(dead_code)]
struct Client {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    wr: OwnedWriteHalf,
    id: u64,
    stash: VecDeque<Value>,
    e1: Vec<u8>,
    user: String,
}

#[allow(dead_code)]
impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).await.unwrap();
        let (rd, wr) = s.into_split();
        Client {
            lines: BufReader::new(rd).lines(),
            wr,
            id: 0,
            stash: VecDeque::new(),
            e1: vec![],
            user: String::new(),
        }
    }

    async fn send_line(&mut self, s: &str) {
        self.wr.write_all(s.as_bytes()).await.unwrap();
        self.wr.write_all(b"\n").await.unwrap();
    }

    async fn recv(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("no message in time")
            .ok()
            .flatten()?;
        Some(serde_json::from_str(&line).expect("server sent invalid JSON"))
    }

    /// Sends a request and returns its reply (notifications in between are kept).
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        self.send_line(&json!({"id": id, "method": method, "params": params}).to_string())
            .await;
        loop {
            let m = self.recv().await.expect("connection closed");
            if m["id"] == json!(id) {
                return m;
            }
            self.stash.push_back(m);
        }
    }

    /// The params of the next notification of `method`, skipping other notifications.
    async fn notification(&mut self, method: &str) -> Value {
        while let Some(m) = self.stash.pop_front() {
            if m["method"] == method {
                return m["params"].clone();
            }
        }
        loop {
            let m = self.recv().await.expect("connection closed");
            if m["method"] == method {
                return m["params"].clone();
            }
        }
    }

    /// The next message, whatever it is.
    async fn next(&mut self) -> Value {
        match self.stash.pop_front() {
            Some(m) => m,
            None => self.recv().await.expect("connection closed"),
        }
    }

    /// Whether the server closes the connection (reading and dropping whatever comes first).
    async fn closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.lines.next_line()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None)) | Ok(Err(_)) => return true,
            }
        }
    }

    async fn subscribe(&mut self) -> Value {
        let r = self
            .call("mining.subscribe", json!(["cgminer/4.11.1"]))
            .await;
        self.e1 = hex::decode(r["result"][1].as_str().unwrap()).unwrap();
        r
    }

    /// Subscribes and authorizes; returns the difficulty and the first job.
    async fn login(&mut self, user: &str) -> (f64, Work) {
        self.login_with(user, "x").await
    }

    async fn login_with(&mut self, user: &str, password: &str) -> (f64, Work) {
        self.subscribe().await;
        let r = self.call("mining.authorize", json!([user, password])).await;
        assert_eq!(r["result"], json!(true), "{r}");
        self.user = user.to_string();
        let d = self.notification("mining.set_difficulty").await[0]
            .as_f64()
            .unwrap();
        let w = Work::parse(&self.notification("mining.notify").await);
        (d, w)
    }

    async fn submit(&mut self, w: &Work, e2: &[u8], nonce: u32, version: Option<u32>) -> Value {
        let mut p = vec![
            json!(self.user),
            json!(w.job_id),
            json!(hex::encode(e2)),
            json!(format!("{:08x}", w.ntime)),
            json!(format!("{nonce:08x}")),
        ];
        if let Some(v) = version {
            p.push(json!(format!("{v:08x}")));
        }
        self.call("mining.submit", Value::Array(p)).await
    }
    /// Sends a request and returns its reply, or `None` when the server closed first.
    async fn try_call(&mut self, method: &str, params: Value) -> Option<Value> {
        self.id += 1;
        let id = self.id;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.wr.write_all(line.as_bytes()).await.ok()?;
        loop {
            let m = self.recv().await?;
            if m["id"] == json!(id) {
                return Some(m);
            }
            self.stash.push_back(m);
        }
    }

    /// Authorizes `user` (without subscribing first).
    async fn authorize(&mut self, user: &str) -> Value {
        self.user = user.to_string();
        self.call("mining.authorize", json!([user, "x"])).await
    }

    /// A submit without version rolling, or `None` when the server closed first.
    async fn try_submit(&mut self, w: &Work, e2: &[u8], nonce: u32) -> Option<Value> {
        let p = json!([
            self.user,
            w.job_id,
            hex::encode(e2),
            format!("{:08x}", w.ntime),
            format!("{nonce:08x}"),
        ]);
        self.try_call("mining.submit", p).await
    }
}

#[allow(dead_code)]
fn error_code(reply: &Value) -> i64 {
    reply["error"][0]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {reply}"))
}
