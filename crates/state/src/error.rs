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
}

/// The group state layer's result type.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
