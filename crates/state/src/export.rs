//! Export of a group database to one file, and reading such a file back through the trust
//! path (`PeerGroupExportDatabase` / `PeerGroupImportDatabase`): a file is outside input, so
//! every member it declares must hold a certificate chain to the group's root, and every record
//! must be signed by an accepted member whom the policy allows that change
//! (`peergroup_security::trust`).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use std::time::SystemTime;

use peergroup_identity::PeerName;
use peergroup_identity::x509::{from_pem, to_pem};
use peergroup_security::trust::{AcceptedMember, RecordClaim, accept_member, accept_record};
use peergroup_security::{Role, SecurityError};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

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
             DELETE FROM blobs; DELETE FROM changes; DELETE FROM status_writes;
             DELETE FROM direct_requests; DELETE FROM inbox; DELETE FROM connection_ids;
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

/// Opens an exported file read-only, checks it whole, and returns the members to store and
/// every record, all through the trust path at `now`. A member the file declares is accepted
/// when this database holds the very same entry already (`known_member`), else only with a
/// certificate chain to the group's root that ends with its own key and roles; a record only
/// when its modifier is an accepted member (of the file or of this database), its signature
/// verifies and the policy allows the change. One refusal refuses the whole file.
pub(crate) fn read_verified(
    src: &Path,
    group: &PeerName,
    known_member: impl Fn(&PeerName) -> Result<Option<Member>>,
    now: SystemTime,
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
    // The file's schema is outside input too: a view in place of a table could make reading it
    // run without bound before anything is verified. What an import reads must be plain tables.
    for table in ["properties", "members", "records"] {
        let kind: Option<String> = conn
            .query_row("SELECT type FROM sqlite_master WHERE name = ?1", [table], |r| r.get(0))
            .optional()
            .map_err(|e| map_err(src, e))?;
        if kind.as_deref() != Some("table") {
            return Err(invalid(
                src,
                format!("{table} is not a table (found {})", kind.as_deref().unwrap_or("nothing")),
            ));
        }
    }
    let props = read_properties(&conn, src)?;
    if &props.group_peer_name != group {
        return Err(invalid(src, format!("exported from group {}, not {group}", props.group_peer_name)));
    }
    let declared = read_members(&conn, src)?;
    let mut accepted: HashMap<PeerName, AcceptedMember> = HashMap::new();
    let mut members = Vec::with_capacity(declared.len());
    for m in declared {
        m.validate()?;
        let entry = if known_member(&m.peer_name)?.as_ref() == Some(&m) {
            from_store(&m)
        } else {
            let accepted = accept_declared(group, &m, now)?;
            members.push(stored_entry(&accepted));
            accepted
        };
        accepted.insert(entry.peer_name().clone(), entry);
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
        if !accepted.contains_key(&record.modifier)
            && let Some(m) = known_member(&record.modifier)?
        {
            accepted.insert(m.peer_name.clone(), from_store(&m));
        }
        accept_record(&claim_of(&record, &record.signed_bytes()), accepted.get(&record.modifier))?;
        records.push(record);
    }
    Ok((members, records))
}

/// A member this database holds: accepted when it was stored.
pub(crate) fn from_store(m: &Member) -> AcceptedMember {
    AcceptedMember::from_store(m.peer_name.clone(), m.friendly_name.clone(), m.public_key.clone(), &m.roles)
}

/// What the trust path checks of a record: `signed` is its [`Record::signed_bytes`].
pub(crate) fn claim_of<'a>(record: &'a Record, signed: &'a [u8]) -> RecordClaim<'a> {
    RecordClaim {
        id: record.id,
        record_type: record.record_type,
        version: record.version,
        deleted: record.is_deleted(),
        creator: &record.creator,
        modifier: &record.modifier,
        signed,
        signature: &record.signature,
    }
}

/// The entry stored for a member accepted from a file: built from what its chain proves (name,
/// friendly name, key, roles, the chain re-encoded), never from the file's other fields, which
/// nothing signs; flags (presence) are this host's to set, so none.
pub(crate) fn stored_entry(accepted: &AcceptedMember) -> Member {
    let chain = accepted.chain().map(|c| c.to_der()).unwrap_or_default();
    Member {
        peer_name: accepted.peer_name().clone(),
        friendly_name: accepted.friendly_name().to_owned(),
        public_key: accepted.public_key().to_vec(),
        certificate: chain.iter().map(|der| to_pem("CERTIFICATE", der)).collect::<String>().into_bytes(),
        roles: accepted.roles().iter().map(|r| r.guid()).collect(),
        flags: 0,
    }
}

/// Accepts a member declared by a file: its certificate field must be its chain (PEM, root
/// first) to the group's root, for its key and with its roles.
fn accept_declared(group: &PeerName, m: &Member, now: SystemTime) -> Result<AcceptedMember> {
    let refuse = |reason: String| SecurityError::MemberNotTrusted { member: m.peer_name.to_string(), reason };
    let text =
        std::str::from_utf8(&m.certificate).map_err(|_| refuse("its certificate chain is not PEM text".into()))?;
    let chain = from_pem("CERTIFICATE", text).map_err(|e| refuse(format!("its certificate chain: {e}")))?;
    let accepted = accept_member(group, &m.peer_name, &chain, now)?;
    if accepted.public_key() != m.public_key.as_slice() {
        return Err(refuse("its key is not the key of its certificate".into()).into());
    }
    let roles: Vec<uuid::Uuid> = accepted.roles().iter().map(|r: &Role| r.guid()).collect();
    if roles != m.roles {
        return Err(refuse("its roles are not those of its certificate".into()).into());
    }
    Ok(accepted)
}
