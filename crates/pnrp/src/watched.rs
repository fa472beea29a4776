//! The host's interfaces, read again only when the kernel says they changed.
//!
//! Every `PeerGroupOpen` needs the interface list (the cloud rule), and `getifaddrs` costs
//! 40–60 µs. [`WatchedInterfaces`] keeps the last list and a route-netlink socket subscribed
//! to link and address changes (`RTMGRP_LINK`, `RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`).
//! The kernel queues a message on that socket before the call that changed an interface
//! returns, so the list is read again whenever a message (or an overflow of the socket's
//! queue, `ENOBUFS`) is waiting: the answer is the one `getifaddrs` would give now.
//!
//! The socket belongs to the network namespace it was made in, so the list is tied to that
//! namespace (its `/proc/thread-self/ns/net` inode): a caller in another namespace gets a new
//! socket and a new list. Where no socket can be made (no netlink, no `/proc`), every call
//! reads `getifaddrs`, exactly like [`SystemInterfaces`].

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use crate::error::Result;
use crate::interfaces::{Interface, InterfaceSource};
use crate::system::SystemInterfaces;

/// The host's interfaces, cached until the kernel reports a change (see the module's text).
#[derive(Debug, Default)]
pub struct WatchedInterfaces {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The namespace the socket and the list belong to.
    namespace: Option<Namespace>,
    socket: Option<watch::Socket>,
    list: Option<Vec<Interface>>,
}

/// A network namespace, by the device and inode of its `nsfs` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Namespace {
    dev: u64,
    ino: u64,
}

impl WatchedInterfaces {
    /// A source with its own socket and list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The process's shared source: one socket and one list for every context.
    pub fn shared() -> Arc<Self> {
        static SHARED: OnceLock<Arc<WatchedInterfaces>> = OnceLock::new();
        SHARED.get_or_init(|| Arc::new(Self::new())).clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every field is valid on its own between statements; at worst a list is read again.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl InterfaceSource for WatchedInterfaces {
    fn interfaces(&self) -> Result<Vec<Interface>> {
        let Some(namespace) = current_namespace() else {
            return SystemInterfaces.interfaces();
        };
        let mut state = self.lock();
        if state.namespace != Some(namespace) || state.socket.is_none() {
            // Subscribe first, then read: a change after the read is then always seen.
            *state = State { namespace: Some(namespace), socket: watch::Socket::open(), list: None };
        }
        let Some(socket) = &state.socket else {
            return SystemInterfaces.interfaces();
        };
        if socket.drain_changes() {
            state.list = None;
        }
        if let Some(list) = &state.list {
            return Ok(list.clone());
        }
        let list = SystemInterfaces.interfaces()?;
        state.list = Some(list.clone());
        Ok(list)
    }
}

/// The network namespace of the calling thread, if `/proc` tells.
fn current_namespace() -> Option<Namespace> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata("/proc/thread-self/ns/net").ok()?;
    Some(Namespace { dev: meta.dev(), ino: meta.ino() })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod watch {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    /// A non-blocking route-netlink socket subscribed to link and address changes.
    #[derive(Debug)]
    pub(super) struct Socket(OwnedFd);

    impl Socket {
        pub(super) fn open() -> Option<Self> {
            // SAFETY: socket has no memory preconditions; a negative result is an error.
            let fd = unsafe {
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                    libc::NETLINK_ROUTE,
                )
            };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            let socket = Socket(unsafe { OwnedFd::from_raw_fd(fd) });
            // SAFETY: sockaddr_nl is plain data; all zeroes is a valid value.
            let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
            addr.nl_groups = (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
            // SAFETY: `addr` is a valid sockaddr_nl of the length given.
            let rc = unsafe {
                libc::bind(
                    socket.0.as_raw_fd(),
                    (&raw const addr).cast::<libc::sockaddr>(),
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            (rc == 0).then_some(socket)
        }

        /// Reads every waiting message; whether anything changed (or may have: an overflowed
        /// queue or an unexpected error counts as a change).
        pub(super) fn drain_changes(&self) -> bool {
            let mut changed = false;
            let mut buf = [0u8; 8192];
            loop {
                // SAFETY: `buf` is valid for writes of its length.
                let n =
                    unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT) };
                if n > 0 {
                    changed = true;
                    continue;
                }
                if n == 0 {
                    return changed;
                }
                match std::io::Error::last_os_error().raw_os_error() {
                    Some(libc::EAGAIN) => return changed,
                    Some(libc::EINTR) => continue,
                    // ENOBUFS: messages were lost; anything else: assume the worst.
                    _ => return true,
                }
            }
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod watch {
    /// No change notification here: every call reads the list.
    #[derive(Debug)]
    pub(super) struct Socket;

    impl Socket {
        pub(super) fn open() -> Option<Self> {
            None
        }

        pub(super) fn drain_changes(&self) -> bool {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_what_getifaddrs_gives() {
        let watched = WatchedInterfaces::new();
        let first = watched.interfaces().unwrap();
        let again = watched.interfaces().unwrap();
        assert_eq!(first, again);
        let mut direct = SystemInterfaces.interfaces().unwrap();
        let mut cached = again;
        direct.sort_by(|a, b| a.name.cmp(&b.name));
        cached.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(cached, direct);
    }
}
