//! Going online and the connections: `PeerGroupConnect`, `PeerGroupConnectByAddress`,
//! `PeerGroupEnumConnections`, direct connections and data (`PeerGroupOpenDirectConnection`,
//! `PeerGroupCloseDirectConnection`, `PeerGroupSendData`). The connect and open functions
//! return once the presence is started or asked; what happens next arrives as events
//! (`PEER_GROUP_EVENT_STATUS_CHANGED`, `_NEIGHBOR_CONNECTION`, `_DIRECT_CONNECTION`,
//! `_MEMBER_CHANGED`, `_CONNECTION_FAILED`, `_INCOMING_DATA`), as on Windows.

use peergroup::hresult::E_INVALIDARG;
use peergroup::{MAX_CONNECT_ADDRESSES, MAX_DATA_LEN, PeerName};

use super::start_enumeration;
use crate::address;
use crate::enumeration::Item;
use crate::guard::{CResult, OrHresult, call, clear_out, ok, put};
use crate::session;
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS};

/// The `PEER_CONNECTION_FLAGS` of `PeerGroupEnumConnections`: the kinds wanted (0: every
/// kind); a bit that names no kind is `E_INVALIDARG`.
fn connection_filter(dw_flags: DWORD) -> CResult<DWORD> {
    const KNOWN: DWORD = PEER_CONNECTION_NEIGHBOR | PEER_CONNECTION_DIRECT;
    match dw_flags {
        0 => Ok(KNOWN),
        f if f & !KNOWN != 0 => Err(E_INVALIDARG),
        f => Ok(f),
    }
}

/// Reads the caller's array of addresses (checked before anything is read: at most
/// `MAX_CONNECT_ADDRESSES`, not NULL when there are any).
///
/// # Safety
/// `p` is NULL or points to `count` readable `PEER_ADDRESS` entries.
unsafe fn read_addresses(count: ULONG, p: *const PEER_ADDRESS) -> CResult<Vec<std::net::SocketAddr>> {
    let count = count as usize;
    if count > MAX_CONNECT_ADDRESSES || (count > 0 && p.is_null()) {
        return Err(E_INVALIDARG);
    }
    (0..count)
        // SAFETY: `count` entries are readable per the contract.
        .map(|i| address::socket_addr(&unsafe { p.add(i).read_unaligned() }))
        .collect()
}

/// Takes the group online (`PeerGroupConnect`, asynchronous): this host's presence for the
/// group listens, registers the group's peer name in the group's cloud and links to the
/// members it finds there. `S_OK` once started (or when already online); success shows as
/// `PEER_GROUP_EVENT_STATUS_CHANGED`, a member that finds no one within 10 s gets
/// `PEER_GROUP_EVENT_CONNECTION_FAILED` and keeps looking.
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupConnect(hGroup: HGROUP) -> HRESULT {
    call(|| {
        session::require()?;
        session::group(hGroup)?.connect().or_hr()?;
        ok()
    })
}

/// Takes the group online and links to the members at `pAddresses`
/// (`PeerGroupConnectByAddress`, asynchronous), without looking in the cloud; links that drop
/// are dialled again. IPv4 addresses are given IPv4-mapped (`::ffff:a.b.c.d`). 0 addresses:
/// only listen. `E_INVALIDARG`: more than 64 addresses, NULL with a count, a `dwSize` other
/// than `sizeof(PEER_ADDRESS)`, a family other than `AF_INET6`, port 0, the unspecified
/// address.
///
/// # Safety
/// `pAddresses` NULL or `cAddresses` readable entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupConnectByAddress(
    hGroup: HGROUP,
    cAddresses: ULONG,
    pAddresses: *const PEER_ADDRESS,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let addresses = unsafe { read_addresses(cAddresses, pAddresses) }?;
        session::group(hGroup)?.connect_by_address(&addresses).or_hr()?;
        ok()
    })
}

/// Enumerates the group's connections on this host as `PEER_CONNECTION_INFO` items
/// (`PeerGroupEnumConnections`), whichever process holds the group's presence: `dwFlags`
/// `PEER_CONNECTION_NEIGHBOR`, `PEER_CONNECTION_DIRECT` or both (0: all).
///
/// # Safety
/// `phPeerEnum` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupEnumConnections(
    hGroup: HGROUP,
    dwFlags: DWORD,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        let wanted = connection_filter(dwFlags)?;
        let items = session::group(hGroup)?
            .connections()
            .or_hr()?
            .into_iter()
            .filter(|c| c.flags & wanted != 0)
            .map(|c| Item::Connection(Box::new(c)))
            .collect();
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(items, phPeerEnum) }?;
        ok()
    })
}

/// Opens a direct connection to the member `pwzIdentity` (`PeerGroupOpenDirectConnection`,
/// asynchronous): writes its id at once; `PEER_GROUP_EVENT_DIRECT_CONNECTION` then says
/// `PEER_CONNECTED` or `PEER_CONNECTION_FAILED`, and only from then on does the id name a
/// connection. The group's presence on this host (whichever process holds it) opens it over
/// its link to the member, dialling `pAddress` first when it has none (NULL: use the link it
/// has). `PEER_E_CONNECT_SELF` for this handle's own identity; `PEER_E_CONNECTION_FAILED` when
/// the group is not connected on this host.
///
/// # Safety
/// `pwzIdentity` NULL or NUL-terminated UTF-16; `pAddress` NULL or readable;
/// `pullConnectionId` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupOpenDirectConnection(
    hGroup: HGROUP,
    pwzIdentity: PCWSTR,
    pAddress: *const PEER_ADDRESS,
    pullConnectionId: *mut ULONGLONG,
) -> HRESULT {
    call(|| {
        session::require()?;
        if pullConnectionId.is_null() {
            return Err(E_INVALIDARG);
        }
        // SAFETY: per the contract.
        let member = unsafe { wide::required(pwzIdentity, MAX_STRING_UNITS) }?;
        let member = PeerName::parse(&member).map_err(|_| E_INVALIDARG)?;
        let address = if pAddress.is_null() {
            None
        } else {
            // SAFETY: non-NULL and readable per the contract.
            Some(address::socket_addr(&unsafe { pAddress.read_unaligned() })?)
        };
        let id = session::group(hGroup)?.open_direct_connection(&member, address).or_hr()?;
        // SAFETY: checked non-NULL above, writable per the contract.
        unsafe { put(pullConnectionId, id) }?;
        ok()
    })
}

/// Closes direct connection `ullConnectionId` after the data sent on it
/// (`PeerGroupCloseDirectConnection`); both sides then get `PEER_GROUP_EVENT_DIRECT_CONNECTION`
/// with `PEER_DISCONNECTED`. `PEER_E_CONNECTION_NOT_FOUND` for an id that names no open direct
/// connection (a neighbour's included).
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupCloseDirectConnection(hGroup: HGROUP, ullConnectionId: ULONGLONG) -> HRESULT {
    call(|| {
        session::require()?;
        session::group(hGroup)?.close_direct_connection(ullConnectionId).or_hr()?;
        ok()
    })
}

/// Sends `cbData` bytes of type `pType` on connection `ullConnectionId`, a neighbour's or a
/// direct one (`PeerGroupSendData`); the member gets `PEER_GROUP_EVENT_INCOMING_DATA` in every
/// handle registered for it, in the order sent on the connection. Returns once queued with
/// the holder of the group's presence. `E_INVALIDARG` beyond `PEERGROUP_MAX_DATA_LEN` bytes
/// (nothing is sent), or for NULL data with a count; `PEER_E_CONNECTION_NOT_FOUND` for an id
/// that names no connection.
///
/// # Safety
/// `pType` NULL or readable; `pvData` NULL or `cbData` readable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupSendData(
    hGroup: HGROUP,
    ullConnectionId: ULONGLONG,
    pType: *const GUID,
    cbData: ULONG,
    pvData: *const std::ffi::c_void,
) -> HRESULT {
    call(|| {
        session::require()?;
        let len = cbData as usize;
        if pType.is_null() || (len > 0 && pvData.is_null()) || len > MAX_DATA_LEN {
            return Err(E_INVALIDARG);
        }
        // SAFETY: non-NULL and readable per the contract.
        let data_type = unsafe { pType.read_unaligned() };
        let data: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: `cbData` readable bytes per the contract, non-NULL (checked).
            unsafe { std::slice::from_raw_parts(pvData.cast::<u8>(), len) }
        };
        session::group(hGroup)?.send_data(ullConnectionId, data_type.into(), data).or_hr()?;
        ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_flags_are_the_known_kinds() {
        assert_eq!(connection_filter(0), Ok(PEER_CONNECTION_NEIGHBOR | PEER_CONNECTION_DIRECT));
        assert_eq!(connection_filter(PEER_CONNECTION_NEIGHBOR), Ok(PEER_CONNECTION_NEIGHBOR));
        assert_eq!(connection_filter(PEER_CONNECTION_DIRECT), Ok(PEER_CONNECTION_DIRECT));
        assert_eq!(connection_filter(3), Ok(3));
        for bad in [4, 5, 0x8000_0000, DWORD::MAX] {
            assert_eq!(connection_filter(bad), Err(E_INVALIDARG), "{bad:#x}");
        }
        // The facade's flags are p2p.h's.
        assert_eq!(PEER_CONNECTION_NEIGHBOR, peergroup::PEER_CONNECTION_NEIGHBOR);
        assert_eq!(PEER_CONNECTION_DIRECT, peergroup::PEER_CONNECTION_DIRECT);
    }

    #[test]
    fn address_arrays_are_checked_before_they_are_read() {
        let one = [address::peer_address(&"127.0.0.1:9".parse().unwrap())];
        // SAFETY: NULL, or a local array at least as long as the count, except where the count
        // is refused before anything is read.
        unsafe {
            assert_eq!(read_addresses(0, std::ptr::null()), Ok(Vec::new()));
            assert_eq!(read_addresses(1, std::ptr::null()), Err(E_INVALIDARG));
            assert_eq!(read_addresses(1, one.as_ptr()), Ok(vec!["127.0.0.1:9".parse().unwrap()]));
            assert_eq!(read_addresses(MAX_CONNECT_ADDRESSES as ULONG + 1, one.as_ptr()), Err(E_INVALIDARG));
            let mut bad = one;
            bad[0].dwSize = 8;
            assert_eq!(read_addresses(1, bad.as_ptr()), Err(E_INVALIDARG));
        }
        let many = vec![one[0]; MAX_CONNECT_ADDRESSES];
        // SAFETY: `many` holds the count it is given.
        let read = unsafe { read_addresses(MAX_CONNECT_ADDRESSES as ULONG, many.as_ptr()) };
        assert_eq!(read.map(|v| v.len()), Ok(MAX_CONNECT_ADDRESSES));
    }
}
