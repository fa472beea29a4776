//! Identity Manager functions.

use peergroup::PeerName;
use peergroup::hresult::{E_HANDLE, E_INVALIDARG, PEER_E_GROUPS_EXIST};

use super::{identity_or_default, not_found, start_enumeration};
use crate::enumeration::Item;
use crate::guard::{CResult, OrHresult, call, clear_out, ok, put};
use crate::session;
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS, MAX_XML_UNITS};

/// The classifier of an identity made without one (Windows' names end in an empty
/// classifier, which peer names here cannot).
pub const DEFAULT_IDENTITY_CLASSIFIER: &str = "identity";

fn parse(name: &str) -> CResult<PeerName> {
    PeerName::parse(name).map_err(|_| E_INVALIDARG)
}

/// Creates an identity: a new RSA-2048 key and certificate, stored in the keystore
/// (`PeerIdentityCreate`). A NULL classifier is `identity`; `hCryptProv` must be 0.
///
/// # Safety
/// String arguments are NULL or NUL-terminated UTF-16; `ppwzIdentity` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityCreate(
    pwzClassifier: PCWSTR,
    pwzFriendlyName: PCWSTR,
    hCryptProv: HCRYPTPROV,
    ppwzIdentity: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzIdentity) }?;
        // SAFETY: per the contract.
        let classifier = unsafe { wide::optional_nonempty(pwzClassifier, MAX_STRING_UNITS) }?;
        // SAFETY: per the contract.
        let friendly = unsafe { wide::optional_nonempty(pwzFriendlyName, MAX_STRING_UNITS) }?;
        if hCryptProv != 0 {
            return Err(E_HANDLE);
        }
        let context = session::context()?;
        let classifier = classifier.as_deref().unwrap_or(DEFAULT_IDENTITY_CLASSIFIER);
        let identity = context.keystore().create(classifier, friendly.as_deref()).or_hr()?;
        // SAFETY: per the contract.
        unsafe { put(ppwzIdentity, wide::hand_out(&identity.peer_name().to_string())) }?;
        ok()
    })
}

/// Enumerates the identities as `PEER_NAME_PAIR` items (`PeerEnumIdentities`).
///
/// # Safety
/// `phPeerEnum` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerEnumIdentities(phPeerEnum: *mut HPEERENUM) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        let context = session::context()?;
        let items = context
            .keystore()
            .list()
            .or_hr()?
            .into_iter()
            .map(|i| Item::NamePair { name: i.peer_name().to_string(), friendly: i.friendly_name().to_owned() })
            .collect();
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(items, phPeerEnum) }?;
        ok()
    })
}

/// Deletes an identity (`PeerIdentityDelete`): `PEER_E_GROUPS_EXIST` while it has groups.
///
/// # Safety
/// `pwzIdentity` is NULL or NUL-terminated UTF-16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityDelete(pwzIdentity: PCWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let name = unsafe { wide::required(pwzIdentity, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let peer_name = parse(&name)?;
        if !context.groups(&name).or_hr().map_err(not_found)?.is_empty() {
            return Err(PEER_E_GROUPS_EXIST);
        }
        context.keystore().delete(&peer_name).or_hr().map_err(not_found)?;
        ok()
    })
}

/// The friendly name of an identity, NULL meaning the default one
/// (`PeerIdentityGetFriendlyName`).
///
/// # Safety
/// `pwzIdentity` is NULL or NUL-terminated UTF-16; `ppwzFriendlyName` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityGetFriendlyName(pwzIdentity: PCWSTR, ppwzFriendlyName: *mut PWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzFriendlyName) }?;
        // SAFETY: per the contract.
        let name = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let name = identity_or_default(&context, name)?;
        let identity = context.identity(&name).or_hr().map_err(not_found)?;
        // SAFETY: per the contract.
        unsafe { put(ppwzFriendlyName, wide::hand_out(identity.friendly_name())) }?;
        ok()
    })
}

/// Changes the friendly name of an identity (NULL: the default one); a NULL or empty name
/// resets it to the peer name (`PeerIdentitySetFriendlyName`).
///
/// # Safety
/// Both strings are NULL or NUL-terminated UTF-16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentitySetFriendlyName(pwzIdentity: PCWSTR, pwzFriendlyName: PCWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let name = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        // SAFETY: per the contract.
        let friendly = unsafe { wide::optional_nonempty(pwzFriendlyName, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let name = identity_or_default(&context, name)?;
        let peer_name = parse(&name)?;
        let friendly = friendly.unwrap_or_else(|| name.clone());
        context.keystore().set_friendly_name(&peer_name, &friendly).or_hr().map_err(not_found)?;
        ok()
    })
}

/// The public identity information XML (`PEERIDENTITYINFO`) to send to an inviter
/// (`PeerIdentityGetXML`). NULL means the default identity, created when there is none.
///
/// # Safety
/// `pwzIdentity` is NULL or NUL-terminated UTF-16; `ppwzIdentityXML` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityGetXML(pwzIdentity: PCWSTR, ppwzIdentityXML: *mut PWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzIdentityXML) }?;
        // SAFETY: per the contract.
        let name = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let name = match name {
            Some(name) => name,
            None => default_identity(&context)?,
        };
        let identity = context.identity(&name).or_hr().map_err(not_found)?;
        // SAFETY: per the contract.
        unsafe { put(ppwzIdentityXML, wide::hand_out(&identity.info().to_xml())) }?;
        ok()
    })
}

/// The default identity, made (classifier `default`) when there is none.
fn default_identity(context: &peergroup::Context) -> CResult<String> {
    let keystore = context.keystore();
    if let Some(name) = keystore.default_identity().or_hr()? {
        return Ok(name.to_string());
    }
    let identity = keystore.create("default", None).or_hr()?;
    keystore.set_default_identity(identity.peer_name()).or_hr()?;
    Ok(identity.peer_name().to_string())
}

/// The default identity's peer name (`PeerIdentityGetDefault`), made when there is none.
///
/// # Safety
/// `ppwzPeerName` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityGetDefault(ppwzPeerName: *mut PWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzPeerName) }?;
        let context = session::context()?;
        let name = default_identity(&context)?;
        // SAFETY: per the contract.
        unsafe { put(ppwzPeerName, wide::hand_out(&name)) }?;
        ok()
    })
}

/// Exports an identity with its private key, encrypted with `pwzPassword`
/// (`PeerIdentityExport`). NULL identity means the default one.
///
/// # Safety
/// Strings are NULL or NUL-terminated UTF-16; `ppwzExportXML` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityExport(
    pwzIdentity: PCWSTR,
    pwzPassword: PCWSTR,
    ppwzExportXML: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzExportXML) }?;
        // SAFETY: per the contract.
        let name = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        // SAFETY: per the contract.
        let password = unsafe { wide::required(pwzPassword, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let name = identity_or_default(&context, name)?;
        let text = context.keystore().export(&parse(&name)?, &password).or_hr().map_err(not_found)?;
        // SAFETY: per the contract.
        unsafe { put(ppwzExportXML, wide::hand_out(&text)) }?;
        ok()
    })
}

/// Imports an identity exported by `PeerIdentityExport` (`PeerIdentityImport`).
///
/// # Safety
/// Strings are NULL or NUL-terminated UTF-16; `ppwzIdentity` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerIdentityImport(
    pwzImportXML: PCWSTR,
    pwzPassword: PCWSTR,
    ppwzIdentity: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzIdentity) }?;
        // SAFETY: per the contract.
        let text = unsafe { wide::required(pwzImportXML, MAX_XML_UNITS) }?;
        // SAFETY: per the contract.
        let password = unsafe { wide::required(pwzPassword, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let identity = context.keystore().import(&text, &password).or_hr()?;
        // SAFETY: per the contract.
        unsafe { put(ppwzIdentity, wide::hand_out(&identity.peer_name().to_string())) }?;
        ok()
    })
}

/// A peer name from an identity's authority and a classifier (`PeerCreatePeerName`): NULL
/// identity gives the unsecured `0.<classifier>`, NULL classifier the identity's own name.
///
/// # Safety
/// Strings are NULL or NUL-terminated UTF-16; `ppwzPeerName` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerCreatePeerName(
    pwzIdentity: PCWSTR,
    pwzClassifier: PCWSTR,
    ppwzPeerName: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzPeerName) }?;
        // SAFETY: per the contract.
        let name = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        // SAFETY: per the contract.
        let classifier = unsafe { wide::optional_nonempty(pwzClassifier, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let made = match (name, classifier) {
            (None, None) => return Err(E_INVALIDARG),
            (None, Some(c)) => PeerName::unsecured(&c).map_err(|_| E_INVALIDARG)?,
            (Some(n), c) => {
                let identity = context.identity(&n).or_hr().map_err(not_found)?;
                match c {
                    None => identity.peer_name().clone(),
                    Some(c) => {
                        let authority = identity.peer_name().authority().to_hex();
                        parse(&format!("{authority}.{c}"))?
                    }
                }
            }
        };
        // SAFETY: per the contract.
        unsafe { put(ppwzPeerName, wide::hand_out(&made.to_string())) }?;
        ok()
    })
}
