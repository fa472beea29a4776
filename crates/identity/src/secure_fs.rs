//! The file rules for key material: `0600` files in `0700` folders, owned by the user of the
//! process, never through a symbolic link; and writes that are never seen half-done.
//!
//! The group layer keeps group keys under the same rules and calls these functions.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{IdentityError, KeyAccessReason, Result};

/// The largest key file this crate reads.
pub const MAX_KEY_FILE_LEN: u64 = 64 * 1024;

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Checks the metadata of a key folder or file against the rules.
fn check_metadata(path: &Path, meta: &fs::Metadata, want_dir: bool) -> Result<()> {
    if meta.file_type().is_symlink() {
        return Err(IdentityError::no_access(path, KeyAccessReason::Symlink));
    }
    if meta.is_dir() != want_dir || (!want_dir && !meta.is_file()) {
        return Err(IdentityError::no_access(path, KeyAccessReason::WrongType));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(IdentityError::no_access(path, KeyAccessReason::GroupOrOtherAccess { mode }));
    }
    let expected = euid();
    if meta.uid() != expected {
        return Err(IdentityError::no_access(path, KeyAccessReason::WrongOwner { owner: meta.uid(), expected }));
    }
    Ok(())
}

/// Checks that `dir` is a private folder: not a link, mode `0700` or stricter, ours.
pub fn check_private_dir(dir: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(dir).map_err(|e| access_error(dir, &e))?;
    check_metadata(dir, &meta, true)
}

/// Checks `path` and the folder that holds it without opening the file (the open path uses
/// this to refuse a key it could not use, before any key is needed).
pub fn check_private_file(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        check_private_dir(dir)?;
    }
    let meta = fs::symlink_metadata(path).map_err(|e| access_error(path, &e))?;
    check_metadata(path, &meta, false)
}

/// Checks `path` and the folder that holds it, then opens it for reading without following
/// a link. The checks are made on the opened file, so a swap after the check cannot slip
/// another file in.
pub fn open_private_file(path: &Path) -> Result<File> {
    if let Some(dir) = path.parent() {
        check_private_dir(dir)?;
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| access_error(path, &e))?;
    let meta = file.metadata().map_err(|e| access_error(path, &e))?;
    check_metadata(path, &meta, false)?;
    Ok(file)
}

/// Checks and reads a private file whole (at most [`MAX_KEY_FILE_LEN`] bytes).
pub fn read_private_file(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    let file = open_private_file(path)?;
    let mut buf = zeroize::Zeroizing::new(Vec::new());
    file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut buf).map_err(|e| access_error(path, &e))?;
    if buf.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(IdentityError::corrupt(path, format!("larger than {MAX_KEY_FILE_LEN} bytes")));
    }
    Ok(buf)
}

fn access_error(path: &Path, e: &std::io::Error) -> IdentityError {
    let reason = match e.kind() {
        std::io::ErrorKind::NotFound => KeyAccessReason::Missing,
        _ if e.raw_os_error() == Some(libc::ELOOP) => KeyAccessReason::Symlink,
        _ => KeyAccessReason::Unreadable(e.to_string()),
    };
    IdentityError::no_access(path, reason)
}

/// Creates `dir` (and missing parents) with mode `0700`; an existing folder is checked.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    // Most calls find the folder there (every open of a group passes here): one `lstat`
    // then, instead of a `mkdir` that fails, a `stat` and the `lstat` of the check.
    match fs::symlink_metadata(dir) {
        Ok(meta) => return check_metadata(dir, &meta, true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(access_error(dir, &e)),
    }
    match DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) => return Err(IdentityError::io(dir, e)),
    }
    check_private_dir(dir)
}

/// Writes a new file with mode `0600` (never through a link, never over an existing file)
/// and flushes it to disk.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| IdentityError::io(path, e))?;
    // The umask may have narrowed the mode further, never widened it; set it exactly anyway.
    file.set_permissions(fs::Permissions::from_mode(0o600)).map_err(|e| IdentityError::io(path, e))?;
    file.write_all(bytes).map_err(|e| IdentityError::io(path, e))?;
    file.sync_all().map_err(|e| IdentityError::io(path, e))
}

/// Flushes a folder's entries (after a create, rename or remove inside it).
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IdentityError::io(dir, e))
}

/// Replaces `path` atomically with `bytes` (mode `0600`): writes a temporary file beside it,
/// flushes, renames over, flushes the folder.
pub fn replace_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".tmp-{}", random_suffix()));
    write_private_file(&tmp, bytes)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(IdentityError::io(path, e));
    }
    sync_dir(dir)
}

/// A random hex string for temporary names.
pub fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn reason(r: Result<impl std::fmt::Debug>) -> (std::path::PathBuf, KeyAccessReason) {
        match r {
            Err(IdentityError::NoKeyAccess { path, reason }) => (path, reason),
            other => panic!("expected NoKeyAccess, got {other:?}"),
        }
    }

    #[test]
    fn private_file_round_trip_and_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        create_private_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o777, 0o700);
        let file = dir.join("k");
        write_private_file(&file, b"secret").unwrap();
        assert_eq!(fs::metadata(&file).unwrap().mode() & 0o777, 0o600);
        assert_eq!(&*read_private_file(&file).unwrap(), b"secret");
        // Never over an existing file.
        assert!(write_private_file(&file, b"x").is_err());
        replace_private_file(&file, b"new").unwrap();
        assert_eq!(&*read_private_file(&file).unwrap(), b"new");
    }

    #[test]
    fn each_rule_is_enforced_with_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("keys");
        create_private_dir(&dir).unwrap();
        let file = dir.join("k");
        write_private_file(&file, b"secret").unwrap();

        fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
        assert_eq!(
            reason(read_private_file(&file)),
            (file.clone(), KeyAccessReason::GroupOrOtherAccess { mode: 0o640 })
        );
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600)).unwrap();

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            reason(read_private_file(&file)),
            (dir.clone(), KeyAccessReason::GroupOrOtherAccess { mode: 0o755 })
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();

        let link = dir.join("link");
        symlink(&file, &link).unwrap();
        assert_eq!(reason(read_private_file(&link)), (link.clone(), KeyAccessReason::Symlink));

        let missing = dir.join("missing");
        assert_eq!(reason(read_private_file(&missing)), (missing, KeyAccessReason::Missing));

        let sub = dir.join("sub");
        create_private_dir(&sub).unwrap();
        assert_eq!(reason(read_private_file(&sub)), (sub.clone(), KeyAccessReason::WrongType));

        let dirlink = tmp.path().join("dirlink");
        symlink(&dir, &dirlink).unwrap();
        assert_eq!(reason(read_private_file(&dirlink.join("k"))), (dirlink.clone(), KeyAccessReason::Symlink));

        if euid() == 0 {
            // Only root may give a file away; as root the rule is still checked on the owner.
            std::os::unix::fs::chown(&file, Some(65534), None).unwrap();
            assert_eq!(
                reason(read_private_file(&file)),
                (file.clone(), KeyAccessReason::WrongOwner { owner: 65534, expected: 0 })
            );
            std::os::unix::fs::chown(&file, Some(0), None).unwrap();
            std::os::unix::fs::chown(&dir, Some(65534), None).unwrap();
            assert_eq!(
                reason(read_private_file(&file)),
                (dir.clone(), KeyAccessReason::WrongOwner { owner: 65534, expected: 0 })
            );
        }
    }
}
