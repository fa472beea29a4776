//! `PeerGroupIssueCredentials` in the group database: an administrator renews or promotes a
//! member and stores the new chain in its member entry; the entry replicates through the trust
//! path; the member adopts it in its membership file; without storing, joining with the
//! credentials' invitation renews the membership.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_security::{InvitationRequest, NewGroup, Role, SecurityError, invitation};
use peergroup_state::{
    CredentialRequest, CredentialSubject, GroupDb, JoinOutcome, MEMBERSHIP_FILE, MembershipStore, Origin, StateError,
    SyncKind,
};

struct World {
    _tmp: tempfile::TempDir,
    store: MembershipStore,
    alice: Identity,
    bob: Identity,
    carol: Identity,
    group: PeerName,
}

/// Alice (key 0) created a group (key 50); Bob (key 1) joined as a member and synchronised;
/// Alice's database holds Bob's entry; Carol (key 2) is not a member. All in one keystore, each with a database of its own.
fn world() -> World {
    world_with(true)
}

/// [`world`], Bob's membership marked synchronised or not.
fn world_with(bob_synchronized: bool) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    let id = |name: &str, key| keystore.create_with_key(name, Some(name), &testing::key(key)).unwrap();
    let (alice, bob, carol) = (id("alice", 0), id("bob", 1), id("carol", 2));
    let now = SystemTime::now();
    let db = store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(50), now).unwrap();
    let group = db.group_peer_name().clone();
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let text = store.create_invitation(&alice, &group, bob.info(), &request, now).unwrap();
    store.join(&bob, &text, now).unwrap();
    if bob_synchronized {
        store.mark_synchronized(bob.peer_name(), &group).unwrap();
    }
    let w = World { _tmp: tmp, store, alice, bob, carol, group };
    // Alice's database holds Bob once they synchronised.
    w.replicate(&w.bob, &w.alice, &w.bob);
    w
}

impl World {
    fn db(&self, who: &Identity) -> GroupDb {
        self.store.groups(who.peer_name()).unwrap().open(&self.group).unwrap()
    }

    /// Replicates `member`'s entry from `from`'s database to `to`'s, as a sync would.
    fn replicate(&self, from: &Identity, to: &Identity, member: &Identity) {
        let key = (SyncKind::Member, member.peer_name().to_string().into_bytes());
        let items = self.db(from).sync_items(&[key]).unwrap();
        let outcome = self.db(to).apply_batch(&items, &Origin::Remote("test".into())).unwrap();
        assert!(outcome.refused.is_empty(), "{:?}", outcome.refused);
    }

    fn roles(&self, who: &Identity) -> Vec<Role> {
        self.store.get(who.peer_name(), &self.group).unwrap().roles().to_vec()
    }
}

fn promote() -> CredentialRequest {
    CredentialRequest { roles: vec![Role::Administrator], store: true, ..CredentialRequest::default() }
}

#[test]
fn a_stored_promotion_replicates_and_the_member_adopts_it() {
    let w = world();
    let now = SystemTime::now();
    let before = w.store.get(w.bob.peer_name(), &w.group).unwrap();
    // Bob is a member: he may not issue.
    let err = w.db(&w.bob).issue_credentials(&w.bob, CredentialSubject::Identity(w.carol.info()), &promote(), now);
    assert!(matches!(err, Err(StateError::Security(SecurityError::NotAuthorized { .. }))), "{err:?}");

    // Alice promotes Bob, by peer name (his key and name are his member entry's), and stores it.
    let text =
        w.db(&w.alice).issue_credentials(&w.alice, CredentialSubject::Member(w.bob.peer_name()), &promote(), now);
    let info = invitation::parse(&text.unwrap()).unwrap();
    assert_eq!(info.roles, [Role::Administrator]);
    let held = w.db(&w.alice).member(w.bob.peer_name()).unwrap();
    assert_eq!(held.roles, [Role::Administrator.guid()]);

    let promoted = w.db(&w.alice).sync_items(&[(SyncKind::Member, w.bob.peer_name().to_string().into_bytes())]);
    // Bob's database receives the entry through the trust path; his membership takes it.
    assert_eq!(w.db(&w.bob).adopt_published_membership().unwrap(), None);
    w.replicate(&w.alice, &w.bob, &w.bob);
    let adopted = w.db(&w.bob).adopt_published_membership().unwrap().unwrap();
    assert_eq!(adopted.chain, info.chain);
    assert!(adopted.synchronized, "the synchronisation mark is kept");
    assert_eq!(adopted.cloud, before.cloud);
    assert_eq!(w.roles(&w.bob), [Role::Administrator]);
    assert_eq!(w.db(&w.bob).adopt_published_membership().unwrap(), None, "once");

    // Promoted, Bob invites Carol, who joins.
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let carol = w.store.create_invitation(&w.bob, &w.group, w.carol.info(), &request, now).unwrap();
    assert!(matches!(w.store.join(&w.carol, &carol, now).unwrap(), JoinOutcome::Joined(_)));

    // Demoted again, with an end: the later credentials win, whatever they grant.
    let end = now + Duration::from_secs(3600);
    let demote =
        CredentialRequest { roles: vec![Role::Member], expiration: Some(end), store: true, friendly_name: None };
    w.db(&w.alice).issue_credentials(&w.alice, CredentialSubject::Member(w.bob.peer_name()), &demote, now).unwrap();
    w.replicate(&w.alice, &w.bob, &w.bob);
    w.db(&w.bob).adopt_published_membership().unwrap().unwrap();
    assert_eq!(w.roles(&w.bob), [Role::Member]);
    // The promotion, replicated again, is stale: nothing goes back.
    let outcome = w.db(&w.bob).apply_batch(&promoted.unwrap(), &Origin::Remote("late".into())).unwrap();
    assert_eq!((outcome.stored.len(), outcome.stale), (0, 1));
    assert_eq!(w.db(&w.bob).adopt_published_membership().unwrap(), None);
    assert_eq!(w.roles(&w.bob), [Role::Member]);
}

#[test]
fn without_storing_joining_with_the_credentials_renews_the_membership() {
    let w = world();
    let now = SystemTime::now();
    let request = CredentialRequest { friendly_name: Some("Bobby".into()), ..CredentialRequest::default() };
    let text =
        w.db(&w.alice).issue_credentials(&w.alice, CredentialSubject::Identity(w.bob.info()), &request, now).unwrap();
    // Nothing published: Alice still holds Bob's first entry.
    let held = w.db(&w.alice).member(w.bob.peer_name()).unwrap();
    assert_eq!(held.roles, [Role::Member.guid()]);
    let before = w.store.get(w.bob.peer_name(), &w.group).unwrap();
    let JoinOutcome::AlreadyMember(renewed) = w.store.join(&w.bob, &text, now).unwrap() else { panic!() };
    assert!(renewed.chain.leaf().not_before > before.chain.leaf().not_before);
    assert_eq!(renewed.chain.leaf().friendly_name, "Bobby");
    assert!(renewed.synchronized);
    assert_eq!(w.store.get(w.bob.peer_name(), &w.group).unwrap(), renewed);
    // His own entry carries it, to replicate; joining again with it changes nothing.
    assert_eq!(w.db(&w.bob).member(w.bob.peer_name()).unwrap().friendly_name, "Bobby");
    let JoinOutcome::AlreadyMember(again) = w.store.join(&w.bob, &text, now).unwrap() else { panic!() };
    assert_eq!(again, renewed);
    // The membership file is private, and replaced whole.
    let dir = w.store.dir(w.bob.peer_name(), &w.group);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join(MEMBERSHIP_FILE)).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn subjects_that_cannot_be_issued() {
    let w = world();
    let now = SystemTime::now();
    let db = w.db(&w.alice);
    let err = db.issue_credentials(&w.alice, CredentialSubject::Member(w.carol.peer_name()), &promote(), now);
    assert!(matches!(err, Err(StateError::SubjectNotFound { .. })), "{err:?}");
    let err = db.issue_credentials(&w.alice, CredentialSubject::Member(w.alice.peer_name()), &promote(), now);
    assert!(matches!(err, Err(StateError::Security(SecurityError::InvalidSubject { .. }))), "{err:?}");
    let bad_name = CredentialRequest { friendly_name: Some("a\u{0}b".into()), ..CredentialRequest::default() };
    let err = db.issue_credentials(&w.alice, CredentialSubject::Member(w.bob.peer_name()), &bad_name, now);
    assert!(matches!(err, Err(StateError::Identity(_))), "{err:?}");
    // A new identity is issued member credentials, and with storing becomes a member entry.
    let store = CredentialRequest { store: true, ..CredentialRequest::default() };
    db.issue_credentials(&w.alice, CredentialSubject::Identity(w.carol.info()), &store, now).unwrap();
    assert_eq!(db.member(w.carol.peer_name()).unwrap().roles, [Role::Member.guid()]);
}

/// The first synchronisation's mark and the adoption of new credentials, in two threads at
/// once (as the presence's sync and its feed follower may), never undo each other: both
/// change the membership file under its lock.
#[test]
fn marking_and_adopting_at_once_keep_both() {
    for _ in 0..12 {
        let w = world_with(false);
        let now = SystemTime::now();
        let request = CredentialRequest { store: true, ..promote() };
        // Alice's copy is ready (she created the group); Bob's is not, yet.
        w.db(&w.alice)
            .issue_credentials(&w.alice, CredentialSubject::Member(w.bob.peer_name()), &request, now)
            .unwrap();
        w.replicate(&w.alice, &w.bob, &w.bob);
        let start = std::sync::Barrier::new(2);
        let (marker, adopter) = (w.db(&w.bob), w.db(&w.bob));
        std::thread::scope(|s| {
            s.spawn(|| {
                start.wait();
                marker.mark_synchronized().unwrap();
            });
            s.spawn(|| {
                start.wait();
                adopter.adopt_published_membership().unwrap();
            });
        });
        let m = w.store.get(w.bob.peer_name(), &w.group).unwrap();
        assert!(m.synchronized && m.roles() == [Role::Administrator], "{m:?}");
    }
}
