//! DNS clouds against a local BIND 9 primary (`named` started on loopback, as the tests do):
//! one registration (one TSIG-signed UPDATE over TCP, answer verified) and one resolution
//! (PTR by peer name, then the instance's TXT, parsed and checked). Target: under 5 ms each.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use criterion::{Criterion, criterion_group, criterion_main};
use peergroup_pnrp::{CloudName, DnsConfig, DnsMedium, KeyAlgorithm, Medium, NoProofs, Publication, UpdateKey};
use peergroup_testkit::{BIND_KEY_NAME, Bind, has_bind};

fn dns_cloud(c: &mut Criterion) {
    assert!(
        has_bind(),
        "the DNS cloud benchmark needs named, tsig-keygen and dig (apt-get install bind9 bind9-dnsutils)"
    );
    let server = Bind::start("corp.example").expect("start named");
    let secret = base64::engine::general_purpose::STANDARD.decode(server.secret()).expect("base64 secret");
    let config = DnsConfig {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(5),
        updates: vec![
            UpdateKey::new("corp.example", Some(server.addr()), BIND_KEY_NAME, KeyAlgorithm::HmacSha256, &secret)
                .expect("key"),
        ],
        ..DnsConfig::default()
    };
    let medium = Arc::new(DnsMedium::new(config, Arc::new(NoProofs), Arc::new(NoProofs)));
    let cloud = CloudName::parse("corp.example.").expect("cloud");
    let publication = Publication::new(
        cloud.clone(),
        "0.bench",
        vec!["192.0.2.10:3587".parse().expect("addr"), "[2001:db8::10]:3587".parse().expect("addr")],
        "benchmark",
    )
    .expect("publication");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");

    c.bench_function("pnrp_dns_register", |b| {
        b.iter(|| rt.block_on(medium.publish(&publication)).expect("publish"));
    });
    c.bench_function("pnrp_dns_resolve", |b| {
        b.iter(|| {
            let found = rt.block_on(medium.resolve("0.bench", &cloud, 10, Duration::from_secs(5))).expect("resolve");
            assert_eq!(found.len(), 1);
        });
    });
    rt.block_on(medium.withdraw(&publication)).expect("withdraw");
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(5));
    targets = dns_cloud
}
criterion_main!(benches);
