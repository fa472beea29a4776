//! The wire encoding of the link's messages: one versioned, length-bounded binary format.
//!
//! ```text
//! message     = version:u8 (= 1) type:u8 body          integers big-endian
//! type 0x01   Reconcile  n:u16 (1..=MAX_RANGES) range*n, at most MAX_ENTRIES entries and keys
//!   range     = bound mode:u8 payload
//!   bound     = len:u8 (0..=32) prefix[len]           a key: the prefix padded with zeros,
//!             | 0xFF                                   no trailing zero byte; 0xFF: the end
//!   mode 0    Skip
//!   mode 1    Fingerprint  fp[16]
//!   mode 2    IdList       n:u16 (<= MAX_LIST) (key[32] digest[..16])*n
//!   mode 3    IdListReply  n:u16 (<= MAX_LIST) key[32]*n  m:u16 (<= MAX_LIST) (key[32] digest[..16])*m
//! type 0x02   Stamps     n:u16 (1..=MAX_STAMPS) (key[32] present:u8 stamp?)*n
//!   stamp     = deleted:u8 version:u32 modified:i64 modifier_len:u16 modifier digest[32]
//! type 0x03   Items      n:u16 (1..=MAX_ITEMS) item*n
//!   item      = kind:u8 id_len:u16 id stamp body_len:u32 body
//! type 0x04   Done
//! types 0x40..=0x4f  reserved for the flood messages (decoded by their own module)
//! ```
//!
//! Decoding never panics and refuses: an unknown version or type, a message longer than
//! [`MAX_MESSAGE_LEN`], any length past the end, any count past its bound, trailing bytes,
//! a bound not in its shortest form, bounds not strictly increasing or a last bound that is not
//! the end, keys of a list not sorted or outside their range, stamp keys not sorted, a flag
//! other than 0 or 1, an unknown item kind. So a decoded message is in its one canonical
//! encoding: `encode(decode(b)) == b`.

use peergroup_security::VersionStamp;
use thiserror::Error;

use crate::item::{Item, ItemKey, ItemKind};
use crate::reconcile::{
    Bound, FINGERPRINT_LEN, Fingerprint, Listed, MAX_ENTRIES, MAX_LIST, MAX_RANGES, Mode, Range, Reconcile,
};

/// The protocol version, the first byte of every message.
pub const VERSION: u8 = 1;

/// Message types.
pub mod kind {
    /// [`super::Message::Reconcile`].
    pub const RECONCILE: u8 = 0x01;
    /// [`super::Message::Stamps`].
    pub const STAMPS: u8 = 0x02;
    /// [`super::Message::Items`].
    pub const ITEMS: u8 = 0x03;
    /// [`super::Message::Done`].
    pub const DONE: u8 = 0x04;
    /// The types of the flood messages, encoded by their own module.
    pub const FLOOD: std::ops::RangeInclusive<u8> = 0x40..=0x4f;
}

/// The largest item body: `peergroup_state::record::MAX_ENCODED_RECORD_LEN` (17 MiB), copied
/// because this crate does not depend on the store.
pub const MAX_BODY_LEN: usize = 17 * 1024 * 1024;
/// The longest message: one largest item and its header.
pub const MAX_MESSAGE_LEN: usize = MAX_BODY_LEN + 64 * 1024;
/// At most this many stamps in one message.
pub const MAX_STAMPS: usize = 4096;
/// At most this many items in one message.
pub const MAX_ITEMS: usize = 4096;
/// The longest natural id of an item (a peer name is far shorter; a GUID is 16 bytes).
pub const MAX_ID_LEN: usize = 1024;
/// The longest modifier (a peer name as text) in a stamp.
pub const MAX_MODIFIER_LEN: usize = 1024;

/// A message of the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// One step of the reconciliation.
    Reconcile(Reconcile),
    /// The versions held of keys both sides hold in different versions, sorted by key.
    Stamps(Vec<StampEntry>),
    /// Items the receiver lacks or holds in an older version.
    Items(Vec<Item>),
    /// The sender has nothing more to send in this sync.
    Done,
}

/// The version a side holds of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StampEntry {
    /// The item's key.
    pub key: ItemKey,
    /// The version held, or `None` if the item went away since the reconciliation.
    pub stamp: Option<VersionStamp>,
}

/// Why bytes are not a message.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The message ends before `what`.
    #[error("the message ends inside {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
    },
    /// Another protocol version.
    #[error("protocol version {0} (this side speaks {VERSION})")]
    Version(u8),
    /// An unknown message type.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A flood message, which [`decode`] leaves to the flood module.
    #[error("message type {0:#04x} is a flood message")]
    Flood(u8),
    /// Longer than [`MAX_MESSAGE_LEN`].
    #[error("message of {len} bytes (at most {MAX_MESSAGE_LEN})")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A count past its bound.
    #[error("{count} {what} (at most {max})")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count read.
        count: usize,
        /// Its bound.
        max: usize,
    },
    /// Bytes after the end of the message.
    #[error("{0} bytes after the end of the message")]
    Trailing(usize),
    /// A bound not in its shortest form.
    #[error("a range bound is not in its shortest form")]
    NonCanonicalBound,
    /// Range bounds not strictly increasing, or the last not the end of the space.
    #[error("range bounds must increase strictly up to the end of the key space")]
    Bounds,
    /// Keys of a list not sorted, repeated or outside their range.
    #[error("the keys of {0} are not sorted inside their range")]
    Unsorted(&'static str),
    /// A byte that must be 0 or 1, or a mode, or a kind, out of its values.
    #[error("invalid {what}: {value}")]
    Invalid {
        /// What was read.
        what: &'static str,
        /// Its value.
        value: u8,
    },
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(WireError::Truncated { what })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], WireError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, WireError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(WireError::Invalid { what, value }),
        }
    }

    fn count(&mut self, what: &'static str, max: usize) -> Result<usize, WireError> {
        let count = usize::from(self.u16(what)?);
        if count > max {
            return Err(WireError::TooMany { what, count, max });
        }
        Ok(count)
    }

    fn key(&mut self) -> Result<ItemKey, WireError> {
        Ok(ItemKey(self.array("a key")?))
    }

    fn listed(&mut self) -> Result<Listed, WireError> {
        Ok(Listed { key: self.key()?, digest: self.array("a digest")? })
    }

    fn bound(&mut self) -> Result<Bound, WireError> {
        let len = self.u8("a bound")?;
        if len == 0xff {
            return Ok(Bound::End);
        }
        if len > 32 {
            return Err(WireError::Invalid { what: "bound length", value: len });
        }
        let prefix = self.take(usize::from(len), "a bound")?;
        if prefix.last() == Some(&0) {
            return Err(WireError::NonCanonicalBound);
        }
        let mut key = [0u8; 32];
        key[..prefix.len()].copy_from_slice(prefix);
        Ok(Bound::Key(ItemKey(key)))
    }

    fn stamp(&mut self) -> Result<VersionStamp, WireError> {
        let deleted = self.flag("the deleted flag")?;
        let version = self.u32("a version")?;
        let modified_micros = i64::from_be_bytes(self.array("a modification time")?);
        let len = self.count("modifier bytes", MAX_MODIFIER_LEN)?;
        let modifier = self.take(len, "a modifier")?.to_vec();
        let digest = self.array("a digest")?;
        Ok(VersionStamp { deleted, version, modified_micros, modifier, digest })
    }
}

/// Reads a sorted list of `n` keys or entries inside `[lo, hi)`.
fn sorted<T>(
    r: &mut Reader<'_>,
    n: usize,
    lo: &Bound,
    hi: &Bound,
    what: &'static str,
    read: impl Fn(&mut Reader<'_>) -> Result<T, WireError>,
    key: impl Fn(&T) -> ItemKey,
) -> Result<Vec<T>, WireError> {
    let mut out: Vec<T> = Vec::new();
    for _ in 0..n {
        let item = read(r)?;
        let k = key(&item);
        let after_previous = out.last().is_none_or(|p| key(p) < k);
        if lo.above(&k) || !hi.above(&k) || !after_previous {
            return Err(WireError::Unsorted(what));
        }
        out.push(item);
    }
    Ok(out)
}

fn reconcile(r: &mut Reader<'_>) -> Result<Reconcile, WireError> {
    let n = r.count("ranges", MAX_RANGES)?;
    if n == 0 {
        return Err(WireError::Bounds);
    }
    let mut ranges = Vec::new();
    let mut lo = Bound::START;
    let mut entries = 0usize;
    for _ in 0..n {
        let hi = r.bound()?;
        if hi <= lo {
            return Err(WireError::Bounds);
        }
        let mode = match r.u8("a mode")? {
            0 => Mode::Skip,
            1 => Mode::Fingerprint(Fingerprint(r.array::<FINGERPRINT_LEN>("a fingerprint")?)),
            2 => {
                let n = r.count("list entries", MAX_LIST)?;
                Mode::IdList(sorted(r, n, &lo, &hi, "a list", |r| r.listed(), |e| e.key)?)
            }
            3 => {
                let n = r.count("keys needed", MAX_LIST)?;
                let need = sorted(r, n, &lo, &hi, "a reply's keys", |r| r.key(), |k| *k)?;
                let m = r.count("reply entries", MAX_LIST)?;
                let entries = sorted(r, m, &lo, &hi, "a reply's entries", |r| r.listed(), |e| e.key)?;
                Mode::IdListReply { need, entries }
            }
            value => return Err(WireError::Invalid { what: "range mode", value }),
        };
        entries += match &mode {
            Mode::IdList(e) => e.len(),
            Mode::IdListReply { need, entries } => need.len() + entries.len(),
            _ => 0,
        };
        if entries > MAX_ENTRIES {
            return Err(WireError::TooMany { what: "entries in a message", count: entries, max: MAX_ENTRIES });
        }
        ranges.push(Range { upper: hi, mode });
        lo = hi;
    }
    if lo != Bound::End {
        return Err(WireError::Bounds);
    }
    Ok(Reconcile { ranges })
}

fn stamps(r: &mut Reader<'_>) -> Result<Vec<StampEntry>, WireError> {
    let n = r.count("stamps", MAX_STAMPS)?;
    if n == 0 {
        return Err(WireError::TooMany { what: "stamps (none)", count: 0, max: MAX_STAMPS });
    }
    let mut out: Vec<StampEntry> = Vec::new();
    for _ in 0..n {
        let key = r.key()?;
        if out.last().is_some_and(|p| p.key >= key) {
            return Err(WireError::Unsorted("stamps"));
        }
        let stamp = if r.flag("a stamp flag")? { Some(r.stamp()?) } else { None };
        out.push(StampEntry { key, stamp });
    }
    Ok(out)
}

fn items(r: &mut Reader<'_>) -> Result<Vec<Item>, WireError> {
    let n = r.count("items", MAX_ITEMS)?;
    if n == 0 {
        return Err(WireError::TooMany { what: "items (none)", count: 0, max: MAX_ITEMS });
    }
    let mut out = Vec::new();
    for _ in 0..n {
        let value = r.u8("an item kind")?;
        let kind = ItemKind::from_u8(value).ok_or(WireError::Invalid { what: "item kind", value })?;
        let len = r.count("id bytes", MAX_ID_LEN)?;
        let id = r.take(len, "an id")?.to_vec();
        let stamp = r.stamp()?;
        let len = r.u32("a body length")? as usize;
        if len > MAX_BODY_LEN {
            return Err(WireError::TooMany { what: "body bytes", count: len, max: MAX_BODY_LEN });
        }
        let body = r.take(len, "a body")?.to_vec();
        out.push(Item { kind, id, stamp, body });
    }
    Ok(out)
}

/// Any message a member sends another: one of the link's (a sync) or one of the flood's. Both
/// share the header (version byte, type byte); the type says which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A message of the per-link sync ([`Message`]).
    Link(Message),
    /// A message of the flood ([`crate::flood::Message`], types 0x40 to 0x4f).
    Flood(crate::flood::Message),
}

/// Why a [`Frame`] did not decode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A link message that does not decode.
    #[error("link message: {0}")]
    Link(WireError),
    /// A flood message that does not decode.
    #[error("flood message: {0}")]
    Flood(crate::flood::DecodeError),
}

impl Frame {
    /// Decodes one frame, routing on its type byte. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        match decode(bytes) {
            Ok(m) => Ok(Frame::Link(m)),
            Err(WireError::Flood(_)) => {
                crate::flood::Message::decode(bytes).map(Frame::Flood).map_err(FrameError::Flood)
            }
            Err(e) => Err(FrameError::Link(e)),
        }
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Frame::Link(m) => encode(m),
            Frame::Flood(m) => m.encode(),
        }
    }
}

/// Decodes one message (see the module doc for what it refuses).
pub fn decode(bytes: &[u8]) -> Result<Message, WireError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(WireError::TooLong { len: bytes.len() });
    }
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8("the version")?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let message = match r.u8("the message type")? {
        kind::RECONCILE => Message::Reconcile(reconcile(&mut r)?),
        kind::STAMPS => Message::Stamps(stamps(&mut r)?),
        kind::ITEMS => Message::Items(items(&mut r)?),
        kind::DONE => Message::Done,
        t if kind::FLOOD.contains(&t) => return Err(WireError::Flood(t)),
        t => return Err(WireError::UnknownType(t)),
    };
    if r.pos != bytes.len() {
        return Err(WireError::Trailing(bytes.len() - r.pos));
    }
    Ok(message)
}

fn put_u16(out: &mut Vec<u8>, n: usize) {
    // Every count we encode is bounded well below 2^16 (MAX_RANGES, MAX_LIST, MAX_STAMPS,
    // MAX_ITEMS, MAX_ID_LEN, MAX_MODIFIER_LEN); the decoder refuses anything larger.
    out.extend_from_slice(&(n.min(usize::from(u16::MAX)) as u16).to_be_bytes());
}

fn put_bound(out: &mut Vec<u8>, b: &Bound) {
    match b {
        Bound::End => out.push(0xff),
        Bound::Key(k) => {
            let len = k.0.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            out.push(len as u8);
            out.extend_from_slice(&k.0[..len]);
        }
    }
}

fn put_stamp(out: &mut Vec<u8>, s: &VersionStamp) {
    out.push(u8::from(s.deleted));
    out.extend_from_slice(&s.version.to_be_bytes());
    out.extend_from_slice(&s.modified_micros.to_be_bytes());
    put_u16(out, s.modifier.len());
    out.extend_from_slice(&s.modifier);
    out.extend_from_slice(&s.digest);
}

fn put_entries(out: &mut Vec<u8>, entries: &[Listed]) {
    put_u16(out, entries.len());
    for e in entries {
        out.extend_from_slice(&e.key.0);
        out.extend_from_slice(&e.digest);
    }
}

/// Encodes a message. Messages this crate builds are within every bound; encoding one that is
/// not (a list longer than the decoder takes) gives bytes the peer refuses.
pub fn encode(message: &Message) -> Vec<u8> {
    let mut out = vec![VERSION];
    match message {
        Message::Reconcile(m) => {
            out.push(kind::RECONCILE);
            put_u16(&mut out, m.ranges.len());
            for range in &m.ranges {
                put_bound(&mut out, &range.upper);
                match &range.mode {
                    Mode::Skip => out.push(0),
                    Mode::Fingerprint(fp) => {
                        out.push(1);
                        out.extend_from_slice(&fp.0);
                    }
                    Mode::IdList(entries) => {
                        out.push(2);
                        put_entries(&mut out, entries);
                    }
                    Mode::IdListReply { need, entries } => {
                        out.push(3);
                        put_u16(&mut out, need.len());
                        for k in need {
                            out.extend_from_slice(&k.0);
                        }
                        put_entries(&mut out, entries);
                    }
                }
            }
        }
        Message::Stamps(stamps) => {
            out.push(kind::STAMPS);
            put_u16(&mut out, stamps.len());
            for s in stamps {
                out.extend_from_slice(&s.key.0);
                match &s.stamp {
                    None => out.push(0),
                    Some(stamp) => {
                        out.push(1);
                        put_stamp(&mut out, stamp);
                    }
                }
            }
        }
        Message::Items(items) => {
            out.push(kind::ITEMS);
            put_u16(&mut out, items.len());
            for item in items {
                out.push(item.kind as u8);
                put_u16(&mut out, item.id.len());
                out.extend_from_slice(&item.id);
                put_stamp(&mut out, &item.stamp);
                out.extend_from_slice(&(item.body.len() as u32).to_be_bytes());
                out.extend_from_slice(&item.body);
            }
        }
        Message::Done => out.push(kind::DONE),
    }
    out
}

/// The encoded length of a reconciliation message.
pub fn encoded_len_reconcile(m: &Reconcile) -> usize {
    encode(&Message::Reconcile(m.clone())).len()
}

/// The encoded length of an item in an `Items` message.
pub fn item_len(item: &Item) -> usize {
    1 + 2 + item.id.len() + 1 + 4 + 8 + 2 + item.stamp.modifier.len() + 32 + 4 + item.body.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup_security::body_digest;

    fn key(b: u8) -> ItemKey {
        let mut k = [0u8; 32];
        k[0] = b;
        k[31] = 1;
        ItemKey(k)
    }

    fn stamp() -> VersionStamp {
        VersionStamp {
            deleted: false,
            version: 3,
            modified_micros: -5,
            modifier: b"alice".to_vec(),
            digest: body_digest(b"x"),
        }
    }

    fn samples() -> Vec<Message> {
        let mut upper = [0u8; 32];
        upper[0] = 0x80;
        vec![
            Message::Reconcile(Reconcile {
                ranges: vec![
                    Range { upper: Bound::Key(ItemKey([0x10; 32])), mode: Mode::Skip },
                    Range {
                        upper: Bound::Key(ItemKey(upper)),
                        mode: Mode::IdList(vec![Listed { key: key(0x20), digest: [1; 16] }]),
                    },
                    Range {
                        upper: Bound::End,
                        mode: Mode::IdListReply {
                            need: vec![key(0x90)],
                            entries: vec![Listed { key: key(0xa0), digest: [2; 16] }],
                        },
                    },
                ],
            }),
            Message::Reconcile(Reconcile {
                ranges: vec![Range { upper: Bound::End, mode: Mode::Fingerprint(Fingerprint([7; 16])) }],
            }),
            Message::Stamps(vec![
                StampEntry { key: key(1), stamp: Some(stamp()) },
                StampEntry { key: key(2), stamp: None },
            ]),
            Message::Items(vec![Item { kind: ItemKind::Record, id: vec![9; 16], stamp: stamp(), body: b"x".to_vec() }]),
            Message::Done,
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for m in samples() {
            let bytes = encode(&m);
            assert_eq!(decode(&bytes), Ok(m.clone()));
            if let Message::Items(items) = &m {
                assert_eq!(bytes.len(), 2 + 2 + items.iter().map(item_len).sum::<usize>());
            }
            // Every proper prefix is refused, and so is one byte more.
            for cut in 0..bytes.len() {
                assert!(decode(&bytes[..cut]).is_err(), "{m:?} cut at {cut}");
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(decode(&longer), Err(WireError::Trailing(1)));
        }
    }

    #[test]
    fn refuses_other_versions_types_and_flood_types() {
        assert_eq!(decode(&[2, kind::DONE]), Err(WireError::Version(2)));
        assert_eq!(decode(&[VERSION, 0x7f]), Err(WireError::UnknownType(0x7f)));
        assert_eq!(decode(&[VERSION, 0x41]), Err(WireError::Flood(0x41)));
        assert_eq!(Frame::decode(&[VERSION, 0x43]), Ok(Frame::Flood(crate::flood::Message::Prune)));
        assert_eq!(Frame::decode(&[VERSION, kind::DONE]), Ok(Frame::Link(Message::Done)));
        assert!(matches!(Frame::decode(&[VERSION, 0x4f]), Err(FrameError::Flood(_))));
    }

    fn reconcile_bytes(ranges: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = vec![VERSION, kind::RECONCILE];
        out.extend_from_slice(&(ranges.len() as u16).to_be_bytes());
        for (bound, mode) in ranges {
            out.extend_from_slice(bound);
            out.extend_from_slice(mode);
        }
        out
    }

    #[test]
    fn refuses_crafted_ranges() {
        let end = vec![0xff];
        let skip = vec![0];
        // Unsorted, repeated, empty first range, not ending at the end, non-canonical bounds.
        for ranges in [
            vec![(vec![1, 0x80], skip.clone()), (vec![1, 0x40], skip.clone()), (end.clone(), skip.clone())],
            vec![(vec![1, 0x80], skip.clone()), (vec![1, 0x80], skip.clone()), (end.clone(), skip.clone())],
            vec![(vec![0], skip.clone()), (end.clone(), skip.clone())],
            vec![(vec![1, 0x80], skip.clone())],
            vec![(vec![2, 0x80, 0], skip.clone()), (end.clone(), skip.clone())],
            vec![(vec![33], skip.clone()), (end.clone(), skip.clone())],
            vec![(end.clone(), skip.clone()), (end.clone(), skip.clone())],
        ] {
            assert!(decode(&reconcile_bytes(&ranges)).is_err(), "{ranges:?}");
        }
        // 10,000 ranges: refused by count before anything is read.
        let mut many = vec![VERSION, kind::RECONCILE];
        many.extend_from_slice(&10_000u16.to_be_bytes());
        assert_eq!(decode(&many), Err(WireError::TooMany { what: "ranges", count: 10_000, max: MAX_RANGES }));
        // A list claiming 65,535 entries.
        let huge = reconcile_bytes(&[(end.clone(), vec![2, 0xff, 0xff])]);
        assert!(matches!(decode(&huge), Err(WireError::TooMany { .. })));
        // A list claiming fewer entries than the bytes: truncated, not allocated.
        let short = reconcile_bytes(&[(end.clone(), vec![2, 0x03, 0xff])]);
        assert!(matches!(decode(&short), Err(WireError::Truncated { .. })));
        // A list entry outside its range, and a list out of order.
        let mut outside = vec![2, 0, 1];
        outside.extend_from_slice(&[0x90; 48]);
        let ranges = [(vec![1, 0x80], outside), (end.clone(), skip.clone())];
        assert_eq!(decode(&reconcile_bytes(&ranges)), Err(WireError::Unsorted("a list")));
        let mut unordered = vec![2, 0, 2];
        unordered.extend_from_slice(&[0x50; 48]);
        unordered.extend_from_slice(&[0x40; 48]);
        assert_eq!(decode(&reconcile_bytes(&[(end, unordered)])), Err(WireError::Unsorted("a list")));
    }

    #[test]
    fn refuses_more_entries_than_a_message_holds() {
        // Lists of 1,000 entries each, one more than MAX_ENTRIES in all: refused at the list
        // that passes the bound.
        let lists = MAX_ENTRIES / 1000 + 1;
        let mut ranges = Vec::new();
        for i in 0..lists {
            let mut mode = vec![2];
            mode.extend_from_slice(&1000u16.to_be_bytes());
            for j in 0..1000u16 {
                let mut k = [0u8; 32];
                k[..2].copy_from_slice(&((i * 512) as u16).to_be_bytes());
                k[2..4].copy_from_slice(&j.to_be_bytes());
                mode.extend_from_slice(&k);
                mode.extend_from_slice(&[0; 16]);
            }
            let upper = ((i + 1) * 512) as u16;
            let bound = if i + 1 == lists { vec![0xff] } else { vec![1, (upper >> 8) as u8] };
            ranges.push((bound, mode));
        }
        assert!(matches!(
            decode(&reconcile_bytes(&ranges)),
            Err(WireError::TooMany { what: "entries in a message", .. })
        ));
    }

    #[test]
    fn refuses_bad_items_and_stamps() {
        let Message::Items(items) = &samples()[3] else { unreachable!() };
        let mut bytes = encode(&Message::Items(items.clone()));
        bytes[4] = 9; // the kind
        assert_eq!(decode(&bytes), Err(WireError::Invalid { what: "item kind", value: 9 }));
        let stamps = vec![StampEntry { key: key(2), stamp: None }, StampEntry { key: key(1), stamp: None }];
        assert_eq!(decode(&encode(&Message::Stamps(stamps))), Err(WireError::Unsorted("stamps")));
        let mut body_len = vec![VERSION, kind::ITEMS, 0, 1, 1, 0, 0];
        body_len.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        body_len.extend_from_slice(&[0; 32]);
        body_len.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&body_len), Err(WireError::TooMany { what: "body bytes", .. })));
    }

    proptest::proptest! {
        /// Any bytes behind any header: decoding never panics, and what decodes is canonical.
        #[test]
        fn any_bytes_decode_canonically_or_fail(t in 0u8..6, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let mut bytes = vec![VERSION, t];
            bytes.extend_from_slice(&body);
            if let Ok(m) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&m), bytes);
            }
        }

        /// Mutating one byte of a valid message never panics, and what decodes is canonical.
        #[test]
        fn mutated_messages_decode_canonically_or_fail(which in 0usize..5, at in proptest::prelude::any::<usize>(), value in proptest::prelude::any::<u8>()) {
            let mut bytes = encode(&samples()[which]);
            let at = at % bytes.len();
            bytes[at] = value;
            if let Ok(m) = decode(&bytes) {
                proptest::prop_assert_eq!(encode(&m), bytes);
            }
        }
    }
}
