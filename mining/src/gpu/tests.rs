//! The kernels against the reference hashes, on whatever OpenCL device 0 is (PoCL in CI).
//! Without OpenCL the device tests skip, unless `OTEDAMA_REQUIRE_FULL_NODES` is set (CI), when
//! they fail.

use super::*;

/// Whether an OpenCL device is there to test on.
fn have_device() -> bool {
    if !devices().is_empty() {
        return true;
    }
    if std::env::var_os("OTEDAMA_REQUIRE_FULL_NODES").is_some() {
        panic!("no OpenCL device: install pocl-opencl-icd and ocl-icd-libopencl1");
    }
    eprintln!("skipped: no OpenCL device (install pocl-opencl-icd ocl-icd-libopencl1)");
    false
}

fn settings(intensity: u32, gap: u32) -> GpuSettings {
    GpuSettings {
        index: 0,
        intensity: Some(intensity),
        lookup_gap: gap,
        build_options: String::new(),
    }
}

fn random_header(seed: u64) -> [u8; 80] {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut h = [0u8; 80];
    for b in h.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    h
}

/// The nonce at scan position `v` (SHA256d kernels scan big-endian values).
fn nonce_at(pow: PowAlgo, v: u32) -> u32 {
    match pow {
        PowAlgo::Sha256d => v.swap_bytes(),
        PowAlgo::Scrypt1024 => v,
    }
}

/// Scans `count` positions from `start` on `dev` and on the CPU; the candidate sets must match.
fn check(dev: &mut GpuDevice, header: &[u8; 80], start: u32, count: u32, limit: u32) -> Vec<u32> {
    let pow = dev.pow();
    dev.set_header(header).unwrap();
    let mut got = Vec::new();
    dev.scan(start, count, limit, &mut got).unwrap();
    let mut expect: Vec<u32> = (0..count)
        .map(|i| nonce_at(pow, start.wrapping_add(i)))
        .filter(|&n| top32(pow, header, n) <= limit)
        .collect();
    got.sort_unstable();
    expect.sort_unstable();
    assert_eq!(got, expect, "{} intensity {}", pow.name(), dev.intensity());
    got
}

fn hex_header(s: &str) -> [u8; 80] {
    hex::decode(s).unwrap().try_into().unwrap()
}

#[test]
fn parse_list_reads_indexes_intensities_and_gaps() {
    assert_eq!(parse_list("").unwrap(), vec![]);
    assert_eq!(
        parse_list("0,1").unwrap(),
        vec![GpuSettings::new(0), GpuSettings::new(1)]
    );
    let l = parse_list("2:20:4").unwrap();
    assert_eq!(l[0].index, 2);
    assert_eq!(l[0].intensity, Some(20));
    assert_eq!(l[0].lookup_gap, 4);
    assert_eq!(parse_list("3:auto").unwrap()[0].intensity, None);
    assert!(parse_list("0,0").is_err());
    assert!(parse_list("x").is_err());
    assert!(parse_list("0:40").is_err());
    assert!(parse_list("0:20:0").is_err());
    assert!(parse_list("0:20:2:1").is_err());
}

#[test]
fn a_missing_device_is_an_error_not_a_panic() {
    let e = GpuDevice::open(&GpuSettings::new(10_000), PowAlgo::Sha256d).err();
    assert!(matches!(e, Some(GpuError::NoSuchDevice(10_000))), "{e:?}");
}

#[test]
fn sha256d_kernel_matches_the_reference_on_random_headers() {
    if !have_device() {
        return;
    }
    for intensity in [10, 12, 14] {
        let mut dev = GpuDevice::open(&settings(intensity, 1), PowAlgo::Sha256d).unwrap();
        assert_eq!(dev.intensity(), intensity);
        for seed in 0..3u64 {
            let header = random_header(seed * 31 + intensity as u64);
            // ~64 candidates per scan: within the output's 255 slots.
            let count = 1u32 << intensity;
            let limit = u32::MAX / (count / 64);
            // Crosses the end of the range (wraps) on one of the seeds.
            let start = if seed == 2 {
                0u32.wrapping_sub(count / 2)
            } else {
                0x0100_0000 * seed as u32
            };
            check(&mut dev, &header, start, count * 2, limit);
        }
    }
}

#[test]
fn sha256d_kernel_finds_real_bitcoin_blocks() {
    if !have_device() {
        return;
    }
    // Genesis and block 125552.
    let headers = [
        "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c",
        "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695",
    ];
    let mut dev = GpuDevice::open(&settings(16, 1), PowAlgo::Sha256d).unwrap();
    for h in headers {
        let header = hex_header(h);
        let nonce = u32::from_le_bytes(header[76..].try_into().unwrap());
        let v = nonce.swap_bytes();
        let start = v & !0xffff;
        // Top 32 bits zero: the block hashes start with eight zero hex digits.
        let found = check(&mut dev, &header, start, 1 << 16, 0);
        assert!(found.contains(&nonce), "{found:?}");
    }
}

#[test]
fn scrypt_kernel_matches_the_reference_for_several_sizes_and_lookup_gaps() {
    if !have_device() {
        return;
    }
    for (intensity, gap) in [(8, 1), (8, 2), (9, 3), (8, 4)] {
        let mut dev = GpuDevice::open(&settings(intensity, gap), PowAlgo::Scrypt1024).unwrap();
        let header = random_header(1000 + gap as u64);
        let count = 1u32 << intensity;
        check(&mut dev, &header, 0xffff_ff80, count, u32::MAX / 8);
    }
}

#[test]
fn scrypt_kernel_finds_the_litecoin_genesis_block() {
    if !have_device() {
        return;
    }
    // Version 1, no parent, merkle root 97ddfbbae6...edd4ced9, time 1317972665, bits
    // 0x1e0ffff0, nonce 2084524493.
    let header = hex_header(
        "01000000000000000000000000000000000000000000000000000000000000000000000\
         0d9ced4ed1130f7b7faad9be25323ffafa33232a17c3edf6cfd97bee6bafbdd97b9aa8e4ef0ff0f1ecd513f7c",
    );
    let nonce = u32::from_le_bytes(header[76..].try_into().unwrap());
    // The target's top 32 bits are 0x000ffff0.
    let limit = 0x000f_fff0;
    assert!(top32(PowAlgo::Scrypt1024, &header, nonce) <= limit);
    for gap in [1, 2] {
        let mut dev = GpuDevice::open(&settings(8, gap), PowAlgo::Scrypt1024).unwrap();
        let found = check(&mut dev, &header, nonce - 100, 256, limit);
        assert_eq!(found, vec![nonce]);
    }
}

#[test]
fn a_device_with_wrong_results_is_refused() {
    if !have_device() {
        return;
    }
    for pow in [PowAlgo::Sha256d, PowAlgo::Scrypt1024] {
        let mut s = settings(8, 1);
        s.build_options = "-DOTEDAMA_FAULT_INJECT".into();
        let e = GpuDevice::open(&s, pow).err();
        assert!(matches!(e, Some(GpuError::WrongResults(_))), "{e:?}");
        assert!(e.unwrap().is_permanent());
    }
}

#[test]
fn tuning_picks_a_dispatch_within_the_target_time() {
    if !have_device() {
        return;
    }
    let mut dev = GpuDevice::open(&GpuSettings::new(0), PowAlgo::Sha256d).unwrap();
    dev.set_header(&random_header(5)).unwrap();
    let batch = dev.batch();
    let t0 = Instant::now();
    let mut out = Vec::new();
    dev.scan(0, batch, 0, &mut out).unwrap();
    let took = t0.elapsed();
    // Generous bounds: the machine is shared while tests run.
    assert!(
        took < TARGET_KERNEL_TIME * 4,
        "{took:?} for 2^{}",
        dev.intensity()
    );
}
