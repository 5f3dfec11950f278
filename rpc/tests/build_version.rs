//! Runs the tests of `build/version.rs`, the build scripts' version code (a build script has no
//! test harness of its own).

#[allow(dead_code)]
mod version {
    include!("../../build/version.rs");
}
