//! Group events (the counterpart of `PeerGroupRegisterEvent` / `PeerGroupGetEventData`): the
//! change feed of the group database, as a [`Stream`](futures_core::Stream) filtered by type.
//!
//! A registration is a queue and a waker: one feed reader per group per process (see
//! `fanout.rs`) fills the queues of every registration of every handle of the group, so
//! changes made by any process arrive, in commit order, each once per registration.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use peergroup_identity::PeerName;
use peergroup_state::Change;
use uuid::Uuid;

use crate::error::Error;
use crate::fanout::Core;
use crate::status::Connection;

/// The kinds of event one can register for (`PEER_GROUP_EVENT_TYPE`; the values are Windows').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum EventType {
    /// `PEER_GROUP_EVENT_STATUS_CHANGED` (1).
    StatusChanged = 1,
    /// `PEER_GROUP_EVENT_PROPERTY_CHANGED` (2).
    PropertyChanged = 2,
    /// `PEER_GROUP_EVENT_RECORD_CHANGED` (3).
    RecordChanged = 3,
    /// `PEER_GROUP_EVENT_DIRECT_CONNECTION` (4).
    DirectConnection = 4,
    /// `PEER_GROUP_EVENT_NEIGHBOR_CONNECTION` (5).
    NeighborConnection = 5,
    /// `PEER_GROUP_EVENT_INCOMING_DATA` (6).
    IncomingData = 6,
    /// `PEER_GROUP_EVENT_MEMBER_CHANGED` (8).
    MemberChanged = 8,
    /// `PEER_GROUP_EVENT_CONNECTION_FAILED` (10).
    ConnectionFailed = 10,
    /// `PEER_GROUP_EVENT_AUTHENTICATION_FAILED` (11).
    AuthenticationFailed = 11,
    /// [`Event::Resync`]: a peergroup extension (`PEER_GROUP_EVENT_RESYNC`, 0x1000), delivered
    /// to every registration; nobody registers for it, so it is not in [`EventType::ALL`].
    Resync = 0x1000,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 9] = [
        EventType::StatusChanged,
        EventType::PropertyChanged,
        EventType::RecordChanged,
        EventType::DirectConnection,
        EventType::NeighborConnection,
        EventType::IncomingData,
        EventType::MemberChanged,
        EventType::ConnectionFailed,
        EventType::AuthenticationFailed,
    ];

    /// The `PEER_GROUP_EVENT_TYPE` value.
    pub fn to_raw(self) -> u32 {
        self as u32
    }

    /// The type of a `PEER_GROUP_EVENT_TYPE` value one may register for.
    pub fn from_raw(raw: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.to_raw() == raw)
    }
}

/// How a record changed (`PEER_RECORD_CHANGE_TYPE`; the values are Windows').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum RecordChange {
    /// `PEER_RECORD_ADDED` (1).
    Added = 1,
    /// `PEER_RECORD_UPDATED` (2).
    Updated = 2,
    /// `PEER_RECORD_DELETED` (3).
    Deleted = 3,
    /// `PEER_RECORD_EXPIRED` (4).
    Expired = 4,
}

/// How a connection changed (`PEER_CONNECTION_STATUS`; the values are Windows').
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ConnectionStatus {
    /// `PEER_CONNECTED` (1).
    Connected = 1,
    /// `PEER_DISCONNECTED` (2).
    Disconnected = 2,
    /// `PEER_CONNECTION_FAILED` (3).
    Failed = 3,
}

/// One event of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A record changed, in this or another process.
    RecordChanged {
        /// How.
        change: RecordChange,
        /// The record id.
        id: Uuid,
        /// The record type.
        record_type: Uuid,
    },
    /// The group properties changed.
    PropertyChanged,
    /// A member changed or was removed (`PEER_GROUP_EVENT_MEMBER_CHANGED` with
    /// `PEER_MEMBER_UPDATED`).
    MemberChanged {
        /// The member's identity peer name.
        peer_name: PeerName,
    },
    /// A member the group database did not hold appeared in it: it joined, or its entry
    /// arrived from another member (`PEER_GROUP_EVENT_MEMBER_CHANGED` with
    /// `PEER_MEMBER_JOINED`).
    MemberJoined {
        /// The member's identity peer name.
        peer_name: PeerName,
    },
    /// A neighbour connection of the group's presence on this host came up or went down
    /// (`PEER_GROUP_EVENT_NEIGHBOR_CONNECTION`).
    NeighborConnection {
        /// Connected or disconnected.
        status: ConnectionStatus,
        /// The connection.
        connection: Connection,
    },
    /// A direct connection opened, closed or failed to open
    /// (`PEER_GROUP_EVENT_DIRECT_CONNECTION`): one this host asked for
    /// ([`crate::Group::open_direct_connection`], by any process), or one another member
    /// opened to it.
    DirectConnection {
        /// Connected, disconnected or failed.
        status: ConnectionStatus,
        /// The connection (its address is unspecified when it failed).
        connection: Connection,
        /// Why it failed, when it did.
        reason: Option<String>,
    },
    /// Data another member sent on a neighbour or direct connection
    /// (`PEER_GROUP_EVENT_INCOMING_DATA`), in the order sent on that connection.
    IncomingData {
        /// The connection's id ([`crate::Group::connections`]).
        connection: u64,
        /// The member who sent it.
        peer: PeerName,
        /// The type the sender gave.
        data_type: Uuid,
        /// The bytes (shared by every registration that receives them).
        data: std::sync::Arc<[u8]>,
    },
    /// A member connected to or disconnected from this host's presence (its first connection
    /// came up, or its last went down): `PEER_GROUP_EVENT_MEMBER_CHANGED` with
    /// `PEER_MEMBER_CONNECTED` or `PEER_MEMBER_DISCONNECTED`.
    MemberPresence {
        /// The member's identity peer name.
        peer_name: PeerName,
        /// Connected (true) or disconnected.
        connected: bool,
    },
    /// The presence could not connect (`PEER_GROUP_EVENT_CONNECTION_FAILED`): no member
    /// answered, or a link broke the protocol. The group keeps listening.
    ConnectionFailed {
        /// What happened.
        reason: String,
    },
    /// A link was refused by a membership check, on either side
    /// (`PEER_GROUP_EVENT_AUTHENTICATION_FAILED`).
    AuthenticationFailed {
        /// What happened.
        reason: String,
    },
    /// The group's status changed. The group was deleted when `deleted` is set: no event
    /// follows, and later calls on its handles fail with `PEER_E_INVALID_GROUP`.
    StatusChanged {
        /// The `PEER_GROUP_STATUS` flags now.
        status: u32,
        /// Whether the group was deleted.
        deleted: bool,
    },
    /// Events were lost: this process's reader of the group's change feed fell behind the
    /// pruned feed (it was stopped or starved while more than `peergroup_state::FEED_RETAINED`
    /// changes were committed), or this registration left more than [`MAX_QUEUED_EVENTS`]
    /// events unread. Every registration of every type receives it; read again whatever the
    /// registration follows (records, members, properties, status).
    Resync,
}

impl Event {
    /// The type a registration names to receive this event.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::RecordChanged { .. } => EventType::RecordChanged,
            Self::PropertyChanged => EventType::PropertyChanged,
            Self::MemberChanged { .. } | Self::MemberJoined { .. } | Self::MemberPresence { .. } => {
                EventType::MemberChanged
            }
            Self::NeighborConnection { .. } => EventType::NeighborConnection,
            Self::DirectConnection { .. } => EventType::DirectConnection,
            Self::IncomingData { .. } => EventType::IncomingData,
            Self::ConnectionFailed { .. } => EventType::ConnectionFailed,
            Self::AuthenticationFailed { .. } => EventType::AuthenticationFailed,
            Self::StatusChanged { .. } => EventType::StatusChanged,
            Self::Resync => EventType::Resync,
        }
    }

    /// The event of a committed change, if it maps to one without reading anything else.
    pub(crate) fn from_change(change: &Change) -> Option<Self> {
        let record =
            |change, id: &Uuid, record_type: &Uuid| Self::RecordChanged { change, id: *id, record_type: *record_type };
        Some(match change {
            Change::RecordAdded { id, record_type } => record(RecordChange::Added, id, record_type),
            Change::RecordUpdated { id, record_type } => record(RecordChange::Updated, id, record_type),
            Change::RecordDeleted { id, record_type } => record(RecordChange::Deleted, id, record_type),
            Change::RecordExpired { id, record_type } => record(RecordChange::Expired, id, record_type),
            Change::PropertiesChanged => Self::PropertyChanged,
            Change::MemberChanged { peer_name } => Self::MemberChanged { peer_name: peer_name.clone() },
            Change::MemberJoined { peer_name } => Self::MemberJoined { peer_name: peer_name.clone() },
            Change::GroupDeleted => Self::StatusChanged { status: 0, deleted: true },
            Change::Resync { .. } => Self::Resync,
            // `StatusChanged`: the reader reads the status itself (the presence lock decides
            // it too).
            _ => return None,
        })
    }
}

/// Which events a registration receives: event types (all when empty) and, for
/// [`EventType::RecordChanged`], record types. [`Event::Resync`] always passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The types wanted; empty: every type.
    pub types: Vec<EventType>,
    /// For record events, the record types wanted (`None` in the list: any); empty: any.
    pub record_types: Vec<Option<Uuid>>,
    /// For incoming data, the data types wanted (`None` in the list: any); empty: any.
    pub data_types: Vec<Option<Uuid>>,
}

impl EventFilter {
    /// Events of these types (all when empty), of any record or data type.
    pub fn of_types(types: &[EventType]) -> Self {
        Self { types: types.to_vec(), record_types: Vec::new(), data_types: Vec::new() }
    }

    /// Whether the filter lets `event` through.
    pub fn wants(&self, event: &Event) -> bool {
        let t = event.event_type();
        if t == EventType::Resync {
            return true;
        }
        if !self.types.is_empty() && !self.types.contains(&t) {
            return false;
        }
        match event {
            Event::RecordChanged { record_type, .. } if !self.record_types.is_empty() => {
                self.record_types.iter().any(|want| want.is_none_or(|w| w == *record_type))
            }
            Event::IncomingData { data_type, .. } if !self.data_types.is_empty() => {
                self.data_types.iter().any(|want| want.is_none_or(|w| w == *data_type))
            }
            _ => true,
        }
    }
}

/// Called by the feed reader after it queued an event for a registration (the C ABI writes to
/// the caller's descriptor there). It runs on the reader's thread: it must not block, and must
/// not call into the group.
pub type EventNotify = Box<dyn Fn() + Send + Sync>;

/// The most events one registration holds unread; one more replaces them all by one
/// [`Event::Resync`] (the reader never waits for a slow registration).
pub const MAX_QUEUED_EVENTS: usize = 4096;

/// A registration for events: a [`Stream`](futures_core::Stream) of [`Event`]s of the types
/// asked for, ending after the group is deleted, after an error, when the last handle of the
/// group in this process closes, or when dropped.
///
/// For synchronous callers, [`EventStream::recv_timeout`] waits without a runtime.
pub struct EventStream {
    sub: Arc<Sub>,
    core: Arc<Core>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("filter", &self.sub.filter).finish_non_exhaustive()
    }
}

/// One registration as the feed reader sees it: its filter, where it starts, its queue.
pub(crate) struct Sub {
    filter: EventFilter,
    /// Changes up to this sequence number were committed before the registration.
    after: u64,
    notify: Option<EventNotify>,
    state: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Result<Event, Error>>,
    /// No item will be added any more.
    ended: bool,
    waker: Option<Waker>,
}

impl Sub {
    pub(crate) fn new(filter: EventFilter, after: u64, notify: Option<EventNotify>) -> Self {
        Self { filter, after, notify, state: Mutex::default(), changed: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a queue that is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `event` (of the change `seq`, when it comes from one) if the registration wants
    /// it; never waits.
    pub(crate) fn offer(&self, seq: Option<u64>, event: &Event) {
        if seq.is_some_and(|s| s <= self.after) || !self.filter.wants(event) {
            return;
        }
        let mut q = self.lock();
        if q.ended {
            return;
        }
        if q.items.len() >= MAX_QUEUED_EVENTS {
            q.items.clear();
            q.items.push_back(Ok(Event::Resync));
        } else {
            q.items.push_back(Ok(event.clone()));
        }
        self.wake(q);
        if let Some(notify) = &self.notify {
            notify();
        }
    }

    /// Delivers an error as the last item.
    pub(crate) fn fail(&self, error: Error) {
        let mut q = self.lock();
        if !q.ended {
            q.items.push_back(Err(error));
            if let Some(notify) = &self.notify {
                notify();
            }
        }
        q.ended = true;
        self.wake(q);
    }

    pub(crate) fn end(&self) {
        let mut q = self.lock();
        q.ended = true;
        self.wake(q);
    }

    fn wake(&self, mut q: MutexGuard<'_, Queue>) {
        let waker = q.waker.take();
        drop(q);
        self.changed.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl EventStream {
    pub(crate) fn new(sub: Arc<Sub>, core: Arc<Core>) -> Self {
        Self { sub, core }
    }

    /// Takes the next event if one waits, without waiting; `None` when none waits.
    pub fn try_recv(&mut self) -> Option<Result<Event, Error>> {
        self.sub.lock().items.pop_front()
    }

    /// Waits for the next event up to `timeout` without an async runtime; `Ok(None)` when none
    /// came in time or the stream ended (see [`Self::is_ended`]).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        let deadline = Instant::now() + timeout;
        let mut q = self.sub.lock();
        loop {
            if let Some(item) = q.items.pop_front() {
                return item.map(Some);
            }
            let now = Instant::now();
            if q.ended || now >= deadline {
                return Ok(None);
            }
            q = self.sub.changed.wait_timeout(q, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }

    /// Whether no event will come any more (group deleted, an error was delivered, or the
    /// last handle of the group in this process closed) and none is waiting.
    pub fn is_ended(&self) -> bool {
        let q = self.sub.lock();
        q.ended && q.items.is_empty()
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.sub.lock();
        if let Some(item) = q.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if q.ended {
            return Poll::Ready(None);
        }
        q.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // Once removed (under the reader's lock), the reader neither queues nor notifies for
        // this registration any more: the C ABI's promise that no write follows unregistering.
        self.core.remove(&self.sub);
        self.sub.end();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn record(t: u128) -> Event {
        Event::RecordChanged { change: RecordChange::Added, id: Uuid::from_u128(1), record_type: Uuid::from_u128(t) }
    }

    #[test]
    fn filters_by_type_and_record_type_and_always_pass_resync() {
        let all = EventFilter::default();
        assert!(all.wants(&record(7)) && all.wants(&Event::PropertyChanged) && all.wants(&Event::Resync));
        let props = EventFilter::of_types(&[EventType::PropertyChanged]);
        assert!(!props.wants(&record(7)) && props.wants(&Event::PropertyChanged) && props.wants(&Event::Resync));
        let seven = EventFilter {
            types: vec![EventType::RecordChanged],
            record_types: vec![Some(Uuid::from_u128(7))],
            data_types: vec![],
        };
        assert!(seven.wants(&record(7)) && !seven.wants(&record(8)) && !seven.wants(&Event::PropertyChanged));
        let any = EventFilter {
            types: vec![EventType::RecordChanged],
            record_types: vec![Some(Uuid::from_u128(7)), None],
            data_types: vec![],
        };
        assert!(any.wants(&record(8)));
        assert_eq!(EventType::from_raw(0x1000), None, "nobody registers for resync");
    }

    #[test]
    fn a_registration_that_leaves_too_many_events_unread_gets_one_resync() {
        let sub = Sub::new(EventFilter::default(), 0, None);
        for _ in 0..MAX_QUEUED_EVENTS {
            sub.offer(Some(1), &record(1));
        }
        assert_eq!(sub.lock().items.len(), MAX_QUEUED_EVENTS);
        sub.offer(Some(2), &record(1));
        let q = sub.lock();
        assert_eq!(q.items.len(), 1);
        assert!(matches!(q.items.front(), Some(Ok(Event::Resync))));
    }

    #[test]
    fn changes_committed_before_the_registration_are_not_delivered() {
        let sub = Sub::new(EventFilter::default(), 5, None);
        sub.offer(Some(5), &record(1));
        sub.offer(Some(6), &record(2));
        sub.offer(None, &Event::StatusChanged { status: 1, deleted: false });
        let q = sub.lock();
        assert_eq!(q.items.len(), 2);
    }
}
