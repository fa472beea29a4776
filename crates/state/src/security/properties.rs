//! What a new group is made of (the creation-time part of `PEER_GROUP_PROPERTIES`), its
//! limits, and the pure part of `PeerGroupCreate`: the group key's certificates.

use std::time::{Duration, SystemTime};

use peergroup_identity::provider::Pkcs8Der;
use peergroup_identity::x509::INFINITE_VALIDITY;
use peergroup_identity::{IdentityInfo, PeerName, default_provider, validate_classifier};

use super::cert::{CLOCK_SKEW_ALLOWANCE, GroupCertificate, Subject, issue_gmc, issue_grc};
use super::chain::{ValidatedChain, validate_chain};
use super::role::Role;
use crate::error::{Result, StateError};

pub use crate::properties::MAX_GROUP_TEXT_UTF16;
/// The longest cloud name, in characters (Windows: 256).
pub const MAX_CLOUD_NAME_LEN: usize = 256;
/// The shortest member-data lifetime (Windows' API documentation: 8 hours).
pub const MIN_MEMBER_DATA_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// The longest member-data lifetime (Windows' API documentation: 10 years of 365 days).
pub const MAX_MEMBER_DATA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);
/// The default member-data lifetime (28 days, as Windows).
pub const DEFAULT_MEMBER_DATA_LIFETIME: Duration =
    Duration::from_secs(crate::properties::DEFAULT_MEMBER_DATA_LIFETIME as u64);
/// The shortest presence lifetime (Windows: 300 seconds, also the default).
pub const MIN_PRESENCE_LIFETIME: Duration = Duration::from_secs(crate::properties::DEFAULT_PRESENCE_LIFETIME as u64);
/// The longest presence lifetime (as the member-data lifetime).
pub const MAX_PRESENCE_LIFETIME: Duration = MAX_MEMBER_DATA_LIFETIME;

/// `PEER_MEMBER_DATA_OPTIONAL`.
pub const FLAG_MEMBER_DATA_OPTIONAL: u32 = crate::properties::PEER_MEMBER_DATA_OPTIONAL;
/// `PEER_DISABLE_PRESENCE`.
pub const FLAG_DISABLE_PRESENCE: u32 = crate::properties::PEER_DISABLE_PRESENCE;
/// `PEER_DEFER_EXPIRATION`.
pub const FLAG_DEFER_EXPIRATION: u32 = crate::properties::PEER_DEFER_EXPIRATION;
/// `PEER_GROUP_GMC_AUTHENTICATION`: membership certificates (the only scheme so far).
pub const AUTH_GMC: u32 = crate::properties::PEER_GROUP_GMC_AUTHENTICATION;
/// `PEER_GROUP_PASSWORD_AUTHENTICATION`: reserved for password groups (a later issue).
pub const AUTH_PASSWORD: u32 = crate::properties::PEER_GROUP_PASSWORD_AUTHENTICATION;

/// `PNRP_CLOUD_NAME_LOCAL`: the cloud name means something only on the machine that wrote it.
pub const CLOUD_NAME_LOCAL: u32 = 0x1;
/// `PNRP_GLOBAL_SCOPE`.
pub const SCOPE_GLOBAL: u32 = 1;
/// `PNRP_LINK_LOCAL_SCOPE`.
pub const SCOPE_LINK_LOCAL: u32 = 3;

/// The cloud a group lives in, as invitations and configuration exports carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// Its name (`Global_`, `LinkLocal_...`).
    pub name: String,
    /// Its PNRP scope (`PNRP_SCOPE`: 0 any, 1 global, 2 site-local, 3 link-local).
    pub scope: u32,
    /// `PNRP_CLOUD_FLAGS` (0, or [`CLOUD_NAME_LOCAL`]).
    pub flags: u32,
}

impl Default for Cloud {
    /// The global cloud, `Global_`.
    fn default() -> Self {
        Cloud { name: "Global_".into(), scope: SCOPE_GLOBAL, flags: 0 }
    }
}

impl Cloud {
    /// Checks the limits: a name of 1 to [`MAX_CLOUD_NAME_LEN`] characters without spaces or
    /// control characters, a scope from 0 to 3, flags within [`CLOUD_NAME_LOCAL`].
    pub fn validate(&self) -> std::result::Result<(), String> {
        let len = self.name.chars().count();
        if len == 0 || len > MAX_CLOUD_NAME_LEN {
            return Err(format!("cloud name is {len} characters; 1 to {MAX_CLOUD_NAME_LEN} are allowed"));
        }
        if self.name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("cloud name holds a space or control character".into());
        }
        if self.scope > 3 {
            return Err(format!("cloud scope {} is not a PNRP scope (0 to 3)", self.scope));
        }
        if self.flags & !CLOUD_NAME_LOCAL != 0 {
            return Err(format!("cloud flags {:#x} hold unknown bits", self.flags));
        }
        Ok(())
    }
}

/// The properties a group is created with (`PEER_GROUP_PROPERTIES` at `PeerGroupCreate`; the
/// group and creator peer names are not among them: they are made and taken from the creator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    /// The classifier of the group peer name (as identity classifiers: 1 to 149 UTF-16 units).
    pub classifier: String,
    /// The friendly name, at most [`MAX_GROUP_TEXT_UTF16`] units; empty means the classifier.
    pub friendly_name: String,
    /// A comment, at most [`MAX_GROUP_TEXT_UTF16`] units.
    pub comment: String,
    /// The cloud.
    pub cloud: Cloud,
    /// `PEER_GROUP_PROPERTY_FLAGS` ([`FLAG_MEMBER_DATA_OPTIONAL`], [`FLAG_DISABLE_PRESENCE`],
    /// [`FLAG_DEFER_EXPIRATION`]).
    pub flags: u32,
    /// How long member data lives, from [`MIN_MEMBER_DATA_LIFETIME`] to
    /// [`MAX_MEMBER_DATA_LIFETIME`]; zero means the maximum.
    pub member_data_lifetime: Duration,
    /// How long presence lives, from [`MIN_PRESENCE_LIFETIME`] to [`MAX_PRESENCE_LIFETIME`].
    pub presence_lifetime: Duration,
    /// `PEER_GROUP_AUTHENTICATION_SCHEME` bits; only [`AUTH_GMC`] is accepted so far (zero
    /// means it). [`AUTH_PASSWORD`] waits for password groups.
    pub authentication_schemes: u32,
}

impl NewGroup {
    /// A group with that classifier and friendly name and every other property at its default
    /// (global cloud, no flags, 28-day member data, 300-second presence, GMC authentication).
    pub fn new(classifier: impl Into<String>, friendly_name: impl Into<String>) -> Self {
        NewGroup {
            classifier: classifier.into(),
            friendly_name: friendly_name.into(),
            comment: String::new(),
            cloud: Cloud::default(),
            flags: 0,
            member_data_lifetime: DEFAULT_MEMBER_DATA_LIFETIME,
            presence_lifetime: MIN_PRESENCE_LIFETIME,
            authentication_schemes: AUTH_GMC,
        }
    }

    /// Checks every property against its limit ([`StateError::InvalidGroupProperties`],
    /// naming the property).
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| StateError::InvalidGroupProperties { reason };
        validate_classifier(&self.classifier).map_err(|e| invalid(format!("classifier: {e}")))?;
        for (what, text) in [("friendly name", &self.friendly_name), ("comment", &self.comment)] {
            let units = text.encode_utf16().count();
            if units > MAX_GROUP_TEXT_UTF16 {
                return Err(invalid(format!(
                    "{what} is {units} UTF-16 code units long; at most {MAX_GROUP_TEXT_UTF16} are allowed"
                )));
            }
        }
        if self.friendly_name.chars().any(char::is_control) {
            return Err(invalid("friendly name holds a control character".into()));
        }
        if self.comment.contains('\0') {
            return Err(invalid("comment holds a NUL character".into()));
        }
        self.cloud.validate().map_err(invalid)?;
        let known = FLAG_MEMBER_DATA_OPTIONAL | FLAG_DISABLE_PRESENCE | FLAG_DEFER_EXPIRATION;
        if self.flags & !known != 0 {
            return Err(invalid(format!("flags {:#x} hold unknown bits", self.flags)));
        }
        let life = self.member_data_lifetime;
        if !life.is_zero() && !(MIN_MEMBER_DATA_LIFETIME..=MAX_MEMBER_DATA_LIFETIME).contains(&life) {
            return Err(invalid(format!(
                "member data lifetime {} s is outside {}..={} s",
                life.as_secs(),
                MIN_MEMBER_DATA_LIFETIME.as_secs(),
                MAX_MEMBER_DATA_LIFETIME.as_secs()
            )));
        }
        if !(MIN_PRESENCE_LIFETIME..=MAX_PRESENCE_LIFETIME).contains(&self.presence_lifetime) {
            return Err(invalid(format!(
                "presence lifetime {} s is outside {}..={} s",
                self.presence_lifetime.as_secs(),
                MIN_PRESENCE_LIFETIME.as_secs(),
                MAX_PRESENCE_LIFETIME.as_secs()
            )));
        }
        match self.authentication_schemes {
            0 | AUTH_GMC => {}
            s if s & AUTH_PASSWORD != 0 => {
                return Err(invalid("password authentication is not supported yet".into()));
            }
            s => return Err(invalid(format!("authentication schemes {s:#x} hold unknown bits"))),
        }
        Ok(())
    }

    /// The friendly name, or the classifier when it is empty.
    pub fn effective_friendly_name(&self) -> &str {
        if self.friendly_name.is_empty() { &self.classifier } else { &self.friendly_name }
    }

    /// The member-data lifetime with zero replaced by the maximum.
    pub fn effective_member_data_lifetime(&self) -> Duration {
        if self.member_data_lifetime.is_zero() { MAX_MEMBER_DATA_LIFETIME } else { self.member_data_lifetime }
    }

    /// The pure part of `PeerGroupCreate`: validates the properties, then, from the group's new
    /// key pair (PKCS#8 DER), makes the group peer name, the self-signed GRC and the creator's
    /// GMC (administrator, "infinite" lifetime, signed by the group key).
    pub fn create_certificates(
        &self,
        creator: &IdentityInfo,
        group_key: Pkcs8Der,
        now: SystemTime,
    ) -> Result<CreatedGroup> {
        self.validate()?;
        let signer = default_provider().signing_key(&group_key)?;
        let group = PeerName::secure(signer.public_key_der(), &self.classifier)
            .map_err(|e| StateError::InvalidGroupProperties { reason: format!("classifier: {e}") })?;
        let not_before = now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now);
        let not_after = now + INFINITE_VALIDITY;
        let grc = issue_grc(signer.as_ref(), &group, not_before, not_after)?;
        let root =
            GroupCertificate::parse(&grc, None).map_err(|fault| StateError::ChainNotTrusted { index: 0, fault })?;
        let gmc =
            issue_gmc(&root, signer.as_ref(), &Subject::from(creator), &[Role::Administrator], not_before, not_after)?;
        let chain = validate_chain(&[grc, gmc], Some(&group), Some(now))?;
        Ok(CreatedGroup { group, group_key, chain })
    }
}

/// What creating a group makes: its name, its key, and the creator's chain (GRC, GMC).
#[derive(Debug)]
pub struct CreatedGroup {
    /// The group peer name: `<SHA-1 of the group key>.<classifier>`.
    pub group: PeerName,
    /// The group private key (PKCS#8 DER), kept by the owner only; wiped when dropped.
    pub group_key: Pkcs8Der,
    /// The creator's chain: GRC, then the creator's administrator GMC.
    pub chain: ValidatedChain,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect_invalid(g: &NewGroup, needle: &str) {
        match g.validate() {
            Err(StateError::InvalidGroupProperties { reason }) => assert!(reason.contains(needle), "{reason}"),
            other => panic!("expected InvalidGroupProperties({needle}), got {other:?}"),
        }
    }

    #[test]
    fn each_property_limit_is_enforced() {
        let ok = NewGroup::new("chat", "Chat");
        ok.validate().unwrap();
        expect_invalid(&NewGroup { classifier: String::new(), ..ok.clone() }, "classifier");
        expect_invalid(&NewGroup { classifier: "c".repeat(150), ..ok.clone() }, "classifier");
        NewGroup { classifier: "c".repeat(149), ..ok.clone() }.validate().unwrap();
        expect_invalid(&NewGroup { friendly_name: "f".repeat(256), ..ok.clone() }, "friendly name");
        NewGroup { friendly_name: "f".repeat(255), comment: "c".repeat(255), ..ok.clone() }.validate().unwrap();
        expect_invalid(&NewGroup { friendly_name: "a\u{7}".into(), ..ok.clone() }, "friendly name");
        expect_invalid(&NewGroup { comment: "😀".repeat(128), ..ok.clone() }, "comment");
        expect_invalid(&NewGroup { cloud: Cloud { name: String::new(), ..Cloud::default() }, ..ok.clone() }, "cloud");
        expect_invalid(&NewGroup { cloud: Cloud { scope: 4, ..Cloud::default() }, ..ok.clone() }, "scope");
        expect_invalid(&NewGroup { cloud: Cloud { flags: 2, ..Cloud::default() }, ..ok.clone() }, "cloud flags");
        expect_invalid(&NewGroup { flags: 8, ..ok.clone() }, "flags");
        let secs = Duration::from_secs;
        expect_invalid(&NewGroup { member_data_lifetime: secs(28_799), ..ok.clone() }, "member data");
        expect_invalid(&NewGroup { member_data_lifetime: secs(315_360_001), ..ok.clone() }, "member data");
        NewGroup { member_data_lifetime: Duration::ZERO, ..ok.clone() }.validate().unwrap();
        expect_invalid(&NewGroup { presence_lifetime: secs(299), ..ok.clone() }, "presence");
        expect_invalid(&NewGroup { authentication_schemes: AUTH_PASSWORD, ..ok.clone() }, "password");
        expect_invalid(&NewGroup { authentication_schemes: 0x10, ..ok.clone() }, "authentication");
    }
}
