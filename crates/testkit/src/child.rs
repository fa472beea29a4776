//! A test binary re-running itself as a worker process.
//!
//! The worker is a test marked `#[ignore = "child-process entry point, run by <parent>"]`: a
//! normal run skips it (and does not count it as passed), and the parent runs exactly it with
//! `--ignored --exact <name>`. The worker calls [`child_entry`] first, so that running ignored
//! tests by hand fails with a pointer to the parent instead of passing without doing anything.

use std::path::PathBuf;
use std::process::Command;

/// Set by [`as_child`] to the name of the entry point the process was started for.
pub const CHILD_ENV: &str = "PEERGROUP_TEST_CHILD";

/// The running test binary.
///
/// # Panics
/// If the operating system cannot name it (no `/proc`): no child process can be started then.
#[allow(clippy::expect_used)]
pub fn test_exe() -> PathBuf {
    std::env::current_exe().expect("the path of the running test binary")
}

/// Makes `cmd` (which runs the test binary, directly or through a wrapper such as
/// `ip netns exec`) run only the ignored test `name`, marked as its child.
pub fn as_child<'a>(cmd: &'a mut Command, name: &str) -> &'a mut Command {
    cmd.args(["--ignored", "--exact", name, "--nocapture", "--test-threads=1"]).env(CHILD_ENV, name)
}

/// A command re-running this test binary for its child-process entry point `name` (the test's
/// path inside the binary, e.g. `worker` or `module::worker`).
pub fn child_test(name: &str) -> Command {
    let mut cmd = Command::new(test_exe());
    as_child(&mut cmd, name);
    cmd
}

/// The first line of the entry point `name`.
///
/// # Panics
/// Unless this process was started by [`child_test`] or [`as_child`] for `name`: run by hand
/// (`--ignored`), the entry point would have nothing to do, so it fails naming its `parent`.
#[track_caller]
pub fn child_entry(name: &str, parent: &str) {
    if std::env::var(CHILD_ENV).ok().as_deref() != Some(name) {
        panic!("{name} is a child-process entry point started by the test {parent}; run {parent} instead");
    }
}
