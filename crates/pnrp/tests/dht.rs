//! `Global_` on the Mainline DHT, against local DHT networks on loopback: `mainline`'s own test
//! network, and one made of [`DhtNode`]s as `peergroup pnrp dht-node` runs them. Nothing here
//! reaches the public DHT: every medium is given local bootstrap nodes and binds on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peergroup_pnrp::{CloudName, DhtMedium, DhtNode, GlobalConfig, Medium, PnrpError, Publication, dht_key, register};

const NAME: &str = "0.dht-test";
const LONG: Duration = Duration::from_secs(10);

fn global() -> CloudName {
    CloudName::global()
}

fn medium(bootstrap: &[String]) -> Arc<DhtMedium> {
    Arc::new(DhtMedium::new(GlobalConfig::private(bootstrap)))
}

fn publication(name: &str, port: u16) -> Publication {
    Publication::new(global(), name, vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))], "").unwrap()
}

fn testnet(nodes: usize) -> mainline::Testnet {
    mainline::Testnet::builder(nodes).build().unwrap()
}

async fn resolve_ports(m: &DhtMedium, name: &str, max: usize) -> Vec<u16> {
    let found = m.resolve(name, &global(), max, LONG).await.unwrap();
    let mut ports: Vec<u16> = found
        .iter()
        .map(|e| {
            assert_eq!(e.peer_name, name);
            assert_eq!(e.addresses.len(), 1);
            assert_eq!(e.addresses[0].ip(), Ipv4Addr::LOCALHOST, "the address the DHT nodes saw");
            e.addresses[0].port()
        })
        .collect();
    ports.sort_unstable();
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_is_resolved_from_another_node_and_follows_updates() {
    let net = testnet(10);
    let (a, b) = (medium(&net.bootstrap), medium(&net.bootstrap));
    let registration = register(a.clone(), publication(NAME, 40_001)).await.unwrap();
    assert_eq!(resolve_ports(&b, NAME, 1).await, [40_001]);

    // An update announces the new port at once. BEP 5 cannot take the old one back: the
    // nodes keep it until they forget it, which is why a resolver must try what it finds (the
    // member link's handshake). A fresh resolver each time: a node whose lookup of the key is
    // still running answers a new lookup with what it already heard.
    registration.update(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 40_002))]).await.unwrap();
    let after_update = resolve_ports(&medium(&net.bootstrap), NAME, 5).await;
    assert!(after_update.contains(&40_002), "{after_update:?}");

    // Another process (another node) registering the same name adds its own endpoint.
    let c = medium(&net.bootstrap);
    let _other = register(c, publication(NAME, 40_003)).await.unwrap();
    let both = resolve_ports(&medium(&net.bootstrap), NAME, 5).await;
    assert!(both.contains(&40_002) && both.contains(&40_003), "{both:?}");

    // A name nobody registered: nothing, and the lookup ends by itself, well before the
    // timeout (every node of this network answers).
    let started = Instant::now();
    assert!(b.resolve("0.nobody", &global(), 5, LONG).await.unwrap().is_empty());
    assert!(started.elapsed() < LONG, "the lookup should end when the network has answered");
    registration.unregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streaming_form_hands_out_each_endpoint_once() {
    let net = testnet(8);
    let mut registrations = Vec::new();
    for port in [41_001, 41_002, 41_003] {
        registrations.push(register(medium(&net.bootstrap), publication(NAME, port)).await.unwrap());
    }
    let b = medium(&net.bootstrap);
    let mut ports = Vec::new();
    b.resolve_each(NAME, &global(), 10, LONG, &mut |e| ports.push(e.addresses[0].port())).await.unwrap();
    ports.sort_unstable();
    assert_eq!(ports, [41_001, 41_002, 41_003], "each once, though several nodes return each");
    // `max` stops it early.
    assert_eq!(resolve_ports(&b, NAME, 2).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_dht_networks_do_not_see_each_others_names() {
    let (one, two) = (testnet(5), testnet(5));
    let _r = register(medium(&one.bootstrap), publication(NAME, 42_001)).await.unwrap();
    assert_eq!(resolve_ports(&medium(&one.bootstrap), NAME, 1).await, [42_001]);
    assert!(resolve_ports(&medium(&two.bootstrap), NAME, 1).await.is_empty());
}

#[test]
fn clouds_sharing_one_dht_use_different_keys() {
    // The key covers the cloud: a name in Global_ and the same name in a DNS cloud are two
    // keys, should a cloud other than Global_ ever be carried by the DHT.
    let corp = CloudName::parse("corp.example").unwrap();
    assert_ne!(dht_key(&global(), NAME), dht_key(&corp, NAME));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_of_dht_nodes_as_the_command_runs_them() {
    // The first node starts the network; the others join it, as `peergroup pnrp dht-node
    // --bootstrap` does.
    let first = DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &[]).await.unwrap();
    let bootstrap = vec![first.local_addr().to_string()];
    let mut others = Vec::new();
    for _ in 0..4 {
        others.push(DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &bootstrap).await.unwrap());
    }
    let r = register(medium(&bootstrap), publication(NAME, 43_001)).await.unwrap();
    assert_eq!(resolve_ports(&medium(&bootstrap), NAME, 1).await, [43_001]);
    assert!(first.known_nodes().await >= 1, "the first node learned of the others");
    r.unregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bootstrap_is_a_clear_error() {
    // A port on loopback where nothing listens: every request times out.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let bootstrap = vec![silent.local_addr().unwrap().to_string()];
    let m = DhtMedium::new(GlobalConfig {
        request_timeout: Duration::from_millis(200),
        ..GlobalConfig::private(&bootstrap)
    });
    let err = m.publish(&publication(NAME, 44_001)).await.unwrap_err();
    let PnrpError::DhtFailed { reason } = &err else { panic!("{err:?}") };
    assert!(reason.contains(&bootstrap[0]) && reason.contains(NAME), "{reason}");
    assert_eq!(err.p2p_code(), "PEER_E_SERVICE_NOT_AVAILABLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_port_is_a_clear_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = match taken.local_addr().unwrap() {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("bound on 127.0.0.1"),
    };
    let err = DhtNode::start(listen, &[]).await.unwrap_err();
    assert!(err.to_string().contains(&format!("cannot bind {listen}")), "{err}");
    let m = DhtMedium::new(GlobalConfig { listen, ..GlobalConfig::private(&[]) });
    assert!(matches!(m.local_addr().await, Err(PnrpError::DhtFailed { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_datagrams_do_not_disturb_a_node() {
    // Foreign and malformed KRPC: the bencode and KRPC parsing is `mainline`'s; what reaches
    // pnrp is typed addresses. A node that was sent garbage still serves the network.
    let first = DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &[]).await.unwrap();
    let bootstrap = vec![first.local_addr().to_string()];
    let _second = DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &bootstrap).await.unwrap();
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut datagrams: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"d".to_vec(),
        b"d1:ad2:id20:".to_vec(),
        b"d1:q9:get_peers1:t2:aa1:y1:qe".to_vec(),
        b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaa9:info_hash3:abce1:q9:get_peers1:t2:aa1:y1:qe".to_vec(),
        b"d1:rd2:id20:aaaaaaaaaaaaaaaaaaaa6:valuesl6:\x7f\x00\x00\x01\x00\x00ee1:t2:zz1:y1:re".to_vec(),
        b"i99999999999999999999999999e".to_vec(),
        vec![b'l'; 1400],
        vec![0xff; 1500],
    ];
    // A bounded pseudo-random tail (a fixed LCG: the same bytes on every run).
    let mut x: u32 = 12_345;
    for len in (1..200).step_by(7) {
        datagrams.push(
            (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (x >> 16) as u8
                })
                .collect(),
        );
    }
    for d in &datagrams {
        sender.send_to(d, first.local_addr()).unwrap();
    }
    let _r = register(medium(&bootstrap), publication(NAME, 48_001)).await.unwrap();
    assert_eq!(resolve_ports(&medium(&bootstrap), NAME, 1).await, [48_001]);
}
