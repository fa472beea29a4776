//! The crypto provider seam: who generates keys, signs and verifies.
//!
//! peergroup signs every record, so signing is on the hot path. Like rustls, this crate keeps
//! the arithmetic behind a small trait with more than one implementation:
//! - [`AWS_LC`] (cargo feature `aws-lc-rs`, on by default): AWS-LC, constant time, as fast as
//!   OpenSSL;
//! - [`RUST_CRYPTO`] (cargo feature `rust-crypto`): pure Rust on the `rsa` crate.
//!
//! Both produce and accept the same bytes (RSA-2048, PKCS#1 v1.5 with SHA-256, keys as
//! PKCS#8 DER, public keys as DER `SubjectPublicKeyInfo`), so keystores and signatures are
//! interchangeable between them.

#[cfg(feature = "aws-lc-rs")]
mod aws_lc;
#[cfg(feature = "rust-crypto")]
mod rust_crypto;

#[cfg(feature = "aws-lc-rs")]
pub use aws_lc::AWS_LC;
#[cfg(feature = "rust-crypto")]
pub use rust_crypto::RUST_CRYPTO;

use std::fmt;

use zeroize::Zeroizing;

use crate::error::Result;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!("peergroup-identity needs a crypto provider: enable feature `aws-lc-rs` or `rust-crypto`");

/// The size of every key peergroup generates.
pub const RSA_KEY_BITS: usize = 2048;

/// A PKCS#8 DER private key, wiped from memory when dropped.
pub type Pkcs8Der = Zeroizing<Vec<u8>>;

/// Generates RSA keys and makes signing and verifying keys from their encodings.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short name for messages (`aws-lc-rs`, `rust-crypto`).
    fn name(&self) -> &'static str;
    /// Generates an RSA-2048 key pair.
    fn generate_key(&self) -> Result<Pkcs8Der>;
    /// Decodes a PKCS#8 DER RSA private key for signing.
    fn signing_key(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>>;
    /// Decodes a DER `SubjectPublicKeyInfo` RSA public key for verifying.
    fn verifying_key(&self, spki_der: &[u8]) -> Result<Box<dyn VerifyingKey>>;
}

/// A private key ready to sign (RSA PKCS#1 v1.5, SHA-256).
pub trait SigningKey: Send + Sync + fmt::Debug {
    /// Signs `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// Signs `message` with RSA-PSS, SHA-256, a 32-byte salt and MGF1 with SHA-256: TLS 1.3's
    /// `rsa_pss_rsae_sha256`, the scheme member links sign their handshakes with (TLS 1.3
    /// refuses PKCS#1 v1.5 there).
    fn sign_pss_sha256(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// The public half as DER `SubjectPublicKeyInfo`.
    fn public_key_der(&self) -> &[u8];
}

/// A public key ready to verify (RSA PKCS#1 v1.5, SHA-256).
pub trait VerifyingKey: Send + Sync + fmt::Debug {
    /// Checks `signature` over `message`; [`crate::IdentityError::BadSignature`] if it does not verify.
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()>;
}

/// The provider used where none is named: AWS-LC when compiled in, else the `rsa` crate.
pub fn default_provider() -> &'static dyn CryptoProvider {
    #[cfg(feature = "aws-lc-rs")]
    {
        &AWS_LC
    }
    #[cfg(not(feature = "aws-lc-rs"))]
    {
        &RUST_CRYPTO
    }
}

/// Every provider compiled into this build, default first.
pub fn providers() -> Vec<&'static dyn CryptoProvider> {
    let all: [Option<&'static dyn CryptoProvider>; 2] = [
        #[cfg(feature = "aws-lc-rs")]
        Some(&AWS_LC),
        #[cfg(not(feature = "aws-lc-rs"))]
        None,
        #[cfg(feature = "rust-crypto")]
        Some(&RUST_CRYPTO),
        #[cfg(not(feature = "rust-crypto"))]
        None,
    ];
    all.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityError;

    #[test]
    fn every_provider_signs_what_every_provider_verifies() {
        for signer in providers() {
            let key = crate::testing::key(0);
            let sk = signer.signing_key(&key).unwrap();
            let sig = sk.sign(b"hello").unwrap();
            assert_eq!(sig.len(), RSA_KEY_BITS / 8);
            for verifier in providers() {
                let vk = verifier.verifying_key(sk.public_key_der()).unwrap();
                vk.verify(b"hello", &sig).unwrap();
                assert!(matches!(vk.verify(b"hellp", &sig), Err(IdentityError::BadSignature)));
                let mut bad = sig.clone();
                bad[10] ^= 1;
                assert!(matches!(vk.verify(b"hello", &bad), Err(IdentityError::BadSignature)));
                assert!(matches!(vk.verify(b"hello", &sig[1..]), Err(IdentityError::BadSignature)));
            }
        }
    }

    /// TLS 1.3's `rsa_pss_rsae_sha256`, checked by AWS-LC's own PSS verifier (what rustls
    /// uses on the other side of a member link).
    #[cfg(feature = "aws-lc-rs")]
    #[test]
    fn every_provider_signs_pss_that_aws_lc_verifies() {
        use aws_lc_rs::signature::{ParsedPublicKey, RSA_PSS_2048_8192_SHA256};
        for signer in providers() {
            let sk = signer.signing_key(&crate::testing::key(0)).unwrap();
            let sig = sk.sign_pss_sha256(b"handshake").unwrap();
            assert_eq!(sig.len(), RSA_KEY_BITS / 8);
            let vk = ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, sk.public_key_der()).unwrap();
            vk.verify_sig(b"handshake", &sig).unwrap();
            assert!(vk.verify_sig(b"handshakf", &sig).is_err());
            assert_ne!(sig, sk.sign_pss_sha256(b"handshake").unwrap(), "PSS is randomised");
        }
    }

    #[test]
    fn providers_agree_on_public_keys_and_generate_usable_keys() {
        let all = providers();
        let key = crate::testing::key(1);
        let spkis: Vec<Vec<u8>> = all.iter().map(|p| p.signing_key(&key).unwrap().public_key_der().to_vec()).collect();
        assert!(spkis.windows(2).all(|w| w[0] == w[1]));
        for p in all {
            let fresh = p.generate_key().unwrap();
            for q in providers() {
                q.signing_key(&fresh).unwrap();
            }
        }
    }

    #[test]
    fn garbage_keys_are_refused() {
        for p in providers() {
            assert!(p.signing_key(b"not a key").is_err());
            assert!(p.verifying_key(b"not a key").is_err());
            let key = crate::testing::key(0);
            assert!(p.signing_key(&key[..key.len() / 2]).is_err());
        }
    }
}
