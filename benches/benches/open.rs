//! The facade: `open` end to end (warm, in process) with the group at 0 and 1,000,000 records
//! and with 1 and 1,000 groups for the identity; close; event delivery between processes.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkId, Criterion, criterion_group};
use peergroup::DnsConfig;
use peergroup::{Attribute, Attributes, Context, EventType, Keystore, NewGroup, NewRecord, Record, Timestamp};
use peergroup_benches::{fixture_dir, test_mode};
use peergroup_state::MembershipStore;

fn context(root: &Path) -> Context {
    Context::with_parts(
        Keystore::open(root).expect("keystore"),
        DnsConfig::default(),
        Arc::new(peergroup::testing::host_with_link_locals(1)),
    )
}

/// A keystore with identity `alice`, `groups` groups of hers, and `records` records in the
/// first one. Built once per size under `target/bench-fixtures/` (a million records take a
/// while), then reused. Returns the root, the identity and the first group.
fn fixture(groups: usize, records: usize) -> (PathBuf, String, String) {
    // The schema version in the name: a fixture of an older schema is never reused.
    let dir = fixture_dir(&format!("open-v{}-{groups}g-{records}r", peergroup_state::SCHEMA_VERSION));
    let done = dir.join("done");
    if let Ok(names) = std::fs::read_to_string(&done) {
        let mut it = names.lines().map(str::to_owned);
        if let (Some(id), Some(group)) = (it.next(), it.next()) {
            return (dir.join("home"), id, group);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("fixture dir");
    let root = dir.join("home");
    let keystore = Keystore::open(&root).expect("keystore");
    let alice = keystore.create_with_key("alice", Some("Alice"), &peergroup::testing_key(0)).expect("identity");
    let store = MembershipStore::for_keystore(&keystore);
    let mut first = None;
    for i in 0..groups {
        // One group key for all: each classifier makes another group peer name and folder.
        let db = store
            .create_group_with_key(
                &alice,
                &NewGroup::new(format!("g{i}"), ""),
                peergroup::testing_key(1),
                SystemTime::now(),
            )
            .expect("group");
        if first.is_none() {
            // Records as a replica would hold them: one real signed record, copied under new ids.
            let template = db
                .add_record(
                    &alice,
                    NewRecord {
                        record_type: uuid::Uuid::from_u128(1),
                        attributes: Attributes::new(vec![Attribute::string("topic", "bench")]).expect("attributes"),
                        expires: Timestamp::now().saturating_add(Duration::from_secs(10 * 365 * 86_400)),
                        data: vec![7; 100],
                    },
                )
                .expect("record");
            let mut batch: Vec<Record> = Vec::with_capacity(10_000);
            let mut added = 1;
            while added < records {
                batch.clear();
                for _ in 0..(records - added).min(10_000) {
                    let mut r = template.clone();
                    r.id = uuid::Uuid::new_v4();
                    batch.push(r);
                }
                db.bulk_insert_unchecked(&batch).expect("bulk insert");
                added += batch.len();
            }
            first = Some(db.group_peer_name().to_string());
        }
    }
    let (id, group) = (alice.peer_name().to_string(), first.expect("at least one group"));
    std::fs::write(&done, format!("{id}\n{group}\n")).expect("fixture marker");
    (root, id, group)
}

fn open(c: &mut Criterion) {
    let (records, groups): (&[usize], &[usize]) =
        if test_mode() { (&[0, 1_000], &[1, 10]) } else { (&[0, 1_000_000], &[1, 1_000]) };
    let mut by_records = c.benchmark_group("open_records");
    for &n in records {
        let (root, id, group) = fixture(1, n.max(1));
        let ctx = context(&root);
        drop(ctx.open_group_blocking(&id, &group, None).expect("warm-up open"));
        by_records.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(ctx.open_group_blocking(&id, &group, None).expect("open")))
        });
    }
    by_records.finish();
    let mut by_groups = c.benchmark_group("open_groups");
    for &n in groups {
        let (root, id, group) = fixture(n, 1);
        let ctx = context(&root);
        drop(ctx.open_group_blocking(&id, &group, None).expect("warm-up open"));
        by_groups.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(ctx.open_group_blocking(&id, &group, None).expect("open")))
        });
    }
    by_groups.finish();
}

fn close(c: &mut Criterion) {
    let (root, id, group) = fixture(1, 1);
    let ctx = context(&root);
    c.bench_function("close", |b| {
        b.iter_batched(
            || ctx.open_group_blocking(&id, &group, None).expect("open"),
            |g| g.close(),
            criterion::BatchSize::SmallInput,
        )
    });
}

const CHILD: &str = "PEERGROUP_BENCH_EVENT_CHILD";

/// The other process: opens the group, registers for record events, says `ready`, then
/// prints one line per event until its input closes.
fn event_child(spec: &str) {
    let mut parts = spec.split('|');
    let (root, id, group) = (parts.next().expect("root"), parts.next().expect("id"), parts.next().expect("group"));
    let ctx = context(Path::new(root));
    let g = ctx.open_group_blocking(id, group, None).expect("child open");
    let mut events = g.events(&[EventType::RecordChanged]).expect("events");
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    loop {
        match events.recv_timeout(Duration::from_secs(30)).expect("event") {
            Some(_) => {
                writeln!(out, "event").expect("stdout");
                out.flush().expect("stdout");
            }
            None => return,
        }
    }
}

fn event_latency(c: &mut Criterion) {
    let (root, id, group) = fixture(1, 1);
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD, format!("{}|{id}|{group}", root.display()))
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let mut lines = BufReader::new(child.stdout.take().expect("child stdout")).lines();
    assert_eq!(lines.next().expect("child line").expect("child line"), "ready");
    let ctx = context(&root);
    let g = ctx.open_group_blocking(&id, &group, None).expect("open");
    let record = || NewRecord {
        record_type: uuid::Uuid::from_u128(2),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: b"ping".to_vec(),
    };
    let mut latency = c.benchmark_group("event_latency");
    latency.sample_size(20);
    latency.bench_function("between_processes", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                g.add_record(record()).expect("add");
                lines.next().expect("event line").expect("event line");
                total += start.elapsed();
            }
            total
        })
    });
    latency.finish();
    let _ = child.kill();
    let _ = child.wait();
}

criterion_group!(benches, open, close, event_latency);

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        event_child(&spec);
        return;
    }
    benches();
    criterion::Criterion::default().configure_from_args().final_summary();
}
