//! The identity layer's error type.

use std::path::PathBuf;

/// Why a private key (or the folder that holds it) may not be used.
///
/// Each reason names a rule of the keystore: private keys live in files of mode `0600`
/// inside folders of mode `0700`, owned by the user of the process, never reached through
/// a symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAccessReason {
    /// The path is a symbolic link; keys are never read or written through one.
    Symlink,
    /// Group or other users have some access (`mode & 0o077 != 0`).
    GroupOrOtherAccess {
        /// The permission bits found (`mode & 0o777`).
        mode: u32,
    },
    /// The file or folder belongs to another user.
    WrongOwner {
        /// The owner found.
        owner: u32,
        /// The effective user of this process.
        expected: u32,
    },
    /// A file was expected and something else is there (or the reverse).
    WrongType,
    /// The key file is missing.
    Missing,
    /// The operating system refused to read it.
    Unreadable(String),
}

impl std::fmt::Display for KeyAccessReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Symlink => f.write_str("it is a symbolic link"),
            Self::GroupOrOtherAccess { mode } => {
                write!(
                    f,
                    "group or other users have access (mode {mode:04o}; 0600 for files, 0700 for folders required)"
                )
            }
            Self::WrongOwner { owner, expected } => {
                write!(f, "it is owned by uid {owner}, not by this process's uid {expected}")
            }
            Self::WrongType => f.write_str("it is not of the expected type (file or folder)"),
            Self::Missing => f.write_str("it does not exist"),
            Self::Unreadable(why) => write!(f, "it cannot be read: {why}"),
        }
    }
}

/// Everything that can go wrong in the identity layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A peer name that is not of the form `authority.classifier`.
    #[error("invalid peer name {name:?}: {reason}")]
    InvalidPeerName {
        /// The offending name (cut to 300 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A classifier longer than [`crate::MAX_CLASSIFIER_UTF16`] UTF-16 code units.
    #[error("classifier is {len} UTF-16 code units long; at most {max} are allowed")]
    ClassifierTooLong {
        /// Its length in UTF-16 code units.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A classifier that is empty or holds control characters.
    #[error("invalid classifier {classifier:?}: {reason}")]
    InvalidClassifier {
        /// The offending classifier (cut to 300 characters).
        classifier: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A friendly name that is too long or holds control characters.
    #[error("invalid friendly name: {reason}")]
    InvalidFriendlyName {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No identity of that name in this keystore.
    #[error("identity {name} not found in {root}")]
    IdentityNotFound {
        /// The peer name looked up.
        name: String,
        /// The keystore root.
        root: PathBuf,
    },
    /// The identity was deleted (by this or another process) after it was looked up.
    #[error("identity {name} was deleted")]
    IdentityDeleted {
        /// Its peer name.
        name: String,
    },
    /// An identity of that name exists already.
    #[error("identity {name} already exists")]
    IdentityExists {
        /// Its peer name.
        name: String,
    },
    /// A private key, or the folder that holds it, may not be used (`PEER_E_NO_KEY_ACCESS`).
    #[error("no access to key material at {path}: {reason}")]
    NoKeyAccess {
        /// The file or folder that breaks a rule.
        path: PathBuf,
        /// The rule it breaks.
        reason: KeyAccessReason,
    },
    /// Key or certificate material that is damaged: it does not parse, its signature does
    /// not verify, or it does not match its peer name or its counterpart.
    #[error("corrupt key material in {path}: {reason}")]
    CorruptMaterial {
        /// The file (or `<memory>` for material given directly).
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A signature that does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// The crypto provider failed (key generation, signing).
    #[error("crypto provider {provider} failed: {what}")]
    Crypto {
        /// The provider's name.
        provider: &'static str,
        /// What failed.
        what: String,
    },
    /// An export file that cannot be decrypted with the password given, or is damaged.
    #[error("cannot import identity: {reason}")]
    InvalidExport {
        /// What is wrong.
        reason: String,
    },
    /// An identity-info document that is not well formed or whose certificate is invalid.
    #[error("invalid identity info: {reason}")]
    InvalidIdentityInfo {
        /// What is wrong.
        reason: String,
    },
    /// Input larger than the documented bound.
    #[error("{what} is {len} bytes; at most {max} are accepted")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// No keystore root could be found (neither `PEERGROUP_HOME`, `XDG_DATA_HOME` nor `HOME`).
    #[error("no keystore root: set PEERGROUP_HOME, XDG_DATA_HOME or HOME")]
    NoHome,
    /// An I/O error on a keystore file.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl IdentityError {
    /// The symbolic p2p.h / winerror.h name of the HRESULT this error maps to (the facade turns
    /// it into the value). No wildcard arm: a new variant must be given its code here.
    pub fn p2p_code(&self) -> &'static str {
        match self {
            Self::InvalidPeerName { .. } => "PEER_E_INVALID_PEER_NAME",
            Self::ClassifierTooLong { .. } => "PEER_E_CLASSIFIER_TOO_LONG",
            Self::InvalidClassifier { .. } => "PEER_E_INVALID_CLASSIFIER",
            Self::InvalidFriendlyName { .. } => "PEER_E_INVALID_FRIENDLY_NAME",
            Self::IdentityNotFound { .. } => "PEER_E_IDENTITY_NOT_FOUND",
            Self::IdentityDeleted { .. } => "PEER_E_IDENTITY_DELETED",
            Self::IdentityExists { .. } => "PEER_E_ALREADY_EXISTS",
            Self::NoKeyAccess { .. } => "PEER_E_NO_KEY_ACCESS",
            // Crypto errors keep codes of their own, as the CRYPT_*/NTE_* codes of Windows.
            Self::CorruptMaterial { .. } => "NTE_BAD_KEYSET",
            Self::BadSignature => "NTE_BAD_SIGNATURE",
            Self::Crypto { .. } => "NTE_FAIL",
            Self::InvalidExport { .. } | Self::InvalidIdentityInfo { .. } | Self::TooLarge { .. } => "E_INVALIDARG",
            Self::NoHome | Self::Io { .. } => "E_FAIL",
        }
    }

    /// One value of every variant, for the facade's test that every error maps to its
    /// documented HRESULT. The `match` in [`Self::p2p_code`] makes a new variant fail to
    /// compile; add it here too.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let (s, p) = (String::new, PathBuf::new);
        vec![
            Self::InvalidPeerName { name: s(), reason: "" },
            Self::ClassifierTooLong { len: 150, max: 149 },
            Self::InvalidClassifier { classifier: s(), reason: "" },
            Self::InvalidFriendlyName { reason: "" },
            Self::IdentityNotFound { name: s(), root: p() },
            Self::IdentityDeleted { name: s() },
            Self::IdentityExists { name: s() },
            Self::NoKeyAccess { path: p(), reason: KeyAccessReason::Missing },
            Self::CorruptMaterial { path: p(), reason: s() },
            Self::BadSignature,
            Self::Crypto { provider: "x", what: s() },
            Self::InvalidExport { reason: s() },
            Self::InvalidIdentityInfo { reason: s() },
            Self::TooLarge { what: "x", len: 2, max: 1 },
            Self::NoHome,
            Self::Io { path: p(), source: std::io::Error::other("x") },
        ]
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::CorruptMaterial { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn no_access(path: impl Into<PathBuf>, reason: KeyAccessReason) -> Self {
        Self::NoKeyAccess { path: path.into(), reason }
    }
}

/// Cuts user input quoted in an error message, so that huge inputs make short errors.
pub(crate) fn excerpt(s: &str) -> String {
    s.chars().take(300).collect()
}

/// The identity layer's result type.
pub type Result<T, E = IdentityError> = std::result::Result<T, E>;
