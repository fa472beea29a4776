//! The proof that a secure peer name's identity made a registration, behind two small traits:
//! pnrp knows no keys and no certificates (it does not depend on `peergroup-identity`); the
//! facade implements them with the identity crate.

use std::fmt;

/// Makes proofs for the peer names this process may register.
pub trait ProofSigner: Send + Sync {
    /// A proof that the identity owning `peer_name` (a secure name) signed `message`: opaque
    /// bytes (for example its certificate and a signature), at most
    /// [`crate::MAX_PROOF_LEN`] bytes, that the [`ProofVerifier`] of a resolver understands.
    fn prove(&self, peer_name: &str, message: &[u8]) -> Result<Vec<u8>, ProofError>;
}

/// Checks the proofs of secure peer names found by resolution.
pub trait ProofVerifier: Send + Sync {
    /// Whether `proof` shows that the identity owning `peer_name` signed `message` (its
    /// public key hashes to the name's authority and the signature verifies).
    fn verify(&self, peer_name: &str, message: &[u8], proof: &[u8]) -> bool;
}

/// Why a [`ProofSigner`] could not sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofError {
    /// What went wrong, for the user (never key material).
    pub reason: String,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for ProofError {}

/// A signer for processes that hold no identity: every secure name is refused. Unsecured
/// names (`0.<classifier>`) need no proof.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProofs;

impl ProofSigner for NoProofs {
    fn prove(&self, peer_name: &str, _message: &[u8]) -> Result<Vec<u8>, ProofError> {
        Err(ProofError { reason: format!("no identity here owns {peer_name}") })
    }
}

impl ProofVerifier for NoProofs {
    fn verify(&self, _peer_name: &str, _message: &[u8], _proof: &[u8]) -> bool {
        false
    }
}
