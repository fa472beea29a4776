//! Peer identities for peergroup: RSA key pairs, self-signed identity certificates, secure
//! peer names, and the per-user keystore that holds them.
//!
//! This is the base layer of peergroup: the cloud layer (`peergroup-pnrp`) and the group
//! layer (`peergroup-state`) build on it, and it depends on no other crate of the project.
//!
//! ```
//! use peergroup_identity::{Keystore, PeerName};
//!
//! let home = tempfile::tempdir()?;
//! let store = Keystore::open(home.path().join("peergroup"))?;
//! let alice = store.create("alice", Some("Alice"))?;
//! assert!(alice.peer_name().is_secure());
//! assert_eq!(alice.peer_name().classifier(), "alice");
//!
//! // What `PeerGroupOpen` does first: look the identity up by name, checking key access.
//! let name: PeerName = alice.peer_name().to_string().parse()?;
//! let again = store.get(&name)?;
//! let signature = again.sign(b"hello")?;
//! alice.info().verify(b"hello", &signature)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The private key is decoded on first use: [`Keystore::get`] checks the key file's access
//! rules and verifies the certificate, which is all that opening a group needs.

mod error;
mod export;
mod identity;
mod info_xml;
mod keystore;
mod peer_name;
pub mod provider;
pub mod secure_fs;
#[doc(hidden)]
pub mod testing;
mod verified;
pub mod x509;

pub use error::{IdentityError, KeyAccessReason, Result};
pub use export::{
    MAX_EXPORT_LEN, MAX_KDF_MEMORY, MAX_PBKDF2_ITERATIONS, MAX_SCRYPT_PARALLELISM, MIN_PASSWORD_LEN, check_kdf_cost,
};
pub use identity::{
    Identity, IdentityInfo, MAX_FRIENDLY_NAME_UTF16, MAX_IDENTITY_INFO_LEN, load_signing_key, validate_friendly_name,
};
pub use keystore::{Keystore, ROOT_ENV};
pub use peer_name::{Authority, MAX_CLASSIFIER_UTF16, MAX_PEER_NAME_LEN, PeerName, validate_classifier};
pub use provider::{CryptoProvider, SigningKey, VerifyingKey, default_provider};
