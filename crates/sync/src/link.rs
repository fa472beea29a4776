//! The per-link state machine of one sync between two members: no I/O, no clock, no
//! randomness. The driver creates one per link and side ([`Link::new`]), feeds it what
//! happens ([`Link::handle`], [`Link::items_read`], [`Link::refused`]) and carries out what
//! [`Link::poll`] returns ([`Output`]).
//!
//! One sync runs in three overlapping parts:
//! 1. **Reconciliation** ([`crate::reconcile`]): both sides learn which keys differ: held by
//!    one side only, or by both in different versions.
//! 2. **Versions**: for a key both hold differently, both send their [`VersionStamp`]
//!    ([`Message::Stamps`]); each compares, and only the side whose version is greater in
//!    the total order sends the item, so nobody sends a version the other supersedes. A key
//!    only one side holds is sent by that side at once.
//! 3. **Items**: the link asks the driver for the items it must send
//!    ([`Output::NeedItems`]), the driver answers with [`Link::items_read`], and the link
//!    sends them: member entries and properties as soon as they are found, records once the
//!    reconciliation has ended (so that the peer holds each record's signer before the
//!    record; see [`Replica::kind`]). Items received come out as [`Output::Apply`]: the driver applies them
//!    through the store, which runs the trust path and the order of versions, and reports
//!    refusals with [`Link::refused`].
//!
//! A side sends [`Message::Done`] once its reconciliation has ended, every stamp it waits for
//! has come and every item it owes is sent. When both sides have sent `Done` the sync is
//! complete ([`Output::Complete`]): the store may set the group's synchronised mark.
//!
//! # Bounds
//! - At most [`MAX_ROUNDS`] reconciliation messages received.
//! - At most [`MAX_REFUSALS`] items refused by the store, then the link ends
//!   ([`Misbehaviour::Refused`]).
//! - An item whose body does not hash to its stamp's digest ends the link.
//! - Each key is acted on once per sync, whatever the peer repeats.
//!
//! # Memory
//! Per key acted on, a sync holds about 20 bytes in the set of keys seen and, for a record to
//! send, 16 more until its item is read (keys are held by their first 16 bytes: two that
//! share them take about 2^64 hashes to find; a record's is looked up in the index again when
//! it is read). Reads are asked [`MAX_READS_OUT`] at a time, so the items in flight stay
//! bounded whatever the difference: serving a whole group of a million records to a new
//! member holds about 37 MB here, beside the replica's index.

use std::collections::{HashSet, VecDeque};

use peergroup_security::{VersionStamp, body_digest};
use thiserror::Error;

use crate::item::{Item, ItemKey, ItemKind};
use crate::reconcile::{self, Learned, SetIndex};
use crate::seen::{Seen, short};
use crate::wire::{self, MAX_ITEMS, MAX_STAMPS, Message, StampEntry, WireError};

/// At most this many reconciliation messages received in one sync: a difference of `d`
/// entries takes about `log16(n) + 2d / 65,536` of them, so this allows over a hundred million.
pub const MAX_ROUNDS: u32 = 4096;
/// The store may refuse at most this many items received on one link; one more ends it.
pub const MAX_REFUSALS: u64 = 16;
/// Items are sent in messages of about this many bytes (one item larger than it goes alone).
pub const ITEMS_BATCH_BYTES: usize = 1024 * 1024;
/// Most keys in one [`Output::NeedItems`] (a reconciliation round that finds more asks in
/// several reads, answered in order).
pub const MAX_READ: usize = 2048;
/// At most this many [`Output::NeedItems`] unanswered: the next is asked once one is
/// answered, so that one read is ready while the items of the other leave.
pub const MAX_READS_OUT: usize = 2;

/// What the driver gives the link: the local set and the versions held.
pub trait Replica {
    /// The entries held, kept current as items are applied.
    fn index(&self) -> &SetIndex;
    /// The version held of `key`, if the item is held.
    fn stamp(&self, key: &ItemKey) -> Option<VersionStamp>;
    /// The kind of the item held under `key`, if known. The link sends member entries, then
    /// properties, before records, so that the peer can check each record's signer as the
    /// record arrives instead of holding it back; a replica that answers `None` (the default)
    /// has its items sent in key order.
    fn kind(&self, key: &ItemKey) -> Option<ItemKind> {
        let _ = key;
        None
    }
}

/// Which side of the link this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Sends the first message.
    Initiator,
    /// Answers it.
    Responder,
}

/// What the link asks the driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this message to the peer (encode it with [`wire::encode`]).
    Send(Message),
    /// Read the items of these keys from the store and pass them, in one call, to
    /// [`Link::items_read`] (requests are answered in the order they came; a key no longer
    /// held is left out).
    NeedItems(Vec<ItemKey>),
    /// Apply these items received through the store (trust path, order of versions), then
    /// report how many were refused with [`Link::refused`].
    Apply(Vec<Item>),
    /// The sync is complete: both sides sent everything the other lacked.
    Complete,
}

/// How the peer misbehaved: the link ends.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// It sent bytes that are not a message.
    #[error("undecodable message: {0}")]
    Wire(#[from] WireError),
    /// It sent a reconciliation message after the reconciliation ended.
    #[error("a reconciliation message after the reconciliation ended")]
    LateReconcile,
    /// It sent `Done` twice.
    #[error("Done sent twice")]
    DoneTwice,
    /// It needed more than [`MAX_ROUNDS`] reconciliation messages.
    #[error("more than {MAX_ROUNDS} reconciliation messages")]
    TooManyRounds,
    /// It sent an item whose body does not hash to its stamp's digest.
    #[error("an item's body does not match its digest (key {key:02x?})")]
    DigestMismatch {
        /// The item's key.
        key: ItemKey,
    },
    /// The store refused more than [`MAX_REFUSALS`] of its items.
    #[error("the store refused {refused} of its items (at most {MAX_REFUSALS})")]
    Refused {
        /// How many were refused.
        refused: u64,
    },
}

/// Why a call to the link failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The peer misbehaved; the link is closed (count it against the peer).
    #[error("the peer misbehaved: {0}")]
    Peer(#[from] Misbehaviour),
    /// The link was closed by an earlier error.
    #[error("the link is closed")]
    Closed,
    /// [`Link::items_read`] was called with no [`Output::NeedItems`] unanswered (a driver bug).
    #[error("items read without a request")]
    NoRequest,
}

/// Counters of one sync.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reconciliation messages received.
    pub rounds: u32,
    /// Items sent.
    pub items_sent: u64,
    /// Items received.
    pub items_received: u64,
    /// Items received that the store refused.
    pub refused: u64,
}

/// One side of one sync (see the module doc).
#[derive(Debug)]
pub struct Link {
    role: Role,
    outputs: VecDeque<Output>,
    reconciled: bool,
    /// Keys already acted on in this sync.
    seen: Seen,
    /// Keys whose peer stamp we wait for.
    awaiting: HashSet<ItemKey>,
    /// `NeedItems` not yet answered.
    reads: usize,
    /// Member entries and properties to send, not asked of the driver yet.
    signers: VecDeque<ItemKey>,
    /// Records to send, not asked of the driver yet, by their first 16 bytes; asked once the
    /// reconciliation ended (see `need`).
    records: VecDeque<u128>,
    sent_done: bool,
    received_done: bool,
    complete: bool,
    closed: bool,
    stats: Stats,
}

impl Link {
    /// A link for one side; the initiator's first message is ready at once.
    pub fn new(role: Role, replica: &impl Replica) -> Self {
        let mut link = Self {
            role,
            outputs: VecDeque::new(),
            reconciled: false,
            seen: Seen::default(),
            awaiting: HashSet::new(),
            reads: 0,
            signers: VecDeque::new(),
            records: VecDeque::new(),
            sent_done: false,
            received_done: false,
            complete: false,
            closed: false,
            stats: Stats::default(),
        };
        if role == Role::Initiator {
            link.outputs.push_back(Output::Send(Message::Reconcile(reconcile::initial(replica.index()))));
        }
        link
    }

    /// Its side.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The next thing to do, if any.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Whether both sides have sent everything.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Its counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Handles the bytes of one message (flood messages, types `0x40..=0x4f`, belong to the
    /// flood state and must not come here).
    pub fn handle_bytes(&mut self, replica: &impl Replica, bytes: &[u8]) -> Result<(), LinkError> {
        self.open()?;
        match wire::decode(bytes) {
            Ok(message) => self.handle(replica, message),
            Err(e) => self.fail(Misbehaviour::Wire(e)),
        }
    }

    /// Handles one decoded message.
    pub fn handle(&mut self, replica: &impl Replica, message: Message) -> Result<(), LinkError> {
        self.open()?;
        match message {
            Message::Reconcile(m) => {
                if self.reconciled {
                    return self.fail(Misbehaviour::LateReconcile);
                }
                self.stats.rounds += 1;
                if self.stats.rounds > MAX_ROUNDS {
                    return self.fail(Misbehaviour::TooManyRounds);
                }
                let (answer, learned) = reconcile::answer(replica.index(), &m);
                match answer {
                    Some(answer) => {
                        if !answer.needs_answer() {
                            self.reconciled = true;
                        }
                        self.outputs.push_back(Output::Send(Message::Reconcile(answer)));
                    }
                    None => self.reconciled = true,
                }
                self.learn(replica, learned);
            }
            Message::Stamps(stamps) => self.stamps(replica, stamps),
            Message::Items(items) => {
                if let Some(bad) = items.iter().find(|i| body_digest(&i.body) != i.stamp.digest) {
                    let key = bad.key();
                    return self.fail(Misbehaviour::DigestMismatch { key });
                }
                self.stats.items_received += items.len() as u64;
                self.outputs.push_back(Output::Apply(items));
            }
            Message::Done => {
                if self.received_done {
                    return self.fail(Misbehaviour::DoneTwice);
                }
                self.received_done = true;
            }
        }
        self.progress(replica);
        Ok(())
    }

    /// The items read for the oldest unanswered [`Output::NeedItems`].
    pub fn items_read(&mut self, replica: &impl Replica, items: Vec<Item>) -> Result<(), LinkError> {
        self.open()?;
        if self.reads == 0 {
            return Err(LinkError::NoRequest);
        }
        self.reads -= 1;
        self.stats.items_sent += items.len() as u64;
        // The items answer a read already polled, so they leave before the reads still
        // queued: the peer's store starts on the first items while this side reads the rest.
        let mut at = self.outputs.iter().position(|o| matches!(o, Output::NeedItems(_))).unwrap_or(self.outputs.len());
        let mut batch = Vec::new();
        let mut bytes = 0;
        for item in items {
            let len = wire::item_len(&item);
            if !batch.is_empty() && (bytes + len > ITEMS_BATCH_BYTES || batch.len() == MAX_ITEMS) {
                self.outputs.insert(at, Output::Send(Message::Items(std::mem::take(&mut batch))));
                at += 1;
                bytes = 0;
            }
            bytes += len;
            batch.push(item);
        }
        if !batch.is_empty() {
            self.outputs.insert(at, Output::Send(Message::Items(batch)));
        }
        self.progress(replica);
        Ok(())
    }

    /// The store refused `count` of the items of an [`Output::Apply`]: past
    /// [`MAX_REFUSALS`] in all, the link ends.
    pub fn refused(&mut self, count: u64) -> Result<(), LinkError> {
        self.open()?;
        self.stats.refused += count;
        if self.stats.refused > MAX_REFUSALS {
            return self.fail(Misbehaviour::Refused { refused: self.stats.refused });
        }
        Ok(())
    }

    fn open(&self) -> Result<(), LinkError> {
        if self.closed { Err(LinkError::Closed) } else { Ok(()) }
    }

    fn fail(&mut self, why: Misbehaviour) -> Result<(), LinkError> {
        self.closed = true;
        self.outputs.clear();
        Err(LinkError::Peer(why))
    }

    /// Marks `key` acted on; whether it was not yet.
    fn first_time(&mut self, key: &ItemKey) -> bool {
        self.seen.insert(key)
    }

    fn learn(&mut self, replica: &impl Replica, learned: Learned) {
        let mut stamps = Vec::new();
        let mut send = learned.peer_lacks;
        send.retain(|key| self.first_time(key));
        for key in &learned.we_lack {
            self.first_time(key);
        }
        for key in learned.differ {
            if self.first_time(&key) {
                self.awaiting.insert(key);
                stamps.push(StampEntry { key, stamp: replica.stamp(&key) });
            }
        }
        self.send_stamps(stamps);
        self.need(replica, send);
    }

    fn stamps(&mut self, replica: &impl Replica, stamps: Vec<StampEntry>) {
        let mut send = Vec::new();
        let mut answer = Vec::new();
        for StampEntry { key, stamp: theirs } in stamps {
            let ours = replica.stamp(&key);
            if !self.awaiting.remove(&key) {
                // The peer found a difference we did not (our set changed in between): it
                // waits for our stamp, so it gets it; we act on the key once.
                answer.push(StampEntry { key, stamp: ours.clone() });
                if !self.first_time(&key) {
                    continue;
                }
            }
            let ours_wins = match (&ours, &theirs) {
                (Some(o), Some(t)) => o.supersedes(t),
                (Some(_), None) => true,
                (None, _) => false,
            };
            if ours_wins {
                send.push(key);
            }
        }
        self.send_stamps(answer);
        self.need(replica, send);
    }

    fn send_stamps(&mut self, mut stamps: Vec<StampEntry>) {
        stamps.sort_by_key(|s| s.key);
        let mut rest = stamps.as_slice();
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(rest.len().min(MAX_STAMPS));
            self.outputs.push_back(Output::Send(Message::Stamps(chunk.to_vec())));
            rest = tail;
        }
    }

    fn need(&mut self, replica: &impl Replica, mut keys: Vec<ItemKey>) {
        // Signers first: member entries, then properties, then records (see
        // `Replica::kind`). The reconciliation finds keys range by range, so a signer may be
        // found rounds after its records; records therefore wait until it has ended (a few
        // round trips, and the time the peer's store would have spent on records it cannot
        // check yet), while member entries and properties leave at once.
        let mut signers = Vec::new();
        keys.retain(|key| match replica.kind(key) {
            Some(kind @ (ItemKind::Member | ItemKind::Properties)) => {
                signers.push((kind == ItemKind::Properties, *key));
                false
            }
            Some(ItemKind::Record) | None => true,
        });
        // Stable: key order within a kind.
        signers.sort_by_key(|(properties, _)| *properties);
        self.signers.extend(signers.into_iter().map(|(_, key)| key));
        self.records.extend(keys.iter().map(short));
        self.ask(replica);
    }

    /// Asks the driver for the next items to send, in reads of at most [`MAX_READ`] keys and
    /// at most [`MAX_READS_OUT`] at a time, so that the first items leave while the rest are
    /// read and the peer's store starts work early.
    fn ask(&mut self, replica: &impl Replica) {
        while self.reads < MAX_READS_OUT {
            let chunk: Vec<ItemKey> = if !self.signers.is_empty() {
                self.signers.drain(..self.signers.len().min(MAX_READ)).collect()
            } else if self.reconciled && !self.records.is_empty() {
                let index = replica.index();
                let n = self.records.len().min(MAX_READ);
                // A key no longer held is left out, as the driver would.
                self.records.drain(..n).filter_map(|s| index.key_by_prefix(&s.to_be_bytes())).collect()
            } else {
                return;
            };
            self.reads += 1;
            self.outputs.push_back(Output::NeedItems(chunk));
        }
    }

    fn progress(&mut self, replica: &impl Replica) {
        self.ask(replica);
        if !self.sent_done
            && self.reconciled
            && self.awaiting.is_empty()
            && self.reads == 0
            && self.signers.is_empty()
            && self.records.is_empty()
        {
            self.sent_done = true;
            self.outputs.push_back(Output::Send(Message::Done));
        }
        if self.sent_done && self.received_done && !self.complete {
            self.complete = true;
            self.outputs.push_back(Output::Complete);
        }
    }
}
