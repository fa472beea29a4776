//! Member links over loopback between real keystores and memberships (made by the state
//! layer, as `PeerGroupCreate` and `PeerGroupJoin` make them): members link and talk; a
//! member of another group, a stolen chain and an expired chain are refused before any group
//! data, and both sides say why.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use peergroup_net::{Link, MemberEndpoint, NetError, REFUSED};
use peergroup_security::{Membership, Role};

mod common;

use common::{DAY, LOOPBACK, alice_and_bob, home};

/// `from` connects to `to`; returns both outcomes (the connector's, the acceptor's).
async fn link(from: &MemberEndpoint, to: &MemberEndpoint) -> (Result<Link, NetError>, Result<Link, NetError>) {
    let addr: SocketAddr = to.local_addr().unwrap();
    let (out, inc) = tokio::join!(from.connect(addr), to.accept());
    (out, inc.expect("the endpoint is open"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_link_and_talk() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let a = alice.endpoint(alice_m.clone());
    let b = bob.endpoint(bob_m);
    let (out, inc) = link(&b, &a).await;
    let (to_alice, from_bob) = (out.unwrap(), inc.unwrap());
    assert_eq!(to_alice.peer().identity, *alice.identity.peer_name());
    assert!(to_alice.peer().roles.contains(&Role::Administrator));
    assert_eq!(from_bob.peer().identity, *bob.identity.peer_name());
    assert_eq!(from_bob.peer().roles, [Role::Member]);
    assert_eq!(from_bob.peer().chain.group(), alice_m.group());

    // The link carries streams once both proofs held.
    let (mut send, mut recv) = to_alice.connection().open_bi().await.unwrap();
    send.write_all(b"hello alice").await.unwrap();
    send.finish().unwrap();
    let (mut back, mut heard) = from_bob.connection().accept_bi().await.unwrap();
    assert_eq!(heard.read_to_end(1024).await.unwrap(), b"hello alice");
    back.write_all(b"hello bob").await.unwrap();
    back.finish().unwrap();
    assert_eq!(recv.read_to_end(1024).await.unwrap(), b"hello bob");

    // And the other way round: Alice connects to Bob.
    let (out, inc) = link(&a, &b).await;
    assert_eq!(out.unwrap().peer().identity, *bob.identity.peer_name());
    assert_eq!(inc.unwrap().peer().identity, *alice.identity.peer_name());
}

/// Both sides of a refusal: the acceptor says who is not a member and why; the connector is
/// told the reason; no stream of the link ever reaches the group's side.
async fn refused(connector: &MemberEndpoint, acceptor: &MemberEndpoint, part: &str) {
    let (out, inc) = link(connector, acceptor).await;
    match inc {
        Err(NetError::NotMember { reason, .. }) => assert!(reason.contains(part), "{reason}"),
        other => panic!("the acceptor should refuse: {other:?}"),
    }
    match out {
        Err(e @ NetError::Refused { .. }) => {
            assert!(e.to_string().contains(part), "{e}");
            assert_eq!(e.p2p_code(), "PEER_E_CONNECTION_REFUSED");
        }
        other => panic!("the connector should be refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_another_group_is_refused() {
    let (alice, alice_m, _bob, _) = alice_and_bob();
    let carol = home("carol", 3);
    let elsewhere = carol.create_group("elsewhere", 4);
    let a = alice.endpoint(alice_m.clone());
    let c = carol.endpoint(elsewhere.clone());
    refused(&c, &a, &format!("a member of {}, not of {}", elsewhere.group(), alice_m.group())).await;
    // Nor does Alice get in the other way.
    let (out, inc) = link(&a, &c).await;
    assert!(matches!(inc, Err(NetError::NotMember { .. })), "{inc:?}");
    assert!(matches!(out, Err(NetError::Refused { .. })), "{out:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_for_another_key_is_refused() {
    // Carol replays Bob's chain (it is public: Bob sends it to every member he links to)
    // with her own key: TLS proves her key, which is not the one the chain names.
    let (alice, alice_m, _bob, bob_m) = alice_and_bob();
    let carol = home("carol", 3);
    let stolen = Membership { identity: carol.identity.peer_name().clone(), ..bob_m };
    let a = alice.endpoint(alice_m);
    let c = carol.endpoint(stolen);
    refused(&c, &a, "its chain is for the key of").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_membership_is_refused() {
    let alice = home("alice", 0);
    let then = SystemTime::now() - 3 * DAY;
    let group = alice.create_group_at("chat", 1, then);
    let dave = home("dave", 5);
    let invitation = alice.invite(group.group(), &dave, then, Some(then + DAY));
    let expired = dave.join(&invitation, then);
    let a = alice.endpoint(group);
    let d = dave.endpoint(expired);
    refused(&d, &a, "membership chain does not hold").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_answers_where_no_member_listens() {
    let (alice, alice_m, _bob, _) = alice_and_bob();
    let a = alice.endpoint(alice_m);
    // A UDP socket that never answers: the handshake times out (bounded), a clear error.
    let silent = std::net::UdpSocket::bind(LOOPBACK).unwrap();
    let started = std::time::Instant::now();
    let err = a.connect(silent.local_addr().unwrap()).await.unwrap_err();
    assert!(matches!(err, NetError::Connect { .. } | NetError::Protocol { .. }), "{err}");
    assert_eq!(err.p2p_code(), "PEER_E_CONNECTION_FAILED");
    assert!(started.elapsed() <= peergroup_net::HANDSHAKE_TIMEOUT + Duration::from_secs(2));
    let _ = REFUSED;
}

#[test]
fn an_endpoint_needs_the_membership_of_its_identity() {
    let (alice, _, bob, bob_m) = alice_and_bob();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let _guard = rt.enter();
    let err = MemberEndpoint::bind(LOOPBACK.parse().unwrap(), &alice.identity, bob_m).unwrap_err();
    assert!(err.to_string().contains(&format!("the membership is {}'s", bob.identity.peer_name())), "{err}");
}
