//! One feed reader per group per process: 100 registrations over 10 handles of one group cost
//! one thread and one database connection, and the reader stops with the last handle.
//!
//! Alone in its binary: it counts the threads and descriptors of the whole process, which
//! other tests running beside it would change.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use peergroup::DnsConfig;
use peergroup::testing::host_with_link_locals;
use peergroup::{Attributes, Context, Event, EventType, NewGroup, NewRecord, Timestamp, testing_key};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once the kernel has reaped threads that were joined: `join` returns when a
/// thread has run its last instruction (the kernel clears its id), a moment before the kernel
/// removes it from `/proc/self/task`. Waits at most 2 s for the count to reach `expected`.
fn threads_once_reaped(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    loop {
        let now = threads();
        if now == expected || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::yield_now();
    }
}

/// Descriptors of this process open on the group's database or its WAL (each SQLite
/// connection holds one of each).
fn database_fds(db_dir: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|target| target.parent() == Some(db_dir) && target.to_string_lossy().contains(".db"))
        .filter(|target| !target.to_string_lossy().ends_with("-shm"))
        .count()
}

#[test]
fn a_hundred_registrations_share_one_reader_thread_and_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("home");
    let ctx = Context::with_parts(
        peergroup::Keystore::open(&root).unwrap(),
        DnsConfig::default(),
        Arc::new(host_with_link_locals(1)),
    );
    let alice = ctx.keystore().create_with_key("alice", None, &testing_key(0)).unwrap().peer_name().to_string();
    let group = ctx.create_group(&alice, &NewGroup::new("chat", "Chat")).unwrap().to_string();
    let handles: Vec<_> = (0..10).map(|_| ctx.open_group_blocking(&alice, &group, None).unwrap()).collect();
    let groups_dir = root.join("groups");
    let db_dir = walk_to_db_dir(&groups_dir);

    let (threads_before, fds_before) = (threads(), database_fds(&db_dir));
    assert!(fds_before >= 2, "the handles' own connections: {fds_before}");
    let mut streams = vec![handles[0].events(&[EventType::RecordChanged]).unwrap()];
    let (threads_one, fds_one) = (threads(), database_fds(&db_dir));
    assert_eq!(threads_one, threads_before + 1, "the first registration starts the reader");
    assert_eq!(fds_one, fds_before + 2, "the reader's one connection");
    for i in 1..100 {
        streams.push(handles[i % handles.len()].events(&[EventType::RecordChanged]).unwrap());
    }
    assert_eq!(threads(), threads_one, "99 more registrations, no more threads");
    assert_eq!(database_fds(&db_dir), fds_one, "99 more registrations, no more connections");

    // Every registration hears of a change, once.
    let record = handles[3]
        .add_record(NewRecord {
            record_type: uuid::Uuid::from_u128(5),
            attributes: Attributes::empty(),
            expires: Timestamp::now().saturating_add(Duration::from_secs(600)),
            data: b"to all".to_vec(),
        })
        .unwrap();
    for stream in &mut streams {
        match stream.recv_timeout(Duration::from_secs(20)).unwrap() {
            Some(Event::RecordChanged { id, .. }) => assert_eq!(id, record.id),
            other => panic!("{other:?}"),
        }
        assert_eq!(stream.try_recv().map(|r| r.unwrap()), None);
    }

    // The reader stops with the last handle of the group, and its registrations end.
    drop(handles);
    assert_eq!(threads_once_reaped(threads_before), threads_before, "the reader stopped with the last handle");
    assert_eq!(database_fds(&db_dir), 0);
    assert!(streams.iter().all(peergroup::EventStream::is_ended));
}

/// The one group folder under `groups/<identity>/`.
fn walk_to_db_dir(groups: &Path) -> std::path::PathBuf {
    let identity = std::fs::read_dir(groups).unwrap().next().unwrap().unwrap().path();
    let group = std::fs::read_dir(identity)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .unwrap();
    assert!(group.join(peergroup_state::DB_FILE).exists());
    group
}
