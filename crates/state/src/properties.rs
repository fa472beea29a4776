//! Members as the group database keeps them (the group properties are the security layer's
//! model, [`peergroup_security::GroupProperties`], which this crate stores as they are).

use peergroup_identity::PeerName;
use uuid::Uuid;

use crate::error::{Result, StateError};

/// `PEER_MEMBER_FLAGS`: the member is present (connected).
pub const PEER_MEMBER_PRESENT: u32 = 0x1;

/// A member of the group as this database knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The member's identity peer name.
    pub peer_name: PeerName,
    /// The member's friendly name.
    pub friendly_name: String,
    /// The member's public key (DER `SubjectPublicKeyInfo`); it must own `peer_name`. Records
    /// modified by this member are verified with it.
    pub public_key: Vec<u8>,
    /// The membership certificate chain (GMC), opaque to this layer (the security layer
    /// writes and checks it).
    pub certificate: Vec<u8>,
    /// The member's roles.
    pub roles: Vec<Uuid>,
    /// `PEER_MEMBER_FLAGS`.
    pub flags: u32,
}

impl Member {
    /// Checks that the public key owns the (secure) peer name.
    pub fn validate(&self) -> Result<()> {
        if !self.peer_name.is_secure() || !self.peer_name.is_owned_by(&self.public_key) {
            return Err(StateError::InvalidMember {
                peer_name: self.peer_name.to_string(),
                reason: "the public key does not own the (secure) peer name".into(),
            });
        }
        Ok(())
    }
}
