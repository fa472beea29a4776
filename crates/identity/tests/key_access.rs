//! Every key-access rule of the keystore, through the open path (`Keystore::get`) and the
//! first signature: each broken rule is `NoKeyAccess` naming the file or folder at fault.
//!
//! Tests run as root, which ignores mode bits when reading, so these assert on the rules
//! themselves (mode, owner, file type, links), never on the operating system refusing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use peergroup_identity::{Identity, IdentityError, KeyAccessReason, Keystore, testing};

struct Fixture {
    _tmp: tempfile::TempDir,
    store: Keystore,
    identity: Identity,
}

impl Fixture {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let store = Keystore::open(tmp.path().join("home")).unwrap();
        let identity = store.create_with_key("alice", None, &testing::key(0)).unwrap();
        Self { _tmp: tmp, store, identity }
    }

    fn identity_dir(&self) -> PathBuf {
        self.key().parent().unwrap().to_path_buf()
    }

    fn key(&self) -> PathBuf {
        self.identity.key_path().to_path_buf()
    }

    fn get(&self) -> Result<Identity, IdentityError> {
        self.store.get(self.identity.peer_name())
    }
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

#[track_caller]
fn assert_no_access<T: std::fmt::Debug>(result: Result<T, IdentityError>, want_path: &Path, want: KeyAccessReason) {
    match result {
        Err(IdentityError::NoKeyAccess { path, reason }) => {
            assert_eq!(path, want_path);
            assert_eq!(reason, want);
        }
        other => panic!("expected NoKeyAccess at {} ({want:?}), got {other:?}", want_path.display()),
    }
}

#[test]
fn key_file_readable_by_group_or_others() {
    let f = Fixture::new();
    for mode in [0o640, 0o604, 0o660, 0o644, 0o666] {
        chmod(&f.key(), mode);
        assert_no_access(f.get(), &f.key(), KeyAccessReason::GroupOrOtherAccess { mode });
    }
    chmod(&f.key(), 0o600);
    f.get().unwrap();
    // Stricter than 0600 is fine.
    chmod(&f.key(), 0o400);
    f.get().unwrap();
}

#[test]
fn identity_folder_open_to_group_or_others() {
    let f = Fixture::new();
    chmod(&f.identity_dir(), 0o750);
    assert_no_access(f.get(), &f.identity_dir(), KeyAccessReason::GroupOrOtherAccess { mode: 0o750 });
    chmod(&f.identity_dir(), 0o701);
    assert_no_access(f.get(), &f.identity_dir(), KeyAccessReason::GroupOrOtherAccess { mode: 0o701 });
}

#[test]
fn keystore_folders_open_to_group_or_others() {
    let f = Fixture::new();
    let root = f.store.root().to_path_buf();
    let identities = root.join("identities");
    chmod(&identities, 0o755);
    assert_no_access(f.get(), &identities, KeyAccessReason::GroupOrOtherAccess { mode: 0o755 });
    chmod(&identities, 0o700);
    chmod(&root, 0o711);
    assert_no_access(f.get(), &root, KeyAccessReason::GroupOrOtherAccess { mode: 0o711 });
    // Opening a keystore whose root breaks the rule is refused the same way.
    assert_no_access(Keystore::open(&root), &root, KeyAccessReason::GroupOrOtherAccess { mode: 0o711 });
}

#[test]
fn key_file_that_is_a_symlink() {
    let f = Fixture::new();
    let elsewhere = f.store.root().join("moved-key");
    fs::rename(f.key(), &elsewhere).unwrap();
    symlink(&elsewhere, f.key()).unwrap();
    assert_no_access(f.get(), &f.key(), KeyAccessReason::Symlink);
}

#[test]
fn identity_folder_that_is_a_symlink() {
    let f = Fixture::new();
    let elsewhere = f.store.root().join("moved-identity");
    fs::rename(f.identity_dir(), &elsewhere).unwrap();
    symlink(&elsewhere, f.identity_dir()).unwrap();
    assert_no_access(f.get(), &f.identity_dir(), KeyAccessReason::Symlink);
}

#[test]
fn key_file_missing_or_not_a_file() {
    let f = Fixture::new();
    fs::remove_file(f.key()).unwrap();
    assert_no_access(f.get(), &f.key(), KeyAccessReason::Missing);
    fs::create_dir(f.key()).unwrap();
    chmod(&f.key(), 0o700);
    assert_no_access(f.get(), &f.key(), KeyAccessReason::WrongType);
}

#[test]
fn files_owned_by_another_user() {
    let f = Fixture::new();
    let why = "giving a file to another user needs root (tests and CI run as root)";
    if !peergroup_testkit::require("files_owned_by_another_user", peergroup_testkit::is_root(), why) {
        return;
    }
    std::os::unix::fs::chown(f.key(), Some(65534), None).unwrap();
    assert_no_access(f.get(), &f.key(), KeyAccessReason::WrongOwner { owner: 65534, expected: 0 });
    std::os::unix::fs::chown(f.key(), Some(0), None).unwrap();
    std::os::unix::fs::chown(f.identity_dir(), Some(65534), None).unwrap();
    assert_no_access(f.get(), &f.identity_dir(), KeyAccessReason::WrongOwner { owner: 65534, expected: 0 });
}

#[test]
fn a_rule_broken_after_lookup_is_caught_at_first_signature() {
    let f = Fixture::new();
    let identity = f.get().unwrap();
    chmod(&f.key(), 0o644);
    assert_no_access(identity.sign(b"m"), &f.key(), KeyAccessReason::GroupOrOtherAccess { mode: 0o644 });
    chmod(&f.key(), 0o600);
    identity.sign(b"m").unwrap();
}

#[test]
fn damaged_key_is_corrupt_material_not_an_access_error() {
    let f = Fixture::new();
    let key = fs::read(f.key()).unwrap();
    fs::write(f.key(), &key[..key.len() / 2]).unwrap();
    // The open path does not decode the key ...
    let identity = f.get().unwrap();
    // ... the first signature does, and names the file.
    match identity.sign(b"m") {
        Err(IdentityError::CorruptMaterial { path, .. }) => assert_eq!(path, f.key()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_of_another_identity_is_corrupt_material() {
    let f = Fixture::new();
    fs::write(f.key(), &*testing::key(1)).unwrap();
    match f.get().unwrap().sign(b"m") {
        Err(IdentityError::CorruptMaterial { path, reason }) => {
            assert_eq!(path, f.key());
            assert!(reason.contains("does not match"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn created_files_and_folders_have_private_modes() {
    let f = Fixture::new();
    let mode = |p: &Path| fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(f.store.root()), 0o700);
    assert_eq!(mode(&f.store.root().join("identities")), 0o700);
    assert_eq!(mode(&f.identity_dir()), 0o700);
    for entry in fs::read_dir(f.identity_dir()).unwrap() {
        assert_eq!(mode(&entry.unwrap().path()), 0o600);
    }
}

/// The operating system refusing to read a key file that breaks no other rule (mode 0000, ours)
/// is `Unreadable`. Root reads it anyway, so as root the check runs in a child process that
/// first drops to the `nobody` user, to whom the keystore is given.
#[test]
fn key_file_the_os_refuses_to_read() {
    let f = Fixture::new();
    chmod(&f.key(), 0o000);
    if !peergroup_testkit::is_root() {
        let identity = f.get().unwrap();
        match identity.sign(b"m") {
            Err(IdentityError::NoKeyAccess { path, reason: KeyAccessReason::Unreadable(_) }) => {
                assert_eq!(path, f.key())
            }
            other => panic!("expected NoKeyAccess Unreadable, got {other:?}"),
        }
        return;
    }
    let home = f.store.root().to_path_buf();
    // The temporary folder must be traversable by nobody; the keystore below it becomes theirs.
    chmod(home.parent().unwrap(), 0o711);
    for entry in
        [home.clone(), home.join("identities"), f.identity_dir(), f.key(), f.identity_dir().join("certificate.der")]
    {
        std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
    }
    let status = peergroup_testkit::child_test("key_file_the_os_refuses_to_read_as_nobody")
        .env(UNREADABLE_HOME, &home)
        .env(UNREADABLE_NAME, f.identity.peer_name().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "the child process (as nobody) did not see Unreadable");
}

const UNREADABLE_HOME: &str = "PEERGROUP_TEST_UNREADABLE_HOME";
const UNREADABLE_NAME: &str = "PEERGROUP_TEST_UNREADABLE_NAME";

/// The child of `key_file_the_os_refuses_to_read`: as `nobody`, the key file it owns with mode
/// 0000 is `Unreadable`.
#[test]
#[ignore = "child-process entry point, run by key_file_the_os_refuses_to_read"]
fn key_file_the_os_refuses_to_read_as_nobody() {
    peergroup_testkit::child_entry("key_file_the_os_refuses_to_read_as_nobody", "key_file_the_os_refuses_to_read");
    let home = std::env::var(UNREADABLE_HOME).unwrap();
    // SAFETY: plain system calls; this child process has no other threads that rely on its ids.
    unsafe {
        assert_eq!(libc::setgid(65534), 0, "setgid");
        assert_eq!(libc::setuid(65534), 0, "setuid");
    }
    let name = std::env::var(UNREADABLE_NAME).unwrap().parse().unwrap();
    let store = Keystore::open(&home).unwrap();
    let identity = store.get(&name).unwrap();
    match identity.sign(b"m") {
        Err(IdentityError::NoKeyAccess { path, reason: KeyAccessReason::Unreadable(_) }) => {
            assert_eq!(path, identity.key_path());
        }
        other => panic!("expected NoKeyAccess Unreadable, got {other:?}"),
    }
}
