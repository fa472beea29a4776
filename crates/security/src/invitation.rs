//! Invitations (`PeerGroupCreateInvitation`, `PeerGroupIssueCredentials`,
//! `PeerGroupParseInvitation`, and the checks of `PeerGroupJoin`).
//!
//! An invitation is a signed DER structure in a PEM-like armor, safe to paste into mail or chat:
//!
//! ```text
//! -----BEGIN PEERGROUP INVITATION-----
//! <base64, 64 columns>
//! -----END PEERGROUP INVITATION-----
//! ```
//!
//! ```text
//! SignedInvitation ::= SEQUENCE {
//!     tbs        OCTET STRING,  -- DER of TbsInvitation
//!     signature  OCTET STRING } -- by the issuer's identity key over tbs (RSA PKCS#1 v1.5, SHA-256)
//! TbsInvitation ::= SEQUENCE {
//!     version             INTEGER,     -- 1
//!     groupPeerName       UTF8String,
//!     groupFriendlyName   UTF8String,
//!     cloudName           UTF8String,
//!     cloudScope          INTEGER,
//!     cloudFlags          INTEGER,
//!     authScheme          INTEGER,     -- PEER_GROUP_GMC_AUTHENTICATION (1); password later
//!     issuerChain         SEQUENCE OF OCTET STRING, -- DER certificates, GRC first, issuer's GMC last
//!     subjectCertificate  OCTET STRING }            -- the invitee's GMC, issued by the issuer
//! ```

use std::time::SystemTime;

use der::asn1::OctetString;
use der::{Decode, Encode, Sequence};
use peergroup_identity::x509::{single_pem, to_pem};
use peergroup_identity::{IdentityInfo, PeerName, SigningKey, default_provider};

use crate::cert::{CLOCK_SKEW_ALLOWANCE, GroupCertificate, Subject, from_unix_seconds, issue_gmc, unix_seconds};
use crate::chain::{MAX_CHAIN_LEN, ValidatedChain, validate_chain};
use crate::error::{Result, SecurityError};
use crate::membership::Membership;
use crate::policy::{Action, Actor, authorize};
use crate::properties::{MAX_GROUP_TEXT_UTF16, PEER_GROUP_GMC_AUTHENTICATION, validate_cloud_name};
use crate::role::Role;

/// The largest invitation text accepted (64 KiB: a chain of 24 certificates fits).
pub const MAX_INVITATION_LEN: usize = 64 * 1024;
/// The invitation format version this build writes and reads.
pub const INVITATION_VERSION: u8 = 1;
const LABEL: &str = "PEERGROUP INVITATION";

#[derive(Sequence)]
pub(crate) struct SignedInvitation {
    pub(crate) tbs: OctetString,
    pub(crate) signature: OctetString,
}

#[derive(Sequence)]
struct TbsInvitation {
    version: u8,
    group_peer_name: String,
    group_friendly_name: String,
    cloud_name: String,
    cloud_scope: u32,
    cloud_flags: u32,
    auth_scheme: u32,
    issuer_chain: Vec<OctetString>,
    subject_certificate: OctetString,
}

/// What to issue: the counterpart of `PeerGroupCreateInvitation`'s roles and expiration (and
/// of `PEER_CREDENTIAL_INFO` for `PeerGroupIssueCredentials`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvitationRequest {
    /// The roles to grant; empty means [`Role::Member`].
    pub roles: Vec<Role>,
    /// When the membership ends; `None` means the issuer's own end ("remaining lifetime").
    pub expiration: Option<SystemTime>,
}

/// Everything an invitation holds, shown without joining (`PEER_INVITATION_INFO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationInfo {
    /// The group peer name.
    pub group: PeerName,
    /// The group's friendly name.
    pub group_friendly_name: String,
    /// The name of the group's cloud.
    pub cloud: String,
    /// The authentication scheme (`PEER_GROUP_GMC_AUTHENTICATION`).
    pub authentication_scheme: u32,
    /// The issuing administrator.
    pub issuer: PeerName,
    /// The issuer's friendly name.
    pub issuer_friendly_name: String,
    /// The invited identity.
    pub subject: PeerName,
    /// The invitee's friendly name.
    pub subject_friendly_name: String,
    /// The invitee's public key, DER `SubjectPublicKeyInfo`.
    pub subject_public_key: Vec<u8>,
    /// Start of the membership's validity.
    pub not_before: SystemTime,
    /// End of the membership's validity.
    pub not_after: SystemTime,
    /// The roles granted.
    pub roles: Vec<Role>,
    /// The invitee's whole chain (the issuer's chain, then the invitee's GMC), structurally
    /// validated (signatures, group, roles, nesting); its times are checked by [`accept`].
    pub chain: ValidatedChain,
}

pub(crate) fn invalid(reason: impl Into<String>) -> SecurityError {
    SecurityError::InvalidInvitation { reason: reason.into() }
}

/// Issues an invitation (`PeerGroupCreateInvitation`; `PeerGroupIssueCredentials` is
/// [`issue_credentials`]): the issuer, holding `membership` and its identity key
/// `issuer_key`, grants `invitee` the requested roles.
///
/// Refused with [`SecurityError::GroupNotReady`] before the issuer's first synchronisation,
/// [`SecurityError::NotAuthorized`] unless the issuer is an administrator who may give every
/// role asked, [`SecurityError::ChainTooLong`] when the invitee's chain would pass
/// [`MAX_CHAIN_LEN`], [`SecurityError::InvalidCredentialInfo`] for an expiration in the past or
/// after the issuer's own, [`SecurityError::InvalidTimePeriod`] when the issuer's membership is
/// not valid now, [`SecurityError::InvalidSubject`] when the invitee is the issuer.
pub fn create(
    membership: &Membership,
    issuer_key: &dyn SigningKey,
    invitee: &IdentityInfo,
    request: &InvitationRequest,
    now: SystemTime,
) -> Result<String> {
    issue(membership, issuer_key, &Subject::from(invitee), request, None, None, now).map(|(text, _)| text)
}

/// Credentials issued by [`issue_credentials`]: the invitation text that carries them (what
/// `PeerGroupIssueCredentials` returns) and the subject's whole new chain (what
/// `PEER_GROUP_STORE_CREDENTIALS` publishes in the group database).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The invitation text, as [`create`] makes it.
    pub invitation: String,
    /// The issuer's chain followed by the subject's new membership certificate, validated.
    pub chain: ValidatedChain,
}

/// Issues, renews, or changes the roles of, a membership certificate for `subject`
/// (`PeerGroupIssueCredentials`): [`create`]'s rules, and besides
/// - the subject may not be the issuer ([`SecurityError::InvalidSubject`]);
/// - `current`, the subject's certificate the group holds now (if any), must be for the same
///   key ([`SecurityError::InvalidSubject`]), and the new certificate starts strictly after it
///   (as Windows asks of `ftValidityStart`), so that every member's store, which keeps the
///   member entry whose certificate starts last, takes the new one;
/// - the whole new chain validates at `now` (a subject already in the issuer's own chain is
///   [`SecurityError::CircularChain`]).
pub fn issue_credentials(
    membership: &Membership,
    issuer_key: &dyn SigningKey,
    subject: &Subject,
    request: &InvitationRequest,
    current: Option<&GroupCertificate>,
    now: SystemTime,
) -> Result<Credentials> {
    // After the current certificate, and after the issuer's own start, which bounds the start
    // of every certificate it issued before (its invitations start there in a group younger
    // than the clock skew allowance): a renewal by an issuer whose database does not hold the
    // subject still starts after the subject's invitation from that issuer.
    let issuer_start = membership.chain.leaf().not_before;
    let after = current.map_or(issuer_start, |c| c.not_before.max(issuer_start));
    let (invitation, gmc) = issue(membership, issuer_key, subject, request, current, Some(after), now)?;
    let mut certs = membership.chain.to_der();
    certs.push(gmc);
    let chain = validate_chain(&certs, Some(membership.group()), Some(now))?;
    Ok(Credentials { invitation, chain })
}

/// Issues the subject's certificate and signs the invitation that carries it; the
/// certificate starts after `after` (Unix seconds) when given, and `current` is the subject's
/// certificate the group holds (see [`issue_credentials`]).
fn issue(
    membership: &Membership,
    issuer_key: &dyn SigningKey,
    subject: &Subject,
    request: &InvitationRequest,
    current: Option<&GroupCertificate>,
    after: Option<i64>,
    now: SystemTime,
) -> Result<(String, Vec<u8>)> {
    membership.ensure_ready()?;
    let issuer = membership.chain.leaf();
    let not_authorized = |reason: String| SecurityError::NotAuthorized {
        identity: membership.identity.to_string(),
        group: membership.group().to_string(),
        reason,
    };
    if issuer_key.public_key_der() != issuer.public_key.as_slice() {
        return Err(not_authorized("the signing key is not the key of this membership".into()));
    }
    let mut roles = request.roles.clone();
    if roles.is_empty() {
        roles.push(Role::Member);
    }
    roles.sort();
    roles.dedup();
    let actor = Actor { identity: &membership.identity, roles: &issuer.roles };
    for role in &roles {
        authorize(membership.group(), &actor, &Action::Issue { role: *role })?;
    }
    check_subject(membership, subject, current)?;
    let len = membership.chain.len() + 1;
    if len > MAX_CHAIN_LEN {
        return Err(SecurityError::ChainTooLong { len, max: MAX_CHAIN_LEN });
    }
    membership.check_time(now)?;
    let issuer_end = from_unix_seconds(issuer.not_after);
    let not_after = request.expiration.unwrap_or(issuer_end);
    if unix_seconds(not_after) > issuer.not_after {
        return Err(SecurityError::InvalidCredentialInfo {
            reason: format!(
                "expiration {} is after the issuer's own ({}, Unix seconds)",
                unix_seconds(not_after),
                issuer.not_after
            ),
        });
    }
    if not_after <= now {
        return Err(SecurityError::InvalidCredentialInfo { reason: "the expiration is not in the future".into() });
    }
    let mut not_before = now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now).max(from_unix_seconds(issuer.not_before));
    if let Some(after) = after {
        not_before = not_before.max(from_unix_seconds(after.saturating_add(1)));
        if not_before > now {
            return Err(SecurityError::InvalidCredentialInfo {
                reason: "the current credentials start too late for new ones to start after them and now".into(),
            });
        }
    }
    let gmc = issue_gmc(issuer, issuer_key, subject, &roles, not_before, not_after)?;
    let octets = |d: &[u8]| OctetString::new(d.to_vec()).map_err(|e| invalid(format!("encoding: {e}")));
    let tbs = TbsInvitation {
        version: INVITATION_VERSION,
        group_peer_name: membership.group().to_string(),
        group_friendly_name: membership.group_friendly_name.clone(),
        cloud_name: membership.cloud.clone(),
        // Kept in the format for compatibility; the cloud is known by its name alone.
        cloud_scope: 0,
        cloud_flags: 0,
        auth_scheme: PEER_GROUP_GMC_AUTHENTICATION,
        issuer_chain: membership.chain.certificates().iter().map(|c| octets(&c.der)).collect::<Result<_>>()?,
        subject_certificate: octets(&gmc)?,
    };
    Ok((seal(LABEL, issuer_key, &tbs)?, gmc))
}

/// DER-encodes `tbs`, signs it with `issuer_key` and armors the signed form under `label`:
/// the one way invitations of either kind are made.
pub(crate) fn seal(label: &str, issuer_key: &dyn SigningKey, tbs: &impl Encode) -> Result<String> {
    let octets = |d: Vec<u8>| OctetString::new(d).map_err(|e| invalid(format!("encoding: {e}")));
    let tbs = tbs.to_der().map_err(|e| invalid(format!("encoding: {e}")))?;
    let signature = issuer_key.sign(&tbs)?;
    let signed = SignedInvitation { tbs: octets(tbs)?, signature: octets(signature)? };
    let der = signed.to_der().map_err(|e| invalid(format!("encoding: {e}")))?;
    Ok(to_pem(label, &der))
}

/// Checks the issuer's signature over the exact `tbs` bytes of `signed`.
pub(crate) fn verify_issuer(issuer: &GroupCertificate, signed: &SignedInvitation) -> Result<()> {
    default_provider()
        .verifying_key(&issuer.public_key)?
        .verify(signed.tbs.as_bytes(), signed.signature.as_bytes())
        .map_err(|_| invalid("the issuer's signature does not verify: the invitation was altered"))
}

/// [`SecurityError::InvalidSubject`] for the issuer itself, or for a key that is not the one
/// of `current`, the subject's certificate the group holds.
fn check_subject(membership: &Membership, subject: &Subject, current: Option<&GroupCertificate>) -> Result<()> {
    let bad_subject = |reason: &str| SecurityError::InvalidSubject {
        subject: subject.peer_name.to_string(),
        reason: reason.to_owned(),
    };
    if subject.peer_name == membership.identity {
        return Err(bad_subject("it is the issuer: an identity cannot issue its own credentials"));
    }
    match current {
        Some(c) if c.public_key != subject.public_key || c.subject != subject.peer_name => {
            Err(bad_subject("the key given is not the key of the member the group holds"))
        }
        _ => Ok(()),
    }
}

/// Reads an invitation and checks that it is intact (`PeerGroupParseInvitation`): the
/// signature, and the chain's structure. Validity times are shown, not checked.
pub fn parse(text: &str) -> Result<InvitationInfo> {
    if text.len() > MAX_INVITATION_LEN {
        return Err(SecurityError::InputTooLarge { what: "invitation", len: text.len(), max: MAX_INVITATION_LEN });
    }
    parse_der(&single_pem(LABEL, "invitation", text).map_err(invalid)?)
}

/// [`parse`] of the decoded (DER) form.
pub fn parse_der(der: &[u8]) -> Result<InvitationInfo> {
    if der.len() > MAX_INVITATION_LEN {
        return Err(SecurityError::InputTooLarge { what: "invitation", len: der.len(), max: MAX_INVITATION_LEN });
    }
    let signed = SignedInvitation::from_der(der).map_err(|e| invalid(format!("does not decode: {e}")))?;
    let tbs_bytes = signed.tbs.as_bytes();
    let tbs = TbsInvitation::from_der(tbs_bytes).map_err(|e| invalid(format!("does not decode: {e}")))?;
    if tbs.version != INVITATION_VERSION {
        return Err(SecurityError::UnsupportedFormatVersion {
            what: "invitation",
            found: tbs.version.into(),
            supported: INVITATION_VERSION.into(),
        });
    }
    let group = PeerName::parse(&tbs.group_peer_name).map_err(|e| invalid(format!("group peer name: {e}")))?;
    let mut certs: Vec<&[u8]> = tbs.issuer_chain.iter().map(OctetString::as_bytes).collect();
    certs.push(tbs.subject_certificate.as_bytes());
    let chain = validate_chain(&certs, Some(&group), None)?;
    if chain.len() < 2 {
        return Err(invalid("the issuer's chain is empty"));
    }
    let issuer = &chain.certificates()[chain.len() - 2];
    verify_issuer(issuer, &signed)?;
    check_cloud_fields(tbs.cloud_scope, tbs.cloud_flags).map_err(invalid)?;
    validate_cloud_name(&tbs.cloud_name).map_err(invalid)?;
    let cloud = tbs.cloud_name;
    let name = &tbs.group_friendly_name;
    if name.encode_utf16().count() > MAX_GROUP_TEXT_UTF16 || name.chars().any(char::is_control) {
        return Err(invalid("the group friendly name is too long or holds a control character"));
    }
    let subject = chain.leaf();
    Ok(InvitationInfo {
        group,
        group_friendly_name: tbs.group_friendly_name,
        cloud,
        authentication_scheme: tbs.auth_scheme,
        issuer: issuer.subject.clone(),
        issuer_friendly_name: issuer.friendly_name.clone(),
        subject: subject.subject.clone(),
        subject_friendly_name: subject.friendly_name.clone(),
        subject_public_key: subject.public_key.clone(),
        not_before: from_unix_seconds(subject.not_before),
        not_after: from_unix_seconds(subject.not_after),
        roles: subject.roles.clone(),
        chain,
    })
}

/// The checks of `PeerGroupJoin`: [`parse`], then that the invitation was issued to
/// `identity` ([`SecurityError::InvitationNotForIdentity`] naming both), then that every
/// certificate is valid at `now` ([`SecurityError::InvalidTimePeriod`]).
pub fn accept(text: &str, identity: &IdentityInfo, now: SystemTime) -> Result<InvitationInfo> {
    let info = parse(text)?;
    if info.subject_public_key != identity.public_key_der() || info.subject != *identity.peer_name() {
        return Err(SecurityError::InvitationNotForIdentity {
            invitee: info.subject.to_string(),
            presented: identity.peer_name().to_string(),
        });
    }
    if info.authentication_scheme != PEER_GROUP_GMC_AUTHENTICATION {
        return Err(invalid(format!("authentication scheme {:#x} is not supported", info.authentication_scheme)));
    }
    info.chain.check_time(now)?;
    Ok(info)
}

/// Checks the cloud scope and flags an invitation or configuration carries (written as 0 by
/// this build, which knows a cloud by its name): a PNRP scope (0 to 3) and known flags.
pub(crate) fn check_cloud_fields(scope: u32, flags: u32) -> std::result::Result<(), String> {
    if scope > 3 {
        return Err(format!("cloud scope {scope} is not a PNRP scope (0 to 3)"));
    }
    if flags & !1 != 0 {
        return Err(format!("cloud flags {flags:#x} hold unknown bits"));
    }
    Ok(())
}

impl InvitationInfo {
    /// The membership this invitation gives once joined (not synchronised yet).
    pub fn membership(&self) -> Membership {
        Membership {
            identity: self.subject.clone(),
            group_friendly_name: self.group_friendly_name.clone(),
            cloud: self.cloud.clone(),
            chain: self.chain.clone(),
            synchronized: false,
        }
    }
}
