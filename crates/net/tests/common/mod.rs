//! What the member-link tests share: homes with identities made from the shared test keys,
//! and groups created, invited to and joined through the state layer.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Each test file uses a part.

use std::time::{Duration, SystemTime};

use peergroup_identity::testing::key;
use peergroup_identity::{Identity, Keystore, PeerName};
use peergroup_net::MemberEndpoint;
use peergroup_security::{InvitationRequest, Membership, NewGroup, Role};
use peergroup_state::{GroupDb, JoinOutcome, MembershipStore};

pub const LOOPBACK: &str = "127.0.0.1:0";
pub const DAY: Duration = Duration::from_secs(86_400);

/// A home with an identity made from a shared test key.
pub struct Home {
    _dir: tempfile::TempDir,
    pub identity: Identity,
    pub store: MembershipStore,
}

pub fn home(classifier: &str, key_index: usize) -> Home {
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path().join("home")).unwrap();
    let identity = keystore.create_with_key(classifier, None, &key(key_index)).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    Home { _dir: dir, identity, store }
}

impl Home {
    pub fn create_group(&self, classifier: &str, group_key: usize) -> Membership {
        self.create_group_at(classifier, group_key, SystemTime::now())
    }

    pub fn create_group_at(&self, classifier: &str, group_key: usize, at: SystemTime) -> Membership {
        let db = self
            .store
            .create_group_with_key(&self.identity, &NewGroup::new(classifier, ""), key(group_key), at)
            .unwrap();
        self.store.get(self.identity.peer_name(), db.group_peer_name()).unwrap()
    }

    /// Invites `other` (an administrator of the group invites), at `now`, until `expiration`.
    pub fn invite(&self, group: &PeerName, other: &Home, now: SystemTime, expiration: Option<SystemTime>) -> String {
        let request = InvitationRequest { roles: vec![Role::Member], expiration };
        self.store.create_invitation(&self.identity, group, other.identity.info(), &request, now).unwrap()
    }

    pub fn join(&self, invitation: &str, now: SystemTime) -> Membership {
        match self.store.join(&self.identity, invitation, now).unwrap() {
            JoinOutcome::Joined(m) | JoinOutcome::AlreadyMember(m) => m,
        }
    }

    pub fn endpoint(&self, membership: Membership) -> MemberEndpoint {
        MemberEndpoint::bind(LOOPBACK.parse().unwrap(), &self.identity, membership).unwrap()
    }
}

/// Alice created a group; Bob joined it.
pub fn alice_and_bob() -> (Home, Membership, Home, Membership) {
    let alice = home("alice", 0);
    let group = alice.create_group("chat", 1);
    let bob = home("bob", 2);
    let invitation = alice.invite(group.group(), &bob, SystemTime::now(), None);
    let bob_membership = bob.join(&invitation, SystemTime::now());
    (alice, group, bob, bob_membership)
}

impl Home {
    /// A handle of this identity's database of `group`.
    pub fn db(&self, group: &PeerName) -> GroupDb {
        self.store.groups(self.identity.peer_name()).unwrap().open(group).unwrap()
    }
}

/// A record of the tests' type, alive for a day.
pub fn record(n: usize) -> peergroup_state::NewRecord {
    peergroup_state::NewRecord {
        record_type: uuid::Uuid::from_u128(0x5eed),
        attributes: peergroup_state::Attributes::empty(),
        expires: peergroup_state::Timestamp::now().saturating_add(DAY),
        data: format!("record {n}").into_bytes(),
    }
}

/// How long a test waits for an event or a piece of data.
pub const WAIT: Duration = Duration::from_secs(10);

/// A presence of `home` listening on loopback.
pub fn presence(home: &Home, membership: Membership) -> peergroup_net::Presence {
    peergroup_net::Presence::start(peergroup_net::PresenceConfig {
        listen: LOOPBACK.parse().unwrap(),
        identity: home.identity.clone(),
        membership,
        store: home.store.clone(),
    })
    .unwrap()
}

/// The next event that `want` picks, within [`WAIT`].
pub async fn next<T>(
    events: &mut tokio::sync::broadcast::Receiver<peergroup_net::PresenceEvent>,
    mut want: impl FnMut(&peergroup_net::PresenceEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv()).await.expect("no such event in time").unwrap();
        if let Some(found) = want(&event) {
            return found;
        }
    }
}
