//! The change feed: every committed change has a sequence number in the `changes` table,
//! written in the same transaction as the change. A [`Watcher`] has its own connection and
//! checks SQLite's `PRAGMA data_version` (a few microseconds: it changes whenever another
//! connection, in any process, commits) to learn of commits without reading the table.
//!
//! The feed is bounded: the transaction that writes a change whose sequence number is a
//! multiple of [`FEED_PRUNE_EVERY`] removes every change older than the last
//! [`FEED_RETAINED`], so the table holds at most `FEED_RETAINED + FEED_PRUNE_EVERY` rows. The
//! newest row is never removed, so sequence numbers never go back. A watcher whose next
//! change was removed before it read it reports [`Change::Resync`] instead of skipping
//! changes silently.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use peergroup_identity::PeerName;
use rusqlite::{Connection, params};
use uuid::Uuid;

use crate::error::{Result, StateError};
use crate::sqlite::{Access, Durability, map_err, open_connection, retry};
use crate::time::Timestamp;

/// A committed change (the counterpart of the group events `RECORD_CHANGED`,
/// `PROPERTY_CHANGED` and `MEMBER_CHANGED`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Change {
    /// A record was added (`PEER_RECORD_ADDED`).
    RecordAdded {
        /// Its id.
        id: Uuid,
        /// Its type.
        record_type: Uuid,
    },
    /// A record was updated (`PEER_RECORD_UPDATED`).
    RecordUpdated {
        /// Its id.
        id: Uuid,
        /// Its type.
        record_type: Uuid,
    },
    /// A record was deleted (`PEER_RECORD_DELETED`).
    RecordDeleted {
        /// Its id.
        id: Uuid,
        /// Its type.
        record_type: Uuid,
    },
    /// A record expired and was purged (`PEER_RECORD_EXPIRED`).
    RecordExpired {
        /// Its id.
        id: Uuid,
        /// Its type.
        record_type: Uuid,
    },
    /// The group properties changed (`PEER_GROUP_EVENT_PROPERTY_CHANGED`).
    PropertiesChanged,
    /// A member was replaced or removed (`PEER_GROUP_EVENT_MEMBER_CHANGED`,
    /// `PEER_MEMBER_UPDATED`).
    MemberChanged {
        /// The member's identity peer name.
        peer_name: PeerName,
    },
    /// A member this database did not hold was added (`PEER_GROUP_EVENT_MEMBER_CHANGED`,
    /// `PEER_MEMBER_JOINED`): it joined, or its entry arrived from another member.
    MemberJoined {
        /// The member's identity peer name.
        peer_name: PeerName,
    },
    /// The group was deleted; no change follows.
    GroupDeleted,
    /// The network status that the facade keeps in a blob was written (by any process):
    /// readers read the status again.
    StatusChanged,
    /// A process queued a request for the holder of the group's network presence
    /// ([`crate::GroupDb::post_direct_request`]): the holder takes the pending requests.
    DirectRequested,
    /// Data from another member arrived: inbox message `message`
    /// ([`Watcher::inbox_message`]).
    DataReceived {
        /// The inbox message's number.
        message: u64,
    },
    /// Never stored: a [`Watcher`] fell behind the pruned feed. `missed` changes were removed
    /// before it read them; whoever follows the feed must read the state again.
    Resync {
        /// How many changes were lost.
        missed: u64,
    },
}

impl Change {
    /// The stored form; `None` for [`Change::Resync`], which only watchers make.
    pub(crate) fn to_row(&self) -> Option<ChangeRow> {
        let rec = |kind, id: &Uuid, t: &Uuid| (kind, Some(id.as_bytes().to_vec()), Some(t.as_bytes().to_vec()), None);
        Some(match self {
            Self::RecordAdded { id, record_type } => rec(1, id, record_type),
            Self::RecordUpdated { id, record_type } => rec(2, id, record_type),
            Self::RecordDeleted { id, record_type } => rec(3, id, record_type),
            Self::RecordExpired { id, record_type } => rec(4, id, record_type),
            Self::PropertiesChanged => (5, None, None, None),
            Self::MemberChanged { peer_name } => (6, None, None, Some(peer_name.to_string())),
            Self::GroupDeleted => (7, None, None, None),
            Self::StatusChanged => (8, None, None, None),
            Self::MemberJoined { peer_name } => (9, None, None, Some(peer_name.to_string())),
            Self::DirectRequested => (10, None, None, None),
            Self::DataReceived { message } => (11, Some(message.to_be_bytes().to_vec()), None, None),
            Self::Resync { .. } => return None,
        })
    }

    fn from_row(
        path: &Path,
        kind: i64,
        id: Option<Vec<u8>>,
        record_type: Option<Vec<u8>>,
        peer: Option<String>,
    ) -> Result<Self> {
        let bad = |what: &str| StateError::InvalidDatabase { path: path.to_owned(), reason: format!("change: {what}") };
        let uuid = |b: &Option<Vec<u8>>| b.as_deref().and_then(|b| Uuid::from_slice(b).ok()).ok_or_else(|| bad("uuid"));
        Ok(match kind {
            1..=4 => {
                let (id, record_type) = (uuid(&id)?, uuid(&record_type)?);
                match kind {
                    1 => Self::RecordAdded { id, record_type },
                    2 => Self::RecordUpdated { id, record_type },
                    3 => Self::RecordDeleted { id, record_type },
                    _ => Self::RecordExpired { id, record_type },
                }
            }
            5 => Self::PropertiesChanged,
            6 | 9 => {
                let peer_name =
                    peer.as_deref().and_then(|p| PeerName::parse(p).ok()).ok_or_else(|| bad("peer name"))?;
                if kind == 6 { Self::MemberChanged { peer_name } } else { Self::MemberJoined { peer_name } }
            }
            7 => Self::GroupDeleted,
            8 => Self::StatusChanged,
            10 => Self::DirectRequested,
            11 => {
                let bytes: [u8; 8] = id.as_deref().and_then(|b| b.try_into().ok()).ok_or_else(|| bad("message"))?;
                Self::DataReceived { message: u64::from_be_bytes(bytes) }
            }
            _ => return Err(bad("unknown kind")),
        })
    }
}

/// A change as stored: kind, record id, record type, member peer name.
pub(crate) type ChangeRow = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Option<String>);

/// Where a change came from: made on this host, or brought by replication from a link or peer
/// the replication layer named ([`crate::GroupDb::apply_batch`]). The flood reads it so that it
/// does not send an item back where it came from; it does not change what the change means.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Origin {
    /// Made by an API call on this host (any process).
    #[default]
    Local,
    /// Stored by replication from the link or peer of this name (opaque to this layer; at most
    /// [`MAX_ORIGIN_LEN`] bytes).
    Remote(String),
}

/// The longest [`Origin::Remote`] name, in bytes.
pub const MAX_ORIGIN_LEN: usize = 256;

impl Origin {
    /// The stored form: `NULL` for a local change.
    pub(crate) fn to_sql(&self) -> Option<&str> {
        match self {
            Self::Local => None,
            Self::Remote(name) => Some(name),
        }
    }

    fn from_sql(origin: Option<String>) -> Self {
        origin.map_or(Self::Local, Self::Remote)
    }
}

/// A change with its sequence number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChangeEvent {
    /// Its place in commit order (grows by at least one per change).
    pub seq: u64,
    /// What changed.
    pub change: Change,
    /// Where it came from.
    pub origin: Origin,
}

/// Reads every change after `after`, in commit order.
pub(crate) fn read_changes(conn: &Connection, path: &Path, after: u64) -> Result<Vec<ChangeEvent>> {
    let e = |e| map_err(path, e);
    let mut stmt = conn
        .prepare_cached(
            "SELECT seq, kind, record_id, record_type, peer_name, origin FROM changes WHERE seq > ?1 ORDER BY seq",
        )
        .map_err(e)?;
    let rows = stmt
        .query_map(params![i64::try_from(after).unwrap_or(i64::MAX)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .map_err(e)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(e)?;
    rows.into_iter()
        .map(|(seq, kind, id, t, peer, origin)| {
            Ok(ChangeEvent {
                seq: seq.unsigned_abs(),
                change: Change::from_row(path, kind, id, t, peer)?,
                origin: Origin::from_sql(origin),
            })
        })
        .collect()
}

/// How many of the newest changes the feed keeps at least (a row is about 60 bytes, so the
/// feed stays under about 1 MB).
pub const FEED_RETAINED: u64 = 10_000;
/// Every this many changes, the writing transaction removes the changes older than the last
/// [`FEED_RETAINED`] (one range delete on the primary key: the cost of a prune is spread over
/// this many writes).
pub const FEED_PRUNE_EVERY: u64 = 128;

/// Removes every change but the newest `keep` (at least one is always kept, so that sequence
/// numbers never go back); returns how many were removed.
pub(crate) fn prune(tx: &Connection, path: &Path, newest: u64, keep: u64) -> Result<usize> {
    let below = newest.saturating_sub(keep.max(1)).saturating_add(1);
    tx.prepare_cached("DELETE FROM changes WHERE seq < ?1")
        .map_err(|e| map_err(path, e))?
        .execute([i64::try_from(below).unwrap_or(i64::MAX)])
        .map_err(|e| map_err(path, e))
}

/// How many of the newest status writes keep their value for readers that come to them late
/// ([`Watcher::status_written`]): a reader further behind reads the current value.
pub const STATUS_WRITES_RETAINED: u64 = 256;

/// How often a watcher checks for commits by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// How often a watcher checks whether the database file was removed.
const FILE_CHECK_INTERVAL: Duration = Duration::from_millis(50);
/// How often a watcher checks whether a record's expiration has passed.
const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Yields every change committed to one group database, by any handle in any process, in
/// commit order, each exactly once.
///
/// Blocking use: [`Watcher::recv_timeout`] or the [`Iterator`] impl. Async use: call
/// [`Watcher::poll`] from a timer (it never blocks on other processes for long), or move the
/// watcher to a thread and forward into a channel.
///
/// When a record's expiration passes and no writer has purged it, the watcher purges it
/// itself (a small write), so that [`Change::RecordExpired`] reaches every handle.
pub struct Watcher {
    conn: Connection,
    path: PathBuf,
    access: Access,
    last_seq: u64,
    data_version: Option<i64>,
    pending: VecDeque<ChangeEvent>,
    deleted: bool,
    poll_interval: Duration,
    next_file_check: Instant,
    next_expiry_check: Instant,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("path", &self.path).field("last_seq", &self.last_seq).finish_non_exhaustive()
    }
}

impl Watcher {
    pub(crate) fn open(path: &Path, after: u64, access: Access, durability: Durability) -> Result<Self> {
        // The handle that makes the watcher checked (and migrated) the schema already.
        let conn = open_connection(path, access, durability)?;
        let now = Instant::now();
        Ok(Self {
            conn,
            path: path.to_owned(),
            access,
            last_seq: after,
            data_version: None,
            pending: VecDeque::new(),
            deleted: false,
            poll_interval: DEFAULT_POLL_INTERVAL,
            next_file_check: now,
            next_expiry_check: now,
        })
    }

    /// The sequence number of the last change this watcher has read from the database.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Makes the next [`Self::poll`] check at once whether the database file was removed (a
    /// caller woken by the file system knows something happened to the folder).
    pub fn check_file_now(&mut self) {
        self.next_file_check = Instant::now();
    }

    /// A named value of the group (see [`crate::GroupDb::get_blob`]), read on the watcher's
    /// own connection: a reader of the feed needs no second connection for it.
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        use rusqlite::OptionalExtension;
        let path = &self.path;
        retry(path, || {
            self.conn
                .query_row("SELECT value FROM blobs WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(|e| map_err(path, e))
        })
    }

    /// The name and value that the [`Change::StatusChanged`] numbered `seq` wrote
    /// ([`crate::GroupDb::put_status_blob`]), read on the watcher's own connection; `None` when
    /// that change is older than the newest [`crate::STATUS_WRITES_RETAINED`] status writes
    /// (then [`Self::blob`] has the current value) or was written before schema version 5.
    pub fn status_written(&self, seq: u64) -> Result<Option<(String, Vec<u8>)>> {
        use rusqlite::OptionalExtension;
        let path = &self.path;
        let Ok(seq) = i64::try_from(seq) else { return Ok(None) };
        retry(path, || {
            self.conn
                .prepare_cached("SELECT name, value FROM status_writes WHERE seq = ?1")
                .and_then(|mut s| s.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(|e| map_err(path, e))
        })
    }

    /// Inbox message `message` (see [`Change::DataReceived`]), read on the watcher's own
    /// connection; `None` once the inbox dropped it (the reader fell more than
    /// [`crate::INBOX_RETAINED`] messages or [`crate::INBOX_MAX_BYTES`] behind).
    pub fn inbox_message(&self, message: u64) -> Result<Option<crate::InboxMessage>> {
        retry(&self.path, || crate::db::mailbox::read_message(&self.conn, &self.path, message))
    }

    /// Sets how often [`Self::recv_timeout`] checks for commits (default 5 ms).
    pub fn set_poll_interval(&mut self, interval: Duration) {
        self.poll_interval = interval.max(Duration::from_micros(100));
    }

    /// Checks for new changes without waiting and returns them all (possibly none).
    pub fn poll(&mut self) -> Result<Vec<ChangeEvent>> {
        self.fetch()?;
        Ok(self.pending.drain(..).collect())
    }

    /// The next change, waiting at most `timeout` for one; `None` on timeout.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Option<ChangeEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Ok(Some(ev));
            }
            self.fetch()?;
            if let Some(ev) = self.pending.pop_front() {
                return Ok(Some(ev));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(self.poll_interval.min(deadline - now));
        }
    }

    fn fetch(&mut self) -> Result<()> {
        if self.deleted {
            return Ok(());
        }
        let path = self.path.clone();
        let version: i64 = retry(&path, || {
            self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(|e| map_err(&path, e))
        })?;
        let now = Instant::now();
        if self.data_version != Some(version) {
            self.data_version = Some(version);
            self.read_new()?;
        }
        if !self.deleted && now >= self.next_expiry_check && self.access == Access::ReadWrite {
            self.next_expiry_check = now + EXPIRY_CHECK_INTERVAL;
            if self.purge_due()? {
                // Our own commit does not move our data_version: read directly.
                self.read_new()?;
            }
        }
        if !self.deleted && now >= self.next_file_check {
            self.next_file_check = now + FILE_CHECK_INTERVAL;
            if file_removed(&self.path) {
                // The group was deleted and its files removed; our connection still reads the
                // unlinked file, so take every committed change first, then report the deletion
                // once even if its row was never seen.
                self.read_new()?;
                if !self.deleted {
                    self.deleted = true;
                    self.pending.push_back(ChangeEvent {
                        seq: self.last_seq,
                        change: Change::GroupDeleted,
                        origin: Origin::Local,
                    });
                }
            }
        }
        Ok(())
    }

    fn read_new(&mut self) -> Result<()> {
        let path = self.path.clone();
        let after = self.last_seq;
        let events = retry(&path, || read_changes(&self.conn, &path, after))?;
        // Sequence numbers have no gaps but those the pruning left: a first change past the
        // next expected one means changes were removed before this watcher read them.
        if let Some(first) = events.first()
            && first.seq > after.saturating_add(1)
        {
            let missed = first.seq - after - 1;
            self.pending.push_back(ChangeEvent {
                seq: first.seq - 1,
                change: Change::Resync { missed },
                origin: Origin::Local,
            });
        }
        for ev in events {
            self.last_seq = ev.seq;
            let deleted = ev.change == Change::GroupDeleted;
            self.pending.push_back(ev);
            if deleted {
                self.deleted = true;
                break;
            }
        }
        Ok(())
    }

    /// Purges expired records if the earliest expiration has passed. Returns whether any
    /// were purged.
    fn purge_due(&mut self) -> Result<bool> {
        let path = self.path.clone();
        let now = Timestamp::now();
        let earliest: Option<i64> = retry(&path, || {
            self.conn.query_row("SELECT min(expires) FROM records", [], |r| r.get(0)).map_err(|e| map_err(&path, e))
        })?;
        if earliest.is_none_or(|t| t > now.as_micros()) {
            return Ok(false);
        }
        let purged = crate::db::write_unless_deleted(&self.conn, &path, |tx| {
            crate::db::purge_expired(tx, &path, now, crate::db::PURGE_BATCH)
        });
        match purged {
            Ok(n) => Ok(n.unwrap_or(0) > 0),
            // Another process may hold the database read-only or the disk may be full: the
            // records stay hidden by every read anyway, the purge waits for the next writer.
            Err(StateError::ReadOnly { .. } | StateError::DiskFull { .. } | StateError::Busy { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Watcher {
    /// Moves the watcher to a thread of its own that sends every change (or the first error)
    /// into a channel: the shape an async facade wraps (for example by forwarding the
    /// receiver from `spawn_blocking`). The thread ends after [`Change::GroupDeleted`], after an
    /// error, or within 100 ms of the [`ChangeThread`] being dropped.
    pub fn spawn(self) -> std::io::Result<ChangeThread> {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let mut watcher = self;
        let handle = std::thread::Builder::new().name("peergroup-watch".into()).spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match watcher.recv_timeout(Duration::from_millis(100)) {
                    Ok(Some(ev)) => {
                        let last = ev.change == Change::GroupDeleted;
                        if tx.send(Ok(ev)).is_err() || last {
                            return;
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
        })?;
        Ok(ChangeThread { rx, stop, handle: Some(handle) })
    }
}

/// A watcher running on its own thread (see [`Watcher::spawn`]); stops it when dropped.
#[derive(Debug)]
pub struct ChangeThread {
    rx: std::sync::mpsc::Receiver<Result<ChangeEvent>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ChangeThread {
    /// The receiving end: changes in commit order, each once.
    pub fn receiver(&self) -> &std::sync::mpsc::Receiver<Result<ChangeEvent>> {
        &self.rx
    }
}

impl Drop for ChangeThread {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn file_removed(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(meta) => meta.nlink() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

impl Iterator for Watcher {
    type Item = Result<ChangeEvent>;

    /// Blocks until the next change; ends after [`Change::GroupDeleted`].
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.deleted && self.pending.is_empty() {
                return None;
            }
            match self.recv_timeout(Duration::from_secs(1)) {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
