//! SQLite plumbing shared by handles and watchers: opening a connection with the project's
//! settings, mapping errors to [`StateError`], retrying while other processes hold locks,
//! and the schema check with forward migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Result, StateError};
use crate::schema::{MIGRATIONS, SCHEMA_VERSION};

/// How long one SQLite call waits on a lock before it gives up and the retry loop takes over.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_millis(250);
/// How long the retry loop keeps trying before [`StateError::Busy`] is returned.
pub(crate) const RETRY_BUDGET: Duration = Duration::from_secs(60);

/// Maps a SQLite error on the database at `path` to the layer's error.
pub(crate) fn map_err(path: &Path, e: rusqlite::Error) -> StateError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StateError::InvalidDatabase { path: path.to_owned(), reason: e.to_string() }
        }
        Some(ErrorCode::DiskFull) => StateError::DiskFull { path: path.to_owned() },
        Some(ErrorCode::ReadOnly) => StateError::ReadOnly { path: path.to_owned() },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StateError::Busy { path: path.to_owned(), waited: Duration::ZERO }
        }
        _ => StateError::Sqlite { path: path.to_owned(), source: e },
    }
}

/// Runs `f` until it does not fail with [`StateError::Busy`], for at most [`RETRY_BUDGET`].
pub(crate) fn retry<T>(path: &Path, mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        match f() {
            Err(StateError::Busy { .. }) if start.elapsed() < RETRY_BUDGET => {
                attempt += 1;
                // A short, growing, slightly spread pause so that waiting processes do not
                // wake in lock step.
                let jitter = u64::from(std::process::id() % 7);
                std::thread::sleep(Duration::from_millis((1 + u64::from(attempt.min(20))) + jitter));
            }
            Err(StateError::Busy { .. }) => {
                return Err(StateError::Busy { path: path.to_owned(), waited: start.elapsed() });
            }
            other => return other,
        }
    }
}

/// Page size of new databases. A commit appends every page it changed to the write-ahead log
/// (one frame per page; adding a record changes about eleven), and the next checkpoint
/// flushes those bytes to disk: 1 KiB pages write a third of the bytes per record of SQLite's
/// default 4 KiB for a few more frames (see `docs/storage.md`, "Cost of a write").
pub(crate) const PAGE_SIZE: i64 = 1024;

/// Log size at which a commit checkpoints (SQLite's default is 1000 pages). Every checkpoint
/// waits for two `fsync`s, so a longer log spends fewer of them per record; the price is disk
/// space while the group is open and a longer recovery on the first open after a crash.
pub(crate) const CHECKPOINT_BYTES: i64 = 16 * 1024 * 1024;

/// A write transaction (`BEGIN IMMEDIATE`) on a connection: rolled back when dropped
/// uncommitted. Unlike `rusqlite::Transaction`, it runs `BEGIN`, `COMMIT` and `ROLLBACK` from
/// the connection's statement cache instead of compiling them on every write.
pub(crate) struct WriteTx<'c> {
    conn: &'c Connection,
    open: bool,
}

impl<'c> WriteTx<'c> {
    pub(crate) fn begin(conn: &'c Connection) -> rusqlite::Result<Self> {
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        Ok(Self { conn, open: true })
    }

    pub(crate) fn commit(mut self) -> rusqlite::Result<()> {
        self.conn.prepare_cached("COMMIT")?.execute([])?;
        self.open = false;
        Ok(())
    }
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        // Not committed: an error on the way, or a failed COMMIT (disk full) that SQLite did
        // not roll back itself.
        if self.open && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// How a connection is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// When a commit is on stable storage (SQLite's `synchronous` setting; see `docs/storage.md`,
/// "Crash guarantees").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=NORMAL` (write-ahead log), the default: a commit that returned survives
    /// any crash or kill of the process (it is in the log, in the operating system's cache);
    /// an operating-system crash or power loss may roll back the commits since the last
    /// checkpoint, never corrupting the database. No `fsync` per commit.
    #[default]
    Normal,
    /// `synchronous=FULL`: every commit also flushes the write-ahead log to stable storage
    /// before it returns, so it survives an operating-system crash and a power loss too.
    /// Costs one `fsync` per commit (see `docs/PERFORMANCE.md`).
    Full,
}

/// Opens an existing database file with the project's settings (no schema check).
pub(crate) fn open_connection(path: &Path, access: Access, durability: Durability) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_NO_MUTEX;
    flags |= match access {
        Access::ReadWrite => OpenFlags::SQLITE_OPEN_READ_WRITE,
        Access::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| map_err(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| map_err(path, e))?;
    // Keep the -wal and -shm files when the last connection of the host closes. SQLite
    // otherwise deletes both then, and the next open creates, sizes, chowns and maps them
    // again: half of the system calls of an open and close (see `docs/PERFORMANCE.md`).
    // With a journal size limit (below) the last close empties the log instead, so a closed
    // group's log holds nothing.
    let mut persist: std::ffi::c_int = 1;
    conn.file_control(Some(rusqlite::MAIN_DB), rusqlite::FileControl::PersistWal(&mut persist))
        .map_err(|e| map_err(path, e))?;
    let level = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level).map_err(|e| map_err(path, e))?;
    match access {
        Access::ReadOnly => conn.pragma_update(None, "query_only", true).map_err(|e| map_err(path, e))?,
        Access::ReadWrite => {
            let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).map_err(|e| map_err(path, e))?;
            let pages = CHECKPOINT_BYTES / page.max(512);
            conn.pragma_update(None, "wal_autocheckpoint", pages).map_err(|e| map_err(path, e))?;
            conn.pragma_update(None, "journal_size_limit", CHECKPOINT_BYTES).map_err(|e| map_err(path, e))?;
        }
    }
    Ok(conn)
}

/// Reads the schema version; refuses newer and empty databases; migrates older ones
/// forward (unless read-only). Costs the same whatever the database holds.
pub(crate) fn check_schema(conn: &mut Connection, path: &Path, access: Access) -> Result<()> {
    let version = user_version(conn, path)?;
    if version > SCHEMA_VERSION {
        return Err(StateError::DatabaseTooNew { path: path.to_owned(), found: version, supported: SCHEMA_VERSION });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version <= 0 {
        return Err(StateError::InvalidDatabase {
            path: path.to_owned(),
            reason: "not a peergroup group database (no schema)".into(),
        });
    }
    if access == Access::ReadOnly {
        return Err(StateError::ReadOnly { path: path.to_owned() });
    }
    migrate(conn, path)
}

pub(crate) fn user_version(conn: &Connection, path: &Path) -> Result<i64> {
    retry(path, || conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| map_err(path, e)))
}

/// Applies every migration from the file's version up to [`SCHEMA_VERSION`] in one
/// transaction (version 0, an empty file, gets the whole schema).
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    retry(path, || {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| map_err(path, e))?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| map_err(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StateError::DatabaseTooNew {
                path: path.to_owned(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let from = usize::try_from(version).unwrap_or(0);
        for step in MIGRATIONS.iter().skip(from) {
            tx.execute_batch(step).map_err(|e| map_err(path, e))?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(|e| map_err(path, e))?;
        tx.commit().map_err(|e| map_err(path, e))
    })
}
