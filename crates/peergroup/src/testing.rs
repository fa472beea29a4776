//! Fixed hosts for tests, examples, benchmarks and fuzzing: an open must not depend on the
//! interfaces of the machine it runs on. Not part of the stable API.

use peergroup_pnrp::Interface;
/// The DNS responder and network namespaces of the cloud layer's tests, for the tests of the
/// command line and the C ABI.
pub use peergroup_pnrp::testing::{Behaviour, StaticDns, srv};

/// A host with a loopback interface and `link_locals` up, multicast Ethernet interfaces
/// `eth0`, `eth1`, ... each with one IPv6 link-local address (`fe80::1`, `fe80::2`, ...). With
/// none it is offline; with two, `LinkLocal_` is ambiguous.
pub fn host_with_link_locals(link_locals: usize) -> Vec<Interface> {
    let mut host = vec![Interface {
        name: "lo".into(),
        index: 1,
        up: true,
        loopback: true,
        multicast: false,
        addrs: vec![std::net::Ipv6Addr::LOCALHOST.into()],
    }];
    for i in 0..link_locals {
        let n = u16::try_from(i + 1).unwrap_or(u16::MAX);
        host.push(Interface {
            name: format!("eth{i}"),
            index: u32::from(n) + 1,
            up: true,
            loopback: false,
            multicast: true,
            addrs: vec![std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n).into()],
        });
    }
    host
}

/// A cached test key (PKCS#8 DER RSA-2048): the `n`th of this process, generated once. Key
/// generation takes tens of milliseconds; tests and examples share keys instead.
pub fn key(n: usize) -> peergroup_identity::provider::Pkcs8Der {
    peergroup_identity::testing::key(n)
}
