//! Export of a group database to one file, and reading such a file back with every record
//! verified (`PeerGroupExportDatabase` / `PeerGroupImportDatabase`).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use peergroup_identity::PeerName;
use rusqlite::{Connection, OpenFlags};

use crate::db::{GroupDb, read_members, read_properties};
use crate::error::{Result, StateError};
use crate::properties::Member;
use crate::record::Record;
use crate::schema::SCHEMA_VERSION;
use crate::sqlite::map_err;

fn invalid(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::InvalidDatabase { path: path.to_owned(), reason: reason.into() }
}

pub(crate) fn export(db: &GroupDb, dest: &Path) -> Result<()> {
    // VACUUM INTO wants a new or empty file; create it private first.
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dest)
        .map_err(|e| StateError::Io { path: dest.to_owned(), source: e })?;
    let result = (|| {
        let dest_str = dest.to_str().ok_or_else(|| StateError::Io {
            path: dest.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
        })?;
        // One consistent snapshot, whatever other writers do meanwhile.
        crate::sqlite::retry(db.path(), || {
            db.with_connection(|c| c.execute("VACUUM INTO ?1", [dest_str]).map(|_| ()))
                .map_err(|e| map_err(db.path(), e))
        })?;
        // The copy keeps only what a database export carries.
        let conn =
            Connection::open_with_flags(dest, OpenFlags::SQLITE_OPEN_READ_WRITE).map_err(|e| map_err(dest, e))?;
        conn.execute_batch(
            "PRAGMA journal_mode = DELETE;
             DELETE FROM blobs; DELETE FROM changes;
             UPDATE properties SET identity = '0.export';
             VACUUM;",
        )
        .map_err(|e| map_err(dest, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(dest);
    }
    result
}

/// Opens an exported file read-only, checks it whole, and returns its members and every
/// record, each record's signature verified with its modifier's key (from the file's members
/// or, failing that, from `known_member`).
pub(crate) fn read_verified(
    src: &Path,
    group: &PeerName,
    known_member: impl Fn(&PeerName) -> Result<Member>,
) -> Result<(Vec<Member>, Vec<Record>)> {
    if !src.is_file() {
        return Err(StateError::Io {
            path: src.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let conn = Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| map_err(src, e))?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| map_err(src, e))?;
    if version > SCHEMA_VERSION {
        return Err(StateError::DatabaseTooNew { path: src.to_owned(), found: version, supported: SCHEMA_VERSION });
    }
    // Every version so far keeps properties, members and records (what an import reads) the
    // same way, so exports of older versions import as they are.
    if version < 1 {
        return Err(invalid(src, format!("not a peergroup database export (schema version {version})")));
    }
    // An import reads the whole file anyway, so check it whole first.
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| map_err(src, e))?;
    if check != "ok" {
        return Err(invalid(src, format!("integrity check failed: {check}")));
    }
    let props = read_properties(&conn, src)?;
    if &props.group_peer_name != group {
        return Err(invalid(src, format!("exported from group {}, not {group}", props.group_peer_name)));
    }
    let members = read_members(&conn, src)?;
    let mut keys: HashMap<PeerName, Vec<u8>> = HashMap::new();
    for m in &members {
        m.validate()?;
        keys.insert(m.peer_name.clone(), m.public_key.clone());
    }
    let mut stmt = conn.prepare("SELECT body FROM records ORDER BY rowid").map_err(|e| map_err(src, e))?;
    let bodies = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .map_err(|e| map_err(src, e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| map_err(src, e))?;
    let mut records = Vec::with_capacity(bodies.len());
    for body in bodies {
        let record = Record::decode(&body)?;
        let key = match keys.get(&record.modifier) {
            Some(k) => k.clone(),
            None => match known_member(&record.modifier) {
                Ok(m) => m.public_key,
                Err(StateError::MemberNotFound { .. }) => {
                    return Err(StateError::InvalidRecord {
                        id: Some(record.id),
                        reason: format!("modifier {} is not a member", record.modifier),
                    });
                }
                Err(e) => return Err(e),
            },
        };
        record.verify(&key)?;
        records.push(record);
    }
    Ok((members, records))
}
