//! Peer names in clouds (`PeerPnrpRegister`, `PeerPnrpUpdateRegistration`,
//! `PeerPnrpUnregister`, `PeerPnrpResolve`) in DNS clouds, on the link and in `Global_`: the
//! pnrp layer's registrations, with the proofs of secure peer names made and checked with
//! peergroup identities (where the medium carries them: not the DHT of `Global_`).
//!
//! A proof is the identity's certificate (DER, behind its 2-byte big-endian length) followed by
//! the identity's signature of the bytes pnrp gives (`docs/clouds.md`, "Proof of a secure
//! peer name"). It verifies when the certificate is a valid identity certificate, names the
//! peer name asked for (whose authority is the hash of the certificate's key), and the
//! signature verifies with that key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peergroup_identity::{Identity, IdentityInfo, Keystore, PeerName};
use peergroup_pnrp::{
    CloudMedia, CloudName, DhtMedium, DnsMedium, EndpointInfo, MdnsMedium, Medium, ProofError, ProofSigner,
    ProofVerifier, Publication, Registration,
};

use crate::context::Context;
use crate::error::{Error, Result};

/// The first two bytes of a group name's proof (an identity proof starts with its
/// certificate's length, which is never 0xFFFF: a proof is at most 4 KiB).
const GROUP_PROOF: [u8; 2] = [0xFF, 0xFF];

/// The group peer names this process may prove, each by a member: its identity (which signs)
/// and its membership chain (which shows that the group's root admitted that identity).
#[derive(Default)]
pub(crate) struct GroupSigners(Mutex<HashMap<String, Signer>>);

/// A member that proves a group's name: its identity and its membership chain (DER, root first).
type Signer = (Identity, Vec<Vec<u8>>);

impl std::fmt::Debug for GroupSigners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let groups = self.0.lock().map(|g| g.len()).unwrap_or(0);
        f.debug_struct("GroupSigners").field("groups", &groups).finish()
    }
}

impl GroupSigners {
    /// Lets `identity` prove `group`'s name with its membership `chain` (DER, root first).
    pub(crate) fn allow(&self, group: &PeerName, identity: Identity, chain: Vec<Vec<u8>>) {
        // A poisoned map holds whole entries only.
        let mut map = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.insert(group.to_string(), (identity, chain));
    }

    fn get(&self, group: &str) -> Option<Signer> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(group).cloned()
    }
}

/// Signs with the identities of a keystore: a secure peer name is provable when the keystore
/// holds its identity and its key is usable, and a group's peer name when a member of it on
/// this host connected it (the member's identity signs; its membership chain goes with the
/// signature).
#[derive(Debug, Clone)]
pub struct KeystoreProofs {
    keystore: Keystore,
    groups: Arc<GroupSigners>,
}

impl KeystoreProofs {
    /// Proofs made with the identities of `keystore`.
    pub fn new(keystore: Keystore) -> Self {
        Self { keystore, groups: Arc::default() }
    }

    pub(crate) fn with_groups(keystore: Keystore, groups: Arc<GroupSigners>) -> Self {
        Self { keystore, groups }
    }
}

/// A group name's proof: the marker, the chain (a count, then each certificate behind its
/// 2-byte length), then the member's signature.
fn group_proof(identity: &Identity, chain: &[Vec<u8>], message: &[u8]) -> std::result::Result<Vec<u8>, ProofError> {
    let count = u8::try_from(chain.len()).map_err(|_| ProofError { reason: "a chain too long".into() })?;
    let mut proof = GROUP_PROOF.to_vec();
    proof.push(count);
    for cert in chain {
        let len = u16::try_from(cert.len())
            .map_err(|_| ProofError { reason: format!("a certificate of {} bytes", cert.len()) })?;
        proof.extend_from_slice(&len.to_be_bytes());
        proof.extend_from_slice(cert);
    }
    proof.extend_from_slice(&identity.sign(message).map_err(|e| ProofError { reason: e.to_string() })?);
    Ok(proof)
}

/// Checks a group name's proof: the chain holds for the group now, and its last certificate's
/// key made the signature.
fn check_group_proof(peer_name: &str, message: &[u8], proof: &[u8]) -> bool {
    let Ok(group) = PeerName::parse(peer_name) else { return false };
    let Some((&count, mut rest)) = proof.split_first() else { return false };
    let mut chain = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else { return false };
        let Some((cert, tail)) = tail.split_at_checked(usize::from(u16::from_be_bytes(*len))) else { return false };
        chain.push(cert);
        rest = tail;
    }
    let Ok(chain) = peergroup_security::validate_chain(&chain, Some(&group), Some(std::time::SystemTime::now())) else {
        return false;
    };
    let Ok(key) = peergroup_identity::default_provider().verifying_key(&chain.leaf().public_key) else { return false };
    key.verify(message, rest).is_ok()
}

impl ProofSigner for KeystoreProofs {
    fn prove(&self, peer_name: &str, message: &[u8]) -> std::result::Result<Vec<u8>, ProofError> {
        if let Some((identity, chain)) = self.groups.get(peer_name) {
            return group_proof(&identity, &chain, message);
        }
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
        if *len == GROUP_PROOF {
            return check_group_proof(peer_name, message, rest);
        }
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
            Arc::new(KeystoreProofs::with_groups(self.keystore().clone(), self.group_signers())),
            Arc::new(CertificateProofs),
        )
    }

    /// The multicast DNS medium of this context (one per context, started on first use),
    /// with the same proofs as [`Self::dns_medium`].
    pub fn mdns_medium(&self) -> Arc<MdnsMedium> {
        self.mdns
            .get_or_init(|| {
                Arc::new(MdnsMedium::new(
                    Arc::new(KeystoreProofs::with_groups(self.keystore().clone(), self.group_signers())),
                    Arc::new(CertificateProofs),
                ))
            })
            .clone()
    }

    /// The Mainline DHT medium of `Global_` (one per context, its node started on first use),
    /// with the `[global]` settings ([`Self::global_config`]).
    pub fn dht_medium(&self) -> Arc<DhtMedium> {
        self.dht.get_or_init(|| Arc::new(DhtMedium::new(self.global_config().clone()))).clone()
    }

    /// Every medium: DNS clouds through [`Self::dns_medium`], link-local and site-local
    /// clouds through [`Self::mdns_medium`], `Global_` through [`Self::dht_medium`].
    pub fn cloud_media(&self) -> CloudMedia {
        CloudMedia::new(self.dns_medium(), self.mdns_medium(), self.dht_medium())
    }

    /// Registers `peer_name` with its endpoints in a cloud (`PeerPnrpRegister`): a DNS cloud
    /// (signed dynamic updates), a link-local or site-local cloud (multicast DNS on its
    /// interface), or `Global_` (an announcement on the Mainline DHT: the endpoints' one port,
    /// at the address the DHT sees; no comment, no proof). The cloud name is resolved as
    /// callers' names are. The records are published at once, then kept published until the
    /// registration is unregistered or dropped. A secure peer name needs its identity in this
    /// keystore where the medium carries a proof. Runs in a Tokio runtime (the registration
    /// refreshes itself on it).
    pub async fn pnrp_register(
        &self,
        peer_name: &str,
        cloud: &str,
        endpoints: Vec<SocketAddr>,
        comment: &str,
    ) -> Result<Registration<CloudMedia>> {
        // A malformed name is that, whatever the cloud.
        peergroup_pnrp::validate_peer_name(peer_name)?;
        let cloud = self.registration_cloud(cloud).await?;
        let publication = Publication::new(cloud, peer_name, endpoints, comment)?;
        Ok(peergroup_pnrp::register(Arc::new(self.cloud_media()), publication).await?)
    }

    /// Resolves `peer_name` in a cloud (`PeerPnrpResolve`): at most `max` registrations whose
    /// proof holds, found within `timeout`. None found is `PEER_E_NOT_FOUND`. On the link
    /// the resolution listens for the whole `timeout` unless `max` are found before.
    pub async fn pnrp_resolve(
        &self,
        peer_name: &str,
        cloud: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        peergroup_pnrp::validate_peer_name(peer_name)?;
        let cloud = self.registration_cloud(cloud).await?;
        let found = self.cloud_media().resolve(peer_name, &cloud, max, timeout).await?;
        if found.is_empty() {
            return Err(Error::NotFound { what: "peer name", name: peer_name.to_owned() });
        }
        Ok(found)
    }

    /// The streaming form of [`Self::pnrp_resolve`] (`PeerPnrpStartResolve`): `found` gets each
    /// registration as soon as it is known (on the link, as the answers come), at most `max`;
    /// none found is not an error here.
    pub async fn pnrp_resolve_each(
        &self,
        peer_name: &str,
        cloud: &str,
        max: usize,
        timeout: Duration,
        found: &mut (dyn FnMut(EndpointInfo) + Send),
    ) -> Result<()> {
        peergroup_pnrp::validate_peer_name(peer_name)?;
        let cloud = self.registration_cloud(cloud).await?;
        Ok(self.cloud_media().resolve_each(peer_name, &cloud, max, timeout, found).await?)
    }

    /// This host's endpoints in `cloud` at `port`, for a registration whose caller names none
    /// (`peergroup_pnrp::cloud_endpoints`: the interface's link-local or unique-local addresses
    /// for an interface cloud, the routable ones otherwise). Empty when the host has none there.
    pub async fn local_endpoints(&self, cloud: &str, port: u16) -> Result<Vec<SocketAddr>> {
        let cloud = self.registration_cloud(cloud).await?;
        let interfaces = self.interfaces().interfaces()?;
        Ok(peergroup_pnrp::cloud_endpoints(&cloud, &interfaces, port))
    }

    async fn registration_cloud(&self, cloud: &str) -> Result<CloudName> {
        Ok(self.resolve_cloud(Some(cloud)).await?.name)
    }
}
