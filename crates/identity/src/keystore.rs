//! The keystore: identities stored per user under one root folder.
//!
//! Layout (see `docs/keystore.md`):
//!
//! ```text
//! <root>/                      0700
//!   default-identity           0600  peer name of the default identity
//!   identities/                0700
//!     <authority>/             0700  one folder per identity, named by the 40 hex digits
//!       certificate.der        0600  self-signed identity certificate (DER)
//!       key.pk8                0600  private key, PKCS#8 DER
//!     .tmp-<random>/                 an identity being written (never read)
//!     .del-<random>/                 an identity being removed (never read)
//! ```
//!
//! An identity folder appears by one `rename` once both files are on disk, and disappears
//! by one `rename` before it is removed, so a reader in another process sees a whole
//! identity or none.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{IdentityError, KeyAccessReason, Result};
use crate::identity::{Identity, IdentityInfo, validate_friendly_name};
use crate::peer_name::{Authority, PeerName, validate_classifier};
use crate::provider::{CryptoProvider, Pkcs8Der, default_provider};
use crate::secure_fs::{
    check_private_dir, check_private_file, create_private_dir, random_suffix, read_private_file, replace_private_file,
    sync_dir, write_private_file,
};
use crate::x509::{self, CertificateTemplate, INFINITE_VALIDITY, OID_COMMON_NAME, OID_NAME};

/// The environment variable that chooses the keystore root.
pub const ROOT_ENV: &str = "PEERGROUP_HOME";

const IDENTITIES: &str = "identities";
const CERTIFICATE: &str = "certificate.der";
const KEY: &str = "key.pk8";
const DEFAULT: &str = "default-identity";

/// A keystore rooted at one folder. Cheap to clone; holds no open files.
#[derive(Debug, Clone)]
pub struct Keystore {
    root: PathBuf,
    provider: &'static dyn CryptoProvider,
}

impl Keystore {
    /// The root chosen by the environment: `$PEERGROUP_HOME`, else `$XDG_DATA_HOME/peergroup`,
    /// else `$HOME/.local/share/peergroup`.
    pub fn default_root() -> Result<PathBuf> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(home) = var(ROOT_ENV) {
            return Ok(home);
        }
        if let Some(data) = var("XDG_DATA_HOME") {
            return Ok(data.join("peergroup"));
        }
        var("HOME").map(|home| home.join(".local/share/peergroup")).ok_or(IdentityError::NoHome)
    }

    /// Opens the keystore at [`Self::default_root`].
    pub fn open_default() -> Result<Self> {
        Self::open(Self::default_root()?)
    }

    /// Opens (creating when missing) the keystore at `root`. The root and its `identities`
    /// folder must be private (`0700`, owned by this user, not links).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        create_private_dir(&root)?;
        create_private_dir(&root.join(IDENTITIES))?;
        Ok(Self { root, provider: default_provider() })
    }

    /// Uses another crypto provider for the identities this handle creates and loads.
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> Self {
        self.provider = provider;
        self
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The crypto provider in use.
    pub fn provider(&self) -> &'static dyn CryptoProvider {
        self.provider
    }

    fn identities(&self) -> PathBuf {
        self.root.join(IDENTITIES)
    }

    /// The folder of the identity with this authority (whether or not it exists).
    fn dir_of(&self, authority: &Authority) -> PathBuf {
        self.identities().join(authority.to_hex())
    }

    /// Creates an identity with a new RSA-2048 key.
    pub fn create(&self, classifier: &str, friendly_name: Option<&str>) -> Result<Identity> {
        validate_classifier(classifier)?;
        if let Some(name) = friendly_name {
            validate_friendly_name(name)?;
        }
        let key = self.provider.generate_key()?;
        self.create_with_key(classifier, friendly_name, &key)
    }

    /// Creates an identity around an existing RSA-2048 private key (PKCS#8 DER).
    pub fn create_with_key(&self, classifier: &str, friendly_name: Option<&str>, key: &[u8]) -> Result<Identity> {
        validate_classifier(classifier)?;
        let friendly = friendly_name.unwrap_or(classifier);
        validate_friendly_name(friendly)?;
        let signer = self.provider.signing_key(key)?;
        let name = PeerName::secure(signer.public_key_der(), classifier)?;
        let cert = issue_identity_certificate(&name, friendly, signer.as_ref())?;
        let info = IdentityInfo::from_certificate(&cert)?;
        self.install(&info, key)?;
        Ok(Identity::new(info, self.dir_of(&name.authority()).join(KEY), self.provider, Some(signer)))
    }

    /// Writes an identity's two files into a temporary folder and renames it into place.
    fn install(&self, info: &IdentityInfo, key: &[u8]) -> Result<()> {
        let identities = self.identities();
        check_private_dir(&identities)?;
        let target = self.dir_of(&info.peer_name().authority());
        if fs::symlink_metadata(&target).is_ok() {
            return Err(IdentityError::IdentityExists { name: info.peer_name().to_string() });
        }
        let tmp = identities.join(format!(".tmp-{}", random_suffix()));
        let result = (|| {
            create_private_dir(&tmp)?;
            write_private_file(&tmp.join(KEY), key)?;
            write_private_file(&tmp.join(CERTIFICATE), info.certificate_der())?;
            sync_dir(&tmp)?;
            // rename(2) refuses to replace a non-empty folder, so a racing creator of the
            // same identity loses here instead of overwriting.
            fs::rename(&tmp, &target).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTEMPTY) | Some(libc::EEXIST) => {
                    IdentityError::IdentityExists { name: info.peer_name().to_string() }
                }
                _ => IdentityError::io(&target, e),
            })?;
            sync_dir(&identities)
        })();
        if result.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    /// Looks an identity up for use: checks the access rules of its folder and key file,
    /// and reads and verifies its certificate. The private key is decoded on first use.
    /// The cost does not depend on how many identities are stored.
    pub fn get(&self, name: &PeerName) -> Result<Identity> {
        let not_found = || IdentityError::IdentityNotFound { name: name.to_string(), root: self.root.clone() };
        if !name.is_secure() {
            return Err(not_found());
        }
        check_private_dir(&self.root)?;
        check_private_dir(&self.identities())?;
        let dir = self.dir_of(&name.authority());
        let key_path = dir.join(KEY);
        let Some(info) = read_whole(&dir, || {
            // Checks the identity's folder, then its key file.
            check_private_file(&key_path).and_then(|()| self.read_info(&dir))
        })?
        else {
            return Err(not_found());
        };
        if info.peer_name() != name {
            // Same key, other classifier: not this identity.
            return Err(not_found());
        }
        Ok(Identity::new(info, key_path, self.provider, None))
    }

    fn read_info(&self, dir: &Path) -> Result<IdentityInfo> {
        let path = dir.join(CERTIFICATE);
        let der = read_private_file(&path)?;
        let info = IdentityInfo::from_certificate_with(&der, self.provider)
            .map_err(|reason| IdentityError::corrupt(&path, reason))?;
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if info.peer_name().authority().to_hex() != folder {
            return Err(IdentityError::corrupt(
                &path,
                format!("certificate is for {}, not for this folder", info.peer_name()),
            ));
        }
        Ok(info)
    }

    /// The public info of every stored identity, sorted by peer name. An identity whose
    /// files break a rule or are damaged is reported as an error, not skipped.
    pub fn list(&self) -> Result<Vec<IdentityInfo>> {
        let identities = self.identities();
        check_private_dir(&identities)?;
        let mut out = Vec::new();
        for entry in fs::read_dir(&identities).map_err(|e| IdentityError::io(&identities, e))? {
            let entry = entry.map_err(|e| IdentityError::io(&identities, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let dir = entry.path();
            if let Some(info) = read_whole(&dir, || self.read_info(&dir))? {
                out.push(info);
            }
        }
        out.sort_by(|a, b| a.peer_name().cmp(b.peer_name()));
        Ok(out)
    }

    /// Deletes an identity: its folder is renamed away in one step, then removed.
    pub fn delete(&self, name: &PeerName) -> Result<()> {
        // It must exist and its files keep the rules.
        self.get(name)?;
        let dir = self.dir_of(&name.authority());
        let identities = self.identities();
        let trash = identities.join(format!(".del-{}", random_suffix()));
        fs::rename(&dir, &trash).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                IdentityError::IdentityNotFound { name: name.to_string(), root: self.root.clone() }
            }
            _ => IdentityError::io(&dir, e),
        })?;
        sync_dir(&identities)?;
        // A `default-identity` naming it stays: `default_identity` ignores a name whose folder
        // is gone, and the identity is the default again if it is imported back.
        fs::remove_dir_all(&trash).map_err(|e| IdentityError::io(&trash, e))
    }

    /// Changes the friendly name: the identity certificate is issued again (same key, same
    /// peer name) and replaced in one step.
    pub fn set_friendly_name(&self, name: &PeerName, friendly_name: &str) -> Result<Identity> {
        validate_friendly_name(friendly_name)?;
        let identity = self.get(name)?;
        let cert = issue_identity_certificate(name, friendly_name, identity.signing_key()?)?;
        let info = IdentityInfo::from_certificate(&cert)?;
        let dir = self.dir_of(&name.authority());
        replace_private_file(&dir.join(CERTIFICATE), &cert)?;
        Ok(Identity::new(info, dir.join(KEY), self.provider, None))
    }

    /// The default identity, if one was set and still exists.
    pub fn default_identity(&self) -> Result<Option<PeerName>> {
        let path = self.root.join(DEFAULT);
        let bytes = match read_private_file(&path) {
            Ok(bytes) => bytes,
            Err(IdentityError::NoKeyAccess { reason: KeyAccessReason::Missing, .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| IdentityError::corrupt(&path, "not UTF-8"))?;
        let name = PeerName::parse(text.trim()).map_err(|e| IdentityError::corrupt(&path, e.to_string()))?;
        Ok(self.dir_of(&name.authority()).exists().then_some(name))
    }

    /// Makes `name` the default identity.
    pub fn set_default_identity(&self, name: &PeerName) -> Result<()> {
        self.get(name)?;
        replace_private_file(&self.root.join(DEFAULT), name.to_string().as_bytes())
    }

    /// Exports an identity (certificate and private key) to a password-protected text file:
    /// the key as encrypted PKCS#8 (PBES2: scrypt and AES-256-CBC), the certificate as PEM.
    pub fn export(&self, name: &PeerName, password: &str) -> Result<String> {
        let identity = self.get(name)?;
        let key = read_private_file(identity.key_path())?;
        // Decode once so that a damaged key is reported here, not by the importer.
        crate::identity::decode_signing_key(identity.key_path(), &key, self.provider, identity.public_key_der())?;
        crate::export::encode(identity.certificate_der(), &key, password)
    }

    /// Imports an identity written by [`Self::export`].
    pub fn import(&self, text: &str, password: &str) -> Result<Identity> {
        let (info, key): (IdentityInfo, Pkcs8Der) = crate::export::decode(text, password, self.provider)?;
        self.install(&info, &key)?;
        self.get(info.peer_name())
    }
}

/// Issues the self-signed identity certificate: subject and issuer carry the peer name
/// (commonName) and the friendly name (name); "infinite" validity.
pub(crate) fn issue_identity_certificate(
    name: &PeerName,
    friendly_name: &str,
    key: &dyn crate::provider::SigningKey,
) -> Result<Vec<u8>> {
    let subject = vec![(OID_COMMON_NAME, name.to_string()), (OID_NAME, friendly_name.to_owned())];
    // Start a day early so that a peer whose clock runs behind accepts it.
    let now = SystemTime::now();
    let template = CertificateTemplate {
        issuer: subject.clone(),
        subject,
        subject_public_key: key.public_key_der(),
        not_before: now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now),
        not_after: now + INFINITE_VALIDITY,
        is_ca: true,
        extensions: Vec::new(),
    };
    x509::issue(&template, key)
}

/// Reads an identity folder with `read`, against other processes that delete it, or delete and
/// create it again, meanwhile. A folder appears and disappears whole (one rename), so a file
/// missing from a folder that is gone means "deleted" (`None`), and a file missing from a folder
/// that is there is read again: a folder replaced meanwhile reads whole on a later attempt
/// (inode numbers are reused at once, so they cannot tell a new folder from the old one), while
/// a file that really is missing stays missing on every attempt.
pub(crate) fn read_whole<T>(dir: &Path, read: impl Fn() -> Result<T>) -> Result<Option<T>> {
    const ATTEMPTS: usize = 16;
    let mut attempts = 0;
    loop {
        attempts += 1;
        match read() {
            Err(e @ IdentityError::NoKeyAccess { reason: KeyAccessReason::Missing, .. }) => {
                match fs::symlink_metadata(dir) {
                    Err(_) => return Ok(None),
                    Ok(_) if attempts < ATTEMPTS => continue,
                    Ok(_) => return Err(e),
                }
            }
            other => return other.map(Some),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn new_store() -> (tempfile::TempDir, Keystore) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Keystore::open(tmp.path().join("home")).unwrap();
        (tmp, store)
    }

    #[test]
    fn create_get_list_delete() {
        let (_tmp, store) = new_store();
        let a = store.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
        let b = store.create_with_key("bob", None, &testing::key(1)).unwrap();
        assert_eq!(b.friendly_name(), "bob");
        let got = store.get(a.peer_name()).unwrap();
        assert_eq!(got.friendly_name(), "Alice");
        let sig = got.sign(b"m").unwrap();
        a.verify(b"m", &sig).unwrap();
        let names: Vec<_> = store.list().unwrap().into_iter().map(|i| i.peer_name().clone()).collect();
        let mut want = vec![a.peer_name().clone(), b.peer_name().clone()];
        want.sort();
        assert_eq!(names, want);
        store.delete(a.peer_name()).unwrap();
        assert!(matches!(store.get(a.peer_name()), Err(IdentityError::IdentityNotFound { .. })));
        assert_eq!(store.list().unwrap().len(), 1);
    }

    #[test]
    fn same_key_twice_is_refused_and_other_classifier_is_not_found() {
        let (_tmp, store) = new_store();
        let a = store.create_with_key("a", None, &testing::key(0)).unwrap();
        assert!(matches!(
            store.create_with_key("a", None, &testing::key(0)),
            Err(IdentityError::IdentityExists { .. })
        ));
        let other = PeerName::parse(&format!("{}.other", a.peer_name().authority().to_hex())).unwrap();
        assert!(matches!(store.get(&other), Err(IdentityError::IdentityNotFound { .. })));
        assert!(matches!(store.get(&PeerName::parse("0.a").unwrap()), Err(IdentityError::IdentityNotFound { .. })));
    }

    #[test]
    fn friendly_name_and_default() {
        let (_tmp, store) = new_store();
        let a = store.create_with_key("a", None, &testing::key(0)).unwrap();
        assert_eq!(store.default_identity().unwrap(), None);
        store.set_default_identity(a.peer_name()).unwrap();
        assert_eq!(store.default_identity().unwrap().as_ref(), Some(a.peer_name()));
        let renamed = store.set_friendly_name(a.peer_name(), "Ann").unwrap();
        assert_eq!(renamed.friendly_name(), "Ann");
        assert_eq!(store.get(a.peer_name()).unwrap().friendly_name(), "Ann");
        assert_eq!(renamed.peer_name(), a.peer_name());
        assert!(matches!(
            store.set_friendly_name(a.peer_name(), "a\nb"),
            Err(IdentityError::InvalidFriendlyName { .. })
        ));
        store.delete(a.peer_name()).unwrap();
        assert_eq!(store.default_identity().unwrap(), None);
    }

    #[test]
    fn export_import_round_trip() {
        let (_tmp, store) = new_store();
        let a = store.create_with_key("a", Some("A"), &testing::key(0)).unwrap();
        let text = store.export(a.peer_name(), "correct horse").unwrap();
        assert!(text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        assert!(!text.contains("-----BEGIN PRIVATE KEY-----"));
        let (_tmp2, other) = new_store();
        assert!(matches!(other.import(&text, "wrong password"), Err(IdentityError::InvalidExport { .. })));
        let b = other.import(&text, "correct horse").unwrap();
        assert_eq!(b.peer_name(), a.peer_name());
        assert_eq!(b.friendly_name(), "A");
        a.verify(b"x", &b.sign(b"x").unwrap()).unwrap();
        assert!(matches!(other.import(&text, "correct horse"), Err(IdentityError::IdentityExists { .. })));
    }

    #[test]
    fn damaged_certificate_is_corrupt_material_naming_the_file() {
        let (_tmp, store) = new_store();
        let a = store.create_with_key("a", None, &testing::key(0)).unwrap();
        let cert = store.dir_of(&a.peer_name().authority()).join(CERTIFICATE);
        let mut der = fs::read(&cert).unwrap();
        let n = der.len();
        der[n - 5] ^= 0xff;
        fs::remove_file(&cert).unwrap();
        write_private_file(&cert, &der).unwrap();
        match store.get(a.peer_name()) {
            Err(IdentityError::CorruptMaterial { path, .. }) => assert_eq!(path, cert),
            other => panic!("{other:?}"),
        }
    }
}
