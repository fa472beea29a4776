//! Shared by the integration tests: where the built libraries are, and compiling C against
//! `include/p2p.h`.
//!
//! The libraries are the ones cargo built for this very test run: integration tests depend on
//! the crate's library target, and cargo builds all its crate types (`cdylib`, `staticlib`,
//! `rlib`) in one step into `target/<profile>/deps/`, the folder of the test binary itself
//! (only `cargo build` copies them up to `target/<profile>/`, so those copies may be stale).
//! So no nested `cargo build` (which would wait on the lock cargo test holds) is needed.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The crate folder.
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The folder holding the `libpeergroup_capi.so` and `.a` of this build (`target/debug/deps`).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    assert!(
        dir.join("libpeergroup_capi.so").exists() && dir.join("libpeergroup_capi.a").exists(),
        "the libraries are missing from {}",
        dir.display()
    );
    dir
}

/// The libraries a static link of `libpeergroup_capi.a` needs besides it (Rust's std).
pub const STATIC_LINK_LIBS: &[&str] = &["-lpthread", "-ldl", "-lm", "-lrt", "-lutil", "-lgcc_s", "-lc"];

/// How a C program links the library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `-lpeergroup_capi` against the `.so`, found at run time through an rpath.
    Shared,
    /// The `.a`, with [`STATIC_LINK_LIBS`].
    Static,
}

/// Compiles `source` (with `-Wall -Wextra -Werror` against `include/p2p.h`) into `out_dir`.
pub fn compile(source: &Path, out_dir: &Path, link: Link) -> PathBuf {
    let name = source.file_stem().unwrap().to_str().unwrap();
    let exe = out_dir.join(name);
    let lib = lib_dir();
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cc.args(["-std=c11", "-g", "-O0", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-I")
        .arg(crate_dir().join("tests/c"))
        .arg(source)
        .arg("-o")
        .arg(&exe);
    match link {
        Link::Shared => {
            // DT_RPATH (not RUNPATH) so that the LD_LIBRARY_PATH cargo sets for tests, which
            // also names `target/<profile>/` with its possibly stale copy, does not win.
            cc.arg("-L")
                .arg(&lib)
                .arg("-lpeergroup_capi")
                .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", lib.display()));
        }
        Link::Static => {
            cc.arg(lib.join("libpeergroup_capi.a")).args(STATIC_LINK_LIBS);
        }
    }
    let out = cc.output().expect("run the C compiler");
    assert!(out.status.success(), "cc {}:\n{}", source.display(), String::from_utf8_lossy(&out.stderr));
    exe
}

/// Asserts a program exited 0, showing its output otherwise.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether valgrind can run here; when it cannot, `test` is skipped (`SKIPPED:` outside CI, a
/// failure under `CI=true`: see `peergroup_testkit::require`).
pub fn valgrind_available(test: &str) -> bool {
    let have = peergroup_testkit::has_tool("valgrind", "--version");
    peergroup_testkit::require(test, have, "valgrind is not installed (apt-get install valgrind)")
}

/// The valgrind command line: memcheck errors and definite leaks fail the run (exit 99).
pub fn valgrind() -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args(VALGRIND_ARGS);
    cmd
}

/// How the C tests run valgrind: definite leaks and memory errors fail with status 99.
#[allow(dead_code)] // Not every test binary that shares this module runs valgrind itself.
pub const VALGRIND_ARGS: [&str; 5] = [
    "--quiet",
    "--error-exitcode=99",
    "--leak-check=full",
    "--errors-for-leak-kinds=definite",
    "--show-leak-kinds=definite",
];

/// A NUL-terminated UTF-16 copy of `s`, as the C ABI takes strings.
pub fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain([0]).collect()
}

/// Reads a string the library returned (with its NUL) and frees it.
///
/// # Safety
/// `p` is a NUL-terminated string handed out by the library and not freed yet.
pub unsafe fn take(p: peergroup_capi::PWSTR) -> Vec<u16> {
    let mut n = 0;
    // SAFETY: a NUL-terminated string handed out by the library.
    while unsafe { *p.add(n) } != 0 {
        n += 1;
    }
    // SAFETY: as above, `n` units plus the NUL.
    let v = unsafe { std::slice::from_raw_parts(p, n + 1) }.to_vec();
    // SAFETY: handed out by the library, freed once.
    unsafe { peergroup_capi::PeerFreeData(p.cast()) };
    v
}
