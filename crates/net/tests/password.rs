//! Password joins on loopback: Alice created a password group and her presence serves password
//! joiners; Bob, holding only the password, links to her, proves it, receives a membership,
//! and then links and synchronises as any member. A wrong password stores nothing and tells
//! both sides; a fourth wrong guess from one address is refused before any exchange.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::time::SystemTime;

use common::{Home, home, next, presence, record};
use peergroup_identity::testing::key;
use peergroup_net::password::{MAX_PASSWORD_FAILURES, PasswordVerifier, password_join};
use peergroup_net::{NetError, Presence, PresenceConfig, PresenceEvent};
use peergroup_security::password::{GroupPassword, PasswordKey};
use peergroup_security::{Membership, NewGroup, Role};
use peergroup_state::{JoinOutcome, PASSWORD_KEY_FILE, StateError};

const PASSWORD: &str = "correct horse battery";

/// Alice's password group, and her presence serving password joiners with the key her host
/// keeps (read back from the verifier file).
fn alice_serving(alice: &Home) -> (Membership, Presence) {
    let group = NewGroup { password: Some(GroupPassword::new(PASSWORD.into())), ..NewGroup::new("chat", "") };
    let db = alice.store.create_group_with_key(&alice.identity, &group, key(1), SystemTime::now()).unwrap();
    let membership = alice.store.get(alice.identity.peer_name(), db.group_peer_name()).unwrap();
    let stored = alice.store.password_key(alice.identity.peer_name(), membership.group()).unwrap().expect("a verifier");
    let file = alice.store.dir(alice.identity.peer_name(), membership.group()).join(PASSWORD_KEY_FILE);
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the verifier file is private");
    assert!(!std::fs::read(&file).unwrap().windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));
    let config = PresenceConfig {
        listen: common::LOOPBACK.parse().unwrap(),
        identity: alice.identity.clone(),
        membership: membership.clone(),
        store: alice.store.clone(),
    };
    let verifier = PasswordVerifier { key: stored, role: Role::Member };
    (membership, Presence::start_with_password(config, Some(verifier)).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_right_password_gives_a_membership_and_the_joiner_synchronises() {
    let alice = home("alice", 0);
    let (alice_m, a) = alice_serving(&alice);
    let group = alice_m.group().clone();
    for n in 0..5 {
        alice.db(&group).add_record(&alice.identity, record(n)).unwrap();
    }
    let bob = home("bob", 2);
    let key = PasswordKey::derive(PASSWORD, &group).unwrap();
    let chain = password_join(&bob.identity, &group, &key, a.local_addr().unwrap()).await.unwrap();
    assert_eq!(chain.leaf().subject, *bob.identity.peer_name());
    assert_eq!(chain.leaf().roles, [Role::Member]);
    let bob_m = match bob.store.join_issued(&bob.identity, chain.clone(), "chat", "Global_").unwrap() {
        JoinOutcome::Joined(m) => m,
        other => panic!("{other:?}"),
    };
    assert!(!bob_m.synchronized, "joined, not ready");
    // Joining again changes nothing.
    let again = bob.store.join_issued(&bob.identity, chain, "chat", "Global_").unwrap();
    assert!(matches!(again, JoinOutcome::AlreadyMember(_)), "{again:?}");
    // No verifier at a member's host.
    assert!(bob.store.password_key(bob.identity.peer_name(), &group).unwrap().is_none());

    let b = presence(&bob, bob_m);
    let mut b_events = b.subscribe();
    b.dial(a.local_addr().unwrap());
    next(&mut b_events, |e| matches!(e, PresenceEvent::Ready).then_some(())).await;
    assert!(bob.store.get(bob.identity.peer_name(), &group).unwrap().synchronized);
    assert_eq!(bob.db(&group).records(None).unwrap().len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stores_nothing_and_guessing_is_bounded() {
    let alice = home("alice", 0);
    let (alice_m, a) = alice_serving(&alice);
    let group = alice_m.group().clone();
    let mut a_events = a.subscribe();
    let bob = home("bob", 2);
    let wrong = PasswordKey::derive("wrong horse battery", &group).unwrap();
    let addr = a.local_addr().unwrap();
    for _ in 0..MAX_PASSWORD_FAILURES {
        let err = password_join(&bob.identity, &group, &wrong, addr).await.unwrap_err();
        assert!(matches!(err, NetError::PasswordRejected { .. }), "{err:?}");
        assert!(err.to_string().contains("password is wrong"), "{err}");
        assert_eq!(err.p2p_code(), "PEER_E_NOT_AUTHORIZED");
        let reason = next(&mut a_events, |e| match e {
            PresenceEvent::AuthenticationFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
        assert!(reason.contains("password"), "{reason}");
    }
    let err = bob.store.get(bob.identity.peer_name(), &group).unwrap_err();
    assert!(matches!(err, StateError::GroupNotFound { .. }), "{err:?}");
    // The next guess from this address is refused before any exchange, even the right one.
    let right = PasswordKey::derive(PASSWORD, &group).unwrap();
    let err = password_join(&bob.identity, &group, &right, addr).await.unwrap_err();
    assert!(!matches!(err, NetError::PasswordRejected { .. }), "{err:?}");
    assert!(err.to_string().contains("too many wrong passwords"), "{err}");
}
