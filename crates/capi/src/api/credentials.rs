//! `PeerGroupIssueCredentials`: an administrator issues, renews, or changes the roles of a
//! member's credentials, and with `PEER_GROUP_STORE_CREDENTIALS` publishes them in the group
//! database for the member to pick up (`docs/security.md`, "Issuing credentials").

use peergroup::hresult::E_INVALIDARG;
use peergroup::{CredentialRequest, CredentialSubject, IdentityInfo, PeerName};

use super::group::read_roles;
use crate::convert;
use crate::guard::{OrHresult, call, clear_out, ok, put};
use crate::session;
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS, MAX_XML_UNITS};

/// `PEER_GROUP_STORE_CREDENTIALS`: publish the credentials in the group database.
pub const PEER_GROUP_STORE_CREDENTIALS: DWORD = 0x1;

/// Issues credentials (`PeerGroupIssueCredentials`) for `pwzSubjectIdentity`: a member's
/// peer name (its key from the group database; `PEER_E_IDENTITY_NOT_FOUND` if the database
/// does not hold it), or, a peergroup extension, an identity's `PeerIdentityGetXML` text.
/// `pCredentialInfo` NULL renews with the roles held and the issuer's remaining lifetime;
/// otherwise its `dwSize` is `sizeof(PEER_CREDENTIAL_INFO)`, `dwFlags` 0, `pPublicKey` NULL
/// (the key is the subject's own), `pwzFriendlyName` NULL (the subject's) or the name to
/// certify, `cRoles` 0 (the roles held) or the roles, `ftValidityEnd` zero (the issuer's
/// end) or the end; `ftValidityStart` and the issuer fields are ignored (the start is after
/// the credentials held). `dwFlags`: 0 or `PEER_GROUP_STORE_CREDENTIALS`. The invitation that
/// carries the credentials goes to `ppwzInvitation` if it is not NULL (`PeerFreeData`).
///
/// # Safety
/// `pwzSubjectIdentity` NULL or NUL-terminated UTF-16; `pCredentialInfo` NULL or readable,
/// with NULL or NUL-terminated strings and `cRoles` readable GUIDs; `ppwzInvitation` NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupIssueCredentials(
    hGroup: HGROUP,
    pwzSubjectIdentity: PCWSTR,
    pCredentialInfo: *const PEER_CREDENTIAL_INFO,
    dwFlags: DWORD,
    ppwzInvitation: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        if !ppwzInvitation.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { clear_out(ppwzInvitation) }?;
        }
        // SAFETY: per the contract.
        let subject = unsafe { wide::required(pwzSubjectIdentity, MAX_XML_UNITS) }?;
        if dwFlags & !PEER_GROUP_STORE_CREDENTIALS != 0 {
            return Err(E_INVALIDARG);
        }
        let mut request =
            CredentialRequest { store: dwFlags & PEER_GROUP_STORE_CREDENTIALS != 0, ..Default::default() };
        if !pCredentialInfo.is_null() {
            // SAFETY: non-NULL and readable per the contract.
            let info = unsafe { pCredentialInfo.read_unaligned() };
            if info.dwSize as usize != size_of::<PEER_CREDENTIAL_INFO>()
                || info.dwFlags != 0
                || !info.pPublicKey.is_null()
            {
                return Err(E_INVALIDARG);
            }
            // SAFETY: NULL or NUL-terminated per the contract.
            request.friendly_name = unsafe { wide::optional(info.pwzFriendlyName, MAX_STRING_UNITS) }?;
            // SAFETY: `cRoles` readable GUIDs per the contract.
            request.roles = unsafe { read_roles(info.cRoles, info.pRoles) }?;
            let end = info.ftValidityEnd;
            if end.dwLowDateTime != 0 || end.dwHighDateTime != 0 {
                request.expiration = Some(convert::system_time(end));
            }
        }
        let group = session::group(hGroup)?;
        let text = if subject.trim_start().starts_with('<') {
            let info = IdentityInfo::from_xml(&subject).or_hr()?;
            group.issue_credentials(CredentialSubject::Identity(&info), &request)
        } else {
            let name = PeerName::parse(&subject).map_err(|_| E_INVALIDARG)?;
            group.issue_credentials(CredentialSubject::Member(&name), &request)
        }
        .or_hr()?;
        if !ppwzInvitation.is_null() {
            // SAFETY: non-NULL and writable per the contract.
            unsafe { put(ppwzInvitation, wide::hand_out(&text)) }?;
        }
        ok()
    })
}
