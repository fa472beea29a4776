//! Enumerations (`HPEERENUM`): the items are taken when the enumeration starts, and handed
//! out in batches by `PeerGetNextItem`, each batch one allocation for `PeerFreeData`.

use std::collections::VecDeque;
use std::ffi::c_void;

use peergroup::{Connection, Member, Record};

use crate::alloc::Block;
use crate::convert;

/// One item of an enumeration, kept as Rust data until it is handed out.
#[derive(Debug)]
pub(crate) enum Item {
    /// `PEER_NAME_PAIR` (identities, groups).
    NamePair { name: String, friendly: String },
    /// `PEER_RECORD`.
    Record(Box<Record>),
    /// `PEER_MEMBER`.
    Member(Box<Member>),
    /// `PEER_CONNECTION_INFO`.
    Connection(Box<Connection>),
}

/// The items not handed out yet.
#[derive(Debug, Default)]
pub(crate) struct Enumeration {
    items: VecDeque<Item>,
}

impl Enumeration {
    pub(crate) fn new(items: impl IntoIterator<Item = Item>) -> Self {
        Self { items: items.into_iter().collect() }
    }

    /// How many items are left.
    pub(crate) fn remaining(&self) -> usize {
        self.items.len()
    }

    /// Takes up to `max` items and builds them, with the array of pointers to them, into one
    /// block; returns the block and the array (NULL when no item is left).
    pub(crate) fn next_batch(&mut self, max: usize) -> (Block, Vec<*mut c_void>) {
        let mut block = Block::new();
        let n = max.min(self.items.len());
        let pointers = self
            .items
            .drain(..n)
            .map(|item| match item {
                Item::NamePair { name, friendly } => convert::name_pair(&mut block, &name, &friendly).cast(),
                Item::Record(r) => convert::record(&mut block, &r).cast(),
                Item::Member(m) => convert::member(&mut block, &m).cast(),
                Item::Connection(c) => convert::connection_info(&mut block, &c).cast(),
            })
            .collect();
        (block, pointers)
    }
}
