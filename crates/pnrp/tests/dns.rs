//! Rule 4 against real DNS servers on loopback: hickory-server in-process for well-formed
//! zones, and a hand-made responder (peergroup_pnrp::testing) for silent servers, garbage,
//! and counting queries.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::{LowerName, Name, RData, Record, rdata::SOA};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use peergroup_pnrp::testing::{Behaviour, StaticDns, srv, txt};
use peergroup_pnrp::{CloudResolver, DnsConfig, Interface, NameOrigin, NoCloudCause, PnrpError, Scope};

const NEGATIVE_TTL: u32 = 300;

/// Starts hickory-server on 127.0.0.1:<ephemeral> serving one zone per `(origin, records)`.
async fn server(zones: Vec<(&str, Vec<Record>)>) -> SocketAddr {
    let mut catalog = Catalog::new();
    for (origin, records) in zones {
        let origin = Name::from_ascii(origin).unwrap();
        let mut zone =
            InMemoryZoneHandler::<TokioRuntimeProvider>::empty(origin.clone(), ZoneType::Primary, AxfrPolicy::Deny);
        let soa =
            SOA::new(origin.clone(), Name::from_ascii("admin.test.").unwrap(), 1, 3600, 600, 86_400, NEGATIVE_TTL);
        zone.upsert_mut(Record::from_rdata(origin.clone(), NEGATIVE_TTL, RData::SOA(soa)), 1);
        for record in records {
            zone.upsert_mut(record, 1);
        }
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    }
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(socket);
    tokio::spawn(async move { server.block_until_done().await });
    addr
}

fn resolver(addr: SocketAddr, search: &[&str], timeout_ms: u64) -> CloudResolver {
    CloudResolver::new(DnsConfig {
        nameservers: vec![addr],
        search: search.iter().map(|s| (*s).to_owned()).collect(),
        timeout: Duration::from_millis(timeout_ms),
        ..DnsConfig::default()
    })
}

/// DNS names never need interfaces: an empty host.
fn no_interfaces() -> Vec<Interface> {
    Vec::new()
}

fn corp_zone(origin: &str) -> (&str, Vec<Record>) {
    let owner = format!("_peergroup._udp.corp.{origin}");
    (origin, vec![srv(&owner, 600, 3587, &format!("seed.{origin}")), txt(&owner, 600, &["v=peergroup1"])])
}

#[tokio::test]
async fn found() {
    let owner = "_peergroup._udp.corp.a.test.";
    let addr = server(vec![(
        "a.test.",
        vec![
            srv(owner, 600, 3587, "seed1.a.test."),
            srv(owner, 600, 3588, "seed2.a.test."),
            txt(owner, 600, &["v=peergroup1 scope=site-local"]),
        ],
    )])
    .await;
    let cloud =
        resolver(addr, &[], 2000).resolve(Some("corp.a.test."), NameOrigin::Caller, &no_interfaces()).await.unwrap();
    assert_eq!(cloud.name.as_str(), "corp.a.test.");
    assert_eq!(cloud.scope, Scope::SiteLocal);
    assert_eq!(cloud.scope_id, 0);
    assert!(!cloud.local_only);
    let seeds: Vec<(&str, u16)> = cloud.seeds.iter().map(|s| (s.target.as_str(), s.port)).collect();
    assert_eq!(seeds, [("seed1.a.test.", 3587), ("seed2.a.test.", 3588)]);
}

#[tokio::test]
async fn relative_name_found_through_one_search_domain() {
    let addr = server(vec![("a.test.", vec![]), corp_zone("b.test.")]).await;
    let cloud = resolver(addr, &["a.test", "b.test"], 2000)
        .resolve(Some("corp"), NameOrigin::Caller, &no_interfaces())
        .await
        .unwrap();
    assert_eq!(cloud.name.as_str(), "corp.b.test.");
    assert_eq!(cloud.scope, Scope::Global);
}

#[tokio::test]
async fn not_found_is_no_cloud_with_nxdomain() {
    let addr = server(vec![corp_zone("a.test.")]).await;
    let err = resolver(addr, &["a.test"], 2000)
        .resolve(Some("nope"), NameOrigin::Caller, &no_interfaces())
        .await
        .unwrap_err();
    let PnrpError::NoCloud { name, cause: NoCloudCause::NxDomain { queried } } = &err else { panic!("{err:?}") };
    assert_eq!(name, "nope");
    assert_eq!(queried, &["_peergroup._udp.nope.a.test."]);
    assert!(err.to_string().contains("NXDOMAIN"), "{err}");
}

#[tokio::test]
async fn name_without_descriptor_is_no_cloud() {
    let addr = server(vec![("a.test.", vec![txt("_peergroup._udp.corp.a.test.", 60, &["v=peergroup1"])])]).await;
    let err = resolver(addr, &[], 2000)
        .resolve(Some("corp.a.test."), NameOrigin::Caller, &no_interfaces())
        .await
        .unwrap_err();
    assert!(matches!(err, PnrpError::NoCloud { cause: NoCloudCause::NoDescriptor { .. }, .. }), "{err:?}");
}

#[tokio::test]
async fn ambiguous_through_two_search_domains() {
    let addr = server(vec![corp_zone("a.test."), corp_zone("b.test.")]).await;
    let err = resolver(addr, &["a.test", "b.test"], 2000)
        .resolve(Some("corp"), NameOrigin::Caller, &no_interfaces())
        .await
        .unwrap_err();
    let PnrpError::Ambiguous { name, candidates } = &err else { panic!("{err:?}") };
    assert_eq!(name, "corp");
    assert_eq!(candidates, &["corp.a.test.", "corp.b.test."]);
}

#[tokio::test]
async fn absolute_name_ignores_the_search_list() {
    let addr = server(vec![corp_zone("a.test."), corp_zone("b.test.")]).await;
    let cloud = resolver(addr, &["a.test", "b.test"], 2000)
        .resolve(Some("corp.b.test."), NameOrigin::Caller, &no_interfaces())
        .await;
    assert_eq!(cloud.unwrap().name.as_str(), "corp.b.test.");
}

#[test]
fn absolute_name_is_looked_up_once() {
    let owner = "_peergroup._udp.corp.test.";
    let dns =
        StaticDns::start(Behaviour::Zone { records: vec![srv(owner, 60, 1, "s.test.")], negative_ttl: 60 }).unwrap();
    let r = resolver(dns.addr(), &["a.test", "b.test"], 2000);
    let cloud = r.resolve_blocking(Some("corp.test."), NameOrigin::Caller, &no_interfaces()).unwrap();
    assert_eq!(cloud.name.as_str(), "corp.test.");
    assert_eq!(dns.names(), [owner], "only the absolute name, never under a search domain");
    assert_eq!(dns.queries(), 2, "one SRV and one TXT query");
}

#[tokio::test]
async fn malformed_txt_names_the_record() {
    let owner = "_peergroup._udp.bad.a.test.";
    let addr =
        server(vec![("a.test.", vec![srv(owner, 60, 1, "s.a.test."), txt(owner, 60, &["v=peergroup1 scope=mars"])])])
            .await;
    let err =
        resolver(addr, &[], 2000).resolve(Some("bad.a.test."), NameOrigin::Caller, &no_interfaces()).await.unwrap_err();
    let PnrpError::MalformedDescriptor { record, reason } = &err else { panic!("{err:?}") };
    assert_eq!(record, "_peergroup._udp.bad.a.test. TXT");
    assert!(reason.contains("unknown scope \"mars\""), "{reason}");
}

#[tokio::test]
async fn malformed_srv_names_the_record() {
    let owner = "_peergroup._udp.bad.a.test.";
    let addr = server(vec![("a.test.", vec![srv(owner, 60, 0, "s.a.test.")])]).await;
    let err =
        resolver(addr, &["a.test"], 2000).resolve(Some("bad"), NameOrigin::Caller, &no_interfaces()).await.unwrap_err();
    let PnrpError::MalformedDescriptor { record, reason } = &err else { panic!("{err:?}") };
    assert_eq!(record, "_peergroup._udp.bad.a.test. SRV");
    assert!(reason.contains("port 0"), "{reason}");
}

#[test]
fn garbage_answers_are_no_cloud_not_a_panic() {
    let dns = StaticDns::start(Behaviour::Garbage).unwrap();
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    let err = resolver(dns.addr(), &[], 500)
        .resolve_blocking(Some("corp.test."), NameOrigin::Caller, &no_interfaces())
        .unwrap_err();
    assert!(matches!(err, PnrpError::NoCloud { .. }), "{err:?}");
    assert!(started.elapsed() < timeout + Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(dns.queries() >= 1);
}

#[test]
fn silent_server_is_no_cloud_within_the_timeout() {
    let dns = StaticDns::start(Behaviour::Silent).unwrap();
    let timeout = Duration::from_millis(400);
    for name in ["corp.test.", "corp"] {
        let started = Instant::now();
        let err = resolver(dns.addr(), &["a.test", "b.test"], 400)
            .resolve_blocking(Some(name), NameOrigin::Caller, &no_interfaces())
            .unwrap_err();
        let elapsed = started.elapsed();
        let PnrpError::NoCloud { cause: NoCloudCause::Timeout { after, queried }, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*after, timeout);
        assert!(!queried.is_empty());
        assert!(err.to_string().contains("DNS timeout"), "{err}");
        // Bounded by the timeout (plus scheduling slack), not by retries or the 5 s default.
        assert!(elapsed < timeout + Duration::from_millis(600), "{name}: {elapsed:?}");
    }
    assert!(dns.queries() >= 1, "the server was asked");
}

#[test]
fn positive_and_negative_answers_are_cached_for_their_ttl() {
    let owner = "_peergroup._udp.corp.test.";
    let dns = StaticDns::start(Behaviour::Zone {
        records: vec![srv(owner, 3600, 1, "s.test."), srv("_peergroup._udp.zero.test.", 0, 1, "s.test.")],
        negative_ttl: 3600,
    })
    .unwrap();
    let r = resolver(dns.addr(), &[], 2000);
    let host = no_interfaces();
    r.resolve_blocking(Some("corp.test."), NameOrigin::Caller, &host).unwrap();
    let after_first = dns.queries();
    assert_eq!(r.resolve_blocking(Some("corp.test."), NameOrigin::Caller, &host).unwrap().name.as_str(), "corp.test.");
    assert_eq!(dns.queries(), after_first, "positive answer served from the cache");

    assert!(matches!(
        r.resolve_blocking(Some("nope.test."), NameOrigin::Caller, &host),
        Err(PnrpError::NoCloud { .. })
    ));
    let after_nx = dns.queries();
    let err = r.resolve_blocking(Some("nope.test."), NameOrigin::Caller, &host).unwrap_err();
    assert!(matches!(err, PnrpError::NoCloud { cause: NoCloudCause::NxDomain { .. }, .. }), "{err:?}");
    assert_eq!(dns.queries(), after_nx, "negative answer served from the cache");

    // A TTL of 0 is never cached.
    r.resolve_blocking(Some("zero.test."), NameOrigin::Caller, &host).unwrap();
    let after_zero = dns.queries();
    r.resolve_blocking(Some("zero.test."), NameOrigin::Caller, &host).unwrap();
    assert!(dns.queries() > after_zero, "TTL 0 asked again");
}

#[test]
fn negative_answers_without_soa_ttl_zero_are_asked_again() {
    let dns = StaticDns::start(Behaviour::Zone { records: vec![], negative_ttl: 0 }).unwrap();
    let r = resolver(dns.addr(), &[], 2000);
    assert!(r.resolve_blocking(Some("nope.test."), NameOrigin::Caller, &no_interfaces()).is_err());
    let first = dns.queries();
    assert!(r.resolve_blocking(Some("nope.test."), NameOrigin::Caller, &no_interfaces()).is_err());
    assert!(dns.queries() > first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_api_works_inside_a_runtime() {
    let addr = server(vec![corp_zone("a.test.")]).await;
    let r = resolver(addr, &["a.test"], 2000);
    let cloud = r.resolve_blocking(Some("corp"), NameOrigin::Caller, &no_interfaces()).unwrap();
    assert_eq!(cloud.name.as_str(), "corp.a.test.");
}

#[tokio::test]
async fn config_file_points_at_the_server() {
    let addr = server(vec![corp_zone("a.test.")]).await;
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config.toml"),
        format!("[dns]\nnameservers = [\"{addr}\"]\nsearch = [\"a.test\"]\ntimeout_ms = 1500\n"),
    )
    .unwrap();
    let config = DnsConfig::load(home.path()).unwrap();
    assert_eq!(config.timeout, Duration::from_millis(1500));
    let cloud = CloudResolver::new(config).resolve(Some("corp"), NameOrigin::Caller, &no_interfaces()).await.unwrap();
    assert_eq!(cloud.name.as_str(), "corp.a.test.");
}
