//! The replication protocol of peergroup, without I/O, clocks or randomness of its own (in the
//! style of `quinn-proto` and iroh-gossip's `proto`): a driver feeds it events (a message
//! received, items read, items refused by the store) and carries out what it returns
//! (messages to send, items to read, items to apply, sync complete).
//!
//! - [`item`]: what is replicated (records, member entries, group properties as signed items),
//!   their keys and the versions held; the order of versions is the security crate's
//!   [`peergroup_security::VersionStamp`].
//! - [`reconcile`]: range-based set reconciliation over the entries held, with a
//!   [`SetIndex`] whose fingerprints stay current as items change.
//! - [`link`]: the state machine of one sync over one link.
//! - [`wire`]: the encoding of the link's messages, versioned and bounded.
//!
//! See `docs/sync.md` for the messages, the reconciliation and the bounds.
//!
//! Two members in one process, each with its index and its link, passing messages until both
//! are done:
//!
//! ```
//! use std::collections::HashMap;
//! use peergroup_security::{VersionStamp, body_digest};
//! use peergroup_sync::{Item, ItemKey, ItemKind, Link, Output, Replica, Role, SetIndex, wire};
//!
//! #[derive(Default)]
//! struct Member { index: SetIndex, items: HashMap<ItemKey, Item> }
//!
//! impl Replica for Member {
//!     fn index(&self) -> &SetIndex { &self.index }
//!     fn stamp(&self, key: &ItemKey) -> Option<VersionStamp> {
//!         self.items.get(key).map(|i| i.stamp.clone())
//!     }
//! }
//!
//! impl Member {
//!     fn put(&mut self, item: Item) {
//!         // The store's rule: keep the greater version.
//!         if self.items.get(&item.key()).is_none_or(|held| item.stamp.supersedes(&held.stamp)) {
//!             self.index.insert(item.entry());
//!             self.items.insert(item.key(), item);
//!         }
//!     }
//! }
//!
//! fn record(n: u8, version: u32) -> Item {
//!     let body = vec![n, version as u8];
//!     let stamp = VersionStamp {
//!         deleted: false, version, modified_micros: 0, modifier: b"alice".to_vec(),
//!         digest: body_digest(&body),
//!     };
//!     Item { kind: ItemKind::Record, id: vec![n; 16], stamp, body }
//! }
//!
//! let (mut a, mut b) = (Member::default(), Member::default());
//! for n in 0..100 { a.put(record(n, 1)); }
//! for n in 50..150 { b.put(record(n, if n < 60 { 2 } else { 1 })); }
//!
//! let mut links = [Link::new(Role::Initiator, &a), Link::new(Role::Responder, &b)];
//! let mut members = [a, b];
//! let mut moved = true;
//! while moved {
//!     moved = false;
//!     for side in 0..2 {
//!         while let Some(out) = links[side].poll() {
//!             moved = true;
//!             match out {
//!                 Output::Send(msg) => {
//!                     let bytes = wire::encode(&msg);
//!                     links[1 - side].handle_bytes(&members[1 - side], &bytes)?;
//!                 }
//!                 Output::NeedItems(keys) => {
//!                     let items = keys.iter().filter_map(|k| members[side].items.get(k).cloned()).collect();
//!                     links[side].items_read(&members[side], items)?;
//!                 }
//!                 Output::Apply(items) => {
//!                     for item in items { members[side].put(item); }
//!                     links[side].refused(0)?;
//!                 }
//!                 Output::Complete => {}
//!             }
//!         }
//!     }
//! }
//! assert!(links.iter().all(Link::is_complete));
//! assert_eq!(members[0].index.total_fingerprint(), members[1].index.total_fingerprint());
//! assert_eq!(members[0].items.len(), 150);
//! assert_eq!(members[0].items[&ItemKey::of(ItemKind::Record, &[55; 16])].stamp.version, 2);
//! # Ok::<(), peergroup_sync::LinkError>(())
//! ```

pub mod flood;
pub mod item;
pub mod link;
pub mod reconcile;
mod seen;
pub mod wire;

pub use item::{Entry, Item, ItemKey, ItemKind};
pub use link::{Link, LinkError, Misbehaviour, Output, Replica, Role};
pub use reconcile::{SetIndex, Tag};
pub use wire::{Frame, FrameError, Message, WireError};
