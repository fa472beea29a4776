//! An identity: a peer name with its certificate, and a private key decoded on first use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::error::{IdentityError, Result};
use crate::peer_name::PeerName;
use crate::provider::{CryptoProvider, SigningKey, default_provider};
use crate::x509::{self, OID_COMMON_NAME, OID_NAME, VerifiedCertificate};

/// The longest friendly name, in UTF-16 code units (as Windows' `PEER_MAX_FRIENDLY_NAME`... of 256).
pub const MAX_FRIENDLY_NAME_UTF16: usize = 256;

/// The largest identity-info document [`IdentityInfo::from_xml`] reads.
pub const MAX_IDENTITY_INFO_LEN: usize = 64 * 1024;

/// Checks a friendly name: at most [`MAX_FRIENDLY_NAME_UTF16`] UTF-16 units, no control characters.
pub fn validate_friendly_name(name: &str) -> Result<()> {
    if name.len() > 4 * MAX_FRIENDLY_NAME_UTF16 || name.encode_utf16().count() > MAX_FRIENDLY_NAME_UTF16 {
        return Err(IdentityError::InvalidFriendlyName { reason: "longer than 256 UTF-16 code units" });
    }
    if name.chars().any(char::is_control) {
        return Err(IdentityError::InvalidFriendlyName { reason: "contains a control character" });
    }
    Ok(())
}

/// The public part of an identity: what an inviter needs (the counterpart of
/// `PeerIdentityGetXML`). Every value here comes from a certificate whose self-signature
/// verified and whose key owns the peer name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    peer_name: PeerName,
    friendly_name: String,
    certificate: Vec<u8>,
    public_key: Vec<u8>,
}

impl IdentityInfo {
    /// Verifies an identity certificate (DER) and reads the identity from it.
    pub fn from_certificate(der: &[u8]) -> Result<Self> {
        Self::from_certificate_with(der, default_provider())
            .map_err(|reason| IdentityError::corrupt("<memory>", reason))
    }

    pub(crate) fn from_certificate_with(
        der: &[u8],
        provider: &dyn CryptoProvider,
    ) -> std::result::Result<Self, String> {
        let cert: VerifiedCertificate = x509::parse_and_verify(der, None, provider)?;
        let cn = cert.subject_attr(&OID_COMMON_NAME).ok_or("certificate has no common name")?;
        let peer_name = PeerName::parse(cn).map_err(|e| format!("common name is not a peer name: {e}"))?;
        if !peer_name.is_owned_by(&cert.public_key) {
            return Err(format!("peer name {peer_name} does not belong to the certificate's key"));
        }
        let friendly_name = cert.subject_attr(&OID_NAME).unwrap_or(peer_name.classifier()).to_owned();
        Ok(Self { peer_name, friendly_name, certificate: der.to_vec(), public_key: cert.public_key })
    }

    /// The peer name.
    pub fn peer_name(&self) -> &PeerName {
        &self.peer_name
    }

    /// The friendly name.
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// The identity certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The public key, DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_key
    }

    /// Checks a signature made by this identity.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        default_provider().verifying_key(&self.public_key)?.verify(message, signature)
    }

    /// The XML form Windows' `PeerIdentityGetXML` produced: the certificate in base64, no
    /// XML declaration.
    pub fn to_xml(&self) -> String {
        crate::info_xml::write(&self.certificate)
    }

    /// Reads the form [`Self::to_xml`] writes, with or without an XML declaration
    /// (`<?xml version="1.0" encoding="utf-8"?>`), and verifies the certificate in it.
    /// [`IdentityError::InvalidIdentityInfo`] says what is wrong with a document that is not
    /// well formed, is not that form, or carries an invalid certificate.
    pub fn from_xml(xml: &str) -> Result<Self> {
        if xml.len() > MAX_IDENTITY_INFO_LEN {
            return Err(IdentityError::TooLarge { what: "identity info", len: xml.len(), max: MAX_IDENTITY_INFO_LEN });
        }
        let invalid = |reason: String| IdentityError::InvalidIdentityInfo { reason };
        let der = crate::info_xml::read(xml).map_err(invalid)?;
        Self::from_certificate_with(&der, default_provider()).map_err(|e| invalid(format!("certificate: {e}")))
    }
}

/// An identity of the keystore. Cloning is cheap; clones share the decoded key.
///
/// Getting an identity checks the key file's access rules and verifies the certificate, but
/// does not decode the private key: that happens on the first [`Identity::sign`].
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

struct Inner {
    info: IdentityInfo,
    key_path: PathBuf,
    provider: &'static dyn CryptoProvider,
    key: OnceLock<Box<dyn SigningKey>>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("peer_name", &self.inner.info.peer_name)
            .field("friendly_name", &self.inner.info.friendly_name)
            .field("key_path", &self.inner.key_path)
            .finish_non_exhaustive()
    }
}

impl Identity {
    pub(crate) fn new(
        info: IdentityInfo,
        key_path: PathBuf,
        provider: &'static dyn CryptoProvider,
        key: Option<Box<dyn SigningKey>>,
    ) -> Self {
        let key = key.map(OnceLock::from).unwrap_or_default();
        Self { inner: Arc::new(Inner { info, key_path, provider, key }) }
    }

    /// The peer name.
    pub fn peer_name(&self) -> &PeerName {
        &self.inner.info.peer_name
    }

    /// The friendly name.
    pub fn friendly_name(&self) -> &str {
        &self.inner.info.friendly_name
    }

    /// The public part (certificate, key, names).
    pub fn info(&self) -> &IdentityInfo {
        &self.inner.info
    }

    /// The identity certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.inner.info.certificate
    }

    /// The public key, DER `SubjectPublicKeyInfo`.
    pub fn public_key_der(&self) -> &[u8] {
        &self.inner.info.public_key
    }

    /// Where the private key is kept.
    pub fn key_path(&self) -> &Path {
        &self.inner.key_path
    }

    /// The crypto provider this identity signs with.
    pub fn provider(&self) -> &'static dyn CryptoProvider {
        self.inner.provider
    }

    /// The private key, decoded on first use after checking the file's access rules.
    /// [`IdentityError::NoKeyAccess`] if the rules are broken, [`IdentityError::CorruptMaterial`]
    /// if the key does not decode or does not match the certificate.
    pub fn signing_key(&self) -> Result<&dyn SigningKey> {
        if let Some(key) = self.inner.key.get() {
            return Ok(key.as_ref());
        }
        let dir = self.inner.key_path.parent().unwrap_or(&self.inner.key_path);
        let load = || load_signing_key(&self.inner.key_path, self.inner.provider, &self.inner.info.public_key);
        let Some(key) = crate::keystore::read_whole(dir, load)? else {
            return Err(IdentityError::IdentityDeleted { name: self.inner.info.peer_name.to_string() });
        };
        // Two threads may race to decode; either result is the same key.
        Ok(self.inner.key.get_or_init(|| key).as_ref())
    }

    /// Signs `message` (RSA PKCS#1 v1.5, SHA-256).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.signing_key()?.sign(message)
    }

    /// Checks a signature made by this identity.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        self.inner.provider.verifying_key(&self.inner.info.public_key)?.verify(message, signature)
    }
}

/// Reads, checks and decodes a private key file; its public half must equal `expected_spki`.
pub fn load_signing_key(
    path: &Path,
    provider: &dyn CryptoProvider,
    expected_spki: &[u8],
) -> Result<Box<dyn SigningKey>> {
    let der = crate::secure_fs::read_private_file(path)?;
    decode_signing_key(path, &der, provider, expected_spki)
}

/// Decodes the private key read from `path`; its public half must equal `expected_spki`.
pub(crate) fn decode_signing_key(
    path: &Path,
    der: &[u8],
    provider: &dyn CryptoProvider,
    expected_spki: &[u8],
) -> Result<Box<dyn SigningKey>> {
    let key = provider
        .signing_key(der)
        .map_err(|e| IdentityError::corrupt(path, format!("private key does not decode: {e}")))?;
    if key.public_key_der() != expected_spki {
        return Err(IdentityError::corrupt(path, "private key does not match the certificate"));
    }
    Ok(key)
}
