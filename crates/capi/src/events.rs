//! Event registrations (`HPEEREVENT`). Windows signals an event `HANDLE`; on Linux the
//! caller gives a file descriptor (an eventfd, or the write end of a pipe). A registration is
//! a registration of the facade, on the group's one feed reader in this process: the reader
//! queues each event and writes an 8-byte 1 (host byte order: what an eventfd adds to its
//! counter) to the descriptor; `PeerGroupGetEventData` takes the events out. No thread and no
//! queue of its own.

use std::os::fd::RawFd;
use std::sync::{Mutex, PoisonError};

use peergroup::hresult::E_INVALIDARG;
use peergroup::{Event, EventFilter, EventStream, EventType, Group};
use uuid::Uuid;

use crate::alloc::Block;
use crate::guard::{CResult, OrHresult};
use crate::types::*;

/// The most events a registration holds unread; one more replaces them by one
/// `PEER_GROUP_EVENT_RESYNC` (see `docs/capi.md`).
pub const MAX_QUEUED_EVENTS: usize = peergroup::MAX_QUEUED_EVENTS;
/// The most entries one `PeerGroupRegisterEvent` call may pass.
pub const MAX_REGISTRATIONS: usize = 64;

/// What one registration asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interest {
    /// Facade event types asked for (network-only types never occur offline).
    types: Vec<EventType>,
    /// Record types asked for with `PEER_GROUP_EVENT_RECORD_CHANGED`; `None`: all.
    record_types: Vec<Option<Uuid>>,
}

impl Interest {
    /// Reads one `PEER_GROUP_EVENT_REGISTRATION`.
    pub(crate) fn add(&mut self, event_type: DWORD, record_type: Option<Uuid>) -> CResult<()> {
        let Some(t) = EventType::from_raw(event_type) else {
            return match event_type {
                // Network events: accepted, as Windows does, and never raised by an offline group.
                PEER_GROUP_EVENT_DIRECT_CONNECTION
                | PEER_GROUP_EVENT_NEIGHBOR_CONNECTION
                | PEER_GROUP_EVENT_INCOMING_DATA
                | PEER_GROUP_EVENT_CONNECTION_FAILED
                | PEER_GROUP_EVENT_AUTHENTICATION_FAILED => Ok(()),
                _ => Err(E_INVALIDARG),
            };
        };
        if t == EventType::RecordChanged {
            self.record_types.push(record_type);
        }
        if !self.types.contains(&t) {
            self.types.push(t);
        }
        Ok(())
    }

    fn filter(self) -> EventFilter {
        EventFilter { types: self.types, record_types: self.record_types }
    }
}

/// A registration: the facade's, or none when only network events were asked for.
#[derive(Debug)]
pub(crate) struct Registration {
    /// `None` once ended, or when only network events were asked for. Ending drops the stream
    /// at once, even while another thread still holds this registration (inside
    /// `PeerGroupGetEventData`), so no write to the caller's descriptor follows.
    stream: Mutex<Option<EventStream>>,
}

/// Checks that `fd` is an open descriptor open for writing.
pub(crate) fn check_descriptor(fd: RawFd) -> CResult<()> {
    if fd < 0 {
        return Err(E_INVALIDARG);
    }
    // SAFETY: F_GETFL only reads the descriptor's flags; an invalid descriptor gives -1.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 || flags & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(E_INVALIDARG);
    }
    Ok(())
}

/// Tells the caller that event data waits: an 8-byte 1, unless the descriptor cannot take it
/// without blocking (a full pipe already tells that data waits).
pub(crate) fn signal(fd: RawFd) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready == 1 && pfd.revents & libc::POLLOUT != 0 {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`; a failed write only loses a wake-up.
        let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
    }
}

impl Registration {
    /// Starts a registration on `group` signalling `fd`.
    pub(crate) fn start(group: &Group, fd: RawFd, interest: Interest) -> CResult<Self> {
        if interest.types.is_empty() {
            // Only network events: nothing to watch offline.
            return Ok(Self { stream: Mutex::new(None) });
        }
        let stream = group.events_with(interest.filter(), Some(Box::new(move || signal(fd)))).or_hr()?;
        Ok(Self { stream: Mutex::new(Some(stream)) })
    }

    /// Takes the oldest event waiting (an error of the feed ends the registration: nothing
    /// follows it, as when the group is closed).
    pub(crate) fn pop(&self) -> Option<Event> {
        let mut stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        stream.as_mut()?.try_recv()?.ok()
    }

    /// Ends the registration now: its descriptor is not written to once this returns.
    pub(crate) fn end(&self) {
        let stream = self.stream.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(stream);
    }
}

/// An event as `PEER_GROUP_EVENT_DATA`, owned by `block`; `None` for an event kind this
/// version does not know.
pub(crate) fn event_data(block: &mut Block, event: &Event) -> Option<*mut PEER_GROUP_EVENT_DATA> {
    // SAFETY: every member of the union is plain data for which all-zero bytes are valid.
    let mut data: PEER_GROUP_EVENT_DATA_UNION = unsafe { std::mem::zeroed() };
    let event_type = match event {
        Event::RecordChanged { change, id, record_type } => {
            data.recordChangeData = PEER_EVENT_RECORD_CHANGE_DATA {
                dwSize: std::mem::size_of::<PEER_EVENT_RECORD_CHANGE_DATA>() as DWORD,
                changeType: *change as DWORD,
                recordId: (*id).into(),
                recordType: (*record_type).into(),
            };
            PEER_GROUP_EVENT_RECORD_CHANGED
        }
        Event::PropertyChanged => PEER_GROUP_EVENT_PROPERTY_CHANGED,
        Event::MemberChanged { peer_name } => {
            data.memberChangeData = PEER_EVENT_MEMBER_CHANGE_DATA {
                dwSize: std::mem::size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>() as DWORD,
                changeType: PEER_MEMBER_UPDATED,
                pwzIdentity: block.wide(&peer_name.to_string()),
            };
            PEER_GROUP_EVENT_MEMBER_CHANGED
        }
        Event::StatusChanged { status, .. } => {
            data.dwStatus = *status;
            PEER_GROUP_EVENT_STATUS_CHANGED
        }
        Event::Resync => PEER_GROUP_EVENT_RESYNC,
        _ => return None,
    };
    Some(block.boxed(PEER_GROUP_EVENT_DATA { eventType: event_type, data }))
}
