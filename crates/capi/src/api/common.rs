//! Startup, shutdown, memory and enumerations.

use std::ffi::c_void;
use std::sync::PoisonError;

use peergroup::hresult::{E_INVALIDARG, PEER_E_UNSUPPORTED_VERSION};

use crate::alloc;
use crate::guard::{OrHresult, call, clear_out, ok, put};
use crate::session::{self, Object};
use crate::types::*;

/// The version used for a requested version: the highest supported one not above it.
fn negotiate(requested: WORD) -> Option<WORD> {
    let (major, minor) = (requested & 0xff, requested >> 8);
    match major {
        0 => None,
        1 if minor <= 1 => Some(requested),
        _ => Some(PEER_GROUP_VERSION),
    }
}

/// Starts peergroup for this process (`PeerGroupStartup`): reads the keystore root
/// (`$PEERGROUP_HOME`, else `$XDG_DATA_HOME/peergroup`, else `~/.local/share/peergroup`).
/// Every successful call needs one `PeerGroupShutdown`.
///
/// # Safety
/// `pVersionData` is NULL or valid for writing a `PEER_VERSION_DATA`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupStartup(wVersionRequested: WORD, pVersionData: *mut PEER_VERSION_DATA) -> HRESULT {
    call(|| {
        if pVersionData.is_null() {
            return Err(E_INVALIDARG);
        }
        let version = negotiate(wVersionRequested).ok_or(PEER_E_UNSUPPORTED_VERSION)?;
        session::start()?;
        // SAFETY: checked non-NULL; writable per the contract.
        unsafe { put(pVersionData, PEER_VERSION_DATA { wVersion: version, wHighestVersion: PEER_GROUP_VERSION }) }?;
        ok()
    })
}

/// Ends one `PeerGroupStartup`; the last closes every handle still open (`PeerGroupShutdown`).
/// Memory handed out stays valid until `PeerFreeData`.
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupShutdown() -> HRESULT {
    call(|| {
        session::stop()?;
        ok()
    })
}

/// Frees memory a peergroup function returned (`PeerFreeData`). NULL, and pointers that are
/// not live allocations of this library, are ignored.
///
/// # Safety
/// None beyond C's: the pointer is only compared, never dereferenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerFreeData(pvData: *const c_void) {
    let _ = call(|| {
        if !pvData.is_null() {
            alloc::free(pvData);
        }
        ok()
    });
}

/// The number of items an enumeration has left (`PeerGetItemCount`).
///
/// # Safety
/// `pCount` is NULL or valid for writing a `ULONG`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGetItemCount(hPeerEnum: HPEERENUM, pCount: *mut ULONG) -> HRESULT {
    call(|| {
        let e = session::enumeration(hPeerEnum)?;
        let n = e.lock().unwrap_or_else(PoisonError::into_inner).remaining();
        // SAFETY: per the contract.
        unsafe { put(pCount, ULONG::try_from(n).unwrap_or(ULONG::MAX)) }?;
        ok()
    })
}

/// Hands out up to `*pCount` items (`PeerGetNextItem`): `*pCount` becomes the number handed
/// out (0 at the end, with `*pppvItems` NULL), `*pppvItems` an array of item pointers that one
/// `PeerFreeData` releases with its items.
///
/// # Safety
/// `pCount` is NULL or valid for reading and writing a `ULONG`; `pppvItems` NULL or valid
/// for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGetNextItem(
    hPeerEnum: HPEERENUM,
    pCount: *mut ULONG,
    pppvItems: *mut *mut *mut c_void,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(pppvItems) }?;
        if pCount.is_null() {
            return Err(E_INVALIDARG);
        }
        // SAFETY: checked non-NULL; readable per the contract.
        let max = unsafe { pCount.read_unaligned() };
        if max == 0 {
            return Err(E_INVALIDARG);
        }
        let e = session::enumeration(hPeerEnum)?;
        let (mut block, pointers) = e.lock().unwrap_or_else(PoisonError::into_inner).next_batch(max as usize);
        let n = pointers.len() as ULONG;
        if n > 0 {
            let array = block.array(pointers);
            // SAFETY: per the contract.
            unsafe { put(pppvItems, alloc::hand_out(block, array)) }?;
        }
        // SAFETY: per the contract.
        unsafe { put(pCount, n) }?;
        ok()
    })
}

/// Ends an enumeration (`PeerEndEnumeration`); items not handed out are released. Batches
/// already handed out stay valid until `PeerFreeData`.
#[unsafe(no_mangle)]
pub extern "C" fn PeerEndEnumeration(hPeerEnum: HPEERENUM) -> HRESULT {
    call(|| {
        drop(session::remove(hPeerEnum, |o| matches!(o, Object::Enum(_)))?);
        ok()
    })
}

/// The clouds this host is in now (`PeerPnrpGetCloudInfo`): an array of `*pcNumClouds`
/// entries, one `PeerFreeData`. Needs `PeerGroupStartup` (there is no `PeerPnrpStartup`).
///
/// # Safety
/// Both pointers are NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpGetCloudInfo(
    pcNumClouds: *mut ULONG,
    ppCloudInfo: *mut *mut PEER_PNRP_CLOUD_INFO,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppCloudInfo) }?;
        if pcNumClouds.is_null() {
            return Err(E_INVALIDARG);
        }
        let context = session::context()?;
        let clouds = context.clouds().or_hr()?;
        let mut block = alloc::Block::new();
        let infos: Vec<PEER_PNRP_CLOUD_INFO> = clouds
            .iter()
            .map(|c| PEER_PNRP_CLOUD_INFO {
                pwzCloudName: block.wide(&c.name.to_string()),
                dwScope: c.scope.to_raw(),
                dwScopeId: c.scope_id,
            })
            .collect();
        let n = infos.len() as ULONG;
        let array = block.array(infos);
        if !array.is_null() {
            // SAFETY: per the contract.
            unsafe { put(ppCloudInfo, alloc::hand_out(block, array)) }?;
        }
        // SAFETY: per the contract.
        unsafe { put(pcNumClouds, n) }?;
        ok()
    })
}

#[cfg(test)]
mod tests {
    use super::negotiate;

    #[test]
    fn versions() {
        assert_eq!(negotiate(0x0000), None);
        assert_eq!(negotiate(0x0100), None);
        assert_eq!(negotiate(0x0001), Some(0x0001));
        assert_eq!(negotiate(0x0101), Some(0x0101));
        assert_eq!(negotiate(0x0201), Some(0x0101));
        assert_eq!(negotiate(0x0002), Some(0x0101));
    }
}
