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

    // ---- storage (crates/state/src/db.rs, store.rs) ----
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
    /// Group properties that break a rule (`PEER_E_INVALID_GROUP_PROPERTIES`).
    #[error("invalid group properties: {reason}")]
    InvalidGroupProperties {
        /// What is wrong.
        reason: String,
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

    // ---- group security (src/security/) ----
    /// A membership certificate chain longer than [`crate::security::MAX_CHAIN_LEN`]
    /// certificates, group root included (`PEER_E_CHAIN_TOO_LONG`, 0x80630703).
    #[error("certificate chain of {len} certificates; at most {max} are allowed")]
    ChainTooLong {
        /// The length found (or that issuing would make).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A chain in which a key appears twice (`PEER_E_CIRCULAR_CHAIN_DETECTED`, 0x80630706).
    #[error("circular certificate chain: certificate {index} is for the key of certificate {earlier}")]
    CircularChain {
        /// Position of the repeating certificate (0 = group root).
        index: usize,
        /// Position of the certificate whose key it repeats.
        earlier: usize,
    },
    /// A certificate or invitation used outside its validity window: expired or not yet valid
    /// (`PEER_E_INVALID_TIME_PERIOD`, 0x80630705). Times are seconds since the Unix epoch.
    #[error("{what} is valid from {not_before} to {not_after} (Unix seconds); now is {now}")]
    InvalidTimePeriod {
        /// What is out of its window (which certificate of which chain).
        what: String,
        /// Start of validity.
        not_before: i64,
        /// End of validity.
        not_after: i64,
        /// The time it was checked at.
        now: i64,
    },
    /// A group certificate chain that breaks a rule: a signature that does not verify, a root
    /// whose key does not own the group peer name, another group's certificate, a role its
    /// issuer may not give, validity not inside the issuer's (`PEER_E_INVALID_CREDENTIAL`,
    /// 0x80632082).
    #[error("untrusted certificate chain at certificate {index}: {fault}")]
    ChainNotTrusted {
        /// Position of the offending certificate (0 = group root).
        index: usize,
        /// The rule it breaks.
        fault: crate::security::ChainFault,
    },
    /// An invitation that does not decode, was altered (its signature does not verify), or
    /// whose parts do not belong together (`PEER_E_INVITATION_NOT_TRUSTED`, 0x80630701).
    #[error("invitation not trusted: {reason}")]
    InvalidInvitation {
        /// What is wrong.
        reason: String,
    },
    /// An invitation issued to another identity than the one presenting it
    /// (`PEER_E_INVITATION_NOT_TRUSTED`, 0x80630701).
    #[error("invitation is for identity {invitee}, not for {presented}")]
    InvitationNotForIdentity {
        /// The identity the invitation was issued to.
        invitee: String,
        /// The identity that presented it.
        presented: String,
    },
    /// An invitation or configuration file of a format version this build does not read
    /// (`PEER_E_UNSUPPORTED_VERSION`, 0x80632090).
    #[error("{what} has format version {found}; this build reads version {supported}")]
    UnsupportedFormatVersion {
        /// What was read.
        what: &'static str,
        /// The version found.
        found: u64,
        /// The version this build reads.
        supported: u64,
    },
    /// The identity's membership does not allow this: issuing without the administrator
    /// role, or giving a role superior to its own (`PEER_E_NOT_AUTHORIZED`, 0x80632020).
    #[error("identity {identity} may not do this in group {group}: {reason}")]
    NotAuthorized {
        /// The identity that tried.
        identity: String,
        /// The group.
        group: String,
        /// Why it may not.
        reason: String,
    },
    /// Credential parameters that cannot be issued: no roles, an expiration in the past or
    /// beyond the issuer's own (`PEER_E_INVALID_CREDENTIAL_INFO`, 0x80632081).
    #[error("invalid credential info: {reason}")]
    InvalidCredentialInfo {
        /// What is wrong.
        reason: String,
    },
    /// The group has not been synchronised with a member since this identity joined, so data
    /// only the group holds is not there yet (`PEER_E_GROUP_NOT_READY`, 0x80632091).
    #[error("group {group} is not ready: it has not been synchronised with a member since joining")]
    GroupNotReady {
        /// The group peer name.
        group: String,
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
    /// A group configuration export that cannot be read: wrong password, damaged, or not a
    /// configuration export (`E_INVALIDARG`, as `PeerGroupImportConfig`).
    #[error("cannot import group configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// Input from outside larger than its documented bound (`E_INVALIDARG`).
    #[error("{what} is {len} bytes; at most {max} are accepted")]
    InputTooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        max: usize,
    },
}

/// The group state layer's result type.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
