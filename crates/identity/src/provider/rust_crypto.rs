use rsa::pkcs1v15;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::signature::{Signer, Verifier};
use rsa::traits::PublicKeyParts;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{CryptoProvider, Pkcs8Der, SigningKey, VerifyingKey};
use crate::error::{IdentityError, Result};

/// The pure-Rust provider on the `rsa` crate (cargo feature `rust-crypto`).
pub static RUST_CRYPTO: RustCrypto = RustCrypto;

/// See [`RUST_CRYPTO`].
#[derive(Debug, Clone, Copy)]
pub struct RustCrypto;

const NAME: &str = "rust-crypto";

fn crypto(what: impl std::fmt::Display) -> IdentityError {
    IdentityError::Crypto { provider: NAME, what: what.to_string() }
}

impl CryptoProvider for RustCrypto {
    fn name(&self) -> &'static str {
        NAME
    }

    fn generate_key(&self) -> Result<Pkcs8Der> {
        let key = rsa::PrivateKey::new(&mut rand::rng(), super::RSA_KEY_BITS)
            .map_err(|e| crypto(format!("key generation: {e}")))?;
        let der = key.to_pkcs8_der().map_err(|e| crypto(format!("key encoding: {e}")))?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }

    fn signing_key(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>> {
        let key =
            rsa::PrivateKey::from_pkcs8_der(pkcs8_der).map_err(|e| crypto(format!("private key rejected: {e}")))?;
        if key.size() * 8 != super::RSA_KEY_BITS {
            return Err(crypto(format!("key is {} bits, not {}", key.size() * 8, super::RSA_KEY_BITS)));
        }
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| crypto(format!("public key encoding: {e}")))?
            .into_vec();
        let pss = rsa::pss::SigningKey::<Sha256>::new(key.clone());
        Ok(Box::new(RustCryptoSigningKey { key: pkcs1v15::SigningKey::<Sha256>::new(key), pss, spki }))
    }

    fn verifying_key(&self, spki_der: &[u8]) -> Result<Box<dyn VerifyingKey>> {
        let key =
            rsa::PublicKey::from_public_key_der(spki_der).map_err(|e| crypto(format!("public key rejected: {e}")))?;
        Ok(Box::new(RustCryptoVerifyingKey { key: pkcs1v15::VerifyingKey::<Sha256>::new(key) }))
    }
}

struct RustCryptoSigningKey {
    key: pkcs1v15::SigningKey<Sha256>,
    pss: rsa::pss::SigningKey<Sha256>,
    spki: Vec<u8>,
}

impl std::fmt::Debug for RustCryptoSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("RustCryptoSigningKey").finish_non_exhaustive()
    }
}

impl SigningKey for RustCryptoSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let sig: pkcs1v15::Signature = self.key.try_sign(message).map_err(|e| crypto(format!("signing: {e}")))?;
        Ok(Box::<[u8]>::from(sig).into_vec())
    }

    fn sign_pss_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        use rsa::signature::RandomizedSigner;
        let sig = self.pss.try_sign_with_rng(&mut rand::rng(), message).map_err(|e| crypto(format!("signing: {e}")))?;
        Ok(Box::<[u8]>::from(sig).into_vec())
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }
}

#[derive(Debug)]
struct RustCryptoVerifyingKey {
    key: pkcs1v15::VerifyingKey<Sha256>,
}

impl VerifyingKey for RustCryptoVerifyingKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let sig = pkcs1v15::Signature::try_from(signature).map_err(|_| IdentityError::BadSignature)?;
        self.key.verify(message, &sig).map_err(|_| IdentityError::BadSignature)
    }
}
