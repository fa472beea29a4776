//! [`SetIndex`]: the entries a member holds, with fingerprints of any range kept current.
//!
//! Layout: buckets by the first bits of the key, each a sorted `Vec` of entries, and two Fenwick trees over the buckets (their entry counts and their hash sums).
//! An empty index has 256 buckets (a few KiB, so a simulator can hold thousands); it doubles
//! them whenever it holds more than 16 entries per bucket on average, up to 65,536 buckets
//! (the first two key bytes), rebuilding in `O(n)`: amortised `O(1)` per insert. Keys are
//! SHA-256 outputs, so buckets fill evenly (15 entries each at a million). Costs, with `b` the
//! size of one bucket and `B` the number of buckets:
//! - insert, replace, remove: `O(log b + b)` to keep the bucket sorted plus 16 Fenwick steps;
//! - count and fingerprint of `[lo, hi)`: two prefix sums, each 16 Fenwick steps and `O(b)`
//!   within one bucket;
//! - the entries of `[lo, hi)`: `O(entries + 16 · buckets holding them)`;
//! - the whole set's fingerprint: `O(1)` (the running totals).
//!
//! A member grinding record ids into one bucket (2^16 hashes per item) only makes that bucket's
//! work linear in its size; every operation stays bounded by the bucket it touches.
//!
//! Memory: 80 bytes per entry (its key, its digest and a 16-byte tag the owner keeps with it,
//! such as where the item lives in its store), so a member of a million items holds 80 MB
//! here. The entry hashes the fingerprints add up are not kept: the Fenwick trees hold each
//! bucket's sum, and the hashes of the entries in the one bucket a bound cuts are computed
//! again (a few SHA-256 of 64 bytes per fingerprint). Buckets grow by a quarter, not double.

use crate::item::{Entry, ItemKey};

use super::bound::Bound;
use super::fingerprint::{Accumulator, Fingerprint};

/// Bucket bits of an empty index, and at most.
const MIN_BITS: u32 = 8;
const MAX_BITS: u32 = 16;
/// More entries than this per bucket on average doubles the buckets.
const GROW_AT: u64 = 16;

/// A 16-byte value the owner of an index keeps with an entry ([`SetIndex::insert_tagged`]).
pub type Tag = [u8; 16];

#[derive(Clone, Debug)]
struct Slot {
    entry: Entry,
    tag: Tag,
}

impl Slot {
    fn hash(&self) -> Accumulator {
        Accumulator::of(&self.entry)
    }
}

/// Makes room for one more slot in `bucket`, by a quarter of its length: buckets hold about
/// 16 entries, so doubling would leave a third of the index's memory unused on average.
fn reserve_one(bucket: &mut Vec<Slot>) {
    if bucket.len() == bucket.capacity() {
        bucket.reserve_exact(bucket.len() / 4 + 1);
    }
}

/// The set of entries one member holds, indexed for reconciliation (see the module doc).
#[derive(Clone, Debug)]
pub struct SetIndex {
    /// The number of key bits that choose a bucket.
    bits: u32,
    buckets: Vec<Vec<Slot>>,
    /// Fenwick tree (1-based) of bucket entry counts.
    counts: Vec<u64>,
    /// Fenwick tree (1-based) of bucket hash sums.
    sums: Vec<Accumulator>,
    len: u64,
    total: Accumulator,
}

impl Default for SetIndex {
    fn default() -> Self {
        Self::new()
    }
}

impl SetIndex {
    /// An empty index.
    pub fn new() -> Self {
        let n = 1 << MIN_BITS;
        Self {
            bits: MIN_BITS,
            buckets: vec![Vec::new(); n],
            counts: vec![0; n + 1],
            sums: vec![Accumulator::default(); n + 1],
            len: 0,
            total: Accumulator::default(),
        }
    }

    fn bucket_of(&self, key: &ItemKey) -> usize {
        usize::from(u16::from_be_bytes([key.0[0], key.0[1]])) >> (MAX_BITS - self.bits)
    }

    /// Doubles the buckets (and more, up to the limit) while they are too full: every entry
    /// moves once, in key order, and the Fenwick trees are rebuilt in `O(buckets)`.
    fn grow(&mut self) {
        let mut bits = self.bits;
        while bits < MAX_BITS && self.len > GROW_AT << bits {
            bits += 1;
        }
        if bits == self.bits {
            return;
        }
        let old = std::mem::take(&mut self.buckets);
        self.bits = bits;
        let n = 1usize << bits;
        self.buckets = vec![Vec::new(); n];
        for slot in old.into_iter().flatten() {
            let b = self.bucket_of(&slot.entry.key);
            reserve_one(&mut self.buckets[b]);
            self.buckets[b].push(slot);
        }
        self.counts = vec![0; n + 1];
        self.sums = vec![Accumulator::default(); n + 1];
        for (b, bucket) in self.buckets.iter().enumerate() {
            self.counts[b + 1] = bucket.len() as u64;
            self.sums[b + 1] = bucket.iter().fold(Accumulator::default(), |s, slot| s.wrapping_add(slot.hash()));
        }
        // Linear Fenwick construction: each node passes its value to its parent.
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                self.counts[parent] += self.counts[i];
                self.sums[parent] = self.sums[parent].wrapping_add(self.sums[i]);
            }
        }
    }

    /// An index holding `entries` (a later entry of the same key replaces an earlier one).
    pub fn from_entries(entries: impl IntoIterator<Item = Entry>) -> Self {
        let mut index = Self::new();
        for e in entries {
            index.insert(e);
        }
        index
    }

    /// How many entries it holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The digest held for `key`, if any.
    pub fn get(&self, key: &ItemKey) -> Option<[u8; 32]> {
        let bucket = &self.buckets[self.bucket_of(key)];
        bucket.binary_search_by(|s| s.entry.key.cmp(key)).ok().map(|i| bucket[i].entry.digest)
    }

    /// The key held whose first 16 bytes are `prefix`, if any (keys are SHA-256 outputs: two
    /// that share them take about 2^64 hashes to find).
    pub fn key_by_prefix(&self, prefix: &[u8; 16]) -> Option<ItemKey> {
        let b = usize::from(u16::from_be_bytes([prefix[0], prefix[1]])) >> (MAX_BITS - self.bits);
        let bucket = &self.buckets[b];
        bucket.binary_search_by(|s| s.entry.key.0[..16].cmp(&prefix[..])).ok().map(|i| bucket[i].entry.key)
    }

    /// Gives back the room buckets hold beyond their entries (after a bulk load: buckets
    /// grow by a quarter, so up to a fifth of them is unused).
    pub fn shrink_to_fit(&mut self) {
        for bucket in &mut self.buckets {
            bucket.shrink_to_fit();
        }
    }

    /// The tag kept with the entry of `key` ([`Self::insert_tagged`]), if it is held.
    pub fn tag(&self, key: &ItemKey) -> Option<Tag> {
        let bucket = &self.buckets[self.bucket_of(key)];
        bucket.binary_search_by(|s| s.entry.key.cmp(key)).ok().map(|i| bucket[i].tag)
    }

    /// Inserts `entry`, or replaces the digest held for its key; returns the digest replaced.
    /// Its tag is zeros.
    pub fn insert(&mut self, entry: Entry) -> Option<[u8; 32]> {
        self.insert_tagged(entry, [0; 16])
    }

    /// [`Self::insert`], keeping `tag` with the entry (replacing the tag held).
    pub fn insert_tagged(&mut self, entry: Entry, tag: Tag) -> Option<[u8; 32]> {
        let b = self.bucket_of(&entry.key);
        let hash = Accumulator::of(&entry);
        let bucket = &mut self.buckets[b];
        match bucket.binary_search_by(|s| s.entry.key.cmp(&entry.key)) {
            Ok(i) => {
                let old = std::mem::replace(&mut bucket[i], Slot { entry, tag });
                self.update(b, 0, hash.wrapping_sub(old.hash()), false);
                Some(old.entry.digest)
            }
            Err(i) => {
                reserve_one(bucket);
                bucket.insert(i, Slot { entry, tag });
                self.update(b, 1, hash, false);
                self.grow();
                None
            }
        }
    }

    /// Removes the entry of `key`; returns the digest it held.
    pub fn remove(&mut self, key: &ItemKey) -> Option<[u8; 32]> {
        let b = self.bucket_of(key);
        let bucket = &mut self.buckets[b];
        let i = bucket.binary_search_by(|s| s.entry.key.cmp(key)).ok()?;
        let old = bucket.remove(i);
        self.update(b, 1, old.hash(), true);
        Some(old.entry.digest)
    }

    fn update(&mut self, bucket: usize, count: u64, delta: Accumulator, remove: bool) {
        let n = self.buckets.len();
        let mut i = bucket + 1;
        while i <= n {
            if remove {
                self.counts[i] -= count;
                self.sums[i] = self.sums[i].wrapping_sub(delta);
            } else {
                self.counts[i] += count;
                self.sums[i] = self.sums[i].wrapping_add(delta);
            }
            i += i & i.wrapping_neg();
        }
        if remove {
            self.len -= count;
            self.total = self.total.wrapping_sub(delta);
        } else {
            self.len += count;
            self.total = self.total.wrapping_add(delta);
        }
    }

    /// Count and hash sum of the buckets before `bucket`.
    fn buckets_before(&self, bucket: usize) -> (u64, Accumulator) {
        let (mut count, mut sum) = (0, Accumulator::default());
        let mut i = bucket;
        while i > 0 {
            count += self.counts[i];
            sum = sum.wrapping_add(self.sums[i]);
            i &= i - 1;
        }
        (count, sum)
    }

    /// Count and hash sum of the entries below `bound`.
    fn prefix(&self, bound: &Bound) -> (u64, Accumulator) {
        let key = match bound {
            Bound::End => return (self.len, self.total),
            Bound::Key(k) => k,
        };
        let b = self.bucket_of(key);
        let (count, before) = self.buckets_before(b);
        let bucket = &self.buckets[b];
        let pos = bucket.partition_point(|s| s.entry.key < *key);
        let hashes = |slots: &[Slot]| slots.iter().fold(Accumulator::default(), |s, slot| s.wrapping_add(slot.hash()));
        // The hashes are computed again: over the smaller side of the cut.
        let sum = if pos <= bucket.len() / 2 {
            before.wrapping_add(hashes(&bucket[..pos]))
        } else {
            self.buckets_before(b + 1).1.wrapping_sub(hashes(&bucket[pos..]))
        };
        (count + pos as u64, sum)
    }

    /// How many entries lie below `bound`.
    fn rank(&self, bound: &Bound) -> u64 {
        let key = match bound {
            Bound::End => return self.len,
            Bound::Key(k) => k,
        };
        let b = self.bucket_of(key);
        let mut count = 0;
        let mut i = b;
        while i > 0 {
            count += self.counts[i];
            i &= i - 1;
        }
        count + self.buckets[b].partition_point(|s| s.entry.key < *key) as u64
    }

    /// The number of entries in `[lo, hi)` (empty when `hi <= lo`).
    pub fn count(&self, lo: &Bound, hi: &Bound) -> u64 {
        if hi <= lo {
            return 0;
        }
        self.rank(hi) - self.rank(lo)
    }

    /// Fingerprint and count of the entries in `[lo, hi)`.
    pub fn fingerprint(&self, lo: &Bound, hi: &Bound) -> (Fingerprint, u64) {
        if hi <= lo {
            return (Accumulator::default().fingerprint(0), 0);
        }
        let (c_hi, s_hi) = self.prefix(hi);
        let (c_lo, s_lo) = self.prefix(lo);
        let count = c_hi - c_lo;
        (s_hi.wrapping_sub(s_lo).fingerprint(count), count)
    }

    /// The fingerprint of the whole set.
    pub fn total_fingerprint(&self) -> Fingerprint {
        self.total.fingerprint(self.len)
    }

    /// The bucket holding the entry of rank `rank` (< len) and the rank of its first entry.
    fn bucket_at(&self, rank: u64) -> (usize, u64) {
        let n = self.buckets.len();
        let (mut pos, mut before) = (0usize, 0u64);
        let mut step = n;
        while step > 0 {
            let next = pos + step;
            if next <= n && before + self.counts[next] <= rank {
                pos = next;
                before += self.counts[next];
            }
            step >>= 1;
        }
        (pos, before)
    }

    /// The entries in `[lo, hi)`, in key order.
    pub fn range(&self, lo: &Bound, hi: &Bound) -> Range<'_> {
        let (start, end) = if hi <= lo { (0, 0) } else { (self.rank(lo), self.rank(hi)) };
        Range { index: self, next: start, end, bucket: 0, offset: 0, located: false }
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.buckets.iter().flatten().map(|s| &s.entry)
    }
}

/// The entries of a range of a [`SetIndex`], in key order.
#[derive(Debug)]
pub struct Range<'a> {
    index: &'a SetIndex,
    next: u64,
    end: u64,
    bucket: usize,
    offset: usize,
    located: bool,
}

impl<'a> Iterator for Range<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        if self.next >= self.end {
            return None;
        }
        if !self.located || self.offset >= self.index.buckets[self.bucket].len() {
            let (bucket, first) = self.index.bucket_at(self.next);
            self.bucket = bucket;
            // `next` < len, so the bucket found holds it, `next - first` entries in.
            self.offset = (self.next - first) as usize;
            self.located = true;
        }
        let slot = &self.index.buckets[self.bucket][self.offset];
        self.offset += 1;
        self.next += 1;
        Some(&slot.entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next) as usize;
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entry(key: [u8; 32], d: u8) -> Entry {
        Entry { key: ItemKey(key), digest: [d; 32] }
    }

    fn naive(map: &BTreeMap<[u8; 32], u8>, lo: &Bound, hi: &Bound) -> (Fingerprint, u64, Vec<Entry>) {
        let inside: Vec<Entry> =
            map.iter().map(|(k, d)| entry(*k, *d)).filter(|e| !lo.above(&e.key) && hi.above(&e.key)).collect();
        let sum = inside.iter().fold(Accumulator::default(), |s, e| s.wrapping_add(Accumulator::of(e)));
        (sum.fingerprint(inside.len() as u64), inside.len() as u64, inside)
    }

    fn key_strategy() -> impl Strategy<Value = [u8; 32]> {
        // Few distinct first bytes, so that buckets hold several keys and ranges cut them.
        (0u8..4, 0u8..4, any::<[u8; 30]>()).prop_map(|(a, b, rest)| {
            let mut k = [0u8; 32];
            k[0] = a;
            k[1] = b;
            k[2..].copy_from_slice(&rest);
            k
        })
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert([u8; 32], u8),
        Remove(usize),
    }

    proptest! {
        #[test]
        fn matches_a_naive_set(
            ops in prop::collection::vec(prop_oneof![
                (key_strategy(), any::<u8>()).prop_map(|(k, d)| Op::Insert(k, d)),
                any::<usize>().prop_map(Op::Remove),
            ], 0..200),
            lo in key_strategy(),
            hi in prop::option::of(key_strategy()),
        ) {
            let mut index = SetIndex::new();
            let mut map = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, d) => {
                        prop_assert_eq!(index.insert(entry(k, d)).map(|x| x[0]), map.insert(k, d));
                    }
                    Op::Remove(i) if !map.is_empty() => {
                        let k = *map.keys().nth(i % map.len()).unwrap();
                        prop_assert_eq!(index.remove(&ItemKey(k)).map(|x| x[0]), map.remove(&k));
                    }
                    Op::Remove(_) => prop_assert_eq!(index.remove(&ItemKey(lo)), None),
                }
            }
            prop_assert_eq!(index.len(), map.len() as u64);
            let lo = Bound::Key(ItemKey(lo));
            let hi = hi.map_or(Bound::End, |k| Bound::Key(ItemKey(k)));
            let (fp, count, inside) = naive(&map, &lo, &hi);
            prop_assert_eq!(index.fingerprint(&lo, &hi), (fp, count));
            prop_assert_eq!(index.count(&lo, &hi), count);
            prop_assert_eq!(index.range(&lo, &hi).copied().collect::<Vec<_>>(), inside);
            let all = naive(&map, &Bound::START, &Bound::End);
            prop_assert_eq!(index.total_fingerprint(), all.0);
            prop_assert_eq!(index.iter().copied().collect::<Vec<_>>(), all.2);
        }
    }

    #[test]
    fn replacing_a_version_changes_only_its_fingerprint() {
        let mut index = SetIndex::from_entries((0..100u8).map(|i| entry([i; 32], 0)));
        let before = index.total_fingerprint();
        let lower = index.fingerprint(&Bound::START, &Bound::Key(ItemKey([50; 32])));
        assert_eq!(index.insert(entry([70; 32], 1)), Some([0; 32]));
        assert_ne!(index.total_fingerprint(), before);
        assert_eq!(index.fingerprint(&Bound::START, &Bound::Key(ItemKey([50; 32]))), lower);
        assert_eq!(index.insert(entry([70; 32], 0)), Some([1; 32]));
        assert_eq!(index.total_fingerprint(), before);
    }

    #[test]
    fn growing_keeps_every_answer() {
        let key = |n: u32| crate::item::ItemKey::of(crate::item::ItemKind::Record, &n.to_be_bytes()).0;
        let mut index = SetIndex::new();
        let mut map = BTreeMap::new();
        for n in 0..20_000u32 {
            index.insert(entry(key(n), n as u8));
            map.insert(key(n), n as u8);
        }
        assert!(index.bits > MIN_BITS, "it grew");
        for (lo, hi) in [([0u8; 32], Some([0x40; 32])), ([0x3f; 32], Some([0x41; 32])), ([0x80; 32], None)] {
            let (lo, hi) = (Bound::Key(ItemKey(lo)), hi.map_or(Bound::End, |k| Bound::Key(ItemKey(k))));
            let (fp, count, inside) = naive(&map, &lo, &hi);
            assert_eq!(index.fingerprint(&lo, &hi), (fp, count));
            assert_eq!(index.range(&lo, &hi).copied().collect::<Vec<_>>(), inside);
        }
        for n in 0..20_000u32 {
            assert!(index.remove(&ItemKey(key(n))).is_some());
        }
        assert_eq!(index.total_fingerprint(), SetIndex::new().total_fingerprint());
    }
}
