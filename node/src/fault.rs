//! Fault injection for the tests of supervision: in debug builds, `OTEDAMA_TEST_FAULT=NAME`
//! makes the task that passes [`point`]`(NAME)` panic, so a test can watch the real binary stop
//! with a non-zero exit instead of running on without that task. Release builds compile it out.

/// Panics when the test fault `name` is armed (debug builds only).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    if std::env::var("OTEDAMA_TEST_FAULT").is_ok_and(|armed| armed == name) {
        panic!("test fault {name} injected by OTEDAMA_TEST_FAULT");
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
