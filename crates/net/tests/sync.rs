//! A whole synchronisation over a member link on loopback: Bob joined Alice's group and holds
//! nothing of it; one sync over the link brings him every record (each checked through the
//! trust path before it is stored) and the group becomes ready for him; then records added on
//! either side reach the other with the next sync.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use common::{alice_and_bob, record};
use peergroup_net::{Link, MemberEndpoint, Role, StoreReplica, SyncSummary, sync_over};
use peergroup_state::SyncKind;

const RECORDS: usize = 300;

async fn linked(bob: &MemberEndpoint, alice: &MemberEndpoint) -> (Link, Link) {
    let (out, inc) = tokio::join!(bob.connect(alice.local_addr().unwrap()), alice.accept());
    (out.unwrap(), inc.unwrap().unwrap())
}

/// Both sides of one sync (Bob opened the link: he starts it).
async fn sync(
    bob_link: &Link,
    bob: StoreReplica,
    alice_link: &Link,
    alice: StoreReplica,
) -> ((SyncSummary, StoreReplica), (SyncSummary, StoreReplica)) {
    let (b, a) = tokio::join!(sync_over(bob_link, Role::Initiator, bob), sync_over(alice_link, Role::Responder, alice));
    (b.unwrap(), a.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_member_receives_every_record_and_records_flow_both_ways() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let group = alice_m.group().clone();
    let alice_db = alice.db(&group);
    for n in 0..RECORDS {
        alice_db.add_record(&alice.identity, record(n)).unwrap();
    }
    assert!(!bob_m.synchronized, "joined, not synchronised yet");
    let a = alice.endpoint(alice_m);
    let b = bob.endpoint(bob_m);

    let (bob_link, alice_link) = linked(&b, &a).await;
    let bob_side = StoreReplica::new(bob.db(&group), bob.db(&group), "alice").unwrap();
    let alice_side = StoreReplica::new(alice.db(&group), alice.db(&group), "bob").unwrap();
    let ((bob_sum, bob_side), (alice_sum, alice_side)) = sync(&bob_link, bob_side, &alice_link, alice_side).await;
    assert_eq!(bob_side.count(SyncKind::Record), RECORDS);
    assert_eq!(bob.db(&group).records(None).unwrap().len(), RECORDS, "every record is on Bob's disk");
    assert_eq!((bob_sum.refused, alice_sum.refused), (0, 0));
    assert!(bob_sum.stored >= RECORDS as u64, "{bob_sum:?}");
    // Alice learned Bob's member entry (he is a member she had not heard from).
    assert!(alice_sum.stored >= 1, "{alice_sum:?}");
    // The sync layer's caller marks the group ready for Bob.
    let ready = bob.store.mark_synchronized(bob.identity.peer_name(), &group).unwrap();
    assert!(ready.synchronized);
    drop((bob_side, alice_side));

    // New records on both sides, another sync on the same link: each gets the other's.
    alice.db(&group).add_record(&alice.identity, record(1000)).unwrap();
    bob.db(&group).add_record(&bob.identity, record(2000)).unwrap();
    let bob_side = StoreReplica::new(bob.db(&group), bob.db(&group), "alice").unwrap();
    let alice_side = StoreReplica::new(alice.db(&group), alice.db(&group), "bob").unwrap();
    let ((bob_sum, bob_side), (alice_sum, alice_side)) = sync(&bob_link, bob_side, &alice_link, alice_side).await;
    assert_eq!((bob_sum.stored, alice_sum.stored), (1, 1), "{bob_sum:?} {alice_sum:?}");
    assert_eq!(bob_side.count(SyncKind::Record), RECORDS + 2);
    assert_eq!(alice_side.count(SyncKind::Record), RECORDS + 2);
    assert_eq!(alice.db(&group).records(None).unwrap().len(), RECORDS + 2);
}
