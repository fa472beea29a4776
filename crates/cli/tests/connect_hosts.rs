//! Hosts made of network namespaces on switches (bridges in a namespace of their own), IPv6
//! link-local only, members finding each other by multicast DNS (the group's name registered
//! by each member's presence).
//!
//! Two hosts, `A —(va|pa)— SW —(pb|vb)— B`: the creator connects on A, a member who joined on
//! B connects and finds A on the link, becomes ready with every record; records added on
//! either host appear on the other within a second; both report connected with the other
//! present.
//!
//! Partition and heal, `A1 A2 — left —(trunk)— right — B1 B2`: four members linked; the trunk is
//! unplugged until each side has lost the other (the links time out), both sides add records
//! (which still cross within a side), the trunk comes back, and all four converge with nothing
//! lost.
//!
//! Direct connections and data, `A —(va|pa)— SW —(pb|vb)— B`: both hosts online (each in a
//! `group connect` process), two more processes with the group open on A watching; B's
//! `group send` (a process that does not hold B's presence) opens a direct connection to A,
//! sends and closes: both watchers on A print the data and the connection coming and going,
//! as does a watcher on B; sending to oneself and on an unknown connection give their codes.
//!
//! Flooding, `H0 … H19 — one bridge`: twenty members find each other on the link; a record
//! added on one reaches all the others (each host's `group connect` prints it as an event, at a
//! moment the test notes), bounded in time; the spread is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{BIN, Running, home_with_config, until};
use peergroup_testkit::Netns;
use serde_json::Value;

const RECORD_TYPE: &str = "00000000-0000-0000-0000-0000000000ab";
/// Healing waits for a redial (its backoff grew while the other side was away) or the next
/// resolution.
const HEAL: Duration = Duration::from_secs(60);
/// Losing the other side waits for QUIC's idle timeout (10 s).
const LOSS: Duration = Duration::from_secs(30);

/// A member on a host: its namespace, home and identity.
struct Host {
    ns: Netns,
    home: PathBuf,
    id: String,
}

impl Host {
    fn new(label: &str, tmp: &Path, name: &str) -> Option<Self> {
        let ns = Netns::create(label)?;
        let home = home_with_config(&tmp.join(label), "[global]\nenabled = false\n");
        let mut host = Self { ns, home, id: String::new() };
        host.id = host.ok(&["identity", "create", name]).lines().next().unwrap().to_owned();
        Some(host)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.ns.command(BIN);
        c.arg("--home").arg(&self.home).args(args).env_remove("PEERGROUP_HOME");
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(self.ok(&all).trim()).unwrap()
    }

    /// Creates a link-local group; its peer name.
    fn create(&self, name: &str) -> String {
        let out = self.ok(&["group", "create", "--identity", &self.id, "--cloud", "LinkLocal_", name]);
        out.lines().next().unwrap().to_owned()
    }

    /// Invites `other` to `group` and has it join.
    fn admit(&self, group: &str, other: &Host, tmp: &Path) {
        let (info, invitation) = (tmp.join(format!("{}.xml", other.id)), tmp.join(format!("{}.inv", other.id)));
        other.ok(&["identity", "info", &other.id, "--out", info.to_str().unwrap()]);
        let invitee = ["--invitee", info.to_str().unwrap(), "--out", invitation.to_str().unwrap()];
        self.ok(&[&["group", "invite", "--identity", &self.id, "--group", group][..], &invitee].concat());
        other.ok(&["group", "join", "--identity", &other.id, "--invitation", invitation.to_str().unwrap()]);
    }

    /// Adds a record; its id.
    fn add(&self, group: &str, text: &str) -> String {
        let out = self.ok(&[
            "record",
            "add",
            "--identity",
            &self.id,
            "--group",
            group,
            "--type",
            RECORD_TYPE,
            "--data",
            text,
        ]);
        out.lines().next().unwrap().to_owned()
    }

    /// `group connect`, running.
    fn connect(&self, group: &str) -> Running {
        let on = Running::start(self.cmd(&["group", "connect", "--identity", &self.id, "--group", group]));
        on.expect("listening", |l| l.starts_with("listening ").then_some(()));
        on
    }

    /// The data of every record it holds (empty while the group is not ready).
    fn data(&self, group: &str) -> Vec<String> {
        let out = self.cmd(&["--json", "record", "list", "--identity", &self.id, "--group", group]).output().unwrap();
        if !out.status.success() {
            return Vec::new();
        }
        let all: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut data: Vec<String> =
            all.as_array().unwrap().iter().map(|r| r["data"].as_str().unwrap().to_owned()).collect();
        data.sort();
        data
    }

    /// Waits until a registration of `group` is heard on this host's link.
    fn hears(&self, group: &str) {
        until("the group's registration heard on the link", common::WAIT, || {
            self.cmd(&["pnrp", "resolve", "--cloud", "LinkLocal_", group, "--timeout", "1s"])
                .output()
                .unwrap()
                .status
                .success()
        });
    }

    /// The members present on its host's presence.
    fn present(&self, group: &str) -> Vec<String> {
        let present = self.json(&["group", "members", "--identity", &self.id, "--group", group, "--present"]);
        present.as_array().unwrap().iter().map(|m| m["peer_name"].as_str().unwrap().to_owned()).collect()
    }
}

/// Alice and Bob on two hosts, `<prefix>a` and `<prefix>b`, joined by a switch (returned: it
/// lives as long as the link).
fn two_hosts(tmp: &Path, prefix: &str) -> Option<(Host, Host, Netns)> {
    let a = Host::new(&format!("{prefix}a"), tmp, "alice")?;
    let b = Host::new(&format!("{prefix}b"), tmp, "bob")?;
    let switch = Netns::create(&format!("{prefix}s"))?;
    switch.bridge("sw");
    switch.attach("sw", "pa", &a.ns, "va", &["fe80::a/64"]);
    switch.attach("sw", "pb", &b.ns, "vb", &["fe80::b/64"]);
    Some((a, b, switch))
}

#[test]
fn two_hosts_find_each_other_on_the_link_and_replicate_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((a, b, _switch)) = two_hosts(tmp.path(), "cn") else { return };
    let group = a.create("chat");
    a.admit(&group, &b, tmp.path());
    for n in 0..5 {
        a.add(&group, &format!("a{n}"));
    }

    let _on_a = a.connect(&group);
    // A's registration of the group is on the link (multicast DNS probes its names for most of
    // a second first): from now on a member that connects finds A already online.
    b.hears(&group);
    let started = Instant::now();
    let on_b = Running::start(b.cmd(&["group", "connect", "--identity", &b.id, "--group", &group]));
    let ((), listening) = on_b.expect_at("B listening", |l| l.starts_with("listening ").then_some(()));
    let ((), linked) =
        on_b.expect_at("B finds A on the link", |l| (l == format!("member connected {}", a.id)).then_some(()));
    eprintln!(
        "B: first neighbour (found by multicast DNS) {:?} after B's presence listened, {:?} after its process started",
        linked - listening,
        linked - started
    );
    let everything: Vec<String> = (0..5).map(|n| format!("a{n}")).collect();
    until("B ready with every record", common::WAIT, || b.data(&group) == everything);

    a.add(&group, "a-live");
    let crossed = until("A's record on B", Duration::from_secs(1), || b.data(&group).len() == 6);
    b.add(&group, "b-live");
    let back = until("B's record on A", Duration::from_secs(1), || a.data(&group).len() == 7);
    eprintln!("live records crossed in {crossed:?} and {back:?} (each includes a CLI process polling)");
    for (host, other) in [(&a, &b), (&b, &a)] {
        let status = host.json(&["group", "status", "--identity", &host.id, "--group", &group]);
        assert_eq!((status["status"].as_str(), status["ready"].as_bool()), (Some("connected"), Some(true)), "{status}");
        assert!(host.present(&group).contains(&other.id), "{} sees {:?}", host.id, host.present(&group));
    }
}

/// The type of the data B sends.
const DATA_TYPE: &str = "6368a7d1-5e1f-4c2b-9a11-3b7e520c4401";

#[test]
fn data_on_a_direct_connection_reaches_every_process_of_the_receiving_host() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((a, b, _switch)) = two_hosts(tmp.path(), "dc") else { return };
    let group = a.create("direct");
    a.admit(&group, &b, tmp.path());

    let watch = |host: &Host| {
        let w = Running::start(host.cmd(&["group", "watch", "--identity", &host.id, "--group", &group]));
        w.expect("watching", |l| l.starts_with("ready ").then_some(()));
        w
    };
    let (a1, a2) = (watch(&a), watch(&a));
    let a_json = Running::start(a.cmd(&["--json", "group", "watch", "--identity", &a.id, "--group", &group]));
    a_json.expect("watching (JSON)", |l| l.contains("\"ready\"").then_some(()));
    let _on_a = a.connect(&group);
    b.hears(&group);
    let on_b = b.connect(&group);
    on_b.expect("B links to A", |l| (l == format!("member connected {}", a.id)).then_some(()));
    let b1 = watch(&b);

    // Sending to oneself and on a connection nobody opened: refused with their codes.
    let refused = |args: &[&str], code: &str| {
        let out = b.cmd(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && stderr.contains(code), "{args:?}: {stderr}");
    };
    let send = ["group", "send", "--identity", &b.id, "--group", &group, "--type", DATA_TYPE, "--data", "hi"];
    refused(&[&send[..], &["--to", &b.id]].concat(), "PEER_E_CONNECT_SELF");
    refused(&[&send[..], &["--connection", "1099511700000"]].concat(), "PEER_E_CONNECTION_NOT_FOUND");

    // B sends from a process of its own; B's presence (the `group connect` process) carries it.
    let text = "hello from B over a direct connection";
    let out = b.ok(&[&send[..8], &["--data", text, "--to", &a.id]].concat());
    assert_eq!(out.trim(), format!("sent {} {}", text.len(), a.id));

    let data_line = format!("data {} {DATA_TYPE} {}", b.id, text.len());
    for (name, w, peer) in
        [("A's first watcher", &a1, &b.id), ("A's second watcher", &a2, &b.id), ("B's watcher", &b1, &a.id)]
    {
        let up = w.expect(&format!("{name}: connected"), |l| {
            let words: Vec<&str> = l.split(' ').collect();
            (words.len() == 5 && words[..2] == ["direct", "connected"] && words[3] == peer.as_str())
                .then(|| words[2].to_owned())
        });
        if !std::ptr::eq(w, &b1) {
            // Data goes to the receiving host only, on the connection that came up.
            w.expect(&format!("{name}: the data"), |l| (l == data_line).then_some(()));
        }
        w.expect(&format!("{name}: closed"), |l| {
            l.starts_with(&format!("direct disconnected {up} {peer}")).then_some(())
        });
    }
    // With --json, the data itself, in base64, on the connection that came up and went.
    let json_of = |l: &str| serde_json::from_str::<Value>(l).unwrap();
    let up = a_json.expect("JSON: connected", |l| {
        let e = json_of(l);
        (e["event"] == "direct_connection" && e["status"] == "connected").then(|| e["id"].as_u64().unwrap())
    });
    let data = a_json.expect("JSON: the data", |l| {
        let e = json_of(l);
        (e["event"] == "incoming_data").then_some(e)
    });
    assert_eq!((data["connection"].as_u64(), data["peer_name"].as_str()), (Some(up), Some(b.id.as_str())), "{data}");
    assert_eq!((data["type"].as_str(), data["length"].as_u64()), (Some(DATA_TYPE), Some(text.len() as u64)), "{data}");
    let sent = base64::engine::general_purpose::STANDARD.decode(data["data"].as_str().unwrap()).unwrap();
    assert_eq!(sent, text.as_bytes());

    // Nothing direct is left on either host.
    for host in [&a, &b] {
        let connections = host.json(&["group", "connections", "--identity", &host.id, "--group", &group]);
        let direct = connections.as_array().unwrap().iter().filter(|c| c["direct"].as_bool() == Some(true)).count();
        assert_eq!(direct, 0, "{connections}");
    }
}

#[test]
fn two_sides_of_a_partition_converge_when_it_heals() {
    let tmp = tempfile::tempdir().unwrap();
    let hosts: Vec<Host> = ["pa1", "pa2", "pb1", "pb2"]
        .iter()
        .zip(["alice", "amy", "bob", "bea"])
        .map_while(|(label, name)| Host::new(label, tmp.path(), name))
        .collect();
    let Some(switch) = Netns::create("pns") else { return };
    if hosts.len() < 4 {
        return;
    }
    switch.bridge("left");
    switch.bridge("right");
    switch.veth("tl", "tr");
    switch.plug("tl", "left");
    switch.plug("tr", "right");
    for (n, host) in hosts.iter().enumerate() {
        let bridge = if n < 2 { "left" } else { "right" };
        switch.attach(bridge, &format!("p{n}"), &host.ns, "eth0", &[&format!("fe80::{}/64", n + 1)]);
    }
    let (left, right) = hosts.split_at(2);
    let group = hosts[0].create("split");
    for other in &hosts[1..] {
        hosts[0].admit(&group, other, tmp.path());
    }
    hosts[0].add(&group, "before");
    let _running: Vec<Running> = hosts.iter().map(|h| h.connect(&group)).collect();
    for host in &hosts {
        until("everyone present", common::WAIT, || {
            let present = host.present(&group);
            hosts.iter().all(|h| present.contains(&h.id))
        });
    }

    // Partition: the trunk goes; each side loses the other once its links time out.
    switch.unplug("tl");
    let lost = Instant::now();
    for (side, other) in [(left, right), (right, left)] {
        for host in side {
            until("the other side lost", LOSS, || {
                let present = host.present(&group);
                other.iter().all(|o| !present.contains(&o.id))
            });
        }
    }
    eprintln!("each side lost the other {:?} after the trunk went", lost.elapsed());
    for n in 0..3 {
        left[n % 2].add(&group, &format!("left-{n}"));
        right[n % 2].add(&group, &format!("right-{n}"));
    }
    // Within a side, records still cross.
    until("left side agrees", common::WAIT, || {
        left[1].data(&group).iter().filter(|d| d.starts_with("left")).count() == 3
    });
    assert!(left[0].data(&group).iter().all(|d| !d.starts_with("right")), "nothing crossed the partition");

    // Heal: everyone converges on everything, nothing lost.
    switch.plug("tl", "left");
    let healed = Instant::now();
    let mut want: Vec<String> = ["before".to_owned()]
        .into_iter()
        .chain((0..3).flat_map(|n| [format!("left-{n}"), format!("right-{n}")]))
        .collect();
    want.sort();
    for host in &hosts {
        until("converged", HEAL, || host.data(&group) == want);
    }
    eprintln!("all four converged {:?} after the trunk came back", healed.elapsed());
}

/// When `running` printed the arrival of record `id`.
fn arrival(running: &Running, id: &str) -> Instant {
    running.expect_at(&format!("record {id}"), |l| (l.starts_with("record added ") && l.contains(id)).then_some(())).1
}

#[test]
fn a_record_added_on_one_of_twenty_hosts_reaches_all() {
    const HOSTS: usize = 20;
    const RECORDS: usize = 5;
    let tmp = tempfile::tempdir().unwrap();
    let Some(switch) = Netns::create("fsw") else { return };
    switch.bridge("flood");
    // Identities are RSA keys made by each host's CLI: made side by side.
    let hosts: Vec<Host> = std::thread::scope(|s| {
        let made: Vec<_> = (0..HOSTS)
            .map(|n| {
                let tmp = tmp.path();
                s.spawn(move || Host::new(&format!("f{n}"), tmp, &format!("m{n}")))
            })
            .collect();
        made.into_iter().map_while(|h| h.join().unwrap()).collect()
    });
    if hosts.len() < HOSTS {
        return;
    }
    for (n, host) in hosts.iter().enumerate() {
        switch.attach("flood", &format!("f{n}"), &host.ns, "eth0", &[&format!("fe80::{}/64", n + 1)]);
    }
    let group = hosts[0].create("flood");
    for other in &hosts[1..] {
        hosts[0].admit(&group, other, tmp.path());
    }
    let before = hosts[0].add(&group, "before");
    let running: Vec<Running> = hosts.iter().map(|h| h.connect(&group)).collect();
    // Every member became ready with the record added before anyone connected.
    for on in &running[1..] {
        arrival(on, &before);
    }
    let mut spread = Vec::new();
    for k in 0..RECORDS {
        let from = (k * 7) % HOSTS;
        let id = hosts[from].add(&group, &format!("flood-{k}"));
        // The moment the adding host's own presence process saw the record in the store.
        let added = arrival(&running[from], &id);
        for (n, on) in running.iter().enumerate() {
            if n != from {
                spread.push(arrival(on, &id).saturating_duration_since(added));
            }
        }
    }
    spread.sort();
    eprintln!(
        "{} arrivals on {HOSTS} hosts: median {:?}, 90th percentile {:?}, slowest {:?}",
        spread.len(),
        spread[spread.len() / 2],
        spread[spread.len() * 9 / 10],
        spread[spread.len() - 1]
    );
    for host in &hosts {
        assert_eq!(host.data(&group).len(), RECORDS + 1, "{} holds every record", host.id);
    }
}
