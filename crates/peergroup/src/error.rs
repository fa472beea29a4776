//! The facade's error type: every error of every layer, each mapped to exactly one p2p.h
//! HRESULT (the table is `docs/errors.md`).

use std::path::PathBuf;

use peergroup_identity::IdentityError;
use peergroup_net::NetError;
use peergroup_pnrp::PnrpError;
use peergroup_security::SecurityError;
use peergroup_state::StateError;

use crate::hresult::{self, Hresult};

/// Everything that can go wrong in peergroup.
///
/// An error of a lower layer reaches this type by one path only: an identity error is always
/// [`Error::Identity`] and a security error [`Error::Security`], whichever layer carried them
/// up (the `From` conversions unwrap them).
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
    /// An error of the security layer (certificates, invitations, properties, policy, trust).
    #[error(transparent)]
    Security(SecurityError),
    /// An error of the group state layer (never one of its identity or security errors: those
    /// are [`Error::Identity`] and [`Error::Security`]).
    #[error(transparent)]
    State(StateError),
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
    /// An error of the member links (`peergroup-net`).
    #[error(transparent)]
    Net(#[from] NetError),
    /// A setting of `config.toml` that the facade reads (`[net]`) is malformed
    /// (`ERROR_BAD_CONFIGURATION`).
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key and line.
        reason: String,
    },
    /// Nothing was found (`PEER_E_NOT_FOUND`): a peer name that no one registered in the
    /// cloud, or whose registrations all failed their proof.
    #[error("{what} {name} not found")]
    NotFound {
        /// What was looked for (`peer name`).
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// No member of the group could be reached (`PEER_E_NO_MEMBERS_FOUND`): a password join
    /// found none at the addresses given or in the group's cloud.
    #[error("no member of {group} reachable in {cloud}{}", last.as_deref().map(|l| format!(" (last: {l})")).unwrap_or_default())]
    NoMembersFound {
        /// The group.
        group: String,
        /// Where it looked (a cloud name, or the addresses given).
        cloud: String,
        /// The last failure, when an address was tried.
        last: Option<String>,
    },
}

impl From<SecurityError> for Error {
    fn from(e: SecurityError) -> Self {
        match e {
            SecurityError::Identity(e) => Self::Identity(e),
            e => Self::Security(e),
        }
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Identity(e) => Self::Identity(e),
            StateError::Security(e) => e.into(),
            e => Self::State(e),
        }
    }
}

impl Error {
    /// The symbolic p2p.h name of this error's HRESULT (`PEER_E_NO_CLOUD`). Each layer names
    /// the code of each of its variants in a `match` without wildcard arm, so no variant maps
    /// to `E_FAIL` unless its layer says so (`docs/errors.md`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "E_INVALIDARG",
            Self::Identity(e) => e.p2p_code(),
            Self::Cloud(e) => e.p2p_code(),
            Self::Security(e) => e.p2p_code(),
            Self::State(e) => e.p2p_code(),
            Self::TooManyHandles { .. } | Self::Runtime(_) => "E_OUTOFMEMORY",
            Self::NotFound { .. } => "PEER_E_NOT_FOUND",
            Self::NoMembersFound { .. } => "PEER_E_NO_MEMBERS_FOUND",
            Self::Net(e) => e.p2p_code(),
            Self::Config { .. } => "ERROR_BAD_CONFIGURATION",
        }
    }

    /// The p2p.h HRESULT of this error. Every name a layer gives is in [`hresult::ALL`]
    /// (a test visits every variant of every layer); a name missing there would be `E_FAIL`.
    pub fn hresult(&self) -> Hresult {
        Hresult::from_name(self.name()).unwrap_or(hresult::E_FAIL)
    }

    /// One value of every variant of this type and of every layer's error type, for the test
    /// that each maps to its documented HRESULT.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let mut all = vec![
            Self::InvalidArgument { argument: "x", reason: String::new() },
            Self::TooManyHandles { open: 2, max: 1 },
            Self::Runtime(std::io::Error::other("x")),
            Self::NotFound { what: "peer name", name: String::new() },
            Self::Config { path: PathBuf::new(), reason: String::new() },
            Self::NoMembersFound { group: String::new(), cloud: String::new(), last: None },
        ];
        all.extend(NetError::all_variants_for_tests().into_iter().map(Self::Net));
        all.extend(IdentityError::all_variants_for_tests().into_iter().map(Self::Identity));
        all.extend(PnrpError::all_variants_for_tests().into_iter().map(Self::Cloud));
        all.extend(SecurityError::all_variants_for_tests().into_iter().map(Self::Security));
        all.extend(StateError::all_variants_for_tests().into_iter().map(Self::State));
        all
    }
}

/// The facade's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant of every layer maps to a code of the table, and only the variants whose
    /// layers document `E_FAIL` (I/O and SQLite failures, a missing home, an applier whose
    /// threads stopped) map to it.
    #[test]
    fn every_variant_of_every_layer_maps_to_its_documented_hresult() {
        let all = Error::all_variants_for_tests();
        assert!(all.len() > 55, "{} variants", all.len());
        for e in &all {
            let name = e.name();
            let hr = Hresult::from_name(name).unwrap_or_else(|| panic!("{e:?} maps to {name}, not a p2p.h code"));
            assert_eq!(e.hresult(), hr);
            if hr == hresult::E_FAIL {
                let failing_io = matches!(
                    e,
                    Error::Identity(IdentityError::Io { .. } | IdentityError::NoHome)
                        | Error::Cloud(PnrpError::Interfaces(_))
                        | Error::State(StateError::Io { .. } | StateError::Sqlite { .. } | StateError::ApplierStopped)
                        | Error::Net(NetError::Store { .. })
                );
                assert!(failing_io, "{e:?} maps to E_FAIL");
            }
        }
        let expect = |e: Error, code: Hresult| assert_eq!(e.hresult(), code, "{e:?}");
        expect(
            Error::Security(SecurityError::MemberNotTrusted { member: "m".into(), reason: "r".into() }),
            hresult::PEER_E_INVALID_CREDENTIAL,
        );
        expect(StateError::GroupNotFound { group: "g".into(), identity: "i".into() }.into(), hresult::PEER_E_NOT_FOUND);
        expect(
            PnrpError::NoCloud { name: "n".into(), cause: peergroup_pnrp::NoCloudCause::NoNameservers }.into(),
            hresult::PEER_E_NO_CLOUD,
        );
    }

    /// An identity error reaches the facade as `Error::Identity`, whichever layer carried it.
    #[test]
    fn identity_and_security_errors_have_one_path() {
        let id = || IdentityError::IdentityDeleted { name: "x".into() };
        for e in [
            Error::from(id()),
            Error::from(StateError::Identity(id())),
            Error::from(SecurityError::Identity(id())),
            Error::from(StateError::Security(SecurityError::Identity(id()))),
        ] {
            assert!(matches!(e, Error::Identity(IdentityError::IdentityDeleted { .. })), "{e:?}");
        }
        let sec = Error::from(StateError::Security(SecurityError::GroupNotReady { group: "g".into() }));
        assert!(matches!(sec, Error::Security(SecurityError::GroupNotReady { .. })), "{sec:?}");
    }
}
