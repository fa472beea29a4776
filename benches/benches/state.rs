//! Group state layer: open a group database holding 0, 10,000 and 1,000,000 records; add a
//! signed record next to the bare RSA signature; search 100,000 records by one attribute;
//! change-feed latency between two processes.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use peergroup_benches::{cached_fixture, test_mode};
use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_state::{
    Attribute, Attributes, Durability, GroupDb, GroupProperties, GroupStore, NewRecord, Record, SCHEMA_VERSION,
    Timestamp,
};
use uuid::Uuid;

const CHILD_ENV: &str = "PG_STATE_BENCH_CHILD";
const RECORD_TYPE: Uuid = Uuid::from_u128(0x5eed);
const CATEGORIES: usize = 1000;

fn group_name() -> PeerName {
    PeerName::parse(&format!("{}.bench", "ab".repeat(20))).expect("group name")
}

fn far_future() -> Timestamp {
    // Fixtures are cached across runs: give them ten years.
    Timestamp::now().saturating_add(Duration::from_secs(10 * 365 * 86_400))
}

/// A keystore root with one identity and one group holding `n` records (each with a string
/// attribute `category`, one of 1,000 values, and an int attribute `n`), built once and
/// cached under `target/bench-fixtures/`. Rows share one real signature: the bulk path stores
/// them without re-signing, since signing a million records would take longer than the run.
fn fixture(n: usize) -> (PathBuf, Identity, GroupStore) {
    // The schema version in the name: a fixture of an older schema is never reused.
    let dir = cached_fixture(&format!("state-v{SCHEMA_VERSION}-{n}"), |root| {
        let keystore = Keystore::open(root).expect("keystore");
        let me = keystore.create_with_key("bench", None, &testing::key(0)).expect("identity");
        let store = GroupStore::new(&keystore, me.peer_name()).expect("store");
        let props = GroupProperties::new(group_name(), me.peer_name().clone(), "Bench");
        let db = store.create(&props, |_| Ok(())).expect("group");
        let template = db
            .add_record(
                &me,
                NewRecord {
                    record_type: RECORD_TYPE,
                    attributes: Attributes::empty(),
                    expires: far_future(),
                    data: vec![0u8; 100],
                },
            )
            .expect("template record");
        db.delete_record(&me, template.id).expect("template removed");
        let batch = 20_000;
        let mut i = 0;
        while i < n {
            let rows: Vec<Record> = (i..(i + batch).min(n))
                .map(|k| Record {
                    id: Uuid::from_u128(k as u128 + 1),
                    attributes: Attributes::new(vec![
                        Attribute::string("category", &format!("cat{}", k % CATEGORIES)),
                        Attribute::int("n", k as i64),
                    ])
                    .expect("attributes"),
                    version: 1,
                    flags: 0,
                    ..template.clone()
                })
                .collect();
            db.bulk_insert_unchecked(&rows).expect("bulk insert");
            i += batch;
        }
        db.with_connection(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")).expect("checkpoint");
    });
    let root = dir.join("home");
    let keystore = Keystore::open(&root).expect("keystore");
    let me = keystore.get(keystore.list().expect("identities")[0].peer_name()).expect("identity");
    let store = GroupStore::new(&keystore, me.peer_name()).expect("store");
    (root, me, store)
}

fn open(c: &mut Criterion) {
    let sizes: &[usize] = if test_mode() { &[0, 1_000] } else { &[0, 10_000, 1_000_000] };
    let mut group = c.benchmark_group("state_open");
    for &n in sizes {
        let name = group_name();
        // What PeerGroupOpen costs in storage: open, schema check, properties row, one read.
        // The fixture is looked up inside, so that a filtered-out size is never built.
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            let (_root, _me, store) = fixture(n);
            b.iter(|| {
                let db = store.open(black_box(&name)).expect("open");
                black_box(db.properties().expect("properties"));
            })
        });
    }
    group.finish();
}

/// The record every add benchmark adds: a string and an int attribute, 100 bytes of data.
fn new_record() -> NewRecord {
    NewRecord {
        record_type: RECORD_TYPE,
        attributes: Attributes::new(vec![Attribute::string("category", "cat1"), Attribute::int("n", 7)])
            .expect("attributes"),
        expires: far_future(),
        data: vec![0u8; 100],
    }
}

/// A fresh keystore (kept while the temporary folder lives) with one identity and its empty
/// group, opened with the default durability.
fn empty_group() -> (tempfile::TempDir, Identity, GroupStore, GroupDb) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let keystore = Keystore::open(tmp.path().join("home")).expect("keystore");
    let me = keystore.create_with_key("bench", None, &testing::key(0)).expect("identity");
    let store = GroupStore::new(&keystore, me.peer_name()).expect("store");
    let db =
        store.create(&GroupProperties::new(group_name(), me.peer_name().clone(), "Bench"), |_| Ok(())).expect("group");
    (tmp, me, store, db)
}

fn add(c: &mut Criterion) {
    let (_tmp, me, store, db) = empty_group();
    let new = new_record;
    // The bare signature over a message of the size of a record's signed encoding.
    let sample = db.add_record(&me, new()).expect("record");
    let message = sample.signed_bytes();
    // `db` has the default durability (Normal); `full` flushes every commit.
    let full = store.clone().with_durability(Durability::Full).open(&group_name()).expect("open");
    let mut group = c.benchmark_group("state_add");
    group.bench_function("rsa_sign_bare", |b| b.iter(|| black_box(me.sign(black_box(&message)).expect("sign"))));
    group.bench_function("add_record_signed/durability_normal", |b| {
        b.iter(|| black_box(db.add_record(&me, new()).expect("add")))
    });
    group.bench_function("add_record_signed/durability_full", |b| {
        b.iter(|| black_box(full.add_record(&me, new()).expect("add")))
    });
    group.finish();
}

fn search(c: &mut Criterion) {
    let n = if test_mode() { 1_000 } else { 100_000 };
    let mut group = c.benchmark_group("state_search");
    let by_string = r#"<peersearch><clause attrib="category" type="string">cat42</clause></peersearch>"#;
    let by_range = r#"<peersearch><clause attrib="n" type="int" compare="less">100</clause></peersearch>"#;
    for (label, q, hits) in [("string_equal", by_string, n / CATEGORIES), ("int_less", by_range, 100)] {
        group.bench_with_input(BenchmarkId::new(label, n), &q, |b, q| {
            let (_root, _me, store) = fixture(n);
            let db = store.open(&group_name()).expect("open");
            b.iter(|| {
                let found = db.search(black_box(q)).expect("search");
                assert_eq!(found.len(), hits);
                black_box(found)
            })
        });
    }
    group.finish();
}

/// The child of the change-feed benchmark: watches the group and writes one byte to stdout
/// for every change it sees.
fn child(root: &Path) {
    let keystore = Keystore::open(root).expect("keystore");
    let me = keystore.get(keystore.list().expect("identities")[0].peer_name()).expect("identity");
    let store = GroupStore::new(&keystore, me.peer_name()).expect("store");
    let db = store.open(&group_name()).expect("open");
    let mut watcher = db.watch().expect("watch");
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("flush");
    loop {
        match watcher.recv_timeout(Duration::from_secs(30)).expect("watch") {
            Some(_) => {
                if out.write_all(b"!").and_then(|()| out.flush()).is_err() {
                    return;
                }
            }
            None => return,
        }
    }
}

fn feed(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path().join("home");
    let keystore = Keystore::open(&root).expect("keystore");
    let me = keystore.create_with_key("bench", None, &testing::key(0)).expect("identity");
    let store = GroupStore::new(&keystore, me.peer_name()).expect("store");
    let db =
        store.create(&GroupProperties::new(group_name(), me.peer_name().clone(), "Bench"), |_| Ok(())).expect("group");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env(CHILD_ENV, &root)
        .stdout(Stdio::piped())
        .spawn()
        .expect("child");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("ready");
    let mut props = db.properties().expect("properties");
    let mut group = c.benchmark_group("state_feed");
    group.sample_size(20);
    // From the commit returning in this process to the watcher of another process seeing it.
    group.bench_function("commit_to_other_process", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                props.comment = format!("change {i}");
                db.set_properties(&me, &props).expect("commit");
                let start = Instant::now();
                let mut byte = [0u8; 1];
                stdout.read_exact(&mut byte).expect("notification");
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
    let _ = child.kill();
    let _ = child.wait();
}

/// The add-to-signature ratio measured in alternating blocks (sign 500, add 500, sixteen
/// times) on one handle. Criterion measures the bare signature and the add in windows tens of
/// seconds apart, and on a shared machine the speed drifts between windows (the add, with its
/// system calls, more than the signature); alternating blocks compare like with like.
fn paired_ratio() {
    let (_tmp, me, _store, db) = empty_group();
    let message = db.add_record(&me, new_record()).expect("record").signed_bytes();
    let (block, rounds) = (500u32, 16u32);
    let (mut bare, mut add) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..block {
            black_box(me.sign(black_box(&message)).expect("sign"));
        }
        bare += start.elapsed();
        let start = Instant::now();
        for _ in 0..block {
            black_box(db.add_record(&me, new_record()).expect("add"));
        }
        add += start.elapsed();
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(block * rounds);
    println!(
        "state_add/paired: bare signature {:.1} µs, add (durability normal) {:.1} µs, ratio {:.3}",
        per(bare),
        per(add),
        add.as_secs_f64() / bare.as_secs_f64()
    );
}

/// Whether the command line's benchmark filter (if any) selects `name`.
fn selected(name: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str()))
}

fn main() {
    if let Some(root) = std::env::var_os(CHILD_ENV) {
        child(Path::new(&root));
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    open(&mut c);
    add(&mut c);
    search(&mut c);
    feed(&mut c);
    c.final_summary();
    if !test_mode() && selected("state_add/paired") {
        paired_ratio();
    }
}
