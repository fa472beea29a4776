//! Two hosts over a veth link (issue 14): Alice's presence in one network namespace, Bob's in
//! another, IPv6 link-local addresses on the two ends of a veth pair (MTU 1500, unlike
//! loopback's 65,536). Bob, who joined and holds nothing, dials Alice, whose group holds `n`
//! records she signed (the fixtures of `sync_store`), until his presence reports `Ready` with
//! every record verified and stored: at 10,000 and 100,000 records (1,000 with `--test`).
//! Targets: a joined member of a 10,000-record group ready < 2 s; 100,000 differing records
//! between two hosts over a veth link < 5 s.
//!
//! One process holds both presences: each is started on a thread that first entered its
//! namespace, so that its UDP socket belongs there. Needs root (namespaces); without it the
//! benchmark says it skipped, and under `CI=true` it fails.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::Path;
use std::time::Instant;

use peergroup_benches::{fixture, fresh_copy, next_event, open, start_presence, test_mode};
use peergroup_identity::PeerName;
use peergroup_net::{Presence, PresenceEvent};
use peergroup_testkit::Netns;

/// `who`'s presence, listening on every address of namespace `ns`.
fn presence_in(ns: &Netns, rt: &tokio::runtime::Runtime, root: &Path, who: &PeerName, group: &PeerName) -> Presence {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter().expect("enter the namespace");
            let _guard = rt.enter();
            start_presence(root, who, group, "[::]:0")
        })
        .join()
        .expect("the presence's thread")
    })
}

fn ready(n: usize, rt: &tokio::runtime::Runtime, hosts: &(Netns, Netns)) {
    let fx = fixture(n);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let (a, b) = hosts;
    let alice = presence_in(a, rt, &root, &fx.alice, &fx.group);
    let bob = presence_in(b, rt, &root, &fx.bob, &fx.group);
    let port = alice.local_addr().expect("addr").port();
    let scope = u32::try_from(b.index("vb")).expect("interface index");
    let to_alice = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa), port, 0, scope));
    let mut events = bob.subscribe();
    let start = Instant::now();
    bob.dial(to_alice);
    rt.block_on(next_event(&mut events, |e| *e == PresenceEvent::Ready));
    let took = start.elapsed();
    let held = open(&root, &fx.bob, &fx.group).records(None).expect("records").len();
    assert_eq!(held, n, "Bob holds every record");
    println!(
        "veth_ready/{n}: {:.3} s from dial to Ready ({:.1} us/record), over a veth link between two namespaces",
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    // Criterion's own arguments (`--bench`, `--test`) are not ours to parse.
    let Some(a) = Netns::create("bva") else { return };
    let Some(b) = Netns::create("bvb") else { return };
    a.veth_to(&b, "va", "vb");
    a.up_with("va", &["fe80::a/64"]);
    b.up_with("vb", &["fe80::b/64"]);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let hosts = (a, b);
    let sizes: &[usize] = if test_mode() { &[1_000] } else { &[10_000, 100_000] };
    for &n in sizes {
        ready(n, &rt, &hosts);
    }
}
