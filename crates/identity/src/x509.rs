//! X.509 certificates: issued through a [`SigningKey`] of any provider, parsed and verified
//! with x509-parser.
//!
//! The identity layer uses this for self-signed identity certificates; the group layer uses
//! the same two functions for group root and membership certificates.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{BitString, GeneralizedTime, OctetString, UtcTime};
use der::{Any, Decode, Encode, Tag};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, DynSignatureAlgorithmIdentifier, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};
use x509_parser::prelude::{FromDer, X509Certificate};

pub use der::oid::ObjectIdentifier;

use crate::error::{IdentityError, Result};
use crate::provider::{CryptoProvider, SigningKey};

/// `commonName` (2.5.4.3).
pub const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// `name` (2.5.4.41): peergroup keeps an identity's friendly name here.
pub const OID_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.41");
/// `sha256WithRSAEncryption`, the only signature algorithm peergroup issues or accepts.
pub const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// "Infinite" validity, as Windows defines it: 1000 years.
pub const INFINITE_VALIDITY: Duration = Duration::from_secs(1000 * 31_556_952);

/// The largest certificate this crate parses.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;

/// What a certificate says about its subject, issued by [`issue`].
#[derive(Debug, Clone)]
pub struct CertificateTemplate<'a> {
    /// Subject name attributes, in order, each a UTF-8 string.
    pub subject: Vec<(ObjectIdentifier, String)>,
    /// Issuer name attributes (equal to `subject` for a self-signed certificate).
    pub issuer: Vec<(ObjectIdentifier, String)>,
    /// The subject's public key, DER `SubjectPublicKeyInfo`.
    pub subject_public_key: &'a [u8],
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Whether the subject may issue certificates (BasicConstraints `cA`).
    pub is_ca: bool,
    /// Further extensions: `(oid, critical, DER value)`.
    pub extensions: Vec<(ObjectIdentifier, bool, Vec<u8>)>,
}

/// Issues a certificate for `template`, signed by `issuer_key` (sha256WithRSAEncryption).
/// Returns its DER encoding.
pub fn issue(template: &CertificateTemplate<'_>, issuer_key: &dyn SigningKey) -> Result<Vec<u8>> {
    let enc = |what: &str, e: &dyn std::fmt::Display| IdentityError::Crypto {
        provider: "x509",
        what: format!("certificate encoding ({what}): {e}"),
    };
    let spki =
        SubjectPublicKeyInfoOwned::from_der(template.subject_public_key).map_err(|e| enc("subject public key", &e))?;
    let validity = Validity::new(
        to_time(template.not_before).map_err(|e| enc("not before", &e))?,
        to_time(template.not_after).map_err(|e| enc("not after", &e))?,
    );
    let mut serial = [0u8; 16];
    rand::fill(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive and of full length
    let serial = SerialNumber::new(&serial).map_err(|e| enc("serial", &e))?;
    let profile = Profile {
        subject: make_name(&template.subject).map_err(|e| enc("subject", &e))?,
        issuer: make_name(&template.issuer).map_err(|e| enc("issuer", &e))?,
        is_ca: template.is_ca,
        extra: template
            .extensions
            .iter()
            .map(|(oid, critical, value)| {
                Ok(Extension { extn_id: *oid, critical: *critical, extn_value: OctetString::new(value.clone())? })
            })
            .collect::<der::Result<_>>()
            .map_err(|e| enc("extension", &e))?,
    };
    let signer = ProviderSigner { key: issuer_key };
    let mut builder = CertificateBuilder::new(profile, serial, validity, spki).map_err(|e| enc("builder", &e))?;
    let tbs = builder.finalize(&signer).map_err(|e| enc("tbs", &e))?;
    let signature = issuer_key.sign(&tbs)?;
    let signature = BitString::from_bytes(&signature).map_err(|e| enc("signature", &e))?;
    let cert = builder.assemble(signature, &signer).map_err(|e| enc("assemble", &e))?;
    cert.to_der().map_err(|e| enc("certificate", &e))
}

fn to_time(t: SystemTime) -> der::Result<Time> {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let since = Duration::from_secs(since.as_secs());
    // RFC 5280: UTCTime through 2049, GeneralizedTime after.
    match UtcTime::from_unix_duration(since) {
        Ok(utc) if since < Duration::from_secs(2_524_608_000) => Ok(Time::UtcTime(utc)),
        _ => Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(since)?)),
    }
}

fn make_name(attrs: &[(ObjectIdentifier, String)]) -> der::Result<Name> {
    let mut seq = RdnSequence::default();
    for (oid, value) in attrs {
        let atv =
            x509_cert::attr::AttributeTypeAndValue { oid: *oid, value: Any::new(Tag::Utf8String, value.as_bytes())? };
        seq.push(RelativeDistinguishedName::try_from(vec![atv])?);
    }
    Name::from_der(&seq.to_der()?)
}

struct Profile {
    subject: Name,
    issuer: Name,
    is_ca: bool,
    extra: Vec<Extension>,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: spki::SubjectPublicKeyInfoRef<'_>,
        issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let ski = SubjectKeyIdentifier(OctetString::new(Sha1::digest(spk.to_der()?).to_vec())?);
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(Sha1::digest(issuer_spk.to_der()?).to_vec())?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let usage = if self.is_ca {
            KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyCertSign)
        } else {
            KeyUsage(KeyUsages::DigitalSignature.into())
        };
        let constraints = BasicConstraints { ca: self.is_ca, path_len_constraint: None };
        let mut exts = vec![
            (&constraints).to_extension(subject, &[])?,
            (&usage).to_extension(subject, &[])?,
            (&ski).to_extension(subject, &[])?,
            (&aki).to_extension(subject, &[])?,
        ];
        exts.extend(self.extra.iter().cloned());
        Ok(exts)
    }
}

/// Adapts a provider's [`SigningKey`] to the builder's signer traits; the builder only asks
/// it for the public key and the algorithm, and [`issue`] signs the finalized bytes itself.
struct ProviderSigner<'a> {
    key: &'a dyn SigningKey,
}

#[derive(Clone)]
struct PublicDer(Vec<u8>);

impl EncodePublicKey for PublicDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        Ok(der::Document::try_from(self.0.as_slice())?)
    }
}

impl signature::Keypair for ProviderSigner<'_> {
    type VerifyingKey = PublicDer;
    fn verifying_key(&self) -> PublicDer {
        PublicDer(self.key.public_key_der().to_vec())
    }
}

impl DynSignatureAlgorithmIdentifier for ProviderSigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<AlgorithmIdentifierOwned> {
        Ok(AlgorithmIdentifierOwned { oid: OID_SHA256_WITH_RSA, parameters: Some(Any::null()) })
    }
}

/// A certificate that parsed and whose signature verified against its issuer's key.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    /// The DER encoding.
    pub der: Vec<u8>,
    /// The subject's public key, DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// Subject attributes with UTF-8 (or printable) string values, in order.
    pub subject: Vec<(String, String)>,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// Extensions other than the standard ones this module writes: `(oid, critical, value)`.
    pub extensions: Vec<(String, bool, Vec<u8>)>,
}

impl VerifiedCertificate {
    /// The first subject attribute with that OID (dotted form), if any.
    pub fn subject_attr(&self, oid: &ObjectIdentifier) -> Option<&str> {
        let oid = oid.to_string();
        self.subject.iter().find(|(o, _)| *o == oid).map(|(_, v)| v.as_str())
    }

    /// The value of an extension by OID, if present.
    pub fn extension(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        let oid = oid.to_string();
        self.extensions.iter().find(|(o, _, _)| *o == oid).map(|(_, _, v)| v.as_slice())
    }
}

/// Parses `der` and verifies its signature with `issuer_public_key` (DER SPKI), or with its
/// own key when `None` (self-signed). The reason for any failure is returned as text for the
/// caller to wrap with its context.
///
/// The result depends on nothing but the arguments (no clock), so a success is remembered
/// for the process (`verified.rs`, at most 512 entries): opening a group checks the same identity
/// certificate and membership chain every time, and an RSA verification costs about 17 µs.
/// Failures are never remembered.
pub fn parse_and_verify(
    der: &[u8],
    issuer_public_key: Option<&[u8]>,
    provider: &dyn CryptoProvider,
) -> std::result::Result<VerifiedCertificate, String> {
    let verified = crate::verified::certificates();
    if let Some(hit) = verified.get(provider.name(), issuer_public_key, der) {
        return Ok(hit);
    }
    let cert = parse_and_verify_uncached(der, issuer_public_key, provider)?;
    verified.insert(provider.name(), issuer_public_key, &cert);
    Ok(cert)
}

fn parse_and_verify_uncached(
    der: &[u8],
    issuer_public_key: Option<&[u8]>,
    provider: &dyn CryptoProvider,
) -> std::result::Result<VerifiedCertificate, String> {
    if der.len() > MAX_CERTIFICATE_LEN {
        return Err(format!("certificate is {} bytes; at most {MAX_CERTIFICATE_LEN}", der.len()));
    }
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| format!("does not parse: {e}"))?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".into());
    }
    if cert.signature_algorithm.algorithm.to_id_string() != OID_SHA256_WITH_RSA.to_string() {
        return Err(format!(
            "signature algorithm {} is not sha256WithRSAEncryption",
            cert.signature_algorithm.algorithm
        ));
    }
    let public_key = cert.public_key().raw.to_vec();
    let issuer_key = issuer_public_key.unwrap_or(&public_key);
    let verifier = provider.verifying_key(issuer_key).map_err(|e| format!("issuer key: {e}"))?;
    verifier
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| "signature does not verify".to_owned())?;
    let attrs = |name: &x509_parser::x509::X509Name<'_>| {
        name.iter_attributes()
            .filter_map(|a| Some((a.attr_type().to_id_string(), a.as_str().ok()?.to_owned())))
            .collect::<Vec<_>>()
    };
    let standard = ["2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"];
    let mut extensions = Vec::new();
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if !standard.contains(&oid.as_str()) {
            extensions.push((oid, ext.critical, ext.value.to_vec()));
        }
    }
    Ok(VerifiedCertificate {
        der: der.to_vec(),
        public_key,
        subject: attrs(cert.subject()),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        extensions,
    })
}

/// Encodes DER as PEM with the given label (`CERTIFICATE`, ...).
#[allow(clippy::expect_used)]
pub fn to_pem(label: &str, der: &[u8]) -> String {
    // Encoding fails only for a label that is not RFC 7468's (every caller passes a constant
    // of capitals and spaces) or a length that overflows usize (no slice in memory has one).
    pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der).expect("a constant PEM label")
}

/// Reads the one PEM block with `label` in `text`; the error names how many there were,
/// calling the blocks `noun` ("2 invitation blocks; exactly one expected").
pub fn single_pem(label: &str, noun: &str, text: &str) -> std::result::Result<Vec<u8>, String> {
    let mut blocks = from_pem(label, text)?;
    if blocks.len() != 1 {
        return Err(format!("{} {noun} blocks; exactly one expected", blocks.len()));
    }
    Ok(blocks.remove(0))
}

/// Reads every PEM block with `label` from `text`.
pub fn from_pem(label: &str, text: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    // The blocks are found by their boundaries (the text may hold other blocks and other
    // lines, such as the configuration export's header); each is decoded by `pem-rfc7468`.
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&begin) {
        let block = &rest[start..];
        let stop = block.find(&end).ok_or_else(|| format!("unterminated {label} block"))? + end.len();
        let (found, der) =
            pem_rfc7468::decode_vec(&block.as_bytes()[..stop]).map_err(|e| format!("{label} block: {e}"))?;
        if found != label {
            return Err(format!("{label} block is labelled {found}"));
        }
        out.push(der);
        rest = &block[stop..];
    }
    Ok(out)
}
