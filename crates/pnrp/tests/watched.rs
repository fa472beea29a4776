//! `WatchedInterfaces` reads the list again when an interface changes, and keeps one list per
//! network namespace.
//!
//! A thread moves into a new network namespace of its own (`unshare(CLONE_NEWNET)`, which
//! needs root), where `lo` starts down; bringing it up must show at the next call. Nothing of
//! the host's interfaces is involved. Without root the test fails under `CI=true` and says
//! why elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use peergroup_pnrp::{InterfaceSource, SystemInterfaces, WatchedInterfaces};

/// Sets or clears `IFF_UP` on an interface of the calling thread's namespace.
fn set_up(name: &str, up: bool) -> std::io::Result<()> {
    // SAFETY: a plain datagram socket, closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: ifreq is plain data; all zeroes is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for these two requests.
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            let flags = req.ifr_ifru.ifru_flags;
            let up_flag = libc::IFF_UP as libc::c_short;
            req.ifr_ifru.ifru_flags = if up { flags | up_flag } else { flags & !up_flag };
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
        }
    };
    // SAFETY: `fd` is ours and closed once.
    unsafe { libc::close(fd) };
    result
}

fn lo_up(source: &dyn InterfaceSource) -> bool {
    source.interfaces().unwrap().iter().find(|i| i.loopback).expect("lo in every namespace").up
}

#[test]
fn a_change_in_the_namespace_shows_at_the_next_call() {
    let watched = WatchedInterfaces::new();
    // Outside: whatever the host has, the same as getifaddrs.
    let outside = watched.interfaces().unwrap();
    let verdict = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: unshare affects only the calling thread's namespaces.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // A new namespace: only `lo`, down. The cache of the host's list is not used.
            let list = watched.interfaces().unwrap();
            assert_eq!(list.len(), 1, "{list:?}");
            assert!(!lo_up(&watched));
            assert!(!lo_up(&watched), "a second call answers from the list");
            set_up("lo", true)?;
            assert!(lo_up(&watched), "the change is seen at once");
            assert_eq!(watched.interfaces().unwrap(), SystemInterfaces.interfaces().unwrap());
            set_up("lo", false)?;
            assert!(!lo_up(&watched));
            Ok(())
        })
        .join()
        .unwrap()
    });
    match verdict {
        Ok(()) => {}
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("a new network namespace is needed (run as root): {e}")
        }
        Err(e) => eprintln!("SKIPPED: a new network namespace is needed (run as root): {e}"),
    }
    // Back outside, the host's list again.
    assert_eq!(watched.interfaces().unwrap(), outside);
}
