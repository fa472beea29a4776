//! The per-link reconciliation the simulator runs when a link comes up, behind a small trait so
//! that the real link state machine of `peergroup-sync` plugs in without touching the rest.

use std::collections::BTreeSet;
use std::fmt::Debug;

use peergroup_sync::{Entry, Item};

use crate::store::MemStore;

/// One end of one link's reconciliation. A fresh value is made for each end each time the
/// link comes up (or is told to resynchronise).
pub trait Reconciler: Debug {
    /// What the two ends exchange (delivered in order, without loss, while the link is up).
    type Message: Clone + Debug;

    /// A new end for a link that just came up.
    fn new_link() -> Self;

    /// Starts a reconciliation: the messages to send.
    fn start(&mut self, store: &MemStore) -> Vec<Self::Message>;

    /// A message from the other end: the messages to answer with and the items to apply.
    fn receive(&mut self, store: &MemStore, message: Self::Message) -> (Vec<Self::Message>, Vec<Item>);

    /// The size of a message on the wire, for the figures.
    fn wire_size(message: &Self::Message) -> usize;
}

/// A placeholder: both ends send their whole entry list, then every item the other lacks.
/// Bandwidth grows with the store, not with the difference (the real reconciliation's point);
/// it is here so that the flood, the store rules and the simulator can be tested now.
#[derive(Debug, Default)]
pub struct FullExchange;

/// The placeholder's messages.
#[derive(Clone, Debug)]
pub enum FullMessage {
    /// Every entry the sender holds.
    Have(BTreeSet<Entry>),
    /// Items the receiver lacks (or holds in another version).
    Items(Vec<Item>),
}

impl Reconciler for FullExchange {
    type Message = FullMessage;

    fn new_link() -> Self {
        Self
    }

    fn start(&mut self, store: &MemStore) -> Vec<FullMessage> {
        vec![FullMessage::Have(store.entries())]
    }

    fn receive(&mut self, store: &MemStore, message: FullMessage) -> (Vec<FullMessage>, Vec<Item>) {
        match message {
            FullMessage::Have(theirs) => {
                let missing: Vec<Item> = store.all().filter(|i| !theirs.contains(&i.entry())).cloned().collect();
                let reply = if missing.is_empty() { vec![] } else { vec![FullMessage::Items(missing)] };
                (reply, vec![])
            }
            FullMessage::Items(items) => (vec![], items),
        }
    }

    fn wire_size(message: &FullMessage) -> usize {
        match message {
            FullMessage::Have(entries) => 4 + 64 * entries.len(),
            FullMessage::Items(items) => {
                4 + items.iter().map(|i| i.id.len() + i.body.len() + i.stamp.modifier.len() + 60).sum::<usize>()
            }
        }
    }
}
