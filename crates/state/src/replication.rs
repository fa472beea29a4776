//! What the replication protocol reads from and writes to a group database, in this crate's own
//! terms (the protocol crate, `peergroup-sync`, sits beside this one on the security crate; the
//! network layer joins them): the items a database holds with their place in the one total
//! order of versions ([`VersionStamp`]), their signed bodies, and the outcome of applying a
//! batch of items from another member ([`crate::GroupDb::apply_batch`]).
//!
//! An item's body is its replicated encoding, the bytes its digest is taken over
//! ([`peergroup_security::body_digest`]):
//! - a record: [`crate::Record::encode`] (signature included), natural id its 16-byte GUID;
//! - a member entry: the member's certificate chain as this crate stores it (PEM
//!   `CERTIFICATE` blocks, root first), natural id the member's peer name as text bytes. Its
//!   stamp: never deleted, version 1, modification time the `notBefore` of its membership
//!   certificate (so a renewed certificate supersedes the older one), modifier the peer name
//!   of the certificate's issuer.
//! - the group properties: their signed form, a record of Windows' reserved type Security
//!   Properties whose data is the encoded properties, signed by an administrator
//!   ([`crate::SECURITY_PROPERTIES_TYPE`], `crate::signed_properties`), natural id empty. Its
//!   stamp is its record's: never deleted, the properties' version, the time it was signed,
//!   its signer, digest. Unsigned properties (a group's before its first change) are not
//!   listed.

use peergroup_security::VersionStamp;

use crate::error::StateError;

/// The kind of a replicated item (the same kinds, and the same natural ids, as
/// `peergroup_sync::ItemKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SyncKind {
    /// A record; natural id: its 16-byte GUID.
    Record,
    /// A member entry; natural id: the member's peer name as text bytes.
    Member,
    /// The group properties in their signed form; natural id: empty.
    Properties,
}

/// One item a database holds: what it is and which version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SyncEntry {
    /// Its kind.
    pub kind: SyncKind,
    /// Its natural id (see [`SyncKind`]).
    pub id: Vec<u8>,
    /// The version held.
    pub stamp: VersionStamp,
}

/// An item as it travels: its entry and its signed body (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncItem {
    /// Its kind.
    pub kind: SyncKind,
    /// Its natural id.
    pub id: Vec<u8>,
    /// The version it claims; [`crate::GroupDb::apply_batch`] refuses an item whose body
    /// gives another.
    pub stamp: VersionStamp,
    /// Its replicated encoding.
    pub body: Vec<u8>,
}

impl SyncItem {
    /// Its entry (kind, id, stamp).
    pub fn entry(&self) -> SyncEntry {
        SyncEntry { kind: self.kind, id: self.id.clone(), stamp: self.stamp.clone() }
    }
}

/// The longest member item body accepted, in bytes (a chain of at most
/// `peergroup_security::MAX_CHAIN_LEN` certificates in PEM is far shorter).
pub const MAX_MEMBER_ITEM_LEN: usize = 64 * 1024;

/// An item of a batch that was refused, and why; nothing of it was stored.
#[derive(Debug)]
pub struct Refusal {
    /// Its index in the batch.
    pub index: usize,
    /// Its kind.
    pub kind: SyncKind,
    /// Its natural id, as it came.
    pub id: Vec<u8>,
    /// Why: a [`StateError::Security`] (`MemberNotTrusted`, `RecordNotTrusted`) when the trust
    /// path refused it, [`StateError::InvalidRecord`] or [`StateError::InvalidMember`] when it
    /// does not decode or does not match its id or stamp.
    pub reason: StateError,
}

impl Refusal {
    /// Whether the item was refused only because its modifier is not a member here yet: a
    /// driver keeps it and tries again once member entries arrive (the link sends items in
    /// key order, so a member's entry may come after its records).
    pub fn awaits_member(&self) -> bool {
        matches!(self.reason, StateError::Security(peergroup_security::SecurityError::UnknownModifier { .. }))
    }
}

/// What [`crate::GroupDb::apply_batch`] did with a batch (all of it in one transaction).
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// The items stored (new here, or superseding the version held), in batch order: what the
    /// flood forwards.
    pub stored: Vec<SyncEntry>,
    /// Items not stored because this database holds the same or a later version, or because
    /// they expired.
    pub stale: usize,
    /// Items refused (never stored), with the reason: the link's peer may be misbehaving.
    pub refused: Vec<Refusal>,
    /// Items of a kind this build does not replicate (none since the group properties
    /// replicate; kept for the kinds a later protocol adds).
    pub unsupported: usize,
}
