//! The boundary: every exported function runs its body through [`call`], which turns errors
//! into HRESULTs and a panic into `E_UNEXPECTED`, so no unwinding crosses into C.

use std::panic::{AssertUnwindSafe, catch_unwind};

use peergroup::Hresult;
use peergroup::hresult::{E_INVALIDARG, E_UNEXPECTED, S_OK};

use crate::types::HRESULT;

/// The result of a function body: the success code, or the failure code.
pub(crate) type CResult<T> = Result<T, Hresult>;

/// Maps any facade-layer error to its HRESULT (`?` on facade and keystore calls).
pub(crate) trait OrHresult<T> {
    fn or_hr(self) -> CResult<T>;
}

impl<T, E: Into<peergroup::Error>> OrHresult<T> for Result<T, E> {
    fn or_hr(self) -> CResult<T> {
        self.map_err(|e| e.into().hresult())
    }
}

/// Runs a function body at the boundary.
pub(crate) fn call(body: impl FnOnce() -> CResult<Hresult>) -> HRESULT {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(hr) | Err(hr)) => hr.0,
        Err(_) => E_UNEXPECTED.0,
    }
}

/// `Ok(S_OK)`, for bodies that end in success.
pub(crate) fn ok() -> CResult<Hresult> {
    Ok(S_OK)
}

/// Writes an out-parameter, NULL being `E_INVALIDARG`.
///
/// # Safety
/// `p` is NULL or valid for writing a `T`.
pub(crate) unsafe fn put<T>(p: *mut T, value: T) -> CResult<()> {
    if p.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: non-NULL and writable per the contract.
    unsafe { p.write_unaligned(value) };
    Ok(())
}

/// Checks that an out-parameter is not NULL, and clears it (NULL) so that a failure leaves
/// nothing the caller could mistake for a result.
///
/// # Safety
/// `p` is NULL or valid for writing a pointer.
pub(crate) unsafe fn clear_out<T>(p: *mut *mut T) -> CResult<()> {
    // SAFETY: forwarded contract.
    unsafe { put(p, std::ptr::null_mut()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use peergroup::hresult::{E_FAIL, PEER_S_NO_EVENT_DATA};

    #[test]
    fn codes_and_panics_become_hresults() {
        assert_eq!(call(ok), S_OK.0);
        assert_eq!(call(|| Ok(PEER_S_NO_EVENT_DATA)), PEER_S_NO_EVENT_DATA.0);
        assert_eq!(call(|| Err(E_FAIL)), E_FAIL.0);
        assert_eq!(call(|| panic!("a bug")), E_UNEXPECTED.0);
    }

    #[test]
    fn null_out_parameters_are_invalid() {
        // SAFETY: NULL is allowed; the valid pointer is a local.
        unsafe {
            assert_eq!(put(std::ptr::null_mut::<u32>(), 1), Err(E_INVALIDARG));
            let mut out = 0u32;
            assert_eq!(put(&mut out, 5), Ok(()));
            assert_eq!(out, 5);
        }
    }
}
