//! Range bounds in the key space and how a range splits into equal parts of that space.
//!
//! Keys are SHA-256 outputs, so equal parts of the key space hold about equal numbers of
//! entries, and the bounds of parts split from an aligned range are short prefixes (a
//! split of the whole space in 16 ends at one-byte bounds), which keeps messages small.

use crate::item::ItemKey;

/// The upper (exclusive) end of a range, or its lower end when it ends the previous range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// Every key less than this one (a key on the wire is a prefix padded with zeros).
    Key(ItemKey),
    /// Past the last key: the end of the space.
    End,
}

impl Bound {
    /// The start of the key space (all zeros), the lower bound of the first range.
    pub const START: Bound = Bound::Key(ItemKey([0; 32]));

    /// Whether `key` lies below this bound.
    pub fn above(&self, key: &ItemKey) -> bool {
        match self {
            Bound::Key(k) => key < k,
            Bound::End => true,
        }
    }
}

/// A 264-bit unsigned number, big-endian, so that [`Bound::End`] is 2^256.
type Wide = [u8; 33];

fn wide(b: &Bound) -> Wide {
    let mut w = [0u8; 33];
    match b {
        Bound::Key(k) => w[1..].copy_from_slice(&k.0),
        Bound::End => w[0] = 1,
    }
    w
}

fn sub(a: &Wide, b: &Wide) -> Wide {
    let mut out = [0u8; 33];
    let mut borrow = 0i16;
    for i in (0..33).rev() {
        let d = i16::from(a[i]) - i16::from(b[i]) - borrow;
        borrow = i16::from(d < 0);
        // In 0..=255 after adding 256 to a negative difference.
        out[i] = (d.rem_euclid(256)) as u8;
    }
    out
}

fn add(a: &Wide, b: &Wide) -> Wide {
    let mut out = [0u8; 33];
    let mut carry = 0u16;
    for i in (0..33).rev() {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = (s & 0xff) as u8;
        carry = s >> 8;
    }
    out
}

fn shr(a: &Wide, bits: u32) -> Wide {
    let mut out = [0u8; 33];
    let mut carry = 0u8;
    for i in 0..33 {
        out[i] = (a[i] >> bits) | carry;
        carry = a[i] << (8 - bits);
    }
    out
}

/// The bounds that split `[lo, hi)` into `parts` (a power of two, at most 256) equal parts of
/// the key space: `parts - 1` inner bounds, strictly increasing and inside the range, followed
/// by `hi`. Fewer parts when the range is too narrow to split that way.
pub fn split(lo: &Bound, hi: &Bound, parts: u32) -> Vec<Bound> {
    debug_assert!(parts.is_power_of_two() && parts <= 256);
    let mut out = Vec::with_capacity(parts as usize);
    let (l, h) = (wide(lo), wide(hi));
    if lo < hi {
        let step = shr(&sub(&h, &l), parts.trailing_zeros());
        if step.iter().any(|&b| b != 0) {
            let mut at = l;
            for _ in 1..parts {
                at = add(&at, &step);
                // Below `hi` <= 2^256, so the top byte is zero.
                let mut key = [0u8; 32];
                key.copy_from_slice(&at[1..]);
                out.push(Bound::Key(ItemKey(key)));
            }
        }
    }
    out.push(*hi);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_whole_space_splits_on_one_byte_bounds() {
        let bounds = split(&Bound::START, &Bound::End, 16);
        assert_eq!(bounds.len(), 16);
        for (i, b) in bounds[..15].iter().enumerate() {
            let mut k = [0u8; 32];
            k[0] = (i as u8 + 1) * 16;
            assert_eq!(*b, Bound::Key(ItemKey(k)));
        }
        assert_eq!(bounds[15], Bound::End);
    }

    #[test]
    fn a_narrow_range_does_not_split() {
        let lo = Bound::Key(ItemKey([7; 32]));
        let mut k = [7; 32];
        k[31] = 12;
        let hi = Bound::Key(ItemKey(k));
        assert_eq!(split(&lo, &hi, 16), vec![hi]);
    }

    proptest! {
        #[test]
        fn parts_increase_strictly_inside_the_range(a in any::<[u8; 32]>(), b in any::<[u8; 32]>(), end in any::<bool>()) {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            let lo = Bound::Key(ItemKey(lo));
            let hi = if end { Bound::End } else { Bound::Key(ItemKey(hi)) };
            let bounds = split(&lo, &hi, 16);
            let mut prev = lo;
            for b in &bounds {
                prop_assert!(prev < *b || (lo == hi));
                prev = *b;
            }
            prop_assert_eq!(*bounds.last().unwrap(), hi);
        }
    }
}
