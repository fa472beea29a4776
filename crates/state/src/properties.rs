//! Group properties (the counterpart of `PEER_GROUP_PROPERTIES`) and members.

use peergroup_identity::PeerName;
use uuid::Uuid;

use crate::error::{Result, StateError};

/// The longest friendly name and comment, in UTF-16 code units (Windows: 255 plus the NUL).
pub const MAX_GROUP_TEXT_UTF16: usize = 255;
/// The longest cloud name, in UTF-16 code units (`PEER_PNRP_CLOUD_INFO`: 256).
pub const MAX_CLOUD_NAME_UTF16: usize = 256;

/// `PEER_GROUP_PROPERTY_FLAGS`: members need not publish membership data.
pub const PEER_MEMBER_DATA_OPTIONAL: u32 = 0x1;
/// `PEER_GROUP_PROPERTY_FLAGS`: members do not publish presence.
pub const PEER_DISABLE_PRESENCE: u32 = 0x2;
/// `PEER_GROUP_PROPERTY_FLAGS`: records do not expire while the group is not connected.
pub const PEER_DEFER_EXPIRATION: u32 = 0x4;
/// `PEER_GROUP_AUTHENTICATION_SCHEME`: membership certificates.
pub const PEER_GROUP_GMC_AUTHENTICATION: u32 = 0x1;
/// `PEER_GROUP_AUTHENTICATION_SCHEME`: group password.
pub const PEER_GROUP_PASSWORD_AUTHENTICATION: u32 = 0x2;
/// The default member-data lifetime: 28 days, in seconds.
pub const DEFAULT_MEMBER_DATA_LIFETIME: u32 = 2_419_200;
/// The default (and least) presence lifetime, in seconds.
pub const DEFAULT_PRESENCE_LIFETIME: u32 = 300;

/// The properties of a group: the counterpart of `PEER_GROUP_PROPERTIES` (the password itself
/// is not kept here; the security layer keeps what it needs in [`crate::GroupDb::put_blob`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupProperties {
    /// The group peer name (fixed when the group is created).
    pub group_peer_name: PeerName,
    /// The classifier of the group peer name.
    pub classifier: String,
    /// The identity that created the group.
    pub creator: PeerName,
    /// The friendly name (at most 255 UTF-16 units).
    pub friendly_name: String,
    /// The comment (at most 255 UTF-16 units).
    pub comment: String,
    /// The cloud name; `None` is the global cloud.
    pub cloud_name: Option<String>,
    /// The cloud scope (`PNRP_SCOPE`).
    pub cloud_scope: u32,
    /// The cloud flags (`PNRP_CLOUD_FLAGS`).
    pub cloud_flags: u32,
    /// Member-data lifetime in seconds.
    pub member_data_lifetime: u32,
    /// Presence lifetime in seconds.
    pub presence_lifetime: u32,
    /// `PEER_GROUP_PROPERTY_FLAGS`.
    pub flags: u32,
    /// `PEER_GROUP_AUTHENTICATION_SCHEME` bits.
    pub authentication_schemes: u32,
    /// The role given to those who join with the password.
    pub password_role: Option<Uuid>,
    /// Starts at 1, one more on every [`crate::GroupDb::set_properties`].
    pub version: u32,
}

impl GroupProperties {
    /// Properties with the Windows defaults for everything but the names.
    pub fn new(group_peer_name: PeerName, creator: PeerName, friendly_name: &str) -> Self {
        Self {
            classifier: group_peer_name.classifier().to_owned(),
            group_peer_name,
            creator,
            friendly_name: friendly_name.to_owned(),
            comment: String::new(),
            cloud_name: None,
            cloud_scope: 0,
            cloud_flags: 0,
            member_data_lifetime: DEFAULT_MEMBER_DATA_LIFETIME,
            presence_lifetime: DEFAULT_PRESENCE_LIFETIME,
            flags: 0,
            authentication_schemes: PEER_GROUP_GMC_AUTHENTICATION,
            password_role: None,
            version: 1,
        }
    }

    /// Checks the rules this layer keeps: text lengths, no control characters, known flags.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(StateError::InvalidGroupProperties { reason });
        for (what, text, max) in [
            ("friendly name", self.friendly_name.as_str(), MAX_GROUP_TEXT_UTF16),
            ("comment", self.comment.as_str(), MAX_GROUP_TEXT_UTF16),
            ("cloud name", self.cloud_name.as_deref().unwrap_or(""), MAX_CLOUD_NAME_UTF16),
        ] {
            if text.len() > 4 * max || text.encode_utf16().count() > max {
                return invalid(format!("{what} is longer than {max} UTF-16 code units"));
            }
            if text.contains('\0') {
                return invalid(format!("{what} contains a NUL character"));
            }
        }
        if self.friendly_name.is_empty() {
            return invalid("friendly name is empty".into());
        }
        if self.classifier != self.group_peer_name.classifier() {
            return invalid(format!(
                "classifier {:?} is not the classifier of group peer name {}",
                self.classifier, self.group_peer_name
            ));
        }
        if self.flags & !(PEER_MEMBER_DATA_OPTIONAL | PEER_DISABLE_PRESENCE | PEER_DEFER_EXPIRATION) != 0 {
            return invalid(format!("unknown property flags {:#x}", self.flags));
        }
        if self.authentication_schemes & !(PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION) != 0 {
            return invalid(format!("unknown authentication schemes {:#x}", self.authentication_schemes));
        }
        Ok(())
    }
}

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
