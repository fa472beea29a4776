//! What the command-line tests of peer names share: the binary, private homes with a
//! `config.toml`, and commands run on a home.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a part; tests fail loudly.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// How long a test waits for a process to say something.
pub const WAIT: Duration = Duration::from_secs(15);

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

/// A child process whose standard output lines arrive on a channel (read on a thread, so a
/// silent child fails the test after [`WAIT`] instead of hanging it).
pub struct Running {
    pub child: Child,
    /// Each line with the moment it was read.
    pub lines: Receiver<(Instant, String)>,
}

impl Running {
    pub fn spawn(home: &Path, args: &[&str]) -> Self {
        Self::start(cmd(home, args))
    }

    /// Runs `command` with its standard output read line by line.
    pub fn start(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line that `want` picks, within [`WAIT`].
    pub fn expect<T>(&self, what: &str, want: impl FnMut(&str) -> Option<T>) -> T {
        self.expect_at(what, want).0
    }

    /// [`Running::expect`], with the moment the line was read.
    pub fn expect_at<T>(&self, what: &str, mut want: impl FnMut(&str) -> Option<T>) -> (T, Instant) {
        let start = Instant::now();
        // What the child said meanwhile, for the failure message.
        let mut seen = Vec::new();
        loop {
            let left = WAIT.checked_sub(start.elapsed()).unwrap_or_default();
            let Ok((at, line)) = self.lines.recv_timeout(left) else {
                panic!("{what}: not within {WAIT:?}; the process said {seen:#?}")
            };
            if let Some(found) = want(&line) {
                return (found, at);
            }
            seen.push(line);
        }
    }

    pub fn interrupt(&mut self) {
        // SIGINT, as Ctrl-C: the command closes the group and exits 0.
        let status = std::process::Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `ok` holds, at most `bound` (then fails the test with `what`); how long it took.
pub fn until(what: &str, bound: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}
