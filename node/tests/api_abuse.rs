//! The API under abuse: 70 idle `/events` subscribers and a crowd of slowloris clients that keep
//! reconnecting and never finish their requests. `otedama-cli status` and `stop` must still
//! work (event streams have their own pool, and the slowest request readers make room), a page
//! addressing the API by a foreign host name (DNS rebinding) is refused, and the cookie file is
//! owner-only.

use otedama_tests::node::{NodeProc, NO_FULL_NODE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_otedama-node"))
}

fn cli() -> PathBuf {
    let path = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("otedama-cli")))
        .expect("test binary path");
    assert!(
        path.exists(),
        "{} missing: build the workspace",
        path.display()
    );
    path
}

fn payout() -> String {
    use bitcoin::bech32::{segwit, Hrp};
    segwit::encode_v0(Hrp::parse("bcrt").expect("hrp"), &[5; 20]).expect("address")
}

fn connect(port: u16) -> Option<TcpStream> {
    let s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    Some(s)
}

#[test]
fn idle_streams_and_slowloris_clients_cannot_lock_out_status_and_stop() {
    let mut node = NodeProc::start(
        bin(),
        "api-abuse",
        "bitcoin-regtest",
        NO_FULL_NODE,
        &payout(),
        &[],
    );
    let port = node.api;
    let url = format!("http://127.0.0.1:{port}");

    // 70 idle event subscribers: more than the stream pool and more than the request slots.
    let mut streams = Vec::new();
    let mut busy = 0;
    for _ in 0..70 {
        let Some(mut s) = connect(port) else { continue };
        let _ = s.write_all(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        let mut head = [0u8; 12];
        if s.read_exact(&mut head).is_ok() && &head == b"HTTP/1.1 503" {
            busy += 1;
        }
        streams.push(s);
    }
    assert_eq!(
        busy,
        70 - otedama_rpc::server::MAX_EVENT_STREAMS,
        "event streams beyond their pool are refused"
    );

    // Slowloris: 100 connections that send half a request head and then nothing, reopened as
    // soon as the server drops them, for as long as the checks below run.
    let stop = Arc::new(AtomicBool::new(false));
    let stop_t = stop.clone();
    let loris = std::thread::spawn(move || {
        let mut open: Vec<TcpStream> = Vec::new();
        let mut reopened = 0u64;
        while !stop_t.load(Ordering::Relaxed) {
            open.retain(|s| {
                let mut b = [0u8; 1];
                s.set_nonblocking(true).ok();
                let alive = !matches!((&*s).read(&mut b), Ok(0));
                s.set_nonblocking(false).ok();
                alive
            });
            while open.len() < 100 {
                let Some(mut s) = connect(port) else { break };
                let _ = s.write_all(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Len");
                open.push(s);
                reopened += 1;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        reopened
    });
    std::thread::sleep(Duration::from_secs(1));

    let run_cli = |args: &[&str]| {
        Command::new(cli())
            .args(["--rpc", &url])
            .args(args)
            .output()
            .expect("run otedama-cli")
    };
    for _ in 0..3 {
        let out = run_cli(&["status"]);
        assert!(
            out.status.success(),
            "status under abuse: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // DNS rebinding: a foreign Host name is refused, an IP literal is served.
    let host_status = |host: &str| -> String {
        let mut s = connect(port).expect("connect");
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"getstatus"}"#;
        let req = format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(req.as_bytes());
        let _ = s.write_all(body);
        let mut head = [0u8; 12];
        let _ = s.read_exact(&mut head);
        String::from_utf8_lossy(&head).into_owned()
    };
    assert_eq!(host_status("evil.example:9334"), "HTTP/1.1 403");
    assert_eq!(host_status(&format!("127.0.0.1:{port}")), "HTTP/1.1 200");

    // The cookie is owner-only, and `stop` with it still gets through.
    let data = node.dir.join("data");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join(".cookie"))
            .expect("cookie")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = run_cli(&["--data-dir", &data.display().to_string(), "stop"]);
    assert!(
        out.status.success(),
        "stop under abuse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stop.store(true, Ordering::Relaxed);
    let reopened = loris.join().expect("slowloris thread");
    assert!(
        reopened >= 100,
        "the slowloris crowd was there ({reopened} connections)"
    );
    let status = node.stop();
    assert!(status.is_some_and(|s| s.success()), "{}", node.log_text());
    drop(streams);
}
