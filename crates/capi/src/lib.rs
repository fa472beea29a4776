//! peergroup-capi: the C ABI of peergroup, mirroring Windows' `p2p.h`.
//!
//! Code written against Windows Peer-to-Peer Grouping (`PeerGroupOpen` and its family)
//! compiles against `include/p2p.h` and links with `libpeergroup_capi.so` or
//! `libpeergroup_capi.a`: same function names, argument types, structures (field order and
//! sizes), constants and HRESULT values. Strings are UTF-16 (`WCHAR` is 16 bits); handles are
//! opaque values looked up in a registry, never dereferenced; memory handed out is released
//! with `PeerFreeData`. The differences from Windows (event descriptors instead of event
//! handles, no direct connections) are listed in `docs/capi.md`.
//!
//! The functions are ordinary `extern "C"` functions, callable from Rust too:
//!
//! ```
//! use peergroup_capi::*;
//! use peergroup::hresult::{S_OK, PEER_E_NOT_INITIALIZED, E_INVALIDARG};
//!
//! fn wide(s: &str) -> Vec<u16> { s.encode_utf16().chain([0]).collect() }
//!
//! let home = tempfile::tempdir()?;
//! // SAFETY: no other thread of this example reads the environment.
//! unsafe { std::env::set_var("PEERGROUP_HOME", home.path().join("pg")) };
//! let mut group: HGROUP = std::ptr::null_mut();
//! let (id, name) = (wide("alice"), wide("chat"));
//! unsafe {
//!     assert_eq!(PeerGroupOpen(id.as_ptr(), name.as_ptr(), std::ptr::null(), &mut group), PEER_E_NOT_INITIALIZED.0);
//!     let mut version = PEER_VERSION_DATA::default();
//!     assert_eq!(PeerGroupStartup(PEER_GROUP_VERSION, &mut version), S_OK.0);
//!     assert_eq!(version.wVersion, PEER_GROUP_VERSION);
//!     // A name that is not a peer name is an invalid argument.
//!     assert_eq!(PeerGroupOpen(id.as_ptr(), name.as_ptr(), std::ptr::null(), &mut group), E_INVALIDARG.0);
//!     assert!(group.is_null());
//!     assert_eq!(PeerGroupShutdown(), S_OK.0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod address;
mod alloc;
mod api;
mod convert;
mod enumeration;
mod events;
mod guard;
mod session;
mod types;
mod wide;

pub use api::common::*;
pub use api::connect::*;
pub use api::credentials::*;
pub use api::events::*;
pub use api::group::*;
pub use api::identity::*;
pub use api::pnrp::*;
pub use api::records::*;
pub use events::{MAX_QUEUED_EVENTS, MAX_REGISTRATIONS};
pub use types::*;
pub use wide::{MAX_STRING_UNITS, MAX_XML_UNITS};

/// How many allocations handed out are not freed yet (for leak tests).
#[doc(hidden)]
pub fn outstanding_allocations() -> usize {
    alloc::outstanding()
}
