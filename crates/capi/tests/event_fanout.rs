//! C ABI registrations ride on the group's one feed reader: 100 `PeerGroupRegisterEvent` on
//! one group cost one thread, and each registration signals its descriptor from that reader.
//!
//! Alone in its binary: it counts the threads of the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::ptr::{null, null_mut};

use peergroup::hresult::{PEER_S_NO_EVENT_DATA, S_OK};
use peergroup_capi::*;

mod common;
use common::{take, wide};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The thread count once the kernel has reaped threads that were joined: `join` returns when a
/// thread has run its last instruction (the kernel clears its id), a moment before the kernel
/// removes it from `/proc/self/task`. Waits at most 2 s for the count to reach `expected`.
fn threads_once_reaped(expected: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let now = threads();
        if now == expected || std::time::Instant::now() >= deadline {
            return now;
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_hundred_registrations_use_one_reader_thread() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary; no thread reads the environment yet.
    unsafe { std::env::set_var("PEERGROUP_HOME", home.path().join("pg")) };
    let mut version = PEER_VERSION_DATA::default();
    unsafe {
        assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), S_OK.0);
        let mut identity = null_mut();
        assert_eq!(PeerIdentityCreate(wide("fanout").as_ptr(), null(), 0, &mut identity), S_OK.0);
        let identity = take(identity);
        let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
        props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
        props.pwzCreatorPeerName = identity.as_ptr().cast_mut();
        let mut group = null_mut();
        assert_eq!(PeerGroupCreate(&props, &mut group), S_OK.0);
        let mut got = null_mut();
        assert_eq!(PeerGroupGetProperties(group, &mut got), S_OK.0);
        let name = take((*got).pwzGroupPeerName);
        PeerFreeData(got.cast());
        let mut handles = vec![group];
        for _ in 0..4 {
            let mut h = null_mut();
            assert_eq!(PeerGroupOpen(identity.as_ptr(), name.as_ptr(), null(), &mut h), S_OK.0);
            handles.push(h);
        }

        let efd = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
        assert!(efd >= 0);
        let reg = PEER_GROUP_EVENT_REGISTRATION { eventType: PEER_GROUP_EVENT_RECORD_CHANGED, pType: null_mut() };
        let before = threads();
        let mut registrations = Vec::new();
        for i in 0..100 {
            let mut events = null_mut();
            let h = handles[i % handles.len()];
            assert_eq!(PeerGroupRegisterEvent(h, efd as usize as HANDLE, 1, &reg, &mut events), S_OK.0);
            registrations.push(events);
            assert_eq!(threads(), before + 1, "registration {i}: one reader for them all");
        }

        let mut record: PEER_RECORD = std::mem::zeroed();
        record.dwSize = size_of::<PEER_RECORD>() as u32;
        record.r#type = GUID { Data1: 7, ..GUID::default() };
        let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
        let ticks = expires.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() / 100 + 116_444_736_000_000_000;
        record.ftExpiration = FILETIME { dwLowDateTime: ticks as u32, dwHighDateTime: (ticks >> 32) as u32 };
        let text = b"to all";
        record.data = PEER_DATA { cbData: text.len() as u32, pbData: text.as_ptr().cast_mut() };
        let mut id = GUID::default();
        assert_eq!(PeerGroupAddRecord(handles[2], &record, &mut id), S_OK.0);

        // Each registration wrote its 1 to the eventfd: the counter reaches 100.
        let mut signals = 0u64;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while signals < 100 && std::time::Instant::now() < deadline {
            let mut pfd = libc::pollfd { fd: efd, events: libc::POLLIN, revents: 0 };
            if libc::poll(&mut pfd, 1, 1000) == 1 {
                let mut add = 0u64;
                assert_eq!(libc::read(efd, (&raw mut add).cast(), 8), 8);
                signals += add;
            }
        }
        assert_eq!(signals, 100);
        for events in &registrations {
            let mut event = null_mut();
            assert_eq!(PeerGroupGetEventData(*events, &mut event), S_OK.0);
            assert_eq!((*event).eventType, PEER_GROUP_EVENT_RECORD_CHANGED);
            PeerFreeData(event.cast());
            assert_eq!(PeerGroupGetEventData(*events, &mut event), PEER_S_NO_EVENT_DATA.0);
        }
        for events in registrations {
            assert_eq!(PeerGroupUnregisterEvent(events), S_OK.0);
        }
        for h in handles {
            assert_eq!(PeerGroupClose(h), S_OK.0);
        }
        assert_eq!(threads_once_reaped(before), before, "the reader stops with the last handle");
        libc::close(efd);
        assert_eq!(PeerGroupShutdown(), S_OK.0);
    }
    assert_eq!(outstanding_allocations(), 0);
}
