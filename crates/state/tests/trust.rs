//! The one trust path through `GroupDb::import`: an export file is outside input, so the
//! members it declares need a certificate chain to the group's root, and its records a
//! signature by an accepted member whom the policy allows the change. Crafted exports (made
//! with the public API, as an attacker would) are refused naming the member or record, and
//! nothing of them is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use peergroup_identity::x509::to_pem;
use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_security::{
    InvitationRequest, NewGroup, Role, SecurityError, Subject, ValidatedChain, from_unix_seconds, invitation, issue_gmc,
};
use peergroup_state::{
    Attributes, GroupDb, GroupProperties, GroupStore, Member, MembershipStore, NewRecord, RecordUpdate, StateError,
    Timestamp,
};
use uuid::Uuid;

struct World {
    tmp: tempfile::TempDir,
    keystore: Keystore,
    store: MembershipStore,
    alice: Identity,
    bob: Identity,
    group: PeerName,
    /// Bob's chain (GRC, Alice's GMC, Bob's member GMC), from his invitation.
    bob_chain: ValidatedChain,
}

fn now() -> SystemTime {
    SystemTime::now()
}

/// The database member entry of a chain's holder, as the group keeps it.
fn entry(chain: &ValidatedChain) -> Member {
    let leaf = chain.leaf();
    Member {
        peer_name: leaf.subject.clone(),
        friendly_name: leaf.friendly_name.clone(),
        public_key: leaf.public_key.clone(),
        certificate: chain.to_der().iter().map(|c| to_pem("CERTIFICATE", c)).collect::<String>().into_bytes(),
        roles: leaf.roles.iter().map(|r| r.guid()).collect(),
        flags: 0,
    }
}

fn record(t: u128, data: &[u8]) -> NewRecord {
    NewRecord {
        record_type: Uuid::from_u128(t),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: data.to_vec(),
    }
}

/// Alice (key 0) creates the group (key 50) and invites Bob (key 1) as a member; Alice's
/// database knows Bob with his chain.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
    let db = store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(50), now()).unwrap();
    let group = db.group_peer_name().clone();
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let text = store.create_invitation(&alice, &group, bob.info(), &request, now()).unwrap();
    let bob_chain = invitation::parse(&text).unwrap().chain;
    db.put_member(&entry(&bob_chain)).unwrap();
    World { tmp, keystore, store, alice, bob, group, bob_chain }
}

impl World {
    /// Alice's database.
    fn alice_db(&self) -> GroupDb {
        self.store.groups(self.alice.peer_name()).unwrap().open(&self.group).unwrap()
    }

    /// A new member `name` (key `key`) invited by Alice and joined: its own database.
    fn joined(&self, name: &str, key: usize) -> (Identity, GroupDb) {
        let who = self.keystore.create_with_key(name, Some(name), &testing::key(key)).unwrap();
        let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
        let text = self.store.create_invitation(&self.alice, &self.group, who.info(), &request, now()).unwrap();
        self.store.join(&who, &text, now()).unwrap();
        let db = self.store.groups(who.peer_name()).unwrap().open(&self.group).unwrap();
        (who, db)
    }

    /// A file crafted outside the group's rules: a database of the same group peer name made
    /// directly with the storage API by `maker`, holding `members`, then whatever `fill` adds.
    fn crafted(&self, maker: &Identity, file: &str, members: &[Member], fill: impl FnOnce(&GroupDb)) -> PathBuf {
        let store = GroupStore::new(&self.keystore, maker.peer_name()).unwrap();
        let props = GroupProperties::new(self.group.clone(), self.alice.peer_name().clone(), "Chat");
        let db = store
            .create(&props, |db| {
                for m in members {
                    db.put_member(m)?;
                }
                Ok(())
            })
            .unwrap();
        fill(&db);
        let path = self.tmp.path().join(file);
        db.export(&path).unwrap();
        drop(db);
        store.delete(&self.group).unwrap();
        path
    }
}

/// Everything an import could change in `db`: members, records (tombstones included, by
/// id), and the change feed's position.
fn snapshot(db: &GroupDb) -> (Vec<Member>, Vec<peergroup_state::Record>, u64) {
    (db.members().unwrap(), db.records(None).unwrap(), db.last_seq().unwrap())
}

fn member_not_trusted(r: peergroup_state::Result<impl std::fmt::Debug>) -> (String, String) {
    match r {
        Err(StateError::Security(SecurityError::MemberNotTrusted { member, reason })) => (member, reason),
        other => panic!("expected MemberNotTrusted, got {other:?}"),
    }
}

#[test]
fn an_export_of_members_with_chains_imports_with_their_records() {
    let w = world();
    let alice_db = w.alice_db();
    let a = alice_db.add_record(&w.alice, record(1, b"from alice")).unwrap();
    let b = alice_db.add_record(&w.bob, record(1, b"from bob")).unwrap();
    // Alice, an administrator, may change Bob's record; the trust path lets it through.
    let b2 = alice_db
        .update_record(
            &w.alice,
            b.id,
            RecordUpdate { attributes: Attributes::empty(), data: b"edited".to_vec(), expires: b.expires },
        )
        .unwrap();
    let file = w.tmp.path().join("export.db");
    alice_db.export(&file).unwrap();

    let (_carol, carol_db) = w.joined("carol", 2);
    let summary = carol_db.import(&file).unwrap();
    assert_eq!((summary.members_applied, summary.records_applied), (2, 2));
    assert_eq!(carol_db.records(None).unwrap(), vec![a, b2]);
    assert_eq!(carol_db.member(w.bob.peer_name()).unwrap(), entry(&w.bob_chain));
}

/// The issue's test: an export that adds an outsider as a member, with a record signed by
/// the outsider, is refused naming the outsider, and nothing of it is stored. The outsider
/// tries every chain it can get: none, one of a group of its own, and one that a mere member
/// issued it.
#[test]
fn an_export_adding_an_outsider_is_refused_and_stores_nothing() {
    let w = world();
    let mallory = w.keystore.create_with_key("mallory", Some("Mallory"), &testing::key(3)).unwrap();
    let (_carol, carol_db) = w.joined("carol", 2);
    let before = snapshot(&carol_db);

    let mut bare = entry(&w.bob_chain);
    bare.peer_name = mallory.peer_name().clone();
    bare.friendly_name = "Mallory".into();
    bare.public_key = mallory.public_key_der().to_vec();
    // 1. No chain at all.
    let no_chain = Member { certificate: Vec::new(), ..bare.clone() };
    // 2. A chain to the root of a group Mallory made herself, with the same classifier.
    let own = w.store.create_group_with_key(&mallory, &NewGroup::new("chat", "Chat"), testing::key(51), now()).unwrap();
    let own_chain = w.store.get(mallory.peer_name(), own.group_peer_name()).unwrap().chain;
    let own_group =
        Member { certificate: entry(&own_chain).certificate, roles: vec![Role::Administrator.guid()], ..bare.clone() };
    // 3. A certificate Bob (a member, who may issue nothing) signed for her under his own.
    let bob_leaf = w.bob_chain.leaf();
    let gmc = issue_gmc(
        bob_leaf,
        w.bob.signing_key().unwrap(),
        &Subject::from(mallory.info()),
        &[Role::Member],
        from_unix_seconds(bob_leaf.not_before),
        from_unix_seconds(bob_leaf.not_after),
    )
    .unwrap();
    let mut by_bob: String = w.bob_chain.to_der().iter().map(|c| to_pem("CERTIFICATE", c)).collect();
    by_bob.push_str(&to_pem("CERTIFICATE", &gmc));
    let by_member = Member { certificate: by_bob.into_bytes(), roles: vec![Role::Member.guid()], ..bare.clone() };

    for (n, forged) in [no_chain, own_group, by_member].into_iter().enumerate() {
        let file = w.crafted(&mallory, &format!("forged{n}.db"), &[entry(&w.bob_chain), forged], |db| {
            db.add_record(&mallory, record(1, b"mallory was here")).unwrap();
        });
        let (member, reason) = member_not_trusted(carol_db.import(&file));
        assert_eq!(member, mallory.peer_name().to_string(), "case {n}: {reason}");
        assert!(!reason.is_empty());
        assert_eq!(snapshot(&carol_db), before, "case {n}: the refused file changed the database");
    }
    // The error a user sees names the member.
    let file = w.tmp.path().join("forged0.db");
    let shown = peergroup_state::GroupDb::import(&carol_db, &file).unwrap_err().to_string();
    assert!(shown.contains(&mallory.peer_name().to_string()), "{shown}");
}

/// A member may claim only what its certificate says: another member's chain under its own
/// name, or roles its certificate does not grant, are refused.
#[test]
fn a_member_entry_must_match_its_chain() {
    let w = world();
    let (_carol, carol_db) = w.joined("carol", 2);
    let before = snapshot(&carol_db);
    let promoted = Member { roles: vec![Role::Administrator.guid()], ..entry(&w.bob_chain) };
    let file = w.crafted(&w.bob, "promoted.db", &[promoted], |_| {});
    let (member, reason) = member_not_trusted(carol_db.import(&file));
    assert_eq!(member, w.bob.peer_name().to_string());
    assert!(reason.contains("roles"), "{reason}");
    // Alice's chain declared for Bob: the chain ends with another member.
    let alice_chain = w.store.get(w.alice.peer_name(), &w.group).unwrap().chain;
    let borrowed = Member { certificate: entry(&alice_chain).certificate, ..entry(&w.bob_chain) };
    let file = w.crafted(&w.bob, "borrowed.db", &[borrowed], |_| {});
    let (member, reason) = member_not_trusted(carol_db.import(&file));
    assert_eq!(member, w.bob.peer_name().to_string());
    assert!(reason.contains(&w.alice.peer_name().to_string()), "{reason}");
    assert_eq!(snapshot(&carol_db), before);
}

/// Records need an accepted modifier whom the policy allows the change: a record signed by
/// someone the file does not declare, and a member's change to another member's record, are
/// refused naming the record.
#[test]
fn records_pass_the_signature_and_the_policy() {
    let w = world();
    let mallory = w.keystore.create_with_key("mallory", Some("Mallory"), &testing::key(3)).unwrap();
    let (_carol, carol_db) = w.joined("carol", 2);
    let before = snapshot(&carol_db);
    let alice_entry = entry(&w.store.get(w.alice.peer_name(), &w.group).unwrap().chain);

    let mut stray = None;
    let file = w.crafted(&mallory, "stray.db", &[], |db| {
        stray = Some(db.add_record(&mallory, record(1, b"x")).unwrap().id);
    });
    match carol_db.import(&file) {
        Err(StateError::Security(SecurityError::UnknownModifier { id, modifier })) => {
            assert_eq!(Some(id), stray);
            assert_eq!(modifier, mallory.peer_name().to_string());
        }
        other => panic!("{other:?}"),
    }

    let mut edited = None;
    let file = w.crafted(&w.bob, "edited.db", &[alice_entry, entry(&w.bob_chain)], |db| {
        let r = db.add_record(&w.alice, record(1, b"alice's")).unwrap();
        // The storage layer lets anyone with the file write; the policy does not.
        let update = RecordUpdate { attributes: Attributes::empty(), data: b"bob's now".to_vec(), expires: r.expires };
        edited = Some(db.update_record(&w.bob, r.id, update).unwrap().id);
    });
    match carol_db.import(&file) {
        Err(StateError::Security(SecurityError::RecordNotTrusted { id, reason })) => {
            assert_eq!(Some(id), edited);
            assert!(reason.contains("administrators"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&carol_db), before);
}

/// A member signs "its own" record under the id of another member's record: the policy would
/// allow a member to update a record of hers, but the record held under that id is not hers,
/// so the version is refused, by `apply_record` and by an import, and the record stays.
#[test]
fn a_member_cannot_take_over_another_members_record_by_its_id() {
    let w = world();
    let alice_db = w.alice_db();
    let held = alice_db.add_record(&w.alice, record(1, b"alice's")).unwrap();
    let mut forged = held.clone();
    forged.version = held.version + 1;
    forged.creator = w.bob.peer_name().clone();
    forged.modifier = w.bob.peer_name().clone();
    forged.data = b"bob's now".to_vec();
    forged.sign(&w.bob).unwrap();
    let mut deletion = forged.clone();
    deletion.flags |= peergroup_state::RECORD_FLAG_DELETED;
    deletion.sign(&w.bob).unwrap();
    for attempt in [forged, deletion] {
        match alice_db.apply_record(&attempt) {
            Err(StateError::Security(SecurityError::RecordNotTrusted { id, reason })) => {
                assert_eq!(id, held.id);
                assert!(reason.contains(&w.alice.peer_name().to_string()), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(alice_db.record(held.id).unwrap(), held);
}

/// What a file says of an accepted member beyond its chain (friendly name, flags) is not taken:
/// the stored entry is what the chain proves.
#[test]
fn an_imported_member_entry_is_what_its_chain_proves() {
    let w = world();
    let (_carol, carol_db) = w.joined("carol", 2);
    let mut bob = entry(&w.bob_chain);
    bob.friendly_name = "Bob (administrator)".into();
    bob.flags = 0x7;
    let file = w.crafted(&w.bob, "renamed.db", &[bob], |_| {});
    carol_db.import(&file).unwrap();
    let stored = carol_db.members().unwrap().into_iter().find(|m| m.peer_name == *w.bob.peer_name()).unwrap();
    assert_eq!(stored, entry(&w.bob_chain));
}

/// An export whose `records` is a view (which could compute rows without end) is refused
/// before anything is read from it.
#[test]
fn an_export_whose_tables_are_views_is_refused() {
    let w = world();
    let alice_db = w.alice_db();
    let file = w.crafted(&w.bob, "view.db", &[], |_| {});
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch(
        "DROP TABLE records; CREATE VIEW records(body) AS \
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT zeroblob(1000) FROM c;",
    )
    .unwrap();
    drop(conn);
    let before = snapshot(&alice_db);
    match alice_db.import(&file) {
        Err(StateError::InvalidDatabase { reason, .. }) => {
            assert!(reason.contains("records is not a table"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(snapshot(&alice_db), before);
}
