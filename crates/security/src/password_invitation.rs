//! Password invitations (`PeerGroupCreatePasswordInvitation`) and the membership a password
//! joiner receives once the password exchange ([`crate::password`]) succeeded.
//!
//! A password invitation names the group and who issued it, like an invitation, but carries
//! no membership certificate: whoever holds it and knows the password obtains one from a
//! member holding the password key. Signed by the issuer like invitations:
//!
//! ```text
//! -----BEGIN PEERGROUP PASSWORD INVITATION-----   (base64 of SignedInvitation)
//! TbsPasswordInvitation ::= SEQUENCE {
//!     version             INTEGER,     -- 1
//!     groupPeerName       UTF8String,
//!     groupFriendlyName   UTF8String,
//!     cloudName           UTF8String,
//!     cloudScope          INTEGER,     -- 0
//!     cloudFlags          INTEGER,     -- 0
//!     authScheme          INTEGER,     -- PEER_GROUP_PASSWORD_AUTHENTICATION (2)
//!     issuerChain         SEQUENCE OF OCTET STRING, -- GRC first, the issuer's GMC last
//!     passwordRole        OCTET STRING }            -- the role GUID, RFC 4122 byte order
//! ```

use std::time::SystemTime;

use der::asn1::OctetString;
use der::{Decode, Sequence};
use peergroup_identity::x509::single_pem;
use peergroup_identity::{PeerName, SigningKey};
use uuid::Uuid;

use crate::cert::Subject;
use crate::chain::{ValidatedChain, validate_chain};
use crate::error::{Result, SecurityError};
use crate::invitation::{
    Credentials, INVITATION_VERSION, InvitationRequest, MAX_INVITATION_LEN, SignedInvitation, check_cloud_fields,
    invalid, issue_credentials, seal, verify_issuer,
};
use crate::membership::Membership;
use crate::policy::{Action, Actor, authorize};
use crate::properties::{PEER_GROUP_PASSWORD_AUTHENTICATION, validate_cloud_name};
use crate::role::Role;

const LABEL: &str = "PEERGROUP PASSWORD INVITATION";

#[derive(Sequence)]
struct TbsPasswordInvitation {
    version: u8,
    group_peer_name: String,
    group_friendly_name: String,
    cloud_name: String,
    cloud_scope: u32,
    cloud_flags: u32,
    auth_scheme: u32,
    issuer_chain: Vec<OctetString>,
    password_role: OctetString,
}

/// What a password invitation holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordInvitationInfo {
    /// The group peer name.
    pub group: PeerName,
    /// The group's friendly name.
    pub group_friendly_name: String,
    /// The name of the group's cloud.
    pub cloud: String,
    /// The authentication scheme (`PEER_GROUP_PASSWORD_AUTHENTICATION`).
    pub authentication_scheme: u32,
    /// The issuing member.
    pub issuer: PeerName,
    /// The role a password joiner receives.
    pub role: Role,
    /// The issuer's chain, structurally validated.
    pub issuer_chain: ValidatedChain,
}

/// Makes a password invitation (`PeerGroupCreatePasswordInvitation`) for the group of
/// `membership`, whose password role is `password_role` (`None`: the group has no password,
/// [`SecurityError::NoGroupPassword`]). The issuer must be ready, valid now and allowed to
/// issue that role ([`SecurityError::NotAuthorized`]): a member cannot invite into a group,
/// by password or otherwise.
pub fn create(
    membership: &Membership,
    issuer_key: &dyn SigningKey,
    password_role: Option<Role>,
    now: SystemTime,
) -> Result<String> {
    let role = password_role.ok_or_else(|| SecurityError::NoGroupPassword { group: membership.group().to_string() })?;
    membership.ensure_ready()?;
    let issuer = membership.chain.leaf();
    if issuer_key.public_key_der() != issuer.public_key.as_slice() {
        return Err(SecurityError::NotAuthorized {
            identity: membership.identity.to_string(),
            group: membership.group().to_string(),
            reason: "the signing key is not the key of this membership".into(),
        });
    }
    let actor = Actor { identity: &membership.identity, roles: &issuer.roles };
    authorize(membership.group(), &actor, &Action::Issue { role })?;
    membership.check_time(now)?;
    let octets = |d: &[u8]| OctetString::new(d.to_vec()).map_err(|e| invalid(format!("encoding: {e}")));
    let tbs = TbsPasswordInvitation {
        version: INVITATION_VERSION,
        group_peer_name: membership.group().to_string(),
        group_friendly_name: membership.group_friendly_name.clone(),
        cloud_name: membership.cloud.clone(),
        cloud_scope: 0,
        cloud_flags: 0,
        auth_scheme: PEER_GROUP_PASSWORD_AUTHENTICATION,
        issuer_chain: membership.chain.certificates().iter().map(|c| octets(&c.der)).collect::<Result<_>>()?,
        password_role: octets(role.guid().as_bytes())?,
    };
    seal(LABEL, issuer_key, &tbs)
}

/// Reads a password invitation and checks that it is intact: the issuer's chain (structure)
/// and signature, the scheme and the role. Times are checked when the membership is issued.
pub fn parse(text: &str) -> Result<PasswordInvitationInfo> {
    if text.len() > MAX_INVITATION_LEN {
        return Err(SecurityError::InputTooLarge { what: "invitation", len: text.len(), max: MAX_INVITATION_LEN });
    }
    let der = single_pem(LABEL, "password invitation", text).map_err(invalid)?;
    let signed = SignedInvitation::from_der(&der).map_err(|e| invalid(format!("does not decode: {e}")))?;
    let tbs_bytes = signed.tbs.as_bytes();
    let tbs = TbsPasswordInvitation::from_der(tbs_bytes).map_err(|e| invalid(format!("does not decode: {e}")))?;
    if tbs.version != INVITATION_VERSION {
        return Err(SecurityError::UnsupportedFormatVersion {
            what: "password invitation",
            found: tbs.version.into(),
            supported: INVITATION_VERSION.into(),
        });
    }
    if tbs.auth_scheme != PEER_GROUP_PASSWORD_AUTHENTICATION {
        return Err(invalid(format!("authentication scheme {:#x} is not the password's", tbs.auth_scheme)));
    }
    let group = PeerName::parse(&tbs.group_peer_name).map_err(|e| invalid(format!("group peer name: {e}")))?;
    let certs: Vec<&[u8]> = tbs.issuer_chain.iter().map(OctetString::as_bytes).collect();
    let chain = validate_chain(&certs, Some(&group), None)?;
    let issuer = chain.leaf();
    verify_issuer(issuer, &signed)?;
    check_cloud_fields(tbs.cloud_scope, tbs.cloud_flags).map_err(invalid)?;
    validate_cloud_name(&tbs.cloud_name).map_err(invalid)?;
    let role = Uuid::from_slice(tbs.password_role.as_bytes())
        .ok()
        .and_then(Role::from_guid)
        .ok_or_else(|| invalid("the password role is not a known role"))?;
    if !issuer.roles.iter().any(|r| r.may_issue(role)) {
        return Err(invalid(format!("the issuer may not give the password role {role}")));
    }
    Ok(PasswordInvitationInfo {
        group,
        group_friendly_name: tbs.group_friendly_name,
        cloud: tbs.cloud_name,
        authentication_scheme: tbs.auth_scheme,
        issuer: issuer.subject.clone(),
        role,
        issuer_chain: chain,
    })
}

/// The membership a member issues a password joiner once the exchange succeeded: a GMC for
/// `joiner` (the identity of its TLS certificate) with the group's password role, under the
/// rules of [`issue_credentials`] (so only an administrator issues one). The joiner's whole
/// chain, validated at `now`.
pub fn issue_membership(
    membership: &Membership,
    issuer_key: &dyn SigningKey,
    joiner: &Subject,
    role: Role,
    now: SystemTime,
) -> Result<ValidatedChain> {
    let request = InvitationRequest { roles: vec![role], expiration: None };
    let Credentials { chain, .. } = issue_credentials(membership, issuer_key, joiner, &request, None, now)?;
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::properties::NewGroup;
    use peergroup_identity::x509::to_pem;
    use peergroup_identity::{Keystore, testing};

    #[test]
    fn a_password_invitation_names_the_group_and_role_and_resists_tampering() {
        let home = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(home.path().join("peergroup")).unwrap();
        let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
        let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
        let now = SystemTime::now();
        let created = NewGroup::new("chat", "Chat").create_certificates(alice.info(), testing::key(2), now).unwrap();
        let membership = Membership {
            identity: alice.peer_name().clone(),
            group_friendly_name: "Chat".into(),
            cloud: "Global_".into(),
            chain: created.chain,
            synchronized: true,
        };
        let key = alice.signing_key().unwrap();
        let none = create(&membership, key, None, now).unwrap_err();
        assert!(matches!(none, SecurityError::NoGroupPassword { .. }), "{none:?}");
        let text = create(&membership, key, Some(Role::Member), now).unwrap();
        let info = parse(&text).unwrap();
        assert_eq!(
            (info.group, info.role, info.issuer),
            (created.group.clone(), Role::Member, alice.peer_name().clone())
        );
        assert!(crate::invitation::parse(&text).is_err(), "a password invitation is not an invitation");

        let der = single_pem(LABEL, "x", &text).unwrap();
        for at in (0..der.len()).step_by(7) {
            let mut bad = der.clone();
            bad[at] ^= 0x01;
            assert!(parse(&to_pem(LABEL, &bad)).is_err(), "byte {at} flipped was accepted");
        }

        // Issuing after the exchange: Bob gets the password role, under Alice's chain.
        let chain = issue_membership(&membership, key, &Subject::from(bob.info()), info.role, now).unwrap();
        assert_eq!(chain.leaf().subject, *bob.peer_name());
        assert_eq!(chain.leaf().roles, [Role::Member]);
    }
}
