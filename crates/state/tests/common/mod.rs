//! Shared setup for the storage tests: a keystore with identities made from cached test keys,
//! and a group database of the first identity.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use peergroup_identity::{Identity, Keystore, PeerName};
use peergroup_state::{Attributes, GroupDb, GroupProperties, GroupStore, Member, NewRecord, Timestamp};
use uuid::Uuid;

pub const TYPE_A: Uuid = Uuid::from_u128(0xa);
pub const TYPE_B: Uuid = Uuid::from_u128(0xb);

pub struct Setup {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub keystore: Keystore,
    pub alice: Identity,
    pub store: GroupStore,
    pub group: PeerName,
}

pub fn group_name() -> PeerName {
    PeerName::parse(&format!("{}.testgroup", "ab".repeat(20))).unwrap()
}

pub fn member_of(identity: &Identity) -> Member {
    Member {
        peer_name: identity.peer_name().clone(),
        friendly_name: identity.friendly_name().to_owned(),
        public_key: identity.public_key_der().to_vec(),
        certificate: b"gmc".to_vec(),
        roles: vec![peergroup_security::ROLE_ADMIN_GUID],
        flags: 0,
    }
}

/// A keystore with alice (test key 0) and her group with herself as member.
pub fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("home");
    let keystore = Keystore::open(&root).unwrap();
    let alice = keystore.create_with_key("alice", Some("Alice"), &peergroup_identity::testing::key(0)).unwrap();
    let store = GroupStore::new(&keystore, alice.peer_name()).unwrap();
    let group = group_name();
    let props = GroupProperties::new(group.clone(), alice.peer_name().clone(), "Test group");
    let member = member_of(&alice);
    store.create(&props, |db| db.put_member(&member)).unwrap();
    Setup { tmp, root, keystore, alice, store, group }
}

/// Reopens the setup's identity and store from a root path (for child processes).
pub fn reopen(root: &Path) -> (Identity, GroupStore) {
    let keystore = Keystore::open(root).unwrap();
    let names = keystore.list().unwrap();
    let alice = keystore.get(names[0].peer_name()).unwrap();
    let store = GroupStore::new(&keystore, alice.peer_name()).unwrap();
    (alice, store)
}

pub fn in_an_hour() -> Timestamp {
    Timestamp::now().saturating_add(Duration::from_secs(3600))
}

pub fn new_record(t: Uuid, attributes: Attributes, data: &[u8]) -> NewRecord {
    NewRecord { record_type: t, attributes, expires: in_an_hour(), data: data.to_vec() }
}

pub fn integrity_ok(db: &GroupDb) {
    db.integrity_check().unwrap();
}
