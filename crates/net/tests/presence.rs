//! Presences on loopback: Alice listens, Bob (just joined, holding nothing) dials her; his
//! group becomes ready with every record, and records added on either side afterwards reach
//! the other through the change feed, with no call but `add_record`. A member who is not
//! one is refused and penalised; a dropped link is dialled again.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, alice_and_bob, home, next, presence, record};
use peergroup_net::{Presence, PresenceConfig, PresenceEvent};
use peergroup_state::GroupDb;

/// Waits (bounded) until `db` holds `n` records.
async fn holds(db: &GroupDb, n: usize) {
    let start = Instant::now();
    while db.records(None).unwrap().len() != n {
        assert!(start.elapsed() < WAIT, "{} records, not {n}", db.records(None).unwrap().len());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_member_becomes_ready_and_records_flow_both_ways_live() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let group = alice_m.group().clone();
    for n in 0..50 {
        alice.db(&group).add_record(&alice.identity, record(n)).unwrap();
    }
    let a = presence(&alice, alice_m);
    let b = presence(&bob, bob_m);
    let mut a_events = a.subscribe();
    let mut b_events = b.subscribe();
    b.dial(a.local_addr().unwrap());
    next(&mut b_events, |e| matches!(e, PresenceEvent::Ready).then_some(())).await;
    assert!(bob.store.get(bob.identity.peer_name(), &group).unwrap().synchronized);
    assert_eq!(bob.db(&group).records(None).unwrap().len(), 50);
    let seen = next(&mut a_events, |e| match e {
        PresenceEvent::NeighborConnected(n) => Some(n.clone()),
        _ => None,
    })
    .await;
    assert_eq!(seen.peer, *bob.identity.peer_name());
    assert!(!seen.outgoing);
    assert_eq!(b.neighbors().len(), 1);
    assert!(b.neighbors()[0].outgoing);

    // Live: a record added through any handle of the database crosses without another call.
    let started = Instant::now();
    alice.db(&group).add_record(&alice.identity, record(100)).unwrap();
    holds(&bob.db(&group), 51).await;
    bob.db(&group).add_record(&bob.identity, record(200)).unwrap();
    holds(&alice.db(&group), 52).await;
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_neighbour_is_dialled_again() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let a = presence(&alice, alice_m.clone());
    let addr = a.local_addr().unwrap();
    let b = presence(&bob, bob_m);
    let mut b_events = b.subscribe();
    b.dial(addr);
    next(&mut b_events, |e| matches!(e, PresenceEvent::NeighborConnected(_)).then_some(())).await;
    // Alice's presence goes away (her process closed) and comes back on the same port.
    drop(a);
    next(&mut b_events, |e| matches!(e, PresenceEvent::NeighborDisconnected(_)).then_some(())).await;
    // The old socket goes with the old presence's last task (its feed follower looks at its
    // stop flag every 250 ms): bind again until the port is free, bounded.
    let start = Instant::now();
    let a = loop {
        let config = PresenceConfig {
            listen: addr,
            identity: alice.identity.clone(),
            membership: alice_m.clone(),
            store: alice.store.clone(),
        };
        match Presence::start(config) {
            Ok(a) => break a,
            Err(e) if start.elapsed() < WAIT => {
                assert!(matches!(e, peergroup_net::NetError::Bind { .. }), "{e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    };
    next(&mut b_events, |e| matches!(e, PresenceEvent::NeighborConnected(_)).then_some(())).await;
    assert_eq!(a.neighbors().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_member_is_refused_and_penalised_and_the_presence_stays_up() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let group = alice_m.group().clone();
    let mallory = home("mallory", 3);
    let own = mallory.create_group("other", 4);
    let a = presence(&alice, alice_m);
    let mut a_events = a.subscribe();
    let m = presence(&mallory, own);
    let mut m_events = m.subscribe();
    m.dial(a.local_addr().unwrap());
    let reason = next(&mut a_events, |e| match e {
        PresenceEvent::AuthenticationFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("not an accepted member"), "{reason}");
    next(&mut m_events, |e| matches!(e, PresenceEvent::AuthenticationFailed { .. }).then_some(())).await;
    assert!(a.neighbors().is_empty());
    // Dialled again from its penalised address: refused before any handshake, and told so (an
    // authentication failure, not a connection that failed).
    let again = next(&mut m_events, |e| match e {
        PresenceEvent::AuthenticationFailed { reason, .. } => Some(reason.clone()),
        PresenceEvent::ConnectionFailed { reason, .. } => panic!("the redial failed to connect: {reason}"),
        _ => None,
    })
    .await;
    assert!(again.contains("penalised"), "{again}");
    // The presence still serves members.
    let b = presence(&bob, bob_m);
    let mut b_events = b.subscribe();
    b.dial(a.local_addr().unwrap());
    next(&mut b_events, |e| matches!(e, PresenceEvent::Ready).then_some(())).await;
    assert!(bob.db(&group).records(None).is_ok());
}
