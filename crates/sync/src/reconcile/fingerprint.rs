//! The additive fingerprint of a set of entries: the sum of the entries' 32-byte hashes modulo
//! 2^256 and their count, hashed and truncated to 16 bytes (as in negentropy). Addition makes
//! it incremental: inserting or removing an entry adds or subtracts one hash, and the sum over
//! a range is the difference of two prefix sums.

use sha2::{Digest, Sha256};

use crate::item::Entry;

/// A sum of entry hashes modulo 2^256, as four little-endian 64-bit limbs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Accumulator(pub(crate) [u64; 4]);

impl Accumulator {
    /// The hash of one entry, as the accumulator adds it: SHA-256 over its key and digest.
    pub fn of(entry: &Entry) -> Self {
        let mut h = Sha256::new();
        h.update(entry.key.0);
        h.update(entry.digest);
        let bytes: [u8; 32] = h.finalize().into();
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(b);
        }
        Self(limbs)
    }

    /// Its four 64-bit limbs, least significant first.
    pub fn limbs(&self) -> [u64; 4] {
        self.0
    }

    /// `self + other` modulo 2^256.
    #[must_use]
    pub fn wrapping_add(self, other: Self) -> Self {
        let mut out = [0u64; 4];
        let mut carry = false;
        for (i, o) in out.iter_mut().enumerate() {
            let (s, c1) = self.0[i].overflowing_add(other.0[i]);
            let (s, c2) = s.overflowing_add(u64::from(carry));
            *o = s;
            carry = c1 || c2;
        }
        Self(out)
    }

    /// `self - other` modulo 2^256.
    #[must_use]
    pub fn wrapping_sub(self, other: Self) -> Self {
        let mut out = [0u64; 4];
        let mut borrow = false;
        for (i, o) in out.iter_mut().enumerate() {
            let (d, b1) = self.0[i].overflowing_sub(other.0[i]);
            let (d, b2) = d.overflowing_sub(u64::from(borrow));
            *o = d;
            borrow = b1 || b2;
        }
        Self(out)
    }

    /// The fingerprint of a set whose hashes sum to `self` and which holds `count` entries.
    pub fn fingerprint(self, count: u64) -> Fingerprint {
        let mut h = Sha256::new();
        for limb in self.0 {
            h.update(limb.to_le_bytes());
        }
        h.update(count.to_le_bytes());
        let full: [u8; 32] = h.finalize().into();
        let mut fp = [0u8; FINGERPRINT_LEN];
        fp.copy_from_slice(&full[..FINGERPRINT_LEN]);
        Fingerprint(fp)
    }
}

/// Length of a fingerprint on the wire.
pub const FINGERPRINT_LEN: usize = 16;

/// The fingerprint of a range of entries: equal on both sides exactly when (but for a 2^-128
/// chance) both hold the same entries in that range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::ItemKey;
    use proptest::prelude::*;

    fn entry(k: u8, d: u8) -> Entry {
        Entry { key: ItemKey([k; 32]), digest: [d; 32] }
    }

    #[test]
    fn the_fingerprint_depends_on_the_order_of_nothing() {
        let (a, b, c) = (Accumulator::of(&entry(1, 1)), Accumulator::of(&entry(2, 2)), Accumulator::of(&entry(3, 3)));
        assert_eq!(a.wrapping_add(b).wrapping_add(c).fingerprint(3), c.wrapping_add(a).wrapping_add(b).fingerprint(3));
        assert_ne!(a.wrapping_add(b).fingerprint(2), a.wrapping_add(c).fingerprint(2));
        assert_ne!(a.wrapping_add(b).fingerprint(2), a.wrapping_add(b).fingerprint(3), "the count is part of it");
    }

    #[test]
    fn another_version_changes_the_fingerprint() {
        assert_ne!(Accumulator::of(&entry(1, 1)).fingerprint(1), Accumulator::of(&entry(1, 2)).fingerprint(1));
    }

    proptest! {
        #[test]
        fn sub_undoes_add(a in any::<[u64; 4]>(), b in any::<[u64; 4]>()) {
            let (a, b) = (Accumulator(a), Accumulator(b));
            prop_assert_eq!(a.wrapping_add(b).wrapping_sub(b), a);
            prop_assert_eq!(a.wrapping_add(b), b.wrapping_add(a));
        }
    }
}
