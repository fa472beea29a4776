//! `Global_` lookups on a local Mainline DHT network of 20 nodes on loopback (made of
//! [`DhtNode`]s, as `peergroup pnrp dht-node` runs them: the first starts the network, the
//! others join it through it). One medium registers `0.bench`; lookups are timed from the call
//! to the first endpoint (`max` = 1). Target: median < 200 ms.
//!
//! - `pnrp_dht_lookup_cold` (printed): a new medium per lookup, so a new DHT node with an empty
//!   routing table that bootstraps, then looks up: what a process that resolves once pays.
//! - `pnrp_dht_lookup_warm` (criterion): one medium for every lookup, as a process that
//!   resolves again and again (its routing table filled; `mainline` answers a lookup of a key
//!   whose previous lookup is still running from what that one heard).
//! - `pnrp_dht_announce` (criterion): one registration's announcement (`publish`): find the
//!   closest nodes, collect their tokens, store at them.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use peergroup_pnrp::{CloudName, DhtMedium, DhtNode, GlobalConfig, Medium, Publication, register};

const NAME: &str = "0.bench";
const NODES: usize = 20;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn lookup(rt: &tokio::runtime::Runtime, medium: &DhtMedium) -> Duration {
    let started = Instant::now();
    let found = rt.block_on(medium.resolve(NAME, &CloudName::global(), 1, Duration::from_secs(10))).expect("resolve");
    let took = started.elapsed();
    assert_eq!(found.len(), 1, "not found within 10 s");
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let quick = std::env::args().any(|a| a == "--test");
    let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let first = rt.block_on(DhtNode::start(loopback, &[])).expect("first node");
    let bootstrap = vec![first.local_addr().to_string()];
    let nodes: Vec<DhtNode> =
        (1..NODES).map(|_| rt.block_on(DhtNode::start(loopback, &bootstrap)).expect("node")).collect();
    let config = GlobalConfig::private(&bootstrap);
    let endpoint = SocketAddr::from((Ipv4Addr::LOCALHOST, 3587));
    let publication = Publication::new(CloudName::global(), NAME, vec![endpoint], "").expect("publication");
    let registrar = Arc::new(DhtMedium::new(config.clone()));
    let _registration = rt.block_on(register(registrar.clone(), publication.clone())).expect("register");

    let n = if quick { 3 } else { 30 };
    let mut cold: Vec<Duration> = (0..n).map(|_| lookup(&rt, &DhtMedium::new(config.clone()))).collect();
    cold.sort();
    println!(
        "pnrp_dht_lookup_cold: median {:.1} ms, min {:.1} ms, max {:.1} ms ({n} lookups, each by a new DHT node, {NODES} nodes)",
        ms(cold[n / 2]),
        ms(cold[0]),
        ms(cold[n - 1])
    );

    let mut c = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).configure_from_args();
    let warm = DhtMedium::new(config);
    lookup(&rt, &warm);
    c.bench_function("pnrp_dht_lookup_warm", |b| b.iter(|| lookup(&rt, &warm)));
    c.bench_function("pnrp_dht_announce", |b| {
        b.iter(|| rt.block_on(registrar.publish(&publication)).expect("announce"));
    });
    c.final_summary();
    drop(nodes);
}
