//! The C test programs of `tests/c/`, compiled against `include/p2p.h` and the built library,
//! run natively and under valgrind, and on hosts with chosen interfaces (network namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Link, assert_success, compile, crate_dir, valgrind, valgrind_available};
use peergroup::testing::Netns;

/// A peergroup home for one run, with a DNS configuration that points at a server that never
/// answers (so DNS clouds are `PEER_E_NO_CLOUD` after 300 ms).
struct Home {
    dir: tempfile::TempDir,
    _silent_dns: UdpSocket,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let silent_dns = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config =
            format!("[dns]\nnameservers = [\"{}\"]\nsearch = []\ntimeout_ms = 300\n", silent_dns.local_addr().unwrap());
        let home = Self { dir, _silent_dns: silent_dns };
        // The keystore insists on a private root.
        std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(home.path()).unwrap();
        std::fs::write(home.path().join("config.toml"), config).unwrap();
        home
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("PEERGROUP_HOME", self.path());
        cmd
    }

    fn valgrind(&self, program: &Path) -> Command {
        let mut cmd = valgrind();
        cmd.arg(program).env("PEERGROUP_HOME", self.path());
        cmd
    }
}

fn program(name: &str, home: &Home) -> PathBuf {
    compile(&crate_dir().join("tests/c").join(format!("{name}.c")), &home.bin(), Link::Shared)
}

fn run(what: &str, cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert_success(what, &out);
    out
}

#[test]
fn open_outcomes() {
    let home = Home::new();
    let open = program("open", &home);
    let out = run("open", &mut home.command(&open));
    assert!(String::from_utf8_lossy(&out.stdout).contains("open: ok"));
}

#[test]
fn open_outcomes_under_valgrind() {
    if !valgrind_available("open_outcomes_under_valgrind") {
        return;
    }
    let home = Home::new();
    let open = program("open", &home);
    run("open under valgrind", &mut home.valgrind(&open));
}

#[test]
fn lifecycle() {
    let home = Home::new();
    let lifecycle = program("lifecycle", &home);
    let out = run("lifecycle", &mut home.command(&lifecycle));
    assert!(String::from_utf8_lossy(&out.stdout).contains("lifecycle: ok"));
}

#[test]
fn lifecycle_under_valgrind() {
    if !valgrind_available("lifecycle_under_valgrind") {
        return;
    }
    let home = Home::new();
    let lifecycle = program("lifecycle", &home);
    run("lifecycle under valgrind", &mut home.valgrind(&lifecycle));
}

/// The chat example, linked statically, runs its whole script.
#[test]
fn group_chat_example_links_statically_and_runs() {
    let home = Home::new();
    let chat = compile(&crate_dir().join("../../examples/c/group_chat.c"), &home.bin(), Link::Static);
    let out = run("group_chat", home.command(&chat).arg("demo"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("alice: hello from C"), "{stdout}");
    assert!(stdout.contains("event: record added"), "{stdout}");
}

// ---- hosts with chosen interfaces ----

/// Runs a C program inside a namespace, on `home`.
fn run_in(ns: &Netns, home: &Home, program: &Path, args: &[&str]) -> Output {
    ns.command(program).args(args).env("PEERGROUP_HOME", home.path()).output().unwrap()
}

/// `LinkLocal_` on a host with two link-local interfaces is `PEER_E_CLOUD_NAME_AMBIGUOUS`;
/// on a host with none, `PEER_E_NO_CLOUD`.
#[test]
fn open_link_local_on_hosts_with_zero_and_two_interfaces() {
    let home = Home::new();
    let open = program("open", &home);
    let out = run("open setup", home.command(&open).arg("setup"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = stdout.lines();
    let (identity, group) = (lines.next().unwrap(), lines.next().unwrap());

    let Some(none) = Netns::create("none") else { return };
    let out = run_in(&none, &home, &open, &["expect", identity, group, "LinkLocal_", "0x80631001"]);
    assert_success("open in a namespace without link-local interfaces", &out);
    // The group's own cloud (Global_) opens everywhere.
    let out = run_in(&none, &home, &open, &["expect", identity, group, "Global_", "0x00000000"]);
    assert_success("open Global_ in a namespace", &out);

    let Some(two) = Netns::create("two") else { return };
    two.link_locals("pca", "pcb");
    let out = run_in(&two, &home, &open, &["expect", identity, group, "LinkLocal_", "0x80631005"]);
    assert_success("open in a namespace with two link-local interfaces", &out);
    let out = run_in(&two, &home, &open, &["expect", identity, group, "LinkLocal_pca", "0x00000000"]);
    assert_success("open LinkLocal_pca", &out);
}
