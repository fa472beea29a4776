//! What the command-line tests share: the binary, private homes with a `config.toml`, commands
//! run on a home, running processes, and two homes that share a group.
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

/// A `config.toml` with `Global_` (the groups' cloud) off: a creator that connects without
/// addresses registers its group there, and a test never reaches the public DHT (the
/// registration fails, with an event; the presence listens regardless).
pub const NO_GLOBAL: &str = "[global]\nenabled = false\n";

/// `peergroup --home HOME ARGS...`, which must succeed; its standard output.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The first line of [`ok`].
pub fn first_line(home: &Path, args: &[&str]) -> String {
    ok(home, args).lines().next().unwrap().to_owned()
}

/// [`ok`] with `--json`, parsed.
pub fn json(home: &Path, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(ok(home, &all).trim()).unwrap()
}

/// The port a running `group connect` says it listens on.
pub fn listening_port(running: &Running) -> u16 {
    running.expect("listening", |l| l.strip_prefix("listening ").map(|p| p.parse().unwrap()))
}

/// Two homes: Alice created a group in hers, Bob joined it in his (his identity info is
/// `bob.xml` in `tmp`).
pub struct Pair {
    pub tmp: tempfile::TempDir,
    pub alice: PathBuf,
    pub bob: PathBuf,
    pub alice_id: String,
    pub bob_id: String,
    pub group: String,
}

/// Alice created a group in her home, Bob joined it in his.
pub fn pair() -> Pair {
    let tmp = tempfile::tempdir().unwrap();
    let alice = home_with_config(&tmp.path().join("alice"), NO_GLOBAL);
    let bob = home_with_config(&tmp.path().join("bob"), NO_GLOBAL);
    let alice_id = first_line(&alice, &["identity", "create", "alice"]);
    let bob_id = first_line(&bob, &["identity", "create", "bob"]);
    let group = first_line(&alice, &["group", "create", "--identity", &alice_id, "chat"]);
    let info = tmp.path().join("bob.xml");
    let invitation = tmp.path().join("bob.invitation");
    ok(&bob, &["identity", "info", &bob_id, "--out", info.to_str().unwrap()]);
    let invite = ["group", "invite", "--identity", &alice_id, "--group", &group, "--invitee"];
    let mut args = invite.to_vec();
    args.extend([info.to_str().unwrap(), "--out", invitation.to_str().unwrap()]);
    ok(&alice, &args);
    ok(&bob, &["group", "join", "--identity", &bob_id, "--invitation", invitation.to_str().unwrap()]);
    Pair { tmp, alice, bob, alice_id, bob_id, group }
}
