//! The replication protocol of peergroup, without I/O, clocks or randomness of its own (in the
//! style of `quinn-proto` and iroh-gossip's `proto`): a driver feeds it events (a message
//! received, a timer fired, a local change, a link up or down) and carries out what it returns
//! (messages to send, timers to set, items to apply).
//!
//! - [`item`]: what is replicated (records, member entries, group properties as signed items),
//!   their keys and the versions held; the order of versions is the security crate's
//!   [`peergroup_security::VersionStamp`].
//!
//! See `docs/sync.md` for the messages, the reconciliation and the bounds.

pub mod flood;
pub mod item;

pub use item::{Entry, Item, ItemKey, ItemKind};
