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
//! Flooding, `H0 … H19 — one bridge`: twenty members find each other on the link; a record
//! added on one reaches all the others (each host's `group connect` prints it as an event, at a
//! moment the test notes), bounded in time; the spread is printed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

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

    /// The members present on its host's presence.
    fn present(&self, group: &str) -> Vec<String> {
        let present = self.json(&["group", "members", "--identity", &self.id, "--group", group, "--present"]);
        present.as_array().unwrap().iter().map(|m| m["peer_name"].as_str().unwrap().to_owned()).collect()
    }
}

#[test]
fn two_hosts_find_each_other_on_the_link_and_replicate_both_ways() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(a) = Host::new("cna", tmp.path(), "alice") else { return };
    let Some(b) = Host::new("cnb", tmp.path(), "bob") else { return };
    let Some(switch) = Netns::create("cns") else { return };
    switch.bridge("sw");
    switch.attach("sw", "pa", &a.ns, "va", &["fe80::a/64"]);
    switch.attach("sw", "pb", &b.ns, "vb", &["fe80::b/64"]);
    let group = a.create("chat");
    a.admit(&group, &b, tmp.path());
    for n in 0..5 {
        a.add(&group, &format!("a{n}"));
    }

    let _on_a = a.connect(&group);
    // A's registration of the group is on the link (multicast DNS probes its names for most of
    // a second first): from now on a member that connects finds A already online.
    until("A's registration heard on B's link", common::WAIT, || {
        b.cmd(&["pnrp", "resolve", "--cloud", "LinkLocal_", &group, "--timeout", "1s"])
            .output()
            .unwrap()
            .status
            .success()
    });
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
