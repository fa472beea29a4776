//! The rule for a test that cannot get what it needs: skip loudly outside CI, fail under CI.

use std::fmt::Display;
use std::io::Write;
use std::process::{Command, Stdio};

/// Whether this is a CI run: `CI` is set to something other than empty, `0` or `false` (CI
/// services set `CI=true`; so does `.ci/run`'s environment).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false")))
}

/// `test` cannot run because of `why` (what is missing, and how to get it).
///
/// Outside CI: prints `SKIPPED: <test>: <why>` on the real standard error (which the test
/// harness does not capture, so the line shows in a normal run) and returns; the caller then
/// returns from the test.
///
/// # Panics
/// Under CI ([`in_ci`]): always, with the same message. A test CI counts as passed has run.
#[track_caller]
pub fn skip(test: &str, why: impl Display) {
    if in_ci() {
        panic!("{test} cannot run: {why} (CI is set, so a test that lacks what it needs fails instead of skipping)");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {why}");
}

/// `true` when `have`; otherwise [`skip`]s `test` because of `why` and returns `false` (outside
/// CI), so that a test reads `if !require(..) { return; }`.
///
/// # Panics
/// Under CI when `have` is false.
#[track_caller]
pub fn require(test: &str, have: bool, why: impl Display) -> bool {
    if !have {
        skip(test, why);
    }
    have
}

/// Whether this process runs with effective user id 0.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether `program arg` (for example `c++ --version`) runs and exits 0.
pub fn has_tool(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs this test binary's `probe` test with `CI` set to `ci` (or unset) and returns
    /// whether it passed and what it printed on standard error.
    fn run_probe(ci: Option<&str>) -> (bool, String) {
        let mut cmd = crate::child_test("skip::tests::probe");
        cmd.env_remove("CI");
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        let out = cmd.output().unwrap_or_else(|e| panic!("cannot re-run the test binary: {e}"));
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    }

    #[test]
    #[ignore = "child-process entry point, run by skips_outside_ci_and_fails_under_ci"]
    fn probe() {
        crate::child_entry("skip::tests::probe", "skips_outside_ci_and_fails_under_ci");
        if !require("probe", false, "the moon is not up") {
            return;
        }
        unreachable!("require(false) returned true");
    }

    #[test]
    fn skips_outside_ci_and_fails_under_ci() {
        for ci in [None, Some(""), Some("0"), Some("false")] {
            let (passed, stderr) = run_probe(ci);
            assert!(passed, "CI={ci:?}: {stderr}");
            assert!(stderr.contains("SKIPPED: probe: the moon is not up"), "CI={ci:?}: {stderr}");
        }
        for ci in ["true", "1"] {
            let (passed, stderr) = run_probe(Some(ci));
            assert!(!passed, "CI={ci}: a test that cannot run passed");
            assert!(stderr.contains("probe cannot run: the moon is not up"), "CI={ci}: {stderr}");
            assert!(!stderr.contains("SKIPPED"), "CI={ci}: {stderr}");
        }
    }

    #[test]
    fn require_passes_through_what_is_there() {
        assert!(require("present", true, "never printed"));
        assert!(has_tool("true", "--version"));
        assert!(!has_tool("/nonexistent/peergroup-tool", "--version"));
    }
}
