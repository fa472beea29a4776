//! What is replicated: signed items (records, member entries, group properties), their keys in
//! the reconciliation space and the versions held.

use peergroup_security::VersionStamp;
use sha2::{Digest, Sha256};

/// The kind of a replicated item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ItemKind {
    /// A record (`PEER_RECORD`), natural id: its 16-byte GUID.
    Record = 1,
    /// A member entry (membership certificates published with `PEER_GROUP_STORE_CREDENTIALS`),
    /// natural id: the member's peer name as text bytes.
    Member = 2,
    /// The group properties, natural id: empty (one per group).
    Properties = 3,
}

impl ItemKind {
    /// The kind of a wire byte, if any.
    pub fn from_u8(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Record),
            2 => Some(Self::Member),
            3 => Some(Self::Properties),
            _ => None,
        }
    }
}

/// The key of an item in the reconciliation space: SHA-256 over its kind and natural id, so
/// keys spread uniformly and ranges split evenly whatever the ids look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ItemKey(pub [u8; 32]);

impl ItemKey {
    /// The key of the item `(kind, natural id)`.
    pub fn of(kind: ItemKind, id: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update([kind as u8]);
        h.update(id);
        Self(h.finalize().into())
    }
}

/// One element of the set two members reconcile: an item's key and the digest of the version
/// held ([`VersionStamp::digest`]). Two members hold the same version of an item exactly when
/// they hold the same entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    /// The item's key.
    pub key: ItemKey,
    /// The digest of the version held.
    pub digest: [u8; 32],
}

/// An item as it travels: what it is, its version and its signed body (opaque here; the
/// driver's verifier decodes and checks it through the security crate's trust path).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its kind.
    pub kind: ItemKind,
    /// Its natural id (see [`ItemKind`]).
    pub id: Vec<u8>,
    /// Its place in the total order of versions.
    pub stamp: VersionStamp,
    /// The signed body, as the store encodes it.
    pub body: Vec<u8>,
}

impl Item {
    /// Its key in the reconciliation space.
    pub fn key(&self) -> ItemKey {
        ItemKey::of(self.kind, &self.id)
    }

    /// Its entry in the reconciled set.
    pub fn entry(&self) -> Entry {
        Entry { key: self.key(), digest: self.stamp.digest }
    }
}
