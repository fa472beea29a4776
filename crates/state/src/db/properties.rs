//! Group properties and the security layer's blobs.

use std::path::Path;

use peergroup_security::{GLOBAL_CLOUD, GroupProperties};
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::feed::push_change;
use super::{GroupDb, invalid_db, stored_name};
use crate::changes::Change;
use crate::error::Result;
use crate::sqlite::map_err;

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

    /// Replaces the group properties (`PeerGroupSetProperties`). The group peer name and
    /// classifier cannot change; `version` is set to one more than the stored one. Returns
    /// the properties as stored.
    pub fn set_properties(&self, props: &GroupProperties) -> Result<GroupProperties> {
        let path = &self.path;
        self.write(|tx| {
            read_properties(tx, path)?.check_update(props)?;
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
