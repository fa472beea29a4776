//! Group roles, identified by the GUIDs Windows used (`PEER_GROUP_ROLE_*`).

use std::fmt;

use uuid::Uuid;

/// A role in a group, carried by a membership certificate.
///
/// Windows' Vista-era `PEER_GROUP_ROLE_INVITING_MEMBER` is not supported: its rules were never
/// documented, and a certificate carrying it is refused as an unknown role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `PEER_GROUP_ROLE_ADMIN` {04387127-aa56-450a-8ce5-4f565c6790f4}: issues invitations and
    /// credentials (administrator or member), and has every member right.
    Administrator,
    /// `PEER_GROUP_ROLE_MEMBER` {f12dc4c7-0857-4ca0-93fc-b1bb19a3d8c2}: publishes records,
    /// issues nothing.
    Member,
}

/// `PEER_GROUP_ROLE_ADMIN`.
pub const ROLE_ADMIN_GUID: Uuid = Uuid::from_u128(0x04387127_aa56_450a_8ce5_4f565c6790f4);
/// `PEER_GROUP_ROLE_MEMBER`.
pub const ROLE_MEMBER_GUID: Uuid = Uuid::from_u128(0xf12dc4c7_0857_4ca0_93fc_b1bb19a3d8c2);

impl Role {
    /// Every role, in a fixed order.
    pub const ALL: [Role; 2] = [Role::Administrator, Role::Member];

    /// The role's GUID, as in p2p.h.
    pub fn guid(self) -> Uuid {
        match self {
            Role::Administrator => ROLE_ADMIN_GUID,
            Role::Member => ROLE_MEMBER_GUID,
        }
    }

    /// The role of a GUID, if it is one this crate knows.
    pub fn from_guid(guid: Uuid) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.guid() == guid)
    }

    /// Whether a holder of this role may issue `other` to someone else: an administrator
    /// issues administrators and members, a member issues nothing (as Windows: "a peer cannot
    /// invite someone into a role superior to its own", and only administrators invite).
    /// The rule is the policy's ([`crate::policy::role_may_issue`]).
    pub fn may_issue(self, other: Role) -> bool {
        crate::policy::role_may_issue(self, other)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Administrator => "administrator",
            Role::Member => "member",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_windows_ones() {
        assert_eq!(Role::Administrator.guid().to_string(), "04387127-aa56-450a-8ce5-4f565c6790f4");
        assert_eq!(Role::Member.guid().to_string(), "f12dc4c7-0857-4ca0-93fc-b1bb19a3d8c2");
        for r in Role::ALL {
            assert_eq!(Role::from_guid(r.guid()), Some(r));
        }
        assert_eq!(Role::from_guid(Uuid::from_u128(0x4370fd89_dc18_4cfb_8dbf_9853a8a9f905)), None);
    }

    #[test]
    fn only_administrators_issue() {
        assert!(Role::Administrator.may_issue(Role::Administrator));
        assert!(Role::Administrator.may_issue(Role::Member));
        assert!(!Role::Member.may_issue(Role::Member));
        assert!(!Role::Member.may_issue(Role::Administrator));
    }
}
