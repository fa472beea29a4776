//! Group root certificates (GRC) and group membership certificates (GMC): issuing them and
//! reading the peergroup extensions back.
//!
//! Both are X.509 v3 (sha256WithRSAEncryption) issued through the identity layer's
//! [`x509::issue`]. Three private, non-critical extensions carry the group data (see
//! `docs/security.md`); they are non-critical so that standard tools (OpenSSL) still build and
//! verify the chains, and peergroup itself refuses a certificate that lacks them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::{OctetString, Utf8StringRef};
use der::{Decode, Encode};
use peergroup_identity::x509::{self, CertificateTemplate, OID_COMMON_NAME, OID_NAME, ObjectIdentifier};
use peergroup_identity::{IdentityInfo, PeerName, SigningKey};
use uuid::Uuid;

use crate::chain::ChainFault;
use crate::error::{Result, SecurityError};
use crate::role::Role;

/// The private OID arc of peergroup's certificate extensions.
///
/// It is derived from the GUID `4675dd51-0999-478f-91bf-f4bcdc3f78f0` under
/// `1.2.840.113556.1.8000.2554`, the arc Microsoft documents for OIDs anyone may generate from a
/// GUID without registration (its `oidgen` rule: the GUID cut into 16-, 16-, 16-, 16-, 16-, 24-
/// and 24-bit numbers). The project owns no IANA enterprise number, and the registration-free
/// `2.25.<uuid>` form needs a 128-bit arc that the `der` crate cannot encode (its arcs are 32-bit).
pub const OID_ARC: &str = "1.2.840.113556.1.8000.2554.18037.56657.2457.18319.37311.16039132.4159728";

/// Extension `<arc>.1`: the certificate type, DER `INTEGER` (1 = GMC, 2 = GRC, as
/// `szOID_PEERNET_CERT_TYPE` in MS-PPSEC).
pub const OID_CERT_TYPE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113556.1.8000.2554.18037.56657.2457.18319.37311.16039132.4159728.1");
/// Extension `<arc>.2`: the group peer name, DER `UTF8String`.
pub const OID_GROUP_PEER_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113556.1.8000.2554.18037.56657.2457.18319.37311.16039132.4159728.2");
/// Extension `<arc>.3`: the roles, DER `SEQUENCE OF OCTET STRING`, each the 16 bytes of a role
/// GUID in RFC 4122 (big-endian) byte order.
pub const OID_ROLES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113556.1.8000.2554.18037.56657.2457.18319.37311.16039132.4159728.3");

/// The most roles a certificate may list.
pub const MAX_ROLES: usize = 8;

/// How far before "now" a newly issued certificate starts, so that a peer whose clock runs
/// behind accepts it (the identity layer does the same).
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(86_400);

/// The kind of a group certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// Group membership certificate (type 1).
    Gmc,
    /// Group root certificate (type 2), self-signed by the group key.
    Grc,
}

impl CertKind {
    fn code(self) -> u8 {
        match self {
            CertKind::Gmc => 1,
            CertKind::Grc => 2,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        [CertKind::Gmc, CertKind::Grc].into_iter().find(|k| k.code() == code)
    }
}

/// Seconds since the Unix epoch (0 for times before it), the precision of certificates.
pub fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// The time of a Unix second count (negative counts are the epoch).
pub fn from_unix_seconds(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// Who a certificate is for: a peer name owned by a public key, and a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject's peer name (a GMC's member identity, a GRC's group).
    pub peer_name: PeerName,
    /// Its friendly name.
    pub friendly_name: String,
    /// Its public key, DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
}

impl From<&IdentityInfo> for Subject {
    fn from(info: &IdentityInfo) -> Self {
        Subject {
            peer_name: info.peer_name().clone(),
            friendly_name: info.friendly_name().to_owned(),
            public_key: info.public_key_der().to_vec(),
        }
    }
}

/// A group certificate whose signature verified and whose peergroup extensions were read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCertificate {
    /// GRC or GMC.
    pub kind: CertKind,
    /// The group peer name it names.
    pub group: PeerName,
    /// Whom it is for: the group itself (GRC) or a member identity (GMC).
    pub subject: PeerName,
    /// The subject's friendly name (a GRC has the group peer name here).
    pub friendly_name: String,
    /// The roles it grants (empty for a GRC, which may issue every role).
    pub roles: Vec<Role>,
    /// The subject's public key, DER `SubjectPublicKeyInfo`.
    pub public_key: Vec<u8>,
    /// Start of validity, Unix seconds.
    pub not_before: i64,
    /// End of validity, Unix seconds.
    pub not_after: i64,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl GroupCertificate {
    /// Parses `der` and verifies its signature with `issuer_key` (DER SPKI; `None` for a
    /// self-signed GRC), then reads the peergroup extensions. A GMC's subject must be a peer
    /// name owned by its key; a GRC's binding to the group name is checked by
    /// [`crate::validate_chain`].
    pub fn parse(der: &[u8], issuer_key: Option<&[u8]>) -> std::result::Result<Self, ChainFault> {
        let provider = peergroup_identity::default_provider();
        let cert = x509::parse_and_verify(der, issuer_key, provider).map_err(ChainFault::BadCertificate)?;
        let ext = |oid: &ObjectIdentifier, name: &'static str| {
            cert.extension(oid).ok_or(ChainFault::BadExtension { extension: name, reason: "missing".into() })
        };
        let bad = |name: &'static str| {
            move |e: der::Error| ChainFault::BadExtension { extension: name, reason: e.to_string() }
        };
        let code = u8::from_der(ext(&OID_CERT_TYPE, "certificate type")?).map_err(bad("certificate type"))?;
        let kind = CertKind::from_code(code).ok_or_else(|| ChainFault::BadExtension {
            extension: "certificate type",
            reason: format!("unknown type {code}"),
        })?;
        let group = String::from_der(ext(&OID_GROUP_PEER_NAME, "group peer name")?).map_err(bad("group peer name"))?;
        let group = PeerName::parse(&group)
            .map_err(|e| ChainFault::BadExtension { extension: "group peer name", reason: e.to_string() })?;
        let roles = match cert.extension(&OID_ROLES) {
            None => Vec::new(),
            Some(value) => decode_roles(value)?,
        };
        let cn = cert.subject_attr(&OID_COMMON_NAME).ok_or(ChainFault::BadSubject("no common name".into()))?;
        let subject =
            PeerName::parse(cn).map_err(|e| ChainFault::BadSubject(format!("common name is not a peer name: {e}")))?;
        // A GRC's subject is the group, whose binding to the key validate_chain checks (and
        // reports as RootKeyMismatch); a GMC's subject is a member identity, checked here.
        if kind == CertKind::Gmc && !subject.is_owned_by(&cert.public_key) {
            return Err(ChainFault::BadSubject(format!(
                "peer name {subject} does not belong to the certificate's key"
            )));
        }
        let friendly_name = cert.subject_attr(&OID_NAME).unwrap_or(cn).to_owned();
        Ok(GroupCertificate {
            kind,
            group,
            subject,
            friendly_name,
            roles,
            public_key: cert.public_key,
            not_before: cert.not_before,
            not_after: cert.not_after,
            der: cert.der,
        })
    }

    /// The subject name attributes this crate writes for such a certificate; the issuer name
    /// of every certificate it issues (so that X.509 tools chain them by name too).
    pub(crate) fn name_attrs(&self) -> Vec<(ObjectIdentifier, String)> {
        subject_attrs(self.kind, &self.subject, &self.friendly_name)
    }

    /// Whether this certificate may issue a certificate granting `role`: a GRC issues every
    /// role, a GMC what its roles allow ([`Role::may_issue`]).
    pub fn may_issue(&self, role: Role) -> bool {
        match self.kind {
            CertKind::Grc => true,
            CertKind::Gmc => self.roles.iter().any(|r| r.may_issue(role)),
        }
    }

    /// Whether it grants the administrator role.
    pub fn is_admin(&self) -> bool {
        self.kind == CertKind::Gmc && self.roles.contains(&Role::Administrator)
    }
}

fn subject_attrs(kind: CertKind, subject: &PeerName, friendly_name: &str) -> Vec<(ObjectIdentifier, String)> {
    match kind {
        CertKind::Grc => vec![(OID_COMMON_NAME, subject.to_string())],
        CertKind::Gmc => vec![(OID_COMMON_NAME, subject.to_string()), (OID_NAME, friendly_name.to_owned())],
    }
}

fn decode_roles(value: &[u8]) -> std::result::Result<Vec<Role>, ChainFault> {
    let bad = |reason: String| ChainFault::BadExtension { extension: "roles", reason };
    let list = Vec::<OctetString>::from_der(value).map_err(|e| bad(e.to_string()))?;
    if list.len() > MAX_ROLES {
        return Err(bad(format!("{} roles; at most {MAX_ROLES}", list.len())));
    }
    let mut roles = Vec::with_capacity(list.len());
    for item in list {
        let guid = Uuid::from_slice(item.as_bytes()).map_err(|e| bad(format!("not a GUID: {e}")))?;
        let role = Role::from_guid(guid).ok_or_else(|| bad(format!("unknown role {guid}")))?;
        if roles.contains(&role) {
            return Err(bad(format!("role {role} listed twice")));
        }
        roles.push(role);
    }
    Ok(roles)
}

fn encode_err(what: &str, e: impl std::fmt::Display) -> SecurityError {
    SecurityError::Identity(peergroup_identity::IdentityError::Crypto {
        provider: "x509",
        what: format!("group certificate encoding ({what}): {e}"),
    })
}

fn extensions(kind: CertKind, group: &PeerName, roles: &[Role]) -> Result<Vec<(ObjectIdentifier, bool, Vec<u8>)>> {
    let group_name = group.to_string();
    let mut exts = vec![
        (OID_CERT_TYPE, false, kind.code().to_der().map_err(|e| encode_err("type", e))?),
        (
            OID_GROUP_PEER_NAME,
            false,
            Utf8StringRef::new(&group_name).and_then(|s| s.to_der()).map_err(|e| encode_err("group", e))?,
        ),
    ];
    if kind == CertKind::Gmc {
        let list = roles
            .iter()
            .map(|r| OctetString::new(r.guid().as_bytes().to_vec()))
            .collect::<der::Result<Vec<_>>>()
            .and_then(|l| l.to_der())
            .map_err(|e| encode_err("roles", e))?;
        exts.push((OID_ROLES, false, list));
    }
    Ok(exts)
}

/// Issues the self-signed group root certificate of `group`, whose authority must be the
/// SHA-1 hash of `group_key`'s public key (it is, when made by [`PeerName::secure`]).
pub fn issue_grc(
    group_key: &dyn SigningKey,
    group: &PeerName,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>> {
    let subject = subject_attrs(CertKind::Grc, group, "");
    let template = CertificateTemplate {
        issuer: subject.clone(),
        subject,
        subject_public_key: group_key.public_key_der(),
        not_before,
        not_after,
        is_ca: true,
        extensions: extensions(CertKind::Grc, group, &[])?,
    };
    Ok(x509::issue(&template, group_key)?)
}

/// Issues a membership certificate of `group` for `subject` with `roles`, signed by
/// `issuer_key`, the key of the certificate `issuer` (the GRC for the creator's first GMC, an
/// administrator's GMC otherwise).
///
/// This only encodes and signs; the rules (roles the issuer may give, validity inside the
/// issuer's) are enforced by whoever calls it for real ([`crate::invitation::create`],
/// [`crate::NewGroup::create_certificates`]) and checked by [`crate::validate_chain`] on every use.
pub fn issue_gmc(
    issuer: &GroupCertificate,
    issuer_key: &dyn SigningKey,
    subject: &Subject,
    roles: &[Role],
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<Vec<u8>> {
    let template = CertificateTemplate {
        subject: subject_attrs(CertKind::Gmc, &subject.peer_name, &subject.friendly_name),
        issuer: issuer.name_attrs(),
        subject_public_key: &subject.public_key,
        not_before,
        not_after,
        // Administrators issue further certificates: OpenSSL (and RFC 5280) want them CAs.
        is_ca: roles.contains(&Role::Administrator),
        extensions: extensions(CertKind::Gmc, &issuer.group, roles)?,
    };
    Ok(x509::issue(&template, issuer_key)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles_der(guids: &[Uuid]) -> Vec<u8> {
        guids.iter().map(|g| OctetString::new(g.as_bytes().to_vec()).unwrap()).collect::<Vec<_>>().to_der().unwrap()
    }

    #[test]
    fn role_extension_is_strict() {
        let (a, m) = (Role::Administrator.guid(), Role::Member.guid());
        assert_eq!(decode_roles(&roles_der(&[a, m])).unwrap(), vec![Role::Administrator, Role::Member]);
        assert_eq!(decode_roles(&roles_der(&[])).unwrap(), vec![]);
        let inviting = Uuid::from_u128(0x4370fd89_dc18_4cfb_8dbf_9853a8a9f905);
        for bad in [roles_der(&[inviting]), roles_der(&[a, a]), roles_der(&[m; MAX_ROLES + 1]), vec![0x30, 0x01]] {
            assert!(matches!(decode_roles(&bad), Err(ChainFault::BadExtension { extension: "roles", .. })), "{bad:?}");
        }
        let short = vec![OctetString::new(vec![1, 2, 3]).unwrap()].to_der().unwrap();
        assert!(decode_roles(&short).is_err());
    }

    #[test]
    fn unix_seconds_round_trip_and_clamp() {
        assert_eq!(unix_seconds(from_unix_seconds(2_000_000_000)), 2_000_000_000);
        assert_eq!(from_unix_seconds(-5), UNIX_EPOCH);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
