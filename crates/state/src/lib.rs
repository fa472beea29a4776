//! Group state for peergroup: the per-identity, per-group database that several processes
//! open at once (properties, membership certificates, members, records, change feed), and the
//! files of group security ([`MembershipStore`]: each identity's memberships and the owner's
//! group key). The rules themselves (certificates, chains, invitations, properties, policy,
//! trust path) are the pure crate `peergroup-security`, which this one applies.
//!
//! Storage is one SQLite database per (identity, group) inside the keystore root, in WAL
//! mode, opened directly by every process that uses the group (see `docs/storage.md`).
//!
//! - [`MembershipStore`]: create, join, invite, export and import a membership
//!   (`PeerGroupCreate`, `PeerGroupJoin`, `PeerGroupCreateInvitation`,
//!   `PeerGroupExportConfig`, `PeerGroupImportConfig`), with its files.
//! - [`GroupStore`]: the groups of one identity: [`GroupStore::list`] (`PeerEnumGroups`),
//!   [`GroupStore::create`] (with an `init` step that runs before the group becomes visible),
//!   [`GroupStore::open`], [`GroupStore::delete`].
//! - [`GroupDb`]: one handle (its own connection): properties, members, blobs for the
//!   security layer, records ([`GroupDb::add_record`], [`GroupDb::update_record`],
//!   [`GroupDb::delete_record`], [`GroupDb::record`], [`GroupDb::records`],
//!   [`GroupDb::search`]), records and members from outside ([`GroupDb::apply_record`],
//!   [`GroupDb::import`], through the trust path of `peergroup_security::trust`), export,
//!   and the change feed ([`GroupDb::changes_since`], [`GroupDb::watch`] → [`Watcher`]).
//! - [`Record`] with its canonical signed encoding, [`Attributes`] with the Windows XML form,
//!   [`SearchQuery`] for `peersearch` queries.
//!
//! ```
//! use peergroup_identity::{Keystore, PeerName};
//! use peergroup_state::{Attribute, Attributes, Change, GroupProperties, GroupStore, NewRecord, Timestamp};
//! use std::time::Duration;
//!
//! let home = tempfile::tempdir()?;
//! let keystore = Keystore::open(home.path().join("peergroup"))?;
//! let alice = keystore.create_with_key("alice", None, &peergroup_identity::testing::key(0))?;
//! let store = GroupStore::new(&keystore, alice.peer_name())?;
//!
//! // The security layer derives the group peer name from the group root key; any secure
//! // name works for the store.
//! let group: PeerName = format!("{}.chat", "ab".repeat(20)).parse()?;
//! let db = store.create(&GroupProperties::new(group.clone(), alice.peer_name().clone(), "Chat"), |_| Ok(()))?;
//! let other_handle = store.open(&group)?;
//! let mut watcher = other_handle.watch()?;
//!
//! let record = db.add_record(&alice, NewRecord {
//!     record_type: uuid::Uuid::from_u128(1),
//!     attributes: Attributes::new(vec![Attribute::string("topic", "rust")])?,
//!     expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
//!     data: b"hello".to_vec(),
//! })?;
//! let found = other_handle.search(
//!     r#"<peersearch><clause attrib="topic" type="string">r*</clause></peersearch>"#)?;
//! assert_eq!(found, vec![record.clone()]);
//! let event = watcher.recv_timeout(Duration::from_secs(5))?.expect("a change");
//! assert_eq!(event.change, Change::RecordAdded { id: record.id, record_type: record.record_type });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod attributes;
mod changes;
mod credentials;
mod db;
mod error;
mod export;
mod membership;
mod password;
mod properties;
mod record;
mod replication;
mod schema;
mod search;
mod signed_properties;
mod sqlite;
mod store;
mod time;
mod xml;

pub use attributes::{
    Attribute, AttributeType, AttributeValue, Attributes, MAX_ATTRIBUTE_NAME_LEN, MAX_ATTRIBUTE_VALUE_LEN,
    MAX_ATTRIBUTES, RESERVED_ATTRIBUTE_NAMES,
};
pub use changes::{
    Change, ChangeEvent, ChangeThread, DEFAULT_POLL_INTERVAL, FEED_PRUNE_EVERY, FEED_RETAINED, MAX_ORIGIN_LEN, Origin,
    STATUS_WRITES_RETAINED, Watcher,
};
pub use credentials::{CredentialRequest, CredentialSubject};
pub use db::{
    Applied, Applier, CheckedBatch, DirectRequest, GroupDb, INBOX_MAX_BYTES, INBOX_RETAINED, ImportSummary,
    InboxMessage, MAX_APPLY_BATCH, MAX_MAILBOX_BODY,
};
pub use error::{Result, StateError};
pub use membership::{GROUP_KEY_FILE, JoinOutcome, MEMBERSHIP_FILE, MEMBERSHIP_LOCK_FILE, MembershipStore};
pub use password::PASSWORD_KEY_FILE;
/// The group properties this crate stores: the security layer's one model.
pub use peergroup_security::GroupProperties;
pub use properties::{Member, PEER_MEMBER_PRESENT};
pub use record::{
    MAX_ENCODED_RECORD_LEN, MAX_RECORD_DATA_LEN, MAX_SIGNATURE_LEN, NewRecord, RECORD_FLAG_AUTOREFRESH,
    RECORD_FLAG_DELETED, Record, RecordUpdate,
};
pub use replication::{BatchOutcome, MAX_MEMBER_ITEM_LEN, Refusal, SyncEntry, SyncItem, SyncKind};
pub use schema::SCHEMA_VERSION;
pub use search::{ClauseValue, Compare, PatternPart, SearchQuery, indexed_attributes};
pub use signed_properties::{
    MAX_PROPERTIES_ITEM_LEN, SECURITY_PROPERTIES_TYPE, decode_signed_properties, encode_properties_data,
};
pub use sqlite::Durability;
pub use store::{DB_FILE, GROUPS_DIR, GroupStore};
pub use time::Timestamp;
