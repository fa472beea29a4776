//! The change feed: its sequence, watchers, and the writes that append to it (the expiry
//! purge included).

use std::path::Path;

use rusqlite::{Connection, params};

use super::GroupDb;
use super::records::{decode_local, delete_attribute_rows};
use crate::changes::{Change, ChangeEvent, Origin, Watcher};
use crate::error::Result;
use crate::sqlite::{WriteTx, map_err, retry};
use crate::time::Timestamp;

impl GroupDb {
    /// The sequence number of the last committed change (0 if none).
    pub fn last_seq(&self) -> Result<u64> {
        self.read(|conn| last_seq(conn, &self.path))
    }

    /// Every change committed after sequence `after`, in commit order.
    pub fn changes_since(&self, after: u64) -> Result<Vec<ChangeEvent>> {
        self.read(|conn| crate::changes::read_changes(conn, &self.path, after))
    }

    /// Removes every change but the newest `keep` now (writers prune the feed on their own,
    /// see [`crate::FEED_RETAINED`]; tests use this to make a watcher fall behind).
    #[doc(hidden)]
    pub fn prune_feed(&self, keep: u64) -> Result<usize> {
        let path = &self.path;
        self.write(|tx| crate::changes::prune(tx, path, last_seq(tx, path)?, keep))
    }

    /// A watcher that yields every change committed after this call, by any process.
    pub fn watch(&self) -> Result<Watcher> {
        let after = self.last_seq()?;
        self.watch_from(after)
    }

    /// A watcher that yields every change committed after sequence `after`.
    pub fn watch_from(&self, after: u64) -> Result<Watcher> {
        Watcher::open(&self.path, after, self.access, self.durability)
    }
}

pub(crate) fn last_seq(conn: &Connection, path: &Path) -> Result<u64> {
    let seq: Option<i64> =
        conn.query_row("SELECT max(seq) FROM changes", [], |r| r.get(0)).map_err(|e| map_err(path, e))?;
    Ok(seq.unwrap_or(0).max(0).unsigned_abs())
}

/// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) on `conn` unless the group is marked
/// deleted (then `None`, nothing written). Retries while locked; on any error nothing is
/// committed. Every write of a handle or a watcher goes through here.
pub(crate) fn write_unless_deleted<T>(
    conn: &Connection,
    path: &Path,
    mut f: impl FnMut(&Connection) -> Result<T>,
) -> Result<Option<T>> {
    retry(path, || {
        let tx = WriteTx::begin(conn).map_err(|e| map_err(path, e))?;
        let deleted: bool = tx
            .prepare_cached("SELECT deleted FROM properties WHERE id = 1")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(|e| map_err(path, e))?;
        if deleted {
            return Ok(None);
        }
        let out = f(&tx)?;
        tx.commit().map_err(|e| map_err(path, e))?;
        signal_commit(path);
        Ok(Some(out))
    })
}

/// Tells readers woken by the file system that a commit is visible: the writes to the WAL
/// that they see happen before the commit is published in the shared WAL index, so a reader
/// woken by them alone could look too early. Touching the group folder's times is one system
/// call (about 2 µs) that readers watching the folder see after the commit; a failure only
/// delays readers until their next periodic check.
fn signal_commit(path: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Some(dir) = path.parent() else { return };
    let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return };
    // SAFETY: a NUL-terminated path and NULL times (set both to now); no memory is written.
    let _ = unsafe { libc::utimensat(libc::AT_FDCWD, dir.as_ptr(), std::ptr::null(), 0) };
}

/// Removes up to `limit` records whose expiration has passed (index on `expires`), with a
/// [`Change::RecordExpired`] for each live one.
pub(crate) fn purge_expired(tx: &Connection, path: &Path, now: Timestamp, limit: usize) -> Result<usize> {
    let e = |e| map_err(path, e);
    let expired: Vec<(i64, Vec<u8>)> = {
        // The limit is part of the text, not a parameter: SQLite plans with the value of a
        // bound LIMIT, so binding one compiles the statement again on every write (7 µs).
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT rowid, body FROM records WHERE expires <= ?1 ORDER BY expires LIMIT {limit}"
            ))
            .map_err(e)?;
        stmt.query_map(params![now.as_micros()], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(e)?
            .collect::<rusqlite::Result<_>>()
            .map_err(e)?
    };
    for (rowid, body) in &expired {
        let record = decode_local(path, body)?;
        delete_attribute_rows(tx, path, *rowid, &record)?;
        tx.prepare_cached("DELETE FROM records WHERE rowid = ?1").map_err(e)?.execute([rowid]).map_err(e)?;
        if !record.is_deleted() {
            push_change(tx, path, &Change::RecordExpired { id: record.id, record_type: record.record_type })?;
        }
    }
    Ok(expired.len())
}

/// Appends a change to the feed, in the caller's transaction, and prunes the feed every
/// [`crate::FEED_PRUNE_EVERY`] changes (see [`crate::changes`]).
pub(crate) fn push_change(tx: &Connection, path: &Path, change: &Change) -> Result<()> {
    push_change_from(tx, path, change, &Origin::Local)
}

/// [`push_change`] of a change that came from `origin`.
pub(crate) fn push_change_from(tx: &Connection, path: &Path, change: &Change, origin: &Origin) -> Result<()> {
    // A resync is made by watchers and never stored.
    let Some((kind, id, record_type, peer)) = change.to_row() else { return Ok(()) };
    tx.prepare_cached(
        "INSERT INTO changes (kind, record_id, record_type, peer_name, origin) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .map_err(|e| map_err(path, e))?
    .execute(params![kind, id, record_type, peer, origin.to_sql()])
    .map_err(|e| map_err(path, e))?;
    let seq = tx.last_insert_rowid().unsigned_abs();
    if seq.is_multiple_of(crate::FEED_PRUNE_EVERY) {
        crate::changes::prune(tx, path, seq, crate::FEED_RETAINED)?;
    }
    Ok(())
}
