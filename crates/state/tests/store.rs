//! The group database through its public API, on real SQLite files.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use peergroup_identity::PeerName;
use peergroup_security::SecurityError;
use peergroup_state::{
    Attribute, Attributes, Change, GroupProperties, GroupStore, MAX_RECORD_DATA_LEN, NewRecord, RecordUpdate,
    SCHEMA_VERSION, StateError, Timestamp,
};
use uuid::Uuid;

#[test]
fn groups_are_listed_opened_and_private() {
    let s = setup();
    let list = s.store.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].group_peer_name, s.group);
    assert_eq!(list[0].friendly_name, "Test group");
    let db = s.store.open(&s.group).unwrap();
    assert_eq!(db.group_peer_name(), &s.group);
    assert_eq!(db.identity(), s.alice.peer_name());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(db.dir()), 0o700);
    assert_eq!(mode(db.path()), 0o600);
    // A second group; creating the first again is refused.
    let other = PeerName::parse(&format!("{}.other", "cd".repeat(20))).unwrap();
    let props = GroupProperties::new(other.clone(), s.alice.peer_name().clone(), "Other");
    s.store.create(&props, |_| Ok(())).unwrap();
    let again = GroupProperties::new(s.group.clone(), s.alice.peer_name().clone(), "Again");
    assert!(matches!(s.store.create(&again, |_| Ok(())), Err(StateError::GroupExists { .. })));
    let names: Vec<_> = s.store.list().unwrap().into_iter().map(|p| p.group_peer_name).collect();
    assert_eq!(names, vec![s.group.clone(), other.clone()]);
    // A failing init leaves nothing behind.
    let third = PeerName::parse(&format!("{}.third", "ef".repeat(20))).unwrap();
    let props = GroupProperties::new(third.clone(), s.alice.peer_name().clone(), "Third");
    let err = s.store.create(&props, |_| Err(StateError::InvalidMember { peer_name: "m".into(), reason: "no".into() }));
    assert!(matches!(err, Err(StateError::InvalidMember { .. })));
    assert!(!s.store.exists(&third));
    assert_eq!(std::fs::read_dir(s.store.dir()).unwrap().count(), 2);
    assert!(matches!(s.store.open(&third), Err(StateError::GroupNotFound { .. })));
}

#[test]
fn properties_round_trip_and_bump_version() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mut props = db.properties().unwrap();
    assert_eq!(props.version, 1);
    assert_eq!(props.creator, *s.alice.peer_name());
    props.comment = "about things".into();
    props.flags = peergroup_security::PEER_MEMBER_DATA_OPTIONAL;
    props.password_role = Some(Uuid::from_u128(42));
    let stored = db.set_properties(&s.alice, &props).unwrap();
    assert_eq!(stored.version, 2);
    props.version = 2;
    assert_eq!(s.store.open(&s.group).unwrap().properties().unwrap(), props);
    let mut bad = props.clone();
    bad.friendly_name = "x".repeat(256);
    let invalid = |r| matches!(r, Err(StateError::Security(SecurityError::InvalidGroupProperties { .. })));
    assert!(invalid(db.set_properties(&s.alice, &bad)));
    let mut bad = props.clone();
    bad.group_peer_name = PeerName::parse(&format!("{}.testgroup", "cd".repeat(20))).unwrap();
    assert!(invalid(db.set_properties(&s.alice, &bad)));
    // The cloud is kept as created; the friendly name follows the rules of creation (a
    // control character was refused at creation and accepted here before).
    let mut bad = props.clone();
    bad.cloud_name = "LinkLocal_eth0".into();
    assert!(invalid(db.set_properties(&s.alice, &bad)));
    let mut bad = props.clone();
    bad.friendly_name = "a\u{7}b".into();
    assert!(invalid(db.set_properties(&s.alice, &bad)));
    assert_eq!(db.properties().unwrap().version, 2);
    db.put_blob("grc", b"root certificate").unwrap();
    assert_eq!(db.get_blob("grc").unwrap().as_deref(), Some(&b"root certificate"[..]));
    assert_eq!(db.get_blob("none").unwrap(), None);
}

#[test]
fn members_put_get_list_remove() {
    let s = setup();
    let bob = s.keystore.create_with_key("bob", None, &peergroup_identity::testing::key(1)).unwrap();
    let db = s.store.open(&s.group).unwrap();
    let mut feed = db.watch().unwrap();
    db.put_member(&member_of(&bob)).unwrap();
    assert_eq!(db.member(bob.peer_name()).unwrap(), member_of(&bob));
    assert_eq!(db.members().unwrap().len(), 2);
    // The first entry of a member is a join; putting it again, an update; removing it too.
    db.put_member(&member_of(&bob)).unwrap();
    let name = bob.peer_name().clone();
    let changes: Vec<Change> = feed.poll().unwrap().into_iter().map(|e| e.change).collect();
    assert_eq!(
        changes,
        [Change::MemberJoined { peer_name: name.clone() }, Change::MemberChanged { peer_name: name.clone() }]
    );
    let mut forged = member_of(&bob);
    forged.public_key = s.alice.public_key_der().to_vec();
    assert!(matches!(db.put_member(&forged), Err(StateError::InvalidMember { .. })));
    db.remove_member(bob.peer_name()).unwrap();
    let changes: Vec<Change> = feed.poll().unwrap().into_iter().map(|e| e.change).collect();
    assert_eq!(changes, [Change::MemberChanged { peer_name: name }]);
    assert!(matches!(db.member(bob.peer_name()), Err(StateError::MemberNotFound { .. })));
    assert!(matches!(db.remove_member(bob.peer_name()), Err(StateError::MemberNotFound { .. })));
}

#[test]
fn record_lifecycle() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let attrs =
        Attributes::from_xml(r#"<attributes><attribute name="n" type="int">1</attribute></attributes>"#).unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, attrs, b"one")).unwrap();
    assert_eq!(rec.version, 1);
    assert_eq!(rec.creator, *s.alice.peer_name());
    rec.verify(s.alice.public_key_der()).unwrap();
    let other = db.add_record(&s.alice, new_record(TYPE_B, Attributes::empty(), b"two")).unwrap();
    assert_eq!(db.record(rec.id).unwrap(), rec);
    assert_eq!(db.records(None).unwrap(), vec![rec.clone(), other.clone()]);
    assert_eq!(db.records(Some(TYPE_B)).unwrap(), vec![other.clone()]);

    let later = rec.expires.saturating_add(Duration::from_secs(60));
    let update = RecordUpdate {
        attributes: Attributes::new(vec![Attribute::string("s", "x")]).unwrap(),
        expires: later,
        data: b"one, again".to_vec(),
    };
    let updated = db.update_record(&s.alice, rec.id, update.clone()).unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.created, rec.created);
    assert!(updated.modified > rec.modified);
    assert_eq!(updated.data, b"one, again");
    updated.verify(s.alice.public_key_der()).unwrap();
    assert_eq!(db.record(rec.id).unwrap(), updated);

    let earlier = RecordUpdate { expires: rec.expires, ..update };
    assert!(matches!(db.update_record(&s.alice, rec.id, earlier), Err(StateError::InvalidRecordExpiration { .. })));

    db.delete_record(&s.alice, rec.id).unwrap();
    assert!(matches!(db.record(rec.id), Err(StateError::RecordNotFound { .. })));
    let tomb = db.record_or_tombstone(rec.id).unwrap().unwrap();
    assert!(tomb.is_deleted());
    assert_eq!(tomb.version, 3);
    assert!(tomb.data.is_empty() && tomb.attributes.is_empty());
    tomb.verify(s.alice.public_key_der()).unwrap();
    assert!(matches!(db.delete_record(&s.alice, rec.id), Err(StateError::RecordNotFound { .. })));
    assert_eq!(db.records(None).unwrap(), vec![other]);

    let changes: Vec<Change> = db.changes_since(0).unwrap().into_iter().map(|c| c.change).collect();
    let records: Vec<&Change> =
        changes.iter().filter(|c| !matches!(c, Change::MemberChanged { .. } | Change::MemberJoined { .. })).collect();
    assert_eq!(
        records,
        vec![
            &Change::RecordAdded { id: rec.id, record_type: TYPE_A },
            &Change::RecordAdded { id: other_id(&db), record_type: TYPE_B },
            &Change::RecordUpdated { id: rec.id, record_type: TYPE_A },
            &Change::RecordDeleted { id: rec.id, record_type: TYPE_A },
        ]
    );
}

fn other_id(db: &peergroup_state::GroupDb) -> Uuid {
    db.records(Some(TYPE_B)).unwrap()[0].id
}

#[test]
fn limits_have_precise_errors() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let big = vec![0u8; MAX_RECORD_DATA_LEN + 1];
    assert!(matches!(
        db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), &big)),
        Err(StateError::MaxRecordSizeExceeded { size, max: MAX_RECORD_DATA_LEN, .. }) if size == big.len()
    ));
    let past = NewRecord { expires: Timestamp::now(), ..new_record(TYPE_A, Attributes::empty(), b"") };
    assert!(matches!(db.add_record(&s.alice, past), Err(StateError::InvalidRecordExpiration { .. })));
    assert!(matches!(db.search("<peersearch/>"), Err(StateError::InvalidSearch { .. })));
    assert!(db.records(None).unwrap().is_empty());
}

#[test]
fn expired_records_vanish_from_reads_and_are_purged_with_an_event() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mut watcher = db.watch().unwrap();
    let soon = Timestamp::now().saturating_add(Duration::from_millis(300));
    let attrs = Attributes::new(vec![Attribute::string("k", "v")]).unwrap();
    let rec =
        db.add_record(&s.alice, NewRecord { expires: soon, ..new_record(TYPE_A, attrs, b"short-lived") }).unwrap();
    let keep = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"kept")).unwrap();
    let query = r#"<peersearch><clause attrib="k" type="string">v</clause></peersearch>"#;
    assert_eq!(db.search(query).unwrap(), vec![rec.clone()]);
    // The watcher purges the record once its time has passed and reports it.
    let mut seen = Vec::new();
    while !seen.contains(&Change::RecordExpired { id: rec.id, record_type: TYPE_A }) {
        let ev = watcher.recv_timeout(Duration::from_secs(10)).unwrap().expect("expiry within 10 s");
        seen.push(ev.change);
    }
    assert!(Timestamp::now() >= soon);
    assert!(matches!(db.record(rec.id), Err(StateError::RecordNotFound { .. })));
    assert!(db.search(query).unwrap().is_empty());
    assert_eq!(db.records(None).unwrap(), vec![keep]);
    assert_eq!(db.record_or_tombstone(rec.id).unwrap(), None);
    // Its attribute index rows went with it (the kept record has none).
    let rows: i64 = db.with_connection(|c| c.query_row("SELECT count(*) FROM attributes", [], |r| r.get(0)).unwrap());
    assert_eq!(rows, 0);
}

#[test]
fn search_uses_attributes_and_reserved_names() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mk =
        |name: &str, n: i64| Attributes::new(vec![Attribute::string("name", name), Attribute::int("n", n)]).unwrap();
    let a = db.add_record(&s.alice, new_record(TYPE_A, mk("alpha", 1), b"")).unwrap();
    let b = db.add_record(&s.alice, new_record(TYPE_A, mk("beta*", 2), b"")).unwrap();
    let c = db.add_record(&s.alice, new_record(TYPE_B, mk("gamma", 3), b"")).unwrap();
    let q = |body: &str| db.search(&format!("<peersearch>{body}</peersearch>")).unwrap();
    let ids = |v: Vec<peergroup_state::Record>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(q(r#"<clause attrib="name" type="string">*a</clause>"#)), vec![a.id, c.id]);
    assert_eq!(ids(q(r#"<clause attrib="name" type="string">beta\*</clause>"#)), vec![b.id]);
    assert_eq!(ids(q(r#"<clause attrib="name" type="string">?eta*</clause>"#)), vec![b.id]);
    assert_eq!(ids(q(r#"<clause attrib="n" type="int" compare="greaterorequal">2</clause>"#)), vec![b.id, c.id]);
    assert_eq!(ids(q(r#"<clause attrib="n" type="int" compare="notequal">2</clause>"#)), vec![a.id, c.id]);
    assert_eq!(ids(q(r#"<clause attrib="n" type="string">2</clause>"#)), Vec::<Uuid>::new());
    assert_eq!(
        ids(q(
            r#"<or><clause attrib="n" type="int">1</clause><and><clause attrib="n" type="int" compare="greater">1</clause><clause attrib="name" type="string">g*</clause></and></or>"#
        )),
        vec![a.id, c.id]
    );
    let by_type = format!(r#"<clause attrib="peerrecordtype" type="string">{}</clause>"#, TYPE_B.braced());
    assert_eq!(ids(q(&by_type)), vec![c.id]);
    let by_creator = format!(r#"<clause attrib="peercreatorid" type="string">{}</clause>"#, s.alice.peer_name());
    assert_eq!(ids(q(&by_creator)).len(), 3);
    let since = format!(
        r#"<clause attrib="peercreationtime" type="date" compare="greaterorequal">{}</clause>"#,
        b.created.to_w3c().unwrap()
    );
    assert_eq!(ids(q(&since)), vec![b.id, c.id]);
}

#[test]
fn export_and_import_verify_every_record() {
    let s = setup();
    let bob = s.keystore.create_with_key("bob", None, &peergroup_identity::testing::key(1)).unwrap();
    let db = s.store.open(&s.group).unwrap();
    db.put_member(&member_of(&bob)).unwrap();
    db.put_blob("secret", b"not exported").unwrap();
    let a = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"a")).unwrap();
    let b = db.add_record(&bob, new_record(TYPE_A, Attributes::empty(), b"b")).unwrap();
    let gone = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"gone")).unwrap();
    db.delete_record(&s.alice, gone.id).unwrap();
    let file = s.tmp.path().join("export.db");
    db.export(&file).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(matches!(db.export(&file), Err(StateError::Io { .. })));

    // Into a fresh copy of the group for another identity (same group peer name).
    let carol = s.keystore.create_with_key("carol", None, &peergroup_identity::testing::key(2)).unwrap();
    let store2 = GroupStore::new(&s.keystore, carol.peer_name()).unwrap();
    let props = GroupProperties::new(s.group.clone(), s.alice.peer_name().clone(), "Copy");
    // The members this copy holds already (as after a synchronisation): the file's identical
    // entries are theirs, so the trust path takes them as stored. (Members the copy does not
    // hold need a certificate chain to the group's root: tests/trust.rs.)
    let known = |db: &peergroup_state::GroupDb| {
        db.put_member(&member_of(&s.alice))?;
        db.put_member(&member_of(&bob))
    };
    let copy = store2.create(&props, known).unwrap();
    let summary = copy.import(&file).unwrap();
    assert_eq!(summary.records_applied, 3);
    assert_eq!(summary.members_applied, 0);
    assert_eq!(copy.records(None).unwrap(), vec![a.clone(), b.clone()]);
    assert!(copy.record_or_tombstone(gone.id).unwrap().unwrap().is_deleted());
    assert_eq!(copy.get_blob("secret").unwrap(), None);
    // Importing again changes nothing.
    assert_eq!(copy.import(&file).unwrap().records_applied, 0);

    // A record whose bytes were changed is refused, and nothing of the file is applied.
    let tampered = s.tmp.path().join("tampered.db");
    std::fs::copy(&file, &tampered).unwrap();
    {
        let conn = rusqlite::Connection::open(&tampered).unwrap();
        let body: Vec<u8> =
            conn.query_row("SELECT body FROM records WHERE id = ?1", [b.id.as_bytes()], |r| r.get(0)).unwrap();
        let mut rec = peergroup_state::Record::decode(&body).unwrap();
        rec.data = b"forged".to_vec();
        conn.execute("UPDATE records SET body = ?1 WHERE id = ?2", rusqlite::params![rec.encode(), b.id.as_bytes()])
            .unwrap();
    }
    let dave = s.keystore.create_with_key("dave", None, &peergroup_identity::testing::key(3)).unwrap();
    let store3 = GroupStore::new(&s.keystore, dave.peer_name()).unwrap();
    let third = store3.create(&props, known).unwrap();
    let members = third.members().unwrap();
    assert!(matches!(
        third.import(&tampered),
        Err(StateError::Security(SecurityError::RecordNotTrusted { id, .. })) if id == b.id
    ));
    assert!(third.records(None).unwrap().is_empty());
    assert_eq!(third.members().unwrap(), members);

    // A file of another group is refused naming the file.
    let other = PeerName::parse(&format!("{}.x", "cd".repeat(20))).unwrap();
    let odb = store3.create(&GroupProperties::new(other, s.alice.peer_name().clone(), "O"), |_| Ok(())).unwrap();
    match odb.import(&file) {
        Err(StateError::InvalidDatabase { path, .. }) => assert_eq!(path, file),
        other => panic!("{other:?}"),
    }
}

#[test]
fn deleting_a_group_removes_its_files_and_tells_open_handles() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mut watcher = db.watch().unwrap();
    let dir = db.dir().to_owned();
    std::fs::write(dir.join("group.key"), b"key").unwrap();
    s.store.delete(&s.group).unwrap();
    assert!(!dir.exists());
    assert!(s.store.list().unwrap().is_empty());
    assert!(matches!(s.store.open(&s.group), Err(StateError::GroupNotFound { .. })));
    let ev = watcher.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ev.change, Change::GroupDeleted);
    assert_eq!(watcher.next().map(|r| r.unwrap()), None);
    // The handle that was open refuses writes.
    assert!(matches!(
        db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"")),
        Err(StateError::GroupDeleted { .. })
    ));
}

#[test]
fn a_watcher_learns_of_deletion_from_the_file_alone() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let mut watcher = db.watch().unwrap();
    let dir = db.dir().to_owned();
    drop(db);
    // Another program removed the folder without going through the store.
    std::fs::remove_dir_all(&dir).unwrap();
    let ev = watcher.recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ev.change, Change::GroupDeleted);
}

#[test]
fn newer_and_damaged_databases_are_refused_naming_the_file() {
    let s = setup();
    let path = s.store.open(&s.group).unwrap().path().to_owned();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    }
    match s.store.open(&s.group) {
        Err(StateError::DatabaseTooNew { path: p, found, supported }) => {
            assert_eq!((p, found, supported), (path.clone(), SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("{other:?}"),
    }
    // Garbage over the whole file.
    std::fs::remove_file(path.with_extension("db-wal")).ok();
    std::fs::remove_file(path.with_extension("db-shm")).ok();
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    match s.store.open(&s.group) {
        Err(StateError::InvalidDatabase { path: p, .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    // An empty file has no schema.
    std::fs::write(&path, b"").unwrap();
    assert!(matches!(s.store.open(&s.group), Err(StateError::InvalidDatabase { .. })));
    assert!(matches!(s.store.list(), Err(StateError::InvalidDatabase { .. })));
}

#[test]
fn read_only_handles_refuse_writes_and_still_read() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"x")).unwrap();
    let ro = s.store.open_read_only(&s.group).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.record(rec.id).unwrap(), rec);
    assert!(matches!(
        ro.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"y")),
        Err(StateError::ReadOnly { .. })
    ));
    assert!(matches!(ro.put_blob("k", b"v"), Err(StateError::ReadOnly { .. })));
    assert_eq!(db.records(None).unwrap().len(), 1);
}

#[test]
fn apply_record_checks_signature_and_version() {
    let s = setup();
    let bob = s.keystore.create_with_key("bob", None, &peergroup_identity::testing::key(1)).unwrap();
    let db = s.store.open(&s.group).unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"x")).unwrap();
    // Not newer: skipped.
    assert!(!db.apply_record(&rec).unwrap());
    let mut next = rec.clone();
    next.version = 2;
    next.data = b"y".to_vec();
    next.sign(&s.alice).unwrap();
    assert!(db.apply_record(&next).unwrap());
    assert_eq!(db.record(rec.id).unwrap(), next);
    // Signed by someone who is not a member.
    let mut foreign = next.clone();
    foreign.version = 3;
    foreign.modifier = bob.peer_name().clone();
    foreign.sign(&bob).unwrap();
    assert!(matches!(
        db.apply_record(&foreign),
        Err(StateError::Security(SecurityError::UnknownModifier { ref modifier, .. })) if *modifier == bob.peer_name().to_string()
    ));
    let untrusted = |r| matches!(r, Err(StateError::Security(SecurityError::RecordNotTrusted { .. })));
    // Bad signature.
    let mut bad = next.clone();
    bad.version = 3;
    assert!(untrusted(db.apply_record(&bad)));
    assert_eq!(db.record(rec.id).unwrap(), next);
}

#[test]
fn a_watcher_thread_forwards_changes_into_a_channel() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let thread = db.watch().unwrap().spawn().unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"x")).unwrap();
    let ev = thread.receiver().recv_timeout(Duration::from_secs(5)).unwrap().unwrap();
    assert_eq!(ev.change, Change::RecordAdded { id: rec.id, record_type: TYPE_A });
    drop(thread);
}

#[test]
fn a_lock_held_longer_than_the_busy_timeout_is_waited_out() {
    let s = setup();
    let db = s.store.open(&s.group).unwrap();
    let path = db.path().to_owned();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    // Another connection holds the write lock for longer than one busy timeout (250 ms).
    let holder = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked_tx.send(std::time::Instant::now()).unwrap();
        std::thread::sleep(Duration::from_millis(800));
        conn.execute_batch("COMMIT").unwrap();
    });
    let locked_at = locked_rx.recv().unwrap();
    let rec = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"waited")).unwrap();
    // The add could only commit after the lock was released.
    assert!(locked_at.elapsed() >= Duration::from_millis(800));
    holder.join().unwrap();
    assert_eq!(db.record(rec.id).unwrap(), rec);
}

#[test]
fn durability_sets_how_commits_reach_the_disk() {
    let s = setup();
    let pragma = |db: &peergroup_state::GroupDb, name: &str| -> i64 {
        db.with_connection(|c| c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap())
    };
    // Default: NORMAL (1), no fsync per commit; Full: FULL (2).
    let normal = s.store.open(&s.group).unwrap();
    assert_eq!(pragma(&normal, "synchronous"), 1);
    let full = s.store.clone().with_durability(peergroup_state::Durability::Full).open(&s.group).unwrap();
    assert_eq!(pragma(&full, "synchronous"), 2);
    // New databases have 1 KiB pages; the log is checkpointed at 16 MiB whatever the page size.
    assert_eq!(pragma(&normal, "page_size"), 1024);
    assert_eq!(pragma(&normal, "wal_autocheckpoint"), 16 * 1024);
}
