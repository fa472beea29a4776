//! `Group::connect` finding the other member through the group's cloud, two homes on one host
//! over loopback: in `Global_` through a private DHT of nodes on loopback, and in a DNS cloud
//! through a real BIND 9 primary. Each member registers the group's name with its presence's
//! address (`[net] advertise`: loopback, so that nothing leaves the host) and resolves it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use peergroup::{Context, DhtNode, Group, InvitationRequest, NewGroup, NewRecord, Role, Timestamp, testing_key};
use peergroup_testkit::{BIND_KEY_NAME, Bind, has_bind, require};

/// A resolution round is 5 s at most; two rounds and the links fit well in this.
const WAIT: Duration = Duration::from_secs(30);

fn home(dir: &std::path::Path, config: &str) -> Context {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(dir.join("config.toml"), format!("[net]\nadvertise = [\"127.0.0.1\"]\n{config}")).unwrap();
    Context::open(dir).unwrap()
}

fn until(what: &str, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < WAIT, "{what}: not within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    start.elapsed()
}

fn record(text: &str) -> NewRecord {
    NewRecord {
        record_type: uuid::Uuid::from_u128(0xc10d),
        attributes: peergroup::Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: text.as_bytes().to_vec(),
    }
}

/// Alice creates a group in `cloud` (None: `Global_`), adds records, connects; Bob joins,
/// connects, finds her in the cloud, becomes ready with her records; then a record crosses
/// each way.
fn creator_and_member_meet(alice: &Context, bob: &Context, cloud: Option<&str>) {
    let alice_name = alice.keystore().create_with_key("alice", None, &testing_key(0)).unwrap().peer_name().to_string();
    let bob_id = bob.keystore().create_with_key("bob", None, &testing_key(2)).unwrap();
    let mut new = NewGroup::new("chat", "");
    new.cloud = cloud.map(str::to_owned);
    let group = alice.create_group(&alice_name, &new).unwrap().to_string();
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let invitation = alice.invite(&alice_name, &group, &bob_id.info().to_xml(), &request).unwrap();
    let bob_name = bob_id.peer_name().to_string();
    bob.join(&bob_name, &invitation).unwrap();

    let a: Group = alice.open_group_blocking(&alice_name, &group, None).unwrap();
    for n in 0..10 {
        a.add_record(record(&format!("{n}"))).unwrap();
    }
    a.connect().unwrap();
    until("Alice listening", || a.status().unwrap().listening);
    let b = bob.open_group_blocking(&bob_name, &group, None).unwrap();
    b.connect().unwrap();
    let took =
        until("Bob linked to Alice", || b.connections().unwrap().iter().any(|c| c.peer.to_string() == alice_name));
    eprintln!("{}: Bob found Alice and linked in {took:?}", b.cloud().name);
    until("Bob ready with every record", || b.is_ready().unwrap() && b.records(None).unwrap().len() == 10);
    b.add_record(record("from bob")).unwrap();
    until("Bob's record at Alice", || a.records(None).unwrap().len() == 11);
    a.add_record(record("from alice")).unwrap();
    until("Alice's record at Bob", || b.records(None).unwrap().len() == 12);
    assert!(b.network().unwrap().last_failure.is_none(), "{:?}", b.network().unwrap().last_failure);
}

#[test]
fn members_meet_in_global_through_a_private_dht() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (first, _others) = rt.block_on(async {
        let first = DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &[]).await.unwrap();
        let bootstrap = first.local_addr().to_string();
        let mut others = Vec::new();
        for _ in 0..3 {
            others.push(
                DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), std::slice::from_ref(&bootstrap))
                    .await
                    .unwrap(),
            );
        }
        (first, others)
    });
    let config = format!("[global]\nbootstrap = [\"{}\"]\nlisten = \"127.0.0.1:0\"\n", first.local_addr());
    let tmp = tempfile::tempdir().unwrap();
    let alice = home(&tmp.path().join("alice"), &config);
    let bob = home(&tmp.path().join("bob"), &config);
    creator_and_member_meet(&alice, &bob, None);
}

#[test]
fn members_meet_in_a_dns_cloud_through_bind() {
    let test = "members_meet_in_a_dns_cloud_through_bind";
    if !require(test, has_bind(), "needs named, tsig-keygen, dig and nsupdate (apt-get install bind9 bind9-dnsutils)") {
        return;
    }
    let server = Bind::start("corp.example").unwrap();
    server.add_cloud_descriptor();
    let config = format!(
        "[global]\nenabled = false\n[dns]\nnameservers = [\"{addr}\"]\ntimeout_ms = 5000\n\
         [dns.update.\"corp.example\"]\nserver = \"{addr}\"\nkey_name = \"{BIND_KEY_NAME}\"\nsecret = \"{}\"\n",
        server.secret(),
        addr = server.addr()
    );
    let tmp = tempfile::tempdir().unwrap();
    let alice = home(&tmp.path().join("alice"), &config);
    let bob = home(&tmp.path().join("bob"), &config);
    creator_and_member_meet(&alice, &bob, Some("corp.example."));
}
