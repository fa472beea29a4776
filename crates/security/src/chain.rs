//! Chain validation: a pure function over DER certificates and a time.
//!
//! A chain is given root first: the group root certificate (GRC), then membership
//! certificates (GMC), each signed by the key of the one before it, ending with the holder's
//! own GMC. The rules, checked in this order (the first broken one is reported):
//!
//! 1. at most [`MAX_CHAIN_LEN`] certificates, GRC included ([`SecurityError::ChainTooLong`]);
//! 2. for each certificate from the root on ([`SecurityError::ChainNotTrusted`] naming it, unless
//!    said otherwise):
//!    - it parses and its signature verifies with the previous certificate's key (the GRC with
//!      its own), and carries the peergroup extensions;
//!    - the first is a GRC whose key's SHA-1 hash is the group peer name's authority, every
//!      other one a GMC;
//!    - every certificate names the same group (and the expected one, when given);
//!    - its subject key appears nowhere earlier in the chain
//!      ([`SecurityError::CircularChain`]);
//!    - a GMC grants at least one role, each of which its issuer may give (a GRC gives any,
//!      an administrator administrator and member, a member nothing);
//!    - its validity lies within its issuer's;
//! 3. when a time is given, every certificate is valid at that time
//!    ([`SecurityError::InvalidTimePeriod`] naming the first that is not).

use std::time::SystemTime;

use peergroup_identity::{Authority, PeerName};

use crate::cert::{CertKind, GroupCertificate, unix_seconds};
use crate::error::{Result, SecurityError};
use crate::role::Role;

/// The longest chain, in certificates, group root included (as Windows' 24, whose
/// `PEER_E_CHAIN_TOO_LONG` this maps to).
pub const MAX_CHAIN_LEN: usize = 24;

/// The rule a certificate of an untrusted chain breaks ([`SecurityError::ChainNotTrusted`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainFault {
    /// The chain holds no certificate.
    #[error("the chain is empty")]
    Empty,
    /// It does not parse, or its signature does not verify with its issuer's key.
    #[error("bad certificate: {0}")]
    BadCertificate(String),
    /// A peergroup extension is missing or malformed.
    #[error("{extension} extension: {reason}")]
    BadExtension {
        /// Which extension.
        extension: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The subject is not a peer name owned by the certificate's key.
    #[error("bad subject: {0}")]
    BadSubject(String),
    /// The first certificate is not a group root certificate.
    #[error("the first certificate is not a group root certificate")]
    NotGroupRoot,
    /// A certificate after the first is not a membership certificate.
    #[error("a group root certificate may only be the first of a chain")]
    NotMembership,
    /// The root's key does not own the group peer name (its SHA-1 hash is not the authority).
    #[error("the root key's hash {key_hash} is not the authority of group {group}")]
    RootKeyMismatch {
        /// The group peer name in the root.
        group: String,
        /// The SHA-1 hash of the root's key.
        key_hash: String,
    },
    /// The certificate names another group than the chain's (or than the one expected).
    #[error("names group {found}, not {expected}")]
    WrongGroup {
        /// The group expected.
        expected: String,
        /// The group it names.
        found: String,
    },
    /// A membership certificate without roles.
    #[error("a membership certificate grants no role")]
    NoRoles,
    /// A role the issuer's certificate may not give.
    #[error("role {role} may not be issued by {issuer}")]
    RoleNotIssuable {
        /// The role granted.
        role: Role,
        /// The issuer's roles, described.
        issuer: String,
    },
    /// The validity does not lie within the issuer's.
    #[error("validity {not_before}..{not_after} is not within its issuer's {issuer_not_before}..{issuer_not_after}")]
    ValidityNotNested {
        /// Start (Unix seconds).
        not_before: i64,
        /// End.
        not_after: i64,
        /// The issuer's start.
        issuer_not_before: i64,
        /// The issuer's end.
        issuer_not_after: i64,
    },
}

/// A chain that passed [`validate_chain`]: root first, the holder's certificate last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedChain {
    certs: Vec<GroupCertificate>,
}

impl ValidatedChain {
    /// The certificates, root first.
    pub fn certificates(&self) -> &[GroupCertificate] {
        &self.certs
    }

    /// The group root certificate.
    pub fn root(&self) -> &GroupCertificate {
        // Invariant: validation refuses an empty chain.
        &self.certs[0]
    }

    /// The holder's certificate (the GRC itself for a chain of one).
    pub fn leaf(&self) -> &GroupCertificate {
        &self.certs[self.certs.len() - 1]
    }

    /// The group peer name.
    pub fn group(&self) -> &PeerName {
        &self.root().group
    }

    /// The number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true: a validated chain has its root.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The certificates' DER encodings, root first.
    pub fn to_der(&self) -> Vec<Vec<u8>> {
        self.certs.iter().map(|c| c.der.clone()).collect()
    }

    /// Checks that every certificate is valid at `now` ([`SecurityError::InvalidTimePeriod`]).
    pub fn check_time(&self, now: SystemTime) -> Result<()> {
        let now = unix_seconds(now);
        for (index, cert) in self.certs.iter().enumerate() {
            if now < cert.not_before || now > cert.not_after {
                return Err(SecurityError::InvalidTimePeriod {
                    what: format!("certificate {index} ({}) of group {}", cert.subject, cert.group),
                    not_before: cert.not_before,
                    not_after: cert.not_after,
                    now,
                });
            }
        }
        Ok(())
    }
}

fn untrusted(index: usize, fault: ChainFault) -> SecurityError {
    SecurityError::ChainNotTrusted { index, fault }
}

fn describe_issuer(issuer: &GroupCertificate) -> String {
    match issuer.kind {
        CertKind::Grc => "the group root".into(),
        CertKind::Gmc => {
            let roles: Vec<String> = issuer.roles.iter().map(Role::to_string).collect();
            format!("a certificate with roles [{}]", roles.join(", "))
        }
    }
}

/// Validates a chain (root first) against the rules of the module documentation; `group`,
/// when given, is the group it must belong to; `now`, when given, the time every certificate
/// must be valid at.
pub fn validate_chain<C: AsRef<[u8]>>(
    chain: &[C],
    group: Option<&PeerName>,
    now: Option<SystemTime>,
) -> Result<ValidatedChain> {
    if chain.is_empty() {
        return Err(untrusted(0, ChainFault::Empty));
    }
    if chain.len() > MAX_CHAIN_LEN {
        return Err(SecurityError::ChainTooLong { len: chain.len(), max: MAX_CHAIN_LEN });
    }
    let mut certs: Vec<GroupCertificate> = Vec::with_capacity(chain.len());
    for (index, der) in chain.iter().enumerate() {
        let issuer = certs.last();
        let cert = GroupCertificate::parse(der.as_ref(), issuer.map(|c| c.public_key.as_slice()))
            .map_err(|fault| untrusted(index, fault))?;
        let expected = issuer.map(|c| &c.group).or(group);
        if let Some(expected) = expected
            && cert.group != *expected
        {
            return Err(untrusted(
                index,
                ChainFault::WrongGroup { expected: expected.to_string(), found: cert.group.to_string() },
            ));
        }
        match issuer {
            None => {
                if cert.kind != CertKind::Grc {
                    return Err(untrusted(index, ChainFault::NotGroupRoot));
                }
                let key_hash = Authority::of_public_key(&cert.public_key);
                if key_hash != cert.group.authority() || cert.subject != cert.group {
                    return Err(untrusted(
                        index,
                        ChainFault::RootKeyMismatch { group: cert.group.to_string(), key_hash: key_hash.to_hex() },
                    ));
                }
            }
            Some(issuer) => {
                if cert.kind != CertKind::Gmc {
                    return Err(untrusted(index, ChainFault::NotMembership));
                }
                if let Some(earlier) = certs.iter().position(|c| c.public_key == cert.public_key) {
                    return Err(SecurityError::CircularChain { index, earlier });
                }
                if cert.roles.is_empty() {
                    return Err(untrusted(index, ChainFault::NoRoles));
                }
                if let Some(role) = cert.roles.iter().find(|r| !issuer.may_issue(**r)) {
                    return Err(untrusted(
                        index,
                        ChainFault::RoleNotIssuable { role: *role, issuer: describe_issuer(issuer) },
                    ));
                }
                if cert.not_before < issuer.not_before || cert.not_after > issuer.not_after {
                    return Err(untrusted(
                        index,
                        ChainFault::ValidityNotNested {
                            not_before: cert.not_before,
                            not_after: cert.not_after,
                            issuer_not_before: issuer.not_before,
                            issuer_not_after: issuer.not_after,
                        },
                    ));
                }
            }
        }
        certs.push(cert);
    }
    let chain = ValidatedChain { certs };
    if let Some(now) = now {
        chain.check_time(now)?;
    }
    Ok(chain)
}
