//! Event registrations (`HPEEREVENT`). Windows signals an event `HANDLE`; on Linux the
//! caller gives a file descriptor (an eventfd, or the write end of a pipe). A registration is
//! a registration of the facade, on the group's one feed reader in this process: the reader
//! queues each event and writes an 8-byte 1 (host byte order: what an eventfd adds to its
//! counter) to the descriptor; `PeerGroupGetEventData` takes the events out. No thread and no
//! queue of its own.

use std::os::fd::RawFd;
use std::sync::{Mutex, PoisonError};

use peergroup::hresult::{E_INVALIDARG, PEER_E_CONNECTION_FAILED, PEER_E_CONNECTION_NOT_AUTHENTICATED, S_OK};
use peergroup::{ConnectionStatus, Event, EventFilter, EventStream, EventType, Group};
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
    /// Data types asked for with `PEER_GROUP_EVENT_INCOMING_DATA`; `None`: all.
    data_types: Vec<Option<Uuid>>,
}

impl Interest {
    /// Reads one `PEER_GROUP_EVENT_REGISTRATION`: `pType` filters record changes by record
    /// type and incoming data by data type (NULL: all).
    pub(crate) fn add(&mut self, event_type: DWORD, filter: Option<Uuid>) -> CResult<()> {
        let t = EventType::from_raw(event_type).ok_or(E_INVALIDARG)?;
        match t {
            EventType::RecordChanged => self.record_types.push(filter),
            EventType::IncomingData => self.data_types.push(filter),
            _ => {}
        }
        if !self.types.contains(&t) {
            self.types.push(t);
        }
        Ok(())
    }

    fn filter(self) -> EventFilter {
        EventFilter { types: self.types, record_types: self.record_types, data_types: self.data_types }
    }
}

/// A registration: the facade's.
#[derive(Debug)]
pub(crate) struct Registration {
    /// `None` once ended. Ending drops the stream at once, even while another thread still
    /// holds this registration (inside `PeerGroupGetEventData`), so no write to the caller's
    /// descriptor follows.
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

/// The HRESULT of a failure's reason: the facade writes the p2p.h name of a reason that has
/// one in parentheses (`... (PEER_E_NO_MEMBERS_FOUND)`); any other reason is `default`.
fn failure_code(reason: &str, default: HRESULT) -> HRESULT {
    reason
        .split('(')
        .filter_map(|part| part.split_once(')').map(|(name, _)| name))
        .find_map(|name| {
            let known = CONNECTION_FAILURE_CODES.iter().find(|(n, _)| *n == name).map(|(_, hr)| *hr);
            known.or_else(|| peergroup::Hresult::from_name(name).filter(|hr| !hr.is_success()).map(|hr| hr.0))
        })
        .unwrap_or(default)
}

/// A connection's change: failed ones carry the code their reason names
/// (`PEER_E_CONNECTION_FAILED` otherwise).
fn connection_change(status: ConnectionStatus, id: u64, reason: Option<&str>) -> PEER_EVENT_CONNECTION_CHANGE_DATA {
    PEER_EVENT_CONNECTION_CHANGE_DATA {
        dwSize: std::mem::size_of::<PEER_EVENT_CONNECTION_CHANGE_DATA>() as DWORD,
        status: status as DWORD,
        ullConnectionId: id,
        // No node ids (see `convert::connection_info`), no redirection to another connection
        // (peergroup opens a direct connection over the link it has, never elsewhere).
        ullNodeId: 0,
        ullNextConnectionId: 0,
        hrConnectionFailedReason: match (status, reason) {
            (ConnectionStatus::Failed, Some(reason)) => failure_code(reason, PEER_E_CONNECTION_FAILED.0),
            (ConnectionStatus::Failed, None) => PEER_E_CONNECTION_FAILED.0,
            _ => S_OK.0,
        },
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
        Event::MemberChanged { peer_name } | Event::MemberJoined { peer_name } => {
            let joined = matches!(event, Event::MemberJoined { .. });
            data.memberChangeData = PEER_EVENT_MEMBER_CHANGE_DATA {
                dwSize: std::mem::size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>() as DWORD,
                changeType: if joined { PEER_MEMBER_JOINED } else { PEER_MEMBER_UPDATED },
                pwzIdentity: block.wide(&peer_name.to_string()),
            };
            PEER_GROUP_EVENT_MEMBER_CHANGED
        }
        Event::MemberPresence { peer_name, connected } => {
            data.memberChangeData = PEER_EVENT_MEMBER_CHANGE_DATA {
                dwSize: std::mem::size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>() as DWORD,
                changeType: if *connected { PEER_MEMBER_CONNECTED } else { PEER_MEMBER_DISCONNECTED },
                pwzIdentity: block.wide(&peer_name.to_string()),
            };
            PEER_GROUP_EVENT_MEMBER_CHANGED
        }
        Event::NeighborConnection { status, connection } => {
            data.connectionChangeData = connection_change(*status, connection.id, None);
            PEER_GROUP_EVENT_NEIGHBOR_CONNECTION
        }
        Event::DirectConnection { status, connection, reason } => {
            data.connectionChangeData = connection_change(*status, connection.id, reason.as_deref());
            PEER_GROUP_EVENT_DIRECT_CONNECTION
        }
        Event::IncomingData { connection, data_type, data: bytes, .. } => {
            data.incomingData = PEER_EVENT_INCOMING_DATA {
                dwSize: std::mem::size_of::<PEER_EVENT_INCOMING_DATA>() as DWORD,
                ullConnectionId: *connection,
                r#type: (*data_type).into(),
                // At most MAX_DATA_LEN (4 MiB) bytes: the facade refuses more before sending.
                data: PEER_DATA { cbData: bytes.len() as ULONG, pbData: block.bytes(bytes) },
            };
            PEER_GROUP_EVENT_INCOMING_DATA
        }
        Event::ConnectionFailed { reason } => {
            data.hrConnectionFailedReason = failure_code(reason, PEER_E_CONNECTION_FAILED.0);
            PEER_GROUP_EVENT_CONNECTION_FAILED
        }
        Event::AuthenticationFailed { reason } => {
            // Windows documents no data for it; the reason is given as for a failed connection.
            data.hrConnectionFailedReason = failure_code(reason, PEER_E_CONNECTION_NOT_AUTHENTICATED.0);
            PEER_GROUP_EVENT_AUTHENTICATION_FAILED
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

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup::hresult::PEER_E_CONNECTION_REFUSED;
    use peergroup::{Connection, PeerName};

    fn name(s: &str) -> PeerName {
        s.parse().unwrap()
    }

    /// The event's data, read as C reads it.
    fn data_of(event: &Event) -> PEER_GROUP_EVENT_DATA {
        let mut block = Block::new();
        let p = event_data(&mut block, event).unwrap();
        // SAFETY: built just now, alive with `block`.
        unsafe { p.read() }
    }

    fn wide_at(p: PWSTR) -> String {
        let mut n = 0;
        // SAFETY: a NUL-terminated string of a live block.
        unsafe {
            while *p.add(n) != 0 {
                n += 1;
            }
            String::from_utf16(std::slice::from_raw_parts(p, n)).unwrap()
        }
    }

    #[test]
    fn connection_events_fill_the_connection_change_data() {
        let connection = Connection {
            id: 7,
            flags: PEER_CONNECTION_NEIGHBOR,
            peer: name("0.alice"),
            addr: "127.0.0.1:3587".parse().unwrap(),
            outgoing: true,
        };
        for (status, raw, hr) in [
            (ConnectionStatus::Connected, PEER_CONNECTED, S_OK.0),
            (ConnectionStatus::Disconnected, PEER_DISCONNECTED, S_OK.0),
            (ConnectionStatus::Failed, PEER_CONNECTION_FAILED, PEER_E_CONNECTION_FAILED.0),
        ] {
            let d = data_of(&Event::NeighborConnection { status, connection: connection.clone() });
            assert_eq!(d.eventType, PEER_GROUP_EVENT_NEIGHBOR_CONNECTION);
            // SAFETY: the member this event type fills.
            let c = unsafe { d.data.connectionChangeData };
            assert_eq!(c.dwSize as usize, std::mem::size_of::<PEER_EVENT_CONNECTION_CHANGE_DATA>());
            assert_eq!((c.status, c.ullConnectionId, c.ullNodeId, c.ullNextConnectionId), (raw, 7, 0, 0));
            assert_eq!(c.hrConnectionFailedReason, hr);
        }
    }

    #[test]
    fn presence_is_a_member_change_connected_or_disconnected() {
        let mut block = Block::new();
        for (connected, change) in [(true, PEER_MEMBER_CONNECTED), (false, PEER_MEMBER_DISCONNECTED)] {
            let event = Event::MemberPresence { peer_name: name("0.bob"), connected };
            // SAFETY: built just now, alive with `block`.
            let d = unsafe { event_data(&mut block, &event).unwrap().read() };
            assert_eq!(d.eventType, PEER_GROUP_EVENT_MEMBER_CHANGED);
            // SAFETY: the member this event type fills.
            let m = unsafe { d.data.memberChangeData };
            assert_eq!(m.dwSize as usize, std::mem::size_of::<PEER_EVENT_MEMBER_CHANGE_DATA>());
            assert_eq!(m.changeType, change);
            assert_eq!(wide_at(m.pwzIdentity), "0.bob");
        }
        // A change in the database is still an update.
        let event = Event::MemberChanged { peer_name: name("0.bob") };
        // SAFETY: built just now, alive with `block`.
        let d = unsafe { event_data(&mut block, &event).unwrap().read() };
        // SAFETY: the member this event type fills.
        assert_eq!(unsafe { d.data.memberChangeData.changeType }, PEER_MEMBER_UPDATED);
        // A member the database did not hold has joined.
        let event = Event::MemberJoined { peer_name: name("0.bob") };
        // SAFETY: built just now, alive with `block`.
        let d = unsafe { event_data(&mut block, &event).unwrap().read() };
        // SAFETY: the member this event type fills.
        assert_eq!(unsafe { d.data.memberChangeData.changeType }, PEER_MEMBER_JOINED);
    }

    #[test]
    fn direct_connections_and_data_fill_their_members() {
        let connection = Connection {
            id: peergroup::DIRECT_ID_BASE + 1,
            flags: PEER_CONNECTION_DIRECT,
            peer: name("0.alice"),
            addr: "127.0.0.1:3587".parse().unwrap(),
            outgoing: true,
        };
        for (status, reason, raw, hr) in [
            (ConnectionStatus::Connected, None, PEER_CONNECTED, S_OK.0),
            (ConnectionStatus::Disconnected, None, PEER_DISCONNECTED, S_OK.0),
            (ConnectionStatus::Failed, None, PEER_CONNECTION_FAILED, PEER_E_CONNECTION_FAILED.0),
            (
                ConnectionStatus::Failed,
                Some("no link to 0.alice (PEER_E_CONNECTION_REFUSED)".to_owned()),
                PEER_CONNECTION_FAILED,
                PEER_E_CONNECTION_REFUSED.0,
            ),
        ] {
            let d = data_of(&Event::DirectConnection { status, connection: connection.clone(), reason });
            assert_eq!(d.eventType, PEER_GROUP_EVENT_DIRECT_CONNECTION);
            // SAFETY: the member this event type fills.
            let c = unsafe { d.data.connectionChangeData };
            assert_eq!((c.status, c.ullConnectionId, c.hrConnectionFailedReason), (raw, connection.id, hr));
        }

        let mut block = Block::new();
        let data_type = Uuid::from_u128(0xfeed);
        let event = Event::IncomingData {
            connection: 9,
            peer: name("0.bob"),
            data_type,
            data: std::sync::Arc::from(&b"hello"[..]),
        };
        // SAFETY: built just now, alive with `block`.
        let d = unsafe { event_data(&mut block, &event).unwrap().read() };
        assert_eq!(d.eventType, PEER_GROUP_EVENT_INCOMING_DATA);
        // SAFETY: the member this event type fills.
        let i = unsafe { d.data.incomingData };
        assert_eq!(i.dwSize as usize, std::mem::size_of::<PEER_EVENT_INCOMING_DATA>());
        assert_eq!((i.ullConnectionId, Uuid::from(i.r#type)), (9, data_type));
        // SAFETY: `cbData` bytes owned by `block`.
        let bytes = unsafe { std::slice::from_raw_parts(i.data.pbData, i.data.cbData as usize) };
        assert_eq!(bytes, b"hello");
    }

    #[test]
    fn failures_carry_the_code_their_reason_names() {
        let failed = |reason: &str| {
            let d = data_of(&Event::ConnectionFailed { reason: reason.into() });
            assert_eq!(d.eventType, PEER_GROUP_EVENT_CONNECTION_FAILED);
            // SAFETY: the member this event type fills.
            unsafe { d.data.hrConnectionFailedReason }
        };
        assert_eq!(failed("no member connected within 10 s (PEER_E_NO_MEMBERS_FOUND)"), PEER_E_NO_MEMBERS_FOUND);
        assert_eq!(failed("no address in Global_ (PEER_E_UNABLE_TO_LISTEN)"), PEER_E_UNABLE_TO_LISTEN);
        assert_eq!(failed("cannot connect to [::1]:9: timed out"), PEER_E_CONNECTION_FAILED.0);
        assert_eq!(failed("a (remark) then (PEER_E_CONNECTION_REFUSED)"), PEER_E_CONNECTION_REFUSED.0);
        // A success code or an unknown name is no reason.
        assert_eq!(failed("odd (S_OK) (NOT_A_CODE)"), PEER_E_CONNECTION_FAILED.0);

        let d = data_of(&Event::AuthenticationFailed { reason: "127.0.0.1:9 is not an accepted member".into() });
        assert_eq!(d.eventType, PEER_GROUP_EVENT_AUTHENTICATION_FAILED);
        // SAFETY: the member this event type fills.
        assert_eq!(unsafe { d.data.hrConnectionFailedReason }, PEER_E_CONNECTION_NOT_AUTHENTICATED.0);
    }

    #[test]
    fn network_types_register_with_the_facade_with_their_filters() {
        let mut interest = Interest::default();
        for t in [
            PEER_GROUP_EVENT_NEIGHBOR_CONNECTION,
            PEER_GROUP_EVENT_CONNECTION_FAILED,
            PEER_GROUP_EVENT_AUTHENTICATION_FAILED,
            PEER_GROUP_EVENT_MEMBER_CHANGED,
        ] {
            interest.add(t, None).unwrap();
        }
        assert_eq!(
            interest.types,
            [
                EventType::NeighborConnection,
                EventType::ConnectionFailed,
                EventType::AuthenticationFailed,
                EventType::MemberChanged
            ]
        );
        let mut direct = Interest::default();
        let chat = Uuid::from_u128(7);
        direct.add(PEER_GROUP_EVENT_DIRECT_CONNECTION, None).unwrap();
        direct.add(PEER_GROUP_EVENT_INCOMING_DATA, Some(chat)).unwrap();
        assert_eq!(direct.types, [EventType::DirectConnection, EventType::IncomingData]);
        assert_eq!(direct.data_types, [Some(chat)]);
        assert!(direct.record_types.is_empty(), "a data type is no record type");
        for bad in [0, 7, 9, 12, PEER_GROUP_EVENT_RESYNC] {
            assert_eq!(Interest::default().add(bad, None), Err(E_INVALIDARG), "{bad}");
        }
    }
}
