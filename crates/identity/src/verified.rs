//! Certificates this process has already verified, so that the same bytes are not verified
//! again: every `PeerGroupOpen` checks the identity certificate and the membership chain, and
//! each RSA verification costs about 17 µs (see `docs/PERFORMANCE.md`, "open").
//!
//! Entries are keyed by everything the result depends on, compared whole (not by a digest):
//! the provider's name, the issuer key (or none, self-signed), and the certificate's bytes.
//! Verifying a certificate involves no clock and no file, so an entry never goes stale; a
//! file that changes brings other bytes, which miss. The table is bounded: at
//! [`MAX_ENTRIES`] an entry is dropped for each one added.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, OnceLock};

use crate::x509::VerifiedCertificate;

/// The most certificates remembered (a certificate is about 1 KiB; its parsed form about as
/// much again).
pub(crate) const MAX_ENTRIES: usize = 512;

#[derive(PartialEq, Eq, Hash)]
struct Key {
    provider: &'static str,
    issuer: Option<Vec<u8>>,
    der: Vec<u8>,
}

/// The table of verified certificates (one per process).
pub(crate) struct Verified {
    entries: Mutex<HashMap<Key, VerifiedCertificate>>,
}

/// The process's table.
pub(crate) fn certificates() -> &'static Verified {
    static TABLE: OnceLock<Verified> = OnceLock::new();
    TABLE.get_or_init(|| Verified { entries: Mutex::new(HashMap::new()) })
}

impl Verified {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, VerifiedCertificate>> {
        // The map is consistent between statements, so a panic elsewhere cannot leave it half
        // changed.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The result of an earlier successful verification of exactly these arguments.
    pub(crate) fn get(&self, provider: &'static str, issuer: Option<&[u8]>, der: &[u8]) -> Option<VerifiedCertificate> {
        let key = Key { provider, issuer: issuer.map(<[u8]>::to_vec), der: der.to_vec() };
        self.lock().get(&key).cloned()
    }

    /// Remembers a successful verification.
    pub(crate) fn insert(&self, provider: &'static str, issuer: Option<&[u8]>, cert: &VerifiedCertificate) {
        let key = Key { provider, issuer: issuer.map(<[u8]>::to_vec), der: cert.der.clone() };
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES
            && !entries.contains_key(&key)
            && let Some(victim) = entries.keys().next().map(|k| Key {
                provider: k.provider,
                issuer: k.issuer.clone(),
                der: k.der.clone(),
            })
        {
            entries.remove(&victim);
        }
        entries.insert(key, cert.clone());
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::provider::default_provider;
    use crate::testing;
    use crate::x509::{CertificateTemplate, OID_COMMON_NAME, issue, parse_and_verify};

    fn self_signed(key: usize, name: &str) -> (Vec<u8>, Vec<u8>) {
        let signing = default_provider().signing_key(&testing::key(key)).unwrap();
        let public = signing.public_key_der().to_vec();
        let now = SystemTime::now();
        let template = CertificateTemplate {
            subject: vec![(OID_COMMON_NAME, name.into())],
            issuer: vec![(OID_COMMON_NAME, name.into())],
            subject_public_key: &public,
            not_before: now,
            not_after: now + Duration::from_secs(3600),
            is_ca: true,
            extensions: Vec::new(),
        };
        (issue(&template, signing.as_ref()).unwrap(), public)
    }

    #[test]
    fn a_remembered_success_never_answers_for_other_bytes_or_another_issuer() {
        let provider = default_provider();
        let (der, public) = self_signed(0, "remembered");
        let (_, other_key) = self_signed(1, "other");
        let first = parse_and_verify(&der, None, provider).unwrap();
        assert!(certificates().get(provider.name(), None, &der).is_some());
        // The same bytes again: the remembered result, identical.
        assert_eq!(parse_and_verify(&der, None, provider).unwrap().der, first.der);
        assert!(parse_and_verify(&der, Some(&public), provider).is_ok());
        // Another issuer key: not the remembered success, and the signature does not verify.
        assert!(parse_and_verify(&der, Some(&other_key), provider).is_err());
        assert!(certificates().get(provider.name(), Some(&other_key), &der).is_none());
        // One bit changed in the signature: verified again, and refused.
        let mut tampered = der.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(parse_and_verify(&tampered, None, provider).is_err());
        assert!(certificates().get(provider.name(), None, &tampered).is_none());
    }

    #[test]
    fn the_table_stays_bounded() {
        let table = Verified { entries: Mutex::new(HashMap::new()) };
        let (der, _) = self_signed(0, "bounded");
        let cert = parse_and_verify(&der, None, default_provider()).unwrap();
        for i in 0..MAX_ENTRIES + 10 {
            let mut c = cert.clone();
            c.der.extend_from_slice(&i.to_le_bytes());
            table.insert("test", None, &c);
        }
        assert_eq!(table.len(), MAX_ENTRIES);
    }
}
