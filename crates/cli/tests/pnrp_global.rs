//! `peergroup pnrp dht-node`, and `pnrp register|resolve --cloud Global_` on the private DHT
//! network those nodes make on loopback: every process a real one, nothing sent beyond
//! loopback (each home's `[global]` names the local nodes and binds on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod common;

use common::{BIN, cmd, home_with_config, run};

/// A running command, killed if the test fails before it ends it. Its standard output stays
/// open (a closed pipe would fail its next print).
struct Running(Child, #[allow(dead_code)] BufReader<std::process::ChildStdout>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    /// Starts `args` and returns it with the first line it prints.
    fn start(mut command: Command) -> (Self, String) {
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        (Self(child, stdout), first.trim_end().to_owned())
    }

    /// SIGINT, then its exit status.
    fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.0.id().to_string();
        assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
        self.0.wait().unwrap()
    }
}

fn dht_node(bootstrap: Option<&str>) -> (Running, String) {
    let mut c = Command::new(BIN);
    c.args(["pnrp", "dht-node", "--listen", "127.0.0.1:0"]);
    if let Some(b) = bootstrap {
        c.args(["--bootstrap", b]);
    }
    let (node, first) = Running::start(c);
    let addr = first.strip_prefix("listening ").unwrap_or_else(|| panic!("{first:?}")).to_owned();
    (node, addr)
}

fn home(dir: &Path, bootstrap: &str) -> PathBuf {
    home_with_config(dir, &format!("[global]\nbootstrap = [\"{bootstrap}\"]\nlisten = \"127.0.0.1:0\"\n"))
}

#[test]
fn a_name_registered_in_global_is_resolved_through_dht_nodes() {
    let (first, bootstrap) = dht_node(None);
    let others: Vec<_> = (0..3).map(|_| dht_node(Some(&bootstrap)).0).collect();

    let tmp = tempfile::tempdir().unwrap();
    let alice = home(&tmp.path().join("alice"), &bootstrap);
    let bob = home(&tmp.path().join("bob"), &bootstrap);
    let out = run(&alice, &["identity", "create", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = String::from_utf8(out.stdout).unwrap().lines().next().unwrap().to_owned();

    let (register, first_line) = Running::start(cmd(
        &alice,
        &["pnrp", "register", "--cloud", "Global_", &name, "--address", "127.0.0.1:47001", "--for", "60s"],
    ));
    assert_eq!(first_line, format!("registered {name}"));

    let out = run(&bob, &["pnrp", "resolve", "--cloud", "Global_", &name, "--max", "1", "--timeout", "10s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), format!("127.0.0.1 47001 {name}"));
    let out = run(&bob, &["--json", "pnrp", "resolve", "--cloud", "Global_", &name, "--max", "1", "--timeout", "10s"]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((value[0]["address"].as_str(), value[0]["port"].as_u64()), (Some("127.0.0.1"), Some(47001)));
    assert_eq!(value[0]["peer_name"], name.as_str());

    // A name nobody registered: exit 1, PEER_E_NOT_FOUND.
    let out = run(&bob, &["pnrp", "resolve", "--cloud", "Global_", "0.nobody", "--timeout", "10s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PEER_E_NOT_FOUND"));

    assert!(register.interrupt().success());

    // A reader that is gone before anything is printed (`| head -0`): the command still
    // registers, waits, withdraws and exits 0.
    let mut closed =
        cmd(&alice, &["pnrp", "register", "--cloud", "Global_", &name, "--address", "127.0.0.1:47002", "--for", "1s"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    drop(closed.stdout.take());
    assert!(closed.wait().unwrap().success(), "a closed standard output failed the command");

    for node in others {
        assert!(node.interrupt().success());
    }
    assert!(first.interrupt().success(), "a DHT node ends cleanly on SIGINT");
}

#[test]
fn dht_node_refuses_a_bad_listen_address_and_a_taken_port() {
    let out = Command::new(BIN).args(["pnrp", "dht-node", "--listen", "[::1]:6881"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an IPv4 ADDRESS:PORT"));

    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN).args(["pnrp", "dht-node", "--listen", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot bind {addr}")) && stderr.contains("PEER_E_SERVICE_NOT_AVAILABLE"),
        "{stderr}"
    );
}
