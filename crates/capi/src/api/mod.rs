//! The exported functions, grouped as in `p2p.h`.

#![allow(non_snake_case)]

pub mod common;
pub mod connect;
pub mod credentials;
pub mod events;
pub mod group;
pub mod identity;
pub mod pnrp;
pub mod records;

use peergroup::Context;
use peergroup::Hresult;
use peergroup::hresult::{PEER_E_IDENTITY_NOT_FOUND, PEER_E_NOT_FOUND};

use crate::enumeration::{Enumeration, Item};
use crate::guard::{CResult, OrHresult, put};
use crate::session::{self, Object};
use crate::types::HPEERENUM;

/// The identity named, or the default identity when none is (`PEER_E_NOT_FOUND` without one).
pub(crate) fn identity_or_default(context: &Context, name: Option<String>) -> CResult<String> {
    match name {
        Some(name) => Ok(name),
        None => context.keystore().default_identity().or_hr()?.map(|n| n.to_string()).ok_or(PEER_E_NOT_FOUND),
    }
}

/// The Identity Manager functions report an unknown identity as `PEER_E_NOT_FOUND`.
pub(crate) fn not_found(hr: Hresult) -> Hresult {
    if hr == PEER_E_IDENTITY_NOT_FOUND { PEER_E_NOT_FOUND } else { hr }
}

/// Registers an enumeration of `items` and writes its handle to `out`.
///
/// # Safety
/// `out` is valid for writing a handle (checked non-NULL by the caller).
pub(crate) unsafe fn start_enumeration(items: Vec<Item>, out: *mut HPEERENUM) -> CResult<()> {
    let handle = session::insert(Object::Enum(std::sync::Arc::new(std::sync::Mutex::new(Enumeration::new(items)))))?;
    // SAFETY: forwarded contract.
    unsafe { put(out, handle) }
}
