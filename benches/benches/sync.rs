//! Replication (issue 12): range-based set reconciliation between two in-memory indexes
//! (1,000,000 equal entries; 10,000 and 100,000 differing) and the cost of keeping the index
//! current (insert into an index of 10,000, 100,000 and 1,000,000 entries).
//!
//! The same workloads run through the `negentropy` crate (0.5, vector storage, ids = the
//! entries' hashes, no frame limit) for comparison: its fingerprints are recomputed per
//! range from the sorted vector, ours kept incrementally.
//!
//! Each reconciliation also prints its messages and bytes once (`sync_reconcile/...: N
//! messages, B bytes`), the figures `docs/PERFORMANCE.md` records beside the times.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use peergroup_sync::reconcile::{self, Accumulator, SetIndex};
use peergroup_sync::{Entry, ItemKey, ItemKind};

/// The entry of record `n` in version `v` (keys as the protocol makes them: SHA-256).
fn entry(n: u64, v: u8) -> Entry {
    Entry { key: ItemKey::of(ItemKind::Record, &n.to_be_bytes()), digest: [v; 32] }
}

/// Two indexes sharing `common` entries, each with `differ / 2` of its own.
fn pair(common: u64, differ: u64) -> (SetIndex, SetIndex) {
    let mut a = SetIndex::from_entries((0..common).map(|n| entry(n, 1)));
    let mut b = a.clone();
    for n in 0..differ / 2 {
        a.insert(entry(common + n, 1));
        b.insert(entry(common + differ / 2 + n, 1));
    }
    (a, b)
}

fn report(name: &str, a: &SetIndex, b: &SetIndex) {
    let run = reconcile::run_local(a, b);
    let found = run.a.peer_lacks.len() + run.a.we_lack.len() + run.a.differ.len();
    println!("sync_reconcile/{name}: {} messages, {} bytes, {found} differences found", run.messages, run.bytes);
}

fn reconcile_equal(c: &mut Criterion) {
    let (a, b) = pair(1_000_000, 0);
    report("equal_1000000", &a, &b);
    let mut group = c.benchmark_group("sync_reconcile");
    group.bench_function("equal_1000000", |bench| bench.iter(|| black_box(reconcile::run_local(&a, &b))));
    group.finish();
}

fn reconcile_differing(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_reconcile");
    group.sample_size(10);
    for differ in [10_000u64, 100_000] {
        let (a, b) = pair(100_000, differ);
        let name = format!("differ_{differ}_of_{}", 100_000 + differ / 2);
        report(&name, &a, &b);
        group.bench_function(BenchmarkId::from_parameter(name), |bench| {
            bench.iter(|| black_box(reconcile::run_local(&a, &b)))
        });
    }
    group.finish();
}

/// The negentropy storage of an index: one id per entry, its hash.
fn negentropy_storage(index: &SetIndex) -> NegentropyStorageVector {
    let mut storage = NegentropyStorageVector::new();
    for e in index.iter() {
        let h = Accumulator::of(e);
        let mut id = [0u8; 32];
        for (chunk, limb) in id.chunks_exact_mut(8).zip(h.limbs()) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        storage.insert(0, Id::from_slice(&id).expect("32 bytes")).expect("insert");
    }
    storage.seal().expect("seal");
    storage
}

/// One negentropy reconciliation: (messages, bytes, differences found).
fn negentropy_run(a: &NegentropyStorageVector, b: &NegentropyStorageVector) -> (usize, usize, usize) {
    let mut client = Negentropy::borrowed(a, 0).expect("client");
    let mut relay = Negentropy::borrowed(b, 0).expect("relay");
    let mut msg = client.initiate().expect("initiate");
    let (mut messages, mut bytes) = (1, msg.len());
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        let answer = relay.reconcile(&msg).expect("relay");
        messages += 1;
        bytes += answer.len();
        match client.reconcile_with_ids(&answer, &mut have, &mut need).expect("client") {
            Some(next) => {
                messages += 1;
                bytes += next.len();
                msg = next;
            }
            None => return (messages, bytes, have.len() + need.len()),
        }
    }
}

fn negentropy_compare(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_negentropy");
    group.sample_size(10);
    for (name, common, differ) in [
        ("equal_1000000", 1_000_000u64, 0u64),
        ("differ_10000_of_105000", 100_000, 10_000),
        ("differ_100000_of_150000", 100_000, 100_000),
    ] {
        let (a, b) = pair(common, differ);
        let (a, b) = (negentropy_storage(&a), negentropy_storage(&b));
        let (messages, bytes, found) = negentropy_run(&a, &b);
        println!("sync_negentropy/{name}: {messages} messages, {bytes} bytes, {found} differences found");
        group.bench_function(name, |bench| bench.iter(|| black_box(negentropy_run(&a, &b))));
    }
    group.finish();
}

fn index_insert(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync_index_insert");
    for size in [10_000u64, 100_000, 1_000_000] {
        let mut index = SetIndex::from_entries((0..size).map(|n| entry(n, 1)));
        let mut n = size;
        group.bench_function(BenchmarkId::from_parameter(size), |bench| {
            // One insert of a new key, and the removal that keeps the size: both are counted.
            bench.iter(|| {
                let e = entry(n, 1);
                n += 1;
                index.insert(e);
                index.remove(&e.key);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, reconcile_equal, reconcile_differing, index_insert, negentropy_compare);
criterion_main!(benches);
