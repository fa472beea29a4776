//! The one trust path: how anything not written by this process's own validated API call (a
//! database import today, replication tomorrow) becomes trusted. Pure: it takes bytes and a
//! time, and returns values; the caller stores only what passed.
//!
//! - A member is accepted ([`accept_member`]) only with a certificate chain to the group's
//!   root: the chain validates ([`crate::validate_chain`], whose issuing rules are the
//!   policy's), its root is the group's (the group peer name is the hash of the root key, so
//!   the name alone pins the root), every certificate is valid at the time given, and the
//!   chain ends with a membership certificate of the member presented, for its key.
//! - A record is accepted ([`accept_record`]) only when its modifier is an accepted member,
//!   its signature verifies with that member's key, and the policy allows that member that
//!   change ([`crate::policy`]).
//! - A signed version of the group properties is accepted ([`accept_properties`]) only when
//!   its signer is an accepted member, its signature verifies with that member's key, and the
//!   policy allows that member to set the group properties (administrators).

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use peergroup_identity::{PeerName, VerifyingKey, default_provider};
use uuid::Uuid;

use crate::cert::CertKind;
use crate::chain::{ValidatedChain, validate_chain};
use crate::error::{Result, SecurityError};
use crate::policy::{Action, Actor, decide};
use crate::role::Role;

/// A member the trust path accepted: by [`accept_member`] (a chain to the group's root), or
/// [`AcceptedMember::from_store`] (a member this user's own store holds, accepted when stored).
#[derive(Debug, Clone)]
pub struct AcceptedMember {
    peer_name: PeerName,
    friendly_name: String,
    public_key: Vec<u8>,
    roles: Vec<Role>,
    chain: Option<ValidatedChain>,
    /// The key parsed for verifying, made on first use and shared by clones: parsing an RSA
    /// key and computing its Montgomery constants is about a fifth of a signature check, and
    /// a batch of records from one member would otherwise pay it for every record.
    verifier: Arc<OnceLock<Box<dyn VerifyingKey>>>,
}

impl PartialEq for AcceptedMember {
    fn eq(&self, other: &Self) -> bool {
        // The parsed key is a cache of `public_key`.
        (&self.peer_name, &self.friendly_name, &self.public_key, &self.roles, &self.chain)
            == (&other.peer_name, &other.friendly_name, &other.public_key, &other.roles, &other.chain)
    }
}

impl Eq for AcceptedMember {}

impl AcceptedMember {
    /// A member held by this user's own store: it was written by this user's validated API
    /// calls or accepted by [`accept_member`] before it was stored, so it is taken as it is.
    /// Never call this on anything read from outside. Role GUIDs this build does not know
    /// grant nothing.
    pub fn from_store(peer_name: PeerName, friendly_name: String, public_key: Vec<u8>, role_guids: &[Uuid]) -> Self {
        let roles = role_guids.iter().filter_map(|g| Role::from_guid(*g)).collect();
        AcceptedMember { peer_name, friendly_name, public_key, roles, chain: None, verifier: Arc::default() }
    }

    /// The member's key, parsed once for every signature checked with it (by this value or
    /// its clones).
    pub fn verifying_key(&self) -> Result<&dyn VerifyingKey> {
        if let Some(key) = self.verifier.get() {
            return Ok(key.as_ref());
        }
        let key = default_provider().verifying_key(&self.public_key)?;
        // Another thread may have set it meanwhile; either key is the same key.
        let key = self.verifier.get_or_init(|| key);
        Ok(key.as_ref())
    }

    /// The member's identity peer name.
    pub fn peer_name(&self) -> &PeerName {
        &self.peer_name
    }

    /// The member's friendly name, from its certificate.
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// The member's public key (DER `SubjectPublicKeyInfo`); it owns [`Self::peer_name`].
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The member's roles.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// The validated chain, root first (`None` for a member [`Self::from_store`]).
    pub fn chain(&self) -> Option<&ValidatedChain> {
        self.chain.as_ref()
    }

    /// The policy's actor for this member.
    pub fn actor(&self) -> Actor<'_> {
        Actor { identity: &self.peer_name, roles: &self.roles }
    }
}

/// Accepts `member` of `group` presented with `chain` (DER certificates, root first), valid
/// at `now`; [`SecurityError::MemberNotTrusted`] naming the member and the rule broken.
pub fn accept_member<C: AsRef<[u8]>>(
    group: &PeerName,
    member: &PeerName,
    chain: &[C],
    now: SystemTime,
) -> Result<AcceptedMember> {
    let refuse = |reason: String| SecurityError::MemberNotTrusted { member: member.to_string(), reason };
    let chain = validate_chain(chain, Some(group), Some(now)).map_err(|e| refuse(e.to_string()))?;
    let leaf = chain.leaf();
    if leaf.kind != CertKind::Gmc {
        return Err(refuse("its chain holds no membership certificate".into()));
    }
    if leaf.subject != *member {
        return Err(refuse(format!("its chain ends with the membership certificate of {}", leaf.subject)));
    }
    Ok(AcceptedMember {
        peer_name: leaf.subject.clone(),
        friendly_name: leaf.friendly_name.clone(),
        public_key: leaf.public_key.clone(),
        roles: leaf.roles.clone(),
        chain: Some(chain),
        verifier: Arc::default(),
    })
}

/// What a record from outside claims, in the terms the trust path checks.
#[derive(Debug, Clone, Copy)]
pub struct RecordClaim<'a> {
    /// The record id.
    pub id: Uuid,
    /// The record type.
    pub record_type: Uuid,
    /// Its version (1 for a new record).
    pub version: u32,
    /// Whether it is a deletion (tombstone).
    pub deleted: bool,
    /// The record's creator (its owner).
    pub creator: &'a PeerName,
    /// The member that made this version, who signed it.
    pub modifier: &'a PeerName,
    /// The bytes the modifier signed (the record's canonical encoding without signature).
    pub signed: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

impl RecordClaim<'_> {
    /// The change this version makes, as the policy sees it.
    pub fn action(&self) -> Action<'_> {
        if self.deleted {
            Action::DeleteRecord { record_type: self.record_type, creator: self.creator }
        } else if self.version <= 1 {
            Action::AddRecord { record_type: self.record_type }
        } else {
            Action::UpdateRecord { record_type: self.record_type, creator: self.creator }
        }
    }
}

/// Accepts a record whose modifier is `modifier` (`None` when it is no accepted member):
/// [`SecurityError::RecordNotTrusted`] naming the record and the rule broken.
pub fn accept_record(claim: &RecordClaim<'_>, modifier: Option<&AcceptedMember>) -> Result<()> {
    let refuse = |reason: String| SecurityError::RecordNotTrusted { id: claim.id, reason };
    let member = match modifier {
        Some(m) if m.peer_name() == claim.modifier => m,
        _ => return Err(SecurityError::UnknownModifier { id: claim.id, modifier: claim.modifier.to_string() }),
    };
    if claim.version <= 1 && !claim.deleted && claim.creator != claim.modifier {
        return Err(refuse(format!("its first version is by {}, not its creator {}", claim.modifier, claim.creator)));
    }
    member
        .verifying_key()?
        .verify(claim.signed, claim.signature)
        .map_err(|_| refuse(format!("the signature by {} does not verify", claim.modifier)))?;
    decide(&member.actor(), &claim.action())
        .map_err(|reason| refuse(format!("{} may not make it: {reason}", claim.modifier)))
}

/// What a signed version of the group properties from outside claims.
#[derive(Debug, Clone, Copy)]
pub struct PropertiesClaim<'a> {
    /// The id of the signed item (the id of the record that carries it).
    pub id: Uuid,
    /// The member that made this version, who signed it.
    pub modifier: &'a PeerName,
    /// The bytes the modifier signed.
    pub signed: &'a [u8],
    /// The signature.
    pub signature: &'a [u8],
}

/// Accepts a signed version of the group properties whose signer is `modifier` (`None` when
/// it is no accepted member): the signature verifies with its key and the policy lets it
/// set the properties ([`Action::SetProperties`]: administrators only).
/// [`SecurityError::RecordNotTrusted`] naming the item and the rule broken.
pub fn accept_properties(claim: &PropertiesClaim<'_>, modifier: Option<&AcceptedMember>) -> Result<()> {
    let refuse = |reason: String| SecurityError::RecordNotTrusted { id: claim.id, reason };
    let member = match modifier {
        Some(m) if m.peer_name() == claim.modifier => m,
        _ => return Err(SecurityError::UnknownModifier { id: claim.id, modifier: claim.modifier.to_string() }),
    };
    member
        .verifying_key()?
        .verify(claim.signed, claim.signature)
        .map_err(|_| refuse(format!("the signature by {} does not verify", claim.modifier)))?;
    decide(&member.actor(), &Action::SetProperties)
        .map_err(|reason| refuse(format!("{} may not set the group properties: {reason}", claim.modifier)))
}
