//! The C test programs of `tests/c/`, compiled against `include/p2p.h` and the built library,
//! run natively and under valgrind, and on hosts with chosen interfaces (network namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

mod common;

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Link, assert_success, compile, crate_dir, valgrind, valgrind_available};
use peergroup_testkit::Netns;

/// A peergroup home for one run, with a DNS configuration that points at a server that never
/// answers (so DNS clouds are `PEER_E_NO_CLOUD` after 300 ms) and `Global_` turned off (no
/// test reaches the public DHT).
struct Home {
    dir: tempfile::TempDir,
    _silent_dns: UdpSocket,
}

impl Home {
    fn new() -> Self {
        Self::with_global("[global]\nenabled = false\n")
    }

    /// A home whose `config.toml` starts with this `[global]` table.
    fn with_global(global: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let silent_dns = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = format!(
            "{global}[dns]\nnameservers = [\"{}\"]\nsearch = []\ntimeout_ms = 300\n",
            silent_dns.local_addr().unwrap()
        );
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

/// `tests/c/<name>.c` runs natively in a home of its own and says `<name>: ok`.
fn runs(name: &str) {
    let home = Home::new();
    let program = program(name, &home);
    let out = run(name, &mut home.command(&program));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("{name}: ok")));
}

/// `tests/c/<name>.c` runs under valgrind (no error, no leak) in a home of its own.
fn runs_under_valgrind(name: &str) {
    if !valgrind_available(&format!("{name}_under_valgrind")) {
        return;
    }
    let home = Home::new();
    let program = program(name, &home);
    run(&format!("{name} under valgrind"), &mut home.valgrind(&program));
}

#[test]
fn credentials() {
    runs("credentials");
}

#[test]
fn credentials_under_valgrind() {
    runs_under_valgrind("credentials");
}

#[test]
fn open_outcomes() {
    runs("open");
}

#[test]
fn open_outcomes_under_valgrind() {
    runs_under_valgrind("open");
}

#[test]
fn lifecycle() {
    runs("lifecycle");
}

#[test]
fn lifecycle_under_valgrind() {
    runs_under_valgrind("lifecycle");
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

/// The chat example between two hosts (network namespaces joined by a veth link, IPv6
/// link-local): the host invites the guest's identity and goes online; the guest joins,
/// connects by address, says a line (a record, replicated to the host) and whispers one over a
/// direct connection; the host prints both and whispers back.
#[test]
fn group_chat_example_chats_between_two_hosts() {
    let Some(a) = Netns::create("chata") else { return };
    let Some(b) = Netns::create("chatb") else { return };
    a.veth_to(&b, "ca", "cb");
    a.up_with("ca", &["fe80::a/64"]);
    b.up_with("cb", &["fe80::b/64"]);
    let port = free_port();
    let host_home = Home::with_global(&format!("[global]\nenabled = false\n[net]\nport = {port}\n"));
    let guest_home = Home::new();
    let chat = compile(&crate_dir().join("../../examples/c/group_chat.c"), &host_home.bin(), Link::Static);
    let in_ns = |ns: &Netns, home: &Home| {
        let mut cmd = ns.command(&chat);
        cmd.env("PEERGROUP_HOME", home.path());
        cmd
    };
    let (xml, invitation) = (guest_home.bin().join("guest.xml"), host_home.bin().join("chat.inv"));
    run("group_chat identity", in_ns(&b, &guest_home).args(["identity", "bob"]).arg(&xml));
    let mut host =
        Registrar::spawn(in_ns(&a, &host_home).args(["host", "alice"]).arg(&xml).arg(&invitation).arg("120"));
    assert_eq!(host.next_line(), "host: online");
    let out = run(
        "group_chat guest",
        in_ns(&b, &guest_home).args(["guest", "bob"]).arg(&invitation).args([
            "fe80::a%cb",
            &port.to_string(),
            "hi all",
        ]),
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("whisper back: psst, welcome") && said.contains("guest: done"), "{said}");
    let mut heard = Vec::new();
    loop {
        let line = host.next_line();
        if line.is_empty() || line == "host: done" {
            heard.push(line);
            break;
        }
        heard.push(line);
    }
    assert!(heard.contains(&"bob says: hi all (a record)".to_owned()), "{heard:?}");
    assert!(heard.contains(&"whisper: hi all".to_owned()), "{heard:?}");
    assert_eq!(heard.last().map(String::as_str), Some("host: done"), "{heard:?}");
    assert!(host.child.wait().unwrap().success());
}

/// `password.c` on two hosts (namespaces on one veth link), natively or with the guests (and
/// the host's offline part) under valgrind: the host creates a link-local password group and connects; a guest with a wrong password is
/// refused and stores nothing (the host hears the failure); a guest with the right one finds
/// the host in the cloud, joins, connects and becomes ready.
fn password_between_two_hosts(valgrind: bool, label: &str) {
    let Some(a) = Netns::create(&format!("{label}a")) else { return };
    let Some(b) = Netns::create(&format!("{label}b")) else { return };
    a.veth_to(&b, "pa", "pb");
    a.up_with("pa", &["fe80::a/64"]);
    b.up_with("pb", &["fe80::b/64"]);
    let (host_home, wrong_home, right_home) = (Home::new(), Home::new(), Home::new());
    let password = program("password", &host_home);
    let in_ns = |ns: &Netns, home: &Home| {
        let mut cmd = if valgrind {
            let mut c = ns.command("valgrind");
            c.args(common::VALGRIND_ARGS).arg(&password);
            c
        } else {
            ns.command(&password)
        };
        cmd.env("PEERGROUP_HOME", home.path());
        cmd
    };
    let invitation = host_home.bin().join("secret.inv");
    // The member's side of the exchange under valgrind outlasts the 10 s bound of a join
    // (links' handshake bound): under valgrind the host's offline part runs alone, and the
    // host that serves runs natively.
    let mut host_cmd = if valgrind {
        let offline = Home::new();
        let out = run(
            "password invite",
            offline.valgrind(&password).args(["invite", "correct horse battery"]).arg(offline.bin().join("x.inv")),
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("password invite: ok"));
        let mut c = a.command(&password);
        c.env("PEERGROUP_HOME", host_home.path());
        c
    } else {
        in_ns(&a, &host_home)
    };
    let mut host = Registrar::spawn(host_cmd.args(["host", "correct horse battery"]).arg(&invitation));
    assert_eq!(host.next_line(), "LISTENING");
    let out = run(
        "password guest (wrong)",
        in_ns(&b, &wrong_home).arg("guest").arg(&invitation).args(["wrong horse battery", "refused"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("password guest: refused"));
    assert_eq!(host.next_line(), "REFUSED");
    let out = run(
        "password guest (right)",
        in_ns(&b, &right_home).arg("guest").arg(&invitation).args(["correct horse battery", "joined"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("password guest: joined"));
    assert_eq!(host.next_line(), "JOINED");
    assert_eq!(host.finish(), "password host: ok");
}

#[test]
fn password_join_between_two_hosts() {
    password_between_two_hosts(false, "pwn");
}

#[test]
fn password_join_between_two_hosts_under_valgrind() {
    if !valgrind_available("password_join_between_two_hosts_under_valgrind") {
        return;
    }
    password_between_two_hosts(true, "pwv");
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

#[test]
fn pnrp_checks() {
    let home = Home::new();
    let pnrp = program("pnrp", &home);
    let out = run("pnrp checks", home.command(&pnrp).arg("checks"));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pnrp checks: ok"));
}

#[test]
fn pnrp_checks_under_valgrind() {
    if !valgrind_available("pnrp_checks_under_valgrind") {
        return;
    }
    let home = Home::new();
    let pnrp = program("pnrp", &home);
    run("pnrp checks under valgrind", home.valgrind(&pnrp).arg("checks"));
}

/// The C program in `register` mode: it prints `REGISTERED`, moves the registration on a line
/// of input (`UPDATED`), withdraws it when its input closes (`DONE`).
struct Registrar {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Registrar {
    fn spawn(command: &mut Command) -> Self {
        let mut child =
            command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        Self { child, stdout }
    }

    fn next_line(&mut self) -> String {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut self.stdout, &mut line).unwrap();
        line.trim_end().to_owned()
    }

    /// Sends one line, returns the answer.
    fn tell(&mut self, line: &str) -> String {
        std::io::Write::write_all(self.child.stdin.as_mut().unwrap(), format!("{line}\n").as_bytes()).unwrap();
        self.next_line()
    }

    /// Closes its input, returns its last line once it exited successfully.
    fn finish(mut self) -> String {
        drop(self.child.stdin.take());
        let last = self.next_line();
        assert!(self.child.wait().unwrap().success());
        last
    }
}

impl Drop for Registrar {
    /// A test that failed half-way does not leave its program running (after `finish`, the
    /// child is reaped already and nothing is sent).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `Global_` from C: a registration (`PeerPnrpRegister` with an address, then
/// `PeerPnrpUpdateRegistration`) on a private DHT of three nodes on loopback, resolved
/// synchronously and asynchronously by another process, natively and under valgrind.
#[test]
fn pnrp_register_and_resolve_in_global() {
    use std::net::{Ipv4Addr, SocketAddrV4};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let first = rt.block_on(peergroup::DhtNode::start(loopback, &[])).unwrap();
    let bootstrap = first.local_addr().to_string();
    let _others: Vec<_> = (0..2)
        .map(|_| rt.block_on(peergroup::DhtNode::start(loopback, std::slice::from_ref(&bootstrap))).unwrap())
        .collect();
    let home = Home::with_global(&format!("[global]\nbootstrap = [\"{bootstrap}\"]\nlisten = \"127.0.0.1:0\"\n"));
    let pnrp = program("pnrp", &home);

    let mut registrar =
        Registrar::spawn(home.command(&pnrp).args(["register", "0.c-global", "Global_", "4700", "127.0.0.1"]));
    assert_eq!(registrar.next_line(), "REGISTERED");
    // The DHT carries the port and the address it saw, no comment.
    let out = run("resolve in Global_", home.command(&pnrp).args(["resolve", "0.c-global", "Global_", "0"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "FOUND 127.0.0.1%0 4700");
    let out = run("resolve-async in Global_", home.command(&pnrp).args(["resolve-async", "0.c-global", "Global_"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), "FOUND 127.0.0.1%0 4700 \nEND");
    if valgrind_available("pnrp_register_and_resolve_in_global") {
        run("resolve under valgrind", home.valgrind(&pnrp).args(["resolve", "0.c-global", "Global_", "0"]));
        run("resolve-async under valgrind", home.valgrind(&pnrp).args(["resolve-async", "0.c-global", "Global_"]));
    }
    assert_eq!(registrar.tell("move"), "UPDATED");
    assert_eq!(registrar.finish(), "DONE");
    // A name nobody registered.
    run("resolve of no one", home.command(&pnrp).args(["resolve", "0.c-nobody", "Global_", "0x80070490"]));
}

/// A C program registers a name on the link in one namespace (`LinkLocal_vb`, this host's
/// address at a port it names), another resolves it from the neighbouring namespace, by the
/// cloud's name and with no cloud (every link cloud), synchronously and asynchronously,
/// natively and under valgrind; the
/// registration moves to another port, then is withdrawn.
#[test]
fn pnrp_register_and_resolve_between_two_hosts() {
    let home = Home::new();
    let pnrp = program("pnrp", &home);
    let Some(a) = Netns::create("cpa") else { return };
    let Some(b) = Netns::create("cpb") else { return };
    a.veth_to(&b, "va", "vb");
    a.up_with("va", &["fe80::a/64"]);
    b.up_with("vb", &["fe80::b/64"]);

    let mut registrar = Registrar::spawn(
        b.command(&pnrp).args(["register", "0.c-link", "LinkLocal_vb", "4600"]).env("PEERGROUP_HOME", home.path()),
    );
    assert_eq!(registrar.next_line(), "REGISTERED");
    let found = |cloud: &str, expect: &str| {
        let out = run_in(&a, &home, &pnrp, &["resolve", "0.c-link", cloud, expect]);
        assert_success(&format!("resolve in {cloud}"), &out);
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    };
    let scope = a.index("va");
    assert_eq!(found("LinkLocal_va", "0"), format!("FOUND fe80::b%{scope} 4600 from C"));
    assert_eq!(found("-", "0"), format!("FOUND fe80::b%{scope} 4600 from C"));
    // Asynchronously: one endpoint as it is found, then the end.
    let out = run_in(&a, &home, &pnrp, &["resolve-async", "0.c-link", "-"]);
    assert_success("resolve-async", &out);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), format!("FOUND fe80::b%{scope} 4600 from C\nEND"));
    if valgrind_available("pnrp_register_and_resolve_between_two_hosts") {
        let mut cmd = a.command("valgrind");
        cmd.args(valgrind().get_args()).arg(&pnrp).args(["resolve", "0.c-link", "LinkLocal_va", "0"]);
        let out = cmd.env("PEERGROUP_HOME", home.path()).output().unwrap();
        assert_success("resolve under valgrind", &out);
        let mut cmd = a.command("valgrind");
        cmd.args(valgrind().get_args()).arg(&pnrp).args(["resolve-async", "0.c-link", "LinkLocal_va"]);
        let out = cmd.env("PEERGROUP_HOME", home.path()).output().unwrap();
        assert_success("resolve-async under valgrind", &out);
    }

    assert_eq!(registrar.tell("move"), "UPDATED");
    // The new port is announced at once; a resolution may still meet the old answer first.
    let moved = (0..10).any(|_| found("LinkLocal_va", "0").ends_with(" 4601 from C"));
    assert!(moved, "the registration did not move to 4601");
    assert_eq!(registrar.finish(), "DONE");
    assert_eq!(found("LinkLocal_va", "0x80070490"), "");
}

// ---- going online ----

/// A UDP port free now, for a presence that must listen where another process will dial.
fn free_port() -> u16 {
    let socket = UdpSocket::bind("[::]:0").or_else(|_| UdpSocket::bind("0.0.0.0:0")).unwrap();
    socket.local_addr().unwrap().port()
}

/// `connect.c` in four processes with homes of their own, natively or all under valgrind: a
/// member's identity; the creator, which invites it and goes online with `PeerGroupConnect`
/// at the `[net] port` of its home; the member, which joins, checks the argument rules, links
/// to the creator with `PeerGroupConnectByAddress` (IPv4-mapped loopback) and checks events,
/// connections, status and members, then opens a direct connection to the creator, sends on
/// it and on the neighbour connection, reads the answer, closes it, and moves its
/// configuration out and back in; a stranger, turned away at `::1` (IPv4-mapped loopback on
/// a host without IPv6). The creator hears the member come and go, then the stranger fail.
fn connect_between_processes(valgrind: bool) {
    let port = free_port();
    let creator_home = Home::with_global(&format!("[global]\nenabled = false\n[net]\nport = {port}\n"));
    let (member_home, stranger_home) = (Home::new(), Home::new());
    let connect = program("connect", &creator_home);
    let cmd = |home: &Home| if valgrind { home.valgrind(&connect) } else { home.command(&connect) };

    let xml = member_home.bin().join("member.xml");
    let out = run("connect identity", cmd(&member_home).arg("identity").arg(&xml));
    let member = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
    let invitation = creator_home.bin().join("invitation.xml");
    let mut creator = Registrar::spawn(cmd(&creator_home).arg("creator").arg(&xml).arg(&invitation));
    assert_eq!(creator.next_line(), "LISTENING");

    let port = port.to_string();
    let out = run(
        "connect member",
        cmd(&member_home).args(["member", &member]).arg(&invitation).args(["::ffff:127.0.0.1", &port]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("connect member: ok"));
    assert_eq!(creator.next_line(), "CONNECTED");
    assert_eq!(creator.next_line(), "DATA");
    assert_eq!(creator.next_line(), "DISCONNECTED");

    let stranger_at = if UdpSocket::bind("[::1]:0").is_ok() { "::1" } else { "::ffff:127.0.0.1" };
    let out = run("connect stranger", cmd(&stranger_home).args(["stranger", stranger_at, &port]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("connect stranger: ok"));
    assert_eq!(creator.next_line(), "REFUSED");
    assert_eq!(creator.finish(), "connect creator: ok");
}

#[test]
fn connect_between_processes_natively() {
    connect_between_processes(false);
}

#[test]
fn connect_between_processes_under_valgrind() {
    if !valgrind_available("connect_between_processes_under_valgrind") {
        return;
    }
    connect_between_processes(true);
}
