//! The proof that a secure peer name's identity made a registration, behind two small traits:
//! pnrp knows no keys and no certificates (it does not depend on `peergroup-identity`); the
//! facade implements them with the identity crate.

use std::fmt;

use crate::announce::{Announcement, MAX_PROOF_LEN, Placement, validate_peer_name};
use crate::error::{PnrpError, Result};
use crate::registration::{Publication, unix_now};

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

/// The announcement of a TXT record found by resolution at `record` (named in errors) when it
/// is well formed, for `peer_name`, not expired at `now` (Unix seconds), and, for a secure
/// name, proven at its placement; `None` drops it. Every medium's resolver uses this.
pub(crate) fn accept_announcement(
    record: &str,
    strings: &[Vec<u8>],
    peer_name: &str,
    at: Placement<'_>,
    verifier: &dyn ProofVerifier,
    now: u64,
) -> Option<Announcement> {
    let a = Announcement::parse_txt(record, strings).ok()?;
    if a.peer_name != peer_name || a.expires <= now {
        return None;
    }
    if validate_peer_name(peer_name).ok()? && !verifier.verify(peer_name, &a.signed_bytes(at), &a.proof) {
        return None;
    }
    Some(a)
}

/// The announcement of `p` placed `at`, expiring one TTL from now, with the proof of a secure
/// name when `sign` (a withdrawal needs none). Every medium's publisher uses this.
pub(crate) fn announcement_of(
    p: &Publication,
    at: Placement<'_>,
    signer: &dyn ProofSigner,
    sign: bool,
) -> Result<Announcement> {
    let mut announcement = Announcement {
        peer_name: p.peer_name.clone(),
        endpoints: p.endpoints.clone(),
        comment: p.comment.clone(),
        expires: unix_now() + p.ttl.as_secs(),
        proof: Vec::new(),
    };
    if validate_peer_name(&p.peer_name)? && sign {
        let proof = signer
            .prove(&p.peer_name, &announcement.signed_bytes(at))
            .map_err(|source| PnrpError::Proof { peer_name: p.peer_name.clone(), source })?;
        if proof.len() > MAX_PROOF_LEN {
            return Err(PnrpError::Proof {
                peer_name: p.peer_name.clone(),
                source: ProofError { reason: format!("a proof of {} bytes", proof.len()) },
            });
        }
        announcement.proof = proof;
    }
    Ok(announcement)
}
