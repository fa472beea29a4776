//! `Group::connect_by_address` between two homes on loopback: the creator listens, a member
//! who just joined links to it, becomes ready with every record, and records added on either
//! side afterwards appear on the other; both see the connection, the events and the members
//! present. A non-member is refused and the creator's presence stays up. Direct connections
//! and data reach every handle, also in another process (this test binary run again on
//! `child_process`, ignored in a normal run: it is no test of its own).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use peergroup::{
    Attributes, ConnectionStatus, Context, CredentialRequest, CredentialSubject, Event, EventStream, EventType, Group,
    InvitationRequest, NewGroup, NewRecord, PEER_MEMBER_PRESENT, Role, Timestamp, testing_key,
};

const WAIT: Duration = Duration::from_secs(10);

const CHILD_ENV: &str = "PEERGROUP_TEST_CONNECT_CHILD";

fn home(dir: &std::path::Path) -> Context {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    Context::open(dir).unwrap()
}

fn record(text: &str) -> NewRecord {
    NewRecord {
        record_type: uuid::Uuid::from_u128(0xc0ffee),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: text.as_bytes().to_vec(),
    }
}

/// Waits, bounded, until `ok` holds.
fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The next event that `want` picks, within [`WAIT`].
fn next<T>(events: &mut EventStream, mut want: impl FnMut(&Event) -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        let left = WAIT.saturating_sub(start.elapsed());
        match events.recv_timeout(left).unwrap() {
            Some(e) => {
                if let Some(found) = want(&e) {
                    return found;
                }
            }
            None => panic!("no such event within {WAIT:?}"),
        }
    }
}

struct Pair {
    dir: tempfile::TempDir,
    alice: Context,
    bob: Context,
    alice_name: String,
    bob_name: String,
    group: String,
}

fn pair() -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let alice = home(&dir.path().join("alice"));
    let bob = home(&dir.path().join("bob"));
    let alice_name = alice.keystore().create_with_key("alice", None, &testing_key(0)).unwrap().peer_name().to_string();
    let bob_id = bob.keystore().create_with_key("bob", None, &testing_key(2)).unwrap();
    let group = alice.create_group(&alice_name, &NewGroup::new("chat", "Chat")).unwrap().to_string();
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let invitation = alice.invite(&alice_name, &group, &bob_id.info().to_xml(), &request).unwrap();
    bob.join(&bob_id.peer_name().to_string(), &invitation).unwrap();
    Pair { dir, alice, bob, alice_name, bob_name: bob_id.peer_name().to_string(), group }
}

fn port(g: &Group) -> u16 {
    g.network().unwrap().port.expect("a listening presence publishes its port")
}

#[test]
fn a_member_connects_by_address_becomes_ready_and_records_flow_both_ways() {
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    for n in 0..20 {
        a.add_record(record(&format!("before {n}"))).unwrap();
    }
    let mut a_events = a.events(&[]).unwrap();
    a.connect_by_address(&[]).unwrap();
    let status = next(&mut a_events, |e| match e {
        Event::StatusChanged { status, .. } => Some(*status),
        _ => None,
    });
    assert_eq!(status, peergroup::PEER_GROUP_STATUS_LISTENING, "the creator alone is simply listening");
    assert!(a.status().unwrap().listening);

    let b = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    assert!(!b.is_ready().unwrap());
    let mut b_events = b.events(&[]).unwrap();
    b.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port(&a)))]).unwrap();
    let connected = next(&mut b_events, |e| match e {
        Event::NeighborConnection { status: ConnectionStatus::Connected, connection } => Some(connection.clone()),
        _ => None,
    });
    assert_eq!(connected.peer.to_string(), p.alice_name);
    assert!(connected.outgoing);
    let came = next(&mut b_events, |e| match e {
        Event::MemberPresence { peer_name, connected: true } => Some(peer_name.to_string()),
        _ => None,
    });
    assert_eq!(came, p.alice_name);
    until("Bob ready", || b.is_ready().unwrap());
    until("every record at Bob", || b.records(None).unwrap().len() == 20);

    // Live, both ways, within a second each.
    let start = Instant::now();
    a.add_record(record("from alice")).unwrap();
    until("Alice's record at Bob", || b.records(None).unwrap().len() == 21);
    let one_way = start.elapsed();
    b.add_record(record("from bob")).unwrap();
    until("Bob's record at Alice", || a.records(None).unwrap().len() == 22);
    assert!(one_way < Duration::from_secs(1) && start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
    // Records that arrive from the network are events in the receiving group.
    next(&mut a_events, |e| matches!(e, Event::RecordChanged { .. }).then_some(()));

    // Both report connected, with the other as a present member.
    until("Alice sees the connection", || a.connections().unwrap().len() == 1);
    for (g, other) in [(&a, &p.bob_name), (&b, &p.alice_name)] {
        let status = g.status().unwrap();
        assert!(status.listening && status.connections == 1, "{status:?}");
        let present: Vec<String> = g.present_members().unwrap().iter().map(|m| m.peer_name.to_string()).collect();
        assert!(present.contains(other), "{present:?}");
        assert!(g.members().unwrap().iter().all(|m| m.flags & PEER_MEMBER_PRESENT != 0), "both present");
    }
    assert_eq!(a.connections().unwrap()[0].peer.to_string(), p.bob_name);

    // Bob closes his last handle: his presence goes, Alice hears of it.
    drop(b);
    let gone = next(&mut a_events, |e| match e {
        Event::MemberPresence { peer_name, connected: false } => Some(peer_name.to_string()),
        _ => None,
    });
    assert_eq!(gone, p.bob_name);
    assert!(a.status().unwrap().listening);
}

#[test]
fn a_non_member_is_refused_and_both_hear_why() {
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    let mut a_events = a.events(&[EventType::AuthenticationFailed, EventType::NeighborConnection]).unwrap();
    a.connect_by_address(&[]).unwrap();
    until("listening", || a.network().unwrap().port.is_some());
    // Mallory created her own group and dials Alice's presence with it.
    let dir = tempfile::tempdir().unwrap();
    let mallory = home(&dir.path().join("mallory"));
    let name = mallory.keystore().create_with_key("mallory", None, &testing_key(3)).unwrap().peer_name().to_string();
    let other = mallory.create_group(&name, &NewGroup::new("other", "")).unwrap().to_string();
    let m = mallory.open_group_blocking(&name, &other, None).unwrap();
    let mut m_events = m.events(&[EventType::AuthenticationFailed]).unwrap();
    m.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port(&a)))]).unwrap();
    let why = next(&mut a_events, |e| match e {
        Event::AuthenticationFailed { reason } => Some(reason.clone()),
        Event::NeighborConnection { .. } => panic!("a non-member became a neighbour: {e:?}"),
        _ => None,
    });
    assert!(why.contains("not an accepted member"), "{why}");
    let told = next(&mut m_events, |e| match e {
        Event::AuthenticationFailed { reason } => Some(reason.clone()),
        _ => None,
    });
    assert!(told.contains("refused"), "{told}");
    assert!(a.connections().unwrap().is_empty());
    assert!(a.status().unwrap().listening, "the presence stays up");
}

#[test]
fn connect_by_address_checks_its_addresses() {
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    for bad in [SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), SocketAddr::from((Ipv4Addr::UNSPECIFIED, 9))] {
        let err = a.connect_by_address(&[bad]).unwrap_err();
        assert_eq!(err.hresult(), peergroup::hresult::E_INVALIDARG, "{err}");
    }
    assert!(!a.status().unwrap().is_connected(), "nothing started");
}

/// `PeerGroupIssueCredentials` with `PEER_GROUP_STORE_CREDENTIALS` while both are online: the
/// promotion replicates, Bob's presence adopts it as it arrives, and Bob invites at once
/// (issuing reads the membership); his handle keeps the roles it was opened with.
#[test]
fn a_member_promoted_while_online_invites_at_once() {
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    a.connect_by_address(&[]).unwrap();
    until("Alice listens", || a.network().unwrap().port.is_some());
    let b = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    b.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port(&a)))]).unwrap();
    until("Bob ready", || b.is_ready().unwrap());
    let carol_id = p.alice.keystore().create_with_key("carol", None, &testing_key(3)).unwrap();
    let carol = carol_id.info().to_xml();
    let member = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let refused = p.bob.invite(&p.bob_name, &p.group, &carol, &member).unwrap_err();
    assert_eq!(refused.hresult(), peergroup::hresult::PEER_E_NOT_AUTHORIZED, "{refused}");

    // Alice's database holds Bob once they synchronised: she promotes him by peer name.
    let bob: peergroup::PeerName = p.bob_name.parse().unwrap();
    until("Alice holds Bob", || a.members().unwrap().iter().any(|m| m.peer_name == bob));
    let promote = CredentialRequest { roles: vec![Role::Administrator], store: true, ..CredentialRequest::default() };
    a.issue_credentials(CredentialSubject::Member(&bob), &promote).unwrap();
    until("Bob invites", || p.bob.invite(&p.bob_name, &p.group, &carol, &member).is_ok());
    assert_eq!(b.roles(), [Role::Member]);
    let again = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    assert_eq!(again.roles(), [Role::Administrator]);
    // A subject by name that the database does not hold.
    let unknown = a.issue_credentials(CredentialSubject::Member(carol_id.peer_name()), &promote).unwrap_err();
    assert_eq!(unknown.hresult(), peergroup::hresult::PEER_E_IDENTITY_NOT_FOUND, "{unknown}");
}

/// The next `DIRECT_CONNECTION` event with `status`.
fn direct_event(events: &mut EventStream, want: ConnectionStatus) -> (peergroup::Connection, Option<String>) {
    next(events, |e| match e {
        Event::DirectConnection { status, connection, reason } if *status == want => {
            Some((connection.clone(), reason.clone()))
        }
        _ => None,
    })
}

/// The next `INCOMING_DATA` event: connection, sender, type, bytes.
fn data_event(events: &mut EventStream) -> (u64, String, uuid::Uuid, Vec<u8>) {
    next(events, |e| match e {
        Event::IncomingData { connection, peer, data_type, data } => {
            Some((*connection, peer.to_string(), *data_type, data.to_vec()))
        }
        _ => None,
    })
}

#[test]
fn a_direct_connection_carries_data_in_order_to_every_handle_and_closes_on_both_sides() {
    use peergroup::hresult;
    let chat = uuid::Uuid::from_u128(0xc4a7);
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    let bob: peergroup::PeerName = p.bob_name.parse().unwrap();

    // Offline, nobody can carry a direct connection; an unknown id is not found.
    let offline = a.open_direct_connection(&bob, None).unwrap_err();
    assert_eq!(offline.hresult(), hresult::PEER_E_CONNECTION_FAILED, "{offline}");
    let mut a_events =
        a.events(&[EventType::DirectConnection, EventType::IncomingData, EventType::StatusChanged]).unwrap();
    a.connect_by_address(&[]).unwrap();
    next(&mut a_events, |e| matches!(e, Event::StatusChanged { .. }).then_some(()));

    let b = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    let b2 = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    let mut b_events = b.events(&[EventType::DirectConnection, EventType::IncomingData]).unwrap();
    let mut b2_events = b2.events(&[EventType::IncomingData]).unwrap();
    // A registration for another data type hears nothing of these.
    let filter = peergroup::EventFilter {
        types: vec![EventType::IncomingData],
        record_types: vec![],
        data_types: vec![Some(uuid::Uuid::from_u128(1))],
    };
    let mut other_type = b2.events_with(filter, None).unwrap();
    b.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port(&a)))]).unwrap();
    until("Alice linked to Bob", || a.connections().unwrap().len() == 1);

    let me: peergroup::PeerName = p.alice_name.parse().unwrap();
    let to_self = a.open_direct_connection(&me, None).unwrap_err();
    assert_eq!(to_self.hresult(), hresult::PEER_E_CONNECT_SELF, "{to_self}");
    for unknown in [
        a.close_direct_connection(peergroup::DIRECT_ID_BASE + 999).unwrap_err(),
        a.send_data(999, chat, b"x").unwrap_err(),
    ] {
        assert_eq!(unknown.hresult(), hresult::PEER_E_CONNECTION_NOT_FOUND, "{unknown}");
    }
    let neighbor = a.connections().unwrap()[0].id;
    let too_large = a.send_data(neighbor, chat, &vec![0; peergroup::MAX_DATA_LEN + 1]).unwrap_err();
    assert_eq!(too_large.hresult(), hresult::E_INVALIDARG, "{too_large}");
    // A neighbour's close is not a direct connection's.
    let not_direct = a.close_direct_connection(neighbor).unwrap_err();
    assert_eq!(not_direct.hresult(), hresult::PEER_E_CONNECTION_NOT_FOUND, "{not_direct}");

    // Open: both sides hear it, each with its own id.
    let id = a.open_direct_connection(&bob, None).unwrap();
    assert!(id >= peergroup::DIRECT_ID_BASE);
    let (opened, _) = direct_event(&mut a_events, ConnectionStatus::Connected);
    assert_eq!((opened.id, opened.peer.to_string(), opened.outgoing), (id, p.bob_name.clone(), true));
    let (accepted, _) = direct_event(&mut b_events, ConnectionStatus::Connected);
    assert_eq!((accepted.peer.to_string(), accepted.outgoing), (p.alice_name.clone(), false));
    assert!(a.connections().unwrap().iter().any(|c| c.id == id && c.flags == peergroup::PEER_CONNECTION_DIRECT));

    // Data, in order, to both of Bob's handles.
    for n in 0..50u32 {
        a.send_data(id, chat, format!("message {n}").as_bytes()).unwrap();
    }
    for events in [&mut b_events, &mut b2_events] {
        for n in 0..50u32 {
            let (connection, from, data_type, bytes) = data_event(events);
            assert_eq!((connection, from.as_str(), data_type), (accepted.id, p.alice_name.as_str(), chat));
            assert_eq!(bytes, format!("message {n}").into_bytes());
        }
    }
    // Back on the same connection, and on the neighbour connection.
    b.send_data(accepted.id, chat, b"reply").unwrap();
    let (connection, from, _, bytes) = data_event(&mut a_events);
    assert_eq!((connection, from, bytes), (id, p.bob_name.clone(), b"reply".to_vec()));
    a.send_data(neighbor, chat, b"to my neighbour").unwrap();
    let (connection, _, _, bytes) = data_event(&mut b_events);
    assert_eq!(bytes, b"to my neighbour");
    assert!(b.connections().unwrap().iter().any(|c| c.id == connection && !c.is_direct()));
    assert!(other_type.try_recv().is_none(), "filtered by data type");

    // Close: both sides hear it; the id names nothing any more.
    a.close_direct_connection(id).unwrap();
    assert_eq!(direct_event(&mut a_events, ConnectionStatus::Disconnected).0.id, id);
    assert_eq!(direct_event(&mut b_events, ConnectionStatus::Disconnected).0.id, accepted.id);
    until("the connection gone", || a.connections().unwrap().len() == 1);
    let closed = a.send_data(id, chat, b"late").unwrap_err();
    assert_eq!(closed.hresult(), hresult::PEER_E_CONNECTION_NOT_FOUND, "{closed}");

    // A member this host has no link to: the open fails, as an event.
    let stranger: peergroup::PeerName = format!("{}.nobody", "cd".repeat(20)).parse().unwrap();
    let id = a.open_direct_connection(&stranger, None).unwrap();
    let (failed, reason) = direct_event(&mut a_events, ConnectionStatus::Failed);
    assert_eq!((failed.id, failed.peer), (id, stranger));
    assert!(reason.is_some_and(|r| !r.is_empty()));
}

fn signal(child: &std::process::Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

#[test]
fn a_process_that_reads_late_still_hears_a_direct_connection_that_came_and_went() {
    let p = pair();
    let a = p.alice.open_group_blocking(&p.alice_name, &p.group, None).unwrap();
    a.connect_by_address(&[]).unwrap();
    until("Alice listening", || a.network().unwrap().port.is_some());
    let b = p.bob.open_group_blocking(&p.bob_name, &p.group, None).unwrap();
    let mut b_events = b.events(&[EventType::DirectConnection]).unwrap();
    b.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port(&a)))]).unwrap();
    until("Alice linked to Bob", || a.connections().unwrap().len() == 1);

    // Another process of Bob's host, stopped while the connection opens and closes: it reads
    // both status changes at once when it goes on.
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{}|{}", p.dir.path().join("bob").display(), p.bob_name, p.group))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = move || {
        for line in lines.by_ref() {
            if let Some((_, mine)) = line.unwrap().split_once("child: ") {
                return mine.to_owned();
            }
        }
        panic!("the child ended without saying more");
    };
    assert_eq!(next_line(), "ready");
    signal(&child, libc::SIGSTOP);
    let bob: peergroup::PeerName = p.bob_name.parse().unwrap();
    let id = a.open_direct_connection(&bob, None).unwrap();
    let (accepted, _) = direct_event(&mut b_events, ConnectionStatus::Connected);
    a.close_direct_connection(id).unwrap();
    direct_event(&mut b_events, ConnectionStatus::Disconnected);
    signal(&child, libc::SIGCONT);
    assert_eq!(next_line(), format!("connected {}", accepted.id));
    assert_eq!(next_line(), format!("disconnected {}", accepted.id));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Not a test: the other process of the test above, started by it with [`CHILD_ENV`] set:
/// opens the group in the home given and prints each direct connection event.
#[test]
#[ignore = "the child process of a test in this file, run by it"]
fn child_process() {
    let spec = std::env::var(CHILD_ENV).expect("run by a test of this file only, with PEERGROUP_TEST_CONNECT_CHILD");
    let parts: Vec<&str> = spec.split('|').collect();
    let [root, identity, group] = parts[..] else { panic!("bad spec {spec}") };
    let ctx = Context::open(std::path::Path::new(root)).unwrap();
    let g = ctx.open_group_blocking(identity, group, None).unwrap();
    let mut events = g.events(&[EventType::DirectConnection]).unwrap();
    println!("child: ready");
    while let Some(event) = events.recv_timeout(Duration::from_secs(60)).unwrap() {
        if let Event::DirectConnection { status, connection, .. } = event {
            let status = match status {
                ConnectionStatus::Connected => "connected",
                ConnectionStatus::Disconnected => "disconnected",
                _ => "failed",
            };
            println!("child: {status} {}", connection.id);
        }
    }
}
