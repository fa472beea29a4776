//! peergroup: named, secure peer groups whose members hold certificates, share a record
//! store, work offline, and are opened by several applications at once: Windows Peer-to-Peer
//! Grouping (`p2p.h`, `PeerGroupOpen` and its family) for every platform.
//!
//! A [`Context`] is bound to one keystore root. Through it: identities
//! ([`Context::keystore`]), groups ([`Context::create_group`], [`Context::invite`],
//! [`Context::join`], [`Context::delete_group`]) and [`Context::open_group`], which returns a
//! [`Group`] handle: properties, status, members, records, and [`Group::events`].
//!
//! ```
//! use peergroup::{Context, EventType, Event, NewGroup, NewRecord, Attributes, Timestamp};
//! use std::time::Duration;
//!
//! let home = tempfile::tempdir()?;
//! let ctx = Context::open(home.path().join("peergroup"))?;
//! let alice = ctx.keystore().create_with_key("alice", Some("Alice"), &peergroup::testing_key(0))?;
//! let alice = alice.peer_name().to_string();
//!
//! let group = ctx.create_group(&alice, &NewGroup::new("chat", "Chat"))?.to_string();
//! // Two applications open the same group; the second hears of the first one's record.
//! let first = ctx.open_group_blocking(&alice, &group, None)?;
//! let second = ctx.open_group_blocking(&alice, &group, None)?;
//! let mut events = second.events(&[EventType::RecordChanged])?;
//! let record = first.add_record(NewRecord {
//!     record_type: uuid::Uuid::from_u128(7),
//!     attributes: Attributes::empty(),
//!     expires: Timestamp::now().saturating_add(Duration::from_secs(60)),
//!     data: b"hello".to_vec(),
//! })?;
//! match events.recv_timeout(Duration::from_secs(5))? {
//!     Some(Event::RecordChanged { id, .. }) => assert_eq!(id, record.id),
//!     other => panic!("{other:?}"),
//! }
//! assert!(!second.status()?.is_connected()); // offline until some process connects it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod context;
mod direct;
mod error;
mod events;
mod fanout;
mod group;
pub mod hresult;
mod net_config;
mod online;
mod password;
mod pnrp;
mod status;
#[doc(hidden)]
pub mod testing;
mod wake;

pub use context::{Context, Joined, SharedInterfaces};
pub use direct::{DIRECT_ID_BASE, MAX_DATA_LEN};
pub use error::{Error, Result};
pub use events::{
    ConnectionStatus, Event, EventFilter, EventNotify, EventStream, EventType, MAX_QUEUED_EVENTS, RecordChange,
};
pub use group::{Group, MAX_CONNECT_ADDRESSES, MAX_OPEN_GROUPS, PEER_MEMBER_PRESENT, open_group_limit};
pub use hresult::Hresult;
pub use net_config::NetConfig;
pub use online::{CONNECT_TIMEOUT, INTENT_BLOB, STANDBY_POLL};
pub use password::PASSWORD_JOIN_RESOLVE;
pub use pnrp::{CertificateProofs, KeystoreProofs};
pub use status::{
    Connection, DirectFailure, Failure, GroupStatus, NetView, PEER_CONNECTION_DIRECT, PEER_CONNECTION_NEIGHBOR,
    PEER_GROUP_STATUS_HAS_CONNECTIONS, PEER_GROUP_STATUS_LISTENING, PRESENCE_LOCK,
};
pub use wake::FALLBACK_POLL as EVENT_FALLBACK_POLL;

// The types the API above takes and returns, each by name: the layers' crates are not
// re-exported whole, so the command line and the C ABI depend on this API only.
pub use peergroup_identity::{Identity, IdentityError, IdentityInfo, KeyAccessReason, Keystore, PeerName};
pub use peergroup_pnrp::{
    Cloud, CloudMedia, CloudState, DhtMedium, DhtNode, DnsConfig, DnsMedium, EndpointInfo, GlobalConfig, Interface,
    InterfaceSource, KeyAlgorithm, MdnsMedium, Medium, PnrpError, Registration, Scope, SystemInterfaces, UpdateAnswer,
    UpdateKey, WatchedInterfaces, validate_peer_name,
};
pub use peergroup_security::password::GroupPassword;
pub use peergroup_security::{
    GLOBAL_CLOUD, GroupProperties, InvitationInfo, InvitationRequest, Membership, NewGroup, Role, SecurityError,
};
pub use peergroup_state::{
    Attribute, AttributeValue, Attributes, CredentialRequest, CredentialSubject, Durability, ImportSummary,
    MAX_RECORD_DATA_LEN, Member, NewRecord, Record, RecordUpdate, StateError, Timestamp,
};

#[doc(hidden)]
pub use testing::key as testing_key;
