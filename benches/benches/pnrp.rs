//! Cloud layer: enumeration plus resolution of a local name at 1, 16 and 256 interfaces (fixed
//! interface lists), getifaddrs on this host and the watched list, and a cached DNS resolution.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use peergroup_pnrp::testing::{Behaviour, StaticDns, srv};
use peergroup_pnrp::{
    CloudResolver, DnsConfig, Interface, InterfaceSource, NameOrigin, SystemInterfaces, WatchedInterfaces, discover,
    resolve_cloud,
};

/// `n` up Ethernet interfaces with a link-local and a unique-local address each, plus `lo`.
fn host(n: u32) -> Vec<Interface> {
    let mut list = vec![Interface {
        name: "lo".into(),
        index: 1,
        up: true,
        loopback: true,
        multicast: false,
        addrs: vec!["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")],
    }];
    for i in 0..n {
        list.push(Interface {
            name: format!("eth{i}"),
            index: i + 2,
            up: true,
            loopback: false,
            multicast: true,
            addrs: vec![
                format!("fe80::{:x}", i + 1).parse().expect("ip"),
                format!("fd00:{:x}::1", i + 1).parse().expect("ip"),
                format!("10.0.{}.{}", i / 250, i % 250 + 1).parse().expect("ip"),
            ],
        });
    }
    list
}

fn resolve_local(c: &mut Criterion) {
    let mut group = c.benchmark_group("pnrp_resolve_local");
    for n in [1u32, 16, 256] {
        let list = host(n);
        let name = format!("LinkLocal_eth{}", n / 2);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(resolve_cloud(Some(black_box(&name)), NameOrigin::Caller, &list).expect("resolves")))
        });
    }
    group.finish();
    let mut group = c.benchmark_group("pnrp_discover");
    for n in [1u32, 16, 256] {
        let list = host(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(discover(&list).expect("discovers")))
        });
    }
    group.finish();
}

fn system(c: &mut Criterion) {
    c.bench_function("pnrp_getifaddrs_this_host", |b| {
        b.iter(|| black_box(SystemInterfaces.interfaces().expect("getifaddrs")))
    });
    // What an open pays: the list kept until netlink reports a change (one stat of the
    // namespace, a non-blocking receive, a copy of the list).
    let watched = WatchedInterfaces::new();
    c.bench_function("pnrp_watched_interfaces_this_host", |b| {
        b.iter(|| black_box(watched.interfaces().expect("interfaces")))
    });
}

fn dns_cached(c: &mut Criterion) {
    let owner = "_peergroup._udp.corp.test.";
    let dns =
        StaticDns::start(Behaviour::Zone { records: vec![srv(owner, 3600, 3587, "seed.test.")], negative_ttl: 3600 })
            .expect("responder");
    let resolver = CloudResolver::new(DnsConfig {
        nameservers: vec![dns.addr()],
        search: vec!["a.test".into(), "test".into()],
        timeout: Duration::from_secs(2),
        ..DnsConfig::default()
    });
    let none: Vec<Interface> = Vec::new();
    // Fill the cache: `corp` is NXDOMAIN under a.test and found under test.
    resolver.resolve_blocking(Some("corp"), NameOrigin::Caller, &none).expect("first lookup");
    let queries = dns.queries();
    c.bench_function("pnrp_resolve_dns_cached", |b| {
        b.iter(|| {
            black_box(resolver.resolve_blocking(Some(black_box("corp")), NameOrigin::Caller, &none).expect("cached"))
        })
    });
    assert_eq!(dns.queries(), queries, "every measured resolution came from the cache");
}

criterion_group!(benches, resolve_local, system, dns_cached);
criterion_main!(benches);
