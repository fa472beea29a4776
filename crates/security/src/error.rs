//! The security layer's error type.

use crate::chain::ChainFault;

/// Everything that can go wrong in the security layer.
///
/// Each variant's documentation names the p2p.h HRESULT the facade maps it to; [`Self::p2p_code`]
/// says the same in code, through a `match` without a wildcard arm, so that a new variant does
/// not compile until it has its code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    /// An error of the identity layer (keys, names, certificates); mapped as the identity layer's.
    #[error(transparent)]
    Identity(#[from] peergroup_identity::IdentityError),
    /// A membership certificate chain longer than [`crate::MAX_CHAIN_LEN`] certificates, group
    /// root included (`PEER_E_CHAIN_TOO_LONG`, 0x80630703).
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
        fault: ChainFault,
    },
    /// A member presented from outside (an import, later a peer) that the trust path refuses:
    /// no chain to the group's root, a chain that is not its own, or roles it does not hold
    /// (`PEER_E_INVALID_CREDENTIAL`, 0x80632082).
    #[error("member {member} is not trusted: {reason}")]
    MemberNotTrusted {
        /// The member's identity peer name, as presented.
        member: String,
        /// Why it is refused.
        reason: String,
    },
    /// A record presented from outside whose signature does not verify with its modifier's
    /// key, or whose change the policy refuses (`PEER_E_INVALID_RECORD`, 0x80632010).
    #[error("record {id} is not trusted: {reason}")]
    RecordNotTrusted {
        /// The record id.
        id: uuid::Uuid,
        /// Why it is refused.
        reason: String,
    },
    /// A record (or signed group properties) from outside whose modifier is no member the
    /// caller accepted: not (yet) a member here. A replication driver holds such an item until
    /// the member's entry arrives (`PEER_E_INVALID_RECORD`, 0x80632010).
    #[error("record {id} is not trusted: its modifier {modifier} is not an accepted member")]
    UnknownModifier {
        /// The record id.
        id: uuid::Uuid,
        /// The modifier it names.
        modifier: String,
    },
    /// Group properties that break a rule (`PEER_E_INVALID_GROUP_PROPERTIES`, 0x80632040).
    #[error("invalid group properties: {reason}")]
    InvalidGroupProperties {
        /// What is wrong.
        reason: String,
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
    /// The policy does not allow this identity this action: issuing without the administrator
    /// role, giving a role superior to its own, changing properties or another member's record
    /// without the administrator role (`PEER_E_NOT_AUTHORIZED`, 0x80632020).
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
    /// Credentials asked for a subject they cannot be issued to: the issuer itself, or a
    /// public key that is not the subject's (`E_INVALIDARG`, as `PeerGroupIssueCredentials`
    /// for a bad subject).
    #[error("cannot issue credentials to {subject}: {reason}")]
    InvalidSubject {
        /// The subject's peer name.
        subject: String,
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
    /// A group configuration export or membership text that cannot be read: wrong password,
    /// damaged, or not a configuration export (`E_INVALIDARG`, as `PeerGroupImportConfig`).
    #[error("cannot import group configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
    /// A password exchange whose key confirmation failed: the password (or the password key a
    /// member holds) is wrong, or a message was altered on the way (`PEER_E_NOT_AUTHORIZED`,
    /// 0x80632020, what Windows reported for a wrong group password).
    #[error("password not accepted: {reason}")]
    PasswordNotAccepted {
        /// What failed.
        reason: String,
    },
    /// A message of the password exchange that does not decode or comes out of order
    /// (`PEER_E_INVALID_CREDENTIAL`, 0x80632082: the peer's credentials exchange is unusable).
    #[error("invalid password exchange message: {reason}")]
    InvalidPakeMessage {
        /// What is wrong.
        reason: String,
    },
    /// A group password that the password policy refuses: too short, too long, or holding a
    /// NUL (`PEER_E_PASSWORD_DOES_NOT_MEET_POLICY`, 0x80632021).
    #[error("the group password does not meet the policy: {reason}")]
    PasswordPolicy {
        /// What the policy asks.
        reason: String,
    },
    /// A password operation on a group created without a password, such as
    /// `PeerGroupCreatePasswordInvitation` (`PEER_E_NOT_AUTHORIZED`, 0x80632020: the group
    /// admits nobody by password).
    #[error("group {group} has no password: it admits members by invitation only")]
    NoGroupPassword {
        /// The group peer name.
        group: String,
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

impl SecurityError {
    /// The symbolic p2p.h / winerror.h name of the HRESULT this error maps to (the facade turns
    /// it into the value). No wildcard arm: a new variant must be given its code here.
    pub fn p2p_code(&self) -> &'static str {
        match self {
            Self::Identity(e) => e.p2p_code(),
            Self::ChainTooLong { .. } => "PEER_E_CHAIN_TOO_LONG",
            Self::CircularChain { .. } => "PEER_E_CIRCULAR_CHAIN_DETECTED",
            Self::InvalidTimePeriod { .. } => "PEER_E_INVALID_TIME_PERIOD",
            Self::ChainNotTrusted { .. } | Self::MemberNotTrusted { .. } => "PEER_E_INVALID_CREDENTIAL",
            Self::RecordNotTrusted { .. } | Self::UnknownModifier { .. } => "PEER_E_INVALID_RECORD",
            Self::InvalidGroupProperties { .. } => "PEER_E_INVALID_GROUP_PROPERTIES",
            Self::InvalidInvitation { .. } | Self::InvitationNotForIdentity { .. } => "PEER_E_INVITATION_NOT_TRUSTED",
            Self::UnsupportedFormatVersion { .. } => "PEER_E_UNSUPPORTED_VERSION",
            Self::NotAuthorized { .. } | Self::PasswordNotAccepted { .. } | Self::NoGroupPassword { .. } => {
                "PEER_E_NOT_AUTHORIZED"
            }
            Self::InvalidPakeMessage { .. } => "PEER_E_INVALID_CREDENTIAL",
            Self::PasswordPolicy { .. } => "PEER_E_PASSWORD_DOES_NOT_MEET_POLICY",
            Self::InvalidCredentialInfo { .. } => "PEER_E_INVALID_CREDENTIAL_INFO",
            Self::GroupNotReady { .. } => "PEER_E_GROUP_NOT_READY",
            Self::InvalidConfig { .. } | Self::InputTooLarge { .. } | Self::InvalidSubject { .. } => "E_INVALIDARG",
        }
    }

    /// One value of every variant but [`Self::Identity`] (whose variants the identity layer
    /// lists), for the facade's test that every error maps to its documented HRESULT. The
    /// `match` in [`Self::p2p_code`] makes a new variant fail to compile; add it here too.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let s = String::new;
        vec![
            Self::ChainTooLong { len: 25, max: 24 },
            Self::CircularChain { index: 2, earlier: 1 },
            Self::InvalidTimePeriod { what: s(), not_before: 0, not_after: 1, now: 2 },
            Self::ChainNotTrusted { index: 0, fault: ChainFault::Empty },
            Self::MemberNotTrusted { member: s(), reason: s() },
            Self::RecordNotTrusted { id: uuid::Uuid::nil(), reason: s() },
            Self::UnknownModifier { id: uuid::Uuid::nil(), modifier: s() },
            Self::InvalidGroupProperties { reason: s() },
            Self::InvalidInvitation { reason: s() },
            Self::InvitationNotForIdentity { invitee: s(), presented: s() },
            Self::UnsupportedFormatVersion { what: "x", found: 2, supported: 1 },
            Self::NotAuthorized { identity: s(), group: s(), reason: s() },
            Self::InvalidCredentialInfo { reason: s() },
            Self::InvalidSubject { subject: s(), reason: s() },
            Self::GroupNotReady { group: s() },
            Self::InvalidConfig { reason: s() },
            Self::InputTooLarge { what: "x", len: 2, max: 1 },
            Self::PasswordNotAccepted { reason: s() },
            Self::InvalidPakeMessage { reason: s() },
            Self::NoGroupPassword { group: s() },
            Self::PasswordPolicy { reason: s() },
        ]
    }
}

/// The security layer's result type.
pub type Result<T, E = SecurityError> = std::result::Result<T, E>;
