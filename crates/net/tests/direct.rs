//! Direct connections and data between two presences on loopback: a direct connection opened
//! over the link, typed data both ways in order (with a slow reader: nothing dropped), data on
//! the neighbour connection, closing on either side and with the link, and the errors: an
//! unknown id, a connection to oneself, to a member not linked, data over the bound. A member
//! that announces a frame over the bound is cut and penalised.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::time::Duration;

use common::{WAIT, alice_and_bob, next, presence};
use peergroup_identity::PeerName;
use peergroup_net::{ConnectionKind, DIRECT_STREAM, IncomingData, MAX_DATA_LEN, NetError, Presence, PresenceEvent};
use tokio::sync::broadcast::Receiver;
use tokio::sync::mpsc;
use uuid::Uuid;

const CHAT: Uuid = Uuid::from_u128(0xc4a7);
const FILE: Uuid = Uuid::from_u128(0xf11e);

/// The next incoming data, within [`WAIT`].
async fn data(incoming: &mut mpsc::Receiver<IncomingData>) -> IncomingData {
    tokio::time::timeout(WAIT, incoming.recv()).await.expect("no data in time").expect("the queue closed")
}

fn connected(e: &PresenceEvent) -> Option<(u64, PeerName)> {
    match e {
        PresenceEvent::DirectConnected { id, peer } => Some((*id, peer.clone())),
        _ => None,
    }
}

fn closed(e: &PresenceEvent) -> Option<(u64, PeerName)> {
    match e {
        PresenceEvent::DirectClosed { id, peer } => Some((*id, peer.clone())),
        _ => None,
    }
}

/// Two linked presences, the events of each subscribed before anything happened, and the
/// neighbour ids each side gives the other.
struct Pair {
    alice: common::Home,
    bob: common::Home,
    a: Presence,
    b: Presence,
    a_events: Receiver<PresenceEvent>,
    b_events: Receiver<PresenceEvent>,
    /// Bob's neighbour id in Alice's presence, and Alice's in Bob's.
    bob_at_a: u64,
    alice_at_b: u64,
}

async fn pair() -> Pair {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let a = presence(&alice, alice_m);
    let b = presence(&bob, bob_m);
    let mut a_events = a.subscribe();
    let mut b_events = b.subscribe();
    b.dial(a.local_addr().unwrap());
    let alice_at_b = next(&mut b_events, |e| match e {
        PresenceEvent::NeighborConnected(n) => Some(n.id),
        _ => None,
    })
    .await;
    let bob_at_a = next(&mut a_events, |e| match e {
        PresenceEvent::NeighborConnected(n) => Some(n.id),
        _ => None,
    })
    .await;
    Pair { alice, bob, a, b, a_events, b_events, bob_at_a, alice_at_b }
}

impl Pair {
    /// Bob opens a direct connection to Alice: his id and hers.
    async fn open(&mut self) -> (u64, u64) {
        let at_b = self.b.open_direct(self.alice.identity.peer_name()).await.unwrap();
        let (at_a, peer) = next(&mut self.a_events, connected).await;
        assert_eq!(peer, *self.bob.identity.peer_name());
        let (seen, peer) = next(&mut self.b_events, connected).await;
        assert_eq!((seen, peer), (at_b, self.alice.identity.peer_name().clone()));
        (at_b, at_a)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_data_crosses_a_direct_connection_both_ways_in_order_and_a_slow_reader_loses_none() {
    let mut p = pair().await;
    let mut a_in = p.a.incoming_data().unwrap();
    let mut b_in = p.b.incoming_data().unwrap();
    assert!(p.a.incoming_data().is_none(), "one reader takes the queue");
    let (at_b, at_a) = p.open().await;
    assert_ne!(at_b, p.alice_at_b, "a direct connection's id is no neighbour's");
    let listed = p.a.direct_connections();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].id, listed[0].link, listed[0].outgoing), (at_a, p.bob_at_a, false));
    assert!(p.b.direct_connections()[0].outgoing);

    // Bob sends 200 frames of 64 KiB (12.5 MiB: far more than the queue and QUIC's windows
    // hold) before Alice reads any: he waits on flow control, and every frame arrives in order.
    const FRAMES: usize = 200;
    let sender = {
        let b = p.b;
        tokio::spawn(async move {
            for n in 0..FRAMES {
                let kind = if n % 2 == 0 { CHAT } else { FILE };
                let mut bytes = vec![(n % 251) as u8; 64 * 1024];
                bytes[..8].copy_from_slice(&(n as u64).to_be_bytes());
                b.send_data(at_b, kind, &bytes).await.unwrap();
            }
            b
        })
    };
    for n in 0..FRAMES {
        let got = data(&mut a_in).await;
        assert_eq!((got.connection, got.kind), (at_a, ConnectionKind::Direct));
        assert_eq!(got.peer, *p.bob.identity.peer_name());
        assert_eq!(got.data_type, if n % 2 == 0 { CHAT } else { FILE });
        assert_eq!(got.bytes.len(), 64 * 1024);
        assert_eq!(u64::from_be_bytes(got.bytes[..8].try_into().unwrap()), n as u64, "out of order");
        assert!(got.bytes[8..].iter().all(|&b| b == (n % 251) as u8));
    }
    let b = tokio::time::timeout(WAIT, sender).await.expect("the sender never finished").unwrap();

    // Alice answers on her end of the same connection; an empty frame and one of exactly the
    // bound cross too.
    p.a.send_data(at_a, CHAT, b"hello bob").await.unwrap();
    p.a.send_data(at_a, FILE, b"").await.unwrap();
    p.a.send_data(at_a, FILE, &vec![7; MAX_DATA_LEN]).await.unwrap();
    let got = data(&mut b_in).await;
    assert_eq!((got.connection, got.kind, got.data_type), (at_b, ConnectionKind::Direct, CHAT));
    assert_eq!((got.peer, got.bytes), (p.alice.identity.peer_name().clone(), b"hello bob".to_vec()));
    assert!(data(&mut b_in).await.bytes.is_empty());
    assert_eq!(data(&mut b_in).await.bytes.len(), MAX_DATA_LEN);
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_crosses_the_neighbour_connection_in_order() {
    let p = pair().await;
    let mut a_in = p.a.incoming_data().unwrap();
    let mut b_in = p.b.incoming_data().unwrap();
    for n in 0u32..100 {
        p.b.send_data(p.alice_at_b, CHAT, &n.to_be_bytes()).await.unwrap();
    }
    for n in 0u32..100 {
        let got = data(&mut a_in).await;
        assert_eq!((got.connection, got.kind, got.data_type), (p.bob_at_a, ConnectionKind::Neighbor, CHAT));
        assert_eq!((got.peer, got.bytes), (p.bob.identity.peer_name().clone(), n.to_be_bytes().to_vec()));
    }
    p.a.send_data(p.bob_at_a, FILE, b"back").await.unwrap();
    let got = data(&mut b_in).await;
    assert_eq!((got.connection, got.kind, got.bytes), (p.alice_at_b, ConnectionKind::Neighbor, b"back".to_vec()));
    assert!(p.a.direct_connections().is_empty(), "the neighbour channel is no direct connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_direct_connection_tells_both_sides_and_its_id_is_gone() {
    let mut p = pair().await;
    let (at_b, at_a) = p.open().await;
    p.a.close_direct(at_a).await.unwrap();
    assert_eq!(next(&mut p.a_events, closed).await, (at_a, p.bob.identity.peer_name().clone()));
    assert_eq!(next(&mut p.b_events, closed).await, (at_b, p.alice.identity.peer_name().clone()));
    assert!(p.a.direct_connections().is_empty());
    assert!(p.b.direct_connections().is_empty());
    for (side, id) in [(&p.a, at_a), (&p.b, at_b)] {
        assert!(matches!(side.close_direct(id).await, Err(NetError::ConnectionNotFound { id: i }) if i == id));
        assert!(matches!(side.send_data(id, CHAT, b"x").await, Err(NetError::ConnectionNotFound { .. })));
    }
    // The link stays, and another direct connection gets a new id.
    assert_eq!(p.a.neighbors().len(), 1);
    let (again, _) = p.open().await;
    assert!(again > at_b, "ids are never reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_while_a_send_waits_on_a_slow_reader_returns_at_once_and_the_data_before_arrives() {
    let mut p = pair().await;
    let mut a_in = p.a.incoming_data().unwrap();
    let (at_b, at_a) = p.open().await;
    // Bob sends far more than the queue and QUIC's windows hold; Alice reads nothing yet.
    let b = std::sync::Arc::new(p.b);
    let sender = {
        let b = std::sync::Arc::clone(&b);
        tokio::spawn(async move {
            let mut sent = 0usize;
            for n in 0..200usize {
                if b.send_data(at_b, CHAT, &vec![(n % 251) as u8; 64 * 1024]).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        })
    };
    // Wait (bounded) until the sender is held up by flow control: the queue is full.
    let deadline = tokio::time::Instant::now() + WAIT;
    while a_in.len() < peergroup_net::DATA_QUEUE {
        assert!(tokio::time::Instant::now() < deadline, "the queue never filled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::timeout(Duration::from_secs(2), b.close_direct(at_b))
        .await
        .expect("the close waited for the slow reader")
        .unwrap();
    assert_eq!(next(&mut p.b_events, closed).await.0, at_b);
    // The frames sent before the close arrive, in order, and Alice sees it closed.
    let sent = tokio::time::timeout(WAIT, async {
        let mut n = 0usize;
        loop {
            tokio::select! {
                Some(got) = a_in.recv() => {
                    assert_eq!(got.connection, at_a);
                    assert!(got.bytes.iter().all(|&x| x == (n % 251) as u8), "frame {n} out of order");
                    n += 1;
                }
                closed = next(&mut p.a_events, closed) => {
                    assert_eq!(closed.0, at_a);
                    break;
                }
            }
        }
        // The event and the data travel apart: what was read before the end is queued still.
        while let Ok(got) = a_in.try_recv() {
            assert!(got.bytes.iter().all(|&x| x == (n % 251) as u8), "frame {n} out of order");
            n += 1;
        }
        n
    })
    .await
    .expect("Alice never saw the close");
    let bob_sent = tokio::time::timeout(WAIT, sender).await.unwrap().unwrap();
    assert_eq!(sent, bob_sent, "{sent} frames arrived, {bob_sent} were sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_drops_closes_its_direct_connections() {
    let mut p = pair().await;
    let (first, _) = p.open().await;
    let (second, _) = p.open().await;
    p.a.close();
    let mut gone = vec![next(&mut p.b_events, closed).await.0, next(&mut p.b_events, closed).await.0];
    gone.sort_unstable();
    assert_eq!(gone, vec![first, second]);
    assert!(p.b.direct_connections().is_empty());
    assert!(matches!(p.b.send_data(first, CHAT, b"x").await, Err(NetError::ConnectionNotFound { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_oneself_members_not_linked_and_oversized_data_are_errors() {
    let (alice, alice_m, bob, _) = alice_and_bob();
    let a = presence(&alice, alice_m);
    assert!(matches!(a.close_direct(999).await, Err(NetError::ConnectionNotFound { id: 999 })));
    assert!(matches!(a.send_data(999, CHAT, b"x").await, Err(NetError::ConnectionNotFound { id: 999 })));
    let me = a.open_direct(alice.identity.peer_name()).await.unwrap_err();
    assert!(matches!(me, NetError::ConnectSelf { .. }), "{me}");
    assert_eq!(me.p2p_code(), "PEER_E_CONNECT_SELF");
    let away = a.open_direct(bob.identity.peer_name()).await.unwrap_err();
    assert!(matches!(away, NetError::NotLinked { .. }), "{away}");
    assert_eq!(NetError::ConnectionNotFound { id: 1 }.p2p_code(), "PEER_E_CONNECTION_NOT_FOUND");

    // Too large: refused before anything is sent, on a live connection that stays usable.
    let mut p = pair().await;
    let mut a_in = p.a.incoming_data().unwrap();
    let (at_b, _) = p.open().await;
    let big = vec![0; MAX_DATA_LEN + 1];
    let e = p.b.send_data(at_b, FILE, &big).await.unwrap_err();
    assert!(matches!(e, NetError::DataTooLarge { len, max } if len == MAX_DATA_LEN + 1 && max == MAX_DATA_LEN));
    assert_eq!(e.p2p_code(), "E_INVALIDARG");
    let e = p.b.send_data(p.alice_at_b, FILE, &big).await.unwrap_err();
    assert!(matches!(e, NetError::DataTooLarge { .. }));
    p.b.send_data(at_b, CHAT, b"still here").await.unwrap();
    assert_eq!(data(&mut a_in).await.bytes, b"still here");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_connections_to_one_member_are_bounded() {
    let mut p = pair().await;
    let mut opened = Vec::new();
    for _ in 0..peergroup_net::MAX_DIRECT_PER_LINK {
        opened.push(p.open().await.0);
    }
    let e = p.b.open_direct(p.alice.identity.peer_name()).await.unwrap_err();
    assert!(matches!(e, NetError::TooManyDirect { max, .. } if max == peergroup_net::MAX_DIRECT_PER_LINK), "{e}");
    assert_eq!(e.p2p_code(), "E_OUTOFMEMORY");
    // Alice holds as many from Bob: she cannot open one either.
    let e = p.a.open_direct(p.bob.identity.peer_name()).await.unwrap_err();
    assert!(matches!(e, NetError::TooManyDirect { .. }), "{e}");
    // One closed (and seen closed by Alice), one more opens.
    p.b.close_direct(opened[0]).await.unwrap();
    next(&mut p.a_events, closed).await;
    p.open().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_announces_a_frame_over_the_bound_is_cut_and_penalised() {
    let (alice, alice_m, bob, bob_m) = alice_and_bob();
    let a = presence(&alice, alice_m);
    let mut a_in = a.incoming_data().unwrap();
    let mut events = a.subscribe();
    // Bob's own endpoint, driven by hand below the presence (he is a member: the link comes up).
    let bad = bob.endpoint(bob_m);
    let link = bad.connect(a.local_addr().unwrap()).await.unwrap();
    let (mut send, mut recv) = link.connection().open_bi().await.unwrap();
    let mut hello = DIRECT_STREAM.to_vec();
    hello.push(0);
    send.write_all(&hello).await.unwrap();
    let mut answer = [0; 1];
    tokio::time::timeout(WAIT, recv.read_exact(&mut answer)).await.unwrap().unwrap();
    assert_eq!(answer, [1], "accepted");
    let (id, _) = next(&mut events, connected).await;
    let mut frame = CHAT.as_bytes().to_vec();
    frame.extend_from_slice(&u32::try_from(MAX_DATA_LEN + 1).unwrap().to_be_bytes());
    send.write_all(&frame).await.unwrap();
    let bad_addr = bad.local_addr().unwrap();
    let reason = next(&mut events, |e| match e {
        PresenceEvent::ConnectionFailed { addr, reason } if *addr == bad_addr => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains(&format!("a data frame of {} bytes", MAX_DATA_LEN + 1)), "{reason}");
    assert_eq!(next(&mut events, closed).await.0, id);
    let deadline = tokio::time::Instant::now() + WAIT;
    while !a.neighbors().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the link stayed");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(a.direct_connections().is_empty());
    assert!(a_in.try_recv().is_err(), "nothing of the frame was delivered");
    assert!(bad.connect(a.local_addr().unwrap()).await.is_err(), "a penalised address was linked again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_while_two_links_settle_goes_over_the_one_that_stays() {
    // Each round: the member with the larger name dials first; the smaller one dials back while
    // the larger opens a direct connection, so the open races the settling (the smaller name's
    // dial stays, the first link closes). The open succeeds all the same.
    for round in 0..ROUNDS {
        let (alice, alice_m, bob, bob_m) = alice_and_bob();
        let (small, small_m, large, large_m) =
            if alice.identity.peer_name().to_string() < bob.identity.peer_name().to_string() {
                (alice, alice_m, bob, bob_m)
            } else {
                (bob, bob_m, alice, alice_m)
            };
        let (s, l) = (presence(&small, small_m), presence(&large, large_m));
        let (mut s_events, mut l_events) = (s.subscribe(), l.subscribe());
        l.dial(s.local_addr().unwrap());
        for events in [&mut s_events, &mut l_events] {
            next(events, |e| matches!(e, PresenceEvent::NeighborConnected(_)).then_some(())).await;
        }
        s.dial(l.local_addr().unwrap());
        let opened = l.open_direct(small.identity.peer_name()).await;
        opened.unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
}

/// Rounds of [`an_open_while_two_links_settle_goes_over_the_one_that_stays`].
const ROUNDS: usize = 20;
