//! The dashboard (`GET /` on the API port) in a real browser: a mining node on litecoind
//! regtest, Debian's Chromium driven headless through chromedriver's W3C WebDriver protocol
//! (spoken here over the workspace's own HTTP client: no WebDriver crate), and checks that the
//! page shows what the API says, updates live from `/events`, and comes back after a restart.
//! Screenshots (desktop, and phone-width in dark mode) and the load timings are written to
//! `$CARGO_TARGET_DIR/artifacts/dashboard/`.
//!
//! Also here: the Grafana dashboard in `contrib/grafana/` queries only metrics the node
//! exports.

use otedama_rpc::client::Client;
use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::{free_port, NodeProc, NO_FULL_NODE};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/rig.rs"]
mod rig;
use rig::Rig;

fn rltc(program: [u8; 20]) -> String {
    use bitcoin::bech32::{segwit, Hrp};
    segwit::encode_v0(Hrp::parse("rltc").unwrap(), &program).unwrap()
}

/// Chromium and its driver, as Debian's `chromium` and `chromium-driver` install them (or
/// `OTEDAMA_CHROMIUM` / `OTEDAMA_CHROMEDRIVER`).
fn browser_paths() -> (PathBuf, PathBuf) {
    let path = |var: &str, default: &str| {
        PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()))
    };
    (
        path("OTEDAMA_CHROMIUM", "/usr/bin/chromium"),
        path("OTEDAMA_CHROMEDRIVER", "/usr/bin/chromedriver"),
    )
}

/// Whether the browser test can run: skips with a message when Chromium or chromedriver is
/// missing, unless `OTEDAMA_REQUIRE_FULL_NODES` is set (scripts/test installs both), then fails.
fn browser_available(test: &str) -> bool {
    let (chromium, driver) = browser_paths();
    if chromium.exists() && driver.exists() {
        return true;
    }
    let msg = format!(
        "{test}: needs {} and {} (apt-get install chromium chromium-driver)",
        chromium.display(),
        driver.display()
    );
    if std::env::var_os("OTEDAMA_REQUIRE_FULL_NODES").is_some() {
        panic!("{msg}");
    }
    eprintln!("skipping {msg}");
    false
}

/// Where screenshots and timings go: `$CARGO_TARGET_DIR/artifacts/dashboard`.
fn artifacts_dir() -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = base.join("artifacts").join("dashboard");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Standard base64 (screenshots come as base64 PNG).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (d << (18 - 6 * i)));
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len().saturating_sub(1)]);
    }
    out
}

/// A chromedriver process and one headless Chromium session.
struct Browser {
    driver: Child,
    http: Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let (chromium, driver_bin) = browser_paths();
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver_bin.display()));
        let http = Client::new(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .with_timeout(Duration::from_secs(60));
        let start = Instant::now();
        while !http
            .request("GET", "/status", b"")
            .ok()
            .and_then(|(_, b)| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["value"]["ready"] == json!(true))
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver never got ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            http,
            session: String::new(),
            _profile: profile,
        };
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.display().to_string(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    "--hide-scrollbars", "--window-size=1280,900",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let created = browser.raw("POST", "/session", &caps);
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        browser
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test.
    fn raw(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let (status, reply) = self
            .http
            .request(method, path, &body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"));
        let v: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        assert_eq!(status, 200, "webdriver {method} {path}: {v}");
        v["value"].clone()
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), &body)
    }

    fn navigate(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs `script` (a function body) in the page; its return value.
    fn exec(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
    }

    /// A Chrome DevTools command (device emulation, colour scheme).
    fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
    }

    /// Browser console entries since the last call.
    fn console(&self) -> Vec<Value> {
        self.cmd("POST", "/se/log", json!({"type": "browser"}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn screenshot(&self, path: &Path) {
        let png = base64_decode(
            self.cmd("GET", "/screenshot", Value::Null)
                .as_str()
                .unwrap(),
        );
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// Polls `script` until it returns true.
    fn wait_for(&self, what: &str, timeout: Duration, script: &str) {
        let start = Instant::now();
        loop {
            if self.exec(script) == json!(true) {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "page: {what} did not happen within {timeout:?}; console: {:?}",
                self.console()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let _ = self.http.request("DELETE", &path, b"");
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The page's overview values (`data-value` of each number) and the status they came from.
const READ_OVERVIEW: &str = "const v = id => document.getElementById(id).dataset.value; \
    const t = id => document.getElementById(id).textContent; \
    return {pool: v('pool-hashrate'), local: v('local-hashrate'), height: v('share-height'), \
    height_text: t('share-height'), difficulty: v('share-difficulty'), sync: v('sync-state'), \
    parent: v('parent-height'), parent_text: t('parent-height'), full_node: v('full-node'), \
    peers: v('peers'), eta: v('block-eta'), updated: document.body.dataset.updated};";

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn same_number(page: &Value, api: &Value) -> bool {
    match (as_f64(page), as_f64(api)) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1e-300),
        (None, None) => true,
        _ => page.as_str() == Some("") && api.is_null(),
    }
}

/// A raw GET of the API port: (head, body).
fn http_get(port: u16, path: &str) -> (String, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(all.len(), |p| p + 4);
    (
        String::from_utf8_lossy(&all[..end]).into_owned(),
        all[end..].to_vec(),
    )
}

#[test]
fn the_dashboard_shows_the_node_live_in_a_real_browser() {
    if !litecoind::available("dashboard") || !browser_available("dashboard") {
        return;
    }
    let a = Litecoind::start("dash-a", &[]);
    let _b = a.start_peer("dash-b");
    a.activate_mweb();
    let node_addr = rltc([0x66; 20]);
    let rig_addr = rltc([0x77; 20]);
    let mut node = NodeProc::start(
        Path::new(env!("CARGO_BIN_EXE_otedama-node")),
        "dashboard",
        "litecoin-regtest",
        &a.rpc_url(),
        &node_addr,
        &[],
    );
    let api = node.client();

    // The files, with their policy, from the API port.
    let (head, body) = http_get(node.api, "/");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Security-Policy: default-src 'self'"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&body).contains("/assets/app.js"));

    // Two rigs (one paid the node's address, one its own) until blocks are found.
    let mut rig1 = Rig::connect(node.stratum);
    rig1.start("rig-dash", false);
    let mut rig2 = Rig::connect(node.stratum);
    rig2.start(&format!("{rig_addr}.w2"), false);
    let (mut c1, mut c2) = (0u64, 1u64 << 40);
    // Long enough for three history samples (15 s apart), so the charts draw lines.
    let before = a.height();
    let started = Instant::now();
    while (a.height() < before + 2 || started.elapsed() < Duration::from_secs(35))
        && started.elapsed() < Duration::from_secs(120)
    {
        rig1.mine_one(&mut c1);
        rig2.mine_one(&mut c2);
    }
    assert!(a.height() >= before + 2, "no blocks\n{}", node.log_text());

    let browser = Browser::start();
    let url = format!("http://127.0.0.1:{}/", node.api);
    browser.navigate(&url);
    browser.wait_for(
        "the first load",
        Duration::from_secs(30),
        "return document.body.dataset.ready === '1';",
    );
    // The node samples its history at start and every 15 s; the page loads it every 15 s.
    browser.wait_for(
        "hashrate chart points",
        Duration::from_secs(45),
        "return Number(document.getElementById('chart-hashrate').dataset.points) >= 2;",
    );

    // The overview equals getstatus. The page refreshes when the window gets focus; the local
    // hashrate, an estimate that decays while no rig submits, must lie between the values
    // read just before and just after.
    let updated = browser.exec("return document.body.dataset.updated;");
    let s1 = api.call("getstatus", json!({})).unwrap();
    browser.exec("window.dispatchEvent(new Event('focus')); return null;");
    browser.wait_for(
        "a refresh on focus",
        Duration::from_secs(10),
        &format!("return document.body.dataset.updated !== {updated};"),
    );
    let page = browser.exec(READ_OVERVIEW);
    let s2 = api.call("getstatus", json!({})).unwrap();
    assert_eq!(
        s1["best_share"], s2["best_share"],
        "a share arrived meanwhile"
    );
    for (field, status_value) in [
        ("pool", &s2["hashrate"]["pool"]),
        ("height", &s2["best_share"]["height"]),
        ("difficulty", &s2["share_difficulty"]),
        ("parent", &s2["parent_chain"]["height"]),
        ("eta", &s2["expected_block_secs"]),
    ] {
        assert!(
            same_number(&page[field], status_value),
            "overview {field}: page {} != getstatus {status_value}\n{page}\n{s2}",
            page[field]
        );
    }
    assert_eq!(
        page["height_text"],
        json!(s2["best_share"]["height"].to_string())
    );
    assert_eq!(
        page["parent_text"],
        json!(s2["parent_chain"]["height"].to_string())
    );
    assert_eq!(page["sync"], s2["sync"]["state"]);
    assert_eq!(page["full_node"], s2["parent_chain"]["full_node"]);
    assert_eq!(
        page["peers"],
        json!(format!("{}/{}", s2["peers"]["in"], s2["peers"]["out"]))
    );
    let local = as_f64(&page["local"]).unwrap();
    let (l1, l2) = (
        s1["hashrate"]["local"].as_f64().unwrap(),
        s2["hashrate"]["local"].as_f64().unwrap(),
    );
    assert!(
        local >= l1.min(l2) * (1.0 - 1e-9) && local <= l1.max(l2) * (1.0 + 1e-9) && local > 0.0,
        "local hashrate {local} not within [{l1}, {l2}]"
    );

    // The payouts table is getpayouts, the node's and the rigs' rows highlighted.
    let payouts = api.call("getpayouts", json!({})).unwrap();
    let rows = browser.exec(
        "return Array.from(document.querySelectorAll('#payout-table tbody tr')).map(r => \
         ({address: r.dataset.address, amount: Number(r.dataset.amount), \
         mine: r.classList.contains('mine')}));",
    );
    let want: Vec<Value> = payouts["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let a = o["address"].as_str().unwrap();
            json!({"address": a, "amount": o["amount"],
                   "mine": a == node_addr || a == rig_addr})
        })
        .collect();
    assert_eq!(rows, json!(want), "payouts table != getpayouts");
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["mine"] == json!(true)));

    // The miners table lists the rigs; the blocks table the blocks.
    let workers = browser.exec(
        "return Array.from(document.querySelectorAll('#miner-table tbody tr')).map(r => \
         r.dataset.worker);",
    );
    assert!(
        workers.as_array().unwrap().contains(&json!("rig-dash"))
            && workers.as_array().unwrap().contains(&json!("w2")),
        "miners table: {workers}"
    );
    let block_rows = browser
        .exec("return document.querySelectorAll('#block-table tbody tr[data-hash]').length;");
    assert!(
        block_rows.as_u64().unwrap() >= 2,
        "blocks table: {block_rows}"
    );

    // Everything came from the node, and nothing went wrong in the console.
    let timing = browser.exec(
        "const nav = performance.getEntriesByType('navigation')[0]; \
         const res = performance.getEntriesByType('resource'); \
         return {origin: location.origin, \
           foreign: res.filter(r => !r.name.startsWith(location.origin)).map(r => r.name), \
           load_ms: nav.loadEventEnd - nav.startTime, \
           dom_content_loaded_ms: nav.domContentLoadedEventEnd - nav.startTime, \
           html_bytes: nav.encodedBodySize, \
           files: res.filter(r => r.initiatorType !== 'fetch' && r.initiatorType !== 'xmlhttprequest' && r.initiatorType !== 'other') \
             .map(r => ({name: r.name, bytes: r.encodedBodySize, ms: r.duration})), \
           api_calls: res.filter(r => r.initiatorType === 'fetch').length};",
    );
    assert_eq!(
        timing["foreign"],
        json!([]),
        "requests off the node: {timing}"
    );
    let console = browser.console();
    let errors: Vec<&Value> = console.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let weight = timing["html_bytes"].as_u64().unwrap_or(0)
        + timing["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["bytes"].as_u64())
            .sum::<u64>();
    let dir = artifacts_dir();
    let report = json!({"page_bytes": weight, "timing": timing});
    std::fs::write(dir.join("load.json"), format!("{report:#}\n")).unwrap();
    eprintln!("dashboard: {weight} bytes, {report}");

    // Screenshots: the overview at desktop width (light) and phone width (dark).
    browser.screenshot(&dir.join("desktop.png"));
    let full = browser.cdp(
        "Page.captureScreenshot",
        json!({"format": "png", "captureBeyondViewport": true}),
    );
    let full = base64_decode(full["data"].as_str().unwrap_or(""));
    std::fs::write(dir.join("desktop-full.png"), full).unwrap();
    browser.cdp(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": true}),
    );
    browser.cdp(
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
    );
    std::thread::sleep(Duration::from_millis(500));
    let narrow = browser.exec(
        "return {width: innerWidth, scroll: document.documentElement.scrollWidth, \
         dark: matchMedia('(prefers-color-scheme: dark)').matches};",
    );
    assert_eq!(narrow["dark"], json!(true));
    assert!(
        narrow["scroll"].as_u64() <= narrow["width"].as_u64(),
        "the page scrolls sideways at phone width: {narrow}"
    );
    browser.screenshot(&dir.join("phone-dark.png"));
    browser.cdp("Emulation.clearDeviceMetricsOverride", json!({}));
    browser.cdp("Emulation.setEmulatedMedia", json!({"features": []}));

    // A share found while the page is open appears without a reload.
    browser.exec("window.__noReload = 1; return null;");
    let (height, _) = node.best();
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.best().0 == height && Instant::now() < deadline {
        rig1.mine_one(&mut c1);
    }
    let (new_height, new_id) = node.best();
    assert!(new_height > height, "no new share\n{}", node.log_text());
    browser.wait_for(
        "the new share in the sharechain table",
        Duration::from_secs(10),
        &format!(
            "return window.__noReload === 1 && \
             !!document.querySelector('#share-table tr[data-id=\"{new_id}\"]');"
        ),
    );
    // Its detail, through the link.
    browser.exec(&format!(
        "document.querySelector('#share-table tr[data-id=\"{new_id}\"] a.share-link').click(); return null;"
    ));
    browser.wait_for(
        "the share's detail",
        Duration::from_secs(10),
        &format!(
            "const d = document.getElementById('share-detail'); \
             return !d.hidden && d.textContent.includes('{new_id}');"
        ),
    );
    let errors: Vec<Value> = browser
        .console()
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");

    // The page reconnects to /events after the node restarts.
    drop(rig1);
    drop(rig2);
    node.restart();
    browser.wait_for(
        "the event stream back after a restart",
        Duration::from_secs(60),
        "return Number(document.body.dataset.connects) >= 2 && \
         document.getElementById('live').textContent === 'live';",
    );
}

/// Every metric name `contrib/grafana/otedama.json` queries, with the label values it matches
/// on (`name{label="value"}`).
fn grafana_selectors() -> Vec<(String, Vec<(String, String)>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/grafana/otedama.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: Value = serde_json::from_str(&text).expect("valid JSON");
    let mut exprs = Vec::new();
    fn collect(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "expr" || k == "query" {
                        if let Some(s) = v.as_str() {
                            out.push(s.to_string());
                        }
                    }
                    collect(v, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    collect(&dashboard, &mut exprs);
    let mut out = Vec::new();
    for e in &exprs {
        let mut rest = e.as_str();
        while let Some(i) = rest.find("otedama_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            let name = tail[..end].to_string();
            let mut labels = Vec::new();
            let after = &tail[end..];
            if let Some(inner) = after.strip_prefix('{').and_then(|a| a.split('}').next()) {
                for m in inner.split(',') {
                    if let Some((k, v)) = m.split_once('=') {
                        let (k, v) = (k.trim(), v.trim());
                        // Only exact matchers name a value that must exist.
                        if !k.ends_with('!') && !v.starts_with('~') && k != "instance" && k != "job"
                        {
                            labels.push((k.to_string(), v.trim_matches('"').to_string()));
                        }
                    }
                }
            }
            out.push((name, labels));
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_the_node_exports() {
    let selectors = grafana_selectors();
    assert!(selectors.len() >= 15, "{selectors:?}");
    // Every series is exported from the start, full node or not.
    let node = NodeProc::start(
        Path::new(env!("CARGO_BIN_EXE_otedama-node")),
        "grafana",
        "litecoin-regtest",
        NO_FULL_NODE,
        &rltc([0x68; 20]),
        &[],
    );
    let (code, body) = node.client().request("GET", "/metrics", b"").unwrap();
    assert_eq!(code, 200);
    let metrics = String::from_utf8(body).unwrap();
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    for (name, labels) in &selectors {
        let lines: Vec<&&str> = series
            .iter()
            .filter(|l| {
                l.strip_prefix(name.as_str())
                    .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
            })
            .collect();
        assert!(
            !lines.is_empty(),
            "contrib/grafana/otedama.json queries {name}, which /metrics lacks"
        );
        for (k, v) in labels {
            let want = format!("{k}=\"{v}\"");
            assert!(
                lines.iter().any(|l| l.contains(&want)),
                "contrib/grafana/otedama.json queries {name}{{{want}}}, which /metrics lacks"
            );
        }
    }
}
