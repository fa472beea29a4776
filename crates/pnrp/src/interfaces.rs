//! Network interfaces, and the clouds they give (pure: tests feed fixed interface lists).

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use crate::cloud::{Cloud, CloudState, Scope};
use crate::error::Result;
use crate::name::CloudName;

/// One network interface as the cloud rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Its name (`eth0`).
    pub name: String,
    /// Its index (`if_nametoindex`), the scope id of its link-local addresses.
    pub index: u32,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// A loopback interface (`IFF_LOOPBACK`).
    pub loopback: bool,
    /// Multicast-capable (`IFF_MULTICAST`).
    pub multicast: bool,
    /// Its addresses.
    pub addrs: Vec<IpAddr>,
}

/// Where the interface list comes from: [`SystemInterfaces`](crate::SystemInterfaces) on a
/// real host, a fixed list (`Vec<Interface>` or `[Interface]`) in tests.
pub trait InterfaceSource {
    /// Lists the interfaces now.
    fn interfaces(&self) -> Result<Vec<Interface>>;
}

impl InterfaceSource for [Interface] {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.to_vec())
    }
}

impl InterfaceSource for Vec<Interface> {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        Ok(self.clone())
    }
}

/// The endpoints this host publishes in `cloud` at `port` when the caller names none
/// (`peergroup pnrp register` without `--address`): for `LinkLocal_<if>` the IPv6 link-local
/// addresses of that interface (with its scope id), for `SiteLocal_<if>` its unique-local
/// addresses, for a DNS cloud or `Global_` the routable addresses of every interface that is
/// up and not loopback. At most [`MAX_ENDPOINTS`](crate::MAX_ENDPOINTS), in interface order.
pub fn cloud_endpoints(cloud: &CloudName, interfaces: &[Interface], port: u16) -> Vec<SocketAddr> {
    let on = |i: &Interface| match cloud.interface_name() {
        Some(name) => i.name == name,
        None => i.up && !i.loopback,
    };
    let wanted = |a: &IpAddr| match cloud.scope() {
        Some(Scope::LinkLocal) if cloud.interface_name().is_some() => is_ipv6_link_local(a),
        Some(Scope::SiteLocal) if cloud.interface_name().is_some() => is_unique_local(a),
        _ => is_routable(a),
    };
    interfaces
        .iter()
        .filter(|i| on(i))
        .flat_map(|i| {
            i.addrs.iter().filter(|a| wanted(a)).map(move |a| match a {
                IpAddr::V6(v6) if is_ipv6_link_local(a) => SocketAddr::V6(SocketAddrV6::new(*v6, port, 0, i.index)),
                other => SocketAddr::new(*other, port),
            })
        })
        .take(crate::MAX_ENDPOINTS)
        .collect()
}

/// `fe80::/10`.
pub fn is_ipv6_link_local(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

/// `fc00::/7`, unique-local.
pub fn is_unique_local(addr: &IpAddr) -> bool {
    matches!(addr, IpAddr::V6(v6) if v6.segments()[0] & 0xfe00 == 0xfc00)
}

/// An address that reaches beyond the link: not unspecified, loopback, multicast, link-local
/// (`169.254/16`, `fe80::/10`) or the IPv4 broadcast address. Private and unique-local
/// addresses count: a host behind NAT or in a private network has a network.
pub fn is_routable(addr: &IpAddr) -> bool {
    if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() {
        return false;
    }
    match addr {
        IpAddr::V4(v4) => !v4.is_link_local() && !v4.is_broadcast(),
        IpAddr::V6(_) => !is_ipv6_link_local(addr),
    }
}

/// The clouds a list of interfaces gives, in a stable order: `Global_` first, then the
/// link-local clouds by interface name, then the site-local clouds by interface name (names
/// survive restarts, indexes may not).
///
/// - `Global_` always exists; it is [`Active`](CloudState::Active) when an up, non-loopback
///   interface has a [routable](is_routable) address, else [`NoNet`](CloudState::NoNet).
/// - `LinkLocal_<name>`: one per up, multicast-capable, non-loopback interface with an IPv6
///   link-local address.
/// - `SiteLocal_<name>`: one per up, non-loopback interface with a unique-local address.
///
/// Interfaces whose names cannot be part of a cloud name, and repeated names, are skipped.
pub fn clouds_from_interfaces(interfaces: &[Interface]) -> Vec<Cloud> {
    let usable = |i: &&Interface| i.up && !i.loopback;
    let online = interfaces.iter().filter(usable).any(|i| i.addrs.iter().any(is_routable));
    let mut clouds = vec![Cloud {
        name: CloudName::global(),
        scope: Scope::Global,
        scope_id: 0,
        state: if online { CloudState::Active } else { CloudState::NoNet },
        local_only: false,
        seeds: Vec::new(),
    }];
    let mut sorted: Vec<&Interface> = interfaces.iter().filter(usable).collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for (scope, wanted) in [
        (
            Scope::LinkLocal,
            (|i: &Interface| i.multicast && i.addrs.iter().any(is_ipv6_link_local)) as fn(&Interface) -> bool,
        ),
        (Scope::SiteLocal, |i: &Interface| i.addrs.iter().any(is_unique_local)),
    ] {
        let first = clouds.len();
        for interface in sorted.iter().filter(|i| wanted(i)) {
            // Sorted by name, so a repeated name follows its first use.
            if clouds.len() > first && clouds[clouds.len() - 1].name.interface_name() == Some(&interface.name) {
                continue;
            }
            let Ok(name) = CloudName::interface(scope, &interface.name) else { continue };
            clouds.push(Cloud {
                name,
                scope,
                scope_id: interface.index,
                state: CloudState::Active,
                local_only: true,
                seeds: Vec::new(),
            });
        }
    }
    clouds
}

/// Reads the interfaces once and returns the clouds they give (see [`clouds_from_interfaces`]).
pub fn discover(source: &(impl InterfaceSource + ?Sized)) -> Result<Vec<Cloud>> {
    Ok(clouds_from_interfaces(&source.interfaces()?))
}

/// An up, multicast, non-loopback interface with these addresses (unit tests of the crate).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn iface(name: &str, index: u32, addrs: &[&str]) -> Interface {
    Interface {
        name: name.to_owned(),
        index,
        up: true,
        loopback: false,
        multicast: true,
        addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lo() -> Interface {
        Interface { loopback: true, multicast: false, ..iface("lo", 1, &["127.0.0.1", "::1"]) }
    }

    fn names(clouds: &[Cloud]) -> Vec<String> {
        clouds.iter().map(|c| c.name.to_string()).collect()
    }

    #[test]
    fn endpoints_of_a_cloud_are_its_interfaces_addresses_of_its_scope() {
        let eth0 = iface("eth0", 2, &["fe80::1", "fd00::1", "192.0.2.1", "2001:db8::1"]);
        let wlan0 = iface("wlan0", 3, &["fe80::2", "198.51.100.7"]);
        let down = Interface { up: false, ..iface("eth1", 4, &["203.0.113.9"]) };
        let host = [lo(), eth0, wlan0, down];
        let of = |cloud: &str| -> Vec<String> {
            cloud_endpoints(&CloudName::parse(cloud).unwrap(), &host, 3587).iter().map(ToString::to_string).collect()
        };
        assert_eq!(of("LinkLocal_eth0"), ["[fe80::1%2]:3587"]);
        assert_eq!(of("LinkLocal_wlan0"), ["[fe80::2%3]:3587"]);
        assert_eq!(of("SiteLocal_eth0"), ["[fd00::1]:3587"]);
        let routable = ["[fd00::1]:3587", "192.0.2.1:3587", "[2001:db8::1]:3587", "198.51.100.7:3587"];
        assert_eq!(of("corp.example."), routable);
        assert_eq!(of("Global_"), routable);
        assert!(of("LinkLocal_eth9").is_empty());
    }

    #[test]
    fn no_interfaces_gives_offline_global() {
        let clouds = clouds_from_interfaces(&[]);
        assert_eq!(names(&clouds), ["Global_"]);
        assert_eq!(clouds[0].state, CloudState::NoNet);
        assert_eq!(clouds[0].scope_id, 0);
        assert!(!clouds[0].local_only);
    }

    #[test]
    fn loopback_only_host_is_offline() {
        let clouds = clouds_from_interfaces(&[lo()]);
        assert_eq!(names(&clouds), ["Global_"]);
        assert_eq!(clouds[0].state, CloudState::NoNet);
    }

    #[test]
    fn link_local_only_host_has_offline_global_and_one_link_cloud() {
        let clouds = clouds_from_interfaces(&[lo(), iface("eth0", 2, &["fe80::1", "169.254.1.1"])]);
        assert_eq!(names(&clouds), ["Global_", "LinkLocal_eth0"]);
        assert_eq!(clouds[0].state, CloudState::NoNet);
        assert_eq!(clouds[1].scope, Scope::LinkLocal);
        assert_eq!(clouds[1].scope_id, 2);
        assert_eq!(clouds[1].state, CloudState::Active);
        assert!(clouds[1].local_only);
        assert_eq!(clouds[1].flags(), 1);
    }

    #[test]
    fn each_scope_and_stable_order() {
        let clouds = clouds_from_interfaces(&[
            iface("wlan0", 5, &["fe80::5", "fd00::5"]),
            lo(),
            iface("eth0", 2, &["fe80::2", "2001:db8::2", "fd00::2"]),
            iface("eth1", 3, &["192.168.1.3"]),
        ]);
        assert_eq!(
            names(&clouds),
            ["Global_", "LinkLocal_eth0", "LinkLocal_wlan0", "SiteLocal_eth0", "SiteLocal_wlan0"]
        );
        assert_eq!(clouds[0].state, CloudState::Active);
        assert_eq!(clouds[3].scope, Scope::SiteLocal);
        assert_eq!(clouds[4].scope_id, 5);
    }

    #[test]
    fn interfaces_going_down_lose_their_clouds() {
        let mut list = vec![iface("eth0", 2, &["fe80::2", "10.0.0.2"]), iface("eth1", 3, &["fe80::3"])];
        assert_eq!(names(&clouds_from_interfaces(&list)), ["Global_", "LinkLocal_eth0", "LinkLocal_eth1"]);
        list[0].up = false;
        let clouds = clouds_from_interfaces(&list);
        assert_eq!(names(&clouds), ["Global_", "LinkLocal_eth1"]);
        assert_eq!(clouds[0].state, CloudState::NoNet, "the routable address went down with eth0");
        list[1].up = false;
        assert_eq!(names(&clouds_from_interfaces(&list)), ["Global_"]);
    }

    #[test]
    fn link_clouds_need_multicast_and_a_link_local_address() {
        let no_mc = Interface { multicast: false, ..iface("tun0", 4, &["fe80::4"]) };
        let no_ll = iface("eth0", 2, &["2001:db8::1"]);
        let lo_ll = Interface { loopback: true, ..iface("lo", 1, &["fe80::1"]) };
        assert_eq!(names(&clouds_from_interfaces(&[no_mc, no_ll, lo_ll])), ["Global_"]);
    }

    #[test]
    fn unusable_and_repeated_names_are_skipped() {
        let clouds = clouds_from_interfaces(&[
            iface("a very long interface name", 2, &["fe80::2"]),
            iface("eth0", 3, &["fe80::3"]),
            iface("eth0", 4, &["fe80::4"]),
        ]);
        assert_eq!(names(&clouds), ["Global_", "LinkLocal_eth0"]);
        assert_eq!(clouds[1].scope_id, 3);
    }

    #[test]
    fn address_classes() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(is_ipv6_link_local(&a("febf::1")) && !is_ipv6_link_local(&a("fec0::1")));
        assert!(is_unique_local(&a("fc00::1")) && is_unique_local(&a("fdff::1")) && !is_unique_local(&a("fe00::1")));
        for routable in ["10.0.0.1", "8.8.8.8", "2001:db8::1", "fd00::1"] {
            assert!(is_routable(&a(routable)), "{routable}");
        }
        for not in
            ["0.0.0.0", "127.0.0.1", "169.254.0.1", "255.255.255.255", "224.0.0.1", "::", "::1", "fe80::1", "ff02::1"]
        {
            assert!(!is_routable(&a(not)), "{not}");
        }
    }

    #[test]
    fn discover_reads_a_source() {
        let list = vec![iface("eth0", 2, &["fe80::2"])];
        assert_eq!(names(&discover(&list).unwrap()), ["Global_", "LinkLocal_eth0"]);
        assert_eq!(names(&discover(&list[..]).unwrap()), ["Global_", "LinkLocal_eth0"]);
    }
}
