//! Peer names in clouds (`PeerPnrpRegister`, `PeerPnrpUpdateRegistration`,
//! `PeerPnrpUnregister`, `PeerPnrpResolve`) for DNS clouds: the pnrp layer's registrations,
//! with the proofs of secure peer names made and checked with peergroup identities.
//!
//! A proof is the identity's certificate (DER, behind its 2-byte big-endian length) followed by
//! the identity's signature of the bytes pnrp gives (`docs/clouds.md`, "Proof of a secure
//! peer name"). It verifies when the certificate is a valid identity certificate, names the
//! peer name asked for (whose authority is the hash of the certificate's key), and the
//! signature verifies with that key.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use peergroup_identity::{IdentityInfo, Keystore, PeerName};
use peergroup_pnrp::{
    CloudName, DnsMedium, EndpointInfo, Medium, ProofError, ProofSigner, ProofVerifier, Publication, Registration,
};

use crate::context::Context;
use crate::error::{Error, Result};

/// Signs with the identities of a keystore: a secure peer name is provable when the keystore
/// holds its identity and its key is usable.
#[derive(Debug, Clone)]
pub struct KeystoreProofs {
    keystore: Keystore,
}

impl KeystoreProofs {
    /// Proofs made with the identities of `keystore`.
    pub fn new(keystore: Keystore) -> Self {
        Self { keystore }
    }
}

impl ProofSigner for KeystoreProofs {
    fn prove(&self, peer_name: &str, message: &[u8]) -> std::result::Result<Vec<u8>, ProofError> {
        let fail = |e: peergroup_identity::IdentityError| ProofError { reason: e.to_string() };
        let name = PeerName::parse(peer_name).map_err(fail)?;
        let identity = self.keystore.get(&name).map_err(fail)?;
        let cert = identity.certificate_der();
        let len = u16::try_from(cert.len())
            .map_err(|_| ProofError { reason: format!("a certificate of {} bytes", cert.len()) })?;
        let signature = identity.sign(message).map_err(fail)?;
        let mut proof = Vec::with_capacity(2 + cert.len() + signature.len());
        proof.extend_from_slice(&len.to_be_bytes());
        proof.extend_from_slice(cert);
        proof.extend_from_slice(&signature);
        Ok(proof)
    }
}

/// Checks proofs made by [`KeystoreProofs`] (on any host).
#[derive(Debug, Clone, Copy, Default)]
pub struct CertificateProofs;

impl ProofVerifier for CertificateProofs {
    fn verify(&self, peer_name: &str, message: &[u8], proof: &[u8]) -> bool {
        let Some((len, rest)) = proof.split_first_chunk::<2>() else { return false };
        let Some((cert, signature)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len))) else {
            return false;
        };
        let Ok(info) = IdentityInfo::from_certificate(cert) else { return false };
        info.peer_name().to_string() == peer_name && info.verify(message, signature).is_ok()
    }
}

impl Context {
    /// The DNS medium of this context: its DNS settings and update keys (`config.toml`), proofs
    /// made with its keystore's identities and checked with [`CertificateProofs`].
    pub fn dns_medium(&self) -> DnsMedium {
        DnsMedium::new(
            self.resolver().config().clone(),
            Arc::new(KeystoreProofs::new(self.keystore().clone())),
            Arc::new(CertificateProofs),
        )
    }

    /// Registers `peer_name` with its endpoints in a DNS cloud (`PeerPnrpRegister`): the cloud
    /// name is resolved as callers' names are (it must be a DNS cloud), the records are
    /// published at once, then kept published until the registration is unregistered or
    /// dropped. A secure peer name needs its identity in this keystore. Runs in a Tokio
    /// runtime (the registration refreshes itself on it).
    pub async fn pnrp_register(
        &self,
        peer_name: &str,
        cloud: &str,
        endpoints: Vec<SocketAddr>,
        comment: &str,
    ) -> Result<Registration<DnsMedium>> {
        let cloud = self.dns_cloud(cloud).await?;
        let publication = Publication::new(cloud, peer_name, endpoints, comment)?;
        Ok(peergroup_pnrp::register(Arc::new(self.dns_medium()), publication).await?)
    }

    /// Resolves `peer_name` in a DNS cloud (`PeerPnrpResolve`): at most `max` registrations
    /// whose proof holds, found within `timeout`. None found is `PEER_E_NOT_FOUND`.
    pub async fn pnrp_resolve(
        &self,
        peer_name: &str,
        cloud: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        let cloud = self.dns_cloud(cloud).await?;
        let found = self.dns_medium().resolve(peer_name, &cloud, max, timeout).await?;
        if found.is_empty() {
            return Err(Error::NotFound { what: "peer name", name: peer_name.to_owned() });
        }
        Ok(found)
    }

    async fn dns_cloud(&self, cloud: &str) -> Result<CloudName> {
        let found = self.resolve_cloud(Some(cloud)).await?;
        if found.name.dns_name().is_none() {
            return Err(Error::InvalidArgument {
                argument: "cloud",
                reason: format!("{} is not a DNS cloud (registrations in other clouds come later)", found.name),
            });
        }
        Ok(found.name)
    }
}
