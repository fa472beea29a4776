//! An in-memory member for the tests: items by key, the index, and the store's rule (keep the
//! greater version).

#![allow(dead_code)]

use std::collections::HashMap;

use peergroup_security::{VersionStamp, body_digest};
use peergroup_sync::{Item, ItemKey, ItemKind, Link, LinkError, Output, Replica, Role, SetIndex, wire};

#[derive(Default, Debug)]
pub struct Member {
    pub index: SetIndex,
    pub items: HashMap<ItemKey, Item>,
    /// Items received that the member already held in an equal or greater version.
    pub useless: usize,
    /// Items received and applied.
    pub applied: usize,
}

impl Replica for Member {
    fn index(&self) -> &SetIndex {
        &self.index
    }

    fn stamp(&self, key: &ItemKey) -> Option<VersionStamp> {
        self.items.get(key).map(|i| i.stamp.clone())
    }

    fn kind(&self, key: &ItemKey) -> Option<ItemKind> {
        self.items.get(key).map(|i| i.kind)
    }
}

impl Member {
    pub fn put(&mut self, item: Item) -> bool {
        if self.items.get(&item.key()).is_none_or(|held| item.stamp.supersedes(&held.stamp)) {
            self.index.insert(item.entry());
            self.items.insert(item.key(), item);
            true
        } else {
            false
        }
    }
}

/// Item `n` in version `version` (`deleted` makes it a tombstone).
pub fn item(n: u32, version: u32, deleted: bool) -> Item {
    let mut body = n.to_be_bytes().to_vec();
    body.extend_from_slice(&version.to_be_bytes());
    body.push(u8::from(deleted));
    let stamp = VersionStamp {
        deleted,
        version,
        modified_micros: i64::from(version) * 1000,
        modifier: b"member".to_vec(),
        digest: body_digest(&body),
    };
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    Item { kind: ItemKind::Record, id: id.to_vec(), stamp, body }
}

/// The member entry of member `n` (an item of kind `Member`, natural id its name).
pub fn member_entry(n: u32) -> Item {
    Item { kind: ItemKind::Member, id: format!("member-{n}").into_bytes(), ..item(n, 1, false) }
}

/// What a whole sync between two members did.
#[derive(Debug, Default)]
pub struct Run {
    pub messages: usize,
    pub bytes: usize,
    pub sent_items: [u64; 2],
    /// The kinds of the items each side received, in the order they came.
    pub received: [Vec<ItemKind>; 2],
}

/// Runs one sync between `a` (initiator) and `b` over encoded messages, until both links are
/// complete (or stuck: then it fails).
pub fn sync(a: &mut Member, b: &mut Member) -> Result<Run, LinkError> {
    sync_with(a, b, |_, _| {})
}

/// [`sync`], calling `change(n, members)` before the `n`-th message is delivered, so that a test
/// can change either set in the middle of a sync.
pub fn sync_with(
    a: &mut Member,
    b: &mut Member,
    mut change: impl FnMut(usize, &mut [&mut Member; 2]),
) -> Result<Run, LinkError> {
    let mut links = [Link::new(Role::Initiator, &*a), Link::new(Role::Responder, &*b)];
    let mut members = [a, b];
    let mut run = Run::default();
    loop {
        let mut moved = false;
        for side in 0..2 {
            while let Some(out) = links[side].poll() {
                moved = true;
                match out {
                    Output::Send(msg) => {
                        let bytes = wire::encode(&msg);
                        change(run.messages, &mut members);
                        run.messages += 1;
                        run.bytes += bytes.len();
                        assert!(bytes.len() <= wire::MAX_MESSAGE_LEN);
                        links[1 - side].handle_bytes(&*members[1 - side], &bytes)?;
                    }
                    Output::NeedItems(keys) => {
                        let items: Vec<Item> =
                            keys.iter().filter_map(|k| members[side].items.get(k).cloned()).collect();
                        run.sent_items[side] += items.len() as u64;
                        links[side].items_read(&*members[side], items)?;
                    }
                    Output::Apply(items) => {
                        for item in items {
                            run.received[side].push(item.kind);
                            if members[side].put(item) {
                                members[side].applied += 1;
                            } else {
                                members[side].useless += 1;
                            }
                        }
                        links[side].refused(0)?;
                    }
                    Output::Complete => {}
                }
            }
        }
        if !moved {
            assert!(
                links.iter().all(Link::is_complete),
                "the sync is stuck: {:?}",
                links.iter().map(Link::stats).collect::<Vec<_>>()
            );
            return Ok(run);
        }
    }
}
