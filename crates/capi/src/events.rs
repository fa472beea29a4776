//! Event registrations (`HPEEREVENT`). Windows signals an event `HANDLE`; on Linux the
//! caller gives a file descriptor (an eventfd, or the write end of a pipe). One thread per
//! registration moves the facade's events into a queue and writes an 8-byte 1 (host byte
//! order: what an eventfd adds to its counter) to the descriptor for each event queued;
//! `PeerGroupGetEventData` takes them out.

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use peergroup::hresult::{E_INVALIDARG, E_OUTOFMEMORY};
use peergroup::{Event, EventStream, EventType, Group};
use uuid::Uuid;

use crate::alloc::Block;
use crate::guard::{CResult, OrHresult};
use crate::types::*;

/// The most events a registration queues before its thread stops taking more from the group
/// (they wait in the group's own buffer; nothing is lost).
pub const MAX_QUEUED_EVENTS: usize = 4096;
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

    fn wants(&self, event: &Event) -> bool {
        match event {
            Event::RecordChanged { record_type, .. } => {
                self.record_types.iter().any(|want| want.is_none_or(|w| w == *record_type))
            }
            other => self.types.contains(&other.event_type()),
        }
    }
}

/// A registration: its queue and the thread that fills it.
#[derive(Debug)]
pub(crate) struct Registration {
    queue: Arc<Mutex<VecDeque<Event>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
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
fn signal(fd: RawFd) {
    let mut pfd = libc::pollfd { fd, events: libc::POLLOUT, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    if ready == 1 && pfd.revents & libc::POLLOUT != 0 {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`; a failed write only loses a wake-up.
        let _ = unsafe { libc::write(fd, (&raw const one).cast(), 8) };
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registration {
    /// Starts a registration on `group` signalling `fd`.
    pub(crate) fn start(group: &Group, fd: RawFd, interest: Interest) -> CResult<Self> {
        let queue = Arc::new(Mutex::new(VecDeque::new()));
        let stop = Arc::new(AtomicBool::new(false));
        if interest.types.is_empty() {
            // Only network events: nothing to watch offline.
            return Ok(Self { queue, stop, thread: None });
        }
        let stream = group.events(&interest.types).or_hr()?;
        let (q, s) = (queue.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("peergroup-capi-events".into())
            .spawn(move || pump(stream, interest, fd, &q, &s))
            .map_err(|_| E_OUTOFMEMORY)?;
        Ok(Self { queue, stop, thread: Some(thread) })
    }

    /// Takes the oldest event waiting.
    pub(crate) fn pop(&self) -> Option<Event> {
        lock(&self.queue).pop_front()
    }
}

fn pump(mut stream: EventStream, interest: Interest, fd: RawFd, queue: &Mutex<VecDeque<Event>>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if lock(queue).len() >= MAX_QUEUED_EVENTS {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        match stream.recv_timeout(Duration::from_millis(20)) {
            Ok(Some(event)) if interest.wants(&event) => {
                lock(queue).push_back(event);
                signal(fd);
            }
            Ok(Some(_)) => {}
            Ok(None) if stream.is_ended() => return,
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
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
        _ => return None,
    };
    Some(block.boxed(PEER_GROUP_EVENT_DATA { eventType: event_type, data }))
}
