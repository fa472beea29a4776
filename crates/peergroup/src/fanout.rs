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
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peergroup_state::{Change, ChangeEvent, GroupDb, StateError, Watcher};

use crate::error::{Error, Result};
use crate::events::{Event, EventFilter, EventNotify, EventStream, Sub};
use crate::status::{self, PRESENCE_LOCK, Presence, STATUS_BLOB};
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
    /// The network presence this process holds for the group, if any.
    presence: Mutex<Option<Presence>>,
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
        let hub = Arc::new(Self { path: path.to_owned(), reader: Mutex::new(None), presence: Mutex::new(None) });
        hubs.insert(path.to_owned(), Arc::downgrade(&hub));
        hub
    }

    /// Registers for events through `db` (a handle of this hub's group): changes committed
    /// from now on, by any process.
    pub(crate) fn register(
        &self,
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
                let started = Reader::start(db, after)?;
                let core = started.core.clone();
                *reader = Some(started);
                core
            }
        };
        let sub = core.add(db, filter, notify)?;
        Ok(EventStream::new(sub, core))
    }

    /// The presence this process holds for the group (see `status::write`).
    pub(crate) fn presence(&self) -> MutexGuard<'_, Option<Presence>> {
        lock(&self.presence)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
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
    fn start(db: &GroupDb, after: u64) -> Result<Self> {
        let watcher = db.watch_from(after)?;
        let dir = db.dir().to_owned();
        let (wake, stopper) = Wake::new(&dir, OsStr::new(PRESENCE_LOCK)).map_err(Error::Runtime)?;
        let lock_file = status::lock_path(db.path());
        // The status the registrations start from: they hear of changes from it on. (Read on
        // the reader's connection, which thereby has all its files open before it runs.)
        let flags = status::effective(watcher.blob(STATUS_BLOB)?.as_deref(), &lock_file).flags();
        let core = Arc::new(Core::default());
        let path = db.path().to_owned();
        let run = Run { watcher, wake, core: core.clone(), path, lock_file, flags, recheck: None };
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

/// The reader thread's state.
struct Run {
    watcher: Watcher,
    wake: Wake,
    core: Arc<Core>,
    /// The database.
    path: PathBuf,
    lock_file: PathBuf,
    /// The status flags last reported.
    flags: u32,
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
            || (!self.wake.is_notified() && self.flags != 0)
            || self.recheck.is_some_and(|(at, _)| Instant::now() >= at);
        if lock_closed {
            self.recheck = None;
        }
        for ChangeEvent { seq, change, .. } in self.watcher.poll()? {
            match change {
                Change::StatusChanged => status_dirty = true,
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
        let flags = status::effective(blob.as_deref(), &self.lock_file).flags();
        if flags != self.flags {
            self.flags = flags;
            self.recheck = None;
            self.core.dispatch(None, &Event::StatusChanged { status: flags, deleted: false });
        } else if flags != 0 {
            // Still held after a close: the dead holder's lock may go a moment later.
            let next = if lock_closed { Some(0) } else { self.recheck.map(|(_, i)| i + 1) };
            self.recheck = next.and_then(|i| LOCK_RECHECKS.get(i).map(|d| (Instant::now() + *d, i)));
        } else {
            self.recheck = None;
        }
        Ok(())
    }
}
