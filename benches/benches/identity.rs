//! Identity layer: lookup for `open` at several keystore sizes, create, sign and verify.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::fs;
use std::hint::black_box;
use std::os::unix::fs::DirBuilderExt;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peergroup_benches::test_mode;
use peergroup_identity::provider::{AWS_LC, RUST_CRYPTO};
use peergroup_identity::{CryptoProvider, Keystore, testing};

/// A keystore holding `n` identities, one of them real and looked up. The other `n - 1` are
/// folders with the same files under other authorities: a lookup never reads them, and
/// generating 10,000 RSA keys would take many minutes, but the folder they share is as full
/// as with real identities.
fn keystore_with(n: usize) -> (tempfile::TempDir, Keystore, peergroup_identity::PeerName) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Keystore::open(tmp.path().join("home")).expect("keystore");
    let real = store.create_with_key("bench", None, &testing::key(0)).expect("identity");
    let identities = tmp.path().join("home/identities");
    let real_dir = identities.join(real.peer_name().authority().to_hex());
    let cert = fs::read(real_dir.join("certificate.der")).expect("certificate");
    let key = fs::read(real_dir.join("key.pk8")).expect("key");
    for i in 1..n {
        let dir = identities.join(format!("{i:040x}"));
        fs::DirBuilder::new().mode(0o700).create(&dir).expect("decoy folder");
        fs::write(dir.join("certificate.der"), &cert).expect("decoy certificate");
        fs::write(dir.join("key.pk8"), &key).expect("decoy key");
    }
    let name = real.peer_name().clone();
    (tmp, store, name)
}

fn lookup(c: &mut Criterion) {
    let sizes: &[usize] = if test_mode() { &[1, 100] } else { &[1, 100, 10_000] };
    let mut group = c.benchmark_group("identity_lookup");
    for &n in sizes {
        let (_tmp, store, name) = keystore_with(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(store.get(black_box(&name)).expect("lookup")))
        });
    }
    group.finish();
}

fn providers() -> [&'static dyn CryptoProvider; 2] {
    [&AWS_LC, &RUST_CRYPTO]
}

fn create(c: &mut Criterion) {
    let mut group = c.benchmark_group("identity_create");
    group.sample_size(10);
    for provider in providers() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let store = Keystore::open(tmp.path().join("home")).expect("keystore").with_provider(provider);
        let mut n = 0u64;
        group.bench_function(provider.name(), |b| {
            b.iter(|| {
                n += 1;
                store.create(&format!("id{n}"), None).expect("create")
            })
        });
    }
    group.finish();
}

fn sign_and_verify(c: &mut Criterion) {
    let key = testing::key(0);
    let message = [7u8; 256];
    let mut sign = c.benchmark_group("identity_sign");
    for provider in providers() {
        let signer = provider.signing_key(&key).expect("signing key");
        sign.bench_function(provider.name(), |b| b.iter(|| signer.sign(black_box(&message)).expect("sign")));
    }
    sign.finish();
    let mut verify = c.benchmark_group("identity_verify");
    for provider in providers() {
        let signer = provider.signing_key(&key).expect("signing key");
        let signature = signer.sign(&message).expect("sign");
        let verifier = provider.verifying_key(signer.public_key_der()).expect("verifying key");
        verify.bench_function(provider.name(), |b| {
            b.iter(|| verifier.verify(black_box(&message), black_box(&signature)).expect("verify"))
        });
    }
    verify.finish();
}

criterion_group!(benches, lookup, create, sign_and_verify);
criterion_main!(benches);
