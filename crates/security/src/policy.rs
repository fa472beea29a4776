//! The authorization policy: who may do what in a group, as pure functions of the actor's
//! roles and the object of the action. Every layer asks here instead of deciding itself: the
//! state layer for records, the facade for properties, invitations and chain validation for
//! issuing, and the trust path for everything that comes from outside.
//!
//! The rules (Windows' role table, `docs/security.md`):
//!
//! | action | administrator | member |
//! |---|---|---|
//! | add a record | yes | yes |
//! | update or delete a record | any | its own (it is the record's creator) |
//! | set the group properties | yes | no |
//! | issue a credential (invitation) of role R | R is administrator or member | no |
//!
//! An actor without any role (no membership) may do nothing.

use peergroup_identity::PeerName;
use uuid::Uuid;

use crate::error::SecurityError;
use crate::role::Role;

/// Who acts: an identity and the roles its membership certificate grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor<'a> {
    /// The acting identity.
    pub identity: &'a PeerName,
    /// Its roles in the group.
    pub roles: &'a [Role],
}

/// What an actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Publish a new record of a type (`PeerGroupAddRecord`).
    AddRecord {
        /// The record type.
        record_type: Uuid,
    },
    /// Change a record (`PeerGroupUpdateRecord`).
    UpdateRecord {
        /// The record type.
        record_type: Uuid,
        /// The record's creator (its owner).
        creator: &'a PeerName,
    },
    /// Delete a record (`PeerGroupDeleteRecord`).
    DeleteRecord {
        /// The record type.
        record_type: Uuid,
        /// The record's creator (its owner).
        creator: &'a PeerName,
    },
    /// Change the group properties (`PeerGroupSetProperties`).
    SetProperties,
    /// Issue a membership certificate granting a role (`PeerGroupCreateInvitation`,
    /// `PeerGroupIssueCredentials`).
    Issue {
        /// The role granted.
        role: Role,
    },
}

/// Whether a holder of role `holder` may grant `granted` to someone else: an administrator
/// issues administrators and members, a member issues nothing ("a peer cannot invite someone
/// into a role superior to its own", and only administrators invite).
pub fn role_may_issue(holder: Role, granted: Role) -> bool {
    match holder {
        Role::Administrator => matches!(granted, Role::Administrator | Role::Member),
        Role::Member => false,
    }
}

/// Decides: `Ok(())` when the policy allows `actor` to do `action`, else the reason it does
/// not, as text.
pub fn decide(actor: &Actor<'_>, action: &Action<'_>) -> Result<(), String> {
    let admin = actor.roles.contains(&Role::Administrator);
    if actor.roles.is_empty() {
        return Err("it holds no role in the group".into());
    }
    match *action {
        Action::AddRecord { .. } => Ok(()),
        Action::UpdateRecord { creator, .. } | Action::DeleteRecord { creator, .. } => {
            if admin || creator == actor.identity {
                Ok(())
            } else {
                Err(format!("only administrators change records of other members (this one is {creator}'s)"))
            }
        }
        Action::SetProperties => {
            if admin {
                Ok(())
            } else {
                Err("only administrators change the group properties".into())
            }
        }
        Action::Issue { role } => {
            if !admin {
                Err("only administrators issue invitations".into())
            } else if actor.roles.iter().any(|held| role_may_issue(*held, role)) {
                Ok(())
            } else {
                Err(format!("its roles do not allow issuing the {role} role"))
            }
        }
    }
}

/// [`decide`] as a [`SecurityError::NotAuthorized`] naming the actor and `group`.
pub fn authorize(group: &PeerName, actor: &Actor<'_>, action: &Action<'_>) -> Result<(), SecurityError> {
    decide(actor, action).map_err(|reason| SecurityError::NotAuthorized {
        identity: actor.identity.to_string(),
        group: group.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> PeerName {
        format!("{}.{n}", "ab".repeat(20)).parse().unwrap()
    }

    #[test]
    fn members_change_only_their_own_records() {
        let (alice, bob) = (name("alice"), name("bob"));
        let t = Uuid::from_u128(1);
        let member = Actor { identity: &alice, roles: &[Role::Member] };
        let admin = Actor { identity: &alice, roles: &[Role::Administrator] };
        assert!(decide(&member, &Action::AddRecord { record_type: t }).is_ok());
        assert!(decide(&member, &Action::UpdateRecord { record_type: t, creator: &alice }).is_ok());
        assert!(decide(&member, &Action::DeleteRecord { record_type: t, creator: &bob }).is_err());
        assert!(decide(&admin, &Action::DeleteRecord { record_type: t, creator: &bob }).is_ok());
        assert!(decide(&member, &Action::SetProperties).is_err());
        assert!(decide(&admin, &Action::Issue { role: Role::Administrator }).is_ok());
        assert!(decide(&member, &Action::Issue { role: Role::Member }).is_err());
        let nobody = Actor { identity: &alice, roles: &[] };
        assert!(decide(&nobody, &Action::AddRecord { record_type: t }).is_err());
        let err = authorize(&bob, &member, &Action::SetProperties).unwrap_err();
        assert!(matches!(err, SecurityError::NotAuthorized { .. }) && err.to_string().contains("administrators"));
    }
}
