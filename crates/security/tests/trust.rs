//! The trust path on its own, without any storage: members are accepted only with a chain to
//! the group's root, records (and the group properties) only signed by an accepted member
//! whom the policy allows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_security::trust::{PropertiesClaim, RecordClaim, accept_member, accept_properties, accept_record};
use peergroup_security::{InvitationRequest, Membership, NewGroup, Role, SecurityError, ValidatedChain, invitation};
use uuid::Uuid;

struct Group {
    _tmp: tempfile::TempDir,
    alice: Identity,
    bob: Identity,
    name: PeerName,
    alice_chain: ValidatedChain,
    bob_chain: ValidatedChain,
}

/// Alice (key 0) creates a group (key 50) and invites Bob (key 1) as a member for a day.
fn group(now: SystemTime) -> Group {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
    let created = NewGroup::new("chat", "Chat").create_certificates(alice.info(), testing::key(50), now).unwrap();
    let membership = Membership {
        identity: alice.peer_name().clone(),
        group_friendly_name: "Chat".into(),
        cloud: "Global_".into(),
        chain: created.chain.clone(),
        synchronized: true,
    };
    let request = InvitationRequest { roles: vec![Role::Member], expiration: Some(now + Duration::from_secs(86_400)) };
    let text = invitation::create(&membership, alice.signing_key().unwrap(), bob.info(), &request, now).unwrap();
    let bob_chain = invitation::parse(&text).unwrap().chain;
    Group { _tmp: tmp, alice, bob, name: created.group, alice_chain: created.chain, bob_chain }
}

fn refused_member(r: peergroup_security::Result<impl std::fmt::Debug>) -> (String, String) {
    match r {
        Err(SecurityError::MemberNotTrusted { member, reason }) => (member, reason),
        other => panic!("expected MemberNotTrusted, got {other:?}"),
    }
}

#[test]
fn members_need_their_own_chain_to_the_groups_root_valid_now() {
    let now = SystemTime::now();
    let g = group(now);
    let bob = accept_member(&g.name, g.bob.peer_name(), &g.bob_chain.to_der(), now).unwrap();
    assert_eq!((bob.peer_name(), bob.roles()), (g.bob.peer_name(), &[Role::Member][..]));
    assert_eq!(bob.public_key(), g.bob.public_key_der());

    // Another member's chain under Bob's name.
    let (member, reason) = refused_member(accept_member(&g.name, g.bob.peer_name(), &g.alice_chain.to_der(), now));
    assert_eq!(member, g.bob.peer_name().to_string());
    assert!(reason.contains(&g.alice.peer_name().to_string()), "{reason}");
    // The root alone: no membership certificate.
    let root_only = &g.bob_chain.to_der()[..1];
    let (_, reason) = refused_member(accept_member(&g.name, g.bob.peer_name(), root_only, now));
    assert!(reason.contains("no membership certificate"), "{reason}");
    // Another group's name: the root does not own it.
    let other: PeerName = format!("{}.chat", "ab".repeat(20)).parse().unwrap();
    refused_member(accept_member(&other, g.bob.peer_name(), &g.bob_chain.to_der(), now));
    // Expired: Bob's certificate ended after a day.
    let later = now + Duration::from_secs(2 * 86_400);
    let (_, reason) = refused_member(accept_member(&g.name, g.bob.peer_name(), &g.bob_chain.to_der(), later));
    assert!(reason.contains("valid from"), "{reason}");
    // No chain at all.
    refused_member(accept_member::<Vec<u8>>(&g.name, g.bob.peer_name(), &[], now));
}

#[test]
fn records_need_an_accepted_signer_whom_the_policy_allows() {
    let now = SystemTime::now();
    let g = group(now);
    let alice = accept_member(&g.name, g.alice.peer_name(), &g.alice_chain.to_der(), now).unwrap();
    let bob = accept_member(&g.name, g.bob.peer_name(), &g.bob_chain.to_der(), now).unwrap();
    let signed = b"the canonical bytes of a record".to_vec();
    let by_bob = g.bob.sign(&signed).unwrap();
    let claim = |version, creator: &'static str, deleted| {
        let creator = if creator == "alice" { g.alice.peer_name() } else { g.bob.peer_name() };
        (version, creator.clone(), deleted)
    };
    let check = |(version, creator, deleted): (u32, PeerName, bool), signer: Option<&_>, signature: &[u8]| {
        accept_record(
            &RecordClaim {
                id: Uuid::from_u128(9),
                record_type: Uuid::from_u128(1),
                version,
                deleted,
                creator: &creator,
                modifier: g.bob.peer_name(),
                signed: &signed,
                signature,
            },
            signer,
        )
    };
    // Bob adds, updates and deletes his own record.
    check(claim(1, "bob", false), Some(&bob), &by_bob).unwrap();
    check(claim(2, "bob", false), Some(&bob), &by_bob).unwrap();
    check(claim(3, "bob", true), Some(&bob), &by_bob).unwrap();
    let refused = |r: peergroup_security::Result<()>| match r {
        Err(SecurityError::RecordNotTrusted { id, reason }) => {
            assert_eq!(id, Uuid::from_u128(9));
            reason
        }
        other => panic!("expected RecordNotTrusted, got {other:?}"),
    };
    // A member may not change Alice's record, nor write its first version.
    assert!(refused(check(claim(2, "alice", false), Some(&bob), &by_bob)).contains("administrators"));
    assert!(refused(check(claim(2, "alice", true), Some(&bob), &by_bob)).contains("administrators"));
    assert!(refused(check(claim(1, "alice", false), Some(&bob), &by_bob)).contains("creator"));
    // A signature that is not Bob's, or a signer that is not the modifier, or none.
    let by_alice = g.alice.sign(&signed).unwrap();
    assert!(refused(check(claim(1, "bob", false), Some(&bob), &by_alice)).contains("does not verify"));
    // A signer that is no accepted member is its own error: a driver waits for its entry.
    let unknown = |r: peergroup_security::Result<()>| {
        matches!(r, Err(SecurityError::UnknownModifier { id, modifier })
            if id == Uuid::from_u128(9) && modifier == g.bob.peer_name().to_string())
    };
    assert!(unknown(check(claim(1, "bob", false), Some(&alice), &by_bob)));
    assert!(unknown(check(claim(1, "bob", false), None, &by_bob)));
}

#[test]
fn properties_need_an_administrators_signature() {
    let now = SystemTime::now();
    let g = group(now);
    let alice = accept_member(&g.name, g.alice.peer_name(), &g.alice_chain.to_der(), now).unwrap();
    let bob = accept_member(&g.name, g.bob.peer_name(), &g.bob_chain.to_der(), now).unwrap();
    let signed = b"the signed form of the group properties".to_vec();
    let (by_alice, by_bob) = (g.alice.sign(&signed).unwrap(), g.bob.sign(&signed).unwrap());
    let check = |modifier: &PeerName, signer: Option<&_>, signature: &[u8]| {
        let claim = PropertiesClaim { id: Uuid::nil(), modifier, signed: &signed, signature };
        match accept_properties(&claim, signer) {
            Ok(()) => None,
            Err(SecurityError::RecordNotTrusted { id, reason }) if id.is_nil() => Some(reason),
            Err(SecurityError::UnknownModifier { id, modifier }) if id.is_nil() => {
                Some(format!("{modifier} is not an accepted member"))
            }
            Err(other) => panic!("expected RecordNotTrusted, got {other:?}"),
        }
    };
    assert_eq!(check(g.alice.peer_name(), Some(&alice), &by_alice), None);
    // A member, however well signed, may not; nor a signature that is not the signer's, nor
    // a signer that is not the modifier, nor none.
    assert!(check(g.bob.peer_name(), Some(&bob), &by_bob).unwrap().contains("administrators"));
    assert!(check(g.alice.peer_name(), Some(&alice), &by_bob).unwrap().contains("does not verify"));
    assert!(check(g.alice.peer_name(), Some(&bob), &by_alice).unwrap().contains("not an accepted member"));
    assert!(check(g.alice.peer_name(), None, &by_alice).unwrap().contains("not an accepted member"));
}
