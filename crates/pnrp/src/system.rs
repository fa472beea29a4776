//! The host's interfaces, read with `getifaddrs(3)`.
//!
//! `getifaddrs` costs tens of microseconds where richer crates (netdev) cost hundreds, and it
//! runs on every open; see `docs/PERFORMANCE.md`.

use std::ffi::CStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::{PnrpError, Result};
use crate::interfaces::{Interface, InterfaceSource};

/// The interfaces of this host (in this network namespace), read with `getifaddrs`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemInterfaces;

/// Frees the list `getifaddrs` returned, on every path out.
struct IfAddrs(*mut libc::ifaddrs);

impl Drop for IfAddrs {
    fn drop(&mut self) {
        // SAFETY: the pointer came from a successful getifaddrs and is freed exactly once.
        unsafe { libc::freeifaddrs(self.0) }
    }
}

impl InterfaceSource for SystemInterfaces {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        // SAFETY: getifaddrs writes a list head into `head` or fails without writing.
        if unsafe { libc::getifaddrs(&mut head) } != 0 {
            return Err(PnrpError::Interfaces(std::io::Error::last_os_error()));
        }
        let list = IfAddrs(head);
        let mut out: Vec<Interface> = Vec::new();
        let mut cursor = list.0;
        while !cursor.is_null() {
            // SAFETY: `cursor` is a node of the list owned by `list`, alive until it drops.
            let entry = unsafe { &*cursor };
            cursor = entry.ifa_next;
            if entry.ifa_name.is_null() {
                continue;
            }
            // SAFETY: ifa_name is a NUL-terminated string inside the list.
            let Ok(name) = unsafe { CStr::from_ptr(entry.ifa_name) }.to_str() else {
                // A name that is not UTF-8 cannot be part of a cloud name.
                continue;
            };
            // Entries of one interface usually follow each other: search from the last one.
            let at = match out.iter().rposition(|i| i.name == name) {
                Some(at) => at,
                None => {
                    out.push(Interface {
                        name: name.to_owned(),
                        index: 0,
                        up: false,
                        loopback: false,
                        multicast: false,
                        addrs: Vec::new(),
                    });
                    out.len() - 1
                }
            };
            let interface = &mut out[at];
            let flags = entry.ifa_flags;
            interface.up = flags & libc::IFF_UP as libc::c_uint != 0;
            interface.loopback = flags & libc::IFF_LOOPBACK as libc::c_uint != 0;
            interface.multicast = flags & libc::IFF_MULTICAST as libc::c_uint != 0;
            // SAFETY: a non-null ifa_addr points to a sockaddr of the family it names, and
            // the casts below follow that family.
            let (addr, index) = unsafe { read_addr(entry.ifa_addr) };
            if let Some(addr) = addr {
                interface.addrs.push(addr);
            }
            if interface.index == 0 {
                interface.index = index;
            }
        }
        for interface in out.iter_mut().filter(|i| i.index == 0) {
            interface.index = index_of(&interface.name);
        }
        Ok(out)
    }
}

/// The address in a `sockaddr`, and the interface index it carries (link-layer entries and
/// scoped IPv6 addresses carry one; 0 when unknown).
///
/// # Safety
/// `sa` is null or points to a valid `sockaddr` of the family in its `sa_family`.
unsafe fn read_addr(sa: *const libc::sockaddr) -> (Option<IpAddr>, u32) {
    if sa.is_null() {
        return (None, 0);
    }
    // SAFETY: the caller promises a valid sockaddr; each cast matches `sa_family`.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let sin = &*sa.cast::<libc::sockaddr_in>();
                (Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))), 0)
            }
            libc::AF_INET6 => {
                let sin6 = &*sa.cast::<libc::sockaddr_in6>();
                (Some(IpAddr::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr))), sin6.sin6_scope_id)
            }
            #[cfg(any(target_os = "linux", target_os = "android"))]
            libc::AF_PACKET => {
                let sll = &*sa.cast::<libc::sockaddr_ll>();
                (None, u32::try_from(sll.sll_ifindex).unwrap_or(0))
            }
            _ => (None, 0),
        }
    }
}

/// `if_nametoindex`, 0 when the name is unknown (the interface vanished meanwhile).
pub(crate) fn index_of(name: &str) -> u32 {
    let Ok(name) = std::ffi::CString::new(name) else { return 0 };
    // SAFETY: `name` is a valid NUL-terminated string for the duration of the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_hosts_loopback() {
        // Every Linux network namespace has `lo`; nothing else about the host is assumed.
        let list = SystemInterfaces.interfaces().unwrap();
        let lo = list.iter().find(|i| i.loopback).expect("a loopback interface");
        assert_eq!(lo.index, index_of(&lo.name));
        assert_ne!(lo.index, 0);
    }

    #[test]
    fn unknown_interface_has_index_zero() {
        assert_eq!(index_of("no-such-if0"), 0);
        assert_eq!(index_of("nul\0inside"), 0);
    }
}
