//! The store side of replication: the items held and their versions, their bodies, and
//! batches of items from another member applied in one transaction (types in
//! `crate::replication`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

use peergroup_identity::PeerName;
use peergroup_identity::x509::from_pem;
use peergroup_security::trust::{AcceptedMember, PropertiesClaim, accept_member, accept_properties, accept_record};
use peergroup_security::{GroupProperties, SecurityError, ValidatedChain, VersionStamp, body_digest, validate_chain};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::feed::push_change_from;
use super::members::{put_member_from, read_member_tx};
use super::properties::{held_signed, store_signed};
use super::records::{Applied, StampColumns, apply_encoded, record_stamp, stamp_of_row};
use super::{GroupDb, invalid_db};
use crate::changes::{Change, MAX_ORIGIN_LEN, Origin};
use crate::error::{Result, StateError};
use crate::export::{claim_of, from_store, stored_entry};
use crate::properties::Member;
use crate::record::Record;
use crate::replication::{BatchOutcome, MAX_MEMBER_ITEM_LEN, Refusal, SyncEntry, SyncItem, SyncKind};
use crate::signed_properties;
use crate::sqlite::map_err;
use crate::time::Timestamp;

/// A batch whose items went through the trust path ([`GroupDb::check_batch`]), waiting for
/// [`GroupDb::store_checked`]. It holds no lock and may move to another thread; made by
/// [`GroupDb::check_owned`], it owns its items too.
pub struct CheckedBatch<'a> {
    items: Cow<'a, [SyncItem]>,
    verified: Vec<Verified>,
    outcome: BatchOutcome,
}

impl CheckedBatch<'_> {
    /// How many items the batch holds.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the batch holds no item.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether member entries of the batch passed the trust path: until it is stored, the
    /// records of a later batch that they signed would be refused.
    pub(crate) fn has_members(&self) -> bool {
        self.verified.iter().any(|v| matches!(v, Verified::Member { .. }))
    }
}

impl std::fmt::Debug for CheckedBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedBatch")
            .field("items", &self.items.len())
            .field("passed", &self.verified.len())
            .field("refused", &self.outcome.refused.len())
            .finish_non_exhaustive()
    }
}

/// An item of a batch that passed the trust path, waiting for the write transaction.
enum Verified {
    Member { index: usize, entry: Member, stamp: VersionStamp },
    Record { index: usize, record: Record, stamp: VersionStamp },
    Properties { index: usize, props: GroupProperties, stamp: VersionStamp },
}

impl GroupDb {
    /// Every replicated item this database holds, with the version held: records and their
    /// tombstones (not expired ones) and member entries whose certificate chain this database
    /// holds (members stored without one, as some tests do, are not replicated), and the group
    /// properties once they are held in their signed form (after the first
    /// `PeerGroupSetProperties` anywhere in the group: a group's creation leaves them unsigned,
    /// and none is listed until then). Reads no record body (the digest is a column) except
    /// for rows written before schema version 3.
    pub fn sync_entries(&self) -> Result<Vec<SyncEntry>> {
        let now = Timestamp::now().as_micros();
        let path = &self.path;
        self.read_snapshot(|conn| {
            let e = |e| map_err(path, e);
            let mut out = Vec::new();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT rowid, id, version, deleted, modified, modifier, digest FROM records WHERE expires > ?1",
                )
                .map_err(e)?;
            let mut rows = stmt.query([now]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let rowid: i64 = r.get(0).map_err(e)?;
                let id: Vec<u8> = r.get(1).map_err(e)?;
                let columns: StampColumns = (
                    r.get(2).map_err(e)?,
                    r.get(3).map_err(e)?,
                    r.get(4).map_err(e)?,
                    r.get(5).map_err(e)?,
                    r.get(6).map_err(e)?,
                );
                let stamp = stamp_of_row(path, columns, || body_of(conn, path, rowid))?;
                out.push(SyncEntry { kind: SyncKind::Record, id, stamp });
            }
            out.extend(self.signer_entries(conn)?);
            Ok(out)
        })
    }

    /// What the reconciled set needs of [`Self::sync_entries`]: each item's kind, natural id
    /// and version digest, lent to `each` one at a time, with no allocation per record (a
    /// member of a million records builds its set from them; `sync_entries` would hold them
    /// all, with their versions). The read is one snapshot; when the database was locked and
    /// the read starts again, `restart` is called first.
    pub fn sync_digests_with(
        &self,
        mut each: impl FnMut(SyncKind, &[u8], &[u8; 32]),
        mut restart: impl FnMut(),
    ) -> Result<()> {
        let now = Timestamp::now().as_micros();
        let path = &self.path;
        let mut started = false;
        self.read_snapshot(|conn| {
            if std::mem::replace(&mut started, true) {
                restart();
            }
            let e = |e| map_err(path, e);
            let not_blob = |what: &str| invalid_db(path, format!("a record's {what} is not a blob"));
            let mut stmt =
                conn.prepare_cached("SELECT rowid, id, digest FROM records WHERE expires > ?1").map_err(e)?;
            let mut rows = stmt.query([now]).map_err(e)?;
            while let Some(r) = rows.next().map_err(e)? {
                let id = r.get_ref(1).map_err(e)?.as_blob().map_err(|_| not_blob("id"))?;
                let digest = match r.get_ref(2).map_err(e)? {
                    ValueRef::Null => body_digest(&body_of(conn, path, r.get(0).map_err(e)?)?),
                    ValueRef::Blob(d) => {
                        <[u8; 32]>::try_from(d).map_err(|_| invalid_db(path, "a record digest is not 32 bytes"))?
                    }
                    _ => return Err(not_blob("digest")),
                };
                each(SyncKind::Record, id, &digest);
            }
            for entry in self.signer_entries(conn)? {
                each(entry.kind, &entry.id, &entry.stamp.digest);
            }
            Ok(())
        })
    }

    /// The member entries and the signed properties held (see [`Self::sync_entries`]).
    fn signer_entries(&self, conn: &Connection) -> Result<Vec<SyncEntry>> {
        let path = &self.path;
        let e = |e| map_err(path, e);
        let mut out = Vec::new();
        let mut stmt = conn.prepare_cached("SELECT peer_name, certificate FROM members").map_err(e)?;
        let members = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
            .map_err(e)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(e)?;
        for (name, certificate) in members {
            if let Some(stamp) = stored_member_stamp(&self.group, &certificate) {
                out.push(SyncEntry { kind: SyncKind::Member, id: name.into_bytes(), stamp });
            }
        }
        if let Some((_, stamp, _)) = held_signed(conn, path)? {
            out.push(SyncEntry { kind: SyncKind::Properties, id: Vec::new(), stamp });
        }
        Ok(out)
    }

    /// The items held of these `(kind, natural id)` keys, with their bodies, in the order
    /// asked; keys of items not held (or expired, or the group properties while they are
    /// unsigned) are left out.
    pub fn sync_items(&self, keys: &[(SyncKind, Vec<u8>)]) -> Result<Vec<SyncItem>> {
        let now = Timestamp::now().as_micros();
        let path = &self.path;
        let group = &self.group;
        self.read_snapshot(|conn| {
            let e = |e| map_err(path, e);
            let mut out = Vec::with_capacity(keys.len());
            for (kind, id) in keys {
                match kind {
                    SyncKind::Record => {
                        type Row = (StampColumns, Vec<u8>);
                        let row: Option<Row> = conn
                            .prepare_cached(
                                "SELECT version, deleted, modified, modifier, digest, body FROM records
                                 WHERE id = ?1 AND expires > ?2",
                            )
                            .map_err(e)?
                            .query_row(params![id, now], |r| {
                                Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?), r.get(5)?))
                            })
                            .optional()
                            .map_err(e)?;
                        if let Some((columns, body)) = row {
                            let stamp = stamp_of_row(path, columns, || Ok(body.clone()))?;
                            out.push(SyncItem { kind: *kind, id: id.clone(), stamp, body });
                        }
                    }
                    SyncKind::Member => {
                        let Some(name) = std::str::from_utf8(id).ok().and_then(|s| PeerName::parse(s).ok()) else {
                            continue;
                        };
                        if let Some(m) = read_member_tx(conn, path, &name)?
                            && let Some(stamp) = stored_member_stamp(group, &m.certificate)
                        {
                            out.push(SyncItem { kind: *kind, id: id.clone(), stamp, body: m.certificate });
                        }
                    }
                    SyncKind::Properties => {
                        if id.is_empty()
                            && let Some((body, stamp, _)) = held_signed(conn, path)?
                        {
                            out.push(SyncItem { kind: *kind, id: Vec::new(), stamp, body });
                        }
                    }
                }
            }
            Ok(out)
        })
    }

    /// Applies a batch of items from another member, all in one write transaction. Every item
    /// passes the trust path before anything is stored: member entries first
    /// (`peergroup_security::trust::accept_member`: a chain to the group's root, valid now),
    /// then records (`accept_record`: signed by a member this database holds or the batch
    /// brings, whom the policy allows the change) and the group properties
    /// (`accept_properties`: signed by such a member who is an administrator, for this group). An item that fails is refused and reported
    /// with its reason, never stored; the rest of the batch is applied. An item is stored only
    /// if its version supersedes the one held ([`VersionStamp`]); its change in the feed is
    /// marked with `origin`. Expired records count as stale. Nothing is stored on error.
    ///
    /// The same as [`Self::store_checked`] of [`Self::check_batch`]: a driver may check the
    /// next batch while this one is written.
    pub fn apply_batch(&self, items: &[SyncItem], origin: &Origin) -> Result<BatchOutcome> {
        self.store_checked(self.check_batch(items)?, origin)
    }

    /// The first half of [`Self::apply_batch`], without the write lock: every item through the
    /// trust path. Nothing is stored.
    pub fn check_batch<'a>(&self, items: &'a [SyncItem]) -> Result<CheckedBatch<'a>> {
        self.check(Cow::Borrowed(items))
    }

    /// [`Self::check_batch`] of items it keeps, so that the checked batch can travel to the
    /// thread that stores it (as [`crate::Applier`] does).
    pub fn check_owned(&self, items: Vec<SyncItem>) -> Result<CheckedBatch<'static>> {
        self.check(Cow::Owned(items))
    }

    fn check<'a>(&self, items: Cow<'a, [SyncItem]>) -> Result<CheckedBatch<'a>> {
        let now = SystemTime::now();
        let now_ts = Timestamp::now();
        let mut outcome = BatchOutcome::default();
        let held: HashMap<PeerName, Member> = self.members()?.into_iter().map(|m| (m.peer_name.clone(), m)).collect();
        let mut accepted: HashMap<PeerName, AcceptedMember> = HashMap::new();
        let mut verified = Vec::with_capacity(items.len());
        let refuse = |outcome: &mut BatchOutcome, index: usize, item: &SyncItem, reason: StateError| {
            outcome.refused.push(Refusal { index, kind: item.kind, id: item.id.clone(), reason });
        };
        // Members first: a record of the batch may be signed by a member the batch brings.
        for (index, item) in items.iter().enumerate().filter(|(_, i)| i.kind == SyncKind::Member) {
            match self.verify_member(item, now) {
                Ok((member, entry, stamp)) => {
                    let held_stamp =
                        held.get(&entry.peer_name).and_then(|m| stored_member_stamp(&self.group, &m.certificate));
                    // Records are judged by the entry that will be held after the batch.
                    if held_stamp.as_ref().is_none_or(|h| stamp.supersedes(h)) {
                        accepted.insert(entry.peer_name.clone(), member);
                    }
                    verified.push(Verified::Member { index, entry, stamp });
                }
                Err(reason) => refuse(&mut outcome, index, item, reason),
            }
        }
        for m in held.values() {
            accepted.entry(m.peer_name.clone()).or_insert_with(|| from_store(m));
        }
        for (index, item) in items.iter().enumerate().filter(|(_, i)| i.kind == SyncKind::Properties) {
            match self.verify_properties(item, &accepted) {
                Ok((props, stamp)) => verified.push(Verified::Properties { index, props, stamp }),
                Err(reason) => refuse(&mut outcome, index, item, reason),
            }
        }
        let records: Vec<(usize, &SyncItem)> =
            items.iter().enumerate().filter(|(_, i)| i.kind == SyncKind::Record).collect();
        for (index, result) in self.verify_records(&records, now_ts, &accepted) {
            match result {
                Ok(Some((record, stamp))) => verified.push(Verified::Record { index, record, stamp }),
                Ok(None) => outcome.stale += 1,
                Err(reason) => refuse(&mut outcome, index, &items[index], reason),
            }
        }
        Ok(CheckedBatch { items, verified, outcome })
    }

    /// The second half of [`Self::apply_batch`]: stores, in one write transaction, the items of
    /// `checked` whose version supersedes the one held, with `origin` in the feed.
    pub fn store_checked(&self, checked: CheckedBatch<'_>, origin: &Origin) -> Result<BatchOutcome> {
        self.store_keeping(checked, origin).map(|(_, outcome)| outcome)
    }

    /// [`Self::store_checked`] that also gives the batch's items back (the caller may keep the
    /// refused ones to try again).
    pub(crate) fn store_keeping<'a>(
        &self,
        checked: CheckedBatch<'a>,
        origin: &Origin,
    ) -> Result<(Cow<'a, [SyncItem]>, BatchOutcome)> {
        if let Origin::Remote(name) = origin
            && name.len() > MAX_ORIGIN_LEN
        {
            return Err(StateError::InvalidMember {
                peer_name: name.chars().take(64).collect(),
                reason: format!("an origin name is {} bytes long; at most {MAX_ORIGIN_LEN} are allowed", name.len()),
            });
        }
        let CheckedBatch { items, verified, mut outcome } = checked;
        let refuse = |outcome: &mut BatchOutcome, index: usize, item: &SyncItem, reason: StateError| {
            outcome.refused.push(Refusal { index, kind: item.kind, id: item.id.clone(), reason });
        };
        let path = &self.path;
        let written = self.write(|tx| {
            let mut stored = Vec::new();
            let mut stale = 0;
            let mut refused = Vec::new();
            for v in &verified {
                match v {
                    Verified::Member { index, entry, stamp } => {
                        let held = read_member_tx(tx, path, &entry.peer_name)?;
                        let held_stamp = held.as_ref().and_then(|m| stored_member_stamp(&self.group, &m.certificate));
                        if held_stamp.as_ref().is_some_and(|h| !stamp.supersedes(h)) {
                            stale += 1;
                            continue;
                        }
                        // Presence flags are this host's, not the sender's.
                        let entry = Member { flags: held.map_or(0, |m| m.flags), ..entry.clone() };
                        put_member_from(tx, path, &entry, origin)?;
                        stored.push((*index, SyncKind::Member, stamp));
                    }
                    Verified::Record { index, record, stamp } => {
                        match apply_encoded(tx, path, record, &items[*index].body, stamp, origin)? {
                            Applied::Stored => stored.push((*index, SyncKind::Record, stamp)),
                            Applied::Stale => stale += 1,
                            Applied::Refused(reason) => refused.push((*index, reason)),
                        }
                    }
                    Verified::Properties { index, props, stamp } => {
                        match held_signed(tx, path)? {
                            Some((_, held, _)) if !stamp.supersedes(&held) => {
                                stale += 1;
                                continue;
                            }
                            // What Windows keeps immutable stays as the signed version held
                            // says; unsigned properties (the creator's before any change, or
                            // a joiner's provisional ones) give way to the group's own.
                            Some((_, _, held)) => {
                                if let Err(e) = held.check_update(props) {
                                    refused.push((*index, e.into()));
                                    continue;
                                }
                            }
                            None => {}
                        }
                        store_signed(tx, path, props, &items[*index].body)?;
                        push_change_from(tx, path, &Change::PropertiesChanged, origin)?;
                        stored.push((*index, SyncKind::Properties, stamp));
                    }
                }
            }
            Ok((stored, stale, refused))
        })?;
        let (mut stored, stale, refused) = written;
        stored.sort_by_key(|(index, _, _)| *index);
        outcome.stored = stored
            .into_iter()
            .map(|(index, kind, stamp)| SyncEntry { kind, id: items[index].id.clone(), stamp: stamp.clone() })
            .collect();
        outcome.stale += stale;
        for (index, reason) in refused {
            refuse(&mut outcome, index, &items[index], reason);
        }
        outcome.refused.sort_by_key(|r| r.index);
        Ok((items, outcome))
    }

    /// A member item through the trust path: its body must be the chain (PEM, root first) of
    /// the member its id names, to this group's root, valid now, in the form this crate stores.
    fn verify_member(&self, item: &SyncItem, now: SystemTime) -> Result<(AcceptedMember, Member, VersionStamp)> {
        let name = String::from_utf8_lossy(&item.id);
        let invalid =
            |reason: String| StateError::InvalidMember { peer_name: name.chars().take(256).collect(), reason };
        if item.body.len() > MAX_MEMBER_ITEM_LEN {
            return Err(invalid(format!(
                "its entry is {} bytes long; at most {MAX_MEMBER_ITEM_LEN} are allowed",
                item.body.len()
            )));
        }
        let peer_name = std::str::from_utf8(&item.id)
            .ok()
            .and_then(|s| PeerName::parse(s).ok())
            .ok_or_else(|| invalid("its id is not a peer name".into()))?;
        let text =
            std::str::from_utf8(&item.body).map_err(|_| invalid("its certificate chain is not PEM text".into()))?;
        let chain = from_pem("CERTIFICATE", text).map_err(|e| SecurityError::MemberNotTrusted {
            member: peer_name.to_string(),
            reason: format!("its certificate chain: {e}"),
        })?;
        let member = accept_member(&self.group, &peer_name, &chain, now)?;
        let entry = stored_entry(&member);
        entry.validate()?;
        // The digest is over the stored form; any other encoding of the same chain would be
        // another version to the reconciliation.
        if entry.certificate != item.body {
            return Err(invalid(
                "its certificate chain is not in the stored form (PEM of each DER, root first)".into(),
            ));
        }
        let stamp = member
            .chain()
            .map(|c| member_stamp(c, &item.body))
            .ok_or_else(|| invalid("accepted without a chain".into()))?;
        if stamp != item.stamp {
            return Err(invalid("the version it claims is not the version of its body".into()));
        }
        Ok((member, entry, stamp))
    }

    /// A group properties item through the trust path: its body is the signed form
    /// (`crate::signed_properties`) of valid properties of this group, with the stamp it
    /// claims, signed by an accepted member whom the policy lets set the properties.
    fn verify_properties(
        &self,
        item: &SyncItem,
        accepted: &HashMap<PeerName, AcceptedMember>,
    ) -> Result<(GroupProperties, VersionStamp)> {
        let invalid = |reason: String| StateError::from(SecurityError::InvalidGroupProperties { reason });
        if !item.id.is_empty() {
            return Err(invalid("a group properties item has an empty id".into()));
        }
        let (record, props, stamp) = signed_properties::open(&item.body)?;
        if stamp != item.stamp {
            return Err(invalid("the version it claims is not the version of its body".into()));
        }
        if props.group_peer_name != self.group {
            return Err(invalid(format!(
                "they are the properties of group {}, not {}",
                props.group_peer_name, self.group
            )));
        }
        let claim = PropertiesClaim {
            id: record.id,
            modifier: &record.modifier,
            signed: &record.signed_bytes(),
            signature: &record.signature,
        };
        accept_properties(&claim, accepted.get(&record.modifier))?;
        Ok((props, stamp))
    }

    /// The record items `(index in the batch, item)` through the trust path, in order. The
    /// signature checks are most of a batch's cost and independent of each other: a large
    /// batch is checked on up to [`MAX_VERIFY_THREADS`] threads.
    #[allow(clippy::type_complexity)]
    fn verify_records(
        &self,
        records: &[(usize, &SyncItem)],
        now: Timestamp,
        accepted: &HashMap<PeerName, AcceptedMember>,
    ) -> Vec<(usize, Result<Option<(Record, VersionStamp)>>)> {
        let one = |&(index, item): &(usize, &SyncItem)| (index, verify_record(item, now, accepted));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_VERIFY_THREADS);
        if threads < 2 || records.len() < PARALLEL_VERIFY_MIN {
            return records.iter().map(one).collect();
        }
        let chunk = records.len().div_ceil(threads);
        std::thread::scope(|s| {
            let workers: Vec<_> =
                records.chunks(chunk).map(|part| s.spawn(move || part.iter().map(one).collect::<Vec<_>>())).collect();
            workers
                .into_iter()
                .flat_map(|w| {
                    // A panic in a verifier is a bug; carry it to the caller as is.
                    w.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

/// The most threads a batch's signatures are checked on.
const MAX_VERIFY_THREADS: usize = 4;
/// The fewest records a batch must hold for its signatures to be checked on several threads.
const PARALLEL_VERIFY_MIN: usize = 64;

/// A record item through the trust path (its modifier among `accepted`); `None` if it
/// expired (stale).
fn verify_record(
    item: &SyncItem,
    now: Timestamp,
    accepted: &HashMap<PeerName, AcceptedMember>,
) -> Result<Option<(Record, VersionStamp)>> {
    let id = Uuid::from_slice(&item.id).ok();
    let invalid = |reason: &str| StateError::InvalidRecord { id, reason: reason.to_owned() };
    let record = Record::decode(&item.body)?;
    if Some(record.id) != id {
        return Err(invalid("its id is not the id of its body"));
    }
    if record.expires <= now {
        return Ok(None);
    }
    // Decoding accepts only the normal form, so the body is what this database will store.
    let stamp = record_stamp(&record, &item.body);
    if stamp != item.stamp {
        return Err(invalid("the version it claims is not the version of its body"));
    }
    accept_record(&claim_of(&record, &record.signed_bytes()), accepted.get(&record.modifier))?;
    Ok(Some((record, stamp)))
}

fn body_of(conn: &Connection, path: &Path, rowid: i64) -> Result<Vec<u8>> {
    conn.prepare_cached("SELECT body FROM records WHERE rowid = ?1")
        .and_then(|mut stmt| stmt.query_row([rowid], |r| r.get(0)))
        .map_err(|e| map_err(path, e))
}

/// The version of a member entry whose chain was validated: see `crate::replication`.
fn member_stamp(chain: &ValidatedChain, body: &[u8]) -> VersionStamp {
    let certs = chain.certificates();
    let leaf = chain.leaf();
    let issuer = certs.len().checked_sub(2).and_then(|i| certs.get(i)).map_or(&leaf.group, |c| &c.subject);
    VersionStamp {
        deleted: false,
        version: 1,
        modified_micros: leaf.not_before.saturating_mul(1_000_000),
        modifier: issuer.to_string().into_bytes(),
        digest: body_digest(body),
    }
}

/// The version of a stored member entry, if its certificate field holds its chain (it was
/// validated when stored; validated again here, without a time, to read it).
fn stored_member_stamp(group: &PeerName, certificate: &[u8]) -> Option<VersionStamp> {
    let chain = from_pem("CERTIFICATE", std::str::from_utf8(certificate).ok()?).ok()?;
    let chain = validate_chain(&chain, Some(group), None).ok()?;
    Some(member_stamp(&chain, certificate))
}
