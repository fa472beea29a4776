//! Group security: create a group, issue an invitation, join, and validate chains of 2 and 24
//! certificates.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peergroup_identity::{Keystore, PeerName, default_provider, testing};
use peergroup_security::{
    GroupCertificate, InvitationRequest, MAX_CHAIN_LEN, NewGroup, Role, Subject, issue_gmc, issue_grc, validate_chain,
};
use peergroup_state::MembershipStore;

fn request() -> InvitationRequest {
    InvitationRequest { roles: vec![Role::Member], expiration: None }
}

/// Creating a group with a cached group key: certificates, files, fsyncs. (Generating the
/// group key, an RSA-2048 key pair, is `identity_create`'s cost and is left out.)
fn create(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let keystore = Keystore::open(tmp.path().join("home")).expect("keystore");
    let alice = keystore.create_with_key("alice", None, &testing::key(0)).expect("identity");
    let group_key = testing::key(1);
    let mut group = c.benchmark_group("security_create");
    group.sample_size(20);
    group.bench_function("group", |b| {
        b.iter_batched(
            || tempfile::tempdir().expect("temp dir"),
            |dir| {
                let store = MembershipStore::open(dir.path());
                let m = store
                    .create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), group_key.clone(), SystemTime::now())
                    .expect("create");
                black_box(m);
                dir
            },
            criterion::BatchSize::PerIteration,
        )
    });
    // The pure part alone: GRC and creator GMC (two signatures), no files.
    group.bench_function("certificates", |b| {
        b.iter(|| {
            NewGroup::new("chat", "Chat")
                .create_certificates(alice.info(), group_key.clone(), SystemTime::now())
                .expect("certificates")
        })
    });
    group.finish();
}

/// Issuing an invitation, and joining with it (verify + record the membership).
fn invite_and_join(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let keystore = Keystore::open(tmp.path().join("home")).expect("keystore");
    let alice = keystore.create_with_key("alice", None, &testing::key(0)).expect("identity");
    let bob = keystore.create_with_key("bob", None, &testing::key(2)).expect("identity");
    let store = MembershipStore::for_keystore(&keystore);
    let now = SystemTime::now();
    let db = store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(1), now).expect("create");
    let group = db.group_peer_name().clone();
    drop(db);
    let mut g = c.benchmark_group("security_invitation");
    g.bench_function("create", |b| {
        b.iter(|| store.create_invitation(&alice, &group, bob.info(), &request(), now).expect("invite"))
    });
    let text = store.create_invitation(&alice, &group, bob.info(), &request(), now).expect("invite");
    g.bench_function("parse", |b| b.iter(|| peergroup_security::invitation::parse(black_box(&text))));
    g.bench_function("join", |b| {
        // Each join starts from a group Bob is not in yet (the removal is not measured).
        b.iter_batched(
            || {
                let _ = store.groups(bob.peer_name()).expect("groups").delete(&group);
            },
            |()| store.join(&bob, black_box(&text), now).expect("join"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// A straight administrator chain of `len` certificates (keys 10.. distinct), as DER.
fn chain(len: usize) -> (PeerName, Vec<Vec<u8>>) {
    let provider = default_provider();
    let keys: Vec<_> = (0..len).map(|i| provider.signing_key(&testing::key(10 + i)).expect("key")).collect();
    let group = PeerName::secure(keys[0].public_key_der(), "bench").expect("name");
    let now = SystemTime::now();
    let end = now + peergroup_identity::x509::INFINITE_VALIDITY;
    let start = now - std::time::Duration::from_secs(3600);
    let root = issue_grc(keys[0].as_ref(), &group, start, end).expect("grc");
    let mut certs = vec![GroupCertificate::parse(&root, None).expect("parse")];
    for i in 1..len {
        let spki = keys[i].public_key_der().to_vec();
        let subject = Subject {
            peer_name: PeerName::secure(&spki, &format!("m{i}")).expect("name"),
            friendly_name: format!("m{i}"),
            public_key: spki,
        };
        let der =
            issue_gmc(&certs[i - 1], keys[i - 1].as_ref(), &subject, &[Role::Administrator], start, end).expect("gmc");
        certs.push(GroupCertificate::parse(&der, Some(keys[i - 1].public_key_der())).expect("parse"));
    }
    (group, certs.into_iter().map(|c| c.der).collect())
}

fn validate(c: &mut Criterion) {
    let mut g = c.benchmark_group("security_validate_chain");
    for len in [2, MAX_CHAIN_LEN] {
        let (group, ders) = chain(len);
        let now = SystemTime::now();
        g.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
            b.iter(|| validate_chain(black_box(&ders), Some(&group), Some(now)).expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(benches, create, invite_and_join, validate);
criterion_main!(benches);
