//! Data sent from a process that does not hold the group's presence (issue 13, the facade):
//! Alice's presence runs in a child process (this binary again); in this process Bob's group is
//! online and linked to it, and a second handle of Alice's group, which does not hold her
//! presence, opens a direct connection to Bob and sends on it. Each send is a request in the
//! group database's mailbox (one SQLite transaction), taken by the child, which sends it; Bob's
//! presence stores arrivals in his inbox, from which his handle's events come.
//!
//! - `send_call`: the time one `Group::send_data` of 1 KiB takes in the sending process (the
//!   connection looked up in the published view, the request written), median.
//! - `between_processes_1KiB`: 1 KiB messages sent back to back (at most 512 not yet received:
//!   Bob's inbox keeps the newest 1,024), from the first send until Bob's handle received the
//!   last `IncomingData` event, per second. Compare with
//!   `net_direct`'s `direct_1KiB` (the network layer alone, from the holder's own process).
//!
//! With `--test` (CI), a few.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peergroup::{ConnectionStatus, Context, DnsConfig, Event, EventStream, EventType, Keystore};
use peergroup_benches::{fixture, fresh_copy, test_mode};

const CHILD: &str = "PEERGROUP_BENCH_DIRECT_CHILD";
const TYPE: uuid::Uuid = uuid::Uuid::from_u128(0xda7a);
/// How long any one wait may take before the benchmark gives up.
const WAIT: Duration = Duration::from_secs(60);

fn context(root: &Path) -> Context {
    Context::with_parts(
        Keystore::open(root).expect("keystore"),
        DnsConfig::default(),
        Arc::new(peergroup::testing::host_with_link_locals(1)),
    )
}

/// The next event `want` picks, within [`WAIT`].
fn next<T>(events: &mut EventStream, mut want: impl FnMut(&Event) -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        let left = WAIT.checked_sub(start.elapsed()).expect("no such event in time");
        let event = events.recv_timeout(left).expect("events").expect("no such event in time");
        if let Some(found) = want(&event) {
            return found;
        }
    }
}

/// The child: holds Alice's presence, prints its port, and stays until its stdin closes.
fn child(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [root, alice, group] = parts[..] else { panic!("bad spec {spec}") };
    let ctx = context(Path::new(root));
    let g = ctx.open_group_blocking(alice, group, None).expect("open");
    g.connect_by_address(&[]).expect("online");
    let start = Instant::now();
    let port = loop {
        if let Some(port) = g.network().expect("status").port {
            break port;
        }
        assert!(start.elapsed() < WAIT, "not listening in time");
        std::thread::sleep(Duration::from_millis(5));
    };
    println!("port {port}");
    let _ = std::io::stdin().lines().count();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        return child(&spec);
    }
    let quick = test_mode();
    let fx = fixture(0);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let (alice, bob, group) = (fx.alice.to_string(), fx.bob.to_string(), fx.group.to_string());

    let mut holder = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD, format!("{}|{alice}|{group}", root.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let line = BufReader::new(holder.stdout.take().expect("stdout")).lines().next().expect("a line").expect("line");
    let port: u16 = line.strip_prefix("port ").and_then(|p| p.parse().ok()).expect("the child's port");

    let ctx = context(&root);
    let b = ctx.open_group_blocking(&bob, &group, None).expect("Bob's group");
    let mut arrivals = b.events(&[EventType::IncomingData]).expect("events");
    b.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port))]).expect("Bob online");
    let a = ctx.open_group_blocking(&alice, &group, None).expect("Alice's group, not holding it");
    let mut a_events = a.events(&[EventType::DirectConnection]).expect("events");
    let start = Instant::now();
    while a.connections().expect("connections").is_empty() {
        assert!(start.elapsed() < WAIT, "Alice's presence never linked to Bob");
        std::thread::sleep(Duration::from_millis(5));
    }
    let id = a.open_direct_connection(&fx.bob, None).expect("open");
    next(&mut a_events, |e| match e {
        Event::DirectConnection { status: ConnectionStatus::Connected, connection, .. } if connection.id == id => {
            Some(())
        }
        Event::DirectConnection { status, connection, reason } if connection.id == id => {
            panic!("the direct connection did not come up: {status:?} {reason:?}")
        }
        _ => None,
    });

    let (rounds, n) = if quick { (1, 50) } else { (3, 20_000) };
    let body = vec![7u8; 1024];
    let mut calls = Vec::with_capacity(rounds * n);
    let mut totals = Vec::new();
    // At most this many messages in flight: Bob's inbox keeps the newest 1,024, and a reader
    // further behind would lose messages (a `Resync`), as the inbox is meant to.
    const IN_FLIGHT: usize = 512;
    let arrived = |e: &Event| match e {
        Event::IncomingData { .. } => Some(()),
        Event::Resync => panic!("Bob's reader fell behind the inbox"),
        _ => None,
    };
    for _ in 0..rounds {
        let start = Instant::now();
        let mut received = 0;
        for sent in 0..n {
            while sent - received >= IN_FLIGHT {
                next(&mut arrivals, arrived);
                received += 1;
            }
            let call = Instant::now();
            a.send_data(id, TYPE, &body).expect("send");
            calls.push(call.elapsed());
            while let Some(e) = arrivals.try_recv() {
                if arrived(&e.expect("events")).is_some() {
                    received += 1;
                }
            }
        }
        while received < n {
            next(&mut arrivals, arrived);
            received += 1;
        }
        totals.push(start.elapsed());
    }
    let call = median(calls);
    let total = median(totals);
    println!(
        "send_call: median {:.3} ms (1 KiB, from a process that does not hold the presence)",
        call.as_secs_f64() * 1e3
    );
    println!(
        "between_processes_1KiB: {:.0} messages/s (median of {rounds} x {n}, until Bob's handle had every event)",
        n as f64 / total.as_secs_f64()
    );
    a.close_direct_connection(id).expect("close");
    drop(holder.stdin.take());
    let _ = holder.wait();
}
