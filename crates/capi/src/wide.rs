//! UTF-16 strings across the boundary: reading the caller's `PCWSTR`s (bounded, checked) and
//! handing out `PWSTR`s that `PeerFreeData` releases.

use peergroup::hresult::E_INVALIDARG;

use crate::alloc::{self, Block};
use crate::guard::CResult;
use crate::types::PWSTR;

/// The longest name-like string argument (peer names, classifiers, friendly names, cloud
/// names, passwords, paths, search queries), in UTF-16 code units before the NUL. A string
/// with no NUL within this many units is `E_INVALIDARG`; nothing beyond is read.
pub const MAX_STRING_UNITS: usize = 4096;

/// The longest XML argument (invitations, identity information and exports, record
/// attributes), in UTF-16 code units before the NUL.
pub const MAX_XML_UNITS: usize = 1 << 20;

/// Reads an optional string: `None` for NULL; `E_INVALIDARG` for a string without NUL within
/// `max` units or with an unpaired surrogate.
///
/// # Safety
/// `p` is NULL or points to readable UTF-16 units up to its NUL or `max` units.
pub(crate) unsafe fn optional(p: *const u16, max: usize) -> CResult<Option<String>> {
    if p.is_null() {
        return Ok(None);
    }
    let mut len = 0;
    // SAFETY: the caller promises the units up to the NUL (or `max`) are readable; the loop
    // stops at the first NUL and never passes `max`.
    while unsafe { p.add(len).read_unaligned() } != 0 {
        len += 1;
        if len >= max {
            return Err(E_INVALIDARG);
        }
    }
    // SAFETY: the `len` units were just read one by one.
    let units = unsafe { std::slice::from_raw_parts(p, len) };
    String::from_utf16(units).map(Some).map_err(|_| E_INVALIDARG)
}

/// Reads a required string (NULL is `E_INVALIDARG`).
///
/// # Safety
/// As [`optional`].
pub(crate) unsafe fn required(p: *const u16, max: usize) -> CResult<String> {
    // SAFETY: forwarded contract.
    unsafe { optional(p, max) }?.ok_or(E_INVALIDARG)
}

/// Reads an optional string where an empty one also means "not given".
///
/// # Safety
/// As [`optional`].
pub(crate) unsafe fn optional_nonempty(p: *const u16, max: usize) -> CResult<Option<String>> {
    // SAFETY: forwarded contract.
    Ok(unsafe { optional(p, max) }?.filter(|s| !s.is_empty()))
}

/// Hands out a string on its own: one allocation for `PeerFreeData`.
pub(crate) fn hand_out(s: &str) -> PWSTR {
    let mut block = Block::new();
    let p = block.wide(s);
    alloc::hand_out(block, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().chain([0]).collect()
    }

    #[test]
    fn strings_are_read_up_to_their_nul() {
        // SAFETY: every pointer is a NUL-terminated local buffer, or NULL.
        unsafe {
            assert_eq!(optional(std::ptr::null(), 10), Ok(None));
            assert_eq!(required(std::ptr::null(), 10), Err(E_INVALIDARG));
            assert_eq!(required(units("héllo 👋").as_ptr(), 10).as_deref(), Ok("héllo 👋"));
            assert_eq!(optional_nonempty(units("").as_ptr(), 10), Ok(None));
        }
    }

    #[test]
    fn unpaired_surrogates_and_missing_terminators_are_invalid() {
        // SAFETY: NUL-terminated local buffers; the long one is read only up to the limit.
        unsafe {
            assert_eq!(required([0xD800, 0x61, 0].as_ptr(), 10), Err(E_INVALIDARG));
            assert_eq!(required([0x61, 0xDC00, 0].as_ptr(), 10), Err(E_INVALIDARG));
            let long = units(&"a".repeat(20));
            assert_eq!(required(long.as_ptr(), 20), Err(E_INVALIDARG));
            assert_eq!(required(long.as_ptr(), 21).map(|s| s.len()), Ok(20));
        }
    }
}
