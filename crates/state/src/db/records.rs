//! Records: add, update, delete (tombstones), read, search, and records from outside.

use std::path::Path;

use peergroup_identity::Identity;
use peergroup_security::trust::accept_record;
use peergroup_security::{SecurityError, VersionStamp, body_digest};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::feed::{purge_expired, push_change, push_change_from};
use super::{GroupDb, collect, invalid_db};
use crate::changes::{Change, Origin};
use crate::error::{Result, StateError};
use crate::record::{MAX_RECORD_DATA_LEN, NewRecord, RECORD_FLAG_DELETED, Record, RecordUpdate};
use crate::search::SearchQuery;
use crate::sqlite::map_err;
use crate::time::Timestamp;

impl GroupDb {
    /// Adds a record signed by `identity` (`PeerGroupAddRecord`). The id, version (1),
    /// creator, modifier and times are set here. Returns the stored record.
    pub fn add_record(&self, identity: &Identity, new: NewRecord) -> Result<Record> {
        check_data(&new.data)?;
        let now = Timestamp::now();
        if new.expires <= now {
            return Err(StateError::InvalidRecordExpiration {
                reason: format!("{} is not in the future", new.expires),
            });
        }
        let mut record = Record {
            record_type: new.record_type,
            // Time-ordered ids keep inserts at the end of the id index.
            id: Uuid::now_v7(),
            version: 1,
            flags: 0,
            creator: identity.peer_name().clone(),
            modifier: identity.peer_name().clone(),
            attributes: new.attributes,
            created: now,
            modified: now,
            expires: new.expires,
            data: new.data,
            signature: Vec::new(),
        };
        record.sign(identity)?;
        let path = &self.path;
        self.write(|tx| {
            store_record(tx, path, &record, None)?;
            push_change(tx, path, &Change::RecordAdded { id: record.id, record_type: record.record_type })
        })?;
        Ok(record)
    }

    /// Updates a record's attributes, data and expiration (`PeerGroupUpdateRecord`); the
    /// expiration may not move earlier. Signed by `identity`, version one more.
    pub fn update_record(&self, identity: &Identity, id: Uuid, update: RecordUpdate) -> Result<Record> {
        check_data(&update.data)?;
        self.change_record(identity, id, |current, now| {
            if update.expires < current.expires {
                return Err(StateError::InvalidRecordExpiration {
                    reason: format!("{} is earlier than the current expiration {}", update.expires, current.expires),
                });
            }
            if update.expires <= now {
                return Err(StateError::InvalidRecordExpiration {
                    reason: format!("{} is not in the future", update.expires),
                });
            }
            let mut next = current.clone();
            next.attributes = update.attributes.clone();
            next.data = update.data.clone();
            next.expires = update.expires;
            Ok(next)
        })
    }

    /// Deletes a record (`PeerGroupDeleteRecord`): a signed tombstone (flag
    /// [`RECORD_FLAG_DELETED`], no attributes, no data) replaces it until its expiration, so
    /// that the deletion replicates.
    pub fn delete_record(&self, identity: &Identity, id: Uuid) -> Result<()> {
        self.change_record(identity, id, |current, _| {
            let mut next = current.clone();
            next.flags |= RECORD_FLAG_DELETED;
            next.attributes = crate::attributes::Attributes::empty();
            next.data = Vec::new();
            Ok(next)
        })
        .map(|_| ())
    }

    /// Reads the live record, lets `edit` make the next version, signs it, and stores it if
    /// no other writer changed the record meanwhile (else starts again).
    fn change_record(
        &self,
        identity: &Identity,
        id: Uuid,
        mut edit: impl FnMut(&Record, Timestamp) -> Result<Record>,
    ) -> Result<Record> {
        let path = &self.path;
        loop {
            let current = self.record(id)?;
            let now = Timestamp::now();
            let mut next = edit(&current, now)?;
            next.version = current.version.checked_add(1).ok_or_else(|| StateError::InvalidRecord {
                id: Some(id),
                reason: "version cannot grow further".into(),
            })?;
            next.modifier = identity.peer_name().clone();
            // Modification times only move forward, even if the clock steps back.
            next.modified = now.max(Timestamp::from_micros(current.modified.as_micros().saturating_add(1)));
            next.sign(identity)?;
            let change = if next.is_deleted() {
                Change::RecordDeleted { id, record_type: next.record_type }
            } else {
                Change::RecordUpdated { id, record_type: next.record_type }
            };
            let stored = self.write(|tx| {
                let live = live_version(tx, path, id, Timestamp::now())?;
                match live {
                    Some((rowid, v)) if v == current.version => {
                        store_record(tx, path, &next, Some(rowid))?;
                        push_change(tx, path, &change)?;
                        Ok(true)
                    }
                    Some(_) => Ok(false),
                    None => Err(StateError::RecordNotFound { id }),
                }
            })?;
            if stored {
                return Ok(next);
            }
        }
    }

    /// A live record (`PeerGroupGetRecord`); [`StateError::RecordNotFound`] if there is none,
    /// or it was deleted or has expired. Records written by this user's processes are trusted:
    /// their signatures are not checked again on read.
    pub fn record(&self, id: Uuid) -> Result<Record> {
        let now = Timestamp::now().as_micros();
        self.read(|conn| {
            let body: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT body FROM records WHERE id = ?1 AND deleted = 0 AND expires > ?2",
                    params![id.as_bytes(), now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| map_err(&self.path, e))?;
            match body {
                Some(body) => decode_local(&self.path, &body),
                None => Err(StateError::RecordNotFound { id }),
            }
        })
    }

    /// A record or its tombstone, unless expired (for replication).
    pub fn record_or_tombstone(&self, id: Uuid) -> Result<Option<Record>> {
        let now = Timestamp::now().as_micros();
        self.read(|conn| {
            let body: Option<Vec<u8>> = conn
                .query_row(
                    "SELECT body FROM records WHERE id = ?1 AND expires > ?2",
                    params![id.as_bytes(), now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| map_err(&self.path, e))?;
            body.map(|b| decode_local(&self.path, &b)).transpose()
        })
    }

    /// Every live record, or those of one type (`PeerGroupEnumRecords`), in the order they
    /// were first stored.
    pub fn records(&self, record_type: Option<Uuid>) -> Result<Vec<Record>> {
        let now = Timestamp::now().as_micros();
        self.read(|conn| {
            let bodies: Vec<Vec<u8>> = match record_type {
                Some(t) => collect(
                    conn,
                    &self.path,
                    "SELECT body FROM records WHERE type = ?1 AND deleted = 0 AND expires > ?2 ORDER BY rowid",
                    params![t.as_bytes(), now],
                )?,
                None => collect(
                    conn,
                    &self.path,
                    "SELECT body FROM records WHERE deleted = 0 AND expires > ?1 ORDER BY rowid",
                    params![now],
                )?,
            };
            bodies.iter().map(|b| decode_local(&self.path, b)).collect()
        })
    }

    /// The live records matching a Windows `peersearch` query (`PeerGroupSearchRecords`),
    /// answered from the attribute indexes.
    pub fn search(&self, query: &str) -> Result<Vec<Record>> {
        let query = SearchQuery::parse(query)?;
        self.search_parsed(&query)
    }

    /// [`Self::search`] with a query parsed already.
    pub fn search_parsed(&self, query: &SearchQuery) -> Result<Vec<Record>> {
        let (condition, mut values) = query.to_sql();
        let now = Timestamp::now().as_micros();
        values.push(rusqlite::types::Value::Integer(now));
        let sql = format!(
            "SELECT body FROM records WHERE ({condition}) AND deleted = 0 AND expires > ?{} ORDER BY rowid",
            values.len()
        );
        self.read(|conn| {
            let bodies: Vec<Vec<u8>> = collect(conn, &self.path, &sql, rusqlite::params_from_iter(values.iter()))?;
            bodies.iter().map(|b| decode_local(&self.path, b)).collect()
        })
    }

    /// Stores a record from outside (another member): it must pass the trust path
    /// (`peergroup_security::trust::accept_record`: its modifier a member this database holds,
    /// its signature verifying with that member's key, the change allowed to that member by the
    /// policy); then it is stored if it is newer than the version held. Returns whether it was
    /// stored.
    pub fn apply_record(&self, record: &Record) -> Result<bool> {
        let modifier = match self.member(&record.modifier) {
            Ok(m) => Some(crate::export::from_store(&m)),
            Err(StateError::MemberNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let signed = record.signed_bytes();
        accept_record(&crate::export::claim_of(record, &signed), modifier.as_ref())?;
        let path = &self.path;
        match self.write(|tx| apply_verified(tx, path, record, &Origin::Local))? {
            Applied::Stored => Ok(true),
            Applied::Stale => Ok(false),
            Applied::Refused(e) => Err(e),
        }
    }

    /// Removes at most `limit` expired records now (writes do this in small batches on their
    /// own). Returns how many were removed.
    pub fn purge_expired(&self, limit: usize) -> Result<usize> {
        let path = &self.path;
        self.write(|tx| purge_expired(tx, path, Timestamp::now(), limit))
    }

    /// Stores many already-signed records in one transaction without re-signing
    /// (benchmark fixtures only: the records' signatures are not checked).
    #[doc(hidden)]
    pub fn bulk_insert_unchecked(&self, records: &[Record]) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            for r in records {
                store_record(tx, path, r, None)?;
            }
            Ok(())
        })
    }
}

pub(super) fn check_data(data: &[u8]) -> Result<()> {
    if data.len() > MAX_RECORD_DATA_LEN {
        return Err(StateError::MaxRecordSizeExceeded {
            what: "record data",
            size: data.len(),
            max: MAX_RECORD_DATA_LEN,
        });
    }
    Ok(())
}

/// Decodes a record read from the local database (trusted: not verified again).
pub(super) fn decode_local(path: &Path, body: &[u8]) -> Result<Record> {
    Record::decode(body).map_err(|e| invalid_db(path, format!("stored record does not decode: {e}")))
}

/// The row and version of the live (not deleted, not expired) record with this id.
pub(super) fn live_version(tx: &Connection, path: &Path, id: Uuid, now: Timestamp) -> Result<Option<(i64, u32)>> {
    tx.prepare_cached("SELECT rowid, version FROM records WHERE id = ?1 AND deleted = 0 AND expires > ?2")
        .and_then(|mut stmt| stmt.query_row(params![id.as_bytes(), now.as_micros()], |r| Ok((r.get(0)?, r.get(1)?))))
        .optional()
        .map_err(|e| map_err(path, e))
}

/// What [`apply_verified`] did with a record verified already.
#[derive(Debug)]
pub(crate) enum Applied {
    /// Stored: it is new here, or its version supersedes the one held.
    Stored,
    /// Not stored: expired, or the version held is the same or supersedes it.
    Stale,
    /// Not stored: it claims another creator or type than the record held under its id.
    Refused(StateError),
}

/// The place of a record's version in the one total order of versions. `body` is its
/// replicated encoding ([`Record::encode`]), whose digest is the last tie-breaker.
pub(crate) fn record_stamp(record: &Record, body: &[u8]) -> VersionStamp {
    VersionStamp {
        deleted: record.is_deleted(),
        version: record.version,
        modified_micros: record.modified.as_micros(),
        modifier: record.modifier.to_string().into_bytes(),
        digest: body_digest(body),
    }
}

/// The stamp of a stored row, from its columns: `(version, deleted, modified, modifier,
/// digest)`, the digest computed from `body` for rows written before schema version 3.
pub(crate) type StampColumns = (u32, bool, i64, String, Option<Vec<u8>>);

pub(crate) fn stamp_of_row(
    path: &Path,
    columns: StampColumns,
    body: impl FnOnce() -> Result<Vec<u8>>,
) -> Result<VersionStamp> {
    let (version, deleted, modified_micros, modifier, digest) = columns;
    let digest = match digest {
        Some(d) => {
            <[u8; 32]>::try_from(d.as_slice()).map_err(|_| invalid_db(path, "a record digest is not 32 bytes"))?
        }
        None => body_digest(&body()?),
    };
    Ok(VersionStamp { deleted, version, modified_micros, modifier: modifier.into_bytes(), digest })
}

/// Stores a record verified already if its version supersedes the one held (the one total
/// order of [`VersionStamp`]: a tombstone is never replaced, and two members that receive the
/// same versions in any order keep the same one); pushes its change, marked with `origin`.
pub(super) fn apply_verified(tx: &Connection, path: &Path, record: &Record, origin: &Origin) -> Result<Applied> {
    let body = record.encode();
    let stamp = record_stamp(record, &body);
    apply_encoded(tx, path, record, &body, &stamp, origin)
}

/// [`apply_verified`] with the record's encoding (`body`, [`Record::encode`]) and its stamp
/// computed already.
pub(super) fn apply_encoded(
    tx: &Connection,
    path: &Path,
    record: &Record,
    body: &[u8],
    stamp: &VersionStamp,
    origin: &Origin,
) -> Result<Applied> {
    let now = Timestamp::now();
    if record.expires <= now {
        return Ok(Applied::Stale);
    }
    type Held = (i64, StampColumns, String, Vec<u8>);
    let held: Option<Held> = tx
        .prepare_cached(
            "SELECT rowid, version, deleted, modified, modifier, digest, creator, type FROM records WHERE id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([record.id.as_bytes()], |r| {
                Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?), r.get(6)?, r.get(7)?))
            })
        })
        .optional()
        .map_err(|e| map_err(path, e))?;
    // The policy judged the change by the creator and type the record claims; a version of a
    // record held here must claim the held ones, or a member could take over another member's
    // record by signing "its own" record under that id.
    if let Some((_, _, creator, record_type)) = &held
        && (*creator != record.creator.to_string() || record_type.as_slice() != record.record_type.as_bytes())
    {
        return Ok(Applied::Refused(
            SecurityError::RecordNotTrusted {
                id: record.id,
                reason: format!(
                    "it claims creator {} and type {}, but the record held under its id is {creator}'s, of type {}",
                    record.creator,
                    record.record_type,
                    Uuid::from_slice(record_type).map_or_else(|_| "?".to_owned(), |t| t.to_string())
                ),
            }
            .into(),
        ));
    }
    let held = match held {
        Some((rowid, columns, _, _)) => {
            let held_stamp = stamp_of_row(path, columns, || {
                tx.prepare_cached("SELECT body FROM records WHERE rowid = ?1")
                    .and_then(|mut stmt| stmt.query_row([rowid], |r| r.get(0)))
                    .map_err(|e| map_err(path, e))
            })?;
            if !stamp.supersedes(&held_stamp) {
                return Ok(Applied::Stale);
            }
            Some((rowid, held_stamp.deleted))
        }
        None => None,
    };
    let change = match held {
        _ if record.is_deleted() => Change::RecordDeleted { id: record.id, record_type: record.record_type },
        Some(_) => Change::RecordUpdated { id: record.id, record_type: record.record_type },
        None => Change::RecordAdded { id: record.id, record_type: record.record_type },
    };
    store_encoded(tx, path, record, body, &stamp.digest, held.map(|(rowid, _)| rowid))?;
    // A tombstone that replaces a tombstone (a later deletion of a deleted record) is no news.
    if !matches!(held, Some((_, true))) {
        push_change_from(tx, path, &change, origin)?;
    }
    Ok(Applied::Stored)
}

/// Inserts a record row and its attribute index rows, or replaces the row `replaces` (of the
/// same id) and its attribute rows.
pub(super) fn store_record(tx: &Connection, path: &Path, record: &Record, replaces: Option<i64>) -> Result<()> {
    let body = record.encode();
    store_encoded(tx, path, record, &body, &body_digest(&body), replaces)
}

/// [`store_record`] with the record's encoding and its digest computed already.
fn store_encoded(
    tx: &Connection,
    path: &Path,
    record: &Record,
    body: &[u8],
    digest: &[u8; 32],
    replaces: Option<i64>,
) -> Result<()> {
    let e = |e| map_err(path, e);
    let (creator, modifier) = (record.creator.to_string(), record.modifier.to_string());
    let digest = digest.as_slice();
    // ?1 to ?11 for both statements; the update also names the row (?12).
    let columns = params![
        record.id.as_bytes(),
        record.record_type.as_bytes(),
        record.version,
        record.is_deleted(),
        record.expires.as_micros(),
        creator,
        modifier,
        record.created.as_micros(),
        record.modified.as_micros(),
        body,
        digest,
    ];
    let rowid: i64 = if let Some(rowid) = replaces {
        let old_body: Vec<u8> = tx
            .prepare_cached("SELECT body FROM records WHERE rowid = ?1")
            .and_then(|mut stmt| stmt.query_row([rowid], |r| r.get(0)))
            .map_err(e)?;
        delete_attribute_rows(tx, path, rowid, &decode_local(path, &old_body)?)?;
        tx.prepare_cached(
            "UPDATE records SET (type, version, deleted, expires, creator, modifier, created, modified, body, digest) =
                (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) WHERE rowid = ?12 AND id = ?1",
        )
        .map_err(e)?
        .execute(rusqlite::params_from_iter(columns.iter().copied().chain([&rowid as &dyn rusqlite::ToSql])))
        .map_err(e)?;
        rowid
    } else {
        tx.prepare_cached(
            "INSERT INTO records (id, type, version, deleted, expires, creator, modifier, created, modified, body, digest)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .map_err(e)?
        .execute(columns)
        .map_err(e)?;
        tx.last_insert_rowid()
    };
    if record.is_deleted() {
        return Ok(());
    }
    let mut stmt =
        tx.prepare_cached("INSERT INTO attributes (name, kind, value, record) VALUES (?1, ?2, ?3, ?4)").map_err(e)?;
    // The reserved attributes are columns of `records`; only the record's own are rows here.
    for a in &record.attributes {
        stmt.execute(params![a.name, a.value.kind().code(), attribute_sql_value(&a.value), rowid]).map_err(e)?;
    }
    Ok(())
}

/// Removes the attribute index rows of the record stored at `rowid` (its attributes as held).
pub(super) fn delete_attribute_rows(tx: &Connection, path: &Path, rowid: i64, held: &Record) -> Result<()> {
    let mut stmt = tx
        .prepare_cached("DELETE FROM attributes WHERE name = ?1 AND kind = ?2 AND value = ?3 AND record = ?4")
        .map_err(|e| map_err(path, e))?;
    for a in &held.attributes {
        stmt.execute(params![a.name, a.value.kind().code(), attribute_sql_value(&a.value), rowid])
            .map_err(|e| map_err(path, e))?;
    }
    Ok(())
}

/// How an attribute value is stored in the `attributes` index: text for strings, integers
/// for ints and dates (microseconds); the `kind` column keeps the types apart.
pub(crate) fn attribute_sql_value(value: &crate::AttributeValue) -> rusqlite::types::ToSqlOutput<'_> {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    match value {
        crate::AttributeValue::String(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        crate::AttributeValue::Int(i) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*i)),
        crate::AttributeValue::Date(t) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(t.as_micros())),
    }
}
