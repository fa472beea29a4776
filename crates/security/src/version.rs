//! The one total order of the versions of a replicated item (a record, a member entry, the
//! group properties), shared by the store (`peergroup-state`) and the replication protocol
//! (`peergroup-sync`), so that every member keeps the same version whatever the order in which
//! versions arrive.
//!
//! Versions compare by, in turn:
//! 1. **deleted**: a tombstone beats every live version, whatever their numbers, so a deleted
//!    record never comes back (a member that updated it on the other side of a partition loses
//!    the update: deletion is final, as in Windows);
//! 2. **version number** (1 when added, one more on each change);
//! 3. **modification time** (µs since the Unix epoch, as the modifier's clock said);
//! 4. **modifier** (its peer name, as bytes);
//! 5. **digest**: SHA-256 of the signed body, which differs between any two distinct versions,
//!    so two different versions are never equal.
//!
//! The order is total and the same on every member because every part comes from the signed
//! item itself, never from the time it arrived.

use std::cmp::Ordering;

use sha2::{Digest, Sha256};

/// The part of a signed item that places its version in the total order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VersionStamp {
    /// Whether this version is a tombstone.
    pub deleted: bool,
    /// The version number.
    pub version: u32,
    /// When it was changed, µs since the Unix epoch.
    pub modified_micros: i64,
    /// The peer name of the identity that signed it, as text bytes.
    pub modifier: Vec<u8>,
    /// SHA-256 of the signed body ([`body_digest`]).
    pub digest: [u8; 32],
}

impl VersionStamp {
    /// Whether `self` replaces `held`: strictly greater in the total order.
    pub fn supersedes(&self, held: &VersionStamp) -> bool {
        self > held
    }
}

impl Ord for VersionStamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.deleted
            .cmp(&other.deleted)
            .then(self.version.cmp(&other.version))
            .then(self.modified_micros.cmp(&other.modified_micros))
            .then_with(|| self.modifier.cmp(&other.modifier))
            .then(self.digest.cmp(&other.digest))
    }
}

impl PartialOrd for VersionStamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// SHA-256 of a signed body: the last tie-breaker of the order, and what replication compares
/// to tell two versions apart.
pub fn body_digest(signed_body: &[u8]) -> [u8; 32] {
    Sha256::digest(signed_body).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(deleted: bool, version: u32, modified: i64, modifier: &str, body: &[u8]) -> VersionStamp {
        VersionStamp {
            deleted,
            version,
            modified_micros: modified,
            modifier: modifier.into(),
            digest: body_digest(body),
        }
    }

    #[test]
    fn a_tombstone_beats_any_live_version() {
        let tomb = stamp(true, 2, 10, "a", b"t");
        let later = stamp(false, 9, 99, "z", b"u");
        assert!(tomb.supersedes(&later));
        assert!(!later.supersedes(&tomb));
    }

    #[test]
    fn number_then_time_then_modifier_then_digest() {
        assert!(stamp(false, 3, 0, "a", b"x") > stamp(false, 2, 99, "z", b"x"));
        assert!(stamp(false, 2, 5, "a", b"x") > stamp(false, 2, 4, "z", b"x"));
        assert!(stamp(false, 2, 5, "b", b"x") > stamp(false, 2, 5, "a", b"x"));
        let (x, y) = (stamp(false, 2, 5, "a", b"x"), stamp(false, 2, 5, "a", b"y"));
        assert_ne!(x.cmp(&y), Ordering::Equal);
        assert!(!x.supersedes(&x));
    }
}
