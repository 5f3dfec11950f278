//! Enables the AVX-512 worker kernels (cfg `otedama_avx512`) on compilers where Rust's AVX-512
//! intrinsics are stable (1.89 and later); older compilers (the workspace's MSRV is 1.85) build
//! every other kernel.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(otedama_avx512)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC");
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let mut parts = version
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major > 1 || (major == 1 && minor >= 89) {
        println!("cargo::rustc-cfg=otedama_avx512");
    }
}
