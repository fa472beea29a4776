//! Conversions between peergroup's Rust values and the C structures: GUIDs, FILETIMEs, and
//! each returned structure built into a [`Block`] with its strings and buffers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peergroup::{Connection, GroupProperties, InvitationInfo, Member, Record, Timestamp};
use uuid::Uuid;

use crate::address;
use crate::alloc::Block;
use crate::types::*;

/// FILETIME ticks (100 ns) between 1601-01-01 and 1970-01-01.
const UNIX_EPOCH_TICKS: i128 = 116_444_736_000_000_000;
/// The largest FILETIME Windows accepts (`0x7FFFFFFFFFFFFFFF`): "never".
const MAX_TICKS: i128 = i64::MAX as i128;

impl From<Uuid> for GUID {
    fn from(u: Uuid) -> Self {
        let (d1, d2, d3, d4) = u.as_fields();
        GUID { Data1: d1, Data2: d2, Data3: d3, Data4: *d4 }
    }
}

impl From<GUID> for Uuid {
    fn from(g: GUID) -> Self {
        Uuid::from_fields(g.Data1, g.Data2, g.Data3, &g.Data4)
    }
}

fn ticks_to_filetime(ticks: i128) -> FILETIME {
    let t = ticks.clamp(0, MAX_TICKS) as u64;
    FILETIME { dwLowDateTime: t as u32, dwHighDateTime: (t >> 32) as u32 }
}

fn filetime_ticks(ft: FILETIME) -> i128 {
    i128::from((u64::from(ft.dwHighDateTime) << 32) | u64::from(ft.dwLowDateTime))
}

/// A timestamp as a FILETIME (clamped to 1601 .. `0x7FFFFFFFFFFFFFFF`; [`Timestamp::MAX`]
/// is the largest FILETIME).
pub(crate) fn filetime(t: Timestamp) -> FILETIME {
    if t == Timestamp::MAX {
        return ticks_to_filetime(MAX_TICKS);
    }
    ticks_to_filetime(i128::from(t.as_micros()) * 10 + UNIX_EPOCH_TICKS)
}

/// A FILETIME as a timestamp (the largest FILETIME is [`Timestamp::MAX`]).
pub(crate) fn timestamp(ft: FILETIME) -> Timestamp {
    let ticks = filetime_ticks(ft);
    if ticks >= MAX_TICKS {
        return Timestamp::MAX;
    }
    let micros = (ticks - UNIX_EPOCH_TICKS).div_euclid(10);
    Timestamp::from_micros(micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// A system time as a FILETIME.
pub(crate) fn filetime_of(t: SystemTime) -> FILETIME {
    filetime(Timestamp::from_system_time(t))
}

/// A FILETIME as a system time.
pub(crate) fn system_time(ft: FILETIME) -> SystemTime {
    let ticks = filetime_ticks(ft) - UNIX_EPOCH_TICKS;
    let d = Duration::from_nanos((ticks.unsigned_abs() * 100).min(u128::from(u64::MAX)) as u64);
    if ticks >= 0 { UNIX_EPOCH + d } else { UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH) }
}

fn size_of<T>() -> DWORD {
    std::mem::size_of::<T>() as DWORD
}

fn data(block: &mut Block, bytes: &[u8]) -> PEER_DATA {
    PEER_DATA { cbData: bytes.len() as ULONG, pbData: block.bytes(bytes) }
}

/// A record as `PEER_RECORD`, owned by `block`.
pub(crate) fn record(block: &mut Block, r: &Record) -> *mut PEER_RECORD {
    let value = PEER_RECORD {
        dwSize: size_of::<PEER_RECORD>(),
        r#type: r.record_type.into(),
        id: r.id.into(),
        dwVersion: r.version,
        dwFlags: r.flags,
        pwzCreatorId: block.wide(&r.creator.to_string()),
        pwzModifiedById: block.wide(&r.modifier.to_string()),
        pwzAttributes: block.wide(&r.attributes.to_xml()),
        ftCreation: filetime(r.created),
        ftExpiration: filetime(r.expires),
        ftLastModified: filetime(r.modified),
        securityData: data(block, &r.signature),
        data: data(block, &r.data),
    };
    block.boxed(value)
}

/// Group properties as `PEER_GROUP_PROPERTIES`, owned by `block`.
pub(crate) fn properties(block: &mut Block, p: &GroupProperties) -> *mut PEER_GROUP_PROPERTIES {
    let value = PEER_GROUP_PROPERTIES {
        dwSize: size_of::<PEER_GROUP_PROPERTIES>(),
        dwFlags: p.flags,
        pwzCloud: block.wide(&p.cloud_name),
        pwzClassifier: block.wide(&p.classifier),
        pwzGroupPeerName: block.wide(&p.group_peer_name.to_string()),
        pwzCreatorPeerName: block.wide(&p.creator.to_string()),
        pwzFriendlyName: block.wide(&p.friendly_name),
        pwzComment: block.wide(&p.comment),
        ulMemberDataLifetime: p.member_data_lifetime,
        ulPresenceLifetime: p.presence_lifetime,
        dwAuthenticationSchemes: p.authentication_schemes,
        pwzGroupPassword: std::ptr::null_mut(),
        groupPasswordRole: p.password_role.map(GUID::from).unwrap_or_default(),
    };
    block.boxed(value)
}

/// A member as `PEER_MEMBER` (with its credential information), owned by `block`.
pub(crate) fn member(block: &mut Block, m: &Member) -> *mut PEER_MEMBER {
    let roles: Vec<GUID> = m.roles.iter().map(|r| GUID::from(*r)).collect();
    let credential = PEER_CREDENTIAL_INFO {
        dwSize: size_of::<PEER_CREDENTIAL_INFO>(),
        dwFlags: 0,
        pwzFriendlyName: block.wide(&m.friendly_name),
        pPublicKey: std::ptr::null_mut(),
        pwzIssuerPeerName: std::ptr::null_mut(),
        pwzIssuerFriendlyName: std::ptr::null_mut(),
        ftValidityStart: FILETIME::default(),
        ftValidityEnd: FILETIME::default(),
        cRoles: roles.len() as ULONG,
        pRoles: block.array(roles),
    };
    let value = PEER_MEMBER {
        dwSize: size_of::<PEER_MEMBER>(),
        dwFlags: m.flags,
        pwzIdentity: block.wide(&m.peer_name.to_string()),
        pwzAttributes: std::ptr::null_mut(),
        ullNodeId: 0,
        cAddresses: 0,
        pAddresses: std::ptr::null_mut(),
        pCredentialInfo: block.boxed(credential),
    };
    block.boxed(value)
}

/// A connection as `PEER_CONNECTION_INFO`, owned by `block`.
pub(crate) fn connection_info(block: &mut Block, c: &Connection) -> *mut PEER_CONNECTION_INFO {
    let value = PEER_CONNECTION_INFO {
        dwSize: size_of::<PEER_CONNECTION_INFO>(),
        dwFlags: c.flags,
        ullConnectionId: c.id,
        // A presence is one node per (identity, group, host), but the links do not tell each
        // other an id for it: 0, as in PEER_MEMBER.
        ullNodeId: 0,
        pwzPeerId: block.wide(&c.peer.to_string()),
        address: address::peer_address(&c.addr),
    };
    block.boxed(value)
}

/// A peer name and friendly name as `PEER_NAME_PAIR`, owned by `block`.
pub(crate) fn name_pair(block: &mut Block, name: &str, friendly: &str) -> *mut PEER_NAME_PAIR {
    let value = PEER_NAME_PAIR {
        dwSize: size_of::<PEER_NAME_PAIR>(),
        pwzPeerName: block.wide(name),
        pwzFriendlyName: block.wide(friendly),
    };
    block.boxed(value)
}

/// An invitation as `PEER_INVITATION_INFO`, owned by `block`.
pub(crate) fn invitation(block: &mut Block, i: &InvitationInfo) -> *mut PEER_INVITATION_INFO {
    let roles: Vec<GUID> = i.roles.iter().map(|r| GUID::from(r.guid())).collect();
    let value = PEER_INVITATION_INFO {
        dwSize: size_of::<PEER_INVITATION_INFO>(),
        dwFlags: 0,
        pwzCloudName: block.wide(&i.cloud),
        // The invitation names its cloud only; the scope is the one the name resolves in.
        dwScope: 0,
        dwCloudFlags: 0,
        pwzGroupPeerName: block.wide(&i.group.to_string()),
        pwzIssuerPeerName: block.wide(&i.issuer.to_string()),
        pwzSubjectPeerName: block.wide(&i.subject.to_string()),
        pwzGroupFriendlyName: block.wide(&i.group_friendly_name),
        pwzIssuerFriendlyName: block.wide(&i.issuer_friendly_name),
        pwzSubjectFriendlyName: block.wide(&i.subject_friendly_name),
        ftValidityStart: filetime_of(i.not_before),
        ftValidityEnd: filetime_of(i.not_after),
        cRoles: roles.len() as ULONG,
        pRoles: block.array(roles),
        cClassifiers: 0,
        ppwzClassifiers: std::ptr::null_mut(),
        pSubjectPublicKey: std::ptr::null_mut(),
        authScheme: i.authentication_scheme,
    };
    block.boxed(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_round_trips_and_has_the_windows_epoch() {
        assert_eq!(filetime(Timestamp::EPOCH), FILETIME { dwLowDateTime: 0xD53E_8000, dwHighDateTime: 0x019D_B1DE });
        for micros in [0, 1, -1, 1_700_000_000_123_456, -11_644_473_600_000_000] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(timestamp(filetime(t)), t, "{micros}");
        }
        assert_eq!(timestamp(filetime(Timestamp::MAX)), Timestamp::MAX);
        // Before 1601 clamps to 0.
        assert_eq!(filetime(Timestamp::from_micros(i64::MIN)), FILETIME::default());
        let now = SystemTime::UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(system_time(filetime_of(now)), now);
    }

    #[test]
    fn connections_are_connection_infos() {
        let c = Connection {
            id: 42,
            flags: PEER_CONNECTION_NEIGHBOR,
            peer: "0.alice".parse().unwrap(),
            addr: "127.0.0.1:3587".parse().unwrap(),
            outgoing: false,
        };
        let mut block = Block::new();
        // SAFETY: built just now, alive with `block`.
        let info = unsafe { connection_info(&mut block, &c).read() };
        assert_eq!(info.dwSize, 64, "the size of x64 Windows");
        assert_eq!((info.dwFlags, info.ullConnectionId, info.ullNodeId), (PEER_CONNECTION_NEIGHBOR, 42, 0));
        // SAFETY: "0.alice" and its NUL, in the live block.
        let peer = unsafe { std::slice::from_raw_parts(info.pwzPeerId, 8) };
        assert_eq!(String::from_utf16_lossy(peer), "0.alice\0");
        assert_eq!(address::socket_addr(&info.address), Ok(c.addr));
    }

    #[test]
    fn guid_fields_are_the_uuid_fields() {
        let u = Uuid::from_u128(0x04387127_aa56_450a_8ce5_4f565c6790f4);
        let g = GUID::from(u);
        assert_eq!((g.Data1, g.Data2, g.Data3), (0x04387127, 0xaa56, 0x450a));
        assert_eq!(g.Data4, [0x8c, 0xe5, 0x4f, 0x56, 0x5c, 0x67, 0x90, 0xf4]);
        assert_eq!(Uuid::from(g), u);
    }
}
