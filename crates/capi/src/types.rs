//! The C types of `p2p.h`, laid out as Windows lays them out (`#[repr(C)]`, same field order),
//! and the constants of `p2p.h` that are not HRESULTs. `include/p2p.h` declares the same; the
//! tests compare every size and offset with a compiled C program.

#![allow(non_camel_case_types, non_snake_case, clippy::upper_case_acronyms)]

use std::ffi::c_void;

/// `HRESULT`: a 32-bit signed status code.
pub type HRESULT = i32;
/// `WCHAR`: one UTF-16 code unit.
pub type WCHAR = u16;
/// `PCWSTR`: a NUL-terminated UTF-16 string the caller owns.
pub type PCWSTR = *const WCHAR;
/// `PWSTR`: a NUL-terminated UTF-16 string (returned ones are freed with `PeerFreeData`).
pub type PWSTR = *mut WCHAR;
/// `WORD`.
pub type WORD = u16;
/// `DWORD`.
pub type DWORD = u32;
/// `ULONG`.
pub type ULONG = u32;
/// `ULONGLONG`.
pub type ULONGLONG = u64;
/// `BOOL`: 0 is false, anything else true.
pub type BOOL = i32;
/// `HANDLE`: on Linux, the event descriptor of `PeerGroupRegisterEvent`, as `(HANDLE)(intptr_t)fd`.
pub type HANDLE = *mut c_void;
/// `HGROUP`: an open group.
pub type HGROUP = *mut c_void;
/// `HPEERENUM`: an enumeration.
pub type HPEERENUM = *mut c_void;
/// `HPEEREVENT`: an event registration.
pub type HPEEREVENT = *mut c_void;
/// `HCRYPTPROV`: a CryptoAPI provider; only 0 (generate a new key) is accepted.
pub type HCRYPTPROV = usize;

/// `GUID`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GUID {
    /// First 32 bits.
    pub Data1: u32,
    /// Next 16 bits.
    pub Data2: u16,
    /// Next 16 bits.
    pub Data3: u16,
    /// Last 64 bits.
    pub Data4: [u8; 8],
}

/// `FILETIME`: 100-nanosecond intervals since 1601-01-01 UTC, in two halves.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FILETIME {
    /// Low 32 bits.
    pub dwLowDateTime: u32,
    /// High 32 bits.
    pub dwHighDateTime: u32,
}

/// `PEER_VERSION_DATA`, filled by `PeerGroupStartup`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct PEER_VERSION_DATA {
    /// The version the caller will use.
    pub wVersion: WORD,
    /// The highest version this library supports.
    pub wHighestVersion: WORD,
}

/// `PEER_DATA`: a byte buffer.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_DATA {
    /// Length in bytes.
    pub cbData: ULONG,
    /// The bytes (NULL when empty).
    pub pbData: *mut u8,
}

/// `PEER_GROUP_PROPERTIES` (Vista layout; `dwSize` may also be the XP size, without the last
/// three fields).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_GROUP_PROPERTIES {
    /// `sizeof(PEER_GROUP_PROPERTIES)`.
    pub dwSize: DWORD,
    /// `PEER_GROUP_PROPERTY_FLAGS`.
    pub dwFlags: DWORD,
    /// The cloud name.
    pub pwzCloud: PWSTR,
    /// The classifier of the group peer name.
    pub pwzClassifier: PWSTR,
    /// The group peer name.
    pub pwzGroupPeerName: PWSTR,
    /// The creator's identity peer name.
    pub pwzCreatorPeerName: PWSTR,
    /// The friendly name.
    pub pwzFriendlyName: PWSTR,
    /// The comment.
    pub pwzComment: PWSTR,
    /// Member-data lifetime in seconds.
    pub ulMemberDataLifetime: ULONG,
    /// Presence lifetime in seconds.
    pub ulPresenceLifetime: ULONG,
    /// `PEER_GROUP_AUTHENTICATION_SCHEME` bits.
    pub dwAuthenticationSchemes: DWORD,
    /// The group password (not supported: must be NULL).
    pub pwzGroupPassword: PWSTR,
    /// The role of password joiners.
    pub groupPasswordRole: GUID,
}

/// The size of the XP-era `PEER_GROUP_PROPERTIES` (without the last three fields).
pub const PEER_GROUP_PROPERTIES_V1_SIZE: usize = std::mem::offset_of!(PEER_GROUP_PROPERTIES, dwAuthenticationSchemes);

/// `PEER_RECORD`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_RECORD {
    /// `sizeof(PEER_RECORD)`.
    pub dwSize: DWORD,
    /// The record type.
    pub r#type: GUID,
    /// The record id.
    pub id: GUID,
    /// The version, one more on every update.
    pub dwVersion: DWORD,
    /// `PEER_RECORD_FLAGS`.
    pub dwFlags: DWORD,
    /// The creator's peer name.
    pub pwzCreatorId: PWSTR,
    /// The last modifier's peer name.
    pub pwzModifiedById: PWSTR,
    /// The attributes, as `<attributes>` XML.
    pub pwzAttributes: PWSTR,
    /// Creation time.
    pub ftCreation: FILETIME,
    /// Expiration time.
    pub ftExpiration: FILETIME,
    /// Last modification time.
    pub ftLastModified: FILETIME,
    /// The signature.
    pub securityData: PEER_DATA,
    /// The payload.
    pub data: PEER_DATA,
}

/// `PEER_ADDRESS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PEER_ADDRESS {
    /// `sizeof(PEER_ADDRESS)`.
    pub dwSize: DWORD,
    /// The IPv6 address.
    pub sin6: libc::sockaddr_in6,
}

impl std::fmt::Debug for PEER_ADDRESS {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PEER_ADDRESS").field("dwSize", &self.dwSize).finish_non_exhaustive()
    }
}

/// `CERT_PUBLIC_KEY_INFO` of CryptoAPI: opaque here; peergroup hands out NULL for it.
#[repr(C)]
#[derive(Debug)]
pub struct CERT_PUBLIC_KEY_INFO {
    _opaque: [u8; 0],
}

/// `PEER_CREDENTIAL_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_CREDENTIAL_INFO {
    /// `sizeof(PEER_CREDENTIAL_INFO)`.
    pub dwSize: DWORD,
    /// Reserved, 0.
    pub dwFlags: DWORD,
    /// The member's friendly name.
    pub pwzFriendlyName: PWSTR,
    /// Always NULL (see `docs/capi.md`).
    pub pPublicKey: *mut CERT_PUBLIC_KEY_INFO,
    /// The issuer's peer name.
    pub pwzIssuerPeerName: PWSTR,
    /// The issuer's friendly name.
    pub pwzIssuerFriendlyName: PWSTR,
    /// Validity start.
    pub ftValidityStart: FILETIME,
    /// Validity end.
    pub ftValidityEnd: FILETIME,
    /// Number of roles.
    pub cRoles: ULONG,
    /// The role GUIDs.
    pub pRoles: *mut GUID,
}

/// `PEER_MEMBER`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_MEMBER {
    /// `sizeof(PEER_MEMBER)`.
    pub dwSize: DWORD,
    /// `PEER_MEMBER_FLAGS`.
    pub dwFlags: DWORD,
    /// The member's identity peer name.
    pub pwzIdentity: PWSTR,
    /// Member attributes (NULL).
    pub pwzAttributes: PWSTR,
    /// Node id (0: no node is connected offline).
    pub ullNodeId: ULONGLONG,
    /// Number of addresses.
    pub cAddresses: ULONG,
    /// The addresses.
    pub pAddresses: *mut PEER_ADDRESS,
    /// The member's credential.
    pub pCredentialInfo: *mut PEER_CREDENTIAL_INFO,
}

/// `PEER_NAME_PAIR`: items of `PeerEnumIdentities` and `PeerEnumGroups`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_NAME_PAIR {
    /// `sizeof(PEER_NAME_PAIR)`.
    pub dwSize: DWORD,
    /// The peer name.
    pub pwzPeerName: PWSTR,
    /// The friendly name.
    pub pwzFriendlyName: PWSTR,
}

/// `PEER_INVITATION_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_INVITATION_INFO {
    /// `sizeof(PEER_INVITATION_INFO)`.
    pub dwSize: DWORD,
    /// Reserved, 0.
    pub dwFlags: DWORD,
    /// The group's cloud.
    pub pwzCloudName: PWSTR,
    /// `PNRP_SCOPE` of the cloud.
    pub dwScope: DWORD,
    /// `PNRP_CLOUD_FLAGS` of the cloud.
    pub dwCloudFlags: DWORD,
    /// The group peer name.
    pub pwzGroupPeerName: PWSTR,
    /// The issuer.
    pub pwzIssuerPeerName: PWSTR,
    /// The invitee.
    pub pwzSubjectPeerName: PWSTR,
    /// The group's friendly name.
    pub pwzGroupFriendlyName: PWSTR,
    /// The issuer's friendly name.
    pub pwzIssuerFriendlyName: PWSTR,
    /// The invitee's friendly name.
    pub pwzSubjectFriendlyName: PWSTR,
    /// Validity start.
    pub ftValidityStart: FILETIME,
    /// Validity end.
    pub ftValidityEnd: FILETIME,
    /// Number of roles.
    pub cRoles: ULONG,
    /// The role GUIDs.
    pub pRoles: *mut GUID,
    /// Reserved, 0.
    pub cClassifiers: ULONG,
    /// Reserved, NULL.
    pub ppwzClassifiers: *mut PWSTR,
    /// Always NULL (see `docs/capi.md`).
    pub pSubjectPublicKey: *mut CERT_PUBLIC_KEY_INFO,
    /// `PEER_GROUP_AUTHENTICATION_SCHEME`.
    pub authScheme: DWORD,
}

/// `HREGISTRATION`: a registration of a peer name (`PeerPnrpRegister`).
pub type HREGISTRATION = *mut c_void;

/// `HRESOLUTION`: an asynchronous resolution (`PeerPnrpStartResolve`).
pub type HRESOLUTION = *mut c_void;

/// `SOCKADDR`: the platform's `struct sockaddr` (family first; `sockaddr_in` or
/// `sockaddr_in6` behind it).
pub type SOCKADDR = libc::sockaddr;

/// `PNRP_VERSION` = `MAKEWORD(2, 0)`, for `PeerPnrpStartup`.
pub const PNRP_VERSION: WORD = 0x0002;

/// `PEER_PNRP_AUTO_ADDRESSES`: in `cAddresses`, publish this host's addresses in the cloud.
pub const PEER_PNRP_AUTO_ADDRESSES: ULONG = ULONG::MAX;

/// `PEER_PNRP_ENDPOINT_INFO`: one registration found by resolution.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_ENDPOINT_INFO {
    /// The peer name.
    pub pwzPeerName: PWSTR,
    /// How many addresses.
    pub cAddresses: ULONG,
    /// The addresses (`sockaddr_in` or `sockaddr_in6`, a link-local one with its scope id).
    pub ppAddresses: *mut *mut SOCKADDR,
    /// The comment.
    pub pwzComment: PWSTR,
    /// The payload (always empty: no medium carries one).
    pub payload: PEER_DATA,
}

/// `PEER_PNRP_REGISTRATION_INFO`: what `PeerPnrpRegister` publishes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_REGISTRATION_INFO {
    /// The cloud (NULL: every link-local and site-local cloud of this host).
    pub pwzCloudName: PWSTR,
    /// The identity that publishes (NULL or the owner of a secure name; ignored otherwise).
    pub pwzPublishingIdentity: PWSTR,
    /// How many addresses, or [`PEER_PNRP_AUTO_ADDRESSES`] (also meant by 0).
    pub cAddresses: ULONG,
    /// The addresses (`sockaddr_in` or `sockaddr_in6`).
    pub ppAddresses: *mut *mut SOCKADDR,
    /// The port of automatic addresses.
    pub wPort: WORD,
    /// A comment (at most 255 bytes of UTF-8), or NULL.
    pub pwzComment: PWSTR,
    /// A payload: must be empty (no medium carries one).
    pub payload: PEER_DATA,
}

/// `PEER_PNRP_CLOUD_INFO`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_PNRP_CLOUD_INFO {
    /// The cloud name.
    pub pwzCloudName: PWSTR,
    /// `PNRP_SCOPE`.
    pub dwScope: DWORD,
    /// The scope id (interface index for link- and site-local clouds).
    pub dwScopeId: DWORD,
}

/// `PEER_GROUP_EVENT_REGISTRATION`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_GROUP_EVENT_REGISTRATION {
    /// `PEER_GROUP_EVENT_TYPE`.
    pub eventType: DWORD,
    /// Record type filter for `PEER_GROUP_EVENT_RECORD_CHANGED` (NULL: all).
    pub pType: *mut GUID,
}

/// `PEER_EVENT_INCOMING_DATA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_INCOMING_DATA {
    /// `sizeof(PEER_EVENT_INCOMING_DATA)`.
    pub dwSize: DWORD,
    /// The connection.
    pub ullConnectionId: ULONGLONG,
    /// The data type.
    pub r#type: GUID,
    /// The data.
    pub data: PEER_DATA,
}

/// `PEER_EVENT_RECORD_CHANGE_DATA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_RECORD_CHANGE_DATA {
    /// `sizeof(PEER_EVENT_RECORD_CHANGE_DATA)`.
    pub dwSize: DWORD,
    /// `PEER_RECORD_CHANGE_TYPE`.
    pub changeType: DWORD,
    /// The record id.
    pub recordId: GUID,
    /// The record type.
    pub recordType: GUID,
}

/// `PEER_EVENT_CONNECTION_CHANGE_DATA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_CONNECTION_CHANGE_DATA {
    /// `sizeof(PEER_EVENT_CONNECTION_CHANGE_DATA)`.
    pub dwSize: DWORD,
    /// `PEER_CONNECTION_STATUS`.
    pub status: DWORD,
    /// The connection.
    pub ullConnectionId: ULONGLONG,
    /// The node.
    pub ullNodeId: ULONGLONG,
    /// The next connection.
    pub ullNextConnectionId: ULONGLONG,
    /// Why the connection failed.
    pub hrConnectionFailedReason: HRESULT,
}

/// `PEER_EVENT_MEMBER_CHANGE_DATA`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_EVENT_MEMBER_CHANGE_DATA {
    /// `sizeof(PEER_EVENT_MEMBER_CHANGE_DATA)`.
    pub dwSize: DWORD,
    /// `PEER_MEMBER_CHANGE_TYPE`.
    pub changeType: DWORD,
    /// The member's identity peer name.
    pub pwzIdentity: PWSTR,
}

/// The anonymous union of `PEER_GROUP_EVENT_DATA`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union PEER_GROUP_EVENT_DATA_UNION {
    /// `PEER_GROUP_EVENT_STATUS_CHANGED`.
    pub dwStatus: DWORD,
    /// `PEER_GROUP_EVENT_INCOMING_DATA`.
    pub incomingData: PEER_EVENT_INCOMING_DATA,
    /// `PEER_GROUP_EVENT_RECORD_CHANGED`.
    pub recordChangeData: PEER_EVENT_RECORD_CHANGE_DATA,
    /// `PEER_GROUP_EVENT_DIRECT_CONNECTION`, `PEER_GROUP_EVENT_NEIGHBOR_CONNECTION`.
    pub connectionChangeData: PEER_EVENT_CONNECTION_CHANGE_DATA,
    /// `PEER_GROUP_EVENT_MEMBER_CHANGED`.
    pub memberChangeData: PEER_EVENT_MEMBER_CHANGE_DATA,
    /// `PEER_GROUP_EVENT_CONNECTION_FAILED`.
    pub hrConnectionFailedReason: HRESULT,
}

/// `PEER_GROUP_EVENT_DATA`: one event, from `PeerGroupGetEventData`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PEER_GROUP_EVENT_DATA {
    /// `PEER_GROUP_EVENT_TYPE`.
    pub eventType: DWORD,
    /// The event's data (the anonymous union of the C declaration).
    pub data: PEER_GROUP_EVENT_DATA_UNION,
}

impl std::fmt::Debug for PEER_GROUP_EVENT_DATA_UNION {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PEER_GROUP_EVENT_DATA_UNION").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PEER_GROUP_EVENT_DATA {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PEER_GROUP_EVENT_DATA").field("eventType", &self.eventType).finish_non_exhaustive()
    }
}

/// `PEER_GROUP_VERSION`: `MAKEWORD(1, 1)`.
pub const PEER_GROUP_VERSION: WORD = 0x0101;

/// `PEER_GROUP_EVENT_STATUS_CHANGED`.
pub const PEER_GROUP_EVENT_STATUS_CHANGED: DWORD = 1;
/// `PEER_GROUP_EVENT_PROPERTY_CHANGED`.
pub const PEER_GROUP_EVENT_PROPERTY_CHANGED: DWORD = 2;
/// `PEER_GROUP_EVENT_RECORD_CHANGED`.
pub const PEER_GROUP_EVENT_RECORD_CHANGED: DWORD = 3;
/// `PEER_GROUP_EVENT_DIRECT_CONNECTION`.
pub const PEER_GROUP_EVENT_DIRECT_CONNECTION: DWORD = 4;
/// `PEER_GROUP_EVENT_NEIGHBOR_CONNECTION`.
pub const PEER_GROUP_EVENT_NEIGHBOR_CONNECTION: DWORD = 5;
/// `PEER_GROUP_EVENT_INCOMING_DATA`.
pub const PEER_GROUP_EVENT_INCOMING_DATA: DWORD = 6;
/// `PEER_GROUP_EVENT_MEMBER_CHANGED`.
pub const PEER_GROUP_EVENT_MEMBER_CHANGED: DWORD = 8;
/// `PEER_GROUP_EVENT_CONNECTION_FAILED`.
pub const PEER_GROUP_EVENT_CONNECTION_FAILED: DWORD = 10;
/// `PEER_GROUP_EVENT_AUTHENTICATION_FAILED`.
pub const PEER_GROUP_EVENT_AUTHENTICATION_FAILED: DWORD = 11;
/// `PEER_GROUP_EVENT_RESYNC`, a peergroup extension: events were lost (the process's reader
/// fell behind the pruned change feed, or the registration left too many unread); read again
/// what the registration follows. No data; delivered to every registration.
pub const PEER_GROUP_EVENT_RESYNC: DWORD = 0x1000;

/// `PEER_MEMBER_CONNECTED`: a member's first connection with this host's presence came up.
pub const PEER_MEMBER_CONNECTED: DWORD = 1;
/// `PEER_MEMBER_DISCONNECTED`: a member's last connection with this host's presence went down.
pub const PEER_MEMBER_DISCONNECTED: DWORD = 2;
/// `PEER_MEMBER_UPDATED`: a member's data changed in the group database.
pub const PEER_MEMBER_UPDATED: DWORD = 3;
/// `PEER_MEMBER_JOINED`: a member the group database did not hold appeared in it.
pub const PEER_MEMBER_JOINED: DWORD = 4;
/// `PEER_MEMBER_PRESENT`.
pub const PEER_MEMBER_PRESENT: DWORD = 1;

/// `PEER_CONNECTED`: a `PEER_CONNECTION_STATUS`.
pub const PEER_CONNECTED: DWORD = 1;
/// `PEER_DISCONNECTED`: a `PEER_CONNECTION_STATUS`.
pub const PEER_DISCONNECTED: DWORD = 2;
/// `PEER_CONNECTION_FAILED`: a `PEER_CONNECTION_STATUS`.
pub const PEER_CONNECTION_FAILED: DWORD = 3;

/// `PEER_CONNECTION_NEIGHBOR`: a connection the group's presence keeps to a neighbour.
pub const PEER_CONNECTION_NEIGHBOR: DWORD = 0x1;
/// `PEER_CONNECTION_DIRECT`: a direct connection between two members.
pub const PEER_CONNECTION_DIRECT: DWORD = 0x2;

/// `PEER_CONNECTION_INFO`: one item of `PeerGroupEnumConnections`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PEER_CONNECTION_INFO {
    /// `sizeof(PEER_CONNECTION_INFO)`.
    pub dwSize: DWORD,
    /// `PEER_CONNECTION_FLAGS`.
    pub dwFlags: DWORD,
    /// The connection.
    pub ullConnectionId: ULONGLONG,
    /// The node at the other end (0: peergroup has no node ids, see `docs/capi.md`).
    pub ullNodeId: ULONGLONG,
    /// The member at the other end (its identity peer name).
    pub pwzPeerId: PWSTR,
    /// Its address (an IPv4 address as IPv4-mapped IPv6).
    pub address: PEER_ADDRESS,
}

/// `PEER_E_NO_MEMBERS_FOUND`: no member answered within the connect timeout (a facade code
/// too, since a password join can fail with it).
pub const PEER_E_NO_MEMBERS_FOUND: HRESULT = peergroup::hresult::PEER_E_NO_MEMBERS_FOUND.0;

// The reasons `hrConnectionFailedReason` carries that Windows' p2p.h defines for it alone: no
// layer of peergroup fails with them, so they are not codes of the facade's table.

/// `PEER_E_NO_MEMBER_CONNECTIONS`: members were found, none could be connected.
pub const PEER_E_NO_MEMBER_CONNECTIONS: HRESULT = 0x8063_2095_u32 as HRESULT;
/// `PEER_E_UNABLE_TO_LISTEN`: the presence could not listen (or has no address to offer).
pub const PEER_E_UNABLE_TO_LISTEN: HRESULT = 0x8063_2096_u32 as HRESULT;

/// The codes above, by name: what a failure's reason may name besides the facade's codes.
pub const CONNECTION_FAILURE_CODES: &[(&str, HRESULT)] = &[
    ("PEER_E_NO_MEMBER_CONNECTIONS", PEER_E_NO_MEMBER_CONNECTIONS),
    ("PEER_E_UNABLE_TO_LISTEN", PEER_E_UNABLE_TO_LISTEN),
];
