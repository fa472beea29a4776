//! `PEER_ADDRESS`: the one address form of the group functions, an IPv6 `sockaddr_in6` with
//! `dwSize` in front. Windows' grouping runs on IPv6 only; peergroup's presences also speak
//! IPv4, which crosses the boundary as IPv4-mapped IPv6 (`::ffff:a.b.c.d`) both ways, so a
//! caller written for Windows never meets an `AF_INET` address here.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use peergroup::hresult::E_INVALIDARG;

use crate::guard::CResult;
use crate::types::{DWORD, PEER_ADDRESS};

/// `sizeof(PEER_ADDRESS)`: the only `dwSize` accepted.
const SIZE: DWORD = std::mem::size_of::<PEER_ADDRESS>() as DWORD;

/// An address as `PEER_ADDRESS` (port and flow label in network byte order, as in C).
pub(crate) fn peer_address(a: &SocketAddr) -> PEER_ADDRESS {
    let (ip, flowinfo, scope_id) = match a {
        SocketAddr::V4(v4) => (v4.ip().to_ipv6_mapped(), 0, 0),
        SocketAddr::V6(v6) => (*v6.ip(), v6.flowinfo(), v6.scope_id()),
    };
    // SAFETY: all-zero is a valid sockaddr_in6 (plain integers and bytes).
    let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sin6.sin6_port = a.port().to_be();
    sin6.sin6_flowinfo = flowinfo.to_be();
    sin6.sin6_addr.s6_addr = ip.octets();
    sin6.sin6_scope_id = scope_id;
    PEER_ADDRESS { dwSize: SIZE, sin6 }
}

/// A caller's `PEER_ADDRESS`: `E_INVALIDARG` unless `dwSize` is `sizeof(PEER_ADDRESS)` and the
/// family `AF_INET6`. An IPv4-mapped address is read as the IPv4 address it maps (the
/// presence dials it over IPv4). Port 0 and the unspecified address pass here: the facade
/// refuses them with the rest of its checks.
pub(crate) fn socket_addr(a: &PEER_ADDRESS) -> CResult<SocketAddr> {
    if a.dwSize != SIZE || i32::from(a.sin6.sin6_family) != libc::AF_INET6 {
        return Err(E_INVALIDARG);
    }
    let ip = Ipv6Addr::from(a.sin6.sin6_addr.s6_addr);
    let port = u16::from_be(a.sin6.sin6_port);
    Ok(match ip.to_ipv4_mapped() {
        Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, port)),
        None => SocketAddr::V6(SocketAddrV6::new(ip, port, u32::from_be(a.sin6.sin6_flowinfo), a.sin6.sin6_scope_id)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_ipv4_is_mapped() {
        for text in ["127.0.0.1:3587", "[::1]:9", "[fe80::1%7]:4000", "[2001:db8::5]:65535", "192.0.2.7:1"] {
            let a: SocketAddr = text.parse().unwrap();
            let c = peer_address(&a);
            assert_eq!(c.dwSize as usize, std::mem::size_of::<PEER_ADDRESS>());
            assert_eq!(i32::from(c.sin6.sin6_family), libc::AF_INET6, "{text}");
            assert_eq!(socket_addr(&c), Ok(a), "{text}");
        }
        // What C sees of an IPv4 address: ::ffff:127.0.0.1, port in network byte order.
        let c = peer_address(&"127.0.0.1:3587".parse().unwrap());
        assert_eq!(c.sin6.sin6_addr.s6_addr, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
        assert_eq!(c.sin6.sin6_port, 3587u16.to_be());
        // The flow label and scope of an IPv6 address survive.
        let v6 = SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::LOCALHOST, 5, 0x12345, 3));
        assert_eq!(socket_addr(&peer_address(&v6)), Ok(v6));
    }

    #[test]
    fn wrong_sizes_and_families_are_invalid() {
        let good = peer_address(&"[::1]:9".parse().unwrap());
        for size in [0, SIZE - 4, SIZE + 4, DWORD::MAX] {
            assert_eq!(socket_addr(&PEER_ADDRESS { dwSize: size, ..good }), Err(E_INVALIDARG), "{size}");
        }
        for family in [0, libc::AF_INET, libc::AF_UNIX] {
            let mut a = good;
            a.sin6.sin6_family = family as libc::sa_family_t;
            assert_eq!(socket_addr(&a), Err(E_INVALIDARG), "{family}");
        }
        // Port 0 and :: are read as given; the facade refuses them.
        let zero = peer_address(&"[::]:0".parse().unwrap());
        assert_eq!(socket_addr(&zero), Ok("[::]:0".parse().unwrap()));
    }
}
