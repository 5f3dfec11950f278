//! End to end with an OpenCL device (PoCL on the CPU in CI): `--gpu 0 --mine 0` and no rig, so
//! every share comes from the GPU worker; litecoind regtest must accept the blocks, and the
//! API must show the device's row and hashrate.
//!
//! Without an OpenCL device or litecoind the test skips, unless `OTEDAMA_REQUIRE_FULL_NODES`
//! is set (CI, which installs both), when it fails.

use otedama_tests::litecoind::{self, Litecoind};
use otedama_tests::node::NodeProc;
use serde_json::json;
use std::time::{Duration, Instant};

fn have_opencl() -> bool {
    if !otedama_mining::gpu::devices().is_empty() {
        return true;
    }
    if std::env::var_os("OTEDAMA_REQUIRE_FULL_NODES").is_some() {
        panic!("no OpenCL device: install pocl-opencl-icd and ocl-icd-libopencl1");
    }
    eprintln!("skipped gpu_mining: no OpenCL device");
    false
}

#[test]
fn gpu_worker_mines_blocks_that_litecoind_accepts() {
    if !have_opencl() || !litecoind::available("gpu_mining") {
        return;
    }
    let a = Litecoind::start("gpu-a", &[]);
    let _b = a.start_peer("gpu-b");
    a.activate_mweb();
    let start_height = a.call("getblockcount", json!([])).as_u64().unwrap();
    let addr = {
        use bitcoin::bech32::{segwit, Hrp};
        segwit::encode_v0(Hrp::parse("rltc").unwrap(), &[0x66; 20]).unwrap()
    };
    let mut node = NodeProc::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_otedama-node")),
        "gpu",
        "litecoin-regtest",
        &a.rpc_url(),
        &addr,
        &["--gpu", "0", "--mine", "0"],
    );
    let log = || node.log_text();
    let deadline = Instant::now() + Duration::from_secs(180);
    let height = || a.call("getblockcount", json!([])).as_u64().unwrap_or(0);
    while height() < start_height + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
    }
    let end_height = height();
    let text = log();
    assert!(
        end_height >= start_height + 2,
        "blocks accepted: {}\n--- node log ---\n{text}",
        end_height - start_height
    );
    assert!(text.contains("gpu device ready"), "{text}");
    assert!(text.contains("gpu share found"), "{text}");
    assert!(!text.contains("cpu share found"), "{text}");
    assert!(!text.contains("differs from the reference"), "{text}");
    // The API: a gpu-0 row with the shares; a /metrics line for the device.
    let api = node.client();
    let miners = api.call("getminers", json!({})).unwrap();
    let row = miners["miners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["worker"] == "gpu-0")
        .cloned()
        .unwrap_or_else(|| panic!("no gpu-0 row: {miners}"));
    assert!(row["accepted"].as_u64().unwrap() >= 2, "{row}");
    let status = api.call("getstatus", json!({})).unwrap();
    assert!(status["hashrate"]["gpu"].get("gpu-0").is_some(), "{status}");
    let (_, metrics) = api.request("GET", "/metrics", b"").unwrap();
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(
        metrics.contains("otedama_gpu_hashrate{worker=\"gpu-0\"}"),
        "{metrics}"
    );
    let status = node.stop();
    assert!(
        status.is_some_and(|s| s.success()),
        "node did not stop cleanly with a gpu worker running: {status:?}\n{}",
        node.log_text()
    );
}
