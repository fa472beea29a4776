//! `group connect|status|members|connections` between processes on loopback: the creator's
//! home and a member's home, each a separate `peergroup` process; and three processes of one
//! home, the one that holds the presence killed with SIGKILL and another taking it over.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Running, json, listening_port, ok, pair, run, until};
use serde_json::Value;

const WAIT: Duration = common::WAIT;
const RECORD_TYPE: &str = "00000000-0000-0000-0000-00000000c0de";

fn add(home: &Path, id: &str, group: &str, text: &str) {
    ok(home, &["record", "add", "--identity", id, "--group", group, "--type", RECORD_TYPE, "--data", text]);
}

fn records(home: &Path, id: &str, group: &str) -> usize {
    let out = run(home, &["--json", "record", "list", "--identity", id, "--group", group]);
    if !out.status.success() {
        return 0; // not ready yet
    }
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().len()
}

#[test]
fn a_member_connects_to_the_creator_and_records_flow_between_processes() {
    let p = pair();
    for n in 0..5 {
        add(&p.alice, &p.alice_id, &p.group, &format!("before {n}"));
    }
    let alice = Running::spawn(&p.alice, &["group", "connect", "--identity", &p.alice_id, "--group", &p.group]);
    alice.expect("connecting", |l| (l == format!("connecting {}", p.group)).then_some(()));
    let port = listening_port(&alice);
    let status = json(&p.alice, &["group", "status", "--identity", &p.alice_id, "--group", &p.group]);
    assert_eq!((status["status"].as_str(), status["listening"].as_bool()), (Some("listening"), Some(true)));
    assert_eq!(status["port"].as_u64(), Some(u64::from(port)));

    let address = format!("127.0.0.1:{port}");
    let bob = Running::spawn(
        &p.bob,
        &["--json", "group", "connect", "--identity", &p.bob_id, "--group", &p.group, "--address", &address],
    );
    let event: Value = bob.expect("member connected", |l| {
        let v: Value = serde_json::from_str(l).unwrap();
        (v["event"] == "member_changed" && v["change"] == "connected").then_some(v)
    });
    assert_eq!(event["peer_name"], p.alice_id.as_str());
    until("Bob has every record", WAIT, || records(&p.bob, &p.bob_id, &p.group) == 5);
    // Alice hears of Bob twice, in either order: his link, and his member entry, which her
    // database did not hold (he joined with an invitation she issued offline).
    let (mut connected, mut joined) = (false, false);
    alice.expect("Alice hears of Bob", |l| {
        connected |= l == format!("member connected {}", p.bob_id);
        joined |= l == format!("member joined {}", p.bob_id);
        (connected && joined).then_some(())
    });

    // A record added by another process of either home crosses.
    add(&p.alice, &p.alice_id, &p.group, "from alice");
    until("Alice's record at Bob", WAIT, || records(&p.bob, &p.bob_id, &p.group) == 6);
    add(&p.bob, &p.bob_id, &p.group, "from bob");
    until("Bob's record at Alice", WAIT, || records(&p.alice, &p.alice_id, &p.group) == 7);

    for (home, id, other) in [(&p.alice, &p.alice_id, &p.bob_id), (&p.bob, &p.bob_id, &p.alice_id)] {
        let status = json(home, &["group", "status", "--identity", id, "--group", &p.group]);
        assert_eq!(status["status"], "connected", "{status}");
        assert_eq!((status["connections"].as_u64(), status["ready"].as_bool()), (Some(1), Some(true)));
        let present = json(home, &["group", "members", "--identity", id, "--group", &p.group, "--present"]);
        let names: Vec<&str> = present.as_array().unwrap().iter().map(|m| m["peer_name"].as_str().unwrap()).collect();
        assert!(names.contains(&other.as_str()) && names.contains(&id.as_str()), "{names:?}");
        let connections = json(home, &["group", "connections", "--identity", id, "--group", &p.group]);
        assert_eq!(connections[0]["peer_name"], other.as_str());
    }
    let text = ok(&p.alice, &["group", "status", "--identity", &p.alice_id, "--group", &p.group]);
    assert!(text.starts_with("connected\nconnections: 1\nport: "), "{text}");

    // Interrupted, Bob's presence goes; Alice hears it, and Bob's home reads offline.
    let mut bob = bob;
    bob.interrupt();
    alice.expect("Bob gone", |l| (l == format!("member disconnected {}", p.bob_id)).then_some(()));
    let status = json(&p.bob, &["group", "status", "--identity", &p.bob_id, "--group", &p.group]);
    assert_eq!(status["status"], "offline");
}

#[test]
fn another_process_takes_the_presence_over_after_a_sigkill() {
    let p = pair();
    let watch =
        |home: &Path, id: &str| Running::spawn(home, &["group", "watch", "--identity", id, "--group", &p.group]);
    let first = watch(&p.alice, &p.alice_id);
    let second = watch(&p.alice, &p.alice_id);
    for w in [&first, &second] {
        w.expect("watching", |l| l.starts_with("ready ").then_some(()));
    }
    let mut holder = Running::spawn(&p.alice, &["group", "connect", "--identity", &p.alice_id, "--group", &p.group]);
    let port = listening_port(&holder);
    // The other processes report connected: they hear the status change.
    for w in [&first, &second] {
        w.expect("status listening", |l| (l == "status 0x1").then_some(()));
    }
    let bob = Running::spawn(
        &p.bob,
        &["group", "connect", "--identity", &p.bob_id, "--group", &p.group, "--address", &format!("127.0.0.1:{port}")],
    );
    bob.expect("linked", |l| (l == format!("member connected {}", p.alice_id)).then_some(()));
    let before = json(&p.alice, &["group", "status", "--identity", &p.alice_id, "--group", &p.group]);
    assert_eq!(before["presence_pid"].as_u64(), Some(u64::from(holder.child.id())));

    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    let killed = Instant::now();
    // One of the watchers takes over: a new holder, online, linked to Bob again.
    let mut after = Value::Null;
    // The status names its writer: until the new holder wrote its own, a reader may still see
    // the old holder's (the lock is taken before the new presence has started).
    let old_pid = u64::from(holder.child.id());
    until("a new holder", WAIT, || {
        after = json(&p.alice, &["group", "status", "--identity", &p.alice_id, "--group", &p.group]);
        after["status"] == "connected" && after["presence_pid"].as_u64() != Some(old_pid)
    });
    let took = killed.elapsed();
    let pid = after["presence_pid"].as_u64().unwrap();
    assert!([first.child.id(), second.child.id()].map(u64::from).contains(&pid), "{after}");
    eprintln!("presence taken over and linked again {took:?} after the SIGKILL");
    // Records still replicate, both ways.
    add(&p.alice, &p.alice_id, &p.group, "after the takeover");
    until("Alice's record at Bob", WAIT, || records(&p.bob, &p.bob_id, &p.group) == 1);
    add(&p.bob, &p.bob_id, &p.group, "to the new holder");
    until("Bob's record at Alice", WAIT, || records(&p.alice, &p.alice_id, &p.group) == 2);
    drop(bob);
}
