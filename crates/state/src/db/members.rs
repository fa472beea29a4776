//! Members as the database keeps them.

use std::path::Path;

use peergroup_identity::PeerName;
use rusqlite::{Connection, OptionalExtension, params};
use uuid::Uuid;

use super::feed::{push_change, push_change_from};
use super::{GroupDb, invalid_db};
use crate::changes::{Change, Origin};
use crate::error::{Result, StateError};
use crate::properties::Member;
use crate::sqlite::map_err;

impl GroupDb {
    /// Adds or replaces a member (the key must own the member's peer name). Watchers see
    /// [`Change::MemberJoined`] for a member this database did not hold, else
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
}

pub(super) const MEMBER_COLUMNS: &str =
    "SELECT peer_name, friendly_name, public_key, certificate, roles, flags FROM members";

pub(super) type RawMember = (String, String, Vec<u8>, Vec<u8>, Vec<u8>, u32);

pub(super) fn raw_member(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMember> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

pub(super) fn member_from_raw(path: &Path, raw: RawMember) -> Result<Member> {
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

pub(super) fn read_member_tx(tx: &Connection, path: &Path, name: &PeerName) -> Result<Option<Member>> {
    tx.query_row(&format!("{MEMBER_COLUMNS} WHERE peer_name = ?1"), [name.to_string()], raw_member)
        .optional()
        .map_err(|e| map_err(path, e))?
        .map(|raw| member_from_raw(path, raw))
        .transpose()
}

pub(super) fn put_member_tx(tx: &Connection, path: &Path, member: &Member) -> Result<()> {
    put_member_from(tx, path, member, &Origin::Local)
}

/// [`put_member_tx`] of an entry that came from `origin`.
pub(super) fn put_member_from(tx: &Connection, path: &Path, member: &Member, origin: &Origin) -> Result<()> {
    let roles: Vec<u8> = member.roles.iter().flat_map(|r| *r.as_bytes()).collect();
    let held: bool = tx
        .query_row("SELECT EXISTS (SELECT 1 FROM members WHERE peer_name = ?1)", [member.peer_name.to_string()], |r| {
            r.get(0)
        })
        .map_err(|e| map_err(path, e))?;
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
    let peer_name = member.peer_name.clone();
    let change = if held { Change::MemberChanged { peer_name } } else { Change::MemberJoined { peer_name } };
    push_change_from(tx, path, &change, origin)
}
