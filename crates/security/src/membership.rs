//! An identity's membership of a group: what `PeerGroupOpen` needs besides the database.

use std::time::SystemTime;

use peergroup_identity::PeerName;

use crate::chain::ValidatedChain;
use crate::error::{Result, SecurityError};
use crate::role::Role;

/// An identity's membership of a group: its certificate chain (root first, its own GMC last),
/// the group's cloud and friendly name, and whether it has been synchronised with a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The member identity (the subject of the last certificate).
    pub identity: PeerName,
    /// The group's friendly name, as the creator set it or the invitation told.
    pub group_friendly_name: String,
    /// The name of the cloud the group lives in, as its creator passed it (`Global_` when none).
    pub cloud: String,
    /// The chain, validated when this value was made.
    pub chain: ValidatedChain,
    /// Whether the group has been synchronised with a member since joining (always true for
    /// the creator). Until then, data only the group holds is [`crate::SecurityError::GroupNotReady`].
    pub synchronized: bool,
}

impl Membership {
    /// The group peer name.
    pub fn group(&self) -> &PeerName {
        self.chain.group()
    }

    /// The roles of this membership.
    pub fn roles(&self) -> &[Role] {
        &self.chain.leaf().roles
    }

    /// Whether this identity holds the group key (it created the group): its GMC is the
    /// second certificate, issued by the GRC.
    pub fn is_owner_chain(&self) -> bool {
        self.chain.len() == 2
    }

    /// [`SecurityError::GroupNotReady`] until the group has been synchronised with a member.
    pub fn ensure_ready(&self) -> Result<()> {
        if self.synchronized { Ok(()) } else { Err(SecurityError::GroupNotReady { group: self.group().to_string() }) }
    }

    /// Checks that every certificate of the chain is valid at `now`.
    pub fn check_time(&self, now: SystemTime) -> Result<()> {
        self.chain.check_time(now)
    }
}
