//! The per-link reconciliation the simulator runs when a link comes up, behind a small trait so
//! that the real link state machine of `peergroup-sync` plugs in without touching the rest.

use std::fmt::Debug;

use peergroup_sync::{Item, Link, Output, Role, wire};

use crate::store::MemStore;

/// One end of one link's reconciliation. A fresh value is made for each end each time the
/// link comes up (or is told to resynchronise).
pub trait Reconciler: Debug {
    /// What the two ends exchange (delivered in order, without loss, while the link is up).
    type Message: Clone + Debug;

    /// A new end for a link that just came up; exactly one of the two ends is the `initiator`.
    fn new_link(initiator: bool, store: &MemStore) -> Self;

    /// Starts a reconciliation: the messages to send.
    fn start(&mut self, store: &MemStore) -> Vec<Self::Message>;

    /// The store refused `count` of the items [`Reconciler::receive`] returned last.
    fn refused(&mut self, _count: u64) {}

    /// Whether this end gave up on the link (its peer misbehaved).
    fn failed(&self) -> bool {
        false
    }

    /// A message from the other end: the messages to answer with and the items to apply.
    fn receive(&mut self, store: &MemStore, message: Self::Message) -> (Vec<Self::Message>, Vec<Item>);

    /// The size of a message on the wire, for the figures.
    fn wire_size(message: &Self::Message) -> usize;
}

/// The real thing: `peergroup_sync::Link` over its wire encoding (what a member link carries).
#[derive(Debug)]
pub struct SyncLink {
    link: Link,
    failed: bool,
}

impl SyncLink {
    /// Carries out the link's outputs: messages to send, items to read (from the store at
    /// once), items to apply (returned to the simulator, which applies them).
    fn drain(&mut self, store: &MemStore) -> (Vec<Vec<u8>>, Vec<Item>) {
        let (mut send, mut apply) = (Vec::new(), Vec::new());
        while let Some(output) = self.link.poll() {
            match output {
                Output::Send(m) => send.push(wire::encode(&m)),
                Output::NeedItems(keys) => {
                    let items = keys.iter().filter_map(|k| store.get_any(k).cloned()).collect();
                    if self.link.items_read(store, items).is_err() {
                        self.failed = true;
                    }
                }
                Output::Apply(items) => apply.extend(items),
                Output::Complete => {}
            }
        }
        if self.failed {
            send.clear();
        }
        (send, apply)
    }
}

impl Reconciler for SyncLink {
    type Message = Vec<u8>;

    fn new_link(initiator: bool, store: &MemStore) -> Self {
        let role = if initiator { Role::Initiator } else { Role::Responder };
        Self { link: Link::new(role, store), failed: false }
    }

    fn start(&mut self, store: &MemStore) -> Vec<Vec<u8>> {
        self.drain(store).0
    }

    fn receive(&mut self, store: &MemStore, message: Vec<u8>) -> (Vec<Vec<u8>>, Vec<Item>) {
        if self.failed || self.link.handle_bytes(store, &message).is_err() {
            self.failed = true;
            return (vec![], vec![]);
        }
        self.drain(store)
    }

    fn refused(&mut self, count: u64) {
        if count > 0 && self.link.refused(count).is_err() {
            self.failed = true;
        }
    }

    fn failed(&self) -> bool {
        self.failed
    }

    fn wire_size(message: &Vec<u8>) -> usize {
        message.len()
    }
}
