//! Several processes create, delete and read identities in one keystore at the same time;
//! none ever sees a half-written identity, and of two processes creating the same identity
//! exactly one succeeds.
//!
//! The test re-runs its own binary as the worker processes: `worker` is an ignored test, a
//! child-process entry point that the parents run with `--ignored --exact worker`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::path::{Path, PathBuf};
use std::process::Child;

use peergroup_identity::{IdentityError, Keystore, PeerName, testing};

const ROLE: &str = "PEERGROUP_TEST_ROLE";
const HOME: &str = "PEERGROUP_TEST_HOME";
const KEY: &str = "PEERGROUP_TEST_KEY";
const WANTED: usize = 20;
const MAX_ROUNDS: usize = 100_000;

fn spawn(role: &str, home: &Path, key: &Path) -> Child {
    peergroup_testkit::child_test("worker").env(ROLE, role).env(HOME, home).env(KEY, key).spawn().unwrap()
}

#[test]
#[ignore = "child-process entry point, run by readers_never_see_half_an_identity and two_processes_creating_one_identity_exactly_one_wins"]
fn worker() {
    peergroup_testkit::child_entry("worker", "readers_never_see_half_an_identity");
    let role = std::env::var(ROLE).unwrap();
    let home = PathBuf::from(std::env::var(HOME).unwrap());
    let key = std::fs::read(std::env::var(KEY).unwrap()).unwrap();
    let store = Keystore::open(&home).unwrap();
    match role.as_str() {
        "churn" => {
            // Create and delete one identity again and again, until the readers are done.
            let mut rounds = 0;
            while !home.join("stop").exists() && rounds < MAX_ROUNDS {
                let id = store.create_with_key("churn", None, &key).unwrap();
                store.delete(id.peer_name()).unwrap();
                rounds += 1;
            }
        }
        "read" => {
            let name: PeerName = std::fs::read_to_string(home.join("churn-name")).unwrap().parse().unwrap();
            let (mut seen, mut missed, mut rounds) = (0, 0, 0);
            // Until both outcomes have been seen often (bounded, in case the churn stops).
            while (seen < WANTED || missed < WANTED) && rounds < MAX_ROUNDS {
                rounds += 1;
                // Either the whole identity, able to sign, or none.
                match store.get(&name) {
                    Ok(id) => match id.sign(b"x") {
                        Ok(sig) => {
                            id.verify(b"x", &sig).unwrap();
                            seen += 1;
                        }
                        // Deleted between lookup and first use.
                        Err(IdentityError::IdentityDeleted { .. }) => missed += 1,
                        Err(e) => panic!("half-written identity: {e}"),
                    },
                    Err(IdentityError::IdentityNotFound { .. }) => missed += 1,
                    Err(e) => panic!("half-written identity: {e}"),
                }
                for info in store.list().unwrap_or_else(|e| panic!("half-written identity listed: {e}")) {
                    assert!(info.peer_name().is_owned_by(info.public_key_der()));
                }
            }
            eprintln!("reader: identity whole {seen} times, absent {missed} times, in {rounds} rounds");
            assert!(seen > 0 && missed > 0, "the reader never overlapped the churn");
        }
        "race" => match store.create_with_key("race", None, &key) {
            Ok(_) => std::fs::write(home.join(format!("won-{}", std::process::id())), b"").unwrap(),
            Err(IdentityError::IdentityExists { .. }) => {}
            Err(e) => panic!("unexpected: {e}"),
        },
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn readers_never_see_half_an_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let store = Keystore::open(&home).unwrap();
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, &*testing::key(0)).unwrap();
    let probe = store.create_with_key("churn", None, &testing::key(0)).unwrap();
    std::fs::write(home.join("churn-name"), probe.peer_name().to_string()).unwrap();
    store.delete(probe.peer_name()).unwrap();

    let mut churn = spawn("churn", &home, &key_file);
    let mut readers = [spawn("read", &home, &key_file), spawn("read", &home, &key_file)];
    for reader in &mut readers {
        assert!(reader.wait().unwrap().success());
    }
    // The readers have seen enough: tell the churn to stop after its current round.
    std::fs::write(home.join("stop"), b"").unwrap();
    assert!(churn.wait().unwrap().success());
    // Nothing half-done is left behind.
    let leftovers: Vec<_> =
        std::fs::read_dir(home.join("identities")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_processes_creating_one_identity_exactly_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    Keystore::open(&home).unwrap();
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, &*testing::key(1)).unwrap();
    let mut children: Vec<Child> = (0..4).map(|_| spawn("race", &home, &key_file)).collect();
    for child in &mut children {
        assert!(child.wait().unwrap().success());
    }
    let winners = std::fs::read_dir(&home)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("won-"))
        .count();
    assert_eq!(winners, 1);
    assert_eq!(Keystore::open(&home).unwrap().list().unwrap().len(), 1);
}
