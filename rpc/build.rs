//! Exports `OTEDAMA_VERSION_LONG` (`0.1.0 (commit ..., built YYYY-MM-DD)`) for `--version`; the
//! one implementation, shared by every Otedama binary, is `build/version.rs` at the repository root.

include!("../build/version.rs");

fn main() {
    emit_version();
}
