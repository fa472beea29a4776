//! Flooding of new items through a group's neighbours, in the spirit of Plumtree (Leitão, Pereira
//! and Rodrigues, "Epidemic Broadcast Trees", 2007; iroh-gossip's `proto/plumtree.rs`).
//!
//! Each member keeps, per group, one [`Flood`]: its neighbours split into an **eager** set (sent
//! every new item whole) and a **lazy** set (sent only an announcement, [`Message::IHave`]: the
//! item's [`Entry`], batched). Every neighbour starts eager. A duplicate receipt prunes its sender
//! to lazy ([`Message::Prune`]), so the eager links of the whole group thin out to a spanning
//! tree and a new item costs each member about one receipt; the lazy announcements repair the
//! tree: an announced item that has not arrived when its timer fires is requested
//! ([`Message::Graft`]), and the announcer becomes eager again. Pushes and announcements carry
//! the hops the item travelled: when an announcement shows a path shorter by more than
//! [`Config::optimization_threshold`] hops than the eager one the item came by, the two links
//! swap roles (Plumtree's optimisation), so the tree drifts towards short paths.
//!
//! The state does no I/O, reads no clock and draws no random number: the driver feeds it
//! [`InEvent`]s with the time (`now`, µs on any monotonic clock) and carries out the
//! [`OutEvent`]s (send a message, set a timer, apply an item, report a peer). An item received
//! is handed to the driver to verify and store ([`OutEvent::Apply`]); the driver answers with
//! [`InEvent::Verdict`], and only an item the store took as new is forwarded. A refused item is
//! never forwarded and counts against its sender ([`OutEvent::Refused`]).
//!
//! Local changes come from the store's change feed, which marks their origin: the driver passes
//! only changes made on this member as [`InEvent::LocalChange`] (an item applied from a link is
//! already forwarded by the flood itself, and must not be echoed back as a local change).
//!
//! # Bounds
//! - Duplicate suppression keeps the last [`Config::recent_capacity`] entries seen.
//! - Items are kept for answering grafts: the last [`Config::cache_items`] items, at most
//!   [`Config::cache_bytes`] bytes; a graft for an item no longer cached is ignored (set
//!   reconciliation repairs what the flood misses).
//! - Announced-but-missing entries: at most [`Config::max_missing`]; each remembers at most
//!   [`MAX_ANNOUNCERS`] announcers.
//! - Items handed to the driver and not yet answered: at most [`Config::max_missing`]; a push
//!   beyond that is dropped (the driver is behind; reconciliation brings the item later).
//! - Wire sizes: see [`MAX_IHAVE`], [`MAX_ID`], [`MAX_MODIFIER`], [`MAX_BODY`].

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Debug;

use peergroup_security::{VersionStamp, body_digest};

use crate::item::{Entry, Item, ItemKey, ItemKind};

/// The wire version of the flood messages.
pub const WIRE_VERSION: u8 = 1;
/// Message type of [`Message::Push`].
pub const TYPE_PUSH: u8 = 0x40;
/// Message type of [`Message::IHave`].
pub const TYPE_IHAVE: u8 = 0x41;
/// Message type of [`Message::Graft`].
pub const TYPE_GRAFT: u8 = 0x42;
/// Message type of [`Message::Prune`].
pub const TYPE_PRUNE: u8 = 0x43;

/// Most entries in one [`Message::IHave`] or [`Message::Graft`].
pub const MAX_IHAVE: usize = 256;
/// Longest natural id of an item (a peer name is at most 137 characters; a GUID is 16 bytes).
pub const MAX_ID: usize = 1024;
/// Longest modifier (a peer name as text bytes).
pub const MAX_MODIFIER: usize = 1024;
/// Largest signed body of an item (a record's data is bounded well below this by the store).
pub const MAX_BODY: usize = crate::wire::MAX_BODY_LEN;
/// Most announcers remembered for one missing entry (each is a graft to try in turn).
pub const MAX_ANNOUNCERS: usize = 8;

/// A flood message between two neighbours of one group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// An item, whole (eager push, or the answer to a graft).
    Push {
        /// The item.
        item: Item,
        /// Links it crossed from its origin, this one included.
        hops: u16,
    },
    /// Announcements: items the sender holds.
    IHave(Vec<Announcement>),
    /// A request for the items of these entries (possibly none); the sender becomes eager for
    /// the receiver.
    Graft(Vec<Entry>),
    /// The sender received a duplicate from the receiver: the receiver moves it to lazy.
    Prune,
}

/// One announced item: its entry, and the hops it travelled to the announcer (0: the
/// announcer is its origin).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Announcement {
    /// The item's entry.
    pub entry: Entry,
    /// Hops from its origin to the announcer.
    pub hops: u16,
}

/// Why bytes are not a flood message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end before the message does.
    #[error("flood message cut short")]
    Truncated,
    /// Bytes remain after the message.
    #[error("{0} bytes after the end of the flood message")]
    Trailing(usize),
    /// The type byte is not a flood message type.
    #[error("unknown flood message type {0:#04x}")]
    UnknownType(u8),
    /// The wire version is not one this build reads.
    #[error("unsupported flood wire version {0}")]
    UnsupportedVersion(u8),
    /// The item kind byte names no kind.
    #[error("unknown item kind {0}")]
    UnknownKind(u8),
    /// A boolean byte is neither 0 nor 1.
    #[error("invalid flag byte {0}")]
    InvalidFlag(u8),
    /// A length exceeds its bound.
    #[error("{what} of {len} bytes or entries exceeds the bound of {max}")]
    TooLong {
        /// Which field.
        what: &'static str,
        /// Its length on the wire.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// The stamp's digest is not the digest of the body carried.
    #[error("pushed item's digest does not match its body")]
    DigestMismatch,
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// A length-prefixed byte string: the length as `u32`, checked against `max` before reading.
    fn bytes(&mut self, what: &'static str, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(DecodeError::TooLong { what, len, max });
        }
        self.take(len)
    }
    /// A count (at most [`MAX_IHAVE`]) whose `size`-byte elements are all present.
    fn count(&mut self, size: usize) -> Result<usize, DecodeError> {
        let n = usize::from(self.u16()?);
        if n > MAX_IHAVE {
            return Err(DecodeError::TooLong { what: "entry list", len: n, max: MAX_IHAVE });
        }
        // Checked before allocating.
        if self.rest.len() < n * size {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }
    fn entry(&mut self) -> Result<Entry, DecodeError> {
        Ok(Entry { key: ItemKey(self.array()?), digest: self.array()? })
    }
    fn entries(&mut self) -> Result<Vec<Entry>, DecodeError> {
        let n = self.count(64)?;
        (0..n).map(|_| self.entry()).collect()
    }
    fn announcements(&mut self) -> Result<Vec<Announcement>, DecodeError> {
        let n = self.count(66)?;
        (0..n).map(|_| Ok(Announcement { entry: self.entry()?, hops: self.u16()? })).collect()
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // Lengths are bounded by the MAX_* constants (all below u32::MAX) when encoding what the
    // store made; a longer field is truncated in the length only if a caller bypasses them,
    // and then decoding refuses the message.
    out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

fn put_count(out: &mut Vec<u8>, len: usize) -> usize {
    let n = u16::try_from(len).unwrap_or(u16::MAX);
    out.extend_from_slice(&n.to_be_bytes());
    usize::from(n)
}

fn put_entry(out: &mut Vec<u8>, e: &Entry) {
    out.extend_from_slice(&e.key.0);
    out.extend_from_slice(&e.digest);
}

impl Message {
    /// Its wire type byte (0x40..0x4f).
    pub fn wire_type(&self) -> u8 {
        match self {
            Message::Push { .. } => TYPE_PUSH,
            Message::IHave(_) => TYPE_IHAVE,
            Message::Graft(_) => TYPE_GRAFT,
            Message::Prune => TYPE_PRUNE,
        }
    }

    /// Encodes: version byte, type byte (the header of every message of [`crate::wire`]), then
    /// the fields (big-endian, length-prefixed; see
    /// `docs/sync.md`).
    ///
    /// Lists longer than [`MAX_IHAVE`] are not sent by [`Flood`]; encoding one gives bytes that
    /// [`Message::decode`] refuses.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![WIRE_VERSION, self.wire_type()];
        match self {
            Message::Push { item, hops } => {
                out.extend_from_slice(&hops.to_be_bytes());
                out.push(item.kind as u8);
                put_bytes(&mut out, &item.id);
                out.push(u8::from(item.stamp.deleted));
                out.extend_from_slice(&item.stamp.version.to_be_bytes());
                out.extend_from_slice(&item.stamp.modified_micros.to_be_bytes());
                put_bytes(&mut out, &item.stamp.modifier);
                out.extend_from_slice(&item.stamp.digest);
                put_bytes(&mut out, &item.body);
            }
            Message::IHave(announcements) => {
                let n = put_count(&mut out, announcements.len());
                for a in announcements.iter().take(n) {
                    put_entry(&mut out, &a.entry);
                    out.extend_from_slice(&a.hops.to_be_bytes());
                }
            }
            Message::Graft(entries) => {
                let n = put_count(&mut out, entries.len());
                for e in entries.iter().take(n) {
                    put_entry(&mut out, e);
                }
            }
            Message::Prune => {}
        }
        out
    }

    /// Decodes one whole message. Never panics; every length is checked against its bound
    /// before anything is allocated, and a pushed item's digest must be its body's.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader { rest: bytes };
        let version = r.u8()?;
        if version != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let ty = r.u8()?;
        if !(TYPE_PUSH..=TYPE_PRUNE).contains(&ty) {
            return Err(DecodeError::UnknownType(ty));
        }
        let message = match ty {
            TYPE_PUSH => {
                let hops = r.u16()?;
                let k = r.u8()?;
                let kind = ItemKind::from_u8(k).ok_or(DecodeError::UnknownKind(k))?;
                let id = r.bytes("item id", MAX_ID)?.to_vec();
                let deleted = match r.u8()? {
                    0 => false,
                    1 => true,
                    f => return Err(DecodeError::InvalidFlag(f)),
                };
                let version = r.u32()?;
                let modified_micros = i64::from_be_bytes(r.array()?);
                let modifier = r.bytes("modifier", MAX_MODIFIER)?.to_vec();
                let digest = r.array()?;
                let body = r.bytes("body", MAX_BODY)?.to_vec();
                if body_digest(&body) != digest {
                    return Err(DecodeError::DigestMismatch);
                }
                let stamp = VersionStamp { deleted, version, modified_micros, modifier, digest };
                Message::Push { item: Item { kind, id, stamp, body }, hops }
            }
            TYPE_IHAVE => Message::IHave(r.announcements()?),
            TYPE_GRAFT => Message::Graft(r.entries()?),
            _ => Message::Prune,
        };
        if !r.rest.is_empty() {
            return Err(DecodeError::Trailing(r.rest.len()));
        }
        Ok(message)
    }
}

/// Tunables of a [`Flood`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Entries remembered for duplicate suppression.
    pub recent_capacity: usize,
    /// Items kept to answer grafts (count).
    pub cache_items: usize,
    /// Items kept to answer grafts (sum of body sizes).
    pub cache_bytes: usize,
    /// How long an announced item may take to arrive before it is grafted, µs. A little more
    /// than one round trip: the eager copy is usually on its way.
    pub graft_timeout_micros: u64,
    /// How long announcements wait to be batched, µs.
    pub ihave_delay_micros: u64,
    /// Announced-but-missing entries tracked at most.
    pub max_missing: usize,
    /// How many hops shorter than the eager path an announced path must be for the two links
    /// to swap roles (Plumtree's optimisation; a margin, so the tree does not flap).
    pub optimization_threshold: u16,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            recent_capacity: 16_384,
            cache_items: 1024,
            cache_bytes: 16 * 1024 * 1024,
            graft_timeout_micros: 80_000,
            ihave_delay_micros: 20_000,
            max_missing: 4096,
            optimization_threshold: 3,
        }
    }
}

/// A timer the driver sets and fires back with [`InEvent::Timer`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Send the batched announcements.
    FlushIHave,
    /// Graft this entry if it has still not arrived.
    Graft(Entry),
}

/// What the store did with an item the flood handed over ([`OutEvent::Apply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Verified and stored as new: forward it.
    Applied,
    /// Verified, but the store holds this version or a later one: not forwarded.
    Stale,
    /// Refused by the trust path or the policy: never forwarded, counted against the sender.
    Refused,
}

/// An event the driver feeds in.
#[derive(Clone, Debug)]
pub enum InEvent<P> {
    /// A link to this neighbour is up.
    LinkUp(P),
    /// The link to this neighbour is down.
    LinkDown(P),
    /// A message arrived from a neighbour.
    Message(P, Message),
    /// A timer set by [`OutEvent::SetTimer`] fired.
    Timer(Timer),
    /// A change made on this member (from the store's change feed, local origin only).
    LocalChange(Item),
    /// The store's answer for an item handed over with [`OutEvent::Apply`].
    Verdict(Entry, Verdict),
    /// The store took this item as new from set reconciliation with this neighbour: it is
    /// forwarded like a pushed item (not back to that neighbour), so that what a healed
    /// partition exchanges over one link reaches the members behind it.
    Reconciled(P, Item),
    /// The store took this entry by another path and it must not be forwarded (for example a
    /// whole database copied to a new member, whose neighbours reconcile on their own): it is
    /// only remembered, so that announcements of it are not grafted.
    Known(Entry),
}

/// Something the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutEvent<P> {
    /// Send this message to this neighbour.
    Send(P, Message),
    /// Fire this timer at this time (µs, the clock of `now`). Timers are never cancelled: a
    /// timer that is no longer needed does nothing when it fires.
    SetTimer(u64, Timer),
    /// Verify and store this item received from this neighbour, then answer with
    /// [`InEvent::Verdict`].
    Apply(P, Item),
    /// This neighbour sent an item the store refused (the peer may be misbehaving).
    Refused(P, Entry),
}

/// Counters, for tests, figures and the application's diagnostics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages sent, by kind: push, ihave, graft, prune.
    pub sent: [u64; 4],
    /// Pushes received.
    pub pushes_received: u64,
    /// Pushes received for an entry already seen.
    pub duplicates: u64,
    /// Items refused by the store.
    pub refused: u64,
    /// Grafts sent.
    pub grafts: u64,
    /// Links swapped for a shorter path (Plumtree's optimisation).
    pub optimizations: u64,
}

#[derive(Debug)]
struct Missing<P> {
    announcers: VecDeque<P>,
}

/// How an entry seen recently came.
#[derive(Clone, Debug)]
struct Receipt<P> {
    /// Hops from its origin to here (0: made here, or learned outside the flood).
    hops: u16,
    /// The neighbour whose push brought it, if a push did.
    from: Option<P>,
}

/// The flood state of one group on one member. `P` names a neighbour (a link id, a peer name).
#[derive(Debug)]
pub struct Flood<P> {
    config: Config,
    eager: BTreeSet<P>,
    lazy: BTreeSet<P>,
    recent: HashMap<Entry, Receipt<P>>,
    recent_order: VecDeque<Entry>,
    cache: BTreeMap<Entry, Item>,
    cache_order: VecDeque<Entry>,
    cache_size: usize,
    /// Received, handed to the driver, verdict not yet given: entry → sender, item, hops.
    pending: BTreeMap<Entry, (P, Item, u16)>,
    missing: BTreeMap<Entry, Missing<P>>,
    ihave_queue: BTreeMap<P, Vec<Announcement>>,
    flush_set: bool,
    stats: Stats,
    out: Vec<OutEvent<P>>,
}

impl<P: Clone + Ord + Debug> Flood<P> {
    /// An empty state: no neighbours, nothing seen.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            eager: BTreeSet::new(),
            lazy: BTreeSet::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            cache: BTreeMap::new(),
            cache_order: VecDeque::new(),
            cache_size: 0,
            pending: BTreeMap::new(),
            missing: BTreeMap::new(),
            ihave_queue: BTreeMap::new(),
            flush_set: false,
            stats: Stats::default(),
            out: Vec::new(),
        }
    }

    /// The eager neighbours.
    pub fn eager(&self) -> &BTreeSet<P> {
        &self.eager
    }

    /// The lazy neighbours.
    pub fn lazy(&self) -> &BTreeSet<P> {
        &self.lazy
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Whether this entry was seen recently (received, stored or announced as known).
    pub fn has_seen(&self, entry: &Entry) -> bool {
        self.recent.contains_key(entry)
    }

    /// Handles one event at time `now` (µs) and returns what to do, in order.
    pub fn handle(&mut self, now: u64, event: InEvent<P>) -> Vec<OutEvent<P>> {
        match event {
            InEvent::LinkUp(p) => {
                self.lazy.remove(&p);
                self.eager.insert(p);
            }
            InEvent::LinkDown(p) => self.link_down(&p),
            InEvent::Message(p, m) => self.on_message(now, p, m),
            InEvent::Timer(Timer::FlushIHave) => {
                self.flush_set = false;
                self.flush_ihave();
            }
            InEvent::Timer(Timer::Graft(entry)) => self.on_graft_timer(now, entry),
            InEvent::LocalChange(item) => self.originate(now, None, item),
            InEvent::Verdict(entry, verdict) => self.on_verdict(now, entry, verdict),
            // For the flood, this member is the origin of what reconciliation brought.
            InEvent::Reconciled(p, item) => self.originate(now, Some(&p), item),
            InEvent::Known(entry) => {
                self.remember(entry, 0, None);
                self.missing.remove(&entry);
            }
        }
        std::mem::take(&mut self.out)
    }

    /// Floods `item` from here, to every neighbour but `except`.
    fn originate(&mut self, now: u64, except: Option<&P>, item: Item) {
        let entry = item.entry();
        self.remember(entry, 0, None);
        self.missing.remove(&entry);
        self.cache_item(item.clone());
        self.forward(now, except, &item, 0);
    }

    fn link_down(&mut self, p: &P) {
        self.eager.remove(p);
        self.lazy.remove(p);
        self.ihave_queue.remove(p);
        for m in self.missing.values_mut() {
            m.announcers.retain(|a| a != p);
        }
    }

    fn is_neighbour(&self, p: &P) -> bool {
        self.eager.contains(p) || self.lazy.contains(p)
    }

    fn send(&mut self, p: P, m: Message) {
        let i = match m {
            Message::Push { .. } => 0,
            Message::IHave(_) => 1,
            Message::Graft(_) => 2,
            Message::Prune => 3,
        };
        self.stats.sent[i] += 1;
        self.out.push(OutEvent::Send(p, m));
    }

    fn on_message(&mut self, now: u64, from: P, m: Message) {
        if !self.is_neighbour(&from) {
            // A message racing a link-down: the link is gone, nothing to answer on.
            return;
        }
        match m {
            Message::Push { item, hops } => {
                self.stats.pushes_received += 1;
                let entry = item.entry();
                if self.recent.contains_key(&entry) || self.pending.contains_key(&entry) {
                    self.stats.duplicates += 1;
                    if self.eager.remove(&from) {
                        self.lazy.insert(from.clone());
                        self.send(from, Message::Prune);
                    }
                    return;
                }
                if self.pending.len() >= self.config.max_missing {
                    return;
                }
                // The sender delivers eagerly from now on (it may be a grafted lazy peer).
                self.lazy.remove(&from);
                self.eager.insert(from.clone());
                self.missing.remove(&entry);
                self.pending.insert(entry, (from.clone(), item.clone(), hops));
                self.out.push(OutEvent::Apply(from, item));
            }
            Message::IHave(announcements) => {
                for Announcement { entry, hops } in announcements.into_iter().take(MAX_IHAVE) {
                    if let Some(receipt) = self.recent.get(&entry) {
                        self.optimize(&from, entry, hops, receipt.clone());
                        continue;
                    }
                    if self.pending.contains_key(&entry) {
                        continue;
                    }
                    let timeout = self.config.graft_timeout_micros;
                    if let Some(m) = self.missing.get_mut(&entry) {
                        if m.announcers.len() < MAX_ANNOUNCERS && !m.announcers.contains(&from) {
                            m.announcers.push_back(from.clone());
                        }
                    } else if self.missing.len() < self.config.max_missing {
                        self.missing.insert(entry, Missing { announcers: VecDeque::from([from.clone()]) });
                        self.out.push(OutEvent::SetTimer(now.saturating_add(timeout), Timer::Graft(entry)));
                    }
                }
            }
            Message::Graft(entries) => {
                self.lazy.remove(&from);
                self.eager.insert(from.clone());
                for entry in entries.into_iter().take(MAX_IHAVE) {
                    if let Some(item) = self.cache.get(&entry) {
                        let item = item.clone();
                        let hops = self.recent.get(&entry).map_or(0, |r| r.hops).saturating_add(1);
                        self.send(from.clone(), Message::Push { item, hops });
                    }
                }
            }
            Message::Prune => {
                if self.eager.remove(&from) {
                    self.lazy.insert(from);
                }
            }
        }
    }

    /// Plumtree's optimisation: `announcer` (lazy) holds `entry` at `hops`, fewer than the
    /// eager path it came by, by more than the threshold: the announcer's link becomes eager
    /// (an empty graft) and the eager sender's lazy (a prune).
    fn optimize(&mut self, announcer: &P, entry: Entry, hops: u16, receipt: Receipt<P>) {
        let Some(sender) = receipt.from else { return };
        let shorter = u32::from(hops) + 1 + u32::from(self.config.optimization_threshold);
        if sender == *announcer
            || !self.lazy.contains(announcer)
            || !self.eager.contains(&sender)
            || u32::from(receipt.hops) <= shorter
        {
            return;
        }
        self.lazy.remove(announcer);
        self.eager.insert(announcer.clone());
        self.send(announcer.clone(), Message::Graft(Vec::new()));
        self.eager.remove(&sender);
        self.lazy.insert(sender.clone());
        self.send(sender, Message::Prune);
        self.stats.optimizations += 1;
        if let Some(r) = self.recent.get_mut(&entry) {
            *r = Receipt { hops: hops.saturating_add(1), from: Some(announcer.clone()) };
        }
    }

    fn on_graft_timer(&mut self, now: u64, entry: Entry) {
        if self.recent.contains_key(&entry) || self.pending.contains_key(&entry) {
            self.missing.remove(&entry);
            return;
        }
        let Some(m) = self.missing.get_mut(&entry) else { return };
        let Some(announcer) = m.announcers.pop_front() else {
            // Every announcer was tried: set reconciliation will bring it.
            self.missing.remove(&entry);
            return;
        };
        // With no announcer left, the entry stays one more period (a new announcement may
        // come if the graft's answer is lost); the next firing drops it.
        self.stats.grafts += 1;
        self.lazy.remove(&announcer);
        self.eager.insert(announcer.clone());
        self.send(announcer, Message::Graft(vec![entry]));
        let at = now.saturating_add(self.config.graft_timeout_micros);
        self.out.push(OutEvent::SetTimer(at, Timer::Graft(entry)));
    }

    fn on_verdict(&mut self, now: u64, entry: Entry, verdict: Verdict) {
        let Some((from, item, hops)) = self.pending.remove(&entry) else { return };
        match verdict {
            Verdict::Applied => {
                self.remember(entry, hops, Some(from.clone()));
                self.cache_item(item.clone());
                self.forward(now, Some(&from), &item, hops);
            }
            Verdict::Stale => self.remember(entry, hops, None),
            Verdict::Refused => {
                // Not remembered as seen: a genuine copy of an item with this entry cannot
                // exist (the digest covers the signed body), so nothing is lost, and the
                // sender is reported each time.
                self.stats.refused += 1;
                self.out.push(OutEvent::Refused(from, entry));
            }
        }
    }

    /// Pushes `item` (which came `hops` hops) to every eager neighbour but `from`, and queues
    /// its announcement for every lazy one.
    fn forward(&mut self, now: u64, from: Option<&P>, item: &Item, hops: u16) {
        let entry = item.entry();
        let eager: Vec<P> = self.eager.iter().filter(|p| Some(*p) != from).cloned().collect();
        for p in eager {
            self.send(p, Message::Push { item: item.clone(), hops: hops.saturating_add(1) });
        }
        let lazy: Vec<P> = self.lazy.iter().filter(|p| Some(*p) != from).cloned().collect();
        for p in lazy {
            let queue = self.ihave_queue.entry(p.clone()).or_default();
            queue.push(Announcement { entry, hops });
            if queue.len() >= MAX_IHAVE {
                let batch = std::mem::take(queue);
                self.send(p, Message::IHave(batch));
            }
        }
        if !self.flush_set && self.ihave_queue.values().any(|q| !q.is_empty()) {
            self.flush_set = true;
            let at = now.saturating_add(self.config.ihave_delay_micros);
            self.out.push(OutEvent::SetTimer(at, Timer::FlushIHave));
        }
    }

    fn flush_ihave(&mut self) {
        let queue = std::mem::take(&mut self.ihave_queue);
        for (p, batch) in queue {
            if !batch.is_empty() && self.is_neighbour(&p) {
                self.send(p, Message::IHave(batch));
            }
        }
    }

    fn remember(&mut self, entry: Entry, hops: u16, from: Option<P>) {
        if self.recent.insert(entry, Receipt { hops, from }).is_none() {
            self.recent_order.push_back(entry);
            while self.recent_order.len() > self.config.recent_capacity {
                if let Some(old) = self.recent_order.pop_front() {
                    self.recent.remove(&old);
                }
            }
        }
    }

    fn cache_item(&mut self, item: Item) {
        let entry = item.entry();
        if self.cache.contains_key(&entry) || item.body.len() > self.config.cache_bytes {
            return;
        }
        self.cache_size += item.body.len();
        self.cache.insert(entry, item);
        self.cache_order.push_back(entry);
        while self.cache_order.len() > self.config.cache_items || self.cache_size > self.config.cache_bytes {
            let Some(old) = self.cache_order.pop_front() else { break };
            if let Some(gone) = self.cache.remove(&old) {
                self.cache_size -= gone.body.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8, body: &[u8]) -> Item {
        Item {
            kind: ItemKind::Record,
            id: vec![n; 16],
            stamp: VersionStamp {
                deleted: false,
                version: 1,
                modified_micros: 7,
                modifier: b"alice".to_vec(),
                digest: body_digest(body),
            },
            body: body.to_vec(),
        }
    }

    fn push(item: Item) -> Message {
        Message::Push { item, hops: 1 }
    }

    fn ihave(entry: Entry, hops: u16) -> Message {
        Message::IHave(vec![Announcement { entry, hops }])
    }

    fn sends(out: &[OutEvent<u32>]) -> Vec<(u32, u8)> {
        out.iter()
            .filter_map(|o| match o {
                OutEvent::Send(p, m) => Some((*p, m.wire_type())),
                _ => None,
            })
            .collect()
    }

    fn flood(neighbours: &[u32]) -> Flood<u32> {
        let mut f = Flood::new(Config::default());
        for &p in neighbours {
            f.handle(0, InEvent::LinkUp(p));
        }
        f
    }

    #[test]
    fn every_message_round_trips() {
        let e = item(1, b"x").entry();
        for m in [
            Message::Push { item: item(1, b"body"), hops: 3 },
            Message::IHave(vec![Announcement { entry: e, hops: 0 }, Announcement { entry: e, hops: 9 }]),
            Message::Graft(vec![e]),
            Message::Prune,
            Message::IHave(vec![]),
        ] {
            assert_eq!(Message::decode(&m.encode()), Ok(m));
        }
    }

    #[test]
    fn decoding_refuses_bad_input() {
        let push = Message::Push { item: item(1, b"body"), hops: 1 }.encode();
        for cut in 0..push.len() {
            assert_eq!(Message::decode(&push[..cut]), Err(DecodeError::Truncated), "cut at {cut}");
        }
        let mut trailing = push.clone();
        trailing.push(0);
        assert_eq!(Message::decode(&trailing), Err(DecodeError::Trailing(1)));
        let mut forged = push.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(Message::decode(&forged), Err(DecodeError::DigestMismatch));
        assert_eq!(Message::decode(&[1, 0x44]), Err(DecodeError::UnknownType(0x44)));
        assert_eq!(Message::decode(&[2, 0x43]), Err(DecodeError::UnsupportedVersion(2)));
        let too_many = [&[1, 0x41][..], &u16::try_from(MAX_IHAVE + 1).unwrap().to_be_bytes()].concat();
        assert!(matches!(Message::decode(&too_many), Err(DecodeError::TooLong { .. })));
        let huge_body = [&[1, 0x40, 0, 1, 1, 0, 0, 0, 0][..], &[0; 17], &[0; 32], &[0xff; 4]].concat();
        assert!(matches!(Message::decode(&huge_body), Err(DecodeError::TooLong { what: "body", .. })));
    }

    #[test]
    fn a_local_change_is_pushed_to_eager_and_announced_to_lazy() {
        let mut f = flood(&[1, 2, 3]);
        f.handle(0, InEvent::Message(3, Message::Prune));
        let out = f.handle(10, InEvent::LocalChange(item(1, b"a")));
        assert_eq!(sends(&out), vec![(1, TYPE_PUSH), (2, TYPE_PUSH)]);
        assert!(out.contains(&OutEvent::SetTimer(10 + 20_000, Timer::FlushIHave)));
        let out = f.handle(20_010, InEvent::Timer(Timer::FlushIHave));
        let announced = Announcement { entry: item(1, b"a").entry(), hops: 0 };
        assert_eq!(out, vec![OutEvent::Send(3, Message::IHave(vec![announced]))]);
    }

    #[test]
    fn an_item_is_forwarded_only_once_applied() {
        let mut f = flood(&[1, 2]);
        let it = item(1, b"a");
        let out = f.handle(0, InEvent::Message(1, push(it.clone())));
        assert_eq!(out, vec![OutEvent::Apply(1, it.clone())]);
        let out = f.handle(1, InEvent::Verdict(it.entry(), Verdict::Applied));
        assert_eq!(sends(&out), vec![(2, TYPE_PUSH)], "not back to its sender");
    }

    #[test]
    fn a_refused_item_is_never_forwarded_and_counts_against_its_sender() {
        let mut f = flood(&[1, 2]);
        let it = item(1, b"forged");
        f.handle(0, InEvent::Message(1, push(it.clone())));
        let out = f.handle(1, InEvent::Verdict(it.entry(), Verdict::Refused));
        assert_eq!(out, vec![OutEvent::Refused(1, it.entry())]);
        assert_eq!(f.stats().refused, 1);
        // Nor later, when asked for it.
        let out = f.handle(2, InEvent::Message(2, Message::Graft(vec![it.entry()])));
        assert!(sends(&out).is_empty());
    }

    #[test]
    fn a_duplicate_prunes_its_sender() {
        let mut f = flood(&[1, 2]);
        let it = item(1, b"a");
        f.handle(0, InEvent::Message(1, push(it.clone())));
        f.handle(0, InEvent::Verdict(it.entry(), Verdict::Applied));
        let out = f.handle(1, InEvent::Message(2, push(it)));
        assert_eq!(out, vec![OutEvent::Send(2, Message::Prune)]);
        assert!(f.lazy().contains(&2) && f.eager().contains(&1));
        assert_eq!(f.stats().duplicates, 1);
    }

    #[test]
    fn a_missing_announced_item_is_grafted_from_each_announcer_in_turn() {
        let mut f = flood(&[1, 2, 3]);
        f.handle(0, InEvent::Message(1, Message::Prune));
        f.handle(0, InEvent::Message(2, Message::Prune));
        let e = item(1, b"a").entry();
        let out = f.handle(5, InEvent::Message(1, ihave(e, 1)));
        assert_eq!(out, vec![OutEvent::SetTimer(80_005, Timer::Graft(e))]);
        assert!(f.handle(6, InEvent::Message(2, ihave(e, 1))).is_empty());
        let out = f.handle(80_005, InEvent::Timer(Timer::Graft(e)));
        assert_eq!(out[0], OutEvent::Send(1, Message::Graft(vec![e])));
        assert!(f.eager().contains(&1));
        let out = f.handle(160_005, InEvent::Timer(Timer::Graft(e)));
        assert_eq!(out[0], OutEvent::Send(2, Message::Graft(vec![e])));
        // The item arrives: the next firing does nothing.
        f.handle(160_010, InEvent::Message(2, push(item(1, b"a"))));
        assert!(f.handle(240_005, InEvent::Timer(Timer::Graft(e))).is_empty());
    }

    #[test]
    fn a_much_shorter_announced_path_swaps_the_links() {
        let mut f = flood(&[1, 2]);
        f.handle(0, InEvent::Message(2, Message::Prune));
        let it = item(1, b"a");
        f.handle(0, InEvent::Message(1, Message::Push { item: it.clone(), hops: 9 }));
        f.handle(0, InEvent::Verdict(it.entry(), Verdict::Applied));
        // 2 had it at 5 hops: through 2 it would have come in 6, not shorter by more than 3.
        assert!(f.handle(1, InEvent::Message(2, ihave(it.entry(), 5))).is_empty());
        // At 4 hops: 5 against 9.
        let out = f.handle(2, InEvent::Message(2, ihave(it.entry(), 4)));
        assert_eq!(out, vec![OutEvent::Send(2, Message::Graft(vec![])), OutEvent::Send(1, Message::Prune)]);
        assert!(f.eager().contains(&2) && f.lazy().contains(&1));
        assert_eq!(f.stats().optimizations, 1);
        // Not back: through 1 it came in 9, against 5 now.
        assert!(f.handle(3, InEvent::Message(1, ihave(it.entry(), 8))).is_empty());
    }

    #[test]
    fn a_graft_is_answered_from_the_cache() {
        let mut f = flood(&[1, 2]);
        f.handle(0, InEvent::Message(2, Message::Prune));
        let it = item(1, b"a");
        f.handle(0, InEvent::LocalChange(it.clone()));
        let out = f.handle(1, InEvent::Message(2, Message::Graft(vec![it.entry()])));
        assert_eq!(out, vec![OutEvent::Send(2, Message::Push { item: it, hops: 1 })]);
        assert!(f.eager().contains(&2));
    }

    #[test]
    fn an_item_known_by_reconciliation_is_not_grafted() {
        let mut f = flood(&[1]);
        let e = item(1, b"a").entry();
        f.handle(0, InEvent::Message(1, ihave(e, 1)));
        f.handle(1, InEvent::Known(e));
        assert!(f.handle(80_000, InEvent::Timer(Timer::Graft(e))).is_empty());
    }

    #[test]
    fn a_reconciled_item_is_forwarded_but_not_back() {
        let mut f = flood(&[1, 2, 3]);
        let it = item(1, b"a");
        let out = f.handle(0, InEvent::Reconciled(2, it.clone()));
        assert_eq!(sends(&out), vec![(1, TYPE_PUSH), (3, TYPE_PUSH)]);
        assert!(f.has_seen(&it.entry()));
    }

    #[test]
    fn the_recent_set_and_cache_are_bounded() {
        let config = Config { recent_capacity: 4, cache_items: 2, ..Config::default() };
        let mut f: Flood<u32> = Flood::new(config);
        for n in 0..10 {
            f.handle(0, InEvent::LocalChange(item(n, &[n])));
        }
        assert_eq!(f.recent.len(), 4);
        assert_eq!(f.cache.len(), 2);
        assert!(f.has_seen(&item(9, &[9]).entry()) && !f.has_seen(&item(0, &[0]).entry()));
    }

    #[test]
    fn items_awaiting_a_verdict_are_bounded() {
        let mut f: Flood<u32> = Flood::new(Config { max_missing: 2, ..Config::default() });
        f.handle(0, InEvent::LinkUp(1));
        let applies: usize = (0..5)
            .map(|n| f.handle(0, InEvent::Message(1, push(item(n, &[n])))))
            .filter(|out| matches!(out.first(), Some(OutEvent::Apply(..))))
            .count();
        assert_eq!(applies, 2);
    }

    #[test]
    fn messages_from_a_link_that_is_down_are_ignored() {
        let mut f = flood(&[1]);
        f.handle(0, InEvent::LinkDown(1));
        assert!(f.handle(1, InEvent::Message(1, push(item(1, b"a")))).is_empty());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn decoding_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(m) = Message::decode(&bytes) {
                    prop_assert_eq!(m.encode(), bytes);
                }
            }

            #[test]
            fn pushes_round_trip(id in proptest::collection::vec(any::<u8>(), 0..64),
                                 body in proptest::collection::vec(any::<u8>(), 0..256),
                                 version: u32, modified: i64, deleted: bool) {
                let it = Item {
                    kind: ItemKind::Member,
                    id,
                    stamp: VersionStamp { deleted, version, modified_micros: modified, modifier: b"m".to_vec(), digest: body_digest(&body) },
                    body,
                };
                let m = Message::Push { item: it, hops: version as u16 };
                prop_assert_eq!(Message::decode(&m.encode()), Ok(m));
            }
        }
    }
}
