//! Record functions, and the database and configuration exports.

use std::path::Path;

use peergroup::hresult::{E_INVALIDARG, PEER_E_MAX_RECORD_SIZE_EXCEEDED};
use peergroup::{Attributes, MAX_RECORD_DATA_LEN, NewRecord, RecordUpdate, Timestamp};
use uuid::Uuid;

use super::start_enumeration;
use crate::alloc::{self, Block};
use crate::convert;
use crate::enumeration::Item;
use crate::guard::{CResult, OrHresult, call, clear_out, ok, put};
use crate::session;
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS, MAX_XML_UNITS};

/// The parts of a caller's `PEER_RECORD` that adding and updating read.
struct Incoming {
    record_type: Uuid,
    id: Uuid,
    attributes: Attributes,
    expires: Timestamp,
    data: Vec<u8>,
}

/// Reads a caller's `PEER_RECORD` (`dwSize` must be `sizeof(PEER_RECORD)`).
///
/// # Safety
/// `p` is NULL or a readable `PEER_RECORD` whose attributes are NULL or NUL-terminated and
/// whose `data.pbData` holds `data.cbData` readable bytes.
unsafe fn read_record(p: *const PEER_RECORD) -> CResult<Incoming> {
    if p.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: non-NULL; the first field is readable per the contract.
    let size = unsafe { std::ptr::addr_of!((*p).dwSize).read_unaligned() } as usize;
    if size != std::mem::size_of::<PEER_RECORD>() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: a whole record is readable per the contract.
    let r = unsafe { p.read_unaligned() };
    // SAFETY: per the contract.
    let attributes = unsafe { wide::optional(r.pwzAttributes, MAX_XML_UNITS) }?;
    let attributes = Attributes::from_xml(attributes.as_deref().unwrap_or("")).or_hr()?;
    let len = r.data.cbData as usize;
    if len > MAX_RECORD_DATA_LEN {
        return Err(PEER_E_MAX_RECORD_SIZE_EXCEEDED);
    }
    let data = if len == 0 {
        Vec::new()
    } else if r.data.pbData.is_null() {
        return Err(E_INVALIDARG);
    } else {
        // SAFETY: `cbData` bytes at `pbData` are readable per the contract.
        unsafe { std::slice::from_raw_parts(r.data.pbData, len) }.to_vec()
    };
    Ok(Incoming {
        record_type: r.r#type.into(),
        id: r.id.into(),
        attributes,
        expires: convert::timestamp(r.ftExpiration),
        data,
    })
}

/// Reads a required GUID argument.
///
/// # Safety
/// `p` is NULL or a readable GUID.
unsafe fn read_guid(p: *const GUID) -> CResult<Uuid> {
    if p.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: non-NULL and readable per the contract.
    Ok(unsafe { p.read_unaligned() }.into())
}

/// Adds a record signed by the group's identity (`PeerGroupAddRecord`): `dwSize`, `type`,
/// `ftExpiration` (UTC), attributes and data are read; the id it gets is written to
/// `pRecordId`.
///
/// # Safety
/// As `read_record`; `pRecordId` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupAddRecord(
    hGroup: HGROUP,
    pRecord: *const PEER_RECORD,
    pRecordId: *mut GUID,
) -> HRESULT {
    call(|| {
        session::require()?;
        if pRecordId.is_null() {
            return Err(E_INVALIDARG);
        }
        // SAFETY: per the contract.
        let r = unsafe { read_record(pRecord) }?;
        let group = session::group(hGroup)?;
        let added = group
            .add_record(NewRecord {
                record_type: r.record_type,
                attributes: r.attributes,
                expires: r.expires,
                data: r.data,
            })
            .or_hr()?;
        // SAFETY: per the contract.
        unsafe { put(pRecordId, GUID::from(added.id)) }?;
        ok()
    })
}

/// Updates a record's attributes, expiration (never earlier) and data
/// (`PeerGroupUpdateRecord`); the record is named by `id`.
///
/// # Safety
/// As `read_record`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupUpdateRecord(hGroup: HGROUP, pRecord: *const PEER_RECORD) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let r = unsafe { read_record(pRecord) }?;
        let group = session::group(hGroup)?;
        group
            .update_record(r.id, RecordUpdate { attributes: r.attributes, expires: r.expires, data: r.data })
            .or_hr()?;
        ok()
    })
}

/// Deletes a record (`PeerGroupDeleteRecord`).
///
/// # Safety
/// `pRecordId` NULL or a readable GUID.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupDeleteRecord(hGroup: HGROUP, pRecordId: *const GUID) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let id = unsafe { read_guid(pRecordId) }?;
        session::group(hGroup)?.delete_record(id).or_hr()?;
        ok()
    })
}

/// One record (`PeerGroupGetRecord`).
///
/// # Safety
/// `pRecordId` NULL or a readable GUID; `ppRecord` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupGetRecord(
    hGroup: HGROUP,
    pRecordId: *const GUID,
    ppRecord: *mut *mut PEER_RECORD,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppRecord) }?;
        // SAFETY: per the contract.
        let id = unsafe { read_guid(pRecordId) }?;
        let record = session::group(hGroup)?.record(id).or_hr()?;
        let mut block = Block::new();
        let p = convert::record(&mut block, &record);
        // SAFETY: per the contract.
        unsafe { put(ppRecord, alloc::hand_out(block, p)) }?;
        ok()
    })
}

/// Enumerates the live records, or those of one type, as `PEER_RECORD` items
/// (`PeerGroupEnumRecords`).
///
/// # Safety
/// `pRecordType` NULL or a readable GUID; `phPeerEnum` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupEnumRecords(
    hGroup: HGROUP,
    pRecordType: *const GUID,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        // SAFETY: per the contract.
        let record_type = if pRecordType.is_null() { None } else { Some(unsafe { read_guid(pRecordType) }?) };
        let records = session::group(hGroup)?.records(record_type).or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(records.into_iter().map(|r| Item::Record(Box::new(r))).collect(), phPeerEnum) }?;
        ok()
    })
}

/// Enumerates the records a `<peersearch>` query selects (`PeerGroupSearchRecords`).
///
/// # Safety
/// `pwzCriteria` NULL or NUL-terminated UTF-16; `phPeerEnum` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupSearchRecords(
    hGroup: HGROUP,
    pwzCriteria: PCWSTR,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        // SAFETY: per the contract.
        let query = unsafe { wide::required(pwzCriteria, MAX_XML_UNITS) }?;
        let records = session::group(hGroup)?.search(&query).or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(records.into_iter().map(|r| Item::Record(Box::new(r))).collect(), phPeerEnum) }?;
        ok()
    })
}

/// Writes the group database to a file (`PeerGroupExportDatabase`).
///
/// # Safety
/// `pwzFilePath` NULL or NUL-terminated UTF-16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupExportDatabase(hGroup: HGROUP, pwzFilePath: PCWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let path = unsafe { wide::required(pwzFilePath, MAX_STRING_UNITS) }?;
        session::group(hGroup)?.export_database(Path::new(&path)).or_hr()?;
        ok()
    })
}

/// Merges an exported database into the group, verifying every record
/// (`PeerGroupImportDatabase`).
///
/// # Safety
/// `pwzFilePath` NULL or NUL-terminated UTF-16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupImportDatabase(hGroup: HGROUP, pwzFilePath: PCWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let path = unsafe { wide::required(pwzFilePath, MAX_STRING_UNITS) }?;
        session::group(hGroup)?.import_database(Path::new(&path)).or_hr()?;
        ok()
    })
}

/// Writes this identity's membership of the group, with the group key when it owns the group,
/// protected by `pwzPassword` (at least 8 characters), to `*ppwzXML` (`PeerGroupExportConfig`;
/// free with `PeerFreeData`). peergroup's format is text, not Windows' XML (`docs/capi.md`).
///
/// # Safety
/// `pwzPassword` NULL or NUL-terminated UTF-16; `ppwzXML` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupExportConfig(hGroup: HGROUP, pwzPassword: PCWSTR, ppwzXML: *mut PWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzXML) }?;
        // SAFETY: per the contract.
        let password = unsafe { wide::required(pwzPassword, MAX_STRING_UNITS) }?;
        let text = session::group(hGroup)?.export_config(&password).or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ppwzXML, wide::hand_out(&text)) }?;
        ok()
    })
}

/// Installs a configuration written by `PeerGroupExportConfig` (`PeerGroupImportConfig`) for
/// the identity it names, which must exist here already (`PeerIdentityImport` first), and
/// writes that identity's and the group's peer names (free each with `PeerFreeData`).
/// `PEER_E_ALREADY_EXISTS` when the membership exists and `fOverwrite` is FALSE; TRUE deletes
/// that group first, database included.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `ppwzIdentity`, `ppwzGroup` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupImportConfig(
    pwzXML: PCWSTR,
    pwzPassword: PCWSTR,
    fOverwrite: BOOL,
    ppwzIdentity: *mut PWSTR,
    ppwzGroup: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY (two): per the contract.
        unsafe { clear_out(ppwzIdentity) }?;
        unsafe { clear_out(ppwzGroup) }?;
        // SAFETY (two reads): per the contract.
        let text = unsafe { wide::required(pwzXML, MAX_XML_UNITS) }?;
        let password = unsafe { wide::required(pwzPassword, MAX_STRING_UNITS) }?;
        let (identity, group) = session::context()?.import_config(&text, &password, fOverwrite != 0).or_hr()?;
        let identity = wide::hand_out(&identity.to_string());
        // SAFETY: checked non-NULL above.
        unsafe { put(ppwzIdentity, identity) }?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ppwzGroup, wide::hand_out(&group.to_string())) }?;
        ok()
    })
}
