//! The memory of a presence (issue 14): Alice's presence of a group holding `n` records, in a
//! process of its own (this binary, run again as a child), idle and while it serves a whole
//! sync to Bob, who joined and holds nothing (his presence in this process). The child prints
//! its resident memory (`VmRSS`) once listening, and its peak (`VmHWM`) once Bob is ready.
//! At 1,000,000 records (1,000 with `--test`). Target: a presence of a 1,000,000-record group
//! < 200 MB resident.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use peergroup_benches::{fixture, fresh_copy, next_event, open, start_presence, status_mib, test_mode};
use peergroup_identity::PeerName;
use peergroup_net::PresenceEvent;

/// Counts the bytes allocated and not freed, and their peak: what the process holds, apart
/// from what the allocator keeps of freed memory (which the resident figures include).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

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
    println!(
        "idle {:.0} anonymous {:.0} MiB, heap {:.0}",
        status_mib("VmRSS:"),
        status_mib("RssAnon:"),
        mib(LIVE.load(Ordering::Relaxed))
    );
    PEAK.store(LIVE.load(Ordering::Relaxed), Ordering::Relaxed);
    // SQLite allocates through the C library, past the counting allocator: its own peak.
    // SAFETY: a plain query of SQLite's counters, callable at any time.
    unsafe { rusqlite::ffi::sqlite3_memory_highwater(1) };
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
        "after {:.0} MiB, peak {:.0} MiB resident; anonymous peak {anonymous_peak:.0} MiB; heap peak {:.0} MiB, \
         SQLite's peak {:.0} MiB",
        status_mib("VmRSS:"),
        status_mib("VmHWM:"),
        mib(PEAK.load(Ordering::Relaxed)),
        // SAFETY: as above.
        mib(usize::try_from(unsafe { rusqlite::ffi::sqlite3_memory_highwater(0) }).unwrap_or(0))
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
