//! The store side of replication (issue 12): a member that holds nothing receives 100,000
//! records signed by another member, in batches of 1,000 items per transaction, each item
//! verified through the trust path before it is stored (`GroupDb::apply_batch`); and listing
//! the versions held for reconciliation (`GroupDb::sync_entries`) at 10,000 and 100,000
//! records. Both databases are real files on disk. Printed after criterion's rows: the same
//! sync timed by phase (`breakdown`), pipelined by hand (`pipelined`), and the whole sync
//! through two `peergroup_sync::Link`s with an `Applier` on each side (`linked`, the figure
//! the target is about), and the same over a real member link (`quic`, QUIC on
//! loopback); `SYNC_STORE_ONLY=linked` runs one of them alone.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use peergroup_benches::{fixture, fresh_copy, open, test_mode};
use peergroup_identity::{Keystore, PeerName};
use peergroup_net::{MemberEndpoint, StoreReplica, sync_over};
use peergroup_state::{GroupDb, MembershipStore, Origin, Record, SyncKind};
use peergroup_sync::{Link, Output, Role as LinkRole};

const BATCH: usize = 1000;

/// Sends everything Alice holds to Bob in batches of [`BATCH`] (reading the entries and the
/// bodies from Alice's database as the protocol would); returns the records stored.
fn sync_all(alice: &GroupDb, bob: &GroupDb) -> usize {
    let entries = alice.sync_entries().expect("entries");
    let origin = Origin::Remote("alice".into());
    let mut stored = 0;
    // Members first, as the protocol sends them, then records.
    let (members, records): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.kind == SyncKind::Member);
    for chunk in [members].iter().chain(records.chunks(BATCH).map(|c| c.to_vec()).collect::<Vec<_>>().iter()) {
        let keys: Vec<(SyncKind, Vec<u8>)> = chunk.iter().map(|e| (e.kind, e.id.clone())).collect();
        let items = alice.sync_items(&keys).expect("items");
        let outcome = bob.apply_batch(&items, &origin).expect("apply");
        assert!(outcome.refused.is_empty(), "refused: {:?}", outcome.refused.first());
        stored += outcome.stored.iter().filter(|e| e.kind == SyncKind::Record).count();
    }
    stored
}

fn bench_apply(c: &mut Criterion) {
    let n = if test_mode() { 1000 } else { 100_000 };
    let f = fixture(n);
    let mut g = c.benchmark_group("sync_store");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(1));
    g.bench_function(BenchmarkId::new("apply_batches_of_1000", n), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let tmp = tempfile::tempdir().expect("tmp");
                let copy = tmp.path().join("home");
                fresh_copy(&f.root, &copy);
                let alice = open(&copy, &f.alice, &f.group);
                let bob = open(&copy, &f.bob, &f.group);
                let start = Instant::now();
                let stored = sync_all(&alice, &bob);
                total += start.elapsed();
                assert_eq!(stored, n);
            }
            total
        })
    });
    g.finish();
}

fn bench_entries(c: &mut Criterion) {
    let sizes: &[usize] = if test_mode() { &[1000] } else { &[10_000, 100_000] };
    let mut g = c.benchmark_group("sync_store_entries");
    g.sample_size(10);
    for &n in sizes {
        let f = fixture(n);
        let alice = open(&f.root, &f.alice, &f.group);
        g.bench_function(BenchmarkId::new("sync_entries", n), |b| {
            b.iter(|| assert!(alice.sync_entries().expect("entries").len() > n))
        });
    }
    g.finish();
}

/// One sync of the whole fixture, timed by phase, printed after the criterion rows: listing
/// the entries, reading the bodies, applying the batches; then the bare signature checks of
/// the same records on one thread (what "verification-bound" means on this machine and load).
fn breakdown() {
    let n = if test_mode() { 1000 } else { 100_000 };
    let f = fixture(n);
    let tmp = tempfile::tempdir().expect("tmp");
    let copy = tmp.path().join("home");
    fresh_copy(&f.root, &copy);
    let alice = open(&copy, &f.alice, &f.group);
    let bob = open(&copy, &f.bob, &f.group);
    let origin = Origin::Remote("alice".into());
    let start = Instant::now();
    let entries = alice.sync_entries().expect("entries");
    let t_entries = start.elapsed();
    let (members, records): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.kind == SyncKind::Member);
    let (mut t_items, mut t_apply, mut t_check) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut bodies = Vec::with_capacity(records.len());
    for chunk in std::iter::once(&members[..]).chain(records.chunks(BATCH)) {
        let keys: Vec<(SyncKind, Vec<u8>)> = chunk.iter().map(|e| (e.kind, e.id.clone())).collect();
        let t = Instant::now();
        let items = alice.sync_items(&keys).expect("items");
        t_items += t.elapsed();
        let t = Instant::now();
        let checked = bob.check_batch(&items).expect("check");
        t_check += t.elapsed();
        let outcome = bob.store_checked(checked, &origin).expect("apply");
        t_apply += t.elapsed();
        assert!(outcome.refused.is_empty());
        bodies.extend(items.into_iter().filter(|i| i.kind == SyncKind::Record).map(|i| i.body));
    }
    let total = start.elapsed();
    let key = alice.member(&f.alice).expect("alice").public_key;
    let decoded: Vec<Record> = bodies.iter().map(|b| Record::decode(b).expect("decode")).collect();
    let t = Instant::now();
    for r in &decoded {
        r.verify(&key).expect("verify");
    }
    let t_verify = t.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "sync_store/breakdown/{n}: total {:.2} s ({:.1} us/record): sync_entries {:.0} ms, sync_items {:.0} ms, \
         apply_batch {:.2} s ({:.1} us/record; check_batch {:.2} s of it); bare signature checks on one thread {:.2} s ({:.1} us/record)",
        total.as_secs_f64(),
        per(total),
        t_entries.as_secs_f64() * 1e3,
        t_items.as_secs_f64() * 1e3,
        t_apply.as_secs_f64(),
        per(t_apply),
        t_check.as_secs_f64(),
        t_verify.as_secs_f64(),
        per(t_verify),
    );
}

/// The whole sync again, pipelined as a driver may do it: one thread checks batch k+1 (on
/// its own handle, so that it never waits for the connection the writer holds) while the
/// other stores batch k.
fn pipelined() {
    let n = if test_mode() { 1000 } else { 100_000 };
    let f = fixture(n);
    let tmp = tempfile::tempdir().expect("tmp");
    let copy = tmp.path().join("home");
    fresh_copy(&f.root, &copy);
    let alice = open(&copy, &f.alice, &f.group);
    let bob = open(&copy, &f.bob, &f.group);
    let checker = open(&copy, &f.bob, &f.group);
    let origin = Origin::Remote("alice".into());
    let start = Instant::now();
    let entries = alice.sync_entries().expect("entries");
    let (members, records): (Vec<_>, Vec<_>) = entries.into_iter().partition(|e| e.kind == SyncKind::Member);
    // Members first, on their own, so that the records' signers are held when they are checked.
    let keys: Vec<(SyncKind, Vec<u8>)> = members.iter().map(|e| (e.kind, e.id.clone())).collect();
    bob.apply_batch(&alice.sync_items(&keys).expect("items"), &origin).expect("members");
    let batches: Vec<Vec<peergroup_state::SyncItem>> = records
        .chunks(BATCH)
        .map(|chunk| {
            let keys: Vec<(SyncKind, Vec<u8>)> = chunk.iter().map(|e| (e.kind, e.id.clone())).collect();
            alice.sync_items(&keys).expect("items")
        })
        .collect();
    let t_items = start.elapsed();
    let stored = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let checker = &checker;
        let batches = &batches;
        s.spawn(move || {
            for items in batches {
                if tx.send(checker.check_batch(items).expect("check")).is_err() {
                    return;
                }
            }
        });
        let mut stored = 0;
        for checked in rx {
            let outcome = bob.store_checked(checked, &origin).expect("store");
            assert!(outcome.refused.is_empty());
            stored += outcome.stored.iter().filter(|e| e.kind == SyncKind::Record).count();
        }
        stored
    });
    assert_eq!(stored, n);
    let total = start.elapsed();
    println!(
        "sync_store/pipelined/{n}: total {:.2} s ({:.1} us/record), of which entries and bodies {:.2} s",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64,
        t_items.as_secs_f64(),
    );
}

/// The whole sync as members will run it: two `peergroup_sync::Link`s over an in-memory
/// link (every message encoded and decoded), each side's store on disk, written while the
/// links go on; Alice holds `n` records Bob lacks. Returns (records Bob stored, messages,
/// bytes).
fn linked_sync(sides: [StoreReplica; 2]) -> (usize, u64, u64) {
    let mut sides = sides;
    let mut links = [Link::new(LinkRole::Initiator, &sides[0]), Link::new(LinkRole::Responder, &sides[1])];
    let (mut messages, mut bytes) = (0u64, 0u64);
    let mut in_flight: [VecDeque<Vec<u8>>; 2] = Default::default();
    loop {
        let mut progressed = false;
        for side in 0..2 {
            while let Some(refused) = sides[side].collect(false).expect("store") {
                links[side].refused(refused).expect("refusals");
                progressed = true;
            }
            while let Some(bytes_in) = in_flight[side].pop_front() {
                links[side].handle_bytes(&sides[side], &bytes_in).expect("message");
                progressed = true;
            }
            // A few outputs per side per turn: the two members run side by side, as they
            // would on two hosts, rather than one reading everything before the other starts.
            for _ in 0..4 {
                let Some(output) = links[side].poll() else { break };
                progressed = true;
                match output {
                    Output::Send(m) => {
                        let encoded = peergroup_sync::wire::encode(&m);
                        messages += 1;
                        bytes += encoded.len() as u64;
                        in_flight[1 - side].push_back(encoded);
                    }
                    Output::NeedItems(keys) => {
                        let items = sides[side].read(&keys).expect("read");
                        links[side].items_read(&sides[side], items).expect("items read");
                    }
                    Output::Apply(items) => {
                        sides[side].submit(items).expect("submit");
                    }
                    Output::Complete => {}
                }
            }
        }
        if !progressed {
            // Nothing to do on the links: wait for a store.
            let Some(side) = (0..2).find(|&s| sides[s].in_flight() > 0) else { break };
            if let Some(refused) = sides[side].collect(true).expect("store") {
                links[side].refused(refused).expect("refusals");
            }
        }
    }
    assert!(links[0].is_complete() && links[1].is_complete(), "the sync completed");
    assert!(sides.iter().all(|s| s.pending() == 0), "no record still waits for its signer");
    assert!(sides.iter().all(|s| s.refused() == 0), "nothing refused");
    let stored = sides[1].count(SyncKind::Record);
    (stored, messages, bytes)
}

/// One timed run of [`linked_sync`] on the largest fixture (printed after criterion's rows).
fn linked() {
    let n = if test_mode() { 1_000 } else { 100_000 };
    let fx = fixture(n);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let side = |who: &PeerName, peer: &str| {
        let (db, checker) = (open(&root, who, &fx.group), open(&root, who, &fx.group));
        StoreReplica::new(db, checker, peer).expect("replica")
    };
    let start = Instant::now();
    // Each member lists what it holds on its own (they are two hosts).
    let sides = std::thread::scope(|s| {
        let alice = s.spawn(|| side(&fx.alice, "bob"));
        let bob = side(&fx.bob, "alice");
        [alice.join().expect("alice's side"), bob]
    });
    let (stored, messages, bytes) = linked_sync(sides);
    let total = start.elapsed();
    assert_eq!(stored, n, "Bob holds every record");
    println!(
        "sync_store/linked/{n}: total {:.2} s ({:.1} us/record), {messages} messages, {:.1} MB",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64,
        bytes as f64 / 1e6,
    );
}

/// The same sync over a real member link: two `MemberEndpoint`s on 127.0.0.1 (QUIC, TLS 1.3,
/// both membership proofs), `peergroup_net::sync_over` on each side. The link is made before
/// the clock starts; the time is the sync alone (listing included, as in `linked`).
fn quic() {
    let n = if test_mode() { 1_000 } else { 100_000 };
    let fx = fixture(n);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let keystore = Keystore::open(&root).expect("keystore");
    let memberships = MembershipStore::open(&root);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let endpoint = |who: &PeerName| {
        let identity = keystore.get(who).expect("identity");
        let membership = memberships.get(who, &fx.group).expect("membership");
        MemberEndpoint::bind("127.0.0.1:0".parse().expect("addr"), &identity, membership).expect("endpoint")
    };
    let (a, b) = (endpoint(&fx.alice), endpoint(&fx.bob));
    let addr = a.local_addr().expect("addr");
    let (to_alice, from_bob) = rt.block_on(async {
        let (out, inc) = tokio::join!(b.connect(addr), a.accept());
        (out.expect("link"), inc.expect("open").expect("accepted"))
    });
    let side = |who: &PeerName, peer: &str| {
        let (db, checker) = (open(&root, who, &fx.group), open(&root, who, &fx.group));
        StoreReplica::new(db, checker, peer).expect("replica")
    };
    let start = Instant::now();
    let (bob_side, alice_side) = std::thread::scope(|s| {
        let alice = s.spawn(|| side(&fx.alice, "bob"));
        let bob = side(&fx.bob, "alice");
        (bob, alice.join().expect("alice's side"))
    });
    let (bob_done, alice_done) = rt.block_on(async {
        tokio::join!(
            sync_over(&to_alice, peergroup_net::Role::Initiator, bob_side),
            sync_over(&from_bob, peergroup_net::Role::Responder, alice_side)
        )
    });
    let total = start.elapsed();
    let (bob_sum, bob_side) = bob_done.expect("Bob's sync");
    let (alice_sum, _) = alice_done.expect("Alice's sync");
    assert_eq!(bob_side.count(SyncKind::Record), n, "Bob holds every record");
    println!(
        "sync_store/quic/{n}: total {:.2} s ({:.1} us/record), {} + {} messages, over QUIC on loopback",
        total.as_secs_f64(),
        total.as_secs_f64() * 1e6 / n as f64,
        bob_sum.messages_sent,
        alice_sum.messages_sent,
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_apply(&mut c);
    bench_entries(&mut c);
    c.final_summary();
    // `SYNC_STORE_ONLY=linked` (or breakdown, pipelined, quic) runs one of the timed syncs alone.
    let only = std::env::var("SYNC_STORE_ONLY").ok();
    let runs: [(&str, fn()); 4] =
        [("breakdown", breakdown), ("pipelined", pipelined), ("linked", linked), ("quic", quic)];
    for (name, run) in runs {
        if only.as_deref().is_none_or(|o| o == name) {
            run();
        }
    }
}
