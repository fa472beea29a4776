//! Group security: group root certificates (GRC), group membership certificates (GMC),
//! chain validation, invitations, joining, and configuration export.
//!
//! - Pure, I/O-free logic: [`NewGroup::create_certificates`] (the certificates of
//!   `PeerGroupCreate`), [`validate_chain`], [`invitation::create`] / [`invitation::parse`] /
//!   [`invitation::accept`] (`PeerGroupCreateInvitation`, `PeerGroupParseInvitation`, the checks
//!   of `PeerGroupJoin`), [`config::export`] / [`config::import`] (`PeerGroupExportConfig`,
//!   `PeerGroupImportConfig`). Every function that depends on the time takes it as an argument.
//! - Persistence: [`MembershipStore`] keeps, per identity and group, the membership and the
//!   owner's group key under the keystore's key-access rules.
//!
//! The certificate profile, the extensions, the roles and the invitation format are described
//! in `docs/security.md`.
//!
//! ```
//! use std::time::SystemTime;
//! use peergroup_identity::{Keystore, testing};
//! use peergroup_state::security::{InvitationRequest, JoinOutcome, MembershipStore, NewGroup, Role};
//!
//! let home = tempfile::tempdir()?;
//! let keystore = Keystore::open(home.path().join("peergroup"))?;
//! let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0))?;
//! let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1))?;
//! let store = MembershipStore::for_keystore(&keystore);
//! let now = SystemTime::now();
//!
//! // Alice creates a group and invites Bob from his public identity info.
//! let db = store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(2), now)?;
//! let group = db.group_peer_name().clone();
//! let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
//! let text = store.create_invitation(&alice, &group, bob.info(), &request, now)?;
//!
//! // Bob joins; his chain (GRC, Alice's GMC, his GMC) validates.
//! let outcome = store.join(&bob, &text, now)?;
//! assert!(matches!(outcome, JoinOutcome::Joined(_)));
//! let membership = outcome.membership();
//! assert_eq!(membership.roles(), &[Role::Member]);
//! assert!(membership.ensure_ready().is_err()); // not synchronised with a member yet
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cert;
mod chain;
pub mod config;
pub mod invitation;
mod membership;
mod properties;
mod role;
mod store;

pub use cert::{
    CLOCK_SKEW_ALLOWANCE, CertKind, GroupCertificate, MAX_ROLES, OID_ARC, OID_CERT_TYPE, OID_GROUP_PEER_NAME,
    OID_ROLES, Subject, from_unix_seconds, issue_gmc, issue_grc, unix_seconds,
};
pub use chain::{ChainFault, MAX_CHAIN_LEN, ValidatedChain, validate_chain};
pub use invitation::{InvitationInfo, InvitationRequest, MAX_INVITATION_LEN};
pub use membership::Membership;
pub use properties::{
    AUTH_GMC, AUTH_PASSWORD, CLOUD_NAME_LOCAL, Cloud, CreatedGroup, DEFAULT_MEMBER_DATA_LIFETIME,
    FLAG_DEFER_EXPIRATION, FLAG_DISABLE_PRESENCE, FLAG_MEMBER_DATA_OPTIONAL, MAX_CLOUD_NAME_LEN, MAX_GROUP_TEXT_UTF16,
    MAX_MEMBER_DATA_LIFETIME, MAX_PRESENCE_LIFETIME, MIN_MEMBER_DATA_LIFETIME, MIN_PRESENCE_LIFETIME, NewGroup,
    SCOPE_GLOBAL, SCOPE_LINK_LOCAL,
};
pub use role::{ROLE_ADMIN_GUID, ROLE_MEMBER_GUID, Role};
pub use store::{GROUP_KEY_FILE, JoinOutcome, MEMBERSHIP_FILE, MembershipStore};
