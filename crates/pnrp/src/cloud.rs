//! Clouds: the counterpart of `PEER_PNRP_CLOUD_INFO` / `PNRPCLOUDINFO`.

use std::fmt;

use crate::name::CloudName;

/// The reach of a cloud. The values are those of Windows' `PNRP_SCOPE`, so that a C ABI maps
/// them 1:1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum Scope {
    /// `PNRP_GLOBAL_SCOPE` (1): the Internet, or a private network named in DNS.
    Global = 1,
    /// `PNRP_SITE_LOCAL_SCOPE` (2): the site reached through an interface with a unique-local
    /// (`fc00::/7`) address.
    SiteLocal = 2,
    /// `PNRP_LINK_LOCAL_SCOPE` (3): the link of one interface.
    LinkLocal = 3,
}

impl Scope {
    /// The `PNRP_SCOPE` value.
    pub fn to_raw(self) -> u32 {
        self as u32
    }

    /// The scope of a `PNRP_SCOPE` value; `None` for `PNRP_SCOPE_ANY` (0) and unknown values.
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(Self::Global),
            2 => Some(Self::SiteLocal),
            3 => Some(Self::LinkLocal),
            _ => None,
        }
    }

    /// The bare scope name: `Global_`, `SiteLocal_` or `LinkLocal_`.
    pub fn bare_name(self) -> &'static str {
        match self {
            Self::Global => "Global_",
            Self::SiteLocal => "SiteLocal_",
            Self::LinkLocal => "LinkLocal_",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Global => "global",
            Self::SiteLocal => "site-local",
            Self::LinkLocal => "link-local",
        })
    }
}

/// The state of a cloud. The values are those of Windows' `PNRP_CLOUD_STATE`; peergroup
/// produces [`Active`](Self::Active) and [`NoNet`](Self::NoNet), the others exist so the C ABI
/// can carry every value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CloudState {
    /// `PNRP_CLOUD_STATE_VIRTUAL` (0): not yet initialised.
    Virtual = 0,
    /// `PNRP_CLOUD_STATE_SYNCHRONISING` (1): joining.
    Synchronising = 1,
    /// `PNRP_CLOUD_STATE_ACTIVE` (2): usable: the host has an address in the cloud's scope.
    Active = 2,
    /// `PNRP_CLOUD_STATE_DEAD` (3): initialised but unusable.
    Dead = 3,
    /// `PNRP_CLOUD_STATE_DISABLED` (4): turned off by configuration.
    Disabled = 4,
    /// `PNRP_CLOUD_STATE_NO_NET` (5): the host has no network for this cloud (`Global_` on an
    /// offline host). Groups can still be opened, offline.
    NoNet = 5,
    /// `PNRP_CLOUD_STATE_ALONE` (6): usable, but no other node is known.
    Alone = 6,
}

impl CloudState {
    /// The `PNRP_CLOUD_STATE` value.
    pub fn to_raw(self) -> u32 {
        self as u32
    }
}

/// A seed endpoint of a DNS cloud: one SRV record of its descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Seed {
    /// The host name (absolute, with its final dot).
    pub target: String,
    /// The port.
    pub port: u16,
    /// SRV priority: lower is preferred.
    pub priority: u16,
    /// SRV weight among seeds of equal priority.
    pub weight: u16,
}

/// One cloud this host belongs to (the counterpart of `PEER_PNRP_CLOUD_INFO` plus the state and
/// flags of `PNRPCLOUDINFO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    /// Its name, stable across restarts (see `docs/clouds.md`).
    pub name: CloudName,
    /// Its scope.
    pub scope: Scope,
    /// The interface index for link-local and site-local interface clouds; 0 otherwise.
    pub scope_id: u32,
    /// Its state.
    pub state: CloudState,
    /// Whether the name is meaningful only on this host (`PNRP_CLOUD_NAME_LOCAL`): true for
    /// clouds named after an interface.
    pub local_only: bool,
    /// The seed endpoints of a DNS cloud, best first; empty for interface clouds.
    pub seeds: Vec<Seed>,
}

impl Cloud {
    /// The `PNRP_CLOUD_FLAGS` value: `PNRP_CLOUD_NAME_LOCAL` (1) for local-only names, else 0.
    pub fn flags(&self) -> u32 {
        u32::from(self.local_only)
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, id {}, {:?})", self.name, self.scope, self.scope_id, self.state)
    }
}
