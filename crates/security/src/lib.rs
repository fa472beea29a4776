//! Group security for peergroup, pure and I/O-free: group root certificates (GRC) and group
//! membership certificates (GMC), chain validation, roles, invitations, configuration export,
//! the one model of group properties, the authorization policy and the one trust path.
//!
//! Every function takes bytes and, when it depends on the time, the time; it returns values.
//! Files and databases are the state layer's (`peergroup-state`), which depends on this crate;
//! the replication protocol to come applies the same rules through [`trust`] without SQLite.
//!
//! - [`NewGroup::create_certificates`] (the certificates of `PeerGroupCreate`),
//!   [`validate_chain`], [`invitation::create`] / [`invitation::parse`] /
//!   [`invitation::accept`] (`PeerGroupCreateInvitation`, `PeerGroupParseInvitation`, the
//!   checks of `PeerGroupJoin`), [`config::export`] / [`config::import`]
//!   (`PeerGroupExportConfig`, `PeerGroupImportConfig`).
//! - [`GroupProperties`] and [`NewGroup`]: one model, one validation, limits declared once.
//! - [`policy`]: who may add, update, delete a record, set the properties, issue a role.
//! - [`trust`]: [`trust::accept_member`], [`trust::accept_record`] and
//!   [`trust::accept_properties`], for everything that comes from outside.
//!
//! The certificate profile, the extensions, the roles and the invitation format are described
//! in `docs/security.md`.
//!
//! ```
//! use std::time::SystemTime;
//! use peergroup_identity::{Keystore, testing};
//! use peergroup_security::{InvitationRequest, Membership, NewGroup, Role, invitation, trust};
//!
//! let home = tempfile::tempdir()?;
//! let keystore = Keystore::open(home.path().join("peergroup"))?;
//! let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0))?;
//! let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1))?;
//! let now = SystemTime::now();
//!
//! // Alice creates a group: its name, key, root certificate and her administrator certificate.
//! let created = NewGroup::new("chat", "Chat").create_certificates(alice.info(), testing::key(2), now)?;
//! let membership = Membership {
//!     identity: alice.peer_name().clone(),
//!     group_friendly_name: "Chat".into(),
//!     cloud: "Global_".into(),
//!     chain: created.chain,
//!     synchronized: true,
//! };
//! // She invites Bob as a member; Bob's side checks the invitation.
//! let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
//! let text = invitation::create(&membership, alice.signing_key()?, bob.info(), &request, now)?;
//! let info = invitation::accept(&text, bob.info(), now)?;
//! assert_eq!(info.roles, [Role::Member]);
//!
//! // Anyone else receiving Bob's chain accepts him through the trust path.
//! let bob_member = trust::accept_member(&created.group, bob.peer_name(), &info.chain.to_der(), now)?;
//! assert_eq!(bob_member.roles(), [Role::Member]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cert;
mod chain;
pub mod config;
mod error;
pub mod invitation;
mod membership;
pub mod password;
pub mod password_invitation;
pub mod policy;
mod properties;
mod role;
pub mod trust;
pub mod version;

pub use cert::{
    CLOCK_SKEW_ALLOWANCE, CertKind, GroupCertificate, MAX_ROLES, OID_ARC, OID_CERT_TYPE, OID_GROUP_PEER_NAME,
    OID_ROLES, Subject, from_unix_seconds, issue_gmc, issue_grc, unix_seconds,
};
pub use chain::{ChainFault, MAX_CHAIN_LEN, ValidatedChain, validate_chain};
pub use error::{Result, SecurityError};
pub use invitation::{InvitationInfo, InvitationRequest, MAX_INVITATION_LEN};
pub use membership::Membership;
pub use properties::{
    CreatedGroup, DEFAULT_MEMBER_DATA_LIFETIME, DEFAULT_PRESENCE_LIFETIME, GLOBAL_CLOUD, GroupProperties,
    MAX_CLOUD_NAME_UTF16, MAX_GROUP_TEXT_UTF16, MAX_MEMBER_DATA_LIFETIME, MAX_PRESENCE_LIFETIME,
    MIN_MEMBER_DATA_LIFETIME, MIN_PRESENCE_LIFETIME, NewGroup, PEER_DEFER_EXPIRATION, PEER_DISABLE_PRESENCE,
    PEER_GROUP_GMC_AUTHENTICATION, PEER_GROUP_PASSWORD_AUTHENTICATION, PEER_MEMBER_DATA_OPTIONAL, validate_cloud_name,
};
pub use role::{ROLE_ADMIN_GUID, ROLE_MEMBER_GUID, Role};
pub use version::{VersionStamp, body_digest};
