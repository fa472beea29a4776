//! The facade's error type: every error of every layer, each mapped to exactly one p2p.h
//! HRESULT (the table is `docs/errors.md`).

use peergroup_identity::IdentityError;
use peergroup_pnrp::PnrpError;
use peergroup_state::StateError;

use crate::hresult::{self, Hresult};

/// Everything that can go wrong in peergroup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required argument is missing or malformed (`E_INVALIDARG`). `PeerGroupOpen` and its
    /// family check their arguments before anything else.
    #[error("invalid argument {argument}: {reason}")]
    InvalidArgument {
        /// Which argument (`identity`, `group`, `cloud`, ...).
        argument: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An error of the identity layer.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// An error of the cloud layer.
    #[error(transparent)]
    Cloud(#[from] PnrpError),
    /// An error of the group state layer.
    #[error(transparent)]
    State(#[from] StateError),
    /// More group handles open in this process than the limit (`E_OUTOFMEMORY`).
    #[error("{open} group handles are open in this process; at most {max} are allowed")]
    TooManyHandles {
        /// Handles open now.
        open: usize,
        /// The limit.
        max: usize,
    },
    /// The asynchronous runtime for a blocking call could not start (`E_OUTOFMEMORY`).
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl Error {
    /// The p2p.h HRESULT of this error.
    pub fn hresult(&self) -> Hresult {
        match self {
            Self::InvalidArgument { .. } => hresult::E_INVALIDARG,
            Self::Identity(e) => identity_hresult(e),
            Self::Cloud(e) => cloud_hresult(e),
            Self::State(e) => state_hresult(e),
            Self::TooManyHandles { .. } | Self::Runtime(_) => hresult::E_OUTOFMEMORY,
        }
    }

    /// The symbolic name of [`Self::hresult`] (`PEER_E_NO_CLOUD`).
    pub fn name(&self) -> &'static str {
        self.hresult().name().unwrap_or("E_FAIL")
    }
}

fn identity_hresult(e: &IdentityError) -> Hresult {
    use IdentityError as E;
    match e {
        E::InvalidPeerName { .. } => hresult::PEER_E_INVALID_PEER_NAME,
        E::ClassifierTooLong { .. } => hresult::PEER_E_CLASSIFIER_TOO_LONG,
        E::InvalidClassifier { .. } => hresult::PEER_E_INVALID_CLASSIFIER,
        E::InvalidFriendlyName { .. } => hresult::PEER_E_INVALID_FRIENDLY_NAME,
        E::IdentityNotFound { .. } => hresult::PEER_E_IDENTITY_NOT_FOUND,
        E::IdentityDeleted { .. } => hresult::PEER_E_IDENTITY_DELETED,
        E::IdentityExists { .. } => hresult::PEER_E_ALREADY_EXISTS,
        E::NoKeyAccess { .. } => hresult::PEER_E_NO_KEY_ACCESS,
        // Crypto errors keep codes of their own, as the CRYPT_*/NTE_* codes of Windows.
        E::CorruptMaterial { .. } => hresult::NTE_BAD_KEYSET,
        E::BadSignature => hresult::NTE_BAD_SIGNATURE,
        E::Crypto { .. } => hresult::NTE_FAIL,
        E::InvalidExport { .. } | E::InvalidIdentityInfo { .. } | E::TooLarge { .. } => hresult::E_INVALIDARG,
        E::NoHome | E::Io { .. } => hresult::E_FAIL,
        // A variant added to the identity layer without a mapping here: docs/errors.md is
        // checked against this function by the tests, which name every known variant.
        _ => hresult::E_FAIL,
    }
}

fn cloud_hresult(e: &PnrpError) -> Hresult {
    use PnrpError as E;
    match e {
        E::InvalidCloudName { .. } => hresult::E_INVALIDARG,
        E::NoCloud { .. } => hresult::PEER_E_NO_CLOUD,
        E::Ambiguous { .. } => hresult::PEER_E_CLOUD_NAME_AMBIGUOUS,
        E::MalformedDescriptor { .. } => hresult::ERROR_INVALID_DATA,
        E::Config { .. } => hresult::ERROR_BAD_CONFIGURATION,
        E::Interfaces(_) => hresult::E_FAIL,
        E::Runtime(_) => hresult::E_OUTOFMEMORY,
        _ => hresult::E_FAIL,
    }
}

fn state_hresult(e: &StateError) -> Hresult {
    use StateError as E;
    match e {
        E::Identity(inner) => identity_hresult(inner),
        E::InvalidDatabase { .. } => hresult::PEER_E_INVALID_DATABASE,
        E::DatabaseTooNew { .. } | E::UnsupportedFormatVersion { .. } => hresult::PEER_E_UNSUPPORTED_VERSION,
        E::DiskFull { .. } => hresult::PEER_E_DISK_FULL,
        E::ReadOnly { .. } => hresult::PEER_E_DATABASE_ACCESSDENIED,
        E::Busy { .. } => hresult::ERROR_BUSY,
        E::Sqlite { .. } | E::Io { .. } => hresult::E_FAIL,
        E::GroupNotFound { .. } | E::MemberNotFound { .. } => hresult::PEER_E_NOT_FOUND,
        E::GroupExists { .. } => hresult::PEER_E_ALREADY_EXISTS,
        E::GroupDeleted { .. } => hresult::PEER_E_INVALID_GROUP,
        E::InvalidGroupProperties { .. } => hresult::PEER_E_INVALID_GROUP_PROPERTIES,
        E::InvalidMember { .. } | E::ChainNotTrusted { .. } => hresult::PEER_E_INVALID_CREDENTIAL,
        E::RecordNotFound { .. } => hresult::PEER_E_RECORD_NOT_FOUND,
        E::MaxRecordSizeExceeded { .. } => hresult::PEER_E_MAX_RECORD_SIZE_EXCEEDED,
        E::InvalidAttributes { .. } => hresult::PEER_E_INVALID_ATTRIBUTES,
        E::TooManyAttributes { .. } => hresult::PEER_E_TOO_MANY_ATTRIBUTES,
        E::InvalidRecordExpiration { .. } => hresult::PEER_E_INVALID_RECORD_EXPIRATION,
        E::InvalidRecord { .. } => hresult::PEER_E_INVALID_RECORD,
        E::InvalidSearch { .. } => hresult::PEER_E_INVALID_SEARCH,
        E::ChainTooLong { .. } => hresult::PEER_E_CHAIN_TOO_LONG,
        E::CircularChain { .. } => hresult::PEER_E_CIRCULAR_CHAIN_DETECTED,
        E::InvalidTimePeriod { .. } => hresult::PEER_E_INVALID_TIME_PERIOD,
        E::InvalidInvitation { .. } | E::InvitationNotForIdentity { .. } => hresult::PEER_E_INVITATION_NOT_TRUSTED,
        E::NotAuthorized { .. } => hresult::PEER_E_NOT_AUTHORIZED,
        E::InvalidCredentialInfo { .. } => hresult::PEER_E_INVALID_CREDENTIAL_INFO,
        E::GroupNotReady { .. } => hresult::PEER_E_GROUP_NOT_READY,
        E::CorruptMembership { .. } => hresult::PEER_E_CERT_STORE_CORRUPTED,
        E::InvalidConfig { .. } | E::InputTooLarge { .. } => hresult::E_INVALIDARG,
        _ => hresult::E_FAIL,
    }
}

/// The facade's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
