//! The groups of one identity on disk: list, create, open, delete.
//!
//! Layout inside the keystore root (see `docs/storage.md`):
//!
//! ```text
//! <root>/groups/                         0700
//!   <identity authority, 40 hex>/        0700  one folder per identity (as <root>/identities/)
//!     <group authority>-<classifier id>/ 0700  one folder per group
//!       group.db                         0600  the SQLite database (WAL mode)
//!       group.db-wal, group.db-shm       0600  SQLite's write-ahead log and shared index
//!       ...                                    files the security layer keeps (keys: 0600)
//!     .tmp-<random>/                           a group being created (never read)
//!     .del-<random>/                           a group being removed (never read)
//! ```
//!
//! `<classifier id>` is the first 16 hex digits of the SHA-256 of the group's classifier, so
//! that any classifier gives a short, safe folder name; the database holds the full name and
//! opening checks it.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use peergroup_identity::secure_fs::{create_private_dir, random_suffix, sync_dir};
use peergroup_identity::{Keystore, PeerName};
use sha2::{Digest, Sha256};

use crate::db::GroupDb;
use crate::error::{Result, StateError};
use crate::sqlite::{Access, Durability};
use peergroup_security::GroupProperties;

/// The folder of the keystore root that holds every identity's groups.
pub const GROUPS_DIR: &str = "groups";
/// The database file inside a group folder.
pub const DB_FILE: &str = "group.db";

/// The groups of one identity under one keystore root. Cheap to clone; holds no open files.
#[derive(Clone, Debug)]
pub struct GroupStore {
    dir: PathBuf,
    identity: PeerName,
    durability: Durability,
}

fn io(path: &Path, e: std::io::Error) -> StateError {
    StateError::Io { path: path.to_owned(), source: e }
}

impl GroupStore {
    /// The store of `identity`'s groups in `keystore` (creates `<root>/groups/<authority>/`).
    pub fn new(keystore: &Keystore, identity: &PeerName) -> Result<Self> {
        Self::at_root(keystore.root(), identity)
    }

    /// The store of `identity`'s groups under the keystore root folder `root`.
    pub fn at_root(root: &Path, identity: &PeerName) -> Result<Self> {
        create_private_dir(&root.join(GROUPS_DIR))?;
        let dir = identity_dir(root, identity);
        create_private_dir(&dir)?;
        Ok(Self { dir, identity: identity.clone(), durability: Durability::default() })
    }

    /// Uses `durability` for the handles this store opens from now on (default
    /// [`Durability::Normal`]).
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The identity whose groups these are.
    pub fn identity(&self) -> &PeerName {
        &self.identity
    }

    /// The folder of this identity's groups.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The folder of a group (whether or not it exists).
    pub fn group_dir(&self, group: &PeerName) -> PathBuf {
        group_dir_in(&self.dir, group)
    }

    /// Whether the group exists for this identity.
    pub fn exists(&self, group: &PeerName) -> bool {
        self.group_dir(group).join(DB_FILE).is_file()
    }

    /// The properties of every group of this identity, sorted by group peer name
    /// (`PeerEnumGroups`). A damaged group database is reported as an error, not skipped.
    pub fn list(&self) -> Result<Vec<GroupProperties>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|e| io(&self.dir, e))? {
            let entry = entry.map_err(|e| io(&self.dir, e))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path().join(DB_FILE);
            let opened = match GroupDb::open_file(&path, None, Access::ReadOnly, self.durability) {
                // An older schema, which a read-only handle may not migrate: migrate it.
                Err(StateError::ReadOnly { .. }) => GroupDb::open_file(&path, None, Access::ReadWrite, self.durability),
                other => other,
            };
            match opened {
                Ok(db) => out.push(db.properties()?),
                // Deleted between the listing and the open.
                Err(StateError::GroupDeleted { .. }) => {}
                Err(_) if !entry.path().exists() => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.group_peer_name.cmp(&b.group_peer_name));
        Ok(out)
    }

    /// Creates a group database from its properties and returns a handle on it.
    ///
    /// `init` runs on a handle of the new database before it becomes visible: the security
    /// layer writes its certificates, members and files (into [`GroupDb::dir`]) there. The
    /// group appears whole (one `rename`) only if `init` succeeds.
    pub fn create(&self, props: &GroupProperties, init: impl FnOnce(&GroupDb) -> Result<()>) -> Result<GroupDb> {
        props.validate()?;
        let group = &props.group_peer_name;
        let target = self.group_dir(group);
        let exists = || StateError::GroupExists { group: group.to_string(), identity: self.identity.to_string() };
        if fs::symlink_metadata(&target).is_ok() {
            return Err(exists());
        }
        let tmp = self.dir.join(format!(".tmp-{}", random_suffix()));
        let result = (|| {
            create_private_dir(&tmp)?;
            let path = tmp.join(DB_FILE);
            // SQLite gives its -wal and -shm files the database file's mode.
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path)
                .map_err(|e| io(&path, e))?;
            GroupDb::initialise(&path, &self.identity, props)?;
            {
                let db = GroupDb::open_file(&path, Some(group), Access::ReadWrite, self.durability)?;
                init(&db)?;
                // Fold the WAL into the file so the folder holds one finished database.
                db.with_connection(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
                    .map_err(|e| crate::sqlite::map_err(&path, e))?;
            }
            sync_dir(&tmp)?;
            fs::rename(&tmp, &target).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => exists(),
                _ => io(&target, e),
            })?;
            sync_dir(&self.dir)?;
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
        self.open(group)
    }

    /// Opens a group database for reading and writing (`PeerGroupOpen`, storage part).
    pub fn open(&self, group: &PeerName) -> Result<GroupDb> {
        self.open_with(group, Access::ReadWrite)
    }

    /// Opens a group database for reading only: every write is refused with
    /// [`StateError::ReadOnly`].
    pub fn open_read_only(&self, group: &PeerName) -> Result<GroupDb> {
        self.open_with(group, Access::ReadOnly)
    }

    fn open_with(&self, group: &PeerName, access: Access) -> Result<GroupDb> {
        let path = self.group_dir(group).join(DB_FILE);
        if !path.is_file() {
            return Err(StateError::GroupNotFound { group: group.to_string(), identity: self.identity.to_string() });
        }
        GroupDb::open_file(&path, Some(group), access, self.durability)
    }

    /// Deletes a group (`PeerGroupDelete`, storage part): a [`crate::Change::GroupDeleted`]
    /// is committed first, so that handles open elsewhere learn of it, then the group's folder
    /// (database, keys, every file in it) is renamed away in one step and removed.
    pub fn delete(&self, group: &PeerName) -> Result<()> {
        let db = self.open(group)?;
        db.mark_deleted()?;
        drop(db);
        let dir = self.group_dir(group);
        let trash = self.dir.join(format!(".del-{}", random_suffix()));
        fs::rename(&dir, &trash).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                StateError::GroupNotFound { group: group.to_string(), identity: self.identity.to_string() }
            }
            _ => io(&dir, e),
        })?;
        sync_dir(&self.dir)?;
        fs::remove_dir_all(&trash).map_err(|e| io(&trash, e))
    }
}

/// The folder of `identity`'s groups under the keystore root `root` (whether or not it exists).
pub(crate) fn identity_dir(root: &Path, identity: &PeerName) -> PathBuf {
    root.join(GROUPS_DIR).join(identity.authority().to_hex())
}

/// The folder of `group` inside an identity's folder (whether or not it exists).
pub(crate) fn group_dir_in(identity_dir: &Path, group: &PeerName) -> PathBuf {
    let digest = Sha256::digest(group.classifier().as_bytes());
    let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    identity_dir.join(format!("{}-{id}", group.authority().to_hex()))
}
