//! A member link over loopback, by address: from `connect` to an authenticated link (QUIC and
//! TLS 1.3 handshake with both identity certificates, both membership proofs checked). Target
//! (issue 14, "connect by address over loopback to first neighbour connected"): < 20 ms median.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::time::{Duration, SystemTime};

use criterion::Criterion;
use peergroup_identity::testing::key;
use peergroup_identity::{Identity, Keystore};
use peergroup_net::MemberEndpoint;
use peergroup_security::{InvitationRequest, Membership, NewGroup};
use peergroup_state::{JoinOutcome, MembershipStore};

fn identity(dir: &std::path::Path, name: &str, n: usize) -> (Identity, MembershipStore) {
    let keystore = Keystore::open(dir.join(name)).expect("keystore");
    let identity = keystore.create_with_key(name, None, &key(n)).expect("identity");
    (identity, MembershipStore::for_keystore(&keystore))
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (alice, alice_store) = identity(dir.path(), "alice", 0);
    let (bob, bob_store) = identity(dir.path(), "bob", 2);
    let now = SystemTime::now();
    let db = alice_store.create_group_with_key(&alice, &NewGroup::new("bench", ""), key(1), now).expect("group");
    let group = db.group_peer_name().clone();
    let alice_m: Membership = alice_store.get(alice.peer_name(), &group).expect("membership");
    let request = InvitationRequest { roles: Vec::new(), expiration: None };
    let invitation = alice_store.create_invitation(&alice, &group, bob.info(), &request, now).expect("invite");
    let bob_m = match bob_store.join(&bob, &invitation, now).expect("join") {
        JoinOutcome::Joined(m) | JoinOutcome::AlreadyMember(m) => m,
    };

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let a = MemberEndpoint::bind("127.0.0.1:0".parse().expect("addr"), &alice, alice_m).expect("alice endpoint");
    let b = MemberEndpoint::bind("127.0.0.1:0".parse().expect("addr"), &bob, bob_m).expect("bob endpoint");
    let addr = a.local_addr().expect("addr");
    let link = || {
        rt.block_on(async {
            let (out, inc) = tokio::join!(b.connect(addr), a.accept());
            let out = out.expect("link");
            inc.expect("open").expect("accepted");
            out.close();
        });
    };
    link();
    let mut c = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4)).configure_from_args();
    c.bench_function("net_link_by_address", |bench| bench.iter(link));
    c.final_summary();
}
