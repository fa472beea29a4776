//! Group configuration export and import (`PeerGroupExportConfig` / `PeerGroupImportConfig`):
//! a password-protected text file that moves an identity's membership of a group (its chain,
//! the group's cloud and friendly name, and for the owner the group private key) to another
//! machine. The identity itself moves separately (the identity export).
//!
//! ```text
//! peergroup group config v1
//! -----BEGIN PEERGROUP CONFIG-----
//! <base64 of EncryptedConfig>
//! -----END PEERGROUP CONFIG-----
//! ```
//!
//! ```text
//! EncryptedConfig ::= SEQUENCE {
//!     encryptionAlgorithm  AlgorithmIdentifier, -- PBES2: scrypt (N=2^17, r=8, p=1) + AES-256-GCM
//!     encryptedData        OCTET STRING }       -- GCM ciphertext and tag of DER Config
//! Config ::= SEQUENCE {
//!     version            INTEGER,     -- 1
//!     identityPeerName   UTF8String,
//!     groupFriendlyName  UTF8String,
//!     cloudName          UTF8String,
//!     cloudScope         INTEGER,
//!     cloudFlags         INTEGER,
//!     synchronized       BOOLEAN,
//!     chain              SEQUENCE OF OCTET STRING, -- DER certificates, GRC first
//!     groupKey           OCTET STRING OPTIONAL }   -- PKCS#8 DER, the owner's only
//! ```
//!
//! AES-GCM authenticates: a wrong password and any altered byte are both refused, and nothing
//! of the file (not even the group's name) can be read without the password.

use der::asn1::OctetString;
use der::{Decode, Encode, Sequence};
use peergroup_identity::provider::Pkcs8Der;
use peergroup_identity::x509::{single_pem, to_pem};
use peergroup_identity::{MIN_PASSWORD_LEN, PeerName, check_kdf_cost, default_provider};
use pkcs8::pkcs5::EncryptionScheme;
use pkcs8::pkcs5::pbes2;
use zeroize::Zeroizing;

use crate::chain::validate_chain;
use crate::error::{Result, SecurityError};
use crate::invitation::check_cloud_fields;
use crate::membership::Membership;
use crate::properties::validate_cloud_name;

/// The largest configuration export accepted.
pub const MAX_CONFIG_LEN: usize = 128 * 1024;
/// The configuration format version this build writes and reads.
pub const CONFIG_VERSION: u8 = 1;
const HEADER: &str = "peergroup group config v1";
const LABEL: &str = "PEERGROUP CONFIG";
const MEMBERSHIP_LABEL: &str = "PEERGROUP MEMBERSHIP";

#[derive(Sequence)]
struct EncryptedConfig {
    encryption_algorithm: EncryptionScheme,
    encrypted_data: OctetString,
}

#[derive(Sequence)]
struct ConfigDer {
    version: u8,
    identity_peer_name: String,
    group_friendly_name: String,
    cloud_name: String,
    cloud_scope: u32,
    cloud_flags: u32,
    synchronized: bool,
    chain: Vec<OctetString>,
    group_key: Option<OctetString>,
}

fn invalid(reason: impl Into<String>) -> SecurityError {
    SecurityError::InvalidConfig { reason: reason.into() }
}

/// A membership read back from an export, with the group key if the exporter owned the group.
#[derive(Debug)]
pub struct ImportedConfig {
    /// The membership (chain validated for structure; times are checked on use).
    pub membership: Membership,
    /// The group private key (PKCS#8 DER), present only in the owner's export.
    pub group_key: Option<Pkcs8Der>,
}

fn to_config_der(membership: &Membership, group_key: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
    let enc = |e: der::Error| invalid(format!("encoding: {e}"));
    let config = ConfigDer {
        version: CONFIG_VERSION,
        identity_peer_name: membership.identity.to_string(),
        group_friendly_name: membership.group_friendly_name.clone(),
        cloud_name: membership.cloud.clone(),
        // Kept in the format for compatibility; the cloud is known by its name alone.
        cloud_scope: 0,
        cloud_flags: 0,
        synchronized: membership.synchronized,
        chain: membership.chain.to_der().into_iter().map(OctetString::new).collect::<der::Result<_>>().map_err(enc)?,
        group_key: group_key.map(|k| OctetString::new(k.to_vec())).transpose().map_err(enc)?,
    };
    let der = Zeroizing::new(config.to_der().map_err(enc)?);
    // The key's copy inside the encoder input is wiped too.
    drop(config.group_key.map(|k| Zeroizing::new(k.into_bytes())));
    Ok(der)
}

/// Decodes [`to_config_der`]'s output and validates it; errors are `InvalidConfig` reasons.
fn from_config_der(der: &[u8]) -> Result<ImportedConfig> {
    let config = ConfigDer::from_der(der).map_err(|e| invalid(format!("content does not decode: {e}")))?;
    if config.version != CONFIG_VERSION {
        return Err(SecurityError::UnsupportedFormatVersion {
            what: "group configuration",
            found: config.version.into(),
            supported: CONFIG_VERSION.into(),
        });
    }
    let identity =
        PeerName::parse(&config.identity_peer_name).map_err(|e| invalid(format!("identity peer name: {e}")))?;
    let chain = validate_chain(&config.chain.iter().map(OctetString::as_bytes).collect::<Vec<_>>(), None, None)?;
    if chain.len() < 2 || chain.leaf().subject != identity {
        return Err(invalid(format!("the chain does not end with a membership certificate of {identity}")));
    }
    check_cloud_fields(config.cloud_scope, config.cloud_flags).map_err(invalid)?;
    validate_cloud_name(&config.cloud_name).map_err(invalid)?;
    let cloud = config.cloud_name;
    let group_key = match config.group_key {
        None => None,
        Some(key) => {
            let key: Pkcs8Der = Zeroizing::new(key.into_bytes().into_vec());
            let signer = default_provider().signing_key(&key).map_err(|e| invalid(format!("group key: {e}")))?;
            if signer.public_key_der() != chain.root().public_key.as_slice() {
                return Err(invalid("the group key does not belong to the group root certificate"));
            }
            Some(key)
        }
    };
    let membership = Membership {
        identity,
        group_friendly_name: config.group_friendly_name,
        cloud,
        chain,
        synchronized: config.synchronized,
    };
    Ok(ImportedConfig { membership, group_key })
}

/// The membership file of the local store: the same content as an export, without key and
/// without encryption (certificates and names are public).
pub fn membership_to_pem(membership: &Membership) -> Result<String> {
    Ok(to_pem(MEMBERSHIP_LABEL, &to_config_der(membership, None)?))
}

/// Reads [`membership_to_pem`]'s output; the reason of a failure as text.
pub fn membership_from_pem(text: &str) -> std::result::Result<Membership, String> {
    if text.len() > MAX_CONFIG_LEN {
        return Err(format!("{} bytes; at most {MAX_CONFIG_LEN}", text.len()));
    }
    match from_config_der(&single_pem(MEMBERSHIP_LABEL, "membership", text)?) {
        Ok(ImportedConfig { membership, group_key: None }) => Ok(membership),
        Ok(_) => Err("a membership file holds no key".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Writes `membership` (and the owner's `group_key`) as a configuration export protected by
/// `password` (at least [`MIN_PASSWORD_LEN`] characters).
pub fn export(membership: &Membership, group_key: Option<&[u8]>, password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(invalid(format!("the password must have at least {MIN_PASSWORD_LEN} characters")));
    }
    let enc = |e: der::Error| invalid(format!("encoding: {e}"));
    let plain = to_config_der(membership, group_key)?;
    let mut salt = [0u8; 16];
    let mut nonce = [0u8; 12];
    rand::fill(&mut salt);
    rand::fill(&mut nonce);
    let params = pbes2::Parameters::scrypt_aes256gcm(Default::default(), &salt, nonce)
        .map_err(|e| invalid(format!("encryption parameters: {e}")))?;
    let ciphertext = params.encrypt(password.as_bytes(), &plain).map_err(|e| invalid(format!("encryption: {e}")))?;
    let outer = EncryptedConfig {
        encryption_algorithm: params.into(),
        encrypted_data: OctetString::new(ciphertext).map_err(enc)?,
    };
    let mut out = format!("{HEADER}\n");
    out.push_str(&to_pem(LABEL, &outer.to_der().map_err(enc)?));
    Ok(out)
}

/// Reads a configuration export: decrypts it with `password`, validates the chain's
/// structure and the group key against the root. [`SecurityError::InvalidConfig`] for a wrong
/// password or a damaged file.
pub fn import(text: &str, password: &str) -> Result<ImportedConfig> {
    if text.len() > MAX_CONFIG_LEN {
        return Err(SecurityError::InputTooLarge { what: "group configuration", len: text.len(), max: MAX_CONFIG_LEN });
    }
    if !text.trim_start().starts_with(HEADER) {
        return Err(invalid("not a peergroup group configuration export"));
    }
    let der = single_pem(LABEL, "configuration", text).map_err(invalid)?;
    let outer = EncryptedConfig::from_der(&der).map_err(|e| invalid(format!("does not decode: {e}")))?;
    if !matches!(outer.encryption_algorithm.pbes2(), Some(p) if p.kdf.is_scrypt()) {
        return Err(invalid("unsupported encryption (scrypt with AES-256-GCM expected)"));
    }
    check_kdf_cost(&outer.encryption_algorithm).map_err(invalid)?;
    let plain = Zeroizing::new(
        outer
            .encryption_algorithm
            .decrypt(password.as_bytes(), outer.encrypted_data.as_bytes())
            .map_err(|_| invalid("wrong password or damaged file"))?,
    );
    from_config_der(&plain)
}
