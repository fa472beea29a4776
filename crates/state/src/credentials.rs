//! `PeerGroupIssueCredentials` in a group database, and the member's side of
//! `PEER_GROUP_STORE_CREDENTIALS` (`docs/security.md`, "Issuing credentials").
//!
//! Storing the credentials puts the subject's new chain in its member entry, which replicates
//! like every member entry: each member's store takes it through the trust path and keeps the
//! entry whose certificate starts last. The subject, finding in its own database an entry for
//! itself that starts later than its membership file, adopts it
//! ([`GroupDb::adopt_published_membership`]).

use std::time::SystemTime;

use peergroup_identity::x509::from_pem;
use peergroup_identity::{Identity, IdentityInfo, PeerName, validate_friendly_name};
use peergroup_security::invitation::{self, InvitationRequest};
use peergroup_security::trust::accept_member;
use peergroup_security::{GroupCertificate, Membership, Role, Subject, ValidatedChain, validate_chain};

use crate::db::GroupDb;
use crate::error::{Result, StateError};
use crate::membership::{adopt, member_entry_of, read_membership, update_membership};
use crate::properties::Member;

/// Whom `PeerGroupIssueCredentials` issues for.
#[derive(Debug, Clone, Copy)]
pub enum CredentialSubject<'a> {
    /// A member the group database holds, by peer name: its key and friendly name are the
    /// member entry's ([`StateError::SubjectNotFound`] if there is none).
    Member(&'a PeerName),
    /// An identity by its public info (`PeerIdentityGetXML`): a member or not yet.
    Identity(&'a IdentityInfo),
}

/// What to issue (`PEER_CREDENTIAL_INFO` and the flags of `PeerGroupIssueCredentials`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialRequest {
    /// The roles to grant; empty means the roles the subject holds now (member for an
    /// identity that is not a member).
    pub roles: Vec<Role>,
    /// When the credentials end; `None` means the issuer's own end.
    pub expiration: Option<SystemTime>,
    /// The subject's friendly name in the certificate; `None` means the one it has.
    pub friendly_name: Option<String>,
    /// `PEER_GROUP_STORE_CREDENTIALS`: publish the new chain in the subject's member entry.
    pub store: bool,
}

impl GroupDb {
    /// `PeerGroupIssueCredentials` by `issuer`, this database's identity: issues the subject a
    /// membership certificate (new, renewed, or with other roles) under the rules of
    /// [`invitation::issue_credentials`], starting after the one the database holds for it.
    /// With [`CredentialRequest::store`], the new chain replaces the subject's member entry
    /// (it replicates). Returns the invitation text that carries the credentials.
    pub fn issue_credentials(
        &self,
        issuer: &Identity,
        subject: CredentialSubject<'_>,
        request: &CredentialRequest,
        now: SystemTime,
    ) -> Result<String> {
        let membership = read_membership(self.dir(), self.identity(), self.group_peer_name())?;
        let name = match subject {
            CredentialSubject::Member(name) => name,
            CredentialSubject::Identity(info) => info.peer_name(),
        };
        let held = match self.member(name) {
            Ok(m) => Some(m),
            Err(StateError::MemberNotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        let held_chain = held.as_ref().and_then(|m| stored_chain(self.group_peer_name(), m));
        let mut to = match (subject, &held) {
            (CredentialSubject::Identity(info), _) => Subject::from(info),
            (CredentialSubject::Member(_), Some(m)) => Subject {
                peer_name: m.peer_name.clone(),
                friendly_name: m.friendly_name.clone(),
                public_key: m.public_key.clone(),
            },
            (CredentialSubject::Member(name), None) => {
                return Err(StateError::SubjectNotFound {
                    subject: name.to_string(),
                    group: self.group_peer_name().to_string(),
                });
            }
        };
        if let Some(friendly_name) = &request.friendly_name {
            validate_friendly_name(friendly_name)?;
            to.friendly_name = friendly_name.clone();
        }
        let roles = match (&request.roles[..], &held) {
            ([], Some(m)) => m.roles.iter().filter_map(|g| Role::from_guid(*g)).collect(),
            (roles, _) => roles.to_vec(),
        };
        let wanted = InvitationRequest { roles, expiration: request.expiration };
        let current: Option<&GroupCertificate> = held_chain.as_ref().map(ValidatedChain::leaf);
        let issued = invitation::issue_credentials(&membership, issuer.signing_key()?, &to, &wanted, current, now)?;
        if request.store {
            // Presence flags are this host's.
            let flags = held.map_or(0, |m| m.flags);
            self.put_member(&Member { flags, ..member_entry_of(&issued.chain) })?;
        }
        Ok(issued.invitation)
    }

    /// The member's side of `PEER_GROUP_STORE_CREDENTIALS`: when this database's member entry
    /// for its own identity carries a chain that is valid now (through the trust path, as
    /// anything from outside) and starts later than the membership file's, the membership
    /// takes it, in one atomic replacement of the file. Returns the membership when it
    /// changed. Cheap when nothing changed: one row read and compared.
    pub fn adopt_published_membership(&self) -> Result<Option<Membership>> {
        let (me, group) = (self.identity(), self.group_peer_name());
        let entry = match self.member(me) {
            Ok(m) => m,
            Err(StateError::MemberNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let held = read_membership(self.dir(), me, group)?;
        if entry.certificate == member_entry_of(&held.chain).certificate {
            return Ok(None);
        }
        let Some(published) = published_chain(group, me, &entry, SystemTime::now()) else { return Ok(None) };
        let (membership, changed) = update_membership(self.dir(), me, group, |m| adopt(m, &published))?;
        Ok(changed.then_some(membership))
    }
}

/// The chain a member entry holds, validated without a time (it was checked when stored);
/// `None` for an entry stored without one.
fn stored_chain(group: &PeerName, member: &Member) -> Option<ValidatedChain> {
    validate_chain(&entry_certificates(member)?, Some(group), None).ok()
}

/// The certificates (DER, root first) of a member entry's PEM chain.
fn entry_certificates(member: &Member) -> Option<Vec<Vec<u8>>> {
    from_pem("CERTIFICATE", std::str::from_utf8(&member.certificate).ok()?).ok()
}

/// The chain of `entry`, this identity's own member entry, if the trust path accepts it for
/// `me` at `now`. An entry that is not valid now (expired, or starting later than this
/// host's clock) is not adopted, and neither is one stored without a chain; both leave the
/// membership as it is, which is no error.
fn published_chain(group: &PeerName, me: &PeerName, entry: &Member, now: SystemTime) -> Option<ValidatedChain> {
    let accepted = accept_member(group, me, &entry_certificates(entry)?, now).ok()?;
    accepted.chain().cloned()
}
