//! A member's in-memory store and the sim's item format and policy.
//!
//! A sim item is a [`peergroup_sync::Item`] whose body is `SIM1`, the signer (`u32`), the
//! expiry (`u64`, µs of virtual time; `u64::MAX` for none) and a payload. The store keeps one
//! version per key by the one total order ([`VersionStamp`]): a strictly greater stamp replaces
//! the one held, so a tombstone is absorbing. Its policy stands in for the security crate's
//! trust path: an item signed by a non-member is refused, and so is an item past its expiry
//! (after it, every member drops the item and never accepts it again).

use std::collections::{BTreeMap, BTreeSet};

use peergroup_security::{VersionStamp, body_digest};
use peergroup_sync::flood::Verdict;
use peergroup_sync::{Entry, Item, ItemKey, ItemKind, Replica, SetIndex};

/// A member of the simulated group (an index into the simulator's members).
pub type MemberId = u32;

/// The sim's view of an item's signed body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    /// Who signed it (a member, or an outsider).
    pub signer: u32,
    /// When it expires, µs of virtual time (`u64::MAX`: never).
    pub expires: u64,
    /// Anything, so that two writes differ.
    pub payload: u64,
}

impl Body {
    const MAGIC: &'static [u8; 4] = b"SIM1";

    /// Its bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Self::MAGIC.to_vec();
        b.extend_from_slice(&self.signer.to_be_bytes());
        b.extend_from_slice(&self.expires.to_be_bytes());
        b.extend_from_slice(&self.payload.to_be_bytes());
        b
    }

    /// Reads the bytes [`Body::encode`] wrote.
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 24 || &b[..4] != Self::MAGIC {
            return None;
        }
        Some(Self {
            signer: u32::from_be_bytes(b[4..8].try_into().ok()?),
            expires: u64::from_be_bytes(b[8..16].try_into().ok()?),
            payload: u64::from_be_bytes(b[16..24].try_into().ok()?),
        })
    }
}

/// Makes the item of record `n` with this stamp's place in the order and this body.
pub fn make_item(n: u64, version: u32, deleted: bool, now: u64, modifier: MemberId, body: &Body) -> Item {
    let bytes = body.encode();
    Item {
        kind: ItemKind::Record,
        id: u128::from(n).to_be_bytes().to_vec(),
        stamp: VersionStamp {
            deleted,
            version,
            modified_micros: i64::try_from(now).unwrap_or(i64::MAX),
            modifier: format!("m{modifier}").into_bytes(),
            digest: body_digest(&bytes),
        },
        body: bytes,
    }
}

/// The record number of a sim item (the inverse of [`make_item`]'s id).
pub fn record_number(item: &Item) -> Option<u64> {
    let id: [u8; 16] = item.id.as_slice().try_into().ok()?;
    u64::try_from(u128::from_be_bytes(id)).ok()
}

/// What a store holds under one key.
#[derive(Clone, Debug)]
struct Held {
    item: Item,
    body: Body,
    /// Past its expiry: no longer a record, only a marker that keeps older versions out.
    expired: bool,
}

/// One member's store.
///
/// An item past its expiry stops being a record (it is not [`live`](MemStore::live)) but stays
/// as a **marker**, like a tombstone: without it, an older version without expiry (or with a
/// later one) still held by a member that was away would come back. Markers are reconciled and
/// flooded like items, so that every member learns of the version that expired; a marker
/// arriving where nothing newer is held replaces what is held, and is never a record again.
#[derive(Clone, Debug)]
pub struct MemStore {
    items: BTreeMap<ItemKey, Held>,
    /// Who may sign: the group's members.
    members: BTreeSet<u32>,
    /// A misbehaving member's store takes anything (it is the one flooding refused items).
    accept_all: bool,
    /// Items refused by the policy.
    pub refused: u64,
    /// The reconciled set, kept current on every change (what the real link reads).
    index: SetIndex,
}

impl MemStore {
    /// An empty store whose policy accepts items signed by `members`.
    pub fn new(members: BTreeSet<u32>, accept_all: bool) -> Self {
        Self { items: BTreeMap::new(), members, accept_all, refused: 0, index: SetIndex::new() }
    }

    /// Takes `item` at virtual time `now` if the policy allows it and it is newer than what is
    /// held (as a marker only, if it is past its expiry). `Applied` means the store changed.
    pub fn apply(&mut self, item: &Item, now: u64) -> Verdict {
        let Some(body) = Body::decode(&item.body) else {
            self.refused += 1;
            return Verdict::Refused;
        };
        if body_digest(&item.body) != item.stamp.digest || (!self.accept_all && !self.members.contains(&body.signer)) {
            self.refused += 1;
            return Verdict::Refused;
        }
        let key = item.key();
        if let Some(held) = self.items.get(&key)
            && !item.stamp.supersedes(&held.item.stamp)
        {
            return Verdict::Stale;
        }
        let expired = body.expires <= now;
        self.index.insert(item.entry());
        self.items.insert(key, Held { item: item.clone(), body, expired });
        Verdict::Applied
    }

    /// Turns every item expired at `now` into a marker.
    pub fn purge(&mut self, now: u64) {
        for held in self.items.values_mut() {
            held.expired |= held.body.expires <= now;
        }
    }

    /// The live item held under `key` (not a marker).
    pub fn get(&self, key: &ItemKey) -> Option<&Item> {
        self.items.get(key).filter(|h| !h.expired).map(|h| &h.item)
    }

    /// The version held under `key`, live or a marker.
    pub fn get_any(&self, key: &ItemKey) -> Option<&Item> {
        self.items.get(key).map(|h| &h.item)
    }

    /// Every live item with its body.
    pub fn live(&self) -> impl Iterator<Item = (&Item, &Body)> {
        self.items.values().filter(|h| !h.expired).map(|h| (&h.item, &h.body))
    }

    /// Everything held, live items and markers: what reconciliation exchanges.
    pub fn all(&self) -> impl Iterator<Item = &Item> {
        self.items.values().map(|h| &h.item)
    }

    /// The set reconciled: one entry per version held, live or a marker.
    pub fn entries(&self) -> BTreeSet<Entry> {
        self.all().map(Item::entry).collect()
    }

    /// How many live items are held.
    pub fn len(&self) -> usize {
        self.live().count()
    }

    /// Whether no live item is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Replica for MemStore {
    fn index(&self) -> &SetIndex {
        &self.index
    }

    fn stamp(&self, key: &ItemKey) -> Option<VersionStamp> {
        self.items.get(key).map(|h| h.item.stamp.clone())
    }

    fn kind(&self, key: &ItemKey) -> Option<ItemKind> {
        self.items.get(key).map(|h| h.item.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> MemStore {
        MemStore::new([0, 1].into(), false)
    }

    fn body(signer: u32, payload: u64) -> Body {
        Body { signer, expires: u64::MAX, payload }
    }

    #[test]
    fn a_greater_stamp_replaces_and_a_tombstone_absorbs() {
        let mut s = store();
        let v1 = make_item(1, 1, false, 10, 0, &body(0, 1));
        let v2 = make_item(1, 2, false, 20, 1, &body(1, 2));
        let dead = make_item(1, 2, true, 15, 0, &body(0, 3));
        assert_eq!(s.apply(&v1, 0), Verdict::Applied);
        assert_eq!(s.apply(&v2, 0), Verdict::Applied);
        assert_eq!(s.apply(&v1, 0), Verdict::Stale);
        assert_eq!(s.apply(&dead, 0), Verdict::Applied);
        let v9 = make_item(1, 9, false, 99, 1, &body(1, 4));
        assert_eq!(s.apply(&v9, 0), Verdict::Stale, "a deleted record never comes back");
        assert!(s.get(&v1.key()).is_some_and(|i| i.stamp.deleted));
    }

    #[test]
    fn the_policy_refuses_outsiders_and_expired_items() {
        let mut s = store();
        assert_eq!(s.apply(&make_item(1, 1, false, 0, 0, &body(7, 1)), 0), Verdict::Refused);
        assert_eq!(s.refused, 1);
        let short = Body { signer: 0, expires: 100, payload: 1 };
        let item = make_item(2, 2, false, 0, 0, &short);
        assert_eq!(s.apply(&item, 99), Verdict::Applied);
        assert!(s.get(&item.key()).is_some());
        s.purge(100);
        assert!(s.is_empty() && s.get(&item.key()).is_none(), "dropped at its expiry");
        assert_eq!(s.apply(&item, 100), Verdict::Stale, "never taken again");
        let older = make_item(2, 1, false, 0, 1, &body(1, 2));
        assert_eq!(s.apply(&older, 100), Verdict::Stale, "nor an older version");
        assert_eq!(s.entries().len(), 1, "the marker is reconciled");
    }

    #[test]
    fn an_expired_version_arriving_late_is_a_marker_that_keeps_older_ones_out() {
        let mut s = store();
        let old = make_item(1, 1, false, 0, 0, &body(0, 1));
        assert_eq!(s.apply(&old, 0), Verdict::Applied);
        let expired = make_item(1, 2, false, 0, 1, &Body { signer: 1, expires: 50, payload: 2 });
        assert_eq!(s.apply(&expired, 60), Verdict::Applied, "the store changed");
        assert!(s.get(&old.key()).is_none() && s.is_empty());
        assert_eq!(s.apply(&old, 70), Verdict::Stale);
    }

    #[test]
    fn bodies_round_trip() {
        let b = Body { signer: 3, expires: 5, payload: 8 };
        assert_eq!(Body::decode(&b.encode()), Some(b));
        assert_eq!(Body::decode(b"SIM1"), None);
    }
}
