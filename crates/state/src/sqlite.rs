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

/// How a connection is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// When a commit is on stable storage (SQLite's `synchronous` setting; see `docs/storage.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `synchronous=FULL`: every commit flushes the write-ahead log to stable storage before it
    /// returns, so a commit that returned survives a crash of the process, of the operating
    /// system and a power loss. Costs one `fsync` per commit.
    #[default]
    Full,
    /// `synchronous=NORMAL` (write-ahead log): a commit that returned survives a crash or kill
    /// of the process; an operating-system crash or power loss may roll back the last commits
    /// (never corrupting the database). No `fsync` per commit.
    Normal,
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
    let level = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", level).map_err(|e| map_err(path, e))?;
    if access == Access::ReadOnly {
        conn.pragma_update(None, "query_only", true).map_err(|e| map_err(path, e))?;
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
