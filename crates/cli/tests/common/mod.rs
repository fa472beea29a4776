//! What the command-line tests of peer names share: the binary, private homes with a
//! `config.toml`, and commands run on a home.
#![allow(dead_code, clippy::unwrap_used)] // Each test file uses a part; tests fail loudly.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_peergroup");

/// A home at `dir` (0700, as the keystore insists) whose `config.toml` is `config`.
pub fn home_with_config(dir: &Path, config: &str) -> PathBuf {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("config.toml"), config).unwrap();
    dir.to_owned()
}

/// `peergroup --home HOME ARGS...`, not influenced by `$PEERGROUP_HOME`.
pub fn cmd(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--home").arg(home).args(args).env_remove("PEERGROUP_HOME");
    c
}

/// The same, run to its end.
pub fn run(home: &Path, args: &[&str]) -> Output {
    cmd(home, args).output().unwrap()
}
