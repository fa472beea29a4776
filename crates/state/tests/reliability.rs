//! Reliability with real separate processes (this test binary re-executed): eight writers at
//! once, a writer killed with SIGKILL mid-stream, a full disk and a read-only database.
//!
//! A `child_*` test is an ignored child-process entry point: its parent runs it with
//! `--ignored --exact child_x --nocapture` and talks to it through its stdin and stdout.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use common::*;
use peergroup_state::{Attribute, Attributes, Change, ChangeEvent, RecordUpdate, StateError};
use uuid::Uuid;

const ROOT_ENV: &str = "PG_STATE_ROOT";
const INDEX_ENV: &str = "PG_STATE_INDEX";
const FROM_ENV: &str = "PG_STATE_FROM";
const OUT_ENV: &str = "PG_STATE_OUT";

const WRITERS: usize = 8;
const OPS_PER_WRITER: usize = 150;
const KILL_ROUNDS: usize = 5;

fn spawn(name: &str, envs: &[(&str, String)]) -> Child {
    let mut cmd = peergroup_testkit::child_test(name);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Reads lines until one starts with `marker`; returns its rest. Panics at end of output.
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, marker: &str) -> String {
    for line in lines.by_ref() {
        let line = line.unwrap();
        // libtest prints "test child_x ... " without a newline before the child's output.
        if let Some(at) = line.find(marker) {
            return line[at + marker.len()..].trim().to_owned();
        }
    }
    panic!("child ended before printing {marker}");
}

/// A tiny deterministic generator (xorshift) so each child's operations are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// What a writer expects of one of its records at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expect {
    version: u32,
    data: Vec<u8>,
    deleted: bool,
}

// ------------------------------------------------------------------ eight writers

#[test]
#[ignore = "child-process entry point, run by eight_processes_write_and_watch_the_same_group"]
fn child_writer() {
    peergroup_testkit::child_entry("child_writer", "eight_processes_write_and_watch_the_same_group");
    let root = PathBuf::from(std::env::var(ROOT_ENV).unwrap());
    let index: u64 = std::env::var(INDEX_ENV).unwrap().parse().unwrap();
    let from: u64 = std::env::var(FROM_ENV).unwrap().parse().unwrap();
    let out = PathBuf::from(std::env::var(OUT_ENV).unwrap());
    let (alice, store) = reopen(&root);
    let db = store.open(&group_name()).unwrap();
    let mut watcher = db.watch_from(from).unwrap();
    let mut seen: Vec<ChangeEvent> = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (index + 1).wrapping_mul(0x2545_f491_4f6c_dd1d));
    let mut live: Vec<Uuid> = Vec::new();
    let mut expect: BTreeMap<Uuid, Expect> = BTreeMap::new();
    let (mut adds, mut updates, mut deletes) = (0, 0, 0);
    for op in 0..OPS_PER_WRITER {
        let roll = rng.next() % 100;
        if live.is_empty() || roll < 55 {
            let data = format!("w{index} op{op}").into_bytes();
            let attrs =
                Attributes::new(vec![Attribute::int("writer", index as i64), Attribute::int("op", op as i64)]).unwrap();
            let rec = db.add_record(&alice, new_record(TYPE_A, attrs, &data)).unwrap();
            live.push(rec.id);
            expect.insert(rec.id, Expect { version: 1, data, deleted: false });
            adds += 1;
        } else if roll < 85 {
            let id = live[(rng.next() as usize) % live.len()];
            let data = format!("w{index} op{op} updated").into_bytes();
            let rec = db
                .update_record(
                    &alice,
                    id,
                    RecordUpdate { attributes: Attributes::empty(), expires: in_an_hour(), data: data.clone() },
                )
                .unwrap();
            expect.insert(id, Expect { version: rec.version, data, deleted: false });
            updates += 1;
        } else {
            let id = live.swap_remove((rng.next() as usize) % live.len());
            db.delete_record(&alice, id).unwrap();
            let e = expect.get_mut(&id).unwrap();
            e.version += 1;
            e.data.clear();
            e.deleted = true;
            deletes += 1;
        }
        // Watch while writing, as an application would.
        seen.extend(watcher.poll().unwrap());
    }
    // Straight to the file descriptor: the test harness may capture `println!`.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "PGSTATE-DONE {adds} {updates} {deletes}").unwrap();
    stdout.flush().unwrap();
    drop(stdout);
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let last: u64 = line.trim().parse().unwrap();
    while watcher.last_seq() < last {
        if let Some(ev) = watcher.recv_timeout(Duration::from_secs(30)).unwrap() {
            seen.push(ev);
        } else {
            panic!("watcher of writer {index} stuck at {} < {last}", watcher.last_seq());
        }
    }
    seen.extend(watcher.poll().unwrap());
    let mut text = String::new();
    for (id, e) in &expect {
        text.push_str(&format!("R {id} {} {} {}\n", e.version, e.deleted, String::from_utf8_lossy(&e.data)));
    }
    for ev in &seen {
        text.push_str(&format!("C {} {:?}\n", ev.seq, ev.change));
    }
    std::fs::write(&out, text).unwrap();
}

#[test]
fn eight_processes_write_and_watch_the_same_group() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let from = db.last_seq().unwrap();
    let mut children: Vec<(Child, std::io::Lines<BufReader<ChildStdout>>, PathBuf)> = (0..WRITERS)
        .map(|i| {
            let out = s.tmp.path().join(format!("writer-{i}.txt"));
            let mut child = spawn(
                "child_writer",
                &[
                    (ROOT_ENV, s.root.display().to_string()),
                    (INDEX_ENV, i.to_string()),
                    (FROM_ENV, from.to_string()),
                    (OUT_ENV, out.display().to_string()),
                ],
            );
            let lines = BufReader::new(child.stdout.take().unwrap()).lines();
            (child, lines, out)
        })
        .collect();
    let (mut adds, mut updates, mut deletes) = (0usize, 0usize, 0usize);
    for (_, lines, _) in &mut children {
        let counts: Vec<usize> = wait_for(lines, "PGSTATE-DONE").split(' ').map(|n| n.parse().unwrap()).collect();
        adds += counts[0];
        updates += counts[1];
        deletes += counts[2];
    }
    assert_eq!(adds + updates + deletes, WRITERS * OPS_PER_WRITER);
    // Every writer is done: the feed is complete.
    let last = db.last_seq().unwrap();
    for (child, _, _) in &mut children {
        writeln!(child.stdin.as_mut().unwrap(), "{last}").unwrap();
    }
    for (child, _, _) in &mut children {
        assert!(child.wait().unwrap().success());
    }

    db.integrity_check().unwrap();
    let feed = db.changes_since(from).unwrap();
    let feed_text: Vec<String> = feed.iter().map(|ev| format!("{} {:?}", ev.seq, ev.change)).collect();
    let count = |f: fn(&Change) -> bool| feed.iter().filter(|ev| f(&ev.change)).count();
    assert_eq!(count(|c| matches!(c, Change::RecordAdded { .. })), adds);
    assert_eq!(count(|c| matches!(c, Change::RecordUpdated { .. })), updates);
    assert_eq!(count(|c| matches!(c, Change::RecordDeleted { .. })), deletes);
    assert_eq!(feed.len(), adds + updates + deletes);

    let mut expected: HashMap<Uuid, (u32, bool, String)> = HashMap::new();
    for (_, _, out) in &children {
        let text = std::fs::read_to_string(out).unwrap();
        let mut seen = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("R ") {
                let mut parts = rest.splitn(4, ' ');
                let id: Uuid = parts.next().unwrap().parse().unwrap();
                let version: u32 = parts.next().unwrap().parse().unwrap();
                let deleted: bool = parts.next().unwrap().parse().unwrap();
                let data = parts.next().unwrap_or("").to_owned();
                assert!(expected.insert(id, (version, deleted, data)).is_none());
            } else if let Some(rest) = line.strip_prefix("C ") {
                seen.push(rest.to_owned());
            }
        }
        // Every change of every process, in commit order, exactly once.
        assert_eq!(seen, feed_text, "watcher of {}", out.display());
    }
    // Every change that returned success is there, and nothing else.
    let live = db.records(None).unwrap();
    let live_ids: HashSet<Uuid> = live.iter().map(|r| r.id).collect();
    let want_live: HashSet<Uuid> = expected.iter().filter(|(_, e)| !e.1).map(|(id, _)| *id).collect();
    assert_eq!(live_ids, want_live);
    for r in &live {
        let (version, _, data) = &expected[&r.id];
        assert_eq!((r.version, String::from_utf8_lossy(&r.data).into_owned()), (*version, data.clone()));
        r.verify(s.alice.public_key_der()).unwrap();
    }
    for (id, (version, deleted, _)) in &expected {
        if *deleted {
            let tomb = db.record_or_tombstone(*id).unwrap().unwrap();
            assert!(tomb.is_deleted());
            assert_eq!(tomb.version, *version);
        }
    }
}

// ------------------------------------------------------------------ SIGKILL

#[test]
#[ignore = "child-process entry point, run by a_writer_killed_mid_stream_loses_no_acknowledged_record"]
fn child_killed_writer() {
    peergroup_testkit::child_entry("child_killed_writer", "a_writer_killed_mid_stream_loses_no_acknowledged_record");
    let root = PathBuf::from(std::env::var(ROOT_ENV).unwrap());
    let round: usize = std::env::var(INDEX_ENV).unwrap().parse().unwrap();
    let (alice, store) = reopen(&root);
    let db = store.open(&group_name()).unwrap();
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        // Some records carry a larger payload so that kills land in page writes too.
        let data = vec![(i % 251) as u8; if i % 5 == 0 { 20_000 } else { 100 }];
        let attrs = Attributes::new(vec![Attribute::int("round", round as i64)]).unwrap();
        let rec = db.add_record(&alice, new_record(TYPE_B, attrs, &data)).unwrap();
        writeln!(out, "PGSTATE-ACK {}", rec.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_writer_killed_mid_stream_loses_no_acknowledged_record() {
    let s = setup();
    let mut acked: Vec<Uuid> = Vec::new();
    for round in 0..KILL_ROUNDS {
        let mut child =
            spawn("child_killed_writer", &[(ROOT_ENV, s.root.display().to_string()), (INDEX_ENV, round.to_string())]);
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Kill after a different number of acknowledged adds each round.
        for _ in 0..(15 + 7 * round) {
            acked.push(wait_for(&mut lines, "PGSTATE-ACK").parse().unwrap());
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(!status.success());
        // Acknowledgements written before the kill but not read yet count too.
        for line in lines {
            let line = line.unwrap();
            if let Some(at) = line.find("PGSTATE-ACK") {
                acked.push(line[at + "PGSTATE-ACK".len()..].trim().parse().unwrap());
            }
        }
        let db = s.store.open(&s.group).unwrap();
        db.integrity_check().unwrap();
        let held: HashSet<Uuid> = db.records(Some(TYPE_B)).unwrap().into_iter().map(|r| r.id).collect();
        for id in &acked {
            assert!(held.contains(id), "round {round}: acknowledged record {id} lost");
        }
        // Besides them, at most the one add in flight at each kill may have landed.
        assert!(held.len() <= acked.len() + round + 1, "{} held, {} acknowledged", held.len(), acked.len());
    }
}

// ------------------------------------------------------------------ full disk, read-only

/// Unmounts its folder when dropped, lazily: SQLite keeps a closed connection's descriptor open
/// while another connection of the process holds locks on the same file (closing it would drop
/// their POSIX locks), so a plain `umount` here could fail busy and leave the mount behind.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        run("umount", &["--lazy", self.0.to_str().unwrap()]);
    }
}

fn run(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Fills the database with large records until the write fails; checks that the failing
/// write committed nothing and the database is whole and usable after room is made.
fn fill_until_full(s: &Setup, db: &peergroup_state::GroupDb) {
    let before = db.records(None).unwrap().len();
    let seq_before = db.last_seq().unwrap();
    let mut added = 0;
    let err = loop {
        let attrs = Attributes::new(vec![Attribute::int("i", added as i64)]).unwrap();
        match db.add_record(&s.alice, new_record(TYPE_A, attrs, &vec![7u8; 64 * 1024])) {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
        assert!(added < 10_000, "the disk never filled");
    };
    assert!(matches!(err, StateError::DiskFull { .. }), "{err:?}");
    assert!(added > 0);
    assert_eq!(db.records(None).unwrap().len(), before + added);
    assert_eq!(db.last_seq().unwrap(), seq_before + added as u64);
    db.integrity_check().unwrap();
    // An update that does not fit either leaves the record as it was.
    let victim = db.records(None).unwrap()[0].clone();
    let update = RecordUpdate {
        attributes: victim.attributes.clone(),
        expires: victim.expires,
        data: vec![9u8; 4 * 1024 * 1024],
    };
    assert!(matches!(db.update_record(&s.alice, victim.id, update), Err(StateError::DiskFull { .. })));
    assert_eq!(db.record(victim.id).unwrap(), victim);
}

#[test]
fn a_full_disk_commits_nothing_half_way() {
    // The size limit SQLite enforces itself: works everywhere.
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let pages: i64 = db.with_connection(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0))).unwrap();
    db.with_connection(|c| c.query_row(&format!("PRAGMA max_page_count = {}", pages + 200), [], |_| Ok(()))).unwrap();
    fill_until_full(&s, &db);
}

#[test]
fn a_full_file_system_commits_nothing_half_way() {
    // A real ENOSPC from a small tmpfs. Mounting needs root (CI and developers run as root).
    let s = setup();
    let mnt = s.tmp.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = run("mount", &["-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", mnt.to_str().unwrap()]);
    assert!(mounted || !peergroup_testkit::is_root(), "mounting a tmpfs failed although running as root");
    if !peergroup_testkit::require(
        "a_full_file_system_commits_nothing_half_way",
        mounted,
        "mounting a tmpfs needs root",
    ) {
        return;
    }
    let _guard = Unmount(mnt.clone());
    let keystore = peergroup_identity::Keystore::open(mnt.join("home")).unwrap();
    let alice = keystore.create_with_key("alice", None, &peergroup_identity::testing::key(0)).unwrap();
    let store = peergroup_state::GroupStore::new(&keystore, alice.peer_name()).unwrap();
    let props = peergroup_state::GroupProperties::new(group_name(), alice.peer_name().clone(), "Small");
    let db = store.create(&props, |db| db.put_member(&member_of(&alice))).unwrap();
    let small = Setup { alice, store, keystore, root: mnt.join("home"), group: group_name(), tmp: s.tmp };
    fill_until_full(&small, &db);
    // Room again: writing works and everything is there.
    let victim = db.records(None).unwrap()[0].id;
    db.delete_record(&small.alice, victim).unwrap_or_else(|e| panic!("{e}"));
    db.integrity_check().unwrap();
}

#[test]
fn a_read_only_file_system_is_a_clear_error() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"kept")).unwrap();
    let seq = db.last_seq().unwrap();
    // A read-only bind mount of the whole keystore root (root may write through any mode bits,
    // so chmod would prove nothing).
    let ro_root = s.tmp.path().join("ro");
    std::fs::create_dir(&ro_root).unwrap();
    let bound = run("mount", &["--bind", s.root.to_str().unwrap(), ro_root.to_str().unwrap()]);
    assert!(bound || !peergroup_testkit::is_root(), "bind mount failed although running as root");
    if !peergroup_testkit::require("a_read_only_file_system_is_a_clear_error", bound, "a bind mount needs root") {
        return;
    }
    let _guard = Unmount(ro_root.clone());
    assert!(run("mount", &["-o", "remount,bind,ro", ro_root.to_str().unwrap()]));
    let store = peergroup_state::GroupStore::at_root(&ro_root, s.alice.peer_name()).unwrap();
    let ro = store.open(&s.group).unwrap();
    assert_eq!(ro.record(rec.id).unwrap(), rec);
    let err = ro.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"lost")).unwrap_err();
    assert!(matches!(err, StateError::ReadOnly { ref path } if path.starts_with(&ro_root)), "{err:?}");
    drop(ro);
    assert_eq!(db.last_seq().unwrap(), seq);
    assert_eq!(db.records(None).unwrap(), vec![rec]);
    db.integrity_check().unwrap();
}
