//! The change feed: bounded by the writers that append to it, and a watcher that fell behind
//! the pruned part reports a resync instead of skipping changes silently.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use common::setup;
use peergroup_state::{Change, FEED_PRUNE_EVERY, FEED_RETAINED, STATUS_WRITES_RETAINED};

fn feed_rows(db: &peergroup_state::GroupDb) -> (u64, u64, u64) {
    db.with_connection(|c| {
        c.query_row("SELECT count(*), min(seq), max(seq) FROM changes", [], |r| {
            Ok((
                r.get::<_, i64>(0)?.unsigned_abs(),
                r.get::<_, i64>(1)?.unsigned_abs(),
                r.get::<_, i64>(2)?.unsigned_abs(),
            ))
        })
        .unwrap()
    })
}

#[test]
fn writers_keep_the_feed_bounded_and_sequence_numbers_growing() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let total = FEED_RETAINED + 3 * FEED_PRUNE_EVERY;
    let mut highest = 0;
    for i in 0..total {
        db.put_status_blob("network-status", format!("{i}").as_bytes()).unwrap();
        let (count, _, max) = feed_rows(&db);
        assert!(count <= FEED_RETAINED + FEED_PRUNE_EVERY, "{count} rows after {i} writes");
        assert!(max > highest, "sequence numbers never go back");
        highest = max;
    }
    let (count, min, max) = feed_rows(&db);
    assert!(count >= FEED_RETAINED, "the newest {FEED_RETAINED} are kept, {count} are");
    assert_eq!(max - min + 1, count, "only the oldest are removed");
    // Pruning everything by hand still keeps the newest, so numbering goes on from it.
    db.prune_feed(0).unwrap();
    assert_eq!(feed_rows(&db), (1, max, max));
    db.put_status_blob("network-status", b"next").unwrap();
    assert_eq!(feed_rows(&db).2, max + 1);
}

#[test]
fn a_watcher_that_fell_behind_the_pruned_feed_reports_a_resync_then_goes_on() {
    let s = setup();
    let writer = s.store.open(&s.group).unwrap();
    let reader = s.store.open(&s.group).unwrap();
    let mut watcher = reader.watch().unwrap();
    let start = watcher.last_seq();
    for i in 0..5 {
        writer.put_status_blob("network-status", &[i]).unwrap();
    }
    writer.prune_feed(2).unwrap();
    let changes: Vec<_> = watcher.poll().unwrap().into_iter().map(|e| e.change).collect();
    assert_eq!(changes, vec![Change::Resync { missed: 3 }, Change::StatusChanged, Change::StatusChanged]);
    assert_eq!(watcher.last_seq(), start + 5);
    // Caught up: the next change comes as usual, with no resync.
    writer.put_status_blob("network-status", b"again").unwrap();
    let changes: Vec<_> = watcher.poll().unwrap().into_iter().map(|e| e.change).collect();
    assert_eq!(changes, vec![Change::StatusChanged]);
    // A watcher started before the oldest change kept learns it too.
    let mut late = reader.watch_from(0).unwrap();
    let first = late.poll().unwrap().into_iter().next().unwrap();
    assert!(matches!(first.change, Change::Resync { missed } if missed == start + 3), "{first:?}");
}

#[test]
fn a_watcher_in_step_never_reports_a_resync() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mut watcher = db.watch().unwrap();
    for i in 0..3 * FEED_PRUNE_EVERY {
        db.put_status_blob("network-status", format!("{i}").as_bytes()).unwrap();
        for ev in watcher.poll().unwrap() {
            assert_eq!(ev.change, Change::StatusChanged);
        }
    }
    assert_eq!(db.get_blob("network-status").unwrap().unwrap(), format!("{}", 3 * FEED_PRUNE_EVERY - 1).as_bytes());
}

#[test]
fn a_watcher_that_comes_to_several_status_writes_at_once_reads_each_value() {
    let s = setup();
    let writer = s.store.open(&s.group).unwrap();
    let reader = s.store.open(&s.group).unwrap();
    let mut watcher = reader.watch().unwrap();
    // A connection that came and went between two reads of the current value.
    writer.put_status_blob("network-status", b"connected").unwrap();
    writer.put_status_blob("intent", b"online").unwrap();
    writer.put_status_blob("network-status", b"disconnected").unwrap();
    let seen: Vec<(String, Vec<u8>)> = watcher
        .poll()
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.change, Change::StatusChanged);
            watcher.status_written(e.seq).unwrap().unwrap()
        })
        .collect();
    let written = |name: &str, value: &[u8]| (name.to_owned(), value.to_vec());
    assert_eq!(
        seen,
        [
            written("network-status", b"connected"),
            written("intent", b"online"),
            written("network-status", b"disconnected")
        ]
    );
    assert_eq!(watcher.blob("network-status").unwrap().as_deref(), Some(&b"disconnected"[..]));

    // Only the newest are kept: a reader further behind reads the current value instead.
    let first = watcher.last_seq() + 1;
    for i in 0..STATUS_WRITES_RETAINED + 10 {
        writer.put_status_blob("network-status", format!("{i}").as_bytes()).unwrap();
    }
    let events = watcher.poll().unwrap();
    assert_eq!(watcher.status_written(first).unwrap(), None);
    let kept = events.iter().filter(|e| watcher.status_written(e.seq).unwrap().is_some()).count();
    assert_eq!(kept as u64, STATUS_WRITES_RETAINED);
    let last = events.last().unwrap().seq;
    let newest = format!("{}", STATUS_WRITES_RETAINED + 9);
    assert_eq!(watcher.status_written(last).unwrap(), Some(written("network-status", newest.as_bytes())));
    let rows: i64 =
        writer.with_connection(|c| c.query_row("SELECT count(*) FROM status_writes", [], |r| r.get(0)).unwrap());
    assert_eq!(rows.unsigned_abs(), STATUS_WRITES_RETAINED);
}
