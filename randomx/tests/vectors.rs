//! The official RandomX test vectors (tevador/RandomX, `src/tests/tests.cpp`, "Hash test 1a" to
//! "1f" and "2a" to "2f": RandomX v1, Monero's configuration), computed in light mode with the
//! interpreter and with the JIT compiler, as the reference test suite does.

use otedama_randomx::{Cache, Flags, LargePages, Vm};
use std::sync::Arc;

/// (key, input, expected hash), inputs as text or hex.
enum Input {
    Text(&'static str),
    Hex(&'static str),
}

struct Vector {
    name: &'static str,
    key: &'static [u8],
    input: Input,
    hash: &'static str,
}

const KEY_000: &[u8] = b"test key 000";
const KEY_001: &[u8] = b"test key 001";
/// Test 1f's key: 31 bytes (tests.cpp passes a 32-byte buffer as a C string, so its final zero
/// byte ends the key). It exercises an ISUB_R edge case.
const KEY_F: &[u8] = &[
    0x77, 0x97, 0x37, 0x3e, 0xa4, 0x63, 0x31, 0x94, 0x64, 0x0b, 0xf8, 0xd8, 0xc3, 0xb6, 0x67, 0x24,
    0xd6, 0xaa, 0x7b, 0xd2, 0xdc, 0x20, 0xe0, 0x09, 0xdf, 0x2f, 0x8f, 0x17, 0x10, 0xab, 0xe8,
];

const VECTORS: [Vector; 6] = [
    Vector {
        name: "a",
        key: KEY_000,
        input: Input::Text("This is a test"),
        hash: "639183aae1bf4c9a35884cb46b09cad9175f04efd7684e7262a0ac1c2f0b4e3f",
    },
    Vector {
        name: "b",
        key: KEY_000,
        input: Input::Text("Lorem ipsum dolor sit amet"),
        hash: "300a0adb47603dedb42228ccb2b211104f4da45af709cd7547cd049e9489c969",
    },
    Vector {
        name: "c",
        key: KEY_000,
        input: Input::Text("sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"),
        hash: "c36d4ed4191e617309867ed66a443be4075014e2b061bcdaf9ce7b721d2b77a8",
    },
    Vector {
        name: "d",
        key: KEY_001,
        input: Input::Text("sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"),
        hash: "e9ff4503201c0c2cca26d285c93ae883f9b1d30c9eb240b820756f2d5a7905fc",
    },
    Vector {
        name: "e",
        key: KEY_001,
        input: Input::Hex(
            "0b0b98bea7e805e0010a2126d287a2a0cc833d312cb786385a7c2f9de69d25537f584a9bc9977b0000\
             0000666fd8753bf61a8631f12984e3fd44f4014eca629276817b56f32e9b68bd82f416",
        ),
        hash: "c56414121acda1713c2f2a819d8ae38aed7c80c35c2a769298d34f03833cd5f1",
    },
    Vector {
        name: "f",
        key: KEY_F,
        input: Input::Hex(
            "1010e1eaf8cf067b37b5f0ee031ab23ed1755e090a3af4415830145853e2be3e1f6821fed84dae58d0\
             0e00da5214d6c1f2d0622e0abd51f9373d04e0b0f8e6d6514d90689721c4aac5a9bb0d",
        ),
        hash: "78af2a1864c42abce36d2e8983e13df99b2af0ce1362999af09fab004d4435a8",
    },
];

fn input_bytes(input: &Input) -> Vec<u8> {
    match input {
        Input::Text(t) => t.as_bytes().to_vec(),
        Input::Hex(h) => hex::decode(h).expect("vector hex"),
    }
}

fn check_all(flags: Flags, what: &str) {
    let mut failures = Vec::new();
    let mut current: Option<(Vec<u8>, Vm)> = None;
    for v in &VECTORS {
        if current.as_ref().map(|(k, _)| k.as_slice()) != Some(v.key) {
            let cache = Cache::new(v.key, flags, LargePages::Off).expect("cache");
            current = Some((v.key.to_vec(), Vm::light(Arc::new(cache)).expect("vm")));
        }
        let (_, vm) = current.as_mut().expect("machine just made");
        let got = hex::encode(vm.hash(&input_bytes(&v.input)));
        if got != v.hash {
            failures.push(format!(
                "{what} test {}: got {got}, want {}",
                v.name, v.hash
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn official_vectors_interpreter() {
    // Hardware AES and the Argon2 SIMD choice stay as recommended; only the JIT is removed.
    check_all(Flags::recommended().without(Flags::JIT), "interpreter");
}

#[test]
fn official_vectors_jit() {
    let flags = Flags::recommended();
    if !flags.contains(Flags::JIT) {
        eprintln!("SKIPPED: the library has no JIT compiler for this CPU");
        return;
    }
    check_all(flags, "JIT");
}

#[test]
fn official_vectors_portable() {
    // No JIT, software AES, reference Argon2: the slowest path, same hashes.
    check_all(Flags::DEFAULT, "portable");
}

#[test]
fn a_machine_moves_to_another_thread() {
    let cache =
        Arc::new(Cache::new(KEY_000, Flags::recommended(), LargePages::Off).expect("cache"));
    let mut vm = Vm::light(Arc::clone(&cache)).expect("vm");
    drop(cache); // the machine keeps its cache alive
    let hash = std::thread::spawn(move || vm.hash(b"This is a test"))
        .join()
        .expect("thread");
    assert_eq!(hex::encode(hash), VECTORS[0].hash);
}

#[test]
fn large_pages_fall_back() {
    // Most machines reserve no huge pages; `Prefer` must then give ordinary pages, not fail.
    let cache = Cache::new(KEY_000, Flags::recommended(), LargePages::Prefer).expect("cache");
    let mut vm = Vm::light(Arc::new(cache)).expect("vm");
    assert_eq!(hex::encode(vm.hash(b"This is a test")), VECTORS[0].hash);
}
