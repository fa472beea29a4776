//! The group state layer's error type.

/// Everything that can go wrong in the group state layer.
///
/// Each variant's documentation names the p2p.h HRESULT the facade maps it to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An error of the identity layer (keys, names, certificates); mapped as the identity layer's.
    #[error(transparent)]
    Identity(#[from] peergroup_identity::IdentityError),

    // ---- storage (crates/state/src/db/, store.rs) ----
    /// A group database that is damaged: not a database, failed an integrity check, or
    /// missing the tables or rows every group database has (`PEER_E_INVALID_DATABASE`).
    #[error("invalid group database {path}: {reason}")]
    InvalidDatabase {
        /// The database file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A group database written by a newer version of peergroup (`PEER_E_UNSUPPORTED_VERSION`).
    #[error("group database {path} has schema version {found}; this build reads versions up to {supported}")]
    DatabaseTooNew {
        /// The database file.
        path: std::path::PathBuf,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The disk (or the database's size limit) is full; the change was not committed
    /// (`HRESULT_FROM_WIN32(ERROR_DISK_FULL)`, 0x80070070).
    #[error("disk full writing group database {path}; nothing was committed")]
    DiskFull {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// The database may only be read (read-only file system, read-only handle); the change was
    /// not committed (`PEER_E_DATABASE_ACCESSDENIED`).
    #[error("group database {path} is read-only; nothing was committed")]
    ReadOnly {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// Other processes held the database locked for longer than the retry budget
    /// (`HRESULT_FROM_WIN32(ERROR_BUSY)`, 0x800700AA). Never returned for ordinary contention.
    #[error("group database {path} stayed locked by other processes for {waited:?}")]
    Busy {
        /// The database file.
        path: std::path::PathBuf,
        /// How long this call waited.
        waited: std::time::Duration,
    },
    /// Any other SQLite failure (`E_FAIL`).
    #[error("SQLite error on {path}: {source}")]
    Sqlite {
        /// The database file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// An I/O error on a group folder or file (`E_FAIL`).
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No group of that peer name for this identity (`PEER_E_NOT_FOUND`, 0x80070490).
    #[error("group {group} not found for identity {identity}")]
    GroupNotFound {
        /// The group peer name.
        group: String,
        /// The identity peer name.
        identity: String,
    },
    /// The identity has a group of that peer name already (`PEER_E_ALREADY_EXISTS`, 0x800700B7).
    #[error("group {group} already exists for identity {identity}")]
    GroupExists {
        /// The group peer name.
        group: String,
        /// The identity peer name.
        identity: String,
    },
    /// The group was deleted (by this or another process) while this handle was open
    /// (`PEER_E_INVALID_GROUP`).
    #[error("group {group} was deleted")]
    GroupDeleted {
        /// The group peer name.
        group: String,
    },
    /// A member entry whose public key does not own its peer name (`PEER_E_INVALID_CREDENTIAL`).
    #[error("invalid member {peer_name}: {reason}")]
    InvalidMember {
        /// The member's identity peer name.
        peer_name: String,
        /// What is wrong.
        reason: String,
    },
    /// No member of that peer name in the group database (`PEER_E_NOT_FOUND`, 0x80070490).
    #[error("member {peer_name} not found")]
    MemberNotFound {
        /// The member's identity peer name.
        peer_name: String,
    },
    /// `PeerGroupIssueCredentials` for a peer name without its public key, and the group
    /// database holds no member of that name to take it from (`PEER_E_IDENTITY_NOT_FOUND`,
    /// 0x80630401, as Windows for a subject unknown in the database).
    #[error("{subject} is not a member of group {group}: give its identity info to issue it credentials")]
    SubjectNotFound {
        /// The subject's peer name.
        subject: String,
        /// The group.
        group: String,
    },

    // ---- records (record.rs, attributes.rs, search.rs) ----
    /// No live record with that id (`PEER_E_RECORD_NOT_FOUND`).
    #[error("record {id} not found")]
    RecordNotFound {
        /// The record id.
        id: uuid::Uuid,
    },
    /// Record data or an encoded record larger than the documented maximum
    /// (`PEER_E_MAX_RECORD_SIZE_EXCEEDED`).
    #[error("{what} is {size} bytes; at most {max} are allowed")]
    MaxRecordSizeExceeded {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Attributes that break a rule: bad XML, bad name, bad value, duplicate or reserved
    /// name, too long (`PEER_E_INVALID_ATTRIBUTES`).
    #[error("invalid attributes: {reason}")]
    InvalidAttributes {
        /// What is wrong.
        reason: String,
    },
    /// More attributes than [`crate::MAX_ATTRIBUTES`] (`PEER_E_TOO_MANY_ATTRIBUTES`).
    #[error("{count} attributes; at most {max} are allowed")]
    TooManyAttributes {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An expiration in the past, or earlier than the record's current one on update
    /// (`PEER_E_INVALID_RECORD_EXPIRATION`).
    #[error("invalid record expiration: {reason}")]
    InvalidRecordExpiration {
        /// What is wrong.
        reason: String,
    },
    /// A record from an untrusted source that does not decode, breaks a rule, or whose
    /// signature does not verify (`PEER_E_INVALID_RECORD`).
    #[error("invalid record{}: {reason}", id.map(|id| format!(" {id}")).unwrap_or_default())]
    InvalidRecord {
        /// The record id, when it could be read.
        id: Option<uuid::Uuid>,
        /// What is wrong.
        reason: String,
    },
    /// A search query that is not a valid `peersearch` document (`PEER_E_INVALID_SEARCH`).
    #[error("invalid search: {reason}")]
    InvalidSearch {
        /// What is wrong.
        reason: String,
    },

    // ---- group security (peergroup-security, and the files of src/membership.rs) ----
    /// An error of the security layer (chains, invitations, properties, policy, trust path);
    /// mapped as the security layer's.
    #[error(transparent)]
    Security(#[from] peergroup_security::SecurityError),
    /// A thread of an [`crate::Applier`] ended while items were in flight (a bug: it
    /// panicked); what it had not written is lost to this sync, not to the group (`E_FAIL`).
    #[error("the applier's threads stopped with items in flight")]
    ApplierStopped,
    /// Data for another member larger than one message carries
    /// ([`crate::MAX_MAILBOX_BODY`]): nothing was queued (`E_INVALIDARG`).
    #[error("{what} is {size} bytes; at most {max} are sent in one message")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The locally kept membership of a group (its certificate chain file) is damaged
    /// (`PEER_E_CERT_STORE_CORRUPTED`, 0x80630801).
    #[error("corrupt group membership {path}: {reason}")]
    CorruptMembership {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl StateError {
    /// The symbolic p2p.h / winerror.h name of the HRESULT this error maps to (the facade turns
    /// it into the value). No wildcard arm: a new variant must be given its code here.
    pub fn p2p_code(&self) -> &'static str {
        match self {
            Self::Identity(e) => e.p2p_code(),
            Self::Security(e) => e.p2p_code(),
            Self::InvalidDatabase { .. } => "PEER_E_INVALID_DATABASE",
            Self::DatabaseTooNew { .. } => "PEER_E_UNSUPPORTED_VERSION",
            Self::DiskFull { .. } => "PEER_E_DISK_FULL",
            Self::ReadOnly { .. } => "PEER_E_DATABASE_ACCESSDENIED",
            Self::Busy { .. } => "ERROR_BUSY",
            Self::Sqlite { .. } | Self::Io { .. } | Self::ApplierStopped => "E_FAIL",
            Self::GroupNotFound { .. } | Self::MemberNotFound { .. } => "PEER_E_NOT_FOUND",
            Self::SubjectNotFound { .. } => "PEER_E_IDENTITY_NOT_FOUND",
            Self::GroupExists { .. } => "PEER_E_ALREADY_EXISTS",
            Self::GroupDeleted { .. } => "PEER_E_INVALID_GROUP",
            Self::InvalidMember { .. } => "PEER_E_INVALID_CREDENTIAL",
            Self::RecordNotFound { .. } => "PEER_E_RECORD_NOT_FOUND",
            Self::MaxRecordSizeExceeded { .. } => "PEER_E_MAX_RECORD_SIZE_EXCEEDED",
            Self::InvalidAttributes { .. } => "PEER_E_INVALID_ATTRIBUTES",
            Self::TooManyAttributes { .. } => "PEER_E_TOO_MANY_ATTRIBUTES",
            Self::InvalidRecordExpiration { .. } => "PEER_E_INVALID_RECORD_EXPIRATION",
            Self::InvalidRecord { .. } => "PEER_E_INVALID_RECORD",
            Self::InvalidSearch { .. } => "PEER_E_INVALID_SEARCH",
            Self::CorruptMembership { .. } => "PEER_E_CERT_STORE_CORRUPTED",
            Self::TooLarge { .. } => "E_INVALIDARG",
        }
    }

    /// One value of every variant but [`Self::Identity`] and [`Self::Security`] (whose
    /// variants their layers list), for the facade's test that every error maps to its
    /// documented HRESULT. The `match` in [`Self::p2p_code`] makes a new variant fail to
    /// compile; add it here too.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let (s, p) = (String::new, std::path::PathBuf::new);
        vec![
            Self::InvalidDatabase { path: p(), reason: s() },
            Self::DatabaseTooNew { path: p(), found: 9, supported: 2 },
            Self::DiskFull { path: p() },
            Self::ReadOnly { path: p() },
            Self::Busy { path: p(), waited: std::time::Duration::ZERO },
            Self::Sqlite { path: p(), source: rusqlite::Error::InvalidQuery },
            Self::Io { path: p(), source: std::io::Error::other("x") },
            Self::GroupNotFound { group: s(), identity: s() },
            Self::GroupExists { group: s(), identity: s() },
            Self::GroupDeleted { group: s() },
            Self::InvalidMember { peer_name: s(), reason: s() },
            Self::MemberNotFound { peer_name: s() },
            Self::SubjectNotFound { subject: s(), group: s() },
            Self::RecordNotFound { id: uuid::Uuid::nil() },
            Self::MaxRecordSizeExceeded { what: "x", size: 2, max: 1 },
            Self::InvalidAttributes { reason: s() },
            Self::TooManyAttributes { count: 2, max: 1 },
            Self::InvalidRecordExpiration { reason: s() },
            Self::InvalidRecord { id: None, reason: s() },
            Self::InvalidSearch { reason: s() },
            Self::CorruptMembership { path: p(), reason: s() },
            Self::ApplierStopped,
            Self::TooLarge { what: "x", size: 2, max: 1 },
        ]
    }
}

/// The group state layer's result type.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
