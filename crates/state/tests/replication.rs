//! The store side of replication on real databases on disk: two (or three) members of one
//! group exchange items with `sync_entries` / `sync_items` / `apply_batch`, as the protocol
//! will; every item passes the trust path, versions converge to the one total order whatever
//! the order of arrival, and the feed marks where each change came from.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use peergroup_identity::x509::to_pem;
use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_security::{InvitationRequest, NewGroup, Role, SecurityError, ValidatedChain, invitation};
use peergroup_state::{
    Applied, Applier, Attributes, Change, GroupDb, GroupProperties, GroupStore, Member, MembershipStore, NewRecord,
    Origin, Record, RecordUpdate, StateError, SyncItem, SyncKind, Timestamp,
};
use proptest::prelude::*;
use uuid::Uuid;

const DAY: Duration = Duration::from_secs(86_400);

struct World {
    _tmp: tempfile::TempDir,
    keystore: Keystore,
    store: MembershipStore,
    alice: Identity,
    bob: Identity,
    group: PeerName,
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

fn new_record(t: u128, data: &[u8]) -> NewRecord {
    NewRecord {
        record_type: Uuid::from_u128(t),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: data.to_vec(),
    }
}

fn edit(record: &Record, data: &[u8]) -> RecordUpdate {
    RecordUpdate { attributes: Attributes::empty(), data: data.to_vec(), expires: record.expires }
}

/// Alice (key 0, administrator) created the group (key 50) ten days ago; Bob (key 1) joined
/// as a member five days ago with an invitation of hers. Each has a database.
fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
    let now = SystemTime::now();
    let db =
        store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(50), now - 10 * DAY).unwrap();
    let group = db.group_peer_name().clone();
    let w = World { _tmp: tmp, keystore, store, alice, bob, group };
    w.invite(&w.bob, Role::Member, now - 5 * DAY);
    w
}

impl World {
    fn db(&self, who: &Identity) -> GroupDb {
        self.store.groups(who.peer_name()).unwrap().open(&self.group).unwrap()
    }

    /// Alice invites `who` with `role` at `at`; `who` joins (the first time) and Alice's
    /// database stores the entry. Returns the chain.
    fn invite(&self, who: &Identity, role: Role, at: SystemTime) -> ValidatedChain {
        let request = InvitationRequest { roles: vec![role], expiration: None };
        let text = self.store.create_invitation(&self.alice, &self.group, who.info(), &request, at).unwrap();
        let _ = self.store.join(who, &text, at).unwrap();
        let chain = invitation::parse(&text).unwrap().chain;
        self.db(&self.alice).put_member(&entry(&chain)).unwrap();
        chain
    }

    fn joined(&self, name: &str, key: usize) -> Identity {
        let who = self.keystore.create_with_key(name, Some(name), &testing::key(key)).unwrap();
        self.invite(&who, Role::Member, SystemTime::now());
        who
    }
}

/// Everything `from` holds, as items.
fn everything(from: &GroupDb) -> Vec<SyncItem> {
    let keys: Vec<(SyncKind, Vec<u8>)> = from.sync_entries().unwrap().into_iter().map(|e| (e.kind, e.id)).collect();
    from.sync_items(&keys).unwrap()
}

/// The items of these records (and nothing else) held by `from`.
fn records_of(from: &GroupDb, ids: &[Uuid]) -> Vec<SyncItem> {
    let keys: Vec<(SyncKind, Vec<u8>)> = ids.iter().map(|id| (SyncKind::Record, id.as_bytes().to_vec())).collect();
    from.sync_items(&keys).unwrap()
}

/// The member items held by `from`.
fn members_of(from: &GroupDb) -> Vec<SyncItem> {
    everything(from).into_iter().filter(|i| i.kind == SyncKind::Member).collect()
}

/// Sends everything `from` holds to `to`; asserts nothing was refused.
fn sync(from: &GroupDb, to: &GroupDb) {
    let outcome = to.apply_batch(&everything(from), &Origin::Remote("test".into())).unwrap();
    assert!(outcome.refused.is_empty(), "refused: {:?}", outcome.refused);
}

fn remote(name: &str) -> Origin {
    Origin::Remote(name.into())
}

/// The version held of a record (its tombstone included).
fn held(db: &GroupDb, id: Uuid) -> Record {
    db.record_or_tombstone(id).unwrap().expect("held")
}

#[test]
fn a_new_member_receives_everything_and_holds_the_same_entries() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let a = alice_db.add_record(&w.alice, new_record(1, b"a")).unwrap();
    let b = alice_db.add_record(&w.alice, new_record(2, b"b")).unwrap();
    alice_db.delete_record(&w.alice, b.id).unwrap();
    let before = bob_db.last_seq().unwrap();
    let outcome = bob_db.apply_batch(&everything(&alice_db), &remote("alice-link")).unwrap();
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    // Alice's entry, her two records and the group's properties (signed by Alice when she
    // created the group) are new to Bob; his own entry is the same (stale).
    assert_eq!(outcome.stored.len(), 4);
    assert_eq!(outcome.stale, 1);
    assert_eq!(bob_db.record(a.id).unwrap(), a);
    assert_eq!(bob_db.properties().unwrap(), alice_db.properties().unwrap());
    assert!(matches!(bob_db.record(b.id), Err(StateError::RecordNotFound { .. })));
    let (mut x, mut y) = (alice_db.sync_entries().unwrap(), bob_db.sync_entries().unwrap());
    x.sort_by(|p, q| (p.kind, &p.id).cmp(&(q.kind, &q.id)));
    y.sort_by(|p, q| (p.kind, &p.id).cmp(&(q.kind, &q.id)));
    assert_eq!(x, y);
    // Applying the same again stores nothing and writes no change.
    let seq = bob_db.last_seq().unwrap();
    let again = bob_db.apply_batch(&everything(&alice_db), &remote("alice-link")).unwrap();
    assert!(again.stored.is_empty() && again.refused.is_empty());
    assert_eq!(bob_db.last_seq().unwrap(), seq);
    assert!(seq > before);
}

#[test]
fn digests_lent_one_by_one_are_the_entries_held() {
    let w = world();
    let db = w.db(&w.alice);
    let a = db.add_record(&w.alice, new_record(1, b"a")).unwrap();
    let b = db.add_record(&w.alice, new_record(2, b"b")).unwrap();
    db.delete_record(&w.alice, b.id).unwrap();
    db.update_record(&w.alice, a.id, edit(&a, b"a2")).unwrap();
    let mut lent = Vec::new();
    db.sync_digests_with(|kind, id, digest| lent.push((kind, id.to_vec(), *digest)), || panic!("no restart")).unwrap();
    let mut held: Vec<_> = db.sync_entries().unwrap().into_iter().map(|e| (e.kind, e.id, e.stamp.digest)).collect();
    lent.sort();
    held.sort();
    assert_eq!(lent, held);
    assert_eq!(lent.iter().filter(|(k, _, _)| *k == SyncKind::Record).count(), 2, "the record and the tombstone");
}

#[test]
fn concurrent_updates_of_one_record_converge_whatever_the_order() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    sync(&alice_db, &bob_db);
    let r = bob_db.add_record(&w.bob, new_record(1, b"v1")).unwrap();
    sync(&bob_db, &alice_db);
    // Both change version 1 at once: two versions 2 (Alice may, as administrator).
    let by_alice = alice_db.update_record(&w.alice, r.id, edit(&r, b"alice")).unwrap();
    let by_bob = bob_db.update_record(&w.bob, r.id, edit(&r, b"bob")).unwrap();
    assert_eq!((by_alice.version, by_bob.version), (2, 2));
    // Alice holds hers and receives Bob's; Bob the other way round.
    let from_bob = records_of(&bob_db, &[r.id]);
    let from_alice = records_of(&alice_db, &[r.id]);
    alice_db.apply_batch(&from_bob, &remote("bob")).unwrap();
    bob_db.apply_batch(&from_alice, &remote("alice")).unwrap();
    let (x, y) = (held(&alice_db, r.id), held(&bob_db, r.id));
    assert_eq!(x, y);
    let winner = if from_alice[0].stamp > from_bob[0].stamp { by_alice } else { by_bob };
    assert_eq!(x, winner);
    // A third member receiving both, in either order, keeps the same.
    let carol = w.joined("carol", 2);
    let carol_db = w.db(&carol);
    carol_db.apply_batch(&members_of(&alice_db), &remote("alice")).unwrap();
    carol_db.apply_batch(&[from_alice[0].clone(), from_bob[0].clone()], &remote("x")).unwrap();
    assert_eq!(held(&carol_db, r.id), x);
}

#[test]
fn delete_against_update_ends_deleted_in_both_orders() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    sync(&alice_db, &bob_db);
    let r = bob_db.add_record(&w.bob, new_record(1, b"v1")).unwrap();
    sync(&bob_db, &alice_db);
    // Bob updates twice (version 3) while Alice deletes version 1 (a tombstone of version 2).
    let v2 = bob_db.update_record(&w.bob, r.id, edit(&r, b"v2")).unwrap();
    bob_db.update_record(&w.bob, r.id, edit(&v2, b"v3")).unwrap();
    alice_db.delete_record(&w.alice, r.id).unwrap();
    let from_bob = records_of(&bob_db, &[r.id]);
    let from_alice = records_of(&alice_db, &[r.id]);
    let mut feed = bob_db.watch().unwrap();
    assert_eq!(alice_db.apply_batch(&from_bob, &remote("bob")).unwrap().stale, 1);
    assert_eq!(bob_db.apply_batch(&from_alice, &remote("alice")).unwrap().stored.len(), 1);
    for db in [&alice_db, &bob_db] {
        assert!(matches!(db.record(r.id), Err(StateError::RecordNotFound { .. })));
        assert!(held(db, r.id).is_deleted());
    }
    assert_eq!(held(&alice_db, r.id), held(&bob_db, r.id));
    let ev = feed.poll().unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].change, Change::RecordDeleted { id: r.id, record_type: r.record_type });
    assert_eq!(ev[0].origin, remote("alice"));
    // Bob's later update never brings it back.
    assert_eq!(alice_db.apply_batch(&from_bob, &remote("bob")).unwrap().stale, 1);
    assert!(held(&alice_db, r.id).is_deleted());
}

#[test]
fn a_late_old_version_never_overwrites_a_newer_one() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let v1 = alice_db.add_record(&w.alice, new_record(1, b"v1")).unwrap();
    let old1 = records_of(&alice_db, &[v1.id]);
    let v2 = alice_db.update_record(&w.alice, v1.id, edit(&v1, b"v2")).unwrap();
    let old2 = records_of(&alice_db, &[v1.id]);
    let v3 = alice_db.update_record(&w.alice, v1.id, edit(&v2, b"v3")).unwrap();
    let mut batch = members_of(&alice_db);
    batch.extend(records_of(&alice_db, &[v1.id]));
    bob_db.apply_batch(&batch, &remote("alice")).unwrap();
    let seq = bob_db.last_seq().unwrap();
    let late = bob_db.apply_batch(&[old2[0].clone(), old1[0].clone()], &remote("alice")).unwrap();
    assert_eq!((late.stored.len(), late.stale, late.refused.len()), (0, 2, 0));
    assert_eq!(bob_db.record(v1.id).unwrap(), v3);
    assert_eq!(bob_db.last_seq().unwrap(), seq);
}

#[test]
fn items_signed_by_a_non_member_are_refused_reported_and_not_stored_and_the_rest_is() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let a1 = alice_db.add_record(&w.alice, new_record(1, b"a1")).unwrap();
    // Mallory (key 3) is no member: she makes a database of the same group peer name with the
    // storage API, as an attacker would, and a record signed by her.
    let mallory = w.keystore.create_with_key("mallory", Some("Mallory"), &testing::key(3)).unwrap();
    let mstore = GroupStore::new(&w.keystore, mallory.peer_name()).unwrap();
    let props = GroupProperties::new(w.group.clone(), w.alice.peer_name().clone(), "Chat");
    let mallory_entry = Member {
        peer_name: mallory.peer_name().clone(),
        friendly_name: "Mallory".into(),
        public_key: mallory.public_key_der().to_vec(),
        certificate: b"no chain".to_vec(),
        roles: vec![peergroup_security::ROLE_ADMIN_GUID],
        flags: 0,
    };
    let mdb = mstore.create(&props, |db| db.put_member(&mallory_entry)).unwrap();
    let m = mdb.add_record(&mallory, new_record(1, b"forged")).unwrap();
    let forged = records_of(&mdb, &[m.id]);
    // And a member entry of hers with a chain she made herself (her own group root).
    let other = w
        .store
        .create_group_with_key(&mallory, &NewGroup::new("chat", "Chat"), testing::key(51), SystemTime::now())
        .unwrap();
    let mut fake_member = members_of(&other).remove(0);
    fake_member.id = mallory.peer_name().to_string().into_bytes();

    let a2 = alice_db.add_record(&w.alice, new_record(1, b"a2")).unwrap();
    let mut batch = members_of(&alice_db);
    batch.extend(records_of(&alice_db, &[a1.id]));
    let forged_at = batch.len();
    batch.push(forged[0].clone());
    batch.push(fake_member);
    batch.extend(records_of(&alice_db, &[a2.id]));
    let outcome = bob_db.apply_batch(&batch, &remote("alice")).unwrap();
    assert_eq!(outcome.refused.len(), 2, "{:?}", outcome.refused);
    let r = &outcome.refused[0];
    assert_eq!((r.index, r.kind, r.id.as_slice()), (forged_at, SyncKind::Record, m.id.as_bytes().as_slice()));
    assert!(
        matches!(&r.reason, StateError::Security(SecurityError::UnknownModifier { id, modifier })
            if *id == m.id && *modifier == mallory.peer_name().to_string()),
        "{:?}",
        r.reason
    );
    // A driver may wait for her entry, which never passes the trust path.
    assert!(r.awaits_member());
    let r = &outcome.refused[1];
    assert_eq!(r.kind, SyncKind::Member);
    assert!(matches!(&r.reason, StateError::Security(SecurityError::MemberNotTrusted { .. })), "{:?}", r.reason);
    // The rest of the batch is stored; nothing of Mallory's is.
    assert_eq!(bob_db.record(a1.id).unwrap(), a1);
    assert_eq!(bob_db.record(a2.id).unwrap(), a2);
    assert!(bob_db.record_or_tombstone(m.id).unwrap().is_none());
    assert!(matches!(bob_db.member(mallory.peer_name()), Err(StateError::MemberNotFound { .. })));
}

#[test]
fn an_item_whose_body_does_not_match_its_claims_is_refused() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let a = alice_db.add_record(&w.alice, new_record(1, b"a")).unwrap();
    let mut batch = members_of(&alice_db);
    let n = batch.len();
    let mut item = records_of(&alice_db, &[a.id]).remove(0);
    item.stamp.version = 9;
    batch.push(item.clone());
    item.stamp.version = 1;
    item.id = Uuid::from_u128(5).as_bytes().to_vec();
    batch.push(item.clone());
    item.id = a.id.as_bytes().to_vec();
    item.body.push(0);
    batch.push(item);
    let outcome = bob_db.apply_batch(&batch, &remote("alice")).unwrap();
    assert_eq!(outcome.refused.iter().map(|r| r.index).collect::<Vec<_>>(), [n, n + 1, n + 2]);
    assert!(outcome.refused.iter().all(|r| matches!(r.reason, StateError::InvalidRecord { .. })));
    assert!(bob_db.record_or_tombstone(a.id).unwrap().is_none());
}

#[test]
fn a_member_whose_credentials_were_replaced_is_judged_by_the_new_ones() {
    let w = world();
    let alice_db = w.db(&w.alice);
    let r = alice_db.add_record(&w.alice, new_record(1, b"alice's")).unwrap();
    let carol = w.joined("carol", 2);
    let carol_db = w.db(&carol);
    let bob_db = w.db(&w.bob);
    sync(&alice_db, &carol_db);
    sync(&alice_db, &bob_db);
    // Bob, a member, changes Alice's record: the policy allows that to administrators only.
    let edited = bob_db.update_record(&w.bob, r.id, edit(&r, b"bob's edit")).unwrap();
    let bobs_edit = records_of(&bob_db, &[r.id]);
    let refused = carol_db.apply_batch(&bobs_edit, &remote("bob")).unwrap();
    assert_eq!(refused.refused.len(), 1);
    assert!(
        matches!(&refused.refused[0].reason, StateError::Security(SecurityError::RecordNotTrusted { .. })),
        "{:?}",
        refused.refused[0].reason
    );
    // Alice makes Bob an administrator (new credentials, a later certificate): his entry and
    // his edit in one batch, the entry after the record, are both accepted.
    let new_chain = w.invite(&w.bob, Role::Administrator, SystemTime::now());
    let bob_entry: Vec<SyncItem> =
        members_of(&alice_db).into_iter().filter(|i| i.id == w.bob.peer_name().to_string().into_bytes()).collect();
    assert_eq!(bob_entry.len(), 1);
    let batch = [bobs_edit[0].clone(), bob_entry[0].clone()];
    let outcome = carol_db.apply_batch(&batch, &remote("bob")).unwrap();
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    assert_eq!(outcome.stored.len(), 2);
    assert_eq!(carol_db.record(r.id).unwrap(), edited);
    assert_eq!(carol_db.member(w.bob.peer_name()).unwrap(), entry(&new_chain));
    // The old entry arriving late changes nothing.
    let outcome = carol_db.apply_batch(&members_of(&bob_db), &remote("bob")).unwrap();
    assert!(outcome.stored.iter().all(|e| e.id != w.bob.peer_name().to_string().into_bytes()));
    assert_eq!(carol_db.member(w.bob.peer_name()).unwrap(), entry(&new_chain));
}

#[test]
fn the_feed_marks_where_each_change_came_from() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let a = alice_db.add_record(&w.alice, new_record(1, b"a")).unwrap();
    let mut feed = bob_db.watch().unwrap();
    let mut batch = members_of(&alice_db);
    batch.extend(records_of(&alice_db, &[a.id]));
    bob_db.apply_batch(&batch, &remote("link-7")).unwrap();
    let b = bob_db.add_record(&w.bob, new_record(1, b"b")).unwrap();
    let events = feed.poll().unwrap();
    let alice_name = w.alice.peer_name().clone();
    let got: Vec<(Change, Origin)> = events.into_iter().map(|e| (e.change, e.origin)).collect();
    assert_eq!(
        got,
        [
            (Change::MemberJoined { peer_name: alice_name }, remote("link-7")),
            (Change::RecordAdded { id: a.id, record_type: a.record_type }, remote("link-7")),
            (Change::RecordAdded { id: b.id, record_type: b.record_type }, Origin::Local),
        ]
    );
    // The two halves of a batch, the check on one handle and the store on another (the check
    // may run on another thread while the previous batch is written).
    fn is_send<T: Send>(_: &T) {}
    let c = bob_db.add_record(&w.bob, new_record(1, b"c")).unwrap();
    let items = records_of(&bob_db, &[c.id]);
    let alice_checker = w.db(&w.alice);
    let checked = alice_checker.check_batch(&items).unwrap();
    is_send(&checked);
    let outcome = std::thread::scope(|s| s.spawn(|| alice_db.store_checked(checked, &remote("bob"))).join().unwrap());
    assert_eq!(outcome.unwrap().stored.len(), 1);
    assert_eq!(alice_db.record(c.id).unwrap(), c);
    // A name longer than the bound is refused whole.
    let long = Origin::Remote("x".repeat(peergroup_state::MAX_ORIGIN_LEN + 1));
    assert!(bob_db.apply_batch(&[], &long).is_err());
}

#[test]
fn entries_list_tombstones_but_not_expired_records_and_the_synchronised_mark_sticks() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let live = alice_db.add_record(&w.alice, new_record(1, b"live")).unwrap();
    let gone = alice_db.add_record(&w.alice, new_record(1, b"gone")).unwrap();
    alice_db.delete_record(&w.alice, gone.id).unwrap();
    // An expired record (stored directly: a write would refuse it).
    let mut old = live.clone();
    old.id = Uuid::from_u128(77);
    old.expires = Timestamp::from_micros(Timestamp::now().as_micros() - 1);
    old.sign(&w.alice).unwrap();
    // And an expired tombstone: kept until its record's expiration, then purged.
    let mut old_tomb = old.clone();
    old_tomb.id = Uuid::from_u128(78);
    old_tomb.version = 2;
    old_tomb.flags |= peergroup_state::RECORD_FLAG_DELETED;
    old_tomb.data.clear();
    old_tomb.sign(&w.alice).unwrap();
    alice_db.bulk_insert_unchecked(&[old.clone(), old_tomb.clone()]).unwrap();
    let ids: Vec<Vec<u8>> =
        alice_db.sync_entries().unwrap().into_iter().filter(|e| e.kind == SyncKind::Record).map(|e| e.id).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&live.id.as_bytes().to_vec()) && ids.contains(&gone.id.as_bytes().to_vec()));
    assert!(records_of(&alice_db, &[old.id, old_tomb.id]).is_empty());
    // Every write purges a few expired rows first; this one purges whatever is left.
    alice_db.purge_expired(100).unwrap();
    let rows: i64 =
        alice_db.with_connection(|c| c.query_row("SELECT count(*) FROM records", [], |r| r.get(0)).unwrap());
    assert_eq!(rows, 2, "the live record and the live tombstone stay");
    // An expired record from outside is stale, never stored.
    let mut batch = members_of(&alice_db);
    let body = old.encode();
    let stamp = peergroup_security::VersionStamp {
        deleted: false,
        version: old.version,
        modified_micros: old.modified.as_micros(),
        modifier: old.modifier.to_string().into_bytes(),
        digest: peergroup_security::body_digest(&body),
    };
    batch.push(SyncItem { kind: SyncKind::Record, id: old.id.as_bytes().to_vec(), stamp, body });
    let outcome = bob_db.apply_batch(&batch, &remote("alice")).unwrap();
    assert!(outcome.refused.is_empty());
    assert!(bob_db.record_or_tombstone(old.id).unwrap().is_none());
    // Bob joined: not synchronised until the first sync marks it, in every handle.
    assert!(alice_db.is_synchronized().unwrap());
    assert!(!bob_db.is_synchronized().unwrap());
    bob_db.mark_synchronized().unwrap();
    bob_db.mark_synchronized().unwrap();
    assert!(w.db(&w.bob).is_synchronized().unwrap());
    assert!(w.store.get(w.bob.peer_name(), &w.group).unwrap().synchronized);
}

/// The signed group properties `from` holds (none while they are unsigned).
fn properties_of(from: &GroupDb) -> Vec<SyncItem> {
    from.sync_items(&[(SyncKind::Properties, Vec::new())]).unwrap()
}

/// `db`'s group properties with another comment.
fn commented(db: &GroupDb, comment: &str) -> GroupProperties {
    GroupProperties { comment: comment.into(), ..db.properties().unwrap() }
}

#[test]
fn an_administrators_change_of_the_properties_reaches_another_member() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    // The creator signed the properties the group started with; a joiner holds provisional,
    // unsigned ones and lists none.
    let first = properties_of(&alice_db);
    assert_eq!((first.len(), first[0].stamp.version), (1, 1));
    assert!(properties_of(&bob_db).is_empty());
    assert!(bob_db.sync_entries().unwrap().iter().all(|e| e.kind != SyncKind::Properties));
    let mut feed = bob_db.watch().unwrap();

    let stored = alice_db
        .set_properties(&w.alice, &GroupProperties { friendly_name: "Renamed".into(), ..commented(&alice_db, "new") })
        .unwrap();
    assert_eq!(stored.version, 2);
    let item = properties_of(&alice_db);
    assert_eq!(item[0].stamp.version, 2);
    assert_eq!(item[0].stamp.modifier, w.alice.peer_name().to_string().into_bytes());
    let listed: Vec<_> =
        alice_db.sync_entries().unwrap().into_iter().filter(|e| e.kind == SyncKind::Properties).collect();
    assert_eq!(listed, [item[0].entry()]);

    let mut batch = members_of(&alice_db);
    batch.extend(item.clone());
    let outcome = bob_db.apply_batch(&batch, &remote("alice-link")).unwrap();
    assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    assert_eq!(outcome.unsupported, 0);
    assert!(outcome.stored.contains(&item[0].entry()));
    assert_eq!(bob_db.properties().unwrap(), stored);
    // Bob holds the same signed form, and forwards it as is.
    assert_eq!(properties_of(&bob_db), item);
    let changes: Vec<(Change, Origin)> = feed.poll().unwrap().into_iter().map(|e| (e.change, e.origin)).collect();
    assert!(changes.contains(&(Change::PropertiesChanged, remote("alice-link"))), "{changes:?}");
    // The same again is stale and writes nothing.
    let seq = bob_db.last_seq().unwrap();
    let again = bob_db.apply_batch(&item, &remote("alice-link")).unwrap();
    assert_eq!((again.stored.len(), again.stale), (0, 1));
    assert_eq!(bob_db.last_seq().unwrap(), seq);
}

#[test]
fn a_plain_members_signed_properties_are_refused_and_change_nothing() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    sync(&alice_db, &bob_db);
    let before = alice_db.properties().unwrap();
    // Bob's own database lets him sign (the facade asks the policy first and refuses him); a
    // receiver refuses what he signed.
    bob_db.set_properties(&w.bob, &commented(&bob_db, "mine")).unwrap();
    let forged = properties_of(&bob_db);
    assert_eq!(forged[0].stamp.version, 2);
    let seq = alice_db.last_seq().unwrap();
    let mut batch = members_of(&bob_db);
    batch.extend(forged.clone());
    let outcome = alice_db.apply_batch(&batch, &remote("bob")).unwrap();
    assert_eq!(outcome.refused.len(), 1, "{:?}", outcome.refused);
    let r = &outcome.refused[0];
    assert_eq!((r.index, r.kind, r.id.as_slice()), (batch.len() - 1, SyncKind::Properties, &[][..]));
    assert!(
        matches!(&r.reason, StateError::Security(SecurityError::RecordNotTrusted { reason, .. })
            if reason.contains("administrators")),
        "{:?}",
        r.reason
    );
    assert!(outcome.stored.is_empty());
    assert_eq!(alice_db.properties().unwrap(), before);
    assert_eq!(alice_db.last_seq().unwrap(), seq);
    // A body that does not give the version claimed, or an id that is not empty, is refused.
    let mut item = properties_of(&alice_db).remove(0);
    item.stamp.version = 9;
    let mut named = properties_of(&alice_db).remove(0);
    named.id = b"x".to_vec();
    let outcome = bob_db.apply_batch(&[item, named], &remote("alice")).unwrap();
    assert_eq!(outcome.refused.len(), 2);
    assert!(
        outcome
            .refused
            .iter()
            .all(|r| matches!(r.reason, StateError::Security(SecurityError::InvalidGroupProperties { .. })))
    );
}

#[test]
fn concurrent_changes_of_the_properties_converge_in_both_orders() {
    let w = world();
    let carol = w.keystore.create_with_key("carol", Some("Carol"), &testing::key(2)).unwrap();
    w.invite(&carol, Role::Administrator, SystemTime::now());
    let (alice_db, bob_db, carol_db) = (w.db(&w.alice), w.db(&w.bob), w.db(&carol));
    sync(&alice_db, &carol_db);
    sync(&alice_db, &bob_db);
    // Both administrators change the properties, each from version 1.
    alice_db.set_properties(&w.alice, &commented(&alice_db, "from alice")).unwrap();
    carol_db.set_properties(&carol, &commented(&carol_db, "from carol")).unwrap();
    let (a, c) = (properties_of(&alice_db), properties_of(&carol_db));
    assert_eq!((a[0].stamp.version, c[0].stamp.version), (2, 2));
    let greatest = a[0].stamp.clone().max(c[0].stamp.clone());
    // Alice receives Carol's, Carol receives Alice's: the two orders.
    let to_alice = alice_db.apply_batch(&c, &remote("carol")).unwrap();
    let to_carol = carol_db.apply_batch(&a, &remote("alice")).unwrap();
    assert!(to_alice.refused.is_empty() && to_carol.refused.is_empty());
    assert_eq!(to_alice.stored.len() + to_carol.stored.len(), 1, "exactly one of them changes");
    assert_eq!(to_alice.stale + to_carol.stale, 1);
    // Bob receives both in one batch, in either order.
    let mut both = c.clone();
    both.extend(a.clone());
    bob_db.apply_batch(&both, &remote("carol")).unwrap();
    for db in [&alice_db, &bob_db, &carol_db] {
        assert_eq!(properties_of(db)[0].stamp, greatest);
    }
    assert_eq!(alice_db.properties().unwrap(), carol_db.properties().unwrap());
    assert_eq!(alice_db.properties().unwrap(), bob_db.properties().unwrap());
    let winner = if greatest == a[0].stamp { "from alice" } else { "from carol" };
    assert_eq!(bob_db.properties().unwrap().comment, winner);
}

#[test]
fn an_administrators_properties_that_change_what_is_fixed_are_refused() {
    let w = world();
    let carol = w.keystore.create_with_key("carol", Some("Carol"), &testing::key(2)).unwrap();
    w.invite(&carol, Role::Administrator, SystemTime::now());
    let (alice_db, carol_db) = (w.db(&w.alice), w.db(&carol));
    let before = alice_db.properties().unwrap();
    // Carol signs properties naming another creator, then another group (her row is changed
    // under the API, as a damaged or hostile database would be).
    let sign_with = |column: &str, value: String| {
        carol_db.with_connection(|c| {
            c.execute(&format!("UPDATE properties SET {column} = ?1 WHERE id = 1"), [value]).unwrap();
        });
        carol_db.set_properties(&carol, &commented(&carol_db, column)).unwrap();
        properties_of(&carol_db)
    };
    let other_creator = sign_with("creator", carol.peer_name().to_string());
    let other_group = format!("{}.chat", "ef".repeat(20));
    let other_group = sign_with("group_peer_name", other_group);
    let mut batch = members_of(&carol_db);
    batch.extend(other_creator);
    batch.extend(other_group);
    let outcome = alice_db.apply_batch(&batch, &remote("carol")).unwrap();
    let reasons: Vec<String> = outcome
        .refused
        .iter()
        .map(|r| match &r.reason {
            StateError::Security(SecurityError::InvalidGroupProperties { reason }) => reason.clone(),
            other => panic!("expected InvalidGroupProperties, got {other:?}"),
        })
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("creator cannot change"), "{reasons:?}");
    assert!(reasons[1].contains("properties of group"), "{reasons:?}");
    assert_eq!(alice_db.properties().unwrap(), before);
}

#[test]
fn a_late_older_version_of_the_properties_is_stale() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    sync(&alice_db, &bob_db);
    alice_db.set_properties(&w.alice, &commented(&alice_db, "second")).unwrap();
    let v2 = properties_of(&alice_db);
    alice_db.set_properties(&w.alice, &commented(&alice_db, "third")).unwrap();
    let v3 = properties_of(&alice_db);
    assert_eq!(bob_db.apply_batch(&v3, &remote("alice")).unwrap().stored.len(), 1);
    let seq = bob_db.last_seq().unwrap();
    let late = bob_db.apply_batch(&v2, &remote("alice")).unwrap();
    assert_eq!((late.stored.len(), late.stale, late.refused.len()), (0, 1, 0));
    assert_eq!(bob_db.properties().unwrap().comment, "third");
    assert_eq!(bob_db.properties().unwrap().version, 3);
    assert_eq!(bob_db.last_seq().unwrap(), seq);
    assert_eq!(properties_of(&bob_db), v3);
}

/// One of the versions of a record a proptest makes: (version, deleted, time offset, data).
type Version = (u32, bool, i64, u8);

fn versions() -> impl Strategy<Value = Vec<Version>> {
    proptest::collection::vec((1u32..4, proptest::bool::weighted(0.2), 0i64..3, any::<u8>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Any permutation of a set of versions of one record, applied to a fresh store, ends
    /// with the greatest stamp held.
    #[test]
    fn any_order_of_versions_ends_with_the_greatest(vs in versions(), seed in any::<u64>()) {
        let w = world();
        let alice_db = w.db(&w.alice);
        let bob_db = w.db(&w.bob);
        let base = alice_db.add_record(&w.alice, new_record(1, b"base")).unwrap();
        let items: Vec<SyncItem> = vs
            .iter()
            .map(|&(version, deleted, dt, data)| {
                let mut r = base.clone();
                r.version = version;
                if deleted {
                    r.flags |= peergroup_state::RECORD_FLAG_DELETED;
                    r.data.clear();
                } else {
                    r.data = vec![data];
                }
                r.modified = Timestamp::from_micros(base.modified.as_micros() + dt);
                r.sign(&w.alice).unwrap();
                let body = r.encode();
                let stamp = peergroup_security::VersionStamp {
                    deleted,
                    version,
                    modified_micros: r.modified.as_micros(),
                    modifier: r.modifier.to_string().into_bytes(),
                    digest: peergroup_security::body_digest(&body),
                };
                SyncItem { kind: SyncKind::Record, id: r.id.as_bytes().to_vec(), stamp, body }
            })
            .collect();
        let greatest = items.iter().map(|i| i.stamp.clone()).max().unwrap();
        // A permutation from the seed (Fisher-Yates with a small LCG).
        let mut order: Vec<usize> = (0..items.len()).collect();
        let mut s = seed | 1;
        for i in (1..order.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (s >> 33) as usize % (i + 1));
        }
        bob_db.apply_batch(&members_of(&alice_db), &remote("alice")).unwrap();
        for (n, i) in order.iter().enumerate() {
            // One item per batch, or all at once: both must end the same.
            if seed % 2 == 0 {
                bob_db.apply_batch(std::slice::from_ref(&items[*i]), &remote("alice")).unwrap();
            } else if n == 0 {
                let all: Vec<SyncItem> = order.iter().map(|j| items[*j].clone()).collect();
                bob_db.apply_batch(&all, &remote("alice")).unwrap();
            }
        }
        let held = bob_db.sync_entries().unwrap().into_iter().find(|e| e.kind == SyncKind::Record).unwrap();
        prop_assert_eq!(held.stamp, greatest);
    }
}

#[test]
fn an_applier_checks_and_writes_in_order_and_gives_back_what_waits_for_a_member() {
    let w = world();
    let (alice_db, bob_db) = (w.db(&w.alice), w.db(&w.bob));
    let ids: Vec<Uuid> = (0..40u8).map(|i| alice_db.add_record(&w.alice, new_record(1, &[i])).unwrap().id).collect();
    let (checker, writer) = (Arc::new(w.db(&w.bob)), Arc::new(w.db(&w.bob)));
    let mut applier = Applier::new(checker, writer, remote("alice")).unwrap();
    // Alice's records before her entry, in small submissions (which may be merged): every
    // record comes back refused as waiting for its signer, nothing is stored.
    for chunk in ids.chunks(10) {
        applier.submit(records_of(&alice_db, chunk)).unwrap();
    }
    let mut waiting = Vec::new();
    while let Some(applied) = applier.wait_next() {
        let Applied { items, outcome } = applied.unwrap();
        assert!(outcome.stored.is_empty());
        for r in &outcome.refused {
            assert!(r.awaits_member(), "{:?}", r.reason);
            waiting.push(items[r.index].clone());
        }
    }
    assert_eq!(waiting.len(), 40);
    assert_eq!(applier.in_flight(), 0);
    assert!(applier.try_next().is_none());
    // Her entry, then the records again: all stored, in the order submitted.
    applier.submit(members_of(&alice_db)).unwrap();
    applier.submit(waiting).unwrap();
    let mut stored = Vec::new();
    while let Some(applied) = applier.wait_next() {
        let outcome = applied.unwrap().outcome;
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
        stored.extend(outcome.stored.into_iter().filter(|e| e.kind == SyncKind::Record).map(|e| e.id));
    }
    assert_eq!(stored, ids.iter().map(|id| id.as_bytes().to_vec()).collect::<Vec<_>>());
    // Dropping it with items in flight writes them first.
    let last = alice_db.add_record(&w.alice, new_record(1, b"last")).unwrap();
    applier.submit(records_of(&alice_db, &[last.id])).unwrap();
    drop(applier);
    assert_eq!(bob_db.record(last.id).unwrap(), last);
    for id in &ids {
        assert_eq!(bob_db.record(*id).unwrap(), alice_db.record(*id).unwrap());
    }
}

/// The bulk settings (a memory map, a larger cache) last as long as the bulk work: a snapshot
/// read, an applier's life. Afterwards each handle reads as before, without a map.
#[test]
fn bulk_reads_and_an_applier_give_each_handle_its_settings_back() {
    let w = world();
    let alice_db = w.db(&w.alice);
    alice_db.add_record(&w.alice, new_record(1, b"x")).unwrap();
    let settings = |db: &GroupDb| {
        db.with_connection(|c| {
            let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
            let mmap: i64 = c.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap();
            (cache, mmap)
        })
    };
    let before = settings(&alice_db);
    assert_eq!(before.1, 0, "no map outside bulk work");
    let items = everything(&alice_db);
    assert_eq!(settings(&alice_db), before);

    let (checker, writer) = (Arc::new(w.db(&w.bob)), Arc::new(w.db(&w.bob)));
    let (checker_before, writer_before) = (settings(&checker), settings(&writer));
    let mut applier = Applier::new(Arc::clone(&checker), Arc::clone(&writer), remote("alice")).unwrap();
    applier.submit(items).unwrap();
    while let Some(applied) = applier.wait_next() {
        applied.unwrap();
    }
    drop(applier);
    assert_eq!(settings(&checker), checker_before);
    assert_eq!(settings(&writer), writer_before);
}
