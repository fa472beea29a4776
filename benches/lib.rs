//! Shared helpers for the criterion benchmarks.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use peergroup_identity::{Identity, Keystore, PeerName, testing};
use peergroup_security::{InvitationRequest, NewGroup, Role};
use peergroup_state::{Attribute, Attributes, GroupDb, MembershipStore, Record, SCHEMA_VERSION, Timestamp};
use uuid::Uuid;

/// The record type of the fixtures' records.
pub const RECORD_TYPE: Uuid = Uuid::from_u128(0x5eed);

/// Whether criterion runs in test mode (`cargo bench -- --test`: each benchmark once), where
/// benchmarks scale their fixtures down so that CI stays fast.
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// The fixture `name` with its keystore root (`home`), built by `build` (given that root)
/// unless a complete one is there from an earlier run; a build cut short is started again.
pub fn cached_fixture(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let dir = fixture_dir(name);
    let done = dir.join("complete");
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("fixture dir");
        build(&dir.join("home"));
        std::fs::write(&done, b"").expect("marker");
    }
    dir
}

/// A folder for fixtures that are expensive to build and reused across runs
/// (`target/bench-fixtures/<name>`).
pub fn fixture_dir(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-fixtures").join(name)
}

/// A keystore where Alice (key 0) created a group holding `n` records she signed (each
/// distinct, 100 bytes of data and two attributes), and Bob (key 1) joined it; built once and
/// cached under `target/bench-fixtures/` (signing takes about 250 µs a record, on two threads).
pub fn fixture(n: usize) -> Fixture {
    // "f2": fixtures made since groups sign their properties at creation (a fixture made
    // before holds one item less); bump it whenever what the fixture holds changes.
    let dir = cached_fixture(&format!("sync-store-v{SCHEMA_VERSION}-f2-{n}"), |root| {
        let dir = root.parent().expect("the fixture's folder");
        let keystore = Keystore::open(root).expect("keystore");
        let alice = keystore.create_with_key("alice", None, &testing::key(0)).expect("alice");
        let bob = keystore.create_with_key("bob", None, &testing::key(1)).expect("bob");
        let store = MembershipStore::for_keystore(&keystore);
        let now = SystemTime::now();
        let db = store
            .create_group_with_key(&alice, &NewGroup::new("bench", "Bench"), testing::key(50), now)
            .expect("group");
        let group = db.group_peer_name().clone();
        let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
        let text = store.create_invitation(&alice, &group, bob.info(), &request, now).expect("invitation");
        store.join(&bob, &text, now).expect("join");
        let records = sign_records(&alice, n);
        for chunk in records.chunks(10_000) {
            db.bulk_insert_unchecked(chunk).expect("insert");
        }
        std::fs::write(dir.join("group"), group.to_string()).expect("group name");
        std::fs::write(dir.join("alice"), alice.peer_name().to_string()).expect("alice's name");
        std::fs::write(dir.join("bob"), bob.peer_name().to_string()).expect("bob's name");
    });
    let root = dir.join("home");
    let name = |file: &str| PeerName::parse(&std::fs::read_to_string(dir.join(file)).expect("name")).expect("name");
    Fixture { root, group: name("group"), alice: name("alice"), bob: name("bob") }
}

/// Where a fixture is and who is in it.
#[derive(Debug)]
pub struct Fixture {
    /// The keystore root (peergroup home).
    pub root: PathBuf,
    /// The group.
    pub group: PeerName,
    /// Its creator, who signed the records.
    pub alice: PeerName,
    /// A member who joined and holds nothing yet.
    pub bob: PeerName,
}

/// `n` records by `alice`, signed on two threads.
pub fn sign_records(alice: &Identity, n: usize) -> Vec<Record> {
    let expires = Timestamp::now().saturating_add(Duration::from_secs(10 * 365 * 86_400));
    let template = Record {
        record_type: RECORD_TYPE,
        id: Uuid::nil(),
        version: 1,
        flags: 0,
        creator: alice.peer_name().clone(),
        modifier: alice.peer_name().clone(),
        attributes: Attributes::empty(),
        created: Timestamp::now(),
        modified: Timestamp::now(),
        expires,
        data: Vec::new(),
        signature: Vec::new(),
    };
    let half = n.div_ceil(2);
    std::thread::scope(|s| {
        let workers: Vec<_> = [0..half, half..n]
            .into_iter()
            .map(|range| {
                let template = template.clone();
                s.spawn(move || {
                    range
                        .map(|i| {
                            let mut r = template.clone();
                            r.id = Uuid::now_v7();
                            r.attributes = Attributes::new(vec![
                                Attribute::string("category", &format!("c{}", i % 1000)),
                                Attribute::int("n", i as i64),
                            ])
                            .expect("attributes");
                            r.data = vec![(i % 251) as u8; 100];
                            r.sign(alice).expect("sign");
                            r
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("signer")).collect()
    })
}

pub fn open(root: &Path, who: &PeerName, group: &PeerName) -> GroupDb {
    MembershipStore::open(root).groups(who).expect("groups").open(group).expect("open")
}

/// A copy of the fixture's keystore (Bob's database holds only his membership), so that every
/// run starts from the same empty receiver.
pub fn fresh_copy(root: &Path, into: &Path) {
    let status = std::process::Command::new("cp").arg("-a").arg(root).arg(into).status().expect("cp");
    assert!(status.success(), "cp -a {} {}", root.display(), into.display());
    // Flush the copy now, so that its write-back does not land in the timed run's fsyncs.
    let status = std::process::Command::new("sync").status().expect("sync");
    assert!(status.success(), "sync");
}

/// The presence of `who` in `group`, from the keystore at `root`, listening on `listen`. Runs
/// in a Tokio runtime (enter one first).
pub fn start_presence(root: &Path, who: &PeerName, group: &PeerName, listen: &str) -> peergroup_net::Presence {
    let keystore = Keystore::open(root).expect("keystore");
    let store = MembershipStore::for_keystore(&keystore);
    peergroup_net::Presence::start(peergroup_net::PresenceConfig {
        listen: listen.parse().expect("addr"),
        identity: keystore.get(who).expect("identity"),
        membership: store.get(who, group).expect("membership"),
        store,
    })
    .expect("presence")
}

/// Waits for the first event `want` picks, at most ten minutes (a benchmark must not hang).
pub async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<peergroup_net::PresenceEvent>,
    want: impl Fn(&peergroup_net::PresenceEvent) -> bool,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv()).await.expect("in time").expect("event");
        if want(&event) {
            return;
        }
    }
}

/// A memory line of `/proc/self/status` (`VmRSS:`, `VmHWM:`, `RssAnon:`), in MiB (Linux).
pub fn status_mib(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}
