//! [`Seen`]: the keys a sync has acted on, in about 20 bytes each (a million keys in 20 MB,
//! where a hash set of whole keys takes 69 MB).
//!
//! A key is held as its first 16 bytes: keys are SHA-256 outputs, so two that share them take
//! about 2^64 hashes to find. Most keys sit in one sorted `Vec`; new ones go to a small hash
//! set, merged into the `Vec` (in place, from the back) once it holds an eighth as many, so
//! each key is moved `O(log n)` times in all and a lookup is a binary search and a probe.

use std::collections::HashSet;

use crate::item::ItemKey;

/// The fewest keys the recent set holds before a merge (few in tests, so that they merge).
const MIN_RECENT: usize = if cfg!(test) { 64 } else { 4096 };

/// A set of keys, compact (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Seen {
    sorted: Vec<u128>,
    recent: HashSet<u128>,
}

/// The first 16 bytes of `key`.
pub(crate) fn short(key: &ItemKey) -> u128 {
    let mut half = [0u8; 16];
    half.copy_from_slice(&key.0[..16]);
    u128::from_be_bytes(half)
}

impl Seen {
    /// Adds `key`; whether it was not held yet.
    pub(crate) fn insert(&mut self, key: &ItemKey) -> bool {
        let short = short(key);
        if self.sorted.binary_search(&short).is_ok() || !self.recent.insert(short) {
            return false;
        }
        if self.recent.len() >= MIN_RECENT.max(self.sorted.len() / 8) {
            self.merge();
        }
        true
    }

    /// Moves the recent keys into the sorted `Vec`, merging from the back so that no second
    /// `Vec` of the whole set is needed.
    fn merge(&mut self) {
        let mut recent: Vec<u128> = self.recent.drain().collect();
        recent.sort_unstable();
        self.recent.shrink_to(MIN_RECENT);
        let old = self.sorted.len();
        self.sorted.reserve_exact(recent.len());
        self.sorted.resize(old + recent.len(), 0);
        let (mut i, mut j, mut out) = (old, recent.len(), old + recent.len());
        while j > 0 {
            out -= 1;
            if i > 0 && self.sorted[i - 1] > recent[j - 1] {
                self.sorted[out] = self.sorted[i - 1];
                i -= 1;
            } else {
                self.sorted[out] = recent[j - 1];
                j -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u64) -> ItemKey {
        ItemKey::of(crate::item::ItemKind::Record, &n.to_be_bytes())
    }

    #[test]
    fn holds_many_keys_once() {
        let mut seen = Seen::default();
        for n in 0..5_000 {
            assert!(seen.insert(&key(n)), "{n} is new");
        }
        for n in 0..5_000 {
            assert!(!seen.insert(&key(n)), "{n} was seen");
        }
        assert!(seen.sorted.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert!(seen.recent.len() < 5_000 / 8, "merged as it grew");
        assert_eq!(seen.sorted.len() + seen.recent.len(), 5_000);
    }

    proptest! {
        #[test]
        fn answers_as_a_hash_set(keys in prop::collection::vec(0u64..1_500, 0..2_000)) {
            let mut seen = Seen::default();
            let mut naive = HashSet::new();
            for n in keys {
                prop_assert_eq!(seen.insert(&key(n)), naive.insert(n));
            }
        }
    }
}
