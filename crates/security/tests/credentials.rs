//! `PeerGroupIssueCredentials` on its own: an administrator renews a member or changes its
//! role, a member issues nothing, a renewal starts after the credentials it replaces, and the
//! new chain passes the trust path like every member entry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use peergroup_identity::{Identity, Keystore, testing};
use peergroup_security::invitation::{self, Credentials, issue_credentials};
use peergroup_security::trust::accept_member;
use peergroup_security::{GroupCertificate, InvitationRequest, Membership, NewGroup, Role, SecurityError, Subject};

struct World {
    _tmp: tempfile::TempDir,
    alice: Identity,
    bob: Identity,
    carol: Identity,
    admin: Membership,
}

const DAY: Duration = Duration::from_secs(86_400);

/// Alice (key 0) created a group (key 50); Bob (key 1) and Carol (key 2) are not members yet.
fn world(now: SystemTime) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
    let carol = keystore.create_with_key("carol", Some("Carol"), &testing::key(2)).unwrap();
    let created = NewGroup::new("chat", "Chat").create_certificates(alice.info(), testing::key(50), now).unwrap();
    let admin = Membership {
        identity: alice.peer_name().clone(),
        group_friendly_name: "Chat".into(),
        cloud: "Global_".into(),
        chain: created.chain,
        synchronized: true,
    };
    World { _tmp: tmp, alice, bob, carol, admin }
}

fn request(roles: &[Role], expiration: Option<SystemTime>) -> InvitationRequest {
    InvitationRequest { roles: roles.to_vec(), expiration }
}

fn issue(
    w: &World,
    by: &Membership,
    key: &Identity,
    subject: &Identity,
    req: &InvitationRequest,
    now: SystemTime,
) -> peergroup_security::Result<Credentials> {
    renew(w, by, key, subject, req, None, now)
}

/// [`issue`] for a subject whose certificate the group holds is `current`.
fn renew(
    w: &World,
    by: &Membership,
    key: &Identity,
    subject: &Identity,
    req: &InvitationRequest,
    current: Option<&GroupCertificate>,
    now: SystemTime,
) -> peergroup_security::Result<Credentials> {
    issue_credentials(by, key.signing_key().unwrap(), &Subject::from(subject.info()), req, current, now)
        .inspect(|c| assert_eq!(c.chain.group(), w.admin.group()))
}

/// The membership that `credentials` give `subject`.
fn membership_of(w: &World, subject: &Identity, credentials: &Credentials) -> Membership {
    Membership { identity: subject.peer_name().clone(), chain: credentials.chain.clone(), ..w.admin.clone() }
}

#[test]
fn an_administrator_renews_and_promotes_and_the_new_chain_is_trusted() {
    let now = SystemTime::now();
    let w = world(now);
    let first = issue(&w, &w.admin, &w.alice, &w.bob, &request(&[Role::Member], Some(now + DAY)), now).unwrap();
    // The invitation carries the same certificate as the chain.
    let parsed = invitation::parse(&first.invitation).unwrap();
    assert_eq!(parsed.chain, first.chain);
    assert_eq!(first.chain.leaf().roles, [Role::Member]);

    // A renewal as administrator, later in the same second: it starts after the first one.
    let admin = request(&[Role::Administrator], Some(now + 2 * DAY));
    let renewed = renew(&w, &w.admin, &w.alice, &w.bob, &admin, Some(first.chain.leaf()), now).unwrap();
    assert!(renewed.chain.leaf().not_before > first.chain.leaf().not_before);
    assert_eq!(renewed.chain.leaf().roles, [Role::Administrator]);
    let accepted = accept_member(w.admin.group(), w.bob.peer_name(), &renewed.chain.to_der(), now).unwrap();
    assert_eq!(accepted.roles(), [Role::Administrator]);

    // Promoted, Bob issues in turn (Carol joins with his invitation); as a member he could not.
    let bob_admin = membership_of(&w, &w.bob, &renewed);
    let carol = issue(&w, &bob_admin, &w.bob, &w.carol, &request(&[Role::Member], None), now).unwrap();
    assert_eq!(carol.chain.len(), 4);
    invitation::accept(&carol.invitation, w.carol.info(), now).unwrap();
    let bob_member = membership_of(&w, &w.bob, &first);
    let err = issue(&w, &bob_member, &w.bob, &w.carol, &request(&[Role::Member], None), now).unwrap_err();
    assert!(matches!(err, SecurityError::NotAuthorized { .. }), "{err:?}");
}

#[test]
fn bad_subjects_and_times_are_refused() {
    let now = SystemTime::now();
    let w = world(now);
    let member = request(&[Role::Member], None);
    // The issuer itself.
    let err = issue(&w, &w.admin, &w.alice, &w.alice, &member, now).unwrap_err();
    assert!(matches!(err, SecurityError::InvalidSubject { .. }), "{err:?}");
    // A key that is not the one of the member held under that name.
    let bob = issue(&w, &w.admin, &w.alice, &w.bob, &member, now).unwrap();
    let err = renew(&w, &w.admin, &w.alice, &w.carol, &member, Some(bob.chain.leaf()), now).unwrap_err();
    assert!(matches!(err, SecurityError::InvalidSubject { .. }), "{err:?}");
    // Credentials held that start so late that new ones cannot start after them by now.
    let later = now + 3 * DAY;
    let future = issue(&w, &w.admin, &w.alice, &w.bob, &member, later).unwrap();
    let err = renew(&w, &w.admin, &w.alice, &w.bob, &member, Some(future.chain.leaf()), now).unwrap_err();
    assert!(matches!(err, SecurityError::InvalidCredentialInfo { .. }), "{err:?}");
    // An administrator renewing the administrator who issued its own chain makes a circle.
    let bob_admin = issue(&w, &w.admin, &w.alice, &w.bob, &request(&[Role::Administrator], None), now).unwrap();
    let bob_admin = membership_of(&w, &w.bob, &bob_admin);
    let err = renew(&w, &bob_admin, &w.bob, &w.alice, &member, Some(w.admin.chain.leaf()), now).unwrap_err();
    assert!(matches!(err, SecurityError::CircularChain { .. }), "{err:?}");
}
