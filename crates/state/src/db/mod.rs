//! A handle on one group database, by concern: the handle and its transactions here;
//! properties and blobs (`properties`), members (`members`), records and search (`records`),
//! the change feed and purging (`feed`), export and import (`transfer`). Each handle has its
//! own SQLite connection; any number of handles in any number of processes may be open on one
//! group at once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use peergroup_identity::PeerName;
use peergroup_security::GroupProperties;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::changes::Change;
use crate::error::{Result, StateError};
use crate::schema::SCHEMA_VERSION;
use crate::sqlite::{Access, Durability, check_schema, map_err, open_connection, retry};
use crate::time::Timestamp;
use properties::{SETTABLE_PROPERTIES, settable_values};

/// How many expired records one write removes at most (besides its own work), so that
/// purging stays incremental.
pub(crate) const PURGE_BATCH: usize = 32;

/// An open group database.
///
/// `GroupDb` is `Send + Sync`; calls on one handle are serialised by a mutex around its
/// connection. Open several handles for parallelism.
pub struct GroupDb {
    conn: Mutex<Connection>,
    path: PathBuf,
    group: PeerName,
    identity: PeerName,
    access: Access,
    durability: Durability,
}

impl std::fmt::Debug for GroupDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupDb")
            .field("path", &self.path)
            .field("group", &self.group)
            .field("identity", &self.identity)
            .field("read_only", &(self.access == Access::ReadOnly))
            .finish()
    }
}

/// What [`GroupDb::import`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Records (and tombstones) stored because they were new or newer.
    pub records_applied: usize,
    /// Records skipped because this database had the same or a newer version.
    pub records_skipped: usize,
    /// Members added or replaced.
    pub members_applied: usize,
}

pub(super) fn invalid_db(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::InvalidDatabase { path: path.to_owned(), reason: reason.into() }
}

/// A peer name read from the database at `path`.
pub(super) fn stored_name(path: &Path, s: &str) -> Result<PeerName> {
    PeerName::parse(s).map_err(|e| invalid_db(path, format!("bad peer name {s:?}: {e}")))
}

impl GroupDb {
    /// Writes the schema and the properties row into a new, empty database file.
    pub(crate) fn initialise(path: &Path, identity: &PeerName, props: &GroupProperties) -> Result<()> {
        let mut conn = open_connection(path, Access::ReadWrite, Durability::Full)?;
        // Only an empty file takes a page size; it must precede the switch to WAL.
        conn.pragma_update(None, "page_size", crate::sqlite::PAGE_SIZE).map_err(|e| map_err(path, e))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| map_err(path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(invalid_db(path, format!("cannot switch to WAL mode (got {mode})")));
        }
        crate::sqlite::migrate(&mut conn, path)?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| map_err(path, e))?;
        tx.execute(
            &format!(
                "INSERT INTO properties (id, version, group_peer_name, identity, classifier, {SETTABLE_PROPERTIES})
                 VALUES (1, 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
            ),
            rusqlite::params_from_iter(
                [props.group_peer_name.to_string(), identity.to_string(), props.classifier.clone()]
                    .map(rusqlite::types::Value::from)
                    .into_iter()
                    .chain(settable_values(props)),
            ),
        )
        .map_err(|e| map_err(path, e))?;
        tx.commit().map_err(|e| map_err(path, e))
    }

    /// Opens the database at `path`. When `group` is given, the file must hold that group.
    /// The cost does not depend on how many records the database holds.
    pub(crate) fn open_file(
        path: &Path,
        group: Option<&PeerName>,
        access: Access,
        durability: Durability,
    ) -> Result<Self> {
        let mut conn = open_connection(path, access, durability)?;
        // The schema version and the properties row in one statement, so one read
        // transaction: a database of the current schema needs nothing more. Anything else
        // (another version, no properties table, an error) takes the full check first, which
        // migrates or names the problem as before.
        let current = retry(path, || {
            conn.query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), group_peer_name, identity, deleted \
                 FROM properties WHERE id = 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?))),
            )
            .map_err(|e| map_err(path, e))
        });
        let (group_name, identity, deleted): (String, String, bool) = match current {
            Ok((SCHEMA_VERSION, row)) => row,
            _ => {
                check_schema(&mut conn, path, access)?;
                retry(path, || {
                    conn.query_row("SELECT group_peer_name, identity, deleted FROM properties WHERE id = 1", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                    .map_err(|e| map_err(path, e))?
                    .ok_or_else(|| invalid_db(path, "no properties row"))
                })?
            }
        };
        let found = stored_name(path, &group_name)?;
        let identity = stored_name(path, &identity)?;
        if let Some(expected) = group
            && &found != expected
        {
            return Err(invalid_db(path, format!("holds group {found}, not {expected}")));
        }
        if deleted {
            return Err(StateError::GroupDeleted { group: found.to_string() });
        }
        Ok(Self { conn: Mutex::new(conn), path: path.to_owned(), group: found, identity, access, durability })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group's folder (where the security layer keeps the group's other files).
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }

    /// The group peer name.
    pub fn group_peer_name(&self) -> &PeerName {
        &self.group
    }

    /// The identity whose database this is.
    pub fn identity(&self) -> &PeerName {
        &self.identity
    }

    /// Whether this handle was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves at most an open transaction, which the next
        // statement's rollback-on-drop already undid.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs a read on this handle's connection, retrying while locked.
    fn read<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.lock();
        retry(&self.path, || f(&conn))
    }

    /// Sets this handle up for a bulk replication until the guard is dropped: reads through
    /// a memory map of the file ([`BULK_MMAP_BYTES`]) and, with `cache_kib`, a page cache of
    /// at least that many KiB. Best effort: a setting that cannot be read or changed stays
    /// as it is.
    pub(crate) fn bulk(&self, cache_kib: Option<i64>) -> BulkGuard<'_> {
        let conn = self.lock();
        let before = BulkSettings::read(&conn);
        if let (Some(kib), Some(cache)) = (cache_kib, before.cache) {
            // Negative values are KiB, positive ones pages (SQLite's convention).
            let _ = conn.execute_batch(&format!("PRAGMA cache_size = {}", (-kib).min(cache.min(0))));
        }
        set_mmap(&conn, BULK_MMAP_BYTES);
        BulkGuard { db: self, before }
    }

    /// Runs `f` in one read transaction: every statement sees the same snapshot, and a
    /// closure of many statements takes the log's read lock once instead of once each.
    fn read_snapshot<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        let path = &self.path;
        let conn = self.lock();
        // The snapshot reads are the bulk ones (every entry, thousands of bodies per call):
        // through a memory map they cost no system call and no copy per page.
        let before = BulkSettings::read(&conn);
        set_mmap(&conn, BULK_MMAP_BYTES);
        let result = retry(path, || {
            // A closure that panicked mid-read left its transaction open.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK").map_err(|e| map_err(path, e))?;
            }
            conn.execute_batch("BEGIN DEFERRED").map_err(|e| map_err(path, e))?;
            let result = f(&conn);
            // Ending a read transaction cannot lose anything; a failure to end it surfaces
            // only when the read itself succeeded.
            let end = conn.execute_batch("COMMIT").map_err(|e| map_err(path, e));
            let value = result?;
            end?;
            Ok(value)
        });
        before.restore(&conn);
        result
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) that also checks the group was
    /// not deleted and purges a bounded batch of expired records. Retries while locked;
    /// on any error nothing is committed.
    fn write<T>(&self, mut f: impl FnMut(&Connection) -> Result<T>) -> Result<T> {
        if self.access == Access::ReadOnly {
            return Err(StateError::ReadOnly { path: self.path.clone() });
        }
        let path = &self.path;
        let conn = self.lock();
        write_unless_deleted(&conn, path, |tx| {
            purge_expired(tx, path, Timestamp::now(), PURGE_BATCH)?;
            f(tx)
        })?
        .ok_or_else(|| StateError::GroupDeleted { group: self.group.to_string() })
    }

    // ---------------------------------------------------------------- group deletion

    /// Marks the group deleted in the database (with a [`Change::GroupDeleted`] that open
    /// handles see); the store then removes the files.
    pub(crate) fn mark_deleted(&self) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            tx.execute("UPDATE properties SET deleted = 1 WHERE id = 1", []).map_err(|e| map_err(path, e))?;
            push_change(tx, path, &Change::GroupDeleted)
        })
    }

    /// Runs `PRAGMA integrity_check` (reads the whole file; never done on open).
    pub fn integrity_check(&self) -> Result<()> {
        let path = &self.path;
        self.read(|conn| {
            let rows: Vec<String> = collect(conn, path, "PRAGMA integrity_check", [])?;
            if rows == ["ok"] { Ok(()) } else { Err(invalid_db(path, rows.join("; "))) }
        })
    }

    /// Runs a closure on this handle's connection (tests and benchmarks).
    #[doc(hidden)]
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut self.lock())
    }
}

pub(super) fn collect<T: rusqlite::types::FromSql, P: rusqlite::Params>(
    conn: &Connection,
    path: &Path,
    sql: &str,
    params: P,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| map_err(path, e))?;
    stmt.query_map(params, |r| r.get(0))
        .map_err(|e| map_err(path, e))?
        .collect::<rusqlite::Result<Vec<T>>>()
        .map_err(|e| map_err(path, e))
}

mod applier;
mod feed;
pub(crate) mod mailbox;
mod members;
mod properties;
mod records;
mod replication;
mod transfer;

pub use applier::{Applied, Applier, MAX_APPLY_BATCH};
pub(crate) use feed::{purge_expired, push_change, write_unless_deleted};
pub use mailbox::{DirectRequest, INBOX_MAX_BYTES, INBOX_RETAINED, InboxMessage, MAX_MAILBOX_BODY};
pub(crate) use members::read_members;
pub(crate) use properties::read_properties;
pub(crate) use records::record_stamp;
pub use replication::CheckedBatch;

/// The memory map a bulk replication reads through: address space, not memory (pages are
/// the file's, shared with the operating system's cache). Off otherwise, SQLite's default:
/// an I/O error under a map is a signal rather than an error, so the map is kept to the
/// bulk reads and writes that gain from it (see `docs/storage.md`).
pub(crate) const BULK_MMAP_BYTES: i64 = 1 << 30;

/// Best effort, as the cache setting: `PRAGMA mmap_size` answers with the size it took.
fn set_mmap(conn: &Connection, bytes: i64) {
    let _ = conn.query_row(&format!("PRAGMA mmap_size = {bytes}"), [], |_| Ok(()));
}

/// A connection's settings that [`GroupDb::bulk`] changes, to give them back.
#[derive(Clone, Copy)]
pub(crate) struct BulkSettings {
    cache: Option<i64>,
    mmap: Option<i64>,
}

impl BulkSettings {
    fn read(conn: &Connection) -> Self {
        BulkSettings {
            cache: conn.query_row("PRAGMA cache_size", [], |r| r.get(0)).ok(),
            mmap: conn.query_row("PRAGMA mmap_size", [], |r| r.get(0)).ok(),
        }
    }

    fn restore(self, conn: &Connection) {
        if let Some(cache) = self.cache {
            let _ = conn.execute_batch(&format!("PRAGMA cache_size = {cache}"));
        }
        if let Some(mmap) = self.mmap {
            set_mmap(conn, mmap);
        }
    }
}

/// Gives a handle its settings back (see [`GroupDb::bulk`]).
pub(crate) struct BulkGuard<'a> {
    db: &'a GroupDb,
    before: BulkSettings,
}

impl Drop for BulkGuard<'_> {
    fn drop(&mut self) {
        self.before.restore(&self.db.lock());
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use peergroup_identity::{Keystore, PeerName, testing};

    use super::BULK_MMAP_BYTES;
    use crate::{GroupProperties, GroupStore};

    #[test]
    fn a_bulk_guard_maps_and_enlarges_while_held_only() {
        let home = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(home.path().join("peergroup")).unwrap();
        let me = keystore.create_with_key("me", None, &testing::key(0)).unwrap();
        let store = GroupStore::new(&keystore, me.peer_name()).unwrap();
        let group: PeerName = format!("{}.g", "ab".repeat(20)).parse().unwrap();
        let db = store.create(&GroupProperties::new(group, me.peer_name().clone(), "G"), |_| Ok(())).unwrap();
        let settings = || {
            db.with_connection(|c| {
                let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0)).unwrap();
                let mmap: i64 = c.query_row("PRAGMA mmap_size", [], |r| r.get(0)).unwrap();
                (cache, mmap)
            })
        };
        let before = settings();
        {
            let _bulk = db.bulk(Some(64 * 1024));
            assert_eq!(settings(), (-64 * 1024, BULK_MMAP_BYTES));
        }
        assert_eq!(settings(), before);
        {
            let _bulk = db.bulk(None);
            assert_eq!(settings(), (before.0, BULK_MMAP_BYTES));
        }
        assert_eq!(settings(), before);
    }
}
