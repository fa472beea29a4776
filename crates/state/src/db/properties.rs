//! Group properties and the security layer's blobs.

use std::path::Path;

use peergroup_security::{GLOBAL_CLOUD, GroupProperties};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use peergroup_identity::Identity;
use peergroup_security::VersionStamp;

use super::feed::push_change;
use super::{GroupDb, invalid_db, stored_name};
use crate::changes::Change;
use crate::error::Result;
use crate::signed_properties;
use crate::sqlite::map_err;

/// The blob that holds the signed form of the properties held (`crate::signed_properties`),
/// absent until the first `PeerGroupSetProperties` or the first one received.
pub(super) const SIGNED_PROPERTIES_BLOB: &str = "signed-properties";

/// The signed form of the properties held, if any: its body, its stamp and the properties it
/// carries (decoded again; its signature was checked when it was stored).
pub(super) fn held_signed(conn: &Connection, path: &Path) -> Result<Option<(Vec<u8>, VersionStamp, GroupProperties)>> {
    let body: Option<Vec<u8>> = conn
        .prepare_cached("SELECT value FROM blobs WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([SIGNED_PROPERTIES_BLOB], |r| r.get(0)).optional())
        .map_err(|e| map_err(path, e))?;
    let Some(body) = body else { return Ok(None) };
    let (_, props, stamp) = signed_properties::open(&body)
        .map_err(|e| invalid_db(path, format!("the signed group properties held: {e}")))?;
    Ok(Some((body, stamp, props)))
}

/// Writes `props` into the properties row and its signed form `body` beside it, in the
/// caller's transaction.
pub(super) fn store_signed(tx: &Connection, path: &Path, props: &GroupProperties, body: &[u8]) -> Result<()> {
    tx.execute(
        &format!(
            "UPDATE properties SET ({SETTABLE_PROPERTIES}) = (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11),
                version = ?12 WHERE id = 1"
        ),
        rusqlite::params_from_iter(settable_values(props).into_iter().chain([props.version.into()])),
    )
    .map_err(|e| map_err(path, e))?;
    tx.execute("INSERT OR REPLACE INTO blobs (name, value) VALUES (?1, ?2)", params![SIGNED_PROPERTIES_BLOB, body])
        .map_err(|e| map_err(path, e))?;
    Ok(())
}

/// The properties a user may change (`PeerGroupSetProperties`), in the order of
/// [`settable_values`]. The schema keeps a cloud scope and flags beside the cloud name; the
/// properties model knows a cloud by its name alone, so they are written as 0 (any scope, no
/// flags) and not read.
pub(super) const SETTABLE_PROPERTIES: &str = "creator, friendly_name, comment, cloud_name, cloud_scope, cloud_flags, \
    member_data_lifetime, presence_lifetime, flags, authentication_schemes, password_role";

pub(super) fn settable_values(props: &GroupProperties) -> [rusqlite::types::Value; 11] {
    [
        props.creator.to_string().into(),
        props.friendly_name.clone().into(),
        props.comment.clone().into(),
        props.cloud_name.clone().into(),
        0u32.into(),
        0u32.into(),
        props.member_data_lifetime.into(),
        props.presence_lifetime.into(),
        props.flags.into(),
        props.authentication_schemes.into(),
        props.password_role.map(|u| u.as_bytes().to_vec()).into(),
    ]
}

impl GroupDb {
    /// The group properties (`PeerGroupGetProperties`).
    pub fn properties(&self) -> Result<GroupProperties> {
        self.read(|conn| read_properties(conn, &self.path))
    }

    /// Replaces the group properties (`PeerGroupSetProperties`), signed by `identity` (the
    /// caller checks that the policy lets it: administrators; a receiver refuses a version
    /// signed by anyone else). The group peer name, classifier, creator and cloud cannot
    /// change; `version` is set to one more than the stored one. Stores the signed form
    /// (`crate::signed_properties`), which replication carries to the other members. Returns
    /// the properties as stored.
    pub fn set_properties(&self, identity: &Identity, props: &GroupProperties) -> Result<GroupProperties> {
        let path = &self.path;
        self.write(|tx| {
            let current = read_properties(tx, path)?;
            current.check_update(props)?;
            let next = GroupProperties { version: current.version.saturating_add(1), ..props.clone() };
            let body = signed_properties::sign(&next, identity)?.encode();
            store_signed(tx, path, &next, &body)?;
            push_change(tx, path, &Change::PropertiesChanged)?;
            read_properties(tx, path)
        })
    }

    /// Stores the signed form of the properties as they are, unchanged (version and all),
    /// signed by `identity`: the creator's, when the group is created. No change is pushed.
    pub(crate) fn sign_initial_properties(&self, identity: &Identity) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            let props = read_properties(tx, path)?;
            let body = signed_properties::sign(&props, identity)?.encode();
            store_signed(tx, path, &props, &body)
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
    /// that every watcher, in every process, learns that the status it holds changed. The value
    /// is also kept by the change's sequence number ([`crate::Watcher::status_written`]): a
    /// reader that comes to several of these changes at once sees every value in turn.
    pub fn put_status_blob(&self, name: &str, value: &[u8]) -> Result<()> {
        let path = &self.path;
        self.write(|tx| {
            let e = |e| map_err(path, e);
            tx.execute("INSERT OR REPLACE INTO blobs (name, value) VALUES (?1, ?2)", params![name, value]).map_err(e)?;
            push_change(tx, path, &Change::StatusChanged)?;
            let seq = tx.last_insert_rowid();
            tx.prepare_cached("INSERT INTO status_writes (seq, name, value) VALUES (?1, ?2, ?3)")
                .map_err(e)?
                .execute(params![seq, name, value])
                .map_err(e)?;
            // One range delete on the primary key keeps the newest only.
            let keep = i64::try_from(crate::STATUS_WRITES_RETAINED).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "DELETE FROM status_writes WHERE seq <= (SELECT seq FROM status_writes ORDER BY seq DESC LIMIT 1 OFFSET ?1)",
            )
            .map_err(e)?
            .execute([keep])
            .map_err(e)?;
            Ok(())
        })
    }
}

pub(crate) fn read_properties(conn: &Connection, path: &Path) -> Result<GroupProperties> {
    type Raw = (String, String, String, String, String, Option<String>, u32, u32, u32, u32, Option<Vec<u8>>, u32);
    let raw: Raw = conn
        .query_row(
            "SELECT group_peer_name, classifier, creator, friendly_name, comment, cloud_name,
                member_data_lifetime, presence_lifetime, flags, authentication_schemes, password_role, version
                FROM properties WHERE id = 1",
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
        // Databases of phase 1 kept no name for the global cloud.
        cloud_name: raw.5.unwrap_or_else(|| GLOBAL_CLOUD.to_owned()),
        member_data_lifetime: raw.6,
        presence_lifetime: raw.7,
        flags: raw.8,
        authentication_schemes: raw.9,
        password_role: raw.10.and_then(|b| Uuid::from_slice(&b).ok()),
        version: raw.11,
    })
}
