use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

use super::{CryptoProvider, Pkcs8Der, SigningKey, VerifyingKey};
use crate::error::{IdentityError, Result};

/// The AWS-LC provider (cargo feature `aws-lc-rs`, the default).
pub static AWS_LC: AwsLc = AwsLc;

/// See [`AWS_LC`].
#[derive(Debug, Clone, Copy)]
pub struct AwsLc;

const NAME: &str = "aws-lc-rs";

fn crypto(what: impl std::fmt::Display) -> IdentityError {
    IdentityError::Crypto { provider: NAME, what: what.to_string() }
}

impl CryptoProvider for AwsLc {
    fn name(&self) -> &'static str {
        NAME
    }

    fn generate_key(&self) -> Result<Pkcs8Der> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| crypto(format!("key generation: {e}")))?;
        let der: Pkcs8V1Der<'static> = pair.as_der().map_err(|e| crypto(format!("key encoding: {e}")))?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    fn signing_key(&self, pkcs8_der: &[u8]) -> Result<Box<dyn SigningKey>> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|e| crypto(format!("private key rejected: {e}")))?;
        if pair.public_modulus_len() * 8 != super::RSA_KEY_BITS {
            return Err(crypto(format!("key is {} bits, not {}", pair.public_modulus_len() * 8, super::RSA_KEY_BITS)));
        }
        let spki: PublicKeyX509Der<'static> =
            pair.public_key().as_der().map_err(|e| crypto(format!("public key encoding: {e}")))?;
        Ok(Box::new(AwsLcSigningKey { pair, spki: spki.as_ref().to_vec(), rng: SystemRandom::new() }))
    }

    fn verifying_key(&self, spki_der: &[u8]) -> Result<Box<dyn VerifyingKey>> {
        let key = signature::ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, spki_der)
            .map_err(|e| crypto(format!("public key rejected: {e}")))?;
        Ok(Box::new(AwsLcVerifyingKey { key }))
    }
}

struct AwsLcSigningKey {
    pair: RsaKeyPair,
    spki: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for AwsLcSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("AwsLcSigningKey").finish_non_exhaustive()
    }
}

impl SigningKey for AwsLcSigningKey {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
            .map_err(|e| crypto(format!("signing: {e}")))?;
        Ok(sig)
    }

    fn sign_pss_sha256(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&signature::RSA_PSS_SHA256, &self.rng, message, &mut sig)
            .map_err(|e| crypto(format!("signing: {e}")))?;
        Ok(sig)
    }

    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }
}

#[derive(Debug)]
struct AwsLcVerifyingKey {
    key: signature::ParsedPublicKey,
}

impl VerifyingKey for AwsLcVerifyingKey {
    fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        self.key.verify_sig(message, signature).map_err(|_| IdentityError::BadSignature)
    }
}
