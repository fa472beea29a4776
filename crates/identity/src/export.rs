//! The identity export file: a password-protected text file holding the certificate and the
//! private key (the counterpart of the password-encrypted PFX of `PeerIdentityExport`).
//!
//! ```text
//! peergroup identity export v1
//! -----BEGIN CERTIFICATE-----              identity certificate
//! -----BEGIN ENCRYPTED PRIVATE KEY-----    PKCS#8 EncryptedPrivateKeyInfo, PBES2
//! ```
//!
//! Both blocks are standard: `openssl pkcs8 -in f` decrypts the key, `openssl x509 -in f`
//! reads the certificate.

use pkcs8::der::{Decode, Encode};
use pkcs8::{EncryptedPrivateKeyInfoOwned, PrivateKeyInfoOwned};
use zeroize::Zeroizing;

use crate::error::{IdentityError, Result};
use crate::identity::IdentityInfo;
use crate::provider::{CryptoProvider, Pkcs8Der};
use crate::x509::{single_pem, to_pem};

/// The largest export file [`crate::Keystore::import`] reads.
pub const MAX_EXPORT_LEN: usize = 64 * 1024;

/// The shortest password an export accepts.
pub const MIN_PASSWORD_LEN: usize = 8;

const HEADER: &str = "peergroup identity export v1";
const KEY_LABEL: &str = "ENCRYPTED PRIVATE KEY";
const CERT_LABEL: &str = "CERTIFICATE";

fn invalid(reason: impl Into<String>) -> IdentityError {
    IdentityError::InvalidExport { reason: reason.into() }
}

pub(crate) fn encode(certificate: &[u8], key: &[u8], password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(invalid(format!("the password must have at least {MIN_PASSWORD_LEN} characters")));
    }
    let info = PrivateKeyInfoOwned::from_der(key).map_err(|e| invalid(format!("private key: {e}")))?;
    let encrypted = info
        .encrypt_with_rng(&mut rand::rng(), password.as_bytes())
        .map_err(|e| invalid(format!("encryption: {e}")))?;
    let mut out = format!("{HEADER}\n");
    out.push_str(&to_pem(CERT_LABEL, certificate));
    out.push_str(&to_pem(KEY_LABEL, encrypted.as_bytes()));
    Ok(out)
}

pub(crate) fn decode(text: &str, password: &str, provider: &dyn CryptoProvider) -> Result<(IdentityInfo, Pkcs8Der)> {
    if text.len() > MAX_EXPORT_LEN {
        return Err(IdentityError::TooLarge { what: "identity export", len: text.len(), max: MAX_EXPORT_LEN });
    }
    if !text.trim_start().starts_with(HEADER) {
        return Err(invalid("not a peergroup identity export"));
    }
    let one = |label: &str| single_pem(label, label, text).map_err(invalid);
    let certificate = one(CERT_LABEL)?;
    let encrypted = one(KEY_LABEL)?;
    let encrypted =
        EncryptedPrivateKeyInfoOwned::from_der(&encrypted).map_err(|e| invalid(format!("key block: {e}")))?;
    let key = encrypted.decrypt(password.as_bytes()).map_err(|_| invalid("wrong password or damaged key"))?;
    let key: Pkcs8Der = Zeroizing::new(key.as_bytes().to_vec());
    // Normalise: re-encode so what is stored is exactly PKCS#8 DER.
    let key = PrivateKeyInfoOwned::from_der(&key)
        .and_then(|k| k.to_der())
        .map(Zeroizing::new)
        .map_err(|e| invalid(format!("decrypted key: {e}")))?;
    let info = IdentityInfo::from_certificate_with(&certificate, provider)
        .map_err(|e| invalid(format!("certificate: {e}")))?;
    let signer = provider.signing_key(&key).map_err(|e| invalid(format!("private key: {e}")))?;
    if signer.public_key_der() != info.public_key_der() {
        return Err(invalid("the private key does not belong to the certificate"));
    }
    Ok((info, key))
}
