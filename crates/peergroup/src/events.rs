//! Group events (the counterpart of `PeerGroupRegisterEvent` / `PeerGroupGetEventData`): the
//! change feed of the group database, as a [`Stream`](futures_core::Stream) filtered by type.
//!
//! A watcher thread polls the group database (cheap: SQLite's `data_version`), so changes made
//! by any process arrive, in commit order, each once per registration.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use peergroup_identity::PeerName;
use peergroup_state::{Change, ChangeEvent, Watcher};
use uuid::Uuid;

use crate::error::Error;

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
    /// `PEER_GROUP_EVENT_MEMBER_CHANGED` (8).
    MemberChanged = 8,
}

impl EventType {
    /// Every type.
    pub const ALL: [EventType; 4] =
        [EventType::StatusChanged, EventType::PropertyChanged, EventType::RecordChanged, EventType::MemberChanged];

    /// The `PEER_GROUP_EVENT_TYPE` value.
    pub fn to_raw(self) -> u32 {
        self as u32
    }

    /// The type of a `PEER_GROUP_EVENT_TYPE` value this crate produces.
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
    /// A member was added, changed or removed.
    MemberChanged {
        /// The member's identity peer name.
        peer_name: PeerName,
    },
    /// The group's status changed. The group was deleted when `deleted` is set: no event
    /// follows, and later calls on its handles fail with `PEER_E_INVALID_GROUP`.
    StatusChanged {
        /// The `PEER_GROUP_STATUS` flags now.
        status: u32,
        /// Whether the group was deleted.
        deleted: bool,
    },
}

impl Event {
    /// The type a registration names to receive this event.
    pub fn event_type(&self) -> EventType {
        match self {
            Self::RecordChanged { .. } => EventType::RecordChanged,
            Self::PropertyChanged => EventType::PropertyChanged,
            Self::MemberChanged { .. } => EventType::MemberChanged,
            Self::StatusChanged { .. } => EventType::StatusChanged,
        }
    }

    /// The event of a committed change, with its sequence number in the change feed.
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
            Change::GroupDeleted => Self::StatusChanged { status: 0, deleted: true },
            _ => return None,
        })
    }
}

/// A registration for events: a [`Stream`](futures_core::Stream) of [`Event`]s of the types
/// asked for, ending after the group is deleted or the registration is dropped.
///
/// For synchronous callers, [`EventStream::recv_timeout`] waits without a runtime.
#[derive(Debug)]
pub struct EventStream {
    shared: Arc<Shared>,
}

/// How often the watcher thread checks for commits by other processes.
const POLL: Duration = Duration::from_millis(5);
/// Events buffered per registration before the watcher waits for the reader.
const BUFFER: usize = 1024;

/// The queue between the watcher thread and the reader: a condition variable wakes blocking
/// readers, a stored waker wakes async ones.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Result<Event, Error>>,
    /// No item will be added any more (group deleted, error delivered, or reader gone).
    ended: bool,
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock leaves a queue that is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an item, waiting while the buffer is full; false once the reader is gone.
    fn push(&self, item: Result<Event, Error>) -> bool {
        let mut q = self.lock();
        while q.items.len() >= BUFFER && !q.ended {
            q = self.changed.wait(q).unwrap_or_else(PoisonError::into_inner);
        }
        if q.ended {
            return false;
        }
        q.items.push_back(item);
        self.notify(q);
        true
    }

    fn end(&self) {
        let mut q = self.lock();
        q.ended = true;
        self.notify(q);
    }

    fn notify(&self, mut q: MutexGuard<'_, Queue>) {
        let waker = q.waker.take();
        drop(q);
        self.changed.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn is_ended(&self) -> bool {
        self.lock().ended
    }
}

impl EventStream {
    pub(crate) fn start(mut watcher: Watcher, types: &[EventType]) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let wanted: Vec<EventType> = if types.is_empty() { EventType::ALL.to_vec() } else { types.to_vec() };
        let producer = shared.clone();
        watcher.set_poll_interval(POLL);
        std::thread::Builder::new().name("peergroup-events".into()).spawn(move || {
            // Polls in slices so that a dropped registration ends the thread soon.
            while !producer.is_ended() {
                let change = match watcher.recv_timeout(Duration::from_millis(100)) {
                    Ok(None) => continue,
                    Ok(Some(ChangeEvent { change, .. })) => change,
                    Err(e) => {
                        producer.push(Err(e.into()));
                        break;
                    }
                };
                let deleted = change == Change::GroupDeleted;
                if let Some(event) = Event::from_change(&change)
                    && wanted.contains(&event.event_type())
                    && !producer.push(Ok(event))
                {
                    break;
                }
                if deleted {
                    break;
                }
            }
            producer.end();
        })?;
        Ok(Self { shared })
    }

    /// Waits for the next event up to `timeout` without an async runtime; `Ok(None)` when none
    /// came in time or the stream ended (see [`Self::is_ended`]).
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.lock();
        loop {
            if let Some(item) = q.items.pop_front() {
                drop(q);
                self.shared.changed.notify_all();
                return item.map(Some);
            }
            let now = Instant::now();
            if q.ended || now >= deadline {
                return Ok(None);
            }
            q = self.shared.changed.wait_timeout(q, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// The next event, or `None` when the stream ended.
    pub async fn next(&mut self) -> Option<Result<Event, Error>> {
        std::future::poll_fn(|cx| futures_core::Stream::poll_next(Pin::new(&mut *self), cx)).await
    }

    /// Whether no event will come any more (group deleted, or an error was delivered) and
    /// none is waiting.
    pub fn is_ended(&self) -> bool {
        let q = self.shared.lock();
        q.ended && q.items.is_empty()
    }
}

impl futures_core::Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut q = self.shared.lock();
        if let Some(item) = q.items.pop_front() {
            drop(q);
            self.shared.changed.notify_all();
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
        // Ends the watcher thread (at its next poll) and frees a producer waiting for room.
        self.shared.end();
    }
}
