//! Presences over loopback (issue 14): connect by address to the first neighbour, and a joined
//! member's group ready with every record.
//!
//! - `presence_first_neighbour_by_address` (criterion): Alice's presence listens; each
//!   iteration starts Bob's presence (endpoint, database handles, flood, feed follower), dials
//!   Alice by address, and stops at `NeighborConnected`: what `connect_by_address` does before
//!   the first neighbour shows. Target: < 20 ms median.
//! - Printed after: Bob, who joined and holds nothing, dials Alice, whose group holds `n`
//!   records she signed (the fixtures of `sync_store`, real databases on disk), until his
//!   presence reports `Ready` with every record stored and verified: at 1,000, 10,000 and
//!   100,000 records (1,000 alone with `--test`). Target: 10,000 records ready < 2 s. The
//!   process's resident memory (both presences) is printed after each.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::time::{Duration, Instant};

use criterion::Criterion;
use peergroup_benches::{fixture, fresh_copy, next_event, open, start_presence, status_mib, test_mode};
use peergroup_net::PresenceEvent;

/// Where the presences listen.
const LOOPBACK: &str = "127.0.0.1:0";

fn first_neighbour(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let fx = fixture(0);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let alice = start_presence(&root, &fx.alice, &fx.group, LOOPBACK);
    let addr = alice.local_addr().expect("addr");
    c.bench_function("presence_first_neighbour_by_address", |b| {
        b.iter(|| {
            let bob = start_presence(&root, &fx.bob, &fx.group, LOOPBACK);
            let mut events = bob.subscribe();
            bob.dial(addr);
            rt.block_on(next_event(&mut events, |e| matches!(e, PresenceEvent::NeighborConnected(_))));
            bob.close();
        });
    });
}

fn ready(n: usize, rt: &tokio::runtime::Runtime) {
    let fx = fixture(n);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let before = status_mib("VmRSS:");
    let alice = start_presence(&root, &fx.alice, &fx.group, LOOPBACK);
    let bob = start_presence(&root, &fx.bob, &fx.group, LOOPBACK);
    let mut events = bob.subscribe();
    let start = Instant::now();
    bob.dial(alice.local_addr().expect("addr"));
    rt.block_on(next_event(&mut events, |e| *e == PresenceEvent::Ready));
    let took = start.elapsed();
    let held = open(&root, &fx.bob, &fx.group).records(None).expect("records").len();
    assert_eq!(held, n, "Bob holds every record");
    println!(
        "presence_ready/{n}: {:.3} s from dial to Ready ({:.1} us/record); resident {:.0} MiB \
         (both presences; {:.0} MiB before they started)",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64,
        status_mib("VmRSS:"),
        before
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let mut c = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5)).configure_from_args();
    first_neighbour(&mut c, &rt);
    c.final_summary();
    let sizes: &[usize] = if test_mode() { &[1_000] } else { &[1_000, 10_000, 100_000] };
    for &n in sizes {
        ready(n, &rt);
    }
}
