//! `PeerGroupOpen`, step by step as `docs/open.md` lists them: each outcome, with its HRESULT.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use peergroup::DnsConfig;
use peergroup::hresult::{self, Hresult};
use peergroup::testing::host_with_link_locals;
use peergroup::{
    Attributes, Context, Event, EventType, GroupStatus, InvitationRequest, NewGroup, NewRecord, Role, Timestamp,
    testing_key,
};

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    ctx: Context,
    alice: String,
    bob: String,
    group: String,
}

impl World {
    /// Alice created group `chat` in `cloud`, on a host with `link_locals` link-local interfaces.
    fn new(link_locals: usize, cloud: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("home");
        let ctx = Self::context_at(&root, link_locals);
        let alice = ctx.keystore().create_with_key("alice", Some("Alice"), &testing_key(0)).unwrap();
        let bob = ctx.keystore().create_with_key("bob", Some("Bob"), &testing_key(1)).unwrap();
        let mut new = NewGroup::new("chat", "Chat");
        new.cloud = cloud.map(str::to_owned);
        let group = ctx.create_group(&alice.peer_name().to_string(), &new).unwrap().to_string();
        Self { _tmp: tmp, root, ctx, alice: alice.peer_name().to_string(), bob: bob.peer_name().to_string(), group }
    }

    fn context_at(root: &std::path::Path, link_locals: usize) -> Context {
        let keystore = peergroup::Keystore::open(root).unwrap();
        Context::with_parts(keystore, DnsConfig::default(), Arc::new(host_with_link_locals(link_locals)))
    }

    /// The same keystore seen from a host with another number of link-local interfaces.
    fn on_host(&self, link_locals: usize) -> Context {
        Self::context_at(&self.root, link_locals)
    }

    fn open(&self, identity: &str, group: &str, cloud: Option<&str>) -> Result<peergroup::Group, peergroup::Error> {
        self.ctx.open_group_blocking(identity, group, cloud)
    }
}

#[track_caller]
fn assert_hr<T: std::fmt::Debug>(result: Result<T, peergroup::Error>, want: Hresult) -> peergroup::Error {
    match result {
        Err(e) => {
            assert_eq!(e.hresult(), want, "{e}");
            assert_eq!(e.name(), want.name().unwrap());
            e
        }
        Ok(v) => panic!("expected {want:?}, got {v:?}"),
    }
}

// ---- 1. arguments ----

#[test]
fn step1_missing_or_malformed_arguments_are_invalid_arg() {
    let w = World::new(1, None);
    assert_hr(w.open("", &w.group, None), hresult::E_INVALIDARG);
    assert_hr(w.open(&w.alice, "", None), hresult::E_INVALIDARG);
    assert_hr(w.open("no dot here", &w.group, None), hresult::E_INVALIDARG);
    assert_hr(w.open(&w.alice, "zz.chat", None), hresult::E_INVALIDARG);
    // Peer names are case-sensitive (p2p.h): an uppercase authority is not the group's name.
    assert_hr(w.open(&w.alice, &w.group.to_uppercase().replace(".CHAT", ".chat"), None), hresult::E_INVALIDARG);
    assert_hr(w.open(&w.alice.to_uppercase(), &w.group, None), hresult::E_INVALIDARG);
    assert_hr(w.open(&w.alice, &format!("{}.{}", "a".repeat(40), "c".repeat(150)), None), hresult::E_INVALIDARG);
    for cloud in ["", "bad\u{1}cloud", &"x".repeat(300)] {
        let e = assert_hr(w.open(&w.alice, &w.group, Some(cloud)), hresult::E_INVALIDARG);
        assert!(e.to_string().contains("cloud"), "{e}");
    }
}

#[test]
fn step1_arguments_are_checked_before_anything_else() {
    // A missing identity with a malformed group is still an argument error, not "not found".
    let w = World::new(1, None);
    let unknown = format!("{}.nobody", "1".repeat(40));
    assert_hr(w.open(&unknown, "malformed", None), hresult::E_INVALIDARG);
}

// ---- 2. the identity ----

#[test]
fn step2_unknown_identity() {
    let w = World::new(1, None);
    let unknown = format!("{}.nobody", "1".repeat(40));
    assert_hr(w.open(&unknown, &w.group, None), hresult::PEER_E_IDENTITY_NOT_FOUND);
}

#[test]
fn step2_identity_key_not_accessible() {
    let w = World::new(1, None);
    let key = w.ctx.identity(&w.alice).unwrap().key_path().to_owned();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = assert_hr(w.open(&w.alice, &w.group, None), hresult::PEER_E_NO_KEY_ACCESS);
    assert!(e.to_string().contains(&key.display().to_string()), "{e}");
}

#[test]
fn step2_damaged_identity_certificate_is_a_crypto_error() {
    let w = World::new(1, None);
    let key = w.ctx.identity(&w.alice).unwrap().key_path().to_owned();
    let cert = key.with_file_name("certificate.der");
    let bytes = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, &bytes[..bytes.len() / 2]).unwrap();
    let e = assert_hr(w.open(&w.alice, &w.group, None), hresult::NTE_BAD_KEYSET);
    assert!(e.to_string().contains("certificate.der"), "{e}");
}

// ---- 3. the group ----

#[test]
fn step3_group_not_created_or_joined_by_the_identity() {
    let w = World::new(1, None);
    // Bob has not joined Alice's group.
    assert_hr(w.open(&w.bob, &w.group, None), hresult::PEER_E_NOT_FOUND);
    let other = format!("{}.chat", "2".repeat(40));
    assert_hr(w.open(&w.alice, &other, None), hresult::PEER_E_NOT_FOUND);
}

#[test]
fn step3_group_key_not_accessible() {
    let w = World::new(1, None);
    let group_key = std::fs::read_dir(w.root.join("groups"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|g| g.unwrap().path().join("group.key"))
        .find(|p| p.exists())
        .expect("the owner's group key");
    std::fs::set_permissions(&group_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = assert_hr(w.open(&w.alice, &w.group, None), hresult::PEER_E_NO_KEY_ACCESS);
    assert!(e.to_string().contains("group.key"), "{e}");
}

// ---- 4. the cloud ----

#[test]
fn step4_no_cloud() {
    let w = World::new(0, None);
    assert_hr(w.open(&w.alice, &w.group, Some("LinkLocal_")), hresult::PEER_E_NO_CLOUD);
    assert_hr(w.open(&w.alice, &w.group, Some("SiteLocal_")), hresult::PEER_E_NO_CLOUD);
}

#[test]
fn step4_ambiguous_cloud_lists_the_candidates() {
    let w = World::new(2, None);
    let e = assert_hr(w.open(&w.alice, &w.group, Some("LinkLocal_")), hresult::PEER_E_CLOUD_NAME_AMBIGUOUS);
    assert!(e.to_string().contains("LinkLocal_eth0") && e.to_string().contains("LinkLocal_eth1"), "{e}");
}

#[test]
fn step4_without_a_cloud_the_groups_own_is_used() {
    // Created in LinkLocal_: fine on a host with one link-local interface...
    let w = World::new(1, Some("LinkLocal_"));
    let g = w.open(&w.alice, &w.group, None).unwrap();
    assert_eq!(g.cloud().name.to_string(), "LinkLocal_eth0");
    // ...no cloud on a host with none, ambiguous on a host with two.
    assert_hr(w.on_host(0).open_group_blocking(&w.alice, &w.group, None), hresult::PEER_E_NO_CLOUD);
    assert_hr(w.on_host(2).open_group_blocking(&w.alice, &w.group, None), hresult::PEER_E_CLOUD_NAME_AMBIGUOUS);
    // A cloud given explicitly wins over the stored one.
    let g = w.on_host(2).open_group_blocking(&w.alice, &w.group, Some("Global_")).unwrap();
    assert_eq!(g.cloud().name.to_string(), "Global_");
}

/// The cloud rule of `PeerGroupCreate`, the same for every front end: a name given must be a
/// cloud of this host now, and the group keeps it exactly as given (the C ABI and the command
/// line both call this function).
#[test]
fn a_group_keeps_the_cloud_name_as_given() {
    let w = World::new(1, Some("LinkLocal_"));
    let stored = w.ctx.groups(&w.alice).unwrap();
    assert_eq!(stored[0].cloud_name, "LinkLocal_");
    let g = w.open(&w.alice, &w.group, None).unwrap();
    assert_eq!(g.membership().cloud, "LinkLocal_");
    assert_eq!(g.properties().unwrap().cloud_name, "LinkLocal_");
    let global = World::new(1, None);
    assert_eq!(global.ctx.groups(&global.alice).unwrap()[0].cloud_name, peergroup::GLOBAL_CLOUD);
    let mut elsewhere = NewGroup::new("other", "Other");
    elsewhere.cloud = Some("LinkLocal_".into());
    assert_hr(w.on_host(0).create_group(&w.alice, &elsewhere), hresult::PEER_E_NO_CLOUD);
    elsewhere.cloud = Some("bad cloud".into());
    assert_hr(w.ctx.create_group(&w.alice, &elsewhere), hresult::E_INVALIDARG);
}

// ---- 5. the handle ----

#[test]
fn step5_the_handle_starts_offline_and_sees_another_processs_presence() {
    let w = World::new(1, None);
    let first = w.open(&w.alice, &w.group, None).unwrap();
    let second = w.open(&w.alice, &w.group, None).unwrap();
    assert_eq!(first.status().unwrap(), GroupStatus::OFFLINE);
    // Another application connects the group: every handle reports it.
    first.publish_status(&GroupStatus { listening: true, connections: 2, presence_pid: None }).unwrap();
    let seen = second.status().unwrap();
    assert!(seen.is_connected() && seen.listening && seen.connections == 2);
    assert_eq!(seen.presence_pid, Some(std::process::id()));
}

/// A presence lasts while its holder holds it: withdrawn, or released with the holder's last
/// handle of the group, it reads offline. (A holder killed outright: `tests/events.rs`.)
#[test]
fn step5_a_presence_withdrawn_or_released_reads_offline() {
    let w = World::new(1, None);
    let g = w.open(&w.alice, &w.group, None).unwrap();
    let other = w.open(&w.alice, &w.group, None).unwrap();
    let online = GroupStatus { listening: true, connections: 1, presence_pid: Some(1) };
    g.publish_status(&online).unwrap();
    assert_eq!(other.status().unwrap().presence_pid, Some(std::process::id()), "the holder is this process");
    g.publish_status(&GroupStatus::OFFLINE).unwrap();
    assert_eq!(other.status().unwrap(), GroupStatus::OFFLINE);
    g.publish_status(&online).unwrap();
    assert!(other.status().unwrap().is_connected());
    drop((g, other));
    let again = w.open(&w.alice, &w.group, None).unwrap();
    assert_eq!(again.status().unwrap(), GroupStatus::OFFLINE, "the last handle took the presence with it");
}

// ---- several handles ----

fn new_record(text: &str) -> NewRecord {
    NewRecord {
        record_type: uuid::Uuid::from_u128(42),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(600)),
        data: text.as_bytes().to_vec(),
    }
}

#[test]
fn handles_are_independent_over_the_same_data() {
    let w = World::new(1, None);
    let a = w.open(&w.alice, &w.group, None).unwrap();
    let b = w.open(&w.alice, &w.group, None).unwrap();
    let mut events = b.events(&[EventType::RecordChanged]).unwrap();
    let record = a.add_record(new_record("one")).unwrap();
    match events.recv_timeout(Duration::from_secs(10)).unwrap() {
        Some(Event::RecordChanged { id, .. }) => assert_eq!(id, record.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(b.record(record.id).unwrap().data, b"one");
    // Closing one leaves the other working.
    a.close();
    let second = b.add_record(new_record("two")).unwrap();
    assert_eq!(b.records(None).unwrap().len(), 2);
    assert_eq!(b.record(second.id).unwrap().data, b"two");
}

#[test]
fn deleting_the_group_ends_other_handles() {
    let w = World::new(1, None);
    let g = w.open(&w.alice, &w.group, None).unwrap();
    let mut events = g.events(&[]).unwrap();
    w.ctx.delete_group(&w.alice, &w.group).unwrap();
    match events.recv_timeout(Duration::from_secs(10)).unwrap() {
        Some(Event::StatusChanged { deleted: true, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_hr(g.add_record(new_record("late")), hresult::PEER_E_INVALID_GROUP);
    assert_hr(g.properties(), hresult::PEER_E_INVALID_GROUP);
    assert_hr(w.open(&w.alice, &w.group, None), hresult::PEER_E_NOT_FOUND);
}

#[test]
fn a_joined_member_opens_its_own_copy() {
    let w = World::new(1, None);
    let bob = w.ctx.identity(&w.bob).unwrap();
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let invitation = w.ctx.invite(&w.alice, &w.group, &bob.info().to_xml(), &request).unwrap();
    let joined = w.ctx.join(&w.bob, &invitation).unwrap();
    assert_eq!(joined.group().to_string(), w.group);
    assert!(matches!(w.ctx.join(&w.bob, &invitation).unwrap(), peergroup::Joined::AlreadyMember(_)));
    let g = w.open(&w.bob, &w.group, None).unwrap();
    assert_eq!(g.roles(), &[Role::Member]);
    assert_eq!(g.status().unwrap(), GroupStatus::OFFLINE);
    // Until synchronised with a member, data only the group holds is not ready, as in Windows.
    assert_hr(g.properties(), hresult::PEER_E_GROUP_NOT_READY);
    assert_hr(g.records(None), hresult::PEER_E_GROUP_NOT_READY);
    assert_hr(g.add_record(new_record("early")), hresult::PEER_E_GROUP_NOT_READY);
    // Once some process has synchronised it, it is ready here too, and a member may add
    // records but not change the group's properties.
    let store = peergroup_state::MembershipStore::open(&w.root);
    store.mark_synchronized(bob.peer_name(), g.peer_name()).unwrap();
    assert_eq!(g.properties().unwrap().group_peer_name.to_string(), w.group);
    let mine = g.add_record(new_record("mine")).unwrap();
    g.delete_record(mine.id).unwrap();
    assert_hr(g.set_properties("mine", ""), hresult::PEER_E_NOT_AUTHORIZED);
}

/// Out of file descriptors for more handles is `E_OUTOFMEMORY`, reported before SQLite fails
/// to open a file. Runs in a child process whose descriptor limit is lowered.
#[test]
fn too_many_handles_is_out_of_memory() {
    let status = peergroup_testkit::child_test("too_many_handles_is_out_of_memory_with_128_fds").status().unwrap();
    assert!(status.success(), "the child process with 128 descriptors failed (its output is above)");
}

/// The child of `too_many_handles_is_out_of_memory`.
#[test]
#[ignore = "child-process entry point, run by too_many_handles_is_out_of_memory"]
fn too_many_handles_is_out_of_memory_with_128_fds() {
    peergroup_testkit::child_entry(
        "too_many_handles_is_out_of_memory_with_128_fds",
        "too_many_handles_is_out_of_memory",
    );
    let limit = libc::rlimit { rlim_cur: 128, rlim_max: 128 };
    // SAFETY: setrlimit only changes this (child) process's limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
    let max = peergroup::open_group_limit();
    assert_eq!(max, (128 - 64) / 4);
    let w = World::new(1, None);
    let handles: Vec<_> = (0..max).map(|_| w.open(&w.alice, &w.group, None).unwrap()).collect();
    let e = assert_hr(w.open(&w.alice, &w.group, None), hresult::E_OUTOFMEMORY);
    assert!(e.to_string().contains(&max.to_string()), "{e}");
    drop(handles);
    w.open(&w.alice, &w.group, None).unwrap();
}

/// The async API: `open_group` on a Tokio runtime, events as a `Stream`.
#[tokio::test]
async fn async_open_and_event_stream() {
    let w = World::new(1, None);
    let a = w.ctx.open_group(&w.alice, &w.group, None).await.unwrap();
    let b = w.ctx.open_group(&w.alice, &w.group, Some("LinkLocal_")).await.unwrap();
    assert_eq!(b.cloud().name.to_string(), "LinkLocal_eth0");
    let mut events = b.events(&[EventType::RecordChanged]).unwrap();
    let record = tokio::task::spawn_blocking(move || a.add_record(new_record("async")).unwrap()).await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(10), events.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(
        event,
        Event::RecordChanged { change: peergroup::RecordChange::Added, id: record.id, record_type: record.record_type }
    );
    drop(events);
    let e = w.ctx.open_group(&w.alice, &w.group, Some("SiteLocal_")).await.unwrap_err();
    assert_eq!(e.hresult(), hresult::PEER_E_NO_CLOUD);
}
