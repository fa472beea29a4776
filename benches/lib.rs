//! Shared helpers for the criterion benchmarks.

use std::path::PathBuf;

/// Whether criterion runs in test mode (`cargo bench -- --test`: each benchmark once), where
/// benchmarks scale their fixtures down so that CI stays fast.
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// A folder for fixtures that are expensive to build and reused across runs
/// (`target/bench-fixtures/<name>`).
pub fn fixture_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-fixtures").join(name)
}
