//! TLS 1.3 for member links: both sides present their identity certificate and sign the
//! handshake with its key (RSA-PSS, the only RSA scheme TLS 1.3 allows); both accept any
//! well-formed identity certificate whose handshake signature verifies. Who may stay is decided
//! after the handshake, by the membership proof (`proof.rs`): TLS proves the key, the proof
//! proves the membership of that key.

use std::sync::Arc;

use peergroup_identity::{Identity, IdentityInfo};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms, verify_tls13_signature_with_raw_key};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureAlgorithm, SignatureScheme};

use crate::error::{NetError, Result};

/// The ALPN protocol of member links: the protocol and its version.
pub const ALPN: &[u8] = b"peergroup/1";

/// The server name a client asks for: the verifier ignores it (the peer's identity comes from
/// its certificate and its proof), but TLS wants one.
pub const SERVER_NAME: &str = "peergroup.invalid";

/// The schemes accepted from the other side: RSA-PSS (TLS 1.3's RSA schemes).
const SCHEMES: [SignatureScheme; 3] =
    [SignatureScheme::RSA_PSS_SHA256, SignatureScheme::RSA_PSS_SHA384, SignatureScheme::RSA_PSS_SHA512];

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms
}

/// The identity's key as rustls signs with it: RSA-PSS with SHA-256 through the identity
/// crate's provider.
#[derive(Debug)]
struct IdentityKey(Identity);

impl rustls::sign::SigningKey for IdentityKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered
            .contains(&SignatureScheme::RSA_PSS_SHA256)
            .then(|| Box::new(IdentitySigner(self.0.clone())) as Box<dyn rustls::sign::Signer>)
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        Some(SubjectPublicKeyInfoDer::from(self.0.public_key_der()))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::RSA
    }
}

#[derive(Debug)]
struct IdentitySigner(Identity);

impl rustls::sign::Signer for IdentitySigner {
    fn sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, rustls::Error> {
        self.0
            .signing_key()
            .and_then(|k| k.sign_pss_sha256(message))
            .map_err(|e| rustls::Error::General(format!("the identity key cannot sign: {e}")))
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::RSA_PSS_SHA256
    }
}

/// Accepts a certificate that is a well-formed identity certificate (its self-signature and
/// peer name checked by the identity crate), and a handshake signature made with its key.
#[derive(Debug)]
struct IdentityVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl IdentityVerifier {
    fn check_certificate(end_entity: &CertificateDer<'_>) -> std::result::Result<(), rustls::Error> {
        IdentityInfo::from_certificate(end_entity)
            .map(drop)
            .map_err(|e| rustls::Error::General(format!("not an identity certificate: {e}")))
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        let info = IdentityInfo::from_certificate(cert)
            .map_err(|e| rustls::Error::General(format!("not an identity certificate: {e}")))?;
        // The certificate is ours to parse (webpki refuses its peergroup extensions): check
        // the signature against its key alone.
        let spki = SubjectPublicKeyInfoDer::from(info.public_key_der());
        verify_tls13_signature_with_raw_key(message, &spki, dss, &self.algorithms)
    }
}

/// Only TLS 1.3 is configured: the TLS 1.2 hooks of both verifiers are never reached.
fn no_tls12() -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::General("TLS 1.2 is not used by member links".into()))
}

impl ServerCertVerifier for IdentityVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Self::check_certificate(end_entity).map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SCHEMES.to_vec()
    }
}

impl ClientCertVerifier for IdentityVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        Self::check_certificate(end_entity).map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        no_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SCHEMES.to_vec()
    }
}

fn identity_error(identity: &Identity, reason: impl std::fmt::Display) -> NetError {
    NetError::Identity { identity: identity.peer_name().to_string(), reason: reason.to_string() }
}

/// The identity's certificate and key as both TLS roles present them. Reading the key here
/// makes an unreadable key an error now rather than a failed handshake later.
fn certified_key(identity: &Identity) -> Result<Arc<SingleCertAndKey>> {
    identity.signing_key().map_err(|e| identity_error(identity, e))?;
    let cert = CertificateDer::from(identity.certificate_der().to_vec());
    let key = CertifiedKey::new(vec![cert], Arc::new(IdentityKey(identity.clone())));
    Ok(Arc::new(SingleCertAndKey::from(key)))
}

/// The server side: TLS 1.3 only, client certificates required, no session tickets (every
/// link runs a full handshake and a fresh membership proof).
pub fn server_config(identity: &Identity) -> Result<rustls::ServerConfig> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| identity_error(identity, e))?
        .with_client_cert_verifier(Arc::new(IdentityVerifier { algorithms: algorithms() }))
        .with_cert_resolver(certified_key(identity)?);
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// The client side: TLS 1.3 only, its identity certificate presented, no resumption.
pub fn client_config(identity: &Identity) -> Result<rustls::ClientConfig> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| identity_error(identity, e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(IdentityVerifier { algorithms: algorithms() }))
        .with_client_cert_resolver(certified_key(identity)?);
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}
