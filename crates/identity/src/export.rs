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

/// The most memory a password-based key derivation read from a file may ask for (scrypt uses
/// `128 · r · N` bytes): 2 × what peergroup writes (N = 2^17, r = 8).
pub const MAX_KDF_MEMORY: u64 = 256 * 1024 * 1024;
/// The largest scrypt parallelisation (`p`) a file may ask for.
pub const MAX_SCRYPT_PARALLELISM: u16 = 4;
/// The most PBKDF2 iterations a file may ask for (OpenSSL writes 2048; strong settings ~600,000).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

/// Refuses a password-based encryption whose cost, read from a file, is out of bounds, before
/// any derivation runs: a crafted export must not make the reader allocate gigabytes or spin
/// for hours. Returns what is wrong.
pub fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> std::result::Result<(), String> {
    use pkcs8::pkcs5::pbes2::Kdf;
    let Some(params) = scheme.pbes2() else {
        return Err("only PBES2 encryption is accepted".into());
    };
    match &params.kdf {
        Kdf::Scrypt(scrypt) => {
            // scrypt needs N a power of two above 1, and r, p at least 1; pkcs5 overflows on N = 0.
            let n = scrypt.cost_parameter;
            if n < 2 || !n.is_power_of_two() || scrypt.block_size == 0 || scrypt.parallelization == 0 {
                return Err(format!(
                    "scrypt parameters invalid (N={n}, r={}, p={}: N a power of two above 1, r and p at least 1)",
                    scrypt.block_size, scrypt.parallelization
                ));
            }
            let memory = 128u64.saturating_mul(u64::from(scrypt.block_size)).saturating_mul(scrypt.cost_parameter);
            if memory > MAX_KDF_MEMORY || scrypt.parallelization > MAX_SCRYPT_PARALLELISM {
                return Err(format!(
                    "scrypt cost out of bounds (N={}, r={}, p={}: at most {} MiB and p ≤ {MAX_SCRYPT_PARALLELISM})",
                    scrypt.cost_parameter,
                    scrypt.block_size,
                    scrypt.parallelization,
                    MAX_KDF_MEMORY >> 20
                ));
            }
        }
        Kdf::Pbkdf2(pbkdf2) => {
            if pbkdf2.iteration_count == 0 || pbkdf2.iteration_count > MAX_PBKDF2_ITERATIONS {
                return Err(format!(
                    "PBKDF2 cost out of bounds ({} iterations, at most {MAX_PBKDF2_ITERATIONS})",
                    pbkdf2.iteration_count
                ));
            }
        }
        // `Kdf` is non-exhaustive: a derivation this build cannot bound is refused.
        _ => return Err("unsupported key derivation".into()),
    }
    Ok(())
}

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
    check_kdf_cost(&encrypted.encryption_algorithm).map_err(invalid)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::pkcs5::{EncryptionScheme, pbes2, scrypt};

    fn scrypt(log_n: u8, r: u32, p: u32) -> EncryptionScheme {
        let params = scrypt::Params::new(log_n, r, p).unwrap_or_else(|e| panic!("{e}"));
        pbes2::Parameters::scrypt_aes256gcm(params, &[7; 16], [1; 12]).unwrap_or_else(|e| panic!("{e}")).into()
    }

    #[test]
    fn kdf_costs_from_files_are_bounded() {
        assert_eq!(check_kdf_cost(&scrypt(17, 8, 1)), Ok(())); // what peergroup writes
        assert_eq!(check_kdf_cost(&scrypt(14, 8, 1)), Ok(())); // the pkcs8 default
        let err = check_kdf_cost(&scrypt(22, 8, 1)).unwrap_err(); // 4 GiB
        assert!(err.contains("scrypt cost out of bounds"), "{err}");
        assert!(check_kdf_cost(&scrypt(14, 8, 64)).is_err());
    }

    #[test]
    fn degenerate_scrypt_parameters_are_refused_before_pkcs5_sees_them() {
        // The fuzzer's find: N = 0 made pkcs5 0.8 subtract with overflow while converting.
        let mut scheme = scrypt(14, 8, 1);
        for (n, r, p) in [(0u64, 8u16, 1u16), (1, 8, 1), (3000, 8, 1), (1 << 14, 0, 1), (1 << 14, 8, 0)] {
            if let EncryptionScheme::Pbes2(params) = &mut scheme
                && let pbes2::Kdf::Scrypt(s) = &mut params.kdf
            {
                s.cost_parameter = n;
                s.block_size = r;
                s.parallelization = p;
            }
            let err = check_kdf_cost(&scheme).unwrap_err();
            assert!(err.contains("scrypt parameters invalid"), "{n} {r} {p}: {err}");
        }
    }
}
