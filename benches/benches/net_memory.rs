//! The memory of a presence (issue 14): Alice's presence of a group holding `n` records, in a
//! process of its own (this binary, run again as a child), idle and while it serves a whole
//! sync to Bob, who joined and holds nothing (his presence in this process). The child prints
//! its resident memory (`VmRSS`) once listening, and its peak (`VmHWM`) once Bob is ready.
//! At 1,000,000 records (1,000 with `--test`). Target: a presence of a 1,000,000-record group
//! < 200 MB resident.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use peergroup_benches::{fixture, fresh_copy, next_event, open, start_presence, status_mib, test_mode};
use peergroup_identity::PeerName;
use peergroup_net::PresenceEvent;

/// The environment variable that makes this binary Alice's process: `ROOT GROUP ALICE`.
const CHILD: &str = "NET_MEMORY_ALICE";

/// Alice's process: her presence, its port, its memory idle, then its peak once told.
/// Where the presences listen.
const LOOPBACK: &str = "127.0.0.1:0";

fn alice(args: &str) {
    let mut parts = args.split(' ');
    let mut next = || parts.next().expect("ROOT GROUP ALICE");
    let root = std::path::PathBuf::from(next());
    let group = PeerName::parse(next()).expect("group");
    let who = PeerName::parse(next()).expect("alice");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let presence = start_presence(&root, &who, &group, LOOPBACK);
    println!("port {}", presence.local_addr().expect("addr").port());
    println!("idle {:.0} anonymous {:.0}", status_mib("VmRSS:"), status_mib("RssAnon:"));
    // The peak of anonymous memory (the heap: what the presence holds), sampled: `VmHWM`
    // also counts the database's pages that SQLite reads through a memory map, which the
    // kernel reclaims at will.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut peak = 0f64;
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                peak = peak.max(status_mib("RssAnon:"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    // Bob's process writes a line when he is ready.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("stdin");
    stop.store(true, std::sync::atomic::Ordering::Release);
    let anonymous_peak = sampler.join().expect("sampler");
    println!(
        "after {:.0} MiB, peak {:.0} MiB resident; anonymous peak {anonymous_peak:.0} MiB",
        status_mib("VmRSS:"),
        status_mib("VmHWM:")
    );
    drop(presence);
}

fn main() {
    if let Ok(args) = std::env::var(CHILD) {
        alice(&args);
        return;
    }
    let n = if test_mode() { 1_000 } else { 1_000_000 };
    let fx = fixture(n);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let mut child = Command::new(std::env::current_exe().expect("this binary"))
        .env(CHILD, format!("{} {} {}", root.display(), fx.group, fx.alice))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("Alice's process");
    let mut from_alice = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut said = |what: &str| -> String {
        let line = from_alice.next().expect("a line from Alice's process").expect("readable");
        line.strip_prefix(what).expect("the expected line").trim().to_owned()
    };
    let port: u16 = said("port").parse().expect("port");
    let idle = said("idle");

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let bob = start_presence(&root, &fx.bob, &fx.group, LOOPBACK);
    let mut events = bob.subscribe();
    let start = Instant::now();
    bob.dial(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    rt.block_on(next_event(&mut events, |e| *e == PresenceEvent::Ready));
    let took = start.elapsed();
    assert_eq!(open(&root, &fx.bob, &fx.group).records(None).expect("records").len(), n, "Bob holds every record");
    let mut to_alice = child.stdin.take().expect("stdin");
    writeln!(to_alice, "ready").expect("tell Alice");
    let after = said("after");
    child.wait().expect("Alice's process ends");
    println!(
        "presence_memory/{n}: Alice's process idle: resident {idle} MiB; serving a whole sync of {n} \
         records to Bob ({:.1} s): {after}",
        took.as_secs_f64()
    );
}
