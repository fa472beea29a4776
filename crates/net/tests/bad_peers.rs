//! Members that misbehave on a live presence: garbage on a sync stream, a message over the size
//! bound, a stream of no known protocol, and items signed by someone who is not a member. Each
//! time Alice's presence closes the link, refuses the peer's address for a while
//! ([`peergroup_net::PENALTY`]), stores nothing it sent, and goes on serving members.
//!
//! The misbehaving side is Bob's own endpoint (a member: the handshake passes), driven by hand
//! below the presence, the way a modified client would.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Home, alice_and_bob, home, record};
use peergroup_identity::PeerName;
use peergroup_net::{
    Link, MemberEndpoint, NetError, Presence, PresenceConfig, PresenceEvent, Role, StoreReplica, sync_over,
};
use peergroup_security::Membership;
use tokio::sync::broadcast::Receiver;

const WAIT: Duration = Duration::from_secs(10);
/// Alice's records before anyone misbehaves.
const RECORDS: usize = 5;

struct Scene {
    alice: Home,
    bob: Home,
    bob_m: Membership,
    group: PeerName,
    presence: Presence,
    events: Receiver<PresenceEvent>,
}

fn scene() -> Scene {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let group = alice_m.group().clone();
    for n in 0..RECORDS {
        alice.db(&group).add_record(&alice.identity, record(n)).unwrap();
    }
    let presence = Presence::start(PresenceConfig {
        listen: common::LOOPBACK.parse().unwrap(),
        identity: alice.identity.clone(),
        membership: alice_m,
        store: alice.store.clone(),
    })
    .unwrap();
    let events = presence.subscribe();
    Scene { alice, bob, bob_m, group, presence, events }
}

impl Scene {
    fn addr(&self) -> SocketAddr {
        self.presence.local_addr().unwrap()
    }

    /// Bob's endpoint, linked to Alice's presence (he is a member: the handshake passes).
    async fn bob_linked(&self) -> (MemberEndpoint, Link) {
        let endpoint = self.bob.endpoint(self.bob_m.clone());
        let link = endpoint.connect(self.addr()).await.unwrap();
        (endpoint, link)
    }

    /// Alice closes the link from `bad` for a reason that holds `part`, refuses `bad` from then
    /// on, has stored nothing, and still serves Bob from another address.
    async fn refused_and_penalised(&mut self, bad: &MemberEndpoint, part: &str) {
        let bad_addr = bad.local_addr().unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        let reason = loop {
            let event =
                tokio::time::timeout_at(deadline, self.events.recv()).await.expect("no failure in time").unwrap();
            if let PresenceEvent::ConnectionFailed { addr, reason } = event
                && addr == bad_addr
            {
                break reason;
            }
        };
        assert!(reason.contains(part), "{reason}");
        // The link went.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.presence.neighbors().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "the link stayed: {:?}", self.presence.neighbors());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Nothing stored.
        assert_eq!(self.alice.db(&self.group).records(None).unwrap().len(), RECORDS);
        // Penalised: its address is refused before any handshake.
        match bad.connect(self.addr()).await {
            Err(NetError::Refused { reason, .. }) => assert!(reason.contains("penalised"), "{reason}"),
            other => panic!("a penalised address is refused as such, not {other:?}"),
        }
        // The presence serves the same member from another address.
        let good = Presence::start(PresenceConfig {
            listen: common::LOOPBACK.parse().unwrap(),
            identity: self.bob.identity.clone(),
            membership: self.bob_m.clone(),
            store: self.bob.store.clone(),
        })
        .unwrap();
        let mut good_events = good.subscribe();
        good.dial(self.addr());
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, good_events.recv()).await.expect("never ready").unwrap();
            if event == PresenceEvent::Ready {
                break;
            }
        }
        assert_eq!(self.bob.db(&self.group).records(None).unwrap().len(), RECORDS);
    }
}

/// Opens a stream on `link` and writes `bytes` on it.
async fn send_raw(link: &Link, bytes: &[u8]) {
    let (mut send, _recv) = link.connection().open_bi().await.unwrap();
    send.write_all(bytes).await.unwrap();
    // Keep the stream open: the peer must act on what it read, not on an ended stream.
    std::mem::forget(send);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_a_sync_stream_closes_the_link_and_penalises_the_peer() {
    let mut scene = scene();
    let (bad, link) = scene.bob_linked().await;
    let mut frame = b"PGS1".to_vec();
    frame.extend_from_slice(&7u32.to_be_bytes());
    frame.extend_from_slice(&[0xEE; 7]);
    send_raw(&link, &frame).await;
    scene.refused_and_penalised(&bad, "sync:").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_the_bound_is_not_read_and_penalises_the_peer() {
    let mut scene = scene();
    let (bad, link) = scene.bob_linked().await;
    let mut frame = b"PGS1".to_vec();
    frame.extend_from_slice(&u32::MAX.to_be_bytes());
    send_raw(&link, &frame).await;
    scene.refused_and_penalised(&bad, &format!("a sync message of {} bytes", u32::MAX)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_no_known_protocol_penalises_the_peer() {
    let mut scene = scene();
    let (bad, link) = scene.bob_linked().await;
    send_raw(&link, b"XXXXsomething").await;
    scene.refused_and_penalised(&bad, "no known protocol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_signed_by_a_non_member_are_refused_and_penalise_the_member_who_sent_them() {
    let mut scene = scene();
    // Mallory is no member of Alice's group: her records, properties and members are those of a
    // group of her own, which Bob (a member, modified) offers in a sync as if they were Alice's
    // group's items.
    let mallory = home("mallory", 3);
    let own = mallory.create_group("other", 4);
    for n in 0..(peergroup_sync::link::MAX_REFUSALS as usize + 4) {
        mallory.db(own.group()).add_record(&mallory.identity, record(1000 + n)).unwrap();
    }
    let (bad, link) = scene.bob_linked().await;
    let forged = StoreReplica::new(
        mallory.db(own.group()),
        mallory.db(own.group()),
        &scene.alice.identity.peer_name().to_string(),
    )
    .unwrap();
    // Bob's side of it fails too, once Alice closes the link: what matters is Alice's.
    let _ = sync_over(&link, Role::Initiator, forged).await;
    scene.refused_and_penalised(&bad, "the store refused").await;
}
