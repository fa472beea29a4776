//! Cloud names: `Global_`, `LinkLocal_[<interface>]`, `SiteLocal_[<interface>]`, DNS names.

use std::fmt;
use std::str::FromStr;

use crate::cloud::Scope;
use crate::error::{PnrpError, Result, excerpt};

/// The longest cloud name, in characters (as `PEER_PNRP_CLOUD_INFO::pwzCloudName` in Windows).
pub const MAX_CLOUD_NAME_LEN: usize = 256;

/// The longest interface name inside a cloud name, in bytes (Linux `IFNAMSIZ` - 1).
pub const MAX_INTERFACE_NAME_LEN: usize = 15;

/// The longest DNS name, in characters, without its final dot (RFC 1035).
pub const MAX_DNS_NAME_LEN: usize = 253;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// `Global_`, `LinkLocal_`, `SiteLocal_`.
    Bare(Scope),
    Interface(Scope),
    Dns {
        absolute: bool,
    },
}

/// A syntactically valid cloud name.
///
/// | form | meaning |
/// |---|---|
/// | `Global_` | the global cloud |
/// | `LinkLocal_`, `SiteLocal_` | the single cloud of that scope ("bare scope name") |
/// | `LinkLocal_<interface>`, `SiteLocal_<interface>` | the cloud of one interface; meaningful only on this host |
/// | `corp.example`, `corp.example.` | a private cloud described in DNS (relative or absolute) |
///
/// The scope prefixes are recognised in any ASCII case and written in the case above; DNS
/// names are kept in lowercase (DNS is case-insensitive). Interface names keep their case.
///
/// ```
/// use peergroup_pnrp::{CloudName, Scope};
/// let name: CloudName = "linklocal_eth0".parse()?;
/// assert_eq!(name.to_string(), "LinkLocal_eth0");
/// assert_eq!(name.scope(), Some(Scope::LinkLocal));
/// assert!(name.is_local_only());
/// assert!("bad name".parse::<CloudName>().is_err());
/// # Ok::<(), peergroup_pnrp::PnrpError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloudName {
    kind: Kind,
    /// The canonical text; for interface names and DNS names it holds the whole name.
    text: String,
}

impl CloudName {
    /// The global cloud, `Global_`.
    pub fn global() -> Self {
        Self::bare(Scope::Global)
    }

    /// The bare name of a scope: `Global_`, `LinkLocal_` or `SiteLocal_`.
    pub fn bare(scope: Scope) -> Self {
        Self { kind: Kind::Bare(scope), text: scope.bare_name().to_owned() }
    }

    /// The name of the link-local or site-local cloud of an interface.
    pub fn interface(scope: Scope, interface: &str) -> Result<Self> {
        let text = format!("{}{interface}", scope.bare_name());
        if scope == Scope::Global {
            return Err(invalid(&text, "the global cloud is not bound to an interface"));
        }
        validate_interface(&text, interface)?;
        Ok(Self { kind: Kind::Interface(scope), text })
    }

    /// Parses and validates a cloud name (see the type's documentation for the forms).
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(invalid(s, "empty"));
        }
        // A char is at most 4 bytes: bound the work before counting.
        if s.len() > 4 * MAX_CLOUD_NAME_LEN || s.chars().count() > MAX_CLOUD_NAME_LEN {
            return Err(invalid(s, "longer than 256 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid(s, "contains a control character"));
        }
        for scope in [Scope::Global, Scope::LinkLocal, Scope::SiteLocal] {
            let prefix = scope.bare_name();
            let Some(head) = s.get(..prefix.len()) else { continue };
            if !head.eq_ignore_ascii_case(prefix) {
                continue;
            }
            let rest = &s[prefix.len()..];
            if rest.is_empty() {
                return Ok(Self::bare(scope));
            }
            if scope == Scope::Global {
                return Err(invalid(s, "the global cloud is named Global_ with nothing after it"));
            }
            return Self::interface(scope, rest);
        }
        parse_dns(s)
    }

    /// The scope the name stands for; `None` for DNS names (their scope comes from DNS).
    pub fn scope(&self) -> Option<Scope> {
        match self.kind {
            Kind::Bare(scope) | Kind::Interface(scope) => Some(scope),
            Kind::Dns { .. } => None,
        }
    }

    /// Whether this is a bare scope name (`Global_`, `LinkLocal_`, `SiteLocal_`).
    pub fn is_bare(&self) -> bool {
        matches!(self.kind, Kind::Bare(_))
    }

    /// Whether the name is meaningful only on the host that made it (`PNRP_CLOUD_NAME_LOCAL`):
    /// true for interface names.
    pub fn is_local_only(&self) -> bool {
        matches!(self.kind, Kind::Interface(_))
    }

    /// The interface of an interface name.
    pub fn interface_name(&self) -> Option<&str> {
        match self.kind {
            Kind::Interface(scope) => Some(&self.text[scope.bare_name().len()..]),
            _ => None,
        }
    }

    /// The DNS name (lowercase, with its final dot when absolute) of a DNS cloud name.
    pub fn dns_name(&self) -> Option<&str> {
        match self.kind {
            Kind::Dns { .. } => Some(&self.text),
            _ => None,
        }
    }

    /// Whether this is an absolute DNS name (ends with `.`): it is looked up as is, once.
    pub fn is_absolute(&self) -> bool {
        matches!(self.kind, Kind::Dns { absolute: true })
    }

    /// The canonical text of the name.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

fn invalid(name: &str, reason: &'static str) -> PnrpError {
    PnrpError::InvalidCloudName { name: excerpt(name), reason }
}

fn validate_interface(name: &str, interface: &str) -> Result<()> {
    if interface.is_empty() {
        return Err(invalid(name, "empty interface name"));
    }
    if interface.len() > MAX_INTERFACE_NAME_LEN {
        return Err(invalid(name, "interface names are at most 15 bytes long"));
    }
    if interface == "." || interface == ".." {
        return Err(invalid(name, "\".\" and \"..\" are not interface names"));
    }
    if interface.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(invalid(name, "an interface name holds no '/', ':', white space or control character"));
    }
    Ok(())
}

pub(crate) fn parse_dns(s: &str) -> Result<CloudName> {
    let (body, absolute) = match s.strip_suffix('.') {
        Some(body) => (body, true),
        None => (s, false),
    };
    if body.is_empty() {
        return Err(invalid(s, "the DNS root is not a cloud"));
    }
    if !body.is_ascii() {
        return Err(invalid(s, "not ASCII: give an internationalised DNS name in its xn-- (punycode) form"));
    }
    if body.len() > MAX_DNS_NAME_LEN {
        return Err(invalid(s, "a DNS name is at most 253 characters long"));
    }
    for label in body.split('.') {
        if label.is_empty() {
            return Err(invalid(s, "empty DNS label (two dots in a row, or a leading dot)"));
        }
        if label.len() > 63 {
            return Err(invalid(s, "a DNS label is at most 63 characters long"));
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid(s, "a DNS label holds only letters, digits, '-' and '_'"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid(s, "a DNS label neither starts nor ends with '-'"));
        }
    }
    Ok(CloudName { kind: Kind::Dns { absolute }, text: s.to_ascii_lowercase() })
}

impl fmt::Display for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for CloudName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloudName({})", self.text)
    }
}

impl FromStr for CloudName {
    type Err = PnrpError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(s: &str) -> &'static str {
        match CloudName::parse(s) {
            Err(PnrpError::InvalidCloudName { reason, .. }) => reason,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn each_form_parses() {
        let g = CloudName::parse("Global_").unwrap();
        assert_eq!(g, CloudName::global());
        assert!(g.is_bare() && !g.is_local_only());
        assert_eq!(g.scope(), Some(Scope::Global));

        let ll = CloudName::parse("LinkLocal_").unwrap();
        assert_eq!(ll, CloudName::bare(Scope::LinkLocal));
        let sl = CloudName::parse("SITELOCAL_").unwrap();
        assert_eq!(sl.to_string(), "SiteLocal_");

        let iface = CloudName::parse("LinkLocal_eth0.100").unwrap();
        assert_eq!(iface.interface_name(), Some("eth0.100"));
        assert!(iface.is_local_only() && !iface.is_bare());

        let dns = CloudName::parse("Corp.Example").unwrap();
        assert_eq!(dns.dns_name(), Some("corp.example"));
        assert!(!dns.is_absolute());
        assert_eq!(dns.scope(), None);
        let abs = CloudName::parse("corp.example.").unwrap();
        assert!(abs.is_absolute());
        assert_eq!(abs.to_string(), "corp.example.");
        assert!(CloudName::parse("_srv-x.a1").is_ok());
    }

    #[test]
    fn rule_5_invalid_names_are_invalid_arguments() {
        assert_eq!(reason(""), "empty");
        assert_eq!(reason(&"a".repeat(257)), "longer than 256 characters");
        assert_eq!(reason(&"é".repeat(257)), "longer than 256 characters");
        assert_eq!(reason(&"x".repeat(5000)), "longer than 256 characters");
        assert_eq!(reason("corp\n.example"), "contains a control character");
        assert_eq!(reason("LinkLocal_\u{7f}"), "contains a control character");
        assert!(reason("Global_x").contains("Global_"));
        assert!(reason("LinkLocal_a/b").contains("interface"));
        assert!(reason("LinkLocal_0123456789abcdef").contains("15 bytes"));
        assert!(reason("LinkLocal_..").contains("not interface"));
        assert_eq!(reason("."), "the DNS root is not a cloud");
        assert!(reason("a..b").contains("empty DNS label"));
        assert!(reason(".a").contains("empty DNS label"));
        assert!(reason("bad name").contains("only letters"));
        assert!(reason("-a.b").contains("'-'"));
        assert!(reason("bücher.example").contains("punycode"));
        assert!(reason(&format!("{}.b", "a".repeat(64))).contains("63"));
        let long_dns = ["a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(63)].join(".");
        assert!(reason(&long_dns).contains("253"));
        // 256 characters pass the length rule and meet the DNS one.
        assert!(reason(&"a".repeat(256)).contains("253"));
    }

    #[test]
    fn interface_constructor_checks() {
        assert!(CloudName::interface(Scope::Global, "eth0").is_err());
        assert!(CloudName::interface(Scope::LinkLocal, "").is_err());
        let n = CloudName::interface(Scope::SiteLocal, "wlan0").unwrap();
        assert_eq!(n.as_str(), "SiteLocal_wlan0");
        assert_eq!(CloudName::parse(n.as_str()).unwrap(), n);
    }
}
