//! Event functions: register with a file descriptor, take event data, unregister.

use std::os::fd::RawFd;
use std::sync::Arc;

use peergroup::hresult::{E_INVALIDARG, PEER_S_NO_EVENT_DATA};

use crate::alloc::{self, Block};
use crate::events::{Interest, MAX_REGISTRATIONS, Registration, check_descriptor, event_data};
use crate::guard::{call, clear_out, ok, put};
use crate::session::{self, Object};
use crate::types::*;

/// Registers for group events (`PeerGroupRegisterEvent`). `hEvent` is a file descriptor open
/// for writing, passed as `(HANDLE)(intptr_t)fd`: an eventfd or the write end of a pipe. For
/// each event queued, 8 bytes holding the number 1 are written to it; then
/// `PeerGroupGetEventData` returns the events until `PEER_S_NO_EVENT_DATA`. The descriptor
/// stays the caller's: keep it open until `PeerGroupUnregisterEvent`.
///
/// # Safety
/// `pEventRegistrations` NULL or `cEventRegistration` readable entries whose `pType` are NULL
/// or readable GUIDs; `phPeerEvent` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupRegisterEvent(
    hGroup: HGROUP,
    hEvent: HANDLE,
    cEventRegistration: DWORD,
    pEventRegistrations: *const PEER_GROUP_EVENT_REGISTRATION,
    phPeerEvent: *mut HPEEREVENT,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEvent) }?;
        let count = cEventRegistration as usize;
        if count == 0 || count > MAX_REGISTRATIONS || pEventRegistrations.is_null() {
            return Err(E_INVALIDARG);
        }
        let fd = RawFd::try_from(hEvent as isize).map_err(|_| E_INVALIDARG)?;
        check_descriptor(fd)?;
        let mut interest = Interest::default();
        for i in 0..count {
            // SAFETY: `count` entries are readable per the contract.
            let entry = unsafe { pEventRegistrations.add(i).read_unaligned() };
            let filter = if entry.pType.is_null() {
                None
            } else {
                // SAFETY: non-NULL and readable per the contract.
                Some(unsafe { entry.pType.read_unaligned() }.into())
            };
            interest.add(entry.eventType, filter)?;
        }
        let group = session::group(hGroup)?;
        let registration = Registration::start(&group, fd, interest)?;
        let handle = session::insert(Object::Event(Arc::new(registration)))?;
        // SAFETY: checked non-NULL above.
        unsafe { put(phPeerEvent, handle) }?;
        ok()
    })
}

/// Ends a registration (`PeerGroupUnregisterEvent`): no write to its descriptor follows once
/// this returns; events not taken are dropped.
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupUnregisterEvent(hPeerEvent: HPEEREVENT) -> HRESULT {
    call(|| {
        session::require()?;
        if let Object::Event(registration) = session::remove(hPeerEvent, |o| matches!(o, Object::Event(_)))? {
            registration.end();
        }
        ok()
    })
}

/// Takes the oldest event of a registration (`PeerGroupGetEventData`): `S_OK` with the
/// event (free with `PeerFreeData`), or `PEER_S_NO_EVENT_DATA` with NULL when none waits.
///
/// # Safety
/// `ppEventData` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupGetEventData(
    hPeerEvent: HPEEREVENT,
    ppEventData: *mut *mut PEER_GROUP_EVENT_DATA,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppEventData) }?;
        let registration = session::registration(hPeerEvent)?;
        loop {
            let Some(event) = registration.pop() else { return Ok(PEER_S_NO_EVENT_DATA) };
            let mut block = Block::new();
            if let Some(p) = event_data(&mut block, &event) {
                // SAFETY: per the contract.
                unsafe { put(ppEventData, alloc::hand_out(block, p)) }?;
                return ok();
            }
        }
    })
}
