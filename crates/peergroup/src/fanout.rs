//! One event fan-out per (process, group database): a [`Hub`] shared by every handle of the
//! group in this process, and, from the first registration on, one reader thread with one
//! SQLite connection that follows the group's change feed and fills the queues of every
//! registration (Rust streams and C ABI registrations alike).
//!
//! The reader sleeps until the file system says the group folder changed (see `wake.rs`),
//! then reads the feed from where it stopped (`data_version` first: a few microseconds when
//! nothing was committed). It also watches the presence lock (see `status.rs`) so that a
//! status change reaches every registration as [`Event::StatusChanged`], whether it was
//! written (a feed row) or happened by a holder's death (its lock file closed).
//!
//! Architecture Invariant: a registration costs a queue, never a thread or a connection; the
//! reader never waits for a registration (a full queue becomes [`Event::Resync`]).
//! Architecture Invariant: the reader stops when the last handle of the group in the process
//! closes (the [`Hub`] is dropped), and its registrations end.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peergroup_state::{Change, ChangeEvent, GroupDb, StateError, Watcher};

use crate::error::{Error, Result};
use crate::events::{ConnectionStatus, Event, EventFilter, EventNotify, EventStream, Sub};
use crate::online::{Online, OnlineParts};
use crate::status::{self, Connection, NetView, PRESENCE_LOCK, Presence, STATUS_BLOB};
use crate::wake::{Stopper, Wake};

/// How long a reader woken by nothing sleeps at most: the watcher purges records whose
/// expiration passed (so that `PEER_RECORD_EXPIRED` reaches every handle) at this pace.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// After a presence lock file was closed while the lock still reads as held, the reader probes
/// again after these delays: the kernel reports the close of a dead holder's file just
/// before it drops the holder's lock.
const LOCK_RECHECKS: [Duration; 4] =
    [Duration::from_millis(1), Duration::from_millis(10), Duration::from_millis(100), Duration::from_secs(1)];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, even when it panics.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hubs of this process, by group database path.
static HUBS: Mutex<Option<HashMap<PathBuf, Weak<Hub>>>> = Mutex::new(None);

/// The fan-out of one group database in this process, held by every handle of it.
#[derive(Debug)]
pub(crate) struct Hub {
    path: PathBuf,
    reader: Mutex<Option<Reader>>,
    /// The network presence this process runs for the group (dropped before the lock below).
    online: Mutex<Option<Online>>,
    /// The presence lock this process holds for the group, if any.
    presence: Mutex<Option<Presence>>,
    /// The stop flag of this process's standby for the group, while one runs.
    standby: Mutex<Option<Arc<AtomicBool>>>,
    /// What a presence of the group needs, from the first handle.
    parts: OnceLock<OnlineParts>,
}

/// A running reader: its registrations, and how to stop it.
#[derive(Debug)]
struct Reader {
    core: Arc<Core>,
    stopper: Stopper,
    thread: Option<JoinHandle<()>>,
}

/// The registrations of one reader.
#[derive(Default)]
pub(crate) struct Core {
    subs: Mutex<CoreState>,
}

#[derive(Default)]
struct CoreState {
    subs: Vec<Arc<Sub>>,
    /// The reader stopped: registrations made now end at once.
    ended: bool,
}

impl Core {
    /// Adds a registration for the changes committed after the feed's position now. The position
    /// is read while the reader cannot dispatch, so a change is either at or before it (and not
    /// for this registration) or dispatched after the registration is in the list.
    fn add(&self, db: &GroupDb, filter: EventFilter, notify: Option<EventNotify>) -> Result<Arc<Sub>> {
        let mut state = lock(&self.subs);
        let sub = Arc::new(Sub::new(filter, db.last_seq()?, notify));
        if state.ended {
            sub.end();
        } else {
            state.subs.push(sub.clone());
        }
        Ok(sub)
    }

    /// Forgets a registration; once this returns, the reader does not touch it any more.
    pub(crate) fn remove(&self, sub: &Arc<Sub>) {
        lock(&self.subs).subs.retain(|s| !Arc::ptr_eq(s, sub));
    }

    fn dispatch(&self, seq: Option<u64>, event: &Event) {
        for sub in &lock(&self.subs).subs {
            sub.offer(seq, event);
        }
    }

    /// Ends every registration, each after an error when the feed failed with `error`.
    fn end(&self, error: Option<(&Path, &StateError)>) {
        let mut state = lock(&self.subs);
        state.ended = true;
        for sub in state.subs.drain(..) {
            match error {
                // Errors are not `Clone`: each registration gets one that says the same.
                Some((path, e)) => sub.fail(Error::State(StateError::Io {
                    path: path.to_owned(),
                    source: std::io::Error::other(format!("reading the group's change feed: {e}")),
                })),
                None => sub.end(),
            }
        }
    }

    fn is_ended(&self) -> bool {
        lock(&self.subs).ended
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.subs);
        f.debug_struct("Core").field("registrations", &state.subs.len()).field("ended", &state.ended).finish()
    }
}

impl Hub {
    /// The hub of the database at `path` in this process: the existing one, or a new one
    /// (cheap: no thread, no connection until the first registration).
    pub(crate) fn for_path(path: &Path) -> Arc<Self> {
        let mut hubs = lock(&HUBS);
        let hubs = hubs.get_or_insert_with(HashMap::new);
        if let Some(hub) = hubs.get(path).and_then(Weak::upgrade) {
            return hub;
        }
        let hub = Arc::new(Self {
            path: path.to_owned(),
            reader: Mutex::new(None),
            online: Mutex::new(None),
            presence: Mutex::new(None),
            standby: Mutex::new(None),
            parts: OnceLock::new(),
        });
        hubs.insert(path.to_owned(), Arc::downgrade(&hub));
        hub
    }

    /// Registers for events through `db` (a handle of this hub's group): changes committed
    /// from now on, by any process.
    pub(crate) fn register(
        self: &Arc<Self>,
        db: &GroupDb,
        filter: EventFilter,
        notify: Option<EventNotify>,
    ) -> Result<EventStream> {
        let after = db.last_seq()?;
        let mut reader = lock(&self.reader);
        let core = match reader.as_ref() {
            Some(r) if !r.core.is_ended() => r.core.clone(),
            _ => {
                // None yet, or the last one stopped after an error: start one.
                if let Some(mut old) = reader.take() {
                    old.stop();
                }
                let weak = Arc::downgrade(self);
                let on_online = Box::new(move || {
                    // Not on the reader's thread: if the hub's last other holder went
                    // meanwhile, the hub is dropped where this upgrade ends, and its drop
                    // joins the reader.
                    let weak = weak.clone();
                    let _ = std::thread::Builder::new().name("peergroup-standby".into()).spawn(move || {
                        if let Some(hub) = weak.upgrade() {
                            crate::online::stand_by_unless_holder(&hub);
                        }
                    });
                });
                let started = Reader::start(db, after, on_online)?;
                let core = started.core.clone();
                *reader = Some(started);
                core
            }
        };
        let sub = core.add(db, filter, notify)?;
        Ok(EventStream::new(sub, core))
    }

    /// The presence lock this process holds for the group (see `status::write`).
    pub(crate) fn presence(&self) -> MutexGuard<'_, Option<Presence>> {
        lock(&self.presence)
    }

    /// The presence this process runs for the group (see `online.rs`).
    pub(crate) fn online(&self) -> MutexGuard<'_, Option<Online>> {
        lock(&self.online)
    }

    /// The stop flag of this process's standby for the group.
    pub(crate) fn standby(&self) -> MutexGuard<'_, Option<Arc<AtomicBool>>> {
        lock(&self.standby)
    }

    /// What a presence needs; set by the first handle.
    pub(crate) fn parts(&self) -> Option<&OnlineParts> {
        self.parts.get()
    }

    pub(crate) fn set_parts(&self, parts: impl FnOnce() -> OnlineParts) {
        let _ = self.parts.get_or_init(parts);
    }

    /// The group database's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(stop) = lock(&self.standby).take() {
            stop.store(true, std::sync::atomic::Ordering::Release);
        }
        // The presence closes before its lock goes: a process that takes over finds the port
        // of this one's links closed.
        drop(lock(&self.online).take());
        drop(lock(&self.presence).take());
        if let Some(mut reader) = lock(&self.reader).take() {
            reader.stop();
        }
        let mut hubs = lock(&HUBS);
        if let Some(hubs) = hubs.as_mut()
            && hubs.get(&self.path).is_some_and(|w| w.strong_count() == 0)
        {
            hubs.remove(&self.path);
        }
    }
}

impl Reader {
    fn start(db: &GroupDb, after: u64, on_online: Box<dyn Fn() + Send>) -> Result<Self> {
        let watcher = db.watch_from(after)?;
        let dir = db.dir().to_owned();
        let (wake, stopper) = Wake::new(&dir, OsStr::new(PRESENCE_LOCK)).map_err(Error::Runtime)?;
        let lock_file = status::lock_path(db.path());
        // The status the registrations start from: they hear of changes from it on. (Read on
        // the reader's connection, which thereby has all its files open before it runs.)
        let view = status::effective_view(watcher.blob(STATUS_BLOB)?.as_deref(), &lock_file);
        let core = Arc::new(Core::default());
        let path = db.path().to_owned();
        let run = Run { watcher, wake, core: core.clone(), path, lock_file, view, recheck: None, on_online };
        let thread = std::thread::Builder::new()
            .name("peergroup-feed".into())
            .spawn(move || run.run())
            .map_err(Error::Runtime)?;
        Ok(Self { core, stopper, thread: Some(thread) })
    }

    fn stop(&mut self) {
        self.stopper.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.core.end(None);
    }
}

/// The events between two published views: connections that came and went (and members whose
/// first neighbour connection came or last went), direct connections that failed, and a new
/// failure.
fn network_events(old: &NetView, new: &NetView) -> Vec<Event> {
    let mut events = Vec::new();
    let key = |c: &Connection| (c.id, c.flags, c.peer.clone());
    let changed = |status, connection: &Connection| {
        let connection = connection.clone();
        if connection.is_direct() {
            Event::DirectConnection { status, connection, reason: None }
        } else {
            Event::NeighborConnection { status, connection }
        }
    };
    for c in &old.connections {
        if !new.connections.iter().any(|n| key(n) == key(c)) {
            events.push(changed(ConnectionStatus::Disconnected, c));
        }
    }
    for c in &new.connections {
        if !old.connections.iter().any(|o| key(o) == key(c)) {
            events.push(changed(ConnectionStatus::Connected, c));
        }
    }
    for f in &new.direct_failures {
        if !old.direct_failures.iter().any(|o| o.id == f.id) {
            let connection = Connection {
                id: f.id,
                flags: status::PEER_CONNECTION_DIRECT,
                peer: f.peer.clone(),
                addr: std::net::SocketAddr::from(([0u16; 8], 0)),
                outgoing: true,
            };
            events.push(Event::DirectConnection {
                status: ConnectionStatus::Failed,
                connection,
                reason: Some(f.reason.clone()),
            });
        }
    }
    let peers = |v: &NetView| {
        v.connections
            .iter()
            .filter(|c| !c.is_direct())
            .map(|c| c.peer.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let (before, after) = (peers(old), peers(new));
    for gone in before.difference(&after) {
        events.push(Event::MemberPresence { peer_name: gone.clone(), connected: false });
    }
    for came in after.difference(&before) {
        events.push(Event::MemberPresence { peer_name: came.clone(), connected: true });
    }
    let holder_changed = old.status.presence_pid != new.status.presence_pid;
    let failed = if holder_changed { new.failures > 0 } else { new.failures > old.failures };
    if failed && let Some(f) = &new.last_failure {
        let reason = f.reason.clone();
        events.push(if f.authentication {
            Event::AuthenticationFailed { reason }
        } else {
            Event::ConnectionFailed { reason }
        });
    }
    events
}

/// The reader thread's state.
struct Run {
    watcher: Watcher,
    wake: Wake,
    core: Arc<Core>,
    /// The database.
    path: PathBuf,
    lock_file: PathBuf,
    /// What the presence published, as last reported.
    view: NetView,
    /// Called when the group goes online (this process then stands by to take it over).
    on_online: Box<dyn Fn() + Send>,
    /// The next presence probe after a lock file was closed: when, and which of
    /// [`LOCK_RECHECKS`] it is.
    recheck: Option<(Instant, usize)>,
}

impl Run {
    fn run(mut self) {
        loop {
            let now = Instant::now();
            let wait = self.recheck.map_or(IDLE_WAIT, |(at, _)| at.saturating_duration_since(now)).min(IDLE_WAIT);
            let woken = self.wake.wait(wait);
            if woken.stop {
                return;
            }
            if woken.folder_gone {
                self.watcher.check_file_now();
            }
            match self.step(woken.lock_closed) {
                Ok(true) => {}
                Ok(false) => {
                    self.core.end(None);
                    return;
                }
                Err(e) => {
                    self.core.end(Some((&self.path, &e)));
                    return;
                }
            }
        }
    }

    /// Reads what was committed and dispatches it; false once the group was deleted.
    fn step(&mut self, lock_closed: bool) -> peergroup_state::Result<bool> {
        let mut status_dirty = lock_closed
            // Polling, nothing tells of a holder's death: probe while some holder is known.
            || (!self.wake.is_notified() && self.view.status.is_connected())
            || self.recheck.is_some_and(|(at, _)| Instant::now() >= at);
        if lock_closed {
            self.recheck = None;
        }
        for ChangeEvent { seq, change, .. } in self.watcher.poll()? {
            match change {
                // Each write in turn: a reader that comes to several at once still reports
                // what came and went between them (a direct connection opened and closed).
                Change::StatusChanged => match self.watcher.status_written(seq)? {
                    Some((name, value)) if name == STATUS_BLOB => {
                        let view = status::effective_view(Some(&value), &self.lock_file);
                        self.apply_view(view, false);
                    }
                    // The intent: no event.
                    Some(_) => {}
                    // Too old to be kept: the current value will do.
                    None => status_dirty = true,
                },
                Change::DataReceived { message } => match self.watcher.inbox_message(message)? {
                    Some(m) => {
                        let event = Event::IncomingData {
                            connection: m.connection,
                            peer: m.peer,
                            data_type: m.data_type,
                            data: m.body.into(),
                        };
                        self.core.dispatch(Some(seq), &event);
                    }
                    // The inbox dropped it before this reader came to it: say so.
                    None => self.core.dispatch(None, &Event::Resync),
                },
                Change::GroupDeleted => {
                    // Every registration hears it, even one made after the last stored change
                    // (a folder removed by hand gives a deletion numbered like that change).
                    self.core.dispatch(None, &Event::StatusChanged { status: 0, deleted: true });
                    return Ok(false);
                }
                Change::Resync { .. } => {
                    // Status rows may be among the lost changes.
                    self.core.dispatch(None, &Event::Resync);
                    status_dirty = true;
                }
                other => {
                    if let Some(event) = Event::from_change(&other) {
                        self.core.dispatch(Some(seq), &event);
                    }
                }
            }
        }
        if status_dirty {
            self.read_status(lock_closed)?;
        }
        Ok(true)
    }

    fn read_status(&mut self, lock_closed: bool) -> peergroup_state::Result<()> {
        let blob = self.watcher.blob(STATUS_BLOB)?;
        let view = status::effective_view(blob.as_deref(), &self.lock_file);
        self.apply_view(view, lock_closed);
        Ok(())
    }

    /// Reports what changed from the view last reported to `view`.
    fn apply_view(&mut self, view: NetView, lock_closed: bool) {
        let flags = view.status.flags();
        let old = std::mem::replace(&mut self.view, view);
        for event in network_events(&old, &self.view) {
            self.core.dispatch(None, &event);
        }
        if flags != old.status.flags() {
            self.recheck = None;
            if old.status.flags() == 0 {
                (self.on_online)();
            }
            self.core.dispatch(None, &Event::StatusChanged { status: flags, deleted: false });
        } else if flags != 0 {
            // Still held after a close: the dead holder's lock may go a moment later.
            let next = if lock_closed { Some(0) } else { self.recheck.map(|(_, i)| i + 1) };
            self.recheck = next.and_then(|i| LOCK_RECHECKS.get(i).map(|d| (Instant::now() + *d, i)));
        } else {
            self.recheck = None;
        }
    }
}
