//! Applying a stream of received items as fast as the store allows: one thread checks the
//! next batch (the trust path, whose signature checks are most of the cost) while another
//! writes the batch before it, and batches that queue up while the writer is busy are
//! merged into one transaction (fewer commits, each page of an index written once for many
//! records). What a link driver uses between `peergroup_sync::Output::Apply` and the store.

use std::borrow::Cow;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::GroupDb;
use crate::changes::Origin;
use crate::error::{Result, StateError};
use crate::replication::{BatchOutcome, SyncItem};

/// The most items merged into one transaction.
pub const MAX_APPLY_BATCH: usize = 8192;
/// Submissions queued ahead of the checker before [`Applier::submit`] waits (back-pressure:
/// a peer that sends faster than the store writes is slowed, not buffered without bound).
const QUEUE: usize = 8;
/// The writer's page cache while an applier runs, in KiB (SQLite's default is 2,000).
const APPLY_CACHE_KIB: i64 = 32 * 1024;

/// One transaction's worth of items and what became of them.
#[derive(Debug)]
pub struct Applied {
    /// The items, in the order submitted (those of several submissions when they were merged).
    pub items: Vec<SyncItem>,
    /// What [`GroupDb::apply_batch`] would have said of them; `refused` indexes `items`.
    pub outcome: BatchOutcome,
}

/// Applies batches of items on two threads of its own: [`GroupDb::check_owned`] on one
/// handle, [`GroupDb::store_checked`] on another, in submission order. Dropping it waits for
/// what was submitted to be written.
///
/// ```
/// # use std::sync::{Arc, Condvar, Mutex, PoisonError};
/// # use peergroup_identity::{Keystore, testing};
/// # use peergroup_security::NewGroup;
/// # use peergroup_state::{Applier, MembershipStore, Origin};
/// # let dir = tempfile::tempdir().unwrap();
/// # let keystore = Keystore::open(dir.path().join("peergroup")).unwrap();
/// # let alice = keystore.create_with_key("alice", None, &testing::key(0)).unwrap();
/// # let store = MembershipStore::for_keystore(&keystore);
/// # let db = store.create_group_with_key(&alice, &NewGroup::new("g", "G"), testing::key(50), std::time::SystemTime::now()).unwrap();
/// let checker = Arc::new(store.groups(alice.peer_name()).unwrap().open(db.group_peer_name()).unwrap());
/// let writer = Arc::new(db);
/// let mut applier = Applier::new(checker, writer, Origin::Remote("peer".into()))?;
/// // items from the link: applier.submit(items)?; then each Applied as it is written:
/// while let Some(applied) = applier.wait_next() {
///     let applied = applied.unwrap();
///     assert!(applied.outcome.refused.is_empty());
/// }
/// # Ok::<(), peergroup_state::StateError>(())
/// ```
#[derive(Debug)]
pub struct Applier {
    submit: Option<SyncSender<Vec<SyncItem>>>,
    /// Each transaction's result with the number of items it accounts for.
    applied: Receiver<(usize, Result<Applied>)>,
    /// Items submitted and not yet given back by [`Self::wait_next`] or [`Self::try_next`].
    in_flight: usize,
    threads: Vec<JoinHandle<()>>,
}

impl Applier {
    /// Starts the checking and the writing threads. `checker` and `writer` should be two
    /// handles of the same group database (one handle works, without the overlap); `origin`
    /// marks the changes in the feed. [`StateError::Io`] if a thread cannot be started.
    pub fn new(checker: Arc<GroupDb>, writer: Arc<GroupDb>, origin: Origin) -> Result<Self> {
        let path = writer.path.clone();
        let io = |source| StateError::Io { path: path.clone(), source };
        let (submit, submitted) = sync_channel::<Vec<SyncItem>>(QUEUE);
        let (to_writer, checked) = sync_channel(1);
        // Unbounded: a caller that submits without taking results must not stall the writer.
        let (to_caller, applied) = channel();
        let to_caller_from_checker = to_caller.clone();
        let written = Arc::new(Written::default());
        let written_by_writer = Arc::clone(&written);
        let check = std::thread::Builder::new()
            .name("pg-apply-check".into())
            .spawn(move || {
                // Batches handed to the writer, and the last of them that brought member
                // entries: the next batch is checked only once that one is written, so that
                // its records are judged with those members held.
                let (mut sent, mut members_in) = (0u64, None);
                let _bulk = checker.bulk(None);
                let mut merger = Merger { submitted, carried: None };
                while let Some(items) = merger.next() {
                    if let Some(batch) = members_in.take() {
                        written.wait_for(batch);
                    }
                    let len = items.len();
                    let ok = match checker.check_owned(items) {
                        Ok(batch) => {
                            sent += 1;
                            if batch.has_members() {
                                members_in = Some(sent);
                            }
                            to_writer.send(batch).is_ok()
                        }
                        Err(e) => to_caller_from_checker.send((len, Err(e))).is_ok(),
                    };
                    if !ok {
                        return;
                    }
                }
            })
            .map_err(io)?;
        let write = std::thread::Builder::new().name("pg-apply-write".into()).spawn(move || {
            // Tells the checker when this thread ends, however it ends.
            let _gone = WriterGone(Arc::clone(&written_by_writer));
            // A batch of thousands of records dirties more pages than the default cache
            // holds (SQLite then spills them to the log mid-transaction and reads them
            // back); the writer's handle gets a larger cache while the applier runs, and
            // both handles read through a memory map.
            let _bulk = writer.bulk(Some(APPLY_CACHE_KIB));
            for batch in checked {
                let len = batch.len();
                let result = writer
                    .store_keeping(batch, &origin)
                    .map(|(items, outcome)| Applied { items: Cow::into_owned(items), outcome });
                written_by_writer.one_more();
                if to_caller.send((len, result)).is_err() {
                    return;
                }
            }
        });
        let write = match write {
            Ok(write) => write,
            Err(e) => {
                // The checker ends when its queue closes.
                drop(submit);
                let _ = check.join();
                return Err(io(e));
            }
        };
        Ok(Applier { submit: Some(submit), applied, in_flight: 0, threads: vec![check, write] })
    }

    /// Queues `items` to be applied; waits while the queue is full. More than
    /// [`MAX_APPLY_BATCH`] items are applied in several transactions (the writer starts on
    /// the first while the checker checks the next), each given back on its own.
    pub fn submit(&mut self, mut items: Vec<SyncItem>) -> Result<()> {
        let sender = self.submit.as_ref().ok_or(StateError::ApplierStopped)?;
        while !items.is_empty() {
            let rest = items.split_off(items.len().min(MAX_APPLY_BATCH));
            let len = items.len();
            sender.send(items).map_err(|_| StateError::ApplierStopped)?;
            self.in_flight += len;
            items = rest;
        }
        Ok(())
    }

    /// Items submitted and not yet given back.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The next transaction written, if one is ready; never waits.
    pub fn try_next(&mut self) -> Option<Result<Applied>> {
        match self.applied.try_recv() {
            Ok((len, result)) => Some(self.account(len, result)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => self.stopped(),
        }
    }

    /// The next transaction written, waiting for it; `None` when nothing is in flight.
    pub fn wait_next(&mut self) -> Option<Result<Applied>> {
        if self.in_flight == 0 {
            return None;
        }
        match self.applied.recv() {
            Ok((len, result)) => Some(self.account(len, result)),
            Err(_) => self.stopped(),
        }
    }

    fn account(&mut self, len: usize, result: Result<Applied>) -> Result<Applied> {
        self.in_flight = self.in_flight.saturating_sub(len);
        result
    }

    /// A thread ended while items were in flight (it panicked: a bug, reported as an error).
    fn stopped(&mut self) -> Option<Result<Applied>> {
        if self.in_flight == 0 {
            return None;
        }
        self.in_flight = 0;
        Some(Err(StateError::ApplierStopped))
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        // Closing the queue ends the checker, whose end ends the writer once it has written
        // what it holds.
        self.submit = None;
        while self.applied.recv().is_ok() {}
        for thread in self.threads.drain(..) {
            // A panic in a worker was reported through `wait_next` as `ApplierStopped`.
            let _ = thread.join();
        }
    }
}

/// Merges queued submissions (each at most [`MAX_APPLY_BATCH`] items, see
/// [`Applier::submit`]) into batches of at most that many.
struct Merger {
    submitted: Receiver<Vec<SyncItem>>,
    /// A submission taken from the queue that did not fit in the last batch.
    carried: Option<Vec<SyncItem>>,
}

impl Merger {
    /// The next batch: the next submission and those queued behind it that fit; `None` once
    /// the queue is closed and empty.
    fn next(&mut self) -> Option<Vec<SyncItem>> {
        let mut items = match self.carried.take() {
            Some(items) => items,
            None => self.submitted.recv().ok()?,
        };
        while items.len() < MAX_APPLY_BATCH {
            match self.submitted.try_recv() {
                Ok(more) if items.len() + more.len() <= MAX_APPLY_BATCH => items.extend(more),
                Ok(more) => {
                    self.carried = Some(more);
                    break;
                }
                Err(_) => break,
            }
        }
        Some(items)
    }
}

/// How many batches the writer has finished, for the checker to wait on.
#[derive(Default)]
struct Written {
    /// (batches written, whether the writer has ended)
    state: Mutex<(u64, bool)>,
    changed: Condvar,
}

impl Written {
    fn one_more(&self) {
        self.lock().0 += 1;
        self.changed.notify_all();
    }

    fn ended(&self) {
        self.lock().1 = true;
        self.changed.notify_all();
    }

    /// Waits until `batch` batches are written or the writer ended.
    fn wait_for(&self, batch: u64) {
        let mut state = self.lock();
        while state.0 < batch && !state.1 {
            state = self.changed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, bool)> {
        // The counts stay meaningful whoever panicked holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the writer ended when dropped (also when it unwinds).
struct WriterGone(Arc<Written>);

impl Drop for WriterGone {
    fn drop(&mut self) {
        self.0.ended();
    }
}
