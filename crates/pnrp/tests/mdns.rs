//! Registrations on the link (multicast DNS) between hosts made of network namespaces:
//! `A —(va|vb)— B —(vc|vd)— C`, every interface with one IPv6 link-local address only.
//!
//! Each host is a process of this test binary run inside its namespace (`ip netns exec`)
//! for the child entry point below; the parent starts them, reads what they print, and ends
//! a registering child by closing its standard input (or by SIGKILL). Creating namespaces
//! needs root; without it each test prints a loud `SKIPPED:` line and returns, or fails under
//! `CI=true` (see `peergroup_testkit::Netns`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peergroup_pnrp::{CloudName, EndpointInfo, MdnsMedium, Medium, NoProofs, Publication, register};
use peergroup_testkit::Netns;
use serde_json::{Value, json};

const CHILD: &str = "child_mdns";

/// One host's part: `PG_MDNS=register <cloud> <peer name> <endpoint> <ttl s>` publishes and
/// prints `REGISTERED`, keeps it published until its standard input closes, then withdraws
/// and prints `WITHDRAWN`; `PG_MDNS=resolve <cloud> <peer name> <timeout ms>` prints `FOUND`
/// and the endpoints found as JSON.
#[test]
#[ignore = "child-process entry point, run inside a namespace by the other tests of this file"]
fn child_mdns() {
    peergroup_testkit::child_entry(CHILD, "every test of tests/mdns.rs");
    let args: Vec<String> = std::env::var("PG_MDNS").unwrap().split(' ').map(str::to_owned).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let medium = Arc::new(MdnsMedium::new(Arc::new(NoProofs), Arc::new(NoProofs)));
    let cloud = CloudName::parse(&args[1]).unwrap();
    match args[0].as_str() {
        "register" => runtime.block_on(async {
            let endpoint: SocketAddr = args[3].parse().unwrap();
            let ttl = Duration::from_secs(args[4].parse().unwrap());
            let publication =
                Publication::new(cloud, &args[2], vec![endpoint], "from a namespace").unwrap().with_ttl(ttl).unwrap();
            let registration = register(medium.clone(), publication).await.unwrap();
            println!("REGISTERED");
            std::io::stdout().flush().unwrap();
            // Until the parent closes our standard input.
            tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new())).await.unwrap().unwrap();
            registration.unregister().await.unwrap();
            println!("WITHDRAWN");
        }),
        "resolve" => runtime.block_on(async {
            let timeout = Duration::from_millis(args[3].parse().unwrap());
            let started = Instant::now();
            let found = medium.resolve(&args[2], &cloud, 4, timeout).await.unwrap();
            let found: Vec<Value> = found
                .iter()
                .map(|e: &EndpointInfo| {
                    json!({
                        "peer_name": e.peer_name,
                        "addresses": e.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "comment": e.comment,
                    })
                })
                .collect();
            println!("FOUND {}", json!({ "found": found, "ms": started.elapsed().as_millis() as u64 }));
        }),
        "ask-once" => runtime.block_on(async {
            let found = medium.ask_once(&args[2], &cloud).await.unwrap();
            let found: Vec<Value> = found
                .iter()
                .map(|e| json!({ "peer_name": e.peer_name, "addresses": e.addresses.iter().map(ToString::to_string).collect::<Vec<_>>() }))
                .collect();
            println!("FOUND {}", json!({ "found": found }));
        }),
        other => panic!("unknown action {other}"),
    }
}

fn child(ns: &Netns, args: &str) -> std::process::Command {
    let mut cmd = ns.command(peergroup_testkit::test_exe());
    peergroup_testkit::as_child(&mut cmd, CHILD).env("PG_MDNS", args);
    cmd
}

/// A registering host, kept until dropped (standard input closed, then waited for).
struct Registered {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Registered {
    // The child is moved into `Self`, whose `Drop` kills and waits for it.
    #[allow(clippy::zombie_processes)]
    fn start(ns: &Netns, cloud: &str, peer_name: &str, endpoint: &str, ttl_s: u64) -> Self {
        let mut child = child(ns, &format!("register {cloud} {peer_name} {endpoint} {ttl_s}"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            // The child prints REGISTERED or ends (EOF) with a failure.
            assert!(stdout.read_line(&mut line).unwrap() > 0, "the registering child ended: {:?}", child.wait());
            // The harness prints its `test child_mdns ... ` before the first line of output.
            if line.trim_end().ends_with("REGISTERED") {
                return Self { child, stdout };
            }
        }
    }

    /// Closes its standard input and waits for it to withdraw and end.
    fn withdraw(mut self) {
        drop(self.child.stdin.take());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        assert!(self.child.wait().unwrap().success());
        assert!(rest.contains("WITHDRAWN"), "{rest}");
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The endpoints a resolution in `cloud` on `ns` finds within `timeout_ms`.
fn resolve(ns: &Netns, cloud: &str, peer_name: &str, timeout_ms: u64) -> Vec<String> {
    found_by(ns, &format!("resolve {cloud} {peer_name} {timeout_ms}"), peer_name)
}

/// The endpoints a child finds with `action` (`resolve …` or `ask-once …`).
fn found_by(ns: &Netns, action: &str, peer_name: &str) -> Vec<String> {
    let out = child(ns, action).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "resolve failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line =
        stdout.lines().find_map(|l| l.split_once("FOUND ").map(|(_, json)| json)).unwrap_or_else(|| panic!("{stdout}"));
    let v: Value = serde_json::from_str(line).unwrap();
    v["found"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            assert_eq!(e["peer_name"], peer_name);
            e["addresses"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_owned()).collect::<Vec<_>>()
        })
        .collect()
}

/// Three hosts in a row; `B` has two links, one to each neighbour.
fn three_hosts(label: &str) -> Option<(Netns, Netns, Netns)> {
    let a = Netns::create(&format!("{label}a"))?;
    let b = Netns::create(&format!("{label}b"))?;
    let c = Netns::create(&format!("{label}c"))?;
    a.veth_to(&b, "va", "vb");
    b.veth_to(&c, "vc", "vd");
    a.up_with("va", &["fe80::a/64"]);
    b.up_with("vb", &["fe80::b/64"]);
    b.up_with("vc", &["fe80::c/64"]);
    c.up_with("vd", &["fe80::d/64"]);
    Some((a, b, c))
}

/// A registration in `LinkLocal_vb` on B is found from A, across that link, with the scope
/// of A's interface on the link-local address; not from C, on B's other link, where it is
/// not announced.
#[test]
fn a_registration_is_resolved_on_its_link_only() {
    let Some((a, b, c)) = three_hosts("ml") else { return };
    let name = "0.mdns-link";
    let registered = Registered::start(&b, "LinkLocal_vb", name, "[fe80::b]:4500", 60);
    let found = resolve(&a, "LinkLocal_va", name, 5000);
    assert_eq!(found, [format!("[fe80::b%{}]:4500", a.index("va"))]);
    assert!(resolve(&c, "LinkLocal_vd", name, 1500).is_empty());
    // Another name is not found, even on the link.
    assert!(resolve(&a, "LinkLocal_va", "0.someone-else", 1500).is_empty());
    registered.withdraw();
}

/// The quick path alone: one legacy unicast query from A (an ephemeral port, RFC 6762 §6.7)
/// is answered at once, by unicast, by B's responder, with the TXT that proves the name;
/// asked on C's link, nobody answers.
#[test]
fn a_one_shot_query_is_answered_by_unicast() {
    let Some((a, b, c)) = three_hosts("mq") else { return };
    let name = "0.mdns-once";
    let registered = Registered::start(&b, "LinkLocal_vb", name, "[fe80::b]:4501", 60);
    let expected = [format!("[fe80::b%{}]:4501", a.index("va"))];
    // A responder answers once its probing is over (RFC 6762 §8.1): the browse's resolution
    // waits for that; the one-shot query comes after.
    assert_eq!(resolve(&a, "LinkLocal_va", name, 5000), expected);
    assert_eq!(found_by(&a, &format!("ask-once LinkLocal_va {name}"), name), expected);
    assert!(found_by(&c, &format!("ask-once LinkLocal_vd {name}"), name).is_empty());
    registered.withdraw();
}

/// Unregistering sends goodbyes: a resolution afterwards finds nothing.
#[test]
fn an_unregistered_name_is_no_longer_resolved() {
    let Some((a, b, _c)) = three_hosts("mu") else { return };
    let name = "0.mdns-gone";
    let registered = Registered::start(&b, "LinkLocal_vb", name, "[fe80::b]:4501", 60);
    assert_eq!(resolve(&a, "LinkLocal_va", name, 5000).len(), 1);
    registered.withdraw();
    assert!(resolve(&a, "LinkLocal_va", name, 1500).is_empty());
}

/// A process killed with SIGKILL sends no goodbye; its announcement carries its expiry, so it
/// stops being resolved once its TTL has passed (bounded wait, polling resolutions).
#[test]
fn a_killed_registrar_stops_being_resolved_after_its_ttl() {
    let Some((a, b, _c)) = three_hosts("mk") else { return };
    let name = "0.mdns-killed";
    let mut registered = Registered::start(&b, "LinkLocal_vb", name, "[fe80::b]:4502", 2);
    assert_eq!(resolve(&a, "LinkLocal_va", name, 5000).len(), 1);
    registered.child.kill().unwrap();
    registered.child.wait().unwrap();
    let killed = Instant::now();
    let mut gone = false;
    for _ in 0..10 {
        if resolve(&a, "LinkLocal_va", name, 1000).is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "still resolved {:?} after the kill", killed.elapsed());
}

/// The foreign DNS-SD peer (python-zeroconf), or `None` after a loud skip (a failure under
/// `CI=true`, where `.ci/run` installs it).
fn zeroconf_peer(test: &str) -> Option<std::path::PathBuf> {
    let have = std::process::Command::new("python3")
        .args(["-c", "import zeroconf"])
        .output()
        .is_ok_and(|out| out.status.success());
    peergroup_testkit::require(test, have, "python-zeroconf is missing (python3 -m pip install zeroconf)")
        .then(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/foreign/zeroconf_peer.py"))
}

/// python-zeroconf publishes an unsecured peer name the way any DNS-SD tool can (plain
/// `_peergroup._udp` service, no subtype, the announcement's keys as TXT properties): our
/// resolution on the link finds it.
#[test]
fn a_foreign_dns_sd_publication_is_resolved() {
    let Some(script) = zeroconf_peer("a_foreign_dns_sd_publication_is_resolved") else { return };
    let Some((a, b, _c)) = three_hosts("mf") else { return };
    let mut foreign = b
        .command("python3")
        .arg(&script)
        .args(["publish", "foreign", "0.foreign", "fe80::b", "4700"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(foreign.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "PUBLISHED", "python-zeroconf did not publish: {:?}", foreign.wait());
    let found = resolve(&a, "LinkLocal_va", "0.foreign", 5000);
    drop(foreign.stdin.take());
    assert!(foreign.wait().unwrap().success());
    assert_eq!(found, [format!("[fe80::b%{}]:4700", a.index("va"))]);
}

/// python-zeroconf browsing `_peergroup._udp` on the link sees our registration and reads the
/// announcement from its TXT properties.
#[test]
fn a_foreign_browser_sees_our_registration() {
    let Some(script) = zeroconf_peer("a_foreign_browser_sees_our_registration") else { return };
    let Some((a, b, _c)) = three_hosts("mz") else { return };
    let registered = Registered::start(&b, "LinkLocal_vb", "0.ours", "[fe80::b]:4800", 60);
    let out = a.command("python3").arg(&script).args(["browse", "5"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find_map(|l| l.strip_prefix("FOUND ")).unwrap_or_else(|| panic!("{stdout}"));
    let found: Value = serde_json::from_str(line).unwrap();
    let instances = found.as_object().unwrap();
    assert_eq!(instances.len(), 1, "{found}");
    let (instance, txt) = instances.iter().next().unwrap();
    assert!(instance.starts_with("pg-") && instance.ends_with("._peergroup._udp.local."), "{instance}");
    assert_eq!((&txt["v"], &txt["pn"], &txt["ep"]), (&json!("pg1"), &json!("0.ours"), &json!("[fe80::b]:4800")));
    registered.withdraw();
}

/// The registering host's interface goes down: nothing of the registration is heard on the
/// link any more (a resolution finds nothing); it comes back up: the registration is announced
/// again without the registrar doing anything (its daemon checks the interfaces every 5 s).
#[test]
fn a_registration_follows_its_interface_down_and_up() {
    let Some((a, b, _c)) = three_hosts("md") else { return };
    let name = "0.mdns-updown";
    let registered = Registered::start(&b, "LinkLocal_vb", name, "[fe80::b]:4503", 60);
    assert_eq!(resolve(&a, "LinkLocal_va", name, 5000).len(), 1);
    b.down("vb");
    assert!(resolve(&a, "LinkLocal_va", name, 1500).is_empty());
    // IPv6 addresses leave with the link (unless `keep_addr_on_down`): put it back as a host
    // whose interface comes back gets its address again.
    b.ip(&["addr", "replace", "fe80::b/64", "dev", "vb", "nodad"]);
    b.ip(&["link", "set", "vb", "up"]);
    // Bounded: the daemon's interface check (5 s), then an announcement or an answer.
    assert_eq!(resolve(&a, "LinkLocal_va", name, 15_000).len(), 1);
    registered.withdraw();
}
