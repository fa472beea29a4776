//! Range-based set reconciliation (Meyer 2023, arXiv:2212.13567; as in negentropy) over the
//! [`Entry`]s two members hold: one entry per item, its key and the digest of the version held.
//!
//! A reconciliation message covers the whole key space with consecutive ranges, each closed by
//! its upper bound and carrying one [`Mode`]:
//! - [`Mode::Skip`]: nothing to do for this range (found equal, or settled);
//! - [`Mode::Fingerprint`]: the sender's fingerprint of its entries in the range. The receiver
//!   answers `Skip` when its own is equal; otherwise, holding at most [`LIST_THRESHOLD`] entries
//!   there, its entry list (`IdList`); holding more, [`SPLIT`] sub-ranges of equal key space,
//!   each with its fingerprint;
//! - [`Mode::IdList`]: all the sender's entries in the range. The receiver, holding at most
//!   [`LIST_THRESHOLD`] there, now knows the difference and answers [`Mode::IdListReply`];
//!   holding more, it splits as for a fingerprint (the list comes again, in smaller pieces);
//! - [`Mode::IdListReply`]: what the receiver of a list holds that the list did not (its other
//!   entries and other versions) and the keys of the list it lacks, so the first sender knows
//!   the difference too. Nothing answers it.
//!
//! A message needs an answer when it holds a `Fingerprint` or an `IdList`; the answer to it
//! is always sent, even when it is all `Skip`. Reconciliation ends for a side when it receives
//! a message that needs no answer, or sends one.
//!
//! # Bounds
//! Checked when decoding (see [`crate::wire`]): at most [`MAX_RANGES`] ranges, bounds strictly
//! increasing and the last one the end of the space, at most [`MAX_LIST`] entries in one
//! list, at most [`MAX_ENTRIES`] entries and keys in one message, keys of a list sorted and
//! inside their range. Answering one range costs at most `SPLIT + 1` fingerprints (each two
//! Fenwick prefix sums, `O(log n)`) or one walk of at most `LIST_THRESHOLD` local entries plus
//! the received list: the work per message is `O(message size · log n)`, whatever it holds.
//! An answer that would pass [`MAX_RANGES`] or [`MAX_ENTRIES`] ends early with one fingerprint
//! of the rest of the space, which the peer splits again: every message settles at least its
//! first range, so reconciliation ends (a difference may then be learned twice; the link
//! acts on each key once). The link counts rounds ([`crate::link::MAX_ROUNDS`]).

mod bound;
mod fingerprint;
mod index;

pub use bound::Bound;
pub use fingerprint::{Accumulator, FINGERPRINT_LEN, Fingerprint};
pub use index::{Range as IndexRange, SetIndex, Tag};

use crate::item::{Entry, ItemKey};

/// A range holding at most this many local entries is answered with its entry list.
pub const LIST_THRESHOLD: u64 = 32;
/// How many sub-ranges a range that differs splits into.
pub const SPLIT: u32 = 16;
/// At most this many ranges in one message.
pub const MAX_RANGES: usize = 8192;
/// At most this many entries in one `IdList`, or keys and entries in one `IdListReply`.
pub const MAX_LIST: usize = 1024;
/// At most this many entries and keys in one message.
pub const MAX_ENTRIES: usize = 65_536;

/// How many bytes of a version digest a list carries: enough to tell two versions of one key
/// apart (making two versions whose digests share 16 bytes takes about 2^64 hashes, and only
/// delays their reconciliation: the fingerprints, over whole digests, still differ).
pub const LISTED_DIGEST_LEN: usize = 16;

/// An entry as a list carries it: the key and the first [`LISTED_DIGEST_LEN`] bytes of the
/// version digest (48 bytes on the wire instead of 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Listed {
    /// The item's key.
    pub key: ItemKey,
    /// The start of the digest of the version held.
    pub digest: [u8; LISTED_DIGEST_LEN],
}

impl Listed {
    /// Whether `entry` is this listed entry (same key, same digest start).
    pub fn matches(&self, entry: &Entry) -> bool {
        self.key == entry.key && self.digest[..] == entry.digest[..LISTED_DIGEST_LEN]
    }
}

impl From<&Entry> for Listed {
    fn from(e: &Entry) -> Self {
        let mut digest = [0u8; LISTED_DIGEST_LEN];
        digest.copy_from_slice(&e.digest[..LISTED_DIGEST_LEN]);
        Self { key: e.key, digest }
    }
}

/// One range of a reconciliation message: from the previous range's upper bound (or the start
/// of the space) up to `upper`, exclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Its upper bound, exclusive.
    pub upper: Bound,
    /// What the sender says of it.
    pub mode: Mode,
}

/// What a range carries (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Settled: nothing to do.
    Skip,
    /// The sender's fingerprint of its entries in the range.
    Fingerprint(Fingerprint),
    /// The sender's entries in the range, sorted by key.
    IdList(Vec<Listed>),
    /// The answer to an `IdList`.
    IdListReply {
        /// Keys of the list that the sender of this reply does not hold at all, sorted.
        need: Vec<ItemKey>,
        /// The reply's sender's entries in the range not in the list as they are (other
        /// items and other versions), sorted by key.
        entries: Vec<Listed>,
    },
}

/// A reconciliation message: consecutive ranges covering the whole key space.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Reconcile {
    /// The ranges, bounds strictly increasing, the last one [`Bound::End`].
    pub ranges: Vec<Range>,
}

impl Reconcile {
    /// Whether the message needs an answer.
    pub fn needs_answer(&self) -> bool {
        self.ranges.iter().any(|r| matches!(r.mode, Mode::Fingerprint(_) | Mode::IdList(_)))
    }

    /// The number of entries and keys it carries.
    pub fn entry_count(&self) -> usize {
        self.ranges
            .iter()
            .map(|r| match &r.mode {
                Mode::IdList(e) => e.len(),
                Mode::IdListReply { need, entries } => need.len() + entries.len(),
                _ => 0,
            })
            .sum()
    }
}

/// What one side learned while answering a message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// Keys the peer does not hold: ours to send.
    pub peer_lacks: Vec<ItemKey>,
    /// Keys we do not hold: the peer sends them.
    pub we_lack: Vec<ItemKey>,
    /// Keys both hold in different versions: the stamps decide who sends.
    pub differ: Vec<ItemKey>,
}

impl Learned {
    fn extend(&mut self, other: Learned) {
        self.peer_lacks.extend(other.peer_lacks);
        self.we_lack.extend(other.we_lack);
        self.differ.extend(other.differ);
    }
}

/// The first message of the initiator: the fingerprint of the whole set, or the whole set
/// when it is small.
pub fn initial(index: &SetIndex) -> Reconcile {
    let mode = if index.len() <= LIST_THRESHOLD {
        Mode::IdList(index.iter().map(Listed::from).collect())
    } else {
        Mode::Fingerprint(index.total_fingerprint())
    };
    Reconcile { ranges: vec![Range { upper: Bound::End, mode }] }
}

/// Builds an answer range by range, merging consecutive skips and watching the budgets.
struct Answer {
    ranges: Vec<Range>,
    entries: usize,
}

impl Answer {
    fn push(&mut self, upper: Bound, mode: Mode) {
        if let Mode::Skip = mode
            && let Some(last) = self.ranges.last_mut()
            && last.mode == Mode::Skip
        {
            last.upper = upper;
            return;
        }
        self.entries += match &mode {
            Mode::IdList(e) => e.len(),
            Mode::IdListReply { need, entries } => need.len() + entries.len(),
            _ => 0,
        };
        self.ranges.push(Range { upper, mode });
    }

    /// Whether the answer to `mode` (at most `SPLIT` ranges, or a list of at most
    /// `LIST_THRESHOLD` entries plus the keys of a received list) and the closing fingerprint of
    /// the rest still fit.
    fn room(&self, mode: &Mode) -> bool {
        let list = match mode {
            Mode::IdList(theirs) => theirs.len(),
            _ => 0,
        };
        self.ranges.len() + (SPLIT as usize) < MAX_RANGES
            && self.entries + list + LIST_THRESHOLD as usize <= MAX_ENTRIES
    }
}

/// Answers `message` from the local `index`: the answer to send (`None` when the message
/// needs none) and what was learned. `message` must have passed the wire checks (which
/// [`crate::wire::decode`] makes).
pub fn answer(index: &SetIndex, message: &Reconcile) -> (Option<Reconcile>, Learned) {
    let mut out = Answer { ranges: Vec::new(), entries: 0 };
    let mut learned = Learned::default();
    let mut lo = Bound::START;
    let mut deferred = None;
    for range in &message.ranges {
        let hi = range.upper;
        if deferred.is_none() && !out.room(&range.mode) {
            deferred = Some(lo);
        }
        if deferred.is_some() {
            // Past the budget only replies are still read (they cost no answer); the rest is
            // answered by one fingerprint, which the peer splits again.
            if let Mode::IdListReply { need, entries } = &range.mode {
                learned.extend(read_reply(index, need, entries));
            }
            lo = hi;
            continue;
        }
        match &range.mode {
            Mode::Skip => out.push(hi, Mode::Skip),
            Mode::Fingerprint(theirs) => {
                let (ours, count) = index.fingerprint(&lo, &hi);
                if ours == *theirs {
                    out.push(hi, Mode::Skip);
                } else if count <= LIST_THRESHOLD {
                    out.push(hi, Mode::IdList(index.range(&lo, &hi).map(Listed::from).collect()));
                } else {
                    split(index, &lo, &hi, &mut out);
                }
            }
            Mode::IdList(theirs) => {
                if index.count(&lo, &hi) <= LIST_THRESHOLD {
                    let ours: Vec<Entry> = index.range(&lo, &hi).copied().collect();
                    let (reply, l) = compare_list(&ours, theirs);
                    learned.extend(l);
                    out.push(hi, reply);
                } else {
                    split(index, &lo, &hi, &mut out);
                }
            }
            Mode::IdListReply { need, entries } => {
                learned.extend(read_reply(index, need, entries));
                out.push(hi, Mode::Skip);
            }
        }
        lo = hi;
    }
    if let Some(from) = deferred {
        let (fp, _) = index.fingerprint(&from, &Bound::End);
        out.push(Bound::End, Mode::Fingerprint(fp));
    }
    let reply = Reconcile { ranges: out.ranges };
    (message.needs_answer().then_some(reply), learned)
}

/// Splits `[lo, hi)` into sub-ranges with their fingerprints.
fn split(index: &SetIndex, lo: &Bound, hi: &Bound, out: &mut Answer) {
    let mut from = *lo;
    for upper in bound::split(lo, hi, SPLIT) {
        let (fp, _) = index.fingerprint(&from, &upper);
        out.push(upper, Mode::Fingerprint(fp));
        from = upper;
    }
}

/// Our entries in a range against the peer's list of the same range.
fn compare_list(ours: &[Entry], theirs: &[Listed]) -> (Mode, Learned) {
    let mut learned = Learned::default();
    let (mut need, mut entries) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    // Both sorted by key: one merge.
    while i < ours.len() || j < theirs.len() {
        match (ours.get(i), theirs.get(j)) {
            (Some(o), Some(t)) if o.key == t.key => {
                if !t.matches(o) {
                    learned.differ.push(o.key);
                    entries.push(Listed::from(o));
                }
                i += 1;
                j += 1;
            }
            (Some(o), t) if t.is_none_or(|t| o.key < t.key) => {
                learned.peer_lacks.push(o.key);
                entries.push(Listed::from(o));
                i += 1;
            }
            (_, Some(t)) => {
                learned.we_lack.push(t.key);
                need.push(t.key);
                j += 1;
            }
            // Unreachable: the loop runs while one side has an entry, and the arms above take
            // every such case.
            (_, None) => break,
        }
    }
    (Mode::IdListReply { need, entries }, learned)
}

/// What the answer to our list says.
fn read_reply(index: &SetIndex, need: &[ItemKey], entries: &[Listed]) -> Learned {
    let mut learned = Learned::default();
    // `need` names keys of our list: ours to send, if we still hold them.
    for key in need {
        if index.get(key).is_some() {
            learned.peer_lacks.push(*key);
        }
    }
    for e in entries {
        match index.get(&e.key) {
            Some(d) if d[..LISTED_DIGEST_LEN] == e.digest[..] => {}
            Some(_) => learned.differ.push(e.key),
            None => learned.we_lack.push(e.key),
        }
    }
    learned
}

/// Runs a whole reconciliation between two local indexes (both sides in one process), for
/// tests and benchmarks: what each side learned, the number of messages and the bytes encoded.
pub fn run_local(a: &SetIndex, b: &SetIndex) -> LocalRun {
    let mut run = LocalRun::default();
    let mut msg = initial(a);
    let mut side_b = true;
    loop {
        run.messages += 1;
        run.bytes += crate::wire::encoded_len_reconcile(&msg);
        let (index, learned) = if side_b { (b, &mut run.b) } else { (a, &mut run.a) };
        let (reply, l) = answer(index, &msg);
        learned.extend(l);
        match reply {
            Some(r) => msg = r,
            None => break,
        }
        side_b = !side_b;
    }
    run
}

/// The outcome of [`run_local`].
#[derive(Clone, Debug, Default)]
pub struct LocalRun {
    /// What the initiator learned.
    pub a: Learned,
    /// What the responder learned.
    pub b: Learned,
    /// Messages exchanged.
    pub messages: usize,
    /// Bytes of those messages, encoded.
    pub bytes: usize,
}
