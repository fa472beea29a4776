//! The one model of group properties (the counterpart of `PEER_GROUP_PROPERTIES`): the
//! properties a group is created with ([`NewGroup`]), the properties it keeps
//! ([`GroupProperties`]), their limits (declared once, in p2p.h's units: seconds and UTF-16
//! code units), the one validation both go through, and the pure part of `PeerGroupCreate`
//! (the group key's certificates).
//!
//! The cloud is kept by name only: the name the caller passed, exactly as given, or
//! [`GLOBAL_CLOUD`] when none (see `docs/open.md`). Which cloud a name means on this host is
//! the cloud layer's business, not security's.

use std::time::SystemTime;

use peergroup_identity::provider::Pkcs8Der;
use peergroup_identity::x509::INFINITE_VALIDITY;
use peergroup_identity::{IdentityInfo, PeerName, default_provider, validate_classifier};
use uuid::Uuid;

use crate::cert::{CLOCK_SKEW_ALLOWANCE, GroupCertificate, Subject, issue_gmc, issue_grc};
use crate::chain::{ValidatedChain, validate_chain};
use crate::error::{Result, SecurityError};
use crate::password::GroupPassword;
use crate::role::Role;

/// The longest friendly name and comment, in UTF-16 code units (Windows: 255 plus the NUL).
pub const MAX_GROUP_TEXT_UTF16: usize = 255;
/// The longest cloud name, in UTF-16 code units (`PEER_PNRP_CLOUD_INFO`: 256).
pub const MAX_CLOUD_NAME_UTF16: usize = 256;
/// The cloud of a group created without one.
pub const GLOBAL_CLOUD: &str = "Global_";

/// `PEER_GROUP_PROPERTY_FLAGS`: members need not publish membership data.
pub const PEER_MEMBER_DATA_OPTIONAL: u32 = 0x1;
/// `PEER_GROUP_PROPERTY_FLAGS`: members do not publish presence.
pub const PEER_DISABLE_PRESENCE: u32 = 0x2;
/// `PEER_GROUP_PROPERTY_FLAGS`: records do not expire while the group is not connected.
pub const PEER_DEFER_EXPIRATION: u32 = 0x4;
/// `PEER_GROUP_AUTHENTICATION_SCHEME`: membership certificates (the only scheme so far).
pub const PEER_GROUP_GMC_AUTHENTICATION: u32 = 0x1;
/// `PEER_GROUP_AUTHENTICATION_SCHEME`: group password (`PeerGroupPasswordJoin`; a group with
/// it has a password, given at creation, and a password role).
pub const PEER_GROUP_PASSWORD_AUTHENTICATION: u32 = 0x2;

/// The shortest member-data lifetime, in seconds (Windows' API documentation: 8 hours).
pub const MIN_MEMBER_DATA_LIFETIME: u32 = 8 * 3600;
/// The longest member-data lifetime, in seconds (Windows' API documentation: 10 years of 365
/// days).
pub const MAX_MEMBER_DATA_LIFETIME: u32 = 10 * 365 * 86_400;
/// The default member-data lifetime, in seconds (28 days, as Windows).
pub const DEFAULT_MEMBER_DATA_LIFETIME: u32 = 28 * 86_400;
/// The shortest presence lifetime, in seconds (Windows: 300, also the default).
pub const MIN_PRESENCE_LIFETIME: u32 = 300;
/// The default presence lifetime, in seconds.
pub const DEFAULT_PRESENCE_LIFETIME: u32 = MIN_PRESENCE_LIFETIME;
/// The longest presence lifetime, in seconds (as the member-data lifetime).
pub const MAX_PRESENCE_LIFETIME: u32 = MAX_MEMBER_DATA_LIFETIME;

fn invalid(reason: String) -> SecurityError {
    SecurityError::InvalidGroupProperties { reason }
}

/// What both [`NewGroup::validate`] and [`GroupProperties::validate`] check: the one set of
/// rules for every property a group keeps besides its names.
struct Settable<'a> {
    friendly_name: &'a str,
    comment: &'a str,
    cloud: &'a str,
    flags: u32,
    member_data_lifetime: u32,
    presence_lifetime: u32,
    authentication_schemes: u32,
}

impl Settable<'_> {
    fn validate(&self) -> Result<()> {
        for (what, text) in [("friendly name", self.friendly_name), ("comment", self.comment)] {
            let units = text.encode_utf16().count();
            if units > MAX_GROUP_TEXT_UTF16 {
                return Err(invalid(format!(
                    "{what} is {units} UTF-16 code units long; at most {MAX_GROUP_TEXT_UTF16} are allowed"
                )));
            }
        }
        if self.friendly_name.is_empty() {
            return Err(invalid("friendly name is empty".into()));
        }
        if self.friendly_name.chars().any(char::is_control) {
            return Err(invalid("friendly name holds a control character".into()));
        }
        if self.comment.contains('\0') {
            return Err(invalid("comment holds a NUL character".into()));
        }
        validate_cloud_name(self.cloud).map_err(invalid)?;
        let known = PEER_MEMBER_DATA_OPTIONAL | PEER_DISABLE_PRESENCE | PEER_DEFER_EXPIRATION;
        if self.flags & !known != 0 {
            return Err(invalid(format!("flags {:#x} hold unknown bits", self.flags)));
        }
        let life = self.member_data_lifetime;
        if !(MIN_MEMBER_DATA_LIFETIME..=MAX_MEMBER_DATA_LIFETIME).contains(&life) {
            return Err(invalid(format!(
                "member data lifetime {life} s is outside {MIN_MEMBER_DATA_LIFETIME}..={MAX_MEMBER_DATA_LIFETIME} s"
            )));
        }
        let life = self.presence_lifetime;
        if !(MIN_PRESENCE_LIFETIME..=MAX_PRESENCE_LIFETIME).contains(&life) {
            return Err(invalid(format!(
                "presence lifetime {life} s is outside {MIN_PRESENCE_LIFETIME}..={MAX_PRESENCE_LIFETIME} s"
            )));
        }
        let known = PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION;
        match self.authentication_schemes {
            0 => Err(invalid("no authentication scheme".into())),
            s if s & !known != 0 => Err(invalid(format!("authentication schemes {s:#x} hold unknown bits"))),
            _ => Ok(()),
        }
    }
}

/// Checks a cloud name as the group keeps it: 1 to [`MAX_CLOUD_NAME_UTF16`] UTF-16 code units,
/// without spaces or control characters. The reason of a failure as text.
pub fn validate_cloud_name(name: &str) -> std::result::Result<(), String> {
    let units = name.encode_utf16().count();
    if units == 0 || units > MAX_CLOUD_NAME_UTF16 {
        return Err(format!("cloud name is {units} UTF-16 code units long; 1 to {MAX_CLOUD_NAME_UTF16} are allowed"));
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("cloud name holds a space or control character".into());
    }
    Ok(())
}

/// The properties of a group: the counterpart of `PEER_GROUP_PROPERTIES` (the password itself
/// is not kept here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupProperties {
    /// The group peer name (fixed when the group is created).
    pub group_peer_name: PeerName,
    /// The classifier of the group peer name.
    pub classifier: String,
    /// The identity that created the group.
    pub creator: PeerName,
    /// The friendly name (1 to [`MAX_GROUP_TEXT_UTF16`] UTF-16 units, no control character).
    pub friendly_name: String,
    /// The comment (at most [`MAX_GROUP_TEXT_UTF16`] UTF-16 units, no NUL).
    pub comment: String,
    /// The cloud name, as the creator passed it ([`GLOBAL_CLOUD`] when none).
    pub cloud_name: String,
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
    /// Starts at 1, one more on every change.
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
            cloud_name: GLOBAL_CLOUD.to_owned(),
            member_data_lifetime: DEFAULT_MEMBER_DATA_LIFETIME,
            presence_lifetime: DEFAULT_PRESENCE_LIFETIME,
            flags: 0,
            authentication_schemes: PEER_GROUP_GMC_AUTHENTICATION,
            password_role: None,
            version: 1,
        }
    }

    /// Checks every property against its limit ([`SecurityError::InvalidGroupProperties`],
    /// naming the property): the same rules as [`NewGroup::validate`].
    pub fn validate(&self) -> Result<()> {
        if self.classifier != self.group_peer_name.classifier() {
            return Err(invalid(format!(
                "classifier {:?} is not the classifier of group peer name {}",
                self.classifier, self.group_peer_name
            )));
        }
        self.settable().validate()
    }

    /// Checks that `next` may replace these properties (`PeerGroupSetProperties`): it is
    /// valid, and what Windows keeps immutable (group peer name, classifier, creator, cloud)
    /// did not change.
    pub fn check_update(&self, next: &GroupProperties) -> Result<()> {
        next.validate()?;
        for (what, now, given) in [
            ("group peer name", self.group_peer_name.to_string(), next.group_peer_name.to_string()),
            ("creator", self.creator.to_string(), next.creator.to_string()),
            ("cloud", self.cloud_name.clone(), next.cloud_name.clone()),
        ] {
            if now != given {
                return Err(invalid(format!("the {what} cannot change (is {now}, given {given})")));
            }
        }
        Ok(())
    }

    fn settable(&self) -> Settable<'_> {
        Settable {
            friendly_name: &self.friendly_name,
            comment: &self.comment,
            cloud: &self.cloud_name,
            flags: self.flags,
            member_data_lifetime: self.member_data_lifetime,
            presence_lifetime: self.presence_lifetime,
            authentication_schemes: self.authentication_schemes,
        }
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
    /// The cloud name as the caller passed it; `None` is [`GLOBAL_CLOUD`].
    pub cloud: Option<String>,
    /// `PEER_GROUP_PROPERTY_FLAGS` ([`PEER_MEMBER_DATA_OPTIONAL`], [`PEER_DISABLE_PRESENCE`],
    /// [`PEER_DEFER_EXPIRATION`]).
    pub flags: u32,
    /// How long member data lives, in seconds, from [`MIN_MEMBER_DATA_LIFETIME`] to
    /// [`MAX_MEMBER_DATA_LIFETIME`]; zero means the maximum.
    pub member_data_lifetime: u32,
    /// How long presence lives, in seconds, from [`MIN_PRESENCE_LIFETIME`] to
    /// [`MAX_PRESENCE_LIFETIME`]; zero means the default.
    pub presence_lifetime: u32,
    /// `PEER_GROUP_AUTHENTICATION_SCHEME` bits ([`PEER_GROUP_GMC_AUTHENTICATION`],
    /// [`PEER_GROUP_PASSWORD_AUTHENTICATION`]); zero means GMC; a password adds the password
    /// scheme, and the password scheme without a password is refused. Links always authenticate members by their GMC: the password scheme
    /// only adds a way to obtain one.
    pub authentication_schemes: u32,
    /// The group password (`pwzGroupPassword`): a group with one admits joiners who know it
    /// (`PeerGroupPasswordJoin`). Kept only as its stretch, at administrators' hosts.
    pub password: Option<GroupPassword>,
    /// The role a password joiner receives (`groupPasswordRole`): member by default.
    pub password_role: Role,
}

impl NewGroup {
    /// A group with that classifier and friendly name and every other property at its default
    /// (global cloud, no flags, 28-day member data, 300-second presence, GMC authentication).
    pub fn new(classifier: impl Into<String>, friendly_name: impl Into<String>) -> Self {
        NewGroup {
            classifier: classifier.into(),
            friendly_name: friendly_name.into(),
            comment: String::new(),
            cloud: None,
            flags: 0,
            member_data_lifetime: DEFAULT_MEMBER_DATA_LIFETIME,
            presence_lifetime: DEFAULT_PRESENCE_LIFETIME,
            authentication_schemes: PEER_GROUP_GMC_AUTHENTICATION,
            password: None,
            password_role: Role::Member,
        }
    }

    /// Checks every property against its limit ([`SecurityError::InvalidGroupProperties`],
    /// naming the property): the classifier, then the rules of [`GroupProperties::validate`]
    /// on the properties the group would keep.
    pub fn validate(&self) -> Result<()> {
        validate_classifier(&self.classifier).map_err(|e| invalid(format!("classifier: {e}")))?;
        let wants_password = self.effective_authentication_schemes() & PEER_GROUP_PASSWORD_AUTHENTICATION != 0;
        match &self.password {
            Some(password) => password.check_policy()?,
            None if wants_password => return Err(invalid("password authentication without a password".into())),
            None => {}
        }
        Settable {
            friendly_name: self.effective_friendly_name(),
            comment: &self.comment,
            cloud: self.cloud_name(),
            flags: self.flags,
            member_data_lifetime: self.effective_member_data_lifetime(),
            presence_lifetime: self.effective_presence_lifetime(),
            authentication_schemes: self.effective_authentication_schemes(),
        }
        .validate()
    }

    /// The friendly name, or the classifier when it is empty.
    pub fn effective_friendly_name(&self) -> &str {
        if self.friendly_name.is_empty() { &self.classifier } else { &self.friendly_name }
    }

    /// The cloud name the group keeps: the one given, exactly, or [`GLOBAL_CLOUD`].
    pub fn cloud_name(&self) -> &str {
        self.cloud.as_deref().unwrap_or(GLOBAL_CLOUD)
    }

    /// The member-data lifetime with zero replaced by the maximum.
    pub fn effective_member_data_lifetime(&self) -> u32 {
        if self.member_data_lifetime == 0 { MAX_MEMBER_DATA_LIFETIME } else { self.member_data_lifetime }
    }

    /// The presence lifetime with zero replaced by the default.
    pub fn effective_presence_lifetime(&self) -> u32 {
        if self.presence_lifetime == 0 { DEFAULT_PRESENCE_LIFETIME } else { self.presence_lifetime }
    }

    fn effective_authentication_schemes(&self) -> u32 {
        let given =
            if self.authentication_schemes == 0 { PEER_GROUP_GMC_AUTHENTICATION } else { self.authentication_schemes };
        // A password is a way in: giving one turns its scheme on.
        if self.password.is_some() { given | PEER_GROUP_PASSWORD_AUTHENTICATION } else { given }
    }

    /// The properties the group created from these keeps.
    pub fn to_properties(&self, group: &PeerName, creator: &PeerName) -> GroupProperties {
        let mut props = GroupProperties::new(group.clone(), creator.clone(), self.effective_friendly_name());
        props.comment = self.comment.clone();
        props.cloud_name = self.cloud_name().to_owned();
        props.flags = self.flags;
        props.member_data_lifetime = self.effective_member_data_lifetime();
        props.presence_lifetime = self.effective_presence_lifetime();
        props.authentication_schemes = self.effective_authentication_schemes();
        props.password_role = self.password.as_ref().map(|_| self.password_role.guid());
        props
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
            .map_err(|e| invalid(format!("classifier: {e}")))?;
        let not_before = now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now);
        let not_after = now + INFINITE_VALIDITY;
        let grc = issue_grc(signer.as_ref(), &group, not_before, not_after)?;
        let root =
            GroupCertificate::parse(&grc, None).map_err(|fault| SecurityError::ChainNotTrusted { index: 0, fault })?;
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
            Err(SecurityError::InvalidGroupProperties { reason }) => assert!(reason.contains(needle), "{reason}"),
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
        expect_invalid(&NewGroup { cloud: Some(String::new()), ..ok.clone() }, "cloud");
        expect_invalid(&NewGroup { cloud: Some("Link Local".into()), ..ok.clone() }, "cloud");
        expect_invalid(&NewGroup { cloud: Some("c".repeat(257)), ..ok.clone() }, "cloud");
        NewGroup { cloud: Some("LinkLocal_".into()), ..ok.clone() }.validate().unwrap();
        expect_invalid(&NewGroup { flags: 8, ..ok.clone() }, "flags");
        expect_invalid(&NewGroup { member_data_lifetime: 28_799, ..ok.clone() }, "member data");
        expect_invalid(&NewGroup { member_data_lifetime: 315_360_001, ..ok.clone() }, "member data");
        NewGroup { member_data_lifetime: 0, ..ok.clone() }.validate().unwrap();
        expect_invalid(&NewGroup { presence_lifetime: 299, ..ok.clone() }, "presence");
        let password = PEER_GROUP_PASSWORD_AUTHENTICATION;
        expect_invalid(&NewGroup { authentication_schemes: password, ..ok.clone() }, "password");
        expect_invalid(&NewGroup { authentication_schemes: 0x10, ..ok.clone() }, "authentication");
    }

    #[test]
    fn a_password_group_needs_its_password_and_keeps_only_its_role() {
        use crate::password::GroupPassword;
        let with = |pw: &str| NewGroup {
            password: Some(GroupPassword::new(pw.into())),
            password_role: Role::Administrator,
            ..NewGroup::new("chat", "Chat")
        };
        let good = with("correct horse");
        good.validate().unwrap();
        let group: PeerName = format!("{}.chat", "ab".repeat(20)).parse().unwrap();
        let props = good.to_properties(&group, &group);
        assert_eq!(props.authentication_schemes, PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION);
        assert_eq!(props.password_role, Some(Role::Administrator.guid()));
        assert!(!format!("{good:?} {props:?}").contains("correct horse"), "the password is shown");
        let short = with("short").validate().unwrap_err();
        assert!(matches!(short, SecurityError::PasswordPolicy { .. }), "{short:?}");
        let gmc_only = NewGroup { authentication_schemes: PEER_GROUP_GMC_AUTHENTICATION, ..good.clone() };
        let schemes = gmc_only.to_properties(&group, &group).authentication_schemes;
        assert_eq!(schemes, PEER_GROUP_GMC_AUTHENTICATION | PEER_GROUP_PASSWORD_AUTHENTICATION);
        assert_eq!(NewGroup::new("chat", "Chat").to_properties(&group, &group).password_role, None);
    }

    fn props() -> GroupProperties {
        let group: PeerName = format!("{}.chat", "ab".repeat(20)).parse().unwrap();
        let creator: PeerName = format!("{}.alice", "cd".repeat(20)).parse().unwrap();
        GroupProperties::new(group, creator, "Chat")
    }

    /// The same rule at creation and on change: a control character in the friendly name was
    /// refused by one and accepted by the other.
    #[test]
    fn create_and_update_share_one_validation() {
        let current = props();
        current.validate().unwrap();
        for bad in ["a\u{7}b", "", "x\n"] {
            let next = GroupProperties { friendly_name: bad.into(), ..current.clone() };
            let refused = current.check_update(&next);
            assert!(matches!(refused, Err(SecurityError::InvalidGroupProperties { .. })), "{bad:?}");
        }
        expect_invalid(&NewGroup::new("chat", "a\u{7}b"), "control character");
        let next = GroupProperties { comment: "new".into(), version: 9, ..current.clone() };
        current.check_update(&next).unwrap();
        let moved = GroupProperties { cloud_name: "LinkLocal_".into(), ..current.clone() };
        assert!(current.check_update(&moved).is_err());
        let other_class = GroupProperties { classifier: "other".into(), ..current.clone() };
        assert!(other_class.validate().is_err());
    }

    #[test]
    fn new_group_keeps_the_cloud_name_as_given() {
        let (group, creator) = (props().group_peer_name, props().creator);
        let mut g = NewGroup::new("chat", "");
        let p = g.to_properties(&group, &creator);
        assert_eq!(p.cloud_name, GLOBAL_CLOUD);
        assert_eq!(p.friendly_name, "chat");
        p.validate().unwrap();
        g.cloud = Some("LinkLocal_".into());
        assert_eq!(g.to_properties(&group, &creator).cloud_name, "LinkLocal_");
    }
}
