//! A handle on one group database: properties, members, records, search, change feed,
//! export and import. Each handle has its own SQLite connection; any number of handles in
//! any number of processes may be open on one group at once.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use peergroup_identity::{Identity, PeerName};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use crate::changes::{Change, ChangeEvent, Watcher};
use crate::error::{Result, StateError};
use crate::properties::{GroupProperties, Member};
use crate::record::{MAX_RECORD_DATA_LEN, NewRecord, RECORD_FLAG_DELETED, Record, RecordUpdate};
use crate::search::SearchQuery;
use crate::sqlite::{Access, Durability, WriteTx, check_schema, map_err, open_connection, retry};
use crate::time::Timestamp;

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

fn invalid_db(path: &Path, reason: impl Into<String>) -> StateError {
    StateError::InvalidDatabase { path: path.to_owned(), reason: reason.into() }
}

/// The properties a user may change (`PeerGroupSetProperties`), in the order of
/// [`settable_values`].
const SETTABLE_PROPERTIES: &str = "creator, friendly_name, comment, cloud_name, cloud_scope, cloud_flags, \
    member_data_lifetime, presence_lifetime, flags, authentication_schemes, password_role";

fn settable_values(props: &GroupProperties) -> [rusqlite::types::Value; 11] {
    [
        props.creator.to_string().into(),
        props.friendly_name.clone().into(),
        props.comment.clone().into(),
        props.cloud_name.clone().into(),
        props.cloud_scope.into(),
        props.cloud_flags.into(),
        props.member_data_lifetime.into(),
        props.presence_lifetime.into(),
        props.flags.into(),
        props.authentication_schemes.into(),
        props.password_role.map(|u| u.as_bytes().to_vec()).into(),
    ]
}

/// A peer name read from the database at `path`.
fn stored_name(path: &Path, s: &str) -> Result<PeerName> {
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
        check_schema(&mut conn, path, access)?;
        let (group_name, identity, deleted): (String, String, bool) = retry(path, || {
            conn.query_row("SELECT group_peer_name, identity, deleted FROM properties WHERE id = 1", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(|e| map_err(path, e))?
            .ok_or_else(|| invalid_db(path, "no properties row"))
        })?;
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

    // ---------------------------------------------------------------- properties

    /// The group properties (`PeerGroupGetProperties`).
    pub fn properties(&self) -> Result<GroupProperties> {
        self.read(|conn| read_properties(conn, &self.path))
    }

    /// Replaces the group properties (`PeerGroupSetProperties`). The group peer name and
    /// classifier cannot change; `version` is set to one more than the stored one. Returns
    /// the properties as stored.
    pub fn set_properties(&self, props: &GroupProperties) -> Result<GroupProperties> {
        props.validate()?;
        if props.group_peer_name != self.group {
            return Err(StateError::InvalidGroupProperties {
                reason: format!(
                    "the group peer name cannot change (is {}, given {})",
                    self.group, props.group_peer_name
                ),
            });
        }
        let path = &self.path;
        self.write(|tx| {
            let version: u32 = tx
                .query_row("SELECT version FROM properties WHERE id = 1", [], |r| r.get(0))
                .map_err(|e| map_err(path, e))?;
            let version = version.saturating_add(1);
            tx.execute(
                &format!(
                    "UPDATE properties SET ({SETTABLE_PROPERTIES}) = (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11),
                        version = ?12 WHERE id = 1"
                ),
                rusqlite::params_from_iter(settable_values(props).into_iter().chain([version.into()])),
            )
            .map_err(|e| map_err(path, e))?;
            push_change(tx, path, &Change::PropertiesChanged)?;
            read_properties(tx, path)
        })
    }

    // ---------------------------------------------------------------- blobs

    /// A named value the security layer keeps with the group (root certificate, password
    /// verifier, ...), if set. Not exported by [`Self::export`].
    pub fn get_blob(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.read(|conn| {
            conn.query_row("SELECT value FROM blobs WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(|e| map_err(&self.path, e))
        })
    }

    /// Sets a named value (see [`Self::get_blob`]).
    pub fn put_blob(&self, name: &str, value: &[u8]) -> Result<()> {
        self.write(|tx| {
            tx.execute("INSERT OR REPLACE INTO blobs (name, value) VALUES (?1, ?2)", params![name, value])
                .map_err(|e| map_err(&self.path, e))?;
            Ok(())
        })
    }

    /// Sets a named value and appends [`Change::StatusChanged`] in the same transaction, so
    /// that every watcher, in every process, learns that the status it holds changed.
    pub fn put_status_blob(&self, name: &str, value: &[u8]) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            tx.execute("INSERT OR REPLACE INTO blobs (name, value) VALUES (?1, ?2)", params![name, value])
                .map_err(|e| map_err(path, e))?;
            push_change(tx, path, &Change::StatusChanged)
        })
    }

    // ---------------------------------------------------------------- members

    /// Adds or replaces a member (the key must own the member's peer name). Watchers see
    /// [`Change::MemberChanged`].
    pub fn put_member(&self, member: &Member) -> Result<()> {
        member.validate()?;
        let path = &self.path;
        self.write(|tx| put_member_tx(tx, path, member))
    }

    /// Removes a member; [`StateError::MemberNotFound`] if there is none of that name.
    pub fn remove_member(&self, peer_name: &PeerName) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            let n = tx
                .execute("DELETE FROM members WHERE peer_name = ?1", [peer_name.to_string()])
                .map_err(|e| map_err(path, e))?;
            if n == 0 {
                return Err(StateError::MemberNotFound { peer_name: peer_name.to_string() });
            }
            push_change(tx, path, &Change::MemberChanged { peer_name: peer_name.clone() })
        })
    }

    /// One member.
    pub fn member(&self, peer_name: &PeerName) -> Result<Member> {
        self.read(|conn| {
            read_member_tx(conn, &self.path, peer_name)?
                .ok_or_else(|| StateError::MemberNotFound { peer_name: peer_name.to_string() })
        })
    }

    /// Every member, sorted by peer name.
    pub fn members(&self) -> Result<Vec<Member>> {
        self.read(|conn| read_members(conn, &self.path))
    }

    // ---------------------------------------------------------------- records

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

    /// Stores a record from an untrusted source (another member, an import): verifies its
    /// signature with its modifier's key from the members table, then stores it if it is newer
    /// than the version held. Returns whether it was stored.
    pub fn apply_record(&self, record: &Record) -> Result<bool> {
        let member = match self.member(&record.modifier) {
            Ok(m) => m,
            Err(StateError::MemberNotFound { .. }) => {
                return Err(StateError::InvalidRecord {
                    id: Some(record.id),
                    reason: format!("modifier {} is not a member", record.modifier),
                });
            }
            Err(e) => return Err(e),
        };
        record.verify(&member.public_key)?;
        let path = &self.path;
        self.write(|tx| apply_verified(tx, path, record))
    }

    /// Removes at most `limit` expired records now (writes do this in small batches on their
    /// own). Returns how many were removed.
    pub fn purge_expired(&self, limit: usize) -> Result<usize> {
        let path = &self.path;
        self.write(|tx| purge_expired(tx, path, Timestamp::now(), limit))
    }

    // ---------------------------------------------------------------- change feed

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

    // ---------------------------------------------------------------- export / import

    /// Writes the whole database (properties, members, records and tombstones; not the
    /// security layer's blobs, not the change feed) to one new file at `dest`
    /// (`PeerGroupExportDatabase`). The file is created with mode 0600 and must not exist.
    pub fn export(&self, dest: &Path) -> Result<()> {
        crate::export::export(self, dest)
    }

    /// Merges a file written by [`Self::export`] into this database
    /// (`PeerGroupImportDatabase`). Every record's signature is verified with its modifier's
    /// key before anything is stored; one bad record refuses the whole file.
    pub fn import(&self, src: &Path) -> Result<ImportSummary> {
        let (members, records) = crate::export::read_verified(src, &self.group, |name| self.member(name))?;
        let path = &self.path;
        self.write(|tx| {
            let mut summary = ImportSummary::default();
            for member in &members {
                let existing = read_member_tx(tx, path, &member.peer_name)?;
                if existing.as_ref() != Some(member) {
                    put_member_tx(tx, path, member)?;
                    summary.members_applied += 1;
                }
            }
            for record in &records {
                if apply_verified(tx, path, record)? {
                    summary.records_applied += 1;
                } else {
                    summary.records_skipped += 1;
                }
            }
            Ok(summary)
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

const MEMBER_COLUMNS: &str = "SELECT peer_name, friendly_name, public_key, certificate, roles, flags FROM members";

type RawMember = (String, String, Vec<u8>, Vec<u8>, Vec<u8>, u32);

fn raw_member(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMember> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn member_from_raw(path: &Path, raw: RawMember) -> Result<Member> {
    let (name, friendly_name, public_key, certificate, roles, flags) = raw;
    let peer_name = PeerName::parse(&name).map_err(|e| invalid_db(path, format!("member {name:?}: {e}")))?;
    if roles.len() % 16 != 0 {
        return Err(invalid_db(path, format!("member {name}: roles are not whole UUIDs")));
    }
    let roles = roles.chunks_exact(16).filter_map(|c| Uuid::from_slice(c).ok()).collect();
    Ok(Member { peer_name, friendly_name, public_key, certificate, roles, flags })
}

pub(crate) fn read_members(conn: &Connection, path: &Path) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare(&format!("{MEMBER_COLUMNS} ORDER BY peer_name")).map_err(|e| map_err(path, e))?;
    let raws = stmt
        .query_map([], raw_member)
        .map_err(|e| map_err(path, e))?
        .collect::<rusqlite::Result<Vec<_>>>()
        .map_err(|e| map_err(path, e))?;
    raws.into_iter().map(|raw| member_from_raw(path, raw)).collect()
}

fn read_member_tx(tx: &Connection, path: &Path, name: &PeerName) -> Result<Option<Member>> {
    tx.query_row(&format!("{MEMBER_COLUMNS} WHERE peer_name = ?1"), [name.to_string()], raw_member)
        .optional()
        .map_err(|e| map_err(path, e))?
        .map(|raw| member_from_raw(path, raw))
        .transpose()
}

fn put_member_tx(tx: &Connection, path: &Path, member: &Member) -> Result<()> {
    let roles: Vec<u8> = member.roles.iter().flat_map(|r| *r.as_bytes()).collect();
    tx.execute(
        "INSERT OR REPLACE INTO members (peer_name, friendly_name, public_key, certificate, roles, flags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            member.peer_name.to_string(),
            member.friendly_name,
            member.public_key,
            member.certificate,
            roles,
            member.flags
        ],
    )
    .map_err(|e| map_err(path, e))?;
    push_change(tx, path, &Change::MemberChanged { peer_name: member.peer_name.clone() })
}

pub(crate) fn read_properties(conn: &Connection, path: &Path) -> Result<GroupProperties> {
    type Raw =
        (String, String, String, String, String, Option<String>, u32, u32, u32, u32, u32, u32, Option<Vec<u8>>, u32);
    let raw: Raw = conn
        .query_row(
            "SELECT group_peer_name, classifier, creator, friendly_name, comment, cloud_name, cloud_scope,
                cloud_flags, member_data_lifetime, presence_lifetime, flags, authentication_schemes,
                password_role, version FROM properties WHERE id = 1",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                ))
            },
        )
        .optional()
        .map_err(|e| map_err(path, e))?
        .ok_or_else(|| invalid_db(path, "no properties row"))?;
    Ok(GroupProperties {
        group_peer_name: stored_name(path, &raw.0)?,
        classifier: raw.1,
        creator: stored_name(path, &raw.2)?,
        friendly_name: raw.3,
        comment: raw.4,
        cloud_name: raw.5,
        cloud_scope: raw.6,
        cloud_flags: raw.7,
        member_data_lifetime: raw.8,
        presence_lifetime: raw.9,
        flags: raw.10,
        authentication_schemes: raw.11,
        password_role: raw.12.and_then(|b| Uuid::from_slice(&b).ok()),
        version: raw.13,
    })
}

fn check_data(data: &[u8]) -> Result<()> {
    if data.len() > MAX_RECORD_DATA_LEN {
        return Err(StateError::MaxRecordSizeExceeded {
            what: "record data",
            size: data.len(),
            max: MAX_RECORD_DATA_LEN,
        });
    }
    Ok(())
}

fn collect<T: rusqlite::types::FromSql, P: rusqlite::Params>(
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

/// Decodes a record read from the local database (trusted: not verified again).
fn decode_local(path: &Path, body: &[u8]) -> Result<Record> {
    Record::decode(body).map_err(|e| invalid_db(path, format!("stored record does not decode: {e}")))
}

pub(crate) fn last_seq(conn: &Connection, path: &Path) -> Result<u64> {
    let seq: Option<i64> =
        conn.query_row("SELECT max(seq) FROM changes", [], |r| r.get(0)).map_err(|e| map_err(path, e))?;
    Ok(seq.unwrap_or(0).max(0).unsigned_abs())
}

/// The row and version of the live (not deleted, not expired) record with this id.
fn live_version(tx: &Connection, path: &Path, id: Uuid, now: Timestamp) -> Result<Option<(i64, u32)>> {
    tx.prepare_cached("SELECT rowid, version FROM records WHERE id = ?1 AND deleted = 0 AND expires > ?2")
        .and_then(|mut stmt| stmt.query_row(params![id.as_bytes(), now.as_micros()], |r| Ok((r.get(0)?, r.get(1)?))))
        .optional()
        .map_err(|e| map_err(path, e))
}

/// Stores a record verified already if it is newer than what is held; pushes its change.
fn apply_verified(tx: &Connection, path: &Path, record: &Record) -> Result<bool> {
    let now = Timestamp::now();
    if record.expires <= now {
        return Ok(false);
    }
    let held: Option<(i64, u32, bool)> = tx
        .prepare_cached("SELECT rowid, version, deleted FROM records WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([record.id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))))
        .optional()
        .map_err(|e| map_err(path, e))?;
    let change = match held {
        Some((_, v, _)) if v >= record.version => return Ok(false),
        Some((_, _, true)) => return Ok(false),
        _ if record.is_deleted() => Change::RecordDeleted { id: record.id, record_type: record.record_type },
        Some(_) => Change::RecordUpdated { id: record.id, record_type: record.record_type },
        None => Change::RecordAdded { id: record.id, record_type: record.record_type },
    };
    store_record(tx, path, record, held.map(|(rowid, _, _)| rowid))?;
    push_change(tx, path, &change)?;
    Ok(true)
}

/// Inserts or replaces a record row and its attribute index rows.
/// Inserts a record row and its attribute index rows, or replaces the row `replaces` (of the
/// same id) and its attribute rows.
fn store_record(tx: &Connection, path: &Path, record: &Record, replaces: Option<i64>) -> Result<()> {
    let e = |e| map_err(path, e);
    let (creator, modifier) = (record.creator.to_string(), record.modifier.to_string());
    let body = record.encode();
    // ?1 to ?10 for both statements; the update also names the row (?11).
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
    ];
    let rowid: i64 = if let Some(rowid) = replaces {
        let old_body: Vec<u8> = tx
            .prepare_cached("SELECT body FROM records WHERE rowid = ?1")
            .and_then(|mut stmt| stmt.query_row([rowid], |r| r.get(0)))
            .map_err(e)?;
        delete_attribute_rows(tx, path, rowid, &decode_local(path, &old_body)?)?;
        tx.prepare_cached(
            "UPDATE records SET (type, version, deleted, expires, creator, modifier, created, modified, body) =
                (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) WHERE rowid = ?11 AND id = ?1",
        )
        .map_err(e)?
        .execute(rusqlite::params_from_iter(columns.iter().copied().chain([&rowid as &dyn rusqlite::ToSql])))
        .map_err(e)?;
        rowid
    } else {
        tx.prepare_cached(
            "INSERT INTO records (id, type, version, deleted, expires, creator, modifier, created, modified, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
fn delete_attribute_rows(tx: &Connection, path: &Path, rowid: i64, held: &Record) -> Result<()> {
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

/// Appends a change to the feed, in the caller's transaction, and prunes the feed every
/// [`crate::FEED_PRUNE_EVERY`] changes (see [`crate::changes`]).
pub(crate) fn push_change(tx: &Connection, path: &Path, change: &Change) -> Result<()> {
    // A resync is made by watchers and never stored.
    let Some((kind, id, record_type, peer)) = change.to_row() else { return Ok(()) };
    tx.prepare_cached("INSERT INTO changes (kind, record_id, record_type, peer_name) VALUES (?1, ?2, ?3, ?4)")
        .map_err(|e| map_err(path, e))?
        .execute(params![kind, id, record_type, peer])
        .map_err(|e| map_err(path, e))?;
    let seq = tx.last_insert_rowid().unsigned_abs();
    if seq.is_multiple_of(crate::FEED_PRUNE_EVERY) {
        crate::changes::prune(tx, path, seq, crate::FEED_RETAINED)?;
    }
    Ok(())
}
