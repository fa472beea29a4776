//! Group security end to end: create, invite, join, validate; every rule of chain validation
//! and every error of invitations, joining, key access and configuration export.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod security_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use der::asn1::OctetString;
use der::{Encode, Sequence};
use peergroup_identity::x509::{from_pem, to_pem};
use peergroup_identity::{Identity, IdentityError, KeyAccessReason, Keystore, PeerName, testing};
use peergroup_security::{
    ChainFault, InvitationRequest, MAX_CHAIN_LEN, NewGroup, Role, SecurityError, config, invitation, validate_chain,
};
use peergroup_state::{JoinOutcome, MembershipStore, StateError};
use security_support::{BASE, admin_chain, gmc, grc, keyed, sec, t};

struct World {
    _tmp: tempfile::TempDir,
    keystore: Keystore,
    store: MembershipStore,
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    World { _tmp: tmp, keystore, store }
}

impl World {
    fn identity(&self, name: &str, key: usize) -> Identity {
        self.keystore.create_with_key(name, Some(name), &testing::key(key)).unwrap()
    }
}

fn now() -> SystemTime {
    SystemTime::now()
}

fn member() -> InvitationRequest {
    InvitationRequest { roles: vec![Role::Member], expiration: None }
}

fn admin() -> InvitationRequest {
    InvitationRequest { roles: vec![Role::Administrator], expiration: None }
}

/// Creator key 0 (group key 50), invitee key 1.
fn created(w: &World) -> (Identity, PeerName) {
    let alice = w.identity("alice", 0);
    let db = w.store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(50), now()).unwrap();
    (alice, db.group_peer_name().clone())
}

#[test]
fn create_invite_join_then_validate_the_joiners_chain() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);

    let owner = w.store.get(alice.peer_name(), &group).unwrap();
    let props = w.store.groups(alice.peer_name()).unwrap().open(&group).unwrap().properties().unwrap();
    assert_eq!(props, NewGroup::new("chat", "Chat").to_properties(&group, alice.peer_name()));
    assert_eq!(owner.chain.len(), 2);
    assert_eq!(owner.roles(), &[Role::Administrator]);
    assert!(owner.synchronized && owner.is_owner_chain());
    assert_eq!(group.classifier(), "chat");
    assert_eq!(group.authority(), peergroup_identity::Authority::of_public_key(&owner.chain.root().public_key));
    // The creator's GMC is "infinite": 1000 years.
    let life = owner.chain.leaf().not_after - owner.chain.leaf().not_before;
    assert!(life >= 1000 * 31_556_952, "{life}");

    let text = w.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    assert!(text.starts_with("-----BEGIN PEERGROUP INVITATION-----\n"));
    assert!(text.lines().all(|l| l.len() <= 64 && l.is_ascii()));

    // Parsing shows everything without joining.
    let info = invitation::parse(&text).unwrap();
    assert_eq!(info.group, group);
    assert_eq!(info.group_friendly_name, "Chat");
    assert_eq!(info.cloud, "Global_");
    assert_eq!(info.issuer, *alice.peer_name());
    assert_eq!(info.issuer_friendly_name, "alice");
    assert_eq!(info.subject, *bob.peer_name());
    assert_eq!(info.subject_friendly_name, "bob");
    assert_eq!(info.subject_public_key, bob.public_key_der());
    assert_eq!(info.roles, vec![Role::Member]);
    assert_eq!(info.authentication_scheme, 1);
    // Default validity: the issuer's remaining lifetime.
    assert_eq!(peergroup_security::unix_seconds(info.not_after), owner.chain.leaf().not_after);
    assert!(w.store.get(bob.peer_name(), &group).is_err(), "parse must not join");
    // It survives a trip through mail: surrounding text and CRLF line ends.
    let mail = format!("Hi Bob,\r\n\r\njoin us:\r\n\r\n{}\r\nAlice\r\n", text.replace('\n', "\r\n"));
    assert_eq!(invitation::parse(&mail).unwrap(), info);

    let joined = w.store.join(&bob, &text, now()).unwrap();
    let JoinOutcome::Joined(m) = &joined else { panic!("{joined:?}") };
    assert!(!m.synchronized);
    let stored = w.store.get(bob.peer_name(), &group).unwrap();
    assert_eq!(&stored, m);
    let chain = validate_chain(&stored.chain.to_der(), Some(&group), Some(now())).unwrap();
    assert_eq!(chain.len(), 3);
    assert_eq!(chain.leaf().subject, *bob.peer_name());
    assert_eq!(chain.leaf().roles, vec![Role::Member]);
    assert_eq!(w.store.list(bob.peer_name()).unwrap(), vec![stored.clone()]);

    // The joiner has a group database with provisional properties and itself as member.
    let groups = w.store.groups(bob.peer_name()).unwrap();
    let db = groups.open(&group).unwrap();
    let props = db.properties().unwrap();
    assert_eq!((props.group_peer_name.clone(), props.creator.clone()), (group.clone(), alice.peer_name().clone()));
    assert_eq!(props.friendly_name, "Chat");
    let me = db.member(bob.peer_name()).unwrap();
    assert_eq!(me.roles, vec![Role::Member.guid()]);
    assert_eq!(me.public_key, bob.public_key_der());
    drop(db);

    // Joining twice is harmless: PEER_S_ALREADY_A_MEMBER, nothing changes.
    let again = w.store.join(&bob, &text, now()).unwrap();
    assert_eq!(again, JoinOutcome::AlreadyMember(stored));

    // Deleting the group (storage) removes the membership and keys with the database.
    groups.delete(&group).unwrap();
    assert!(matches!(w.store.get(bob.peer_name(), &group), Err(StateError::GroupNotFound { .. })));
    let alice_groups = w.store.groups(alice.peer_name()).unwrap();
    assert!(alice_groups.group_dir(&group).join("group.key").is_file());
    alice_groups.delete(&group).unwrap();
    assert!(!alice_groups.group_dir(&group).exists());
}

#[test]
fn chains_of_length_1_2_24_are_valid_and_25_is_too_long() {
    let keys: Vec<_> = (10..10 + MAX_CHAIN_LEN + 1).map(keyed).collect();
    let full = admin_chain(&keys);
    assert_eq!(full.len(), 25);
    for len in [1, 2, 24] {
        let chain = validate_chain(&full[..len], None, Some(t(BASE))).unwrap();
        assert_eq!(chain.len(), len);
    }
    match validate_chain(&full, None, Some(t(BASE))) {
        Err(SecurityError::ChainTooLong { len: 25, max: 24 }) => {}
        other => panic!("{other:?}"),
    }
}

fn fault(r: peergroup_security::Result<impl std::fmt::Debug>) -> (usize, ChainFault) {
    match r {
        Err(SecurityError::ChainNotTrusted { index, fault }) => (index, fault),
        other => panic!("expected ChainNotTrusted, got {other:?}"),
    }
}

#[test]
fn every_chain_rule_has_its_error() {
    let (g, a, b, c) = (keyed(20), keyed(21), keyed(22), keyed(23));
    let root = grc(&g, BASE - 1000, BASE + 1000);
    let admin_a = gmc(&root, &g, &a, &[Role::Administrator], BASE - 1000, BASE + 1000);
    let ok = |certs: &[&peergroup_security::GroupCertificate]| certs.iter().map(|c| c.der.clone()).collect::<Vec<_>>();
    validate_chain(&ok(&[&root, &admin_a]), Some(&root.group), Some(t(BASE))).unwrap();

    // Empty.
    assert_eq!(fault(validate_chain::<Vec<u8>>(&[], None, None)), (0, ChainFault::Empty));

    // Member issues nothing: neither member nor administrator.
    let member_b = gmc(&admin_a, &a, &b, &[Role::Member], BASE - 1000, BASE + 1000);
    for role in [Role::Member, Role::Administrator] {
        let by_member = gmc(&member_b, &b, &c, &[role], BASE - 1000, BASE + 1000);
        let (index, f) = fault(validate_chain(&ok(&[&root, &admin_a, &member_b, &by_member]), None, None));
        assert_eq!(index, 3);
        assert!(matches!(f, ChainFault::RoleNotIssuable { role: r, .. } if r == role), "{f}");
    }
    // An administrator issues administrators, who issue further.
    let admin_b = gmc(&admin_a, &a, &b, &[Role::Administrator, Role::Member], BASE - 1000, BASE + 1000);
    let member_c = gmc(&admin_b, &b, &c, &[Role::Member], BASE - 1000, BASE + 1000);
    validate_chain(&ok(&[&root, &admin_a, &admin_b, &member_c]), None, Some(t(BASE))).unwrap();

    // No roles.
    let none = gmc(&root, &g, &a, &[], BASE - 1000, BASE + 1000);
    assert_eq!(fault(validate_chain(&ok(&[&root, &none]), None, None)), (1, ChainFault::NoRoles));

    // Validity not inside the issuer's, at either end.
    for (nb, na) in [(BASE - 1001, BASE), (BASE, BASE + 1001)] {
        let wide = gmc(&admin_a, &a, &b, &[Role::Member], nb, na);
        let (index, f) = fault(validate_chain(&ok(&[&root, &admin_a, &wide]), None, None));
        assert_eq!(index, 2);
        assert!(matches!(f, ChainFault::ValidityNotNested { .. }), "{f}");
    }

    // Expired and not yet valid: PEER_E_INVALID_TIME_PERIOD, naming the certificate.
    let short = gmc(&admin_a, &a, &b, &[Role::Member], BASE - 10, BASE + 10);
    let chain = ok(&[&root, &admin_a, &short]);
    validate_chain(&chain, None, Some(t(BASE))).unwrap();
    for at in [BASE - 11, BASE + 11] {
        match validate_chain(&chain, None, Some(t(at))) {
            Err(SecurityError::InvalidTimePeriod { not_before, not_after, now, what }) => {
                assert_eq!((not_before, not_after, now), (BASE - 10, BASE + 10, at));
                assert!(what.contains("certificate 2"), "{what}");
            }
            other => panic!("{other:?}"),
        }
    }

    // A cycle: a key that appears earlier in the chain (here the first administrator's).
    let a_again = gmc(&admin_b, &b, &a, &[Role::Member], BASE - 1000, BASE + 1000);
    match validate_chain(&ok(&[&root, &admin_a, &admin_b, &a_again]), None, None) {
        Err(SecurityError::CircularChain { index: 3, earlier: 1 }) => {}
        other => panic!("{other:?}"),
    }
    // ... including the group key itself.
    let g_again = gmc(&admin_a, &a, &g, &[Role::Member], BASE - 1000, BASE + 1000);
    assert!(matches!(
        validate_chain(&ok(&[&root, &admin_a, &g_again]), None, None),
        Err(SecurityError::CircularChain { index: 2, earlier: 0 })
    ));

    // A signature by another key than the previous certificate's: the chain is broken.
    let forged = gmc(&admin_a, &c, &b, &[Role::Member], BASE - 1000, BASE + 1000);
    let (index, f) = fault(validate_chain(&ok(&[&root, &admin_a, &forged]), None, None));
    assert_eq!(index, 2);
    assert!(matches!(f, ChainFault::BadCertificate(_)), "{f}");

    // The root must be a GRC whose key owns the group peer name.
    // a GMC is not self-signed: as a root its signature does not verify
    assert!(matches!(fault(validate_chain(&ok(&[&admin_a]), None, None)), (0, ChainFault::BadCertificate(_))));
    let impostor_group = PeerName::secure(&a.subject.public_key, "g").unwrap();
    let impostor = peergroup_security::issue_grc(g.key.as_ref(), &impostor_group, t(BASE - 9), t(BASE + 9)).unwrap();
    let (index, f) = fault(validate_chain(&[impostor], None, None));
    assert_eq!(index, 0);
    assert!(matches!(f, ChainFault::RootKeyMismatch { .. }), "{f}");
    // A self-signed GMC as root: not a group root.
    let mut self_issuer = root.clone();
    self_issuer.public_key = a.subject.public_key.clone();
    let self_signed = gmc(&self_issuer, &a, &a, &[Role::Administrator], BASE - 9, BASE + 9);
    assert_eq!(fault(validate_chain(&ok(&[&self_signed]), None, None)), (0, ChainFault::NotGroupRoot));
    // A GRC after the first place.
    let other_root = grc(&a, BASE - 9, BASE + 9);
    let (index, f) = fault(validate_chain(&ok(&[&other_root, &other_root]), None, None));
    assert_eq!((index, f), (1, ChainFault::NotMembership));

    // A certificate without the peergroup extensions (an identity certificate) is no root.
    let w = world();
    let id = w.identity("plain", 24);
    let (index, f) = fault(validate_chain(&[id.certificate_der()], None, None));
    assert_eq!(index, 0);
    assert!(matches!(f, ChainFault::BadExtension { extension: "certificate type", .. }), "{f}");

    // Every certificate names the same group, and the one expected.
    let mut elsewhere = admin_a.clone();
    elsewhere.group = other_root.group.clone();
    let stray = gmc(&elsewhere, &a, &b, &[Role::Member], BASE - 1000, BASE + 1000);
    let (index, f) = fault(validate_chain(&ok(&[&root, &admin_a, &stray]), None, None));
    assert_eq!(index, 2);
    assert!(matches!(f, ChainFault::WrongGroup { .. }), "{f}");
    let (index, f) = fault(validate_chain(&ok(&[&root]), Some(&other_root.group), None));
    assert_eq!(index, 0);
    assert!(matches!(f, ChainFault::WrongGroup { .. }), "{f}");
}

#[test]
fn invitation_for_a_presented_by_b_is_refused_naming_both() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let carol = w.identity("carol", 2);
    let text = w.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    match sec(w.store.join(&carol, &text, now())) {
        Err(SecurityError::InvitationNotForIdentity { invitee, presented }) => {
            assert_eq!(invitee, bob.peer_name().to_string());
            assert_eq!(presented, carol.peer_name().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.store.get(carol.peer_name(), &group), Err(StateError::GroupNotFound { .. })));
    // The same key under another classifier is another identity too.
    let bob2 = w.keystore.create_with_key("bob2", None, &testing::key(1));
    assert!(bob2.is_err(), "the keystore holds one identity per key");
}

#[test]
fn a_byte_flipped_anywhere_in_an_invitation_is_refused() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let text = w.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    let der = from_pem("PEERGROUP INVITATION", &text).unwrap().remove(0);
    invitation::parse_der(&der).unwrap();
    for pos in 0..der.len() {
        for mask in [0x01u8, 0x80] {
            let mut bad = der.clone();
            bad[pos] ^= mask;
            assert!(invitation::parse_der(&bad).is_err(), "flipping bit {mask:#x} of byte {pos} was not noticed");
        }
    }
    // Through the text form and the join path as well.
    let mut bad = der.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let bad_text = to_pem("PEERGROUP INVITATION", &bad);
    assert!(w.store.join(&bob, &bad_text, now()).is_err());
    assert!(w.store.get(bob.peer_name(), &group).is_err());
}

#[test]
fn expired_and_not_yet_valid_invitations_are_invalid_time_period() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let start = now();
    let request = InvitationRequest { roles: vec![], expiration: Some(start + Duration::from_secs(3600)) };
    let text = w.store.create_invitation(&alice, &group, bob.info(), &request, start).unwrap();
    assert_eq!(invitation::parse(&text).unwrap().roles, vec![Role::Member], "no roles means member");
    for at in [start + Duration::from_secs(7200), start - Duration::from_secs(3 * 86_400)] {
        match sec(w.store.join(&bob, &text, at)) {
            Err(SecurityError::InvalidTimePeriod { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(w.store.join(&bob, &text, start).unwrap(), JoinOutcome::Joined(_)));
}

// The invitation structure, rebuilt here to forge invitations the API refuses to make.
#[derive(Sequence)]
struct SignedInvitation {
    tbs: OctetString,
    signature: OctetString,
}
#[derive(Sequence)]
struct TbsInvitation {
    version: u8,
    group_peer_name: String,
    group_friendly_name: String,
    cloud_name: String,
    cloud_scope: u32,
    cloud_flags: u32,
    auth_scheme: u32,
    issuer_chain: Vec<OctetString>,
    subject_certificate: OctetString,
}

#[test]
fn a_member_cannot_issue_administrator_roles() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let carol = w.identity("carol", 2);
    let text = w.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    w.store.join(&bob, &text, now()).unwrap();
    w.store.mark_synchronized(bob.peer_name(), &group).unwrap();

    // Through the API: a member may not invite at all.
    for request in [admin(), member()] {
        match sec(w.store.create_invitation(&bob, &group, carol.info(), &request, now())) {
            Err(SecurityError::NotAuthorized { identity, group: g, .. }) => {
                assert_eq!(identity, bob.peer_name().to_string());
                assert_eq!(g, group.to_string());
            }
            other => panic!("{other:?}"),
        }
    }

    // Forged by hand: Bob signs an administrator GMC for Carol and an invitation around it.
    let bobs = w.store.get(bob.peer_name(), &group).unwrap();
    let forged = forge_invitation(&bob, &bobs, &carol, Role::Administrator, 1);
    match sec(w.store.join(&carol, &forged, now())) {
        Err(SecurityError::ChainNotTrusted { index: 3, fault: ChainFault::RoleNotIssuable { role, .. } }) => {
            assert_eq!(role, Role::Administrator);
        }
        other => panic!("{other:?}"),
    }

    // A future format version, properly signed, is PEER_E_UNSUPPORTED_VERSION.
    let alices = w.store.get(alice.peer_name(), &group).unwrap();
    match invitation::parse(&forge_invitation(&alice, &alices, &carol, Role::Member, 2)) {
        Err(SecurityError::UnsupportedFormatVersion { what: "invitation", found: 2, supported: 1 }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn administrators_invite_administrators_who_invite_further() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let carol = w.identity("carol", 2);
    let text = w.store.create_invitation(&alice, &group, bob.info(), &admin(), now()).unwrap();
    w.store.join(&bob, &text, now()).unwrap();
    // Not synchronised yet: PEER_E_GROUP_NOT_READY.
    match sec(w.store.create_invitation(&bob, &group, carol.info(), &member(), now())) {
        Err(SecurityError::GroupNotReady { group: g }) => assert_eq!(g, group.to_string()),
        other => panic!("{other:?}"),
    }
    w.store.mark_synchronized(bob.peer_name(), &group).unwrap();
    let bobs = w.store.get(bob.peer_name(), &group).unwrap();
    assert!(bobs.ensure_ready().is_ok());
    let text = w.store.create_invitation(&bob, &group, carol.info(), &member(), now()).unwrap();
    let JoinOutcome::Joined(m) = w.store.join(&carol, &text, now()).unwrap() else { panic!() };
    assert_eq!(m.chain.len(), 4);
    assert_eq!(invitation::parse(&text).unwrap().issuer, *bob.peer_name());
}

#[test]
fn credential_info_and_chain_length_are_checked_when_issuing() {
    let w = world();
    let (alice, group) = created(&w);
    let bob = w.identity("bob", 1);
    let owner = w.store.get(alice.peer_name(), &group).unwrap();
    let end = peergroup_security::from_unix_seconds(owner.chain.leaf().not_after);
    for expiration in [end + Duration::from_secs(1), now() - Duration::from_secs(1)] {
        let request = InvitationRequest { roles: vec![Role::Member], expiration: Some(expiration) };
        assert!(matches!(
            sec(w.store.create_invitation(&alice, &group, bob.info(), &request, now())),
            Err(SecurityError::InvalidCredentialInfo { .. })
        ));
    }
    // An issuer whose own chain is already 24 long cannot make a 25th certificate.
    let keys: Vec<_> = (10..10 + MAX_CHAIN_LEN).map(keyed).collect();
    let full = admin_chain(&keys);
    let chain = validate_chain(&full, None, None).unwrap();
    let last = chain.leaf().subject.clone();
    let membership = peergroup_security::Membership {
        identity: last,
        group_friendly_name: "long".into(),
        cloud: Default::default(),
        chain,
        synchronized: true,
    };
    match invitation::create(&membership, keys[23].key.as_ref(), bob.info(), &member(), t(BASE)) {
        Err(SecurityError::ChainTooLong { len: 25, max: 24 }) => {}
        other => panic!("{other:?}"),
    }
    // A key that is not the membership's is refused.
    assert!(matches!(
        invitation::create(&membership, keys[0].key.as_ref(), bob.info(), &member(), t(BASE)),
        Err(SecurityError::NotAuthorized { .. })
    ));
}

#[test]
fn group_key_is_kept_under_the_key_access_rules() {
    let w = world();
    let (alice, group) = created(&w);
    let dir = w.store.dir(alice.peer_name(), &group);
    let key_path = dir.join("group.key");
    assert_eq!(std::fs::metadata(&key_path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    let key = w.store.group_key(alice.peer_name(), &group).unwrap();
    let owner = w.store.get(alice.peer_name(), &group).unwrap();
    assert_eq!(key.public_key_der(), owner.chain.root().public_key.as_slice());

    w.store.check_group_key_access(alice.peer_name(), &group).unwrap();
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    match w.store.check_group_key_access(alice.peer_name(), &group) {
        Err(StateError::Identity(IdentityError::NoKeyAccess { path, .. })) => assert_eq!(path, key_path),
        other => panic!("{other:?}"),
    }
    match w.store.group_key(alice.peer_name(), &group) {
        Err(StateError::Identity(IdentityError::NoKeyAccess { path, reason })) => {
            assert_eq!(path, key_path);
            assert_eq!(reason, KeyAccessReason::GroupOrOtherAccess { mode: 0o644 });
        }
        other => panic!("{other:?}"),
    }
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(
        w.store.group_key(alice.peer_name(), &group),
        Err(StateError::Identity(IdentityError::NoKeyAccess { ref path, .. })) if *path == dir
    ));

    // Creating a group where the identity's groups folder is not private is refused, naming it.
    let w2 = world();
    let carol = w2.identity("carol", 2);
    let groups_dir = w2.store.groups(carol.peer_name()).unwrap().dir().to_owned();
    std::fs::set_permissions(&groups_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    match w2.store.create_group_with_key(&carol, &NewGroup::new("x", "X"), testing::key(51), now()) {
        Err(StateError::Identity(IdentityError::NoKeyAccess { path, .. })) => assert_eq!(path, groups_dir),
        other => panic!("{other:?}"),
    }
    // A member holds no group key.
    let bob = w.identity("bob", 1);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let text = w.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    w.store.join(&bob, &text, now()).unwrap();
    assert!(matches!(sec(w.store.group_key(bob.peer_name(), &group)), Err(SecurityError::NotAuthorized { .. })));
}

#[test]
fn invalid_properties_are_refused_at_create() {
    let w = world();
    let alice = w.identity("alice", 0);
    let bad = NewGroup { friendly_name: "x".repeat(256), ..NewGroup::new("chat", "Chat") };
    assert!(matches!(
        sec(w.store.create_group_with_key(&alice, &bad, testing::key(50), now())),
        Err(SecurityError::InvalidGroupProperties { .. })
    ));
    assert!(w.store.list(alice.peer_name()).unwrap().is_empty());
}

#[test]
fn damaged_membership_file_is_corrupt_naming_it() {
    let w = world();
    let (alice, group) = created(&w);
    let path = w.store.dir(alice.peer_name(), &group).join("membership");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut der = from_pem("PEERGROUP MEMBERSHIP", &text).unwrap().remove(0);
    let mid = der.len() / 2;
    der[mid] ^= 0x20;
    std::fs::write(&path, to_pem("PEERGROUP MEMBERSHIP", &der)).unwrap();
    match w.store.get(alice.peer_name(), &group) {
        Err(StateError::CorruptMembership { path: p, .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
}

#[test]
fn config_export_moves_a_membership_to_another_machine() {
    let here = world();
    let (alice, group) = created(&here);
    let bob = here.identity("bob", 1);
    let text = here.store.create_invitation(&alice, &group, bob.info(), &member(), now()).unwrap();
    here.store.join(&bob, &text, now()).unwrap();

    let owner_export = here.store.export_config(&alice, &group, "correct horse").unwrap();
    let member_export = here.store.export_config(&bob, &group, "battery staple").unwrap();
    assert!(!owner_export.contains(&group.to_string()), "nothing readable without the password");
    assert!(matches!(sec(here.store.export_config(&alice, &group, "short")), Err(SecurityError::InvalidConfig { .. })));

    // The other machine: identities move with the identity export first.
    let there = world();
    let alice2 =
        there.keystore.import(&here.keystore.export(alice.peer_name(), "id password").unwrap(), "id password").unwrap();
    let bob2 =
        there.keystore.import(&here.keystore.export(bob.peer_name(), "id password").unwrap(), "id password").unwrap();
    assert!(matches!(
        sec(there.store.import_config(&alice2, &owner_export, "wrong password", false)),
        Err(SecurityError::InvalidConfig { .. })
    ));
    assert!(matches!(
        sec(there.store.import_config(&bob2, &owner_export, "correct horse", false)),
        Err(SecurityError::InvalidConfig { .. })
    ));
    let m = there.store.import_config(&alice2, &owner_export, "correct horse", false).unwrap();
    let original = here.store.get(alice.peer_name(), &group).unwrap();
    assert_eq!(
        (&m.chain, &m.cloud, &m.group_friendly_name),
        (&original.chain, &original.cloud, &original.group_friendly_name)
    );
    assert_eq!(there.store.get(alice2.peer_name(), &group).unwrap(), m);
    let key = there.store.group_key(alice2.peer_name(), &group).unwrap();
    assert_eq!(key.public_key_der(), m.chain.root().public_key.as_slice());
    match there.store.import_config(&alice2, &owner_export, "correct horse", false) {
        Err(StateError::GroupExists { group: g, identity }) => {
            assert_eq!(g, group.to_string());
            assert_eq!(identity, alice2.peer_name().to_string());
        }
        other => panic!("{other:?}"),
    }
    there.store.import_config(&alice2, &owner_export, "correct horse", true).unwrap();

    let m = there.store.import_config(&bob2, &member_export, "battery staple", false).unwrap();
    assert!(!m.synchronized);
    assert!(matches!(sec(there.store.group_key(bob2.peer_name(), &group)), Err(SecurityError::NotAuthorized { .. })));

    // The moved owner can invite on the new machine once synchronised (the export carries
    // no database).
    assert!(matches!(
        sec(there.store.create_invitation(&alice2, &group, bob2.info(), &member(), now())),
        Err(SecurityError::GroupNotReady { .. })
    ));
    there.store.mark_synchronized(alice2.peer_name(), &group).unwrap();
    let carol = there.identity("carol", 2);
    let text = there.store.create_invitation(&alice2, &group, carol.info(), &member(), now()).unwrap();
    there.store.join(&carol, &text, now()).unwrap();

    // Pure import of a damaged file.
    let mut damaged = owner_export.clone();
    let mid = owner_export.len() / 2;
    damaged.replace_range(mid..mid + 1, if &owner_export[mid..mid + 1] == "A" { "B" } else { "A" });
    assert!(config::import(&damaged, "correct horse").is_err());
}

#[test]
fn oversized_inputs_are_refused_before_parsing() {
    let big = "A".repeat(invitation::MAX_INVITATION_LEN + 1);
    assert!(matches!(invitation::parse(&big), Err(SecurityError::InputTooLarge { .. })));
    assert!(matches!(config::import(&big.repeat(3), "password"), Err(SecurityError::InputTooLarge { .. })));
    assert!(matches!(invitation::parse("hello"), Err(SecurityError::InvalidInvitation { .. })));
}

/// An invitation made by hand, outside the library's checks: `signer` (holding `issuer`)
/// issues `invitee` a GMC with `role` and signs an invitation of format `version` around it.
fn forge_invitation(
    signer: &Identity,
    issuer: &peergroup_security::Membership,
    invitee: &Identity,
    role: Role,
    version: u8,
) -> String {
    let gmc = peergroup_security::issue_gmc(
        issuer.chain.leaf(),
        signer.signing_key().unwrap(),
        &invitee.info().into(),
        &[role],
        now(),
        now() + Duration::from_secs(3600),
    )
    .unwrap();
    let tbs = TbsInvitation {
        version,
        group_peer_name: issuer.group().to_string(),
        group_friendly_name: "Chat".into(),
        cloud_name: "Global_".into(),
        cloud_scope: 1,
        cloud_flags: 0,
        auth_scheme: 1,
        issuer_chain: issuer.chain.to_der().into_iter().map(|c| OctetString::new(c).unwrap()).collect(),
        subject_certificate: OctetString::new(gmc).unwrap(),
    }
    .to_der()
    .unwrap();
    let signature = signer.sign(&tbs).unwrap();
    let signed =
        SignedInvitation { tbs: OctetString::new(tbs).unwrap(), signature: OctetString::new(signature).unwrap() };
    to_pem("PEERGROUP INVITATION", &signed.to_der().unwrap())
}
