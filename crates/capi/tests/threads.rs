//! The C ABI from many threads at once: handles, records and events stay consistent, and
//! every call returns a documented code.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use std::ptr::{null, null_mut};
use std::sync::Arc;

use peergroup::hresult::{E_HANDLE, PEER_S_NO_EVENT_DATA, S_OK};
use peergroup_capi::*;

mod common;
use common::{take, wide};

#[test]
fn many_threads_open_add_and_close_one_group() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: the only test of this binary; no thread reads the environment yet.
    unsafe { std::env::set_var("PEERGROUP_HOME", home.path().join("pg")) };
    let mut version = PEER_VERSION_DATA::default();
    unsafe {
        assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), S_OK.0);
        let mut identity = null_mut();
        assert_eq!(PeerIdentityCreate(wide("threads").as_ptr(), null(), 0, &mut identity), S_OK.0);
        let identity = Arc::new(take(identity));
        let mut props: PEER_GROUP_PROPERTIES = std::mem::zeroed();
        props.dwSize = size_of::<PEER_GROUP_PROPERTIES>() as u32;
        props.pwzCreatorPeerName = identity.as_ptr().cast_mut();
        let mut group = null_mut();
        assert_eq!(PeerGroupCreate(&props, &mut group), S_OK.0);
        let mut got = null_mut();
        assert_eq!(PeerGroupGetProperties(group, &mut got), S_OK.0);
        let name = Arc::new(take((*got).pwzGroupPeerName));
        PeerFreeData(got.cast());

        let efd = libc::eventfd(0, libc::EFD_CLOEXEC);
        assert!(efd >= 0);
        let reg = PEER_GROUP_EVENT_REGISTRATION { eventType: PEER_GROUP_EVENT_RECORD_CHANGED, pType: null_mut() };
        let mut events = null_mut();
        assert_eq!(PeerGroupRegisterEvent(group, efd as usize as HANDLE, 1, &reg, &mut events), S_OK.0);

        const THREADS: usize = 6;
        const ROUNDS: usize = 10;
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (identity, name) = (identity.clone(), name.clone());
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let mut h = null_mut();
                        assert_eq!(PeerGroupOpen(identity.as_ptr(), name.as_ptr(), null(), &mut h), S_OK.0);
                        let text = format!("{t}/{i}");
                        let mut record: PEER_RECORD = std::mem::zeroed();
                        record.dwSize = size_of::<PEER_RECORD>() as u32;
                        record.r#type = GUID { Data1: 7, ..GUID::default() };
                        let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
                        let ticks = expires.duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() / 100
                            + 116_444_736_000_000_000;
                        record.ftExpiration =
                            FILETIME { dwLowDateTime: ticks as u32, dwHighDateTime: (ticks >> 32) as u32 };
                        record.data = PEER_DATA { cbData: text.len() as u32, pbData: text.as_ptr().cast_mut() };
                        let mut id = GUID::default();
                        assert_eq!(PeerGroupAddRecord(h, &record, &mut id), S_OK.0);
                        let mut status = 9;
                        assert_eq!(PeerGroupGetStatus(h, &mut status), S_OK.0);
                        assert_eq!(status, 0);
                        assert_eq!(PeerGroupClose(h), S_OK.0);
                        // Closed by this thread: gone for every thread.
                        assert_eq!(PeerGroupClose(h), E_HANDLE.0);
                    }
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap();
        }

        let mut e = null_mut();
        assert_eq!(PeerGroupEnumRecords(group, null(), &mut e), S_OK.0);
        let mut count = 0;
        assert_eq!(PeerGetItemCount(e, &mut count), S_OK.0);
        assert_eq!(count as usize, THREADS * ROUNDS);
        assert_eq!(PeerEndEnumeration(e), S_OK.0);

        // Every record arrives once through the registration.
        let mut received = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while received < THREADS * ROUNDS && std::time::Instant::now() < deadline {
            let mut pfd = libc::pollfd { fd: efd, events: libc::POLLIN, revents: 0 };
            if libc::poll(&mut pfd, 1, 1000) == 1 {
                let mut signals = 0u64;
                assert_eq!(libc::read(efd, (&raw mut signals).cast(), 8), 8);
            }
            loop {
                let mut event = null_mut();
                let hr = PeerGroupGetEventData(events, &mut event);
                if hr == PEER_S_NO_EVENT_DATA.0 {
                    break;
                }
                assert_eq!(hr, S_OK.0);
                assert_eq!((*event).eventType, PEER_GROUP_EVENT_RECORD_CHANGED);
                PeerFreeData(event.cast());
                received += 1;
            }
        }
        assert_eq!(received, THREADS * ROUNDS);
        assert_eq!(PeerGroupUnregisterEvent(events), S_OK.0);
        libc::close(efd);
        assert_eq!(PeerGroupClose(group), S_OK.0);
        assert_eq!(PeerGroupShutdown(), S_OK.0);
    }
    assert_eq!(outstanding_allocations(), 0);
}
