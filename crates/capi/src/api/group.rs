//! Group functions: create, invite, join, open, close, delete, enumerate, properties, status.

use std::sync::Arc;

use peergroup::NewGroup;
use peergroup::hresult::{E_INVALIDARG, PEER_E_INVALID_ROLE_PROPERTY, PEER_S_ALREADY_A_MEMBER, S_OK};
use peergroup::{InvitationRequest, Joined, Role};

use super::{identity_or_default, not_found, start_enumeration};
use crate::alloc::{self, Block};
use crate::convert;
use crate::enumeration::Item;
use crate::guard::{CResult, OrHresult, call, clear_out, ok, put};
use crate::session::{self, Object};
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS, MAX_XML_UNITS};

/// The classifier of a group created without one.
pub const DEFAULT_GROUP_CLASSIFIER: &str = "group";
/// The most roles one invitation may name.
pub const MAX_INVITATION_ROLES: ULONG = 16;

/// Opens a group (`PeerGroupOpen`'s steps), registers it and writes its handle.
///
/// # Safety
/// `out` is valid for writing a handle.
unsafe fn open_and_hand_out(
    context: &peergroup::Context,
    identity: &str,
    group: &str,
    cloud: Option<&str>,
    out: *mut HGROUP,
) -> CResult<()> {
    let opened = context.open_group_blocking(identity, group, cloud).or_hr()?;
    let handle = session::insert(Object::Group(Arc::new(opened)))?;
    // SAFETY: forwarded contract.
    unsafe { put(out, handle) }
}

/// What `PeerGroupJoin` and `PeerGroupPasswordJoin` read alike.
struct JoinArguments {
    context: peergroup::Context,
    /// The default identity when the caller passed NULL.
    identity: String,
    invitation: String,
    cloud: Option<String>,
}

/// Reads the identity, the invitation and the cloud of a join.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16.
unsafe fn join_arguments(identity: PCWSTR, invitation: PCWSTR, cloud: PCWSTR) -> CResult<JoinArguments> {
    // SAFETY (three reads): forwarded contract.
    let identity = unsafe { wide::optional_nonempty(identity, MAX_STRING_UNITS) }?;
    let invitation = unsafe { wide::required(invitation, MAX_XML_UNITS) }?;
    let cloud = unsafe { wide::optional(cloud, MAX_STRING_UNITS) }?;
    let context = session::context()?;
    let identity = identity_or_default(&context, identity)?;
    Ok(JoinArguments { context, identity, invitation, cloud })
}

/// Opens a group just joined and writes its handle; `PEER_S_ALREADY_A_MEMBER` when the
/// identity was a member already.
///
/// # Safety
/// `out` is valid for writing a handle.
unsafe fn open_joined(
    context: &peergroup::Context,
    identity: &str,
    joined: &Joined,
    cloud: Option<&str>,
    out: *mut HGROUP,
) -> CResult<peergroup::Hresult> {
    // SAFETY: forwarded contract.
    unsafe { open_and_hand_out(context, identity, &joined.group().to_string(), cloud, out) }?;
    Ok(match joined {
        Joined::Joined(_) => S_OK,
        Joined::AlreadyMember(_) => PEER_S_ALREADY_A_MEMBER,
    })
}

/// Reads a caller's `PEER_GROUP_PROPERTIES`, of the Vista size or the XP size.
///
/// # Safety
/// `p` is NULL or points to at least `dwSize` readable bytes of properties.
unsafe fn read_properties(p: *const PEER_GROUP_PROPERTIES) -> CResult<(PEER_GROUP_PROPERTIES, bool)> {
    if p.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: non-NULL; the first field is readable per the contract.
    let size = unsafe { std::ptr::addr_of!((*p).dwSize).read_unaligned() } as usize;
    let full = std::mem::size_of::<PEER_GROUP_PROPERTIES>();
    if size < PEER_GROUP_PROPERTIES_V1_SIZE {
        return Err(E_INVALIDARG);
    }
    // SAFETY: all-zero bytes are a valid PEER_GROUP_PROPERTIES (NULL pointers, zero numbers).
    let mut props: PEER_GROUP_PROPERTIES = unsafe { std::mem::zeroed() };
    // SAFETY: the caller's `size` bytes (at most our size) are readable; ours writable.
    unsafe { std::ptr::copy_nonoverlapping(p.cast::<u8>(), (&raw mut props).cast::<u8>(), size.min(full)) };
    Ok((props, size >= full))
}

/// Creates a group and opens it (`PeerGroupCreate`). The creator is `pwzCreatorPeerName`
/// (NULL: the default identity); `pwzGroupPeerName` must be NULL (it is made here); a NULL
/// cloud is `Global_`, another is resolved now (`PEER_E_NO_CLOUD`, `PEER_E_CLOUD_NAME_AMBIGUOUS`).
///
/// # Safety
/// `pProperties` is NULL or valid properties of `dwSize` bytes with NULL or NUL-terminated
/// strings; `phGroup` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupCreate(pProperties: *const PEER_GROUP_PROPERTIES, phGroup: *mut HGROUP) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phGroup) }?;
        // SAFETY: per the contract.
        let (p, vista) = unsafe { read_properties(pProperties) }?;
        if !p.pwzGroupPeerName.is_null() {
            return Err(E_INVALIDARG);
        }
        // SAFETY (all reads below): the strings are NULL or NUL-terminated per the contract.
        let creator = unsafe { wide::optional_nonempty(p.pwzCreatorPeerName, MAX_STRING_UNITS) }?;
        let classifier = unsafe { wide::optional_nonempty(p.pwzClassifier, MAX_STRING_UNITS) }?;
        let friendly = unsafe { wide::optional(p.pwzFriendlyName, MAX_STRING_UNITS) }?;
        let comment = unsafe { wide::optional(p.pwzComment, MAX_STRING_UNITS) }?;
        let cloud = unsafe { wide::optional_nonempty(p.pwzCloud, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let creator = identity_or_default(&context, creator)?;
        let mut group =
            NewGroup::new(classifier.as_deref().unwrap_or(DEFAULT_GROUP_CLASSIFIER), friendly.unwrap_or_default());
        group.comment = comment.unwrap_or_default();
        // The facade resolves it and keeps it as given, as for the command line.
        group.cloud = cloud;
        group.flags = p.dwFlags;
        group.member_data_lifetime = p.ulMemberDataLifetime;
        group.presence_lifetime = p.ulPresenceLifetime;
        if vista {
            group.authentication_schemes = p.dwAuthenticationSchemes;
            // SAFETY: NULL or NUL-terminated per the contract.
            let password = unsafe { wide::optional(p.pwzGroupPassword, MAX_STRING_UNITS) }?;
            if let Some(password) = password {
                group.password = Some(peergroup::GroupPassword::new(password));
                let role: uuid::Uuid = p.groupPasswordRole.into();
                // A zero GUID: the default, member.
                if !role.is_nil() {
                    group.password_role = Role::from_guid(role).ok_or(PEER_E_INVALID_ROLE_PROPERTY)?;
                }
            }
        }
        let name = context.create_group(&creator, &group).or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { open_and_hand_out(&context, &creator, &name.to_string(), None, phGroup) }?;
        ok()
    })
}

/// Issues an invitation for the identity whose `PeerIdentityGetXML` text is
/// `pwzIdentityInfo` (`PeerGroupCreateInvitation`). NULL expiration: the issuer's own end;
/// no roles: member.
///
/// # Safety
/// `pwzIdentityInfo` NULL or NUL-terminated UTF-16; `pftExpiration` NULL or readable;
/// `pRoles` NULL or `cRoles` readable GUIDs; `ppwzInvitation` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupCreateInvitation(
    hGroup: HGROUP,
    pwzIdentityInfo: PCWSTR,
    pftExpiration: *const FILETIME,
    cRoles: ULONG,
    pRoles: *const GUID,
    ppwzInvitation: *mut PWSTR,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzInvitation) }?;
        // SAFETY: per the contract.
        let invitee = unsafe { wide::required(pwzIdentityInfo, MAX_XML_UNITS) }?;
        // SAFETY: per the contract.
        let roles = unsafe { read_roles(cRoles, pRoles) }?;
        let mut request = InvitationRequest { roles, ..InvitationRequest::default() };
        if !pftExpiration.is_null() {
            // SAFETY: non-NULL and readable per the contract.
            request.expiration = Some(convert::system_time(unsafe { pftExpiration.read_unaligned() }));
        }
        let group = session::group(hGroup)?;
        let context = session::context()?;
        let text = context
            .invite(&group.identity().peer_name().to_string(), &group.peer_name().to_string(), &invitee, &request)
            .or_hr()?;
        // SAFETY: per the contract.
        unsafe { put(ppwzInvitation, wide::hand_out(&text)) }?;
        ok()
    })
}

/// The roles of an invitation or credential info: at most [`MAX_INVITATION_ROLES`]
/// (`E_INVALIDARG`), each a role this build knows (`PEER_E_INVALID_ROLE_PROPERTY`).
///
/// # Safety
/// `roles` is NULL or points to `count` readable GUIDs.
pub(super) unsafe fn read_roles(count: ULONG, roles: *const GUID) -> CResult<Vec<Role>> {
    if count > MAX_INVITATION_ROLES || (count > 0 && roles.is_null()) {
        return Err(E_INVALIDARG);
    }
    (0..count as usize)
        .map(|i| {
            // SAFETY: `count` GUIDs are readable per the contract.
            let guid = unsafe { roles.add(i).read_unaligned() };
            Role::from_guid(guid.into()).ok_or(PEER_E_INVALID_ROLE_PROPERTY)
        })
        .collect()
}

/// Reads an invitation without joining (`PeerGroupParseInvitation`).
///
/// # Safety
/// `pwzInvitation` NULL or NUL-terminated UTF-16; `ppInvitationInfo` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupParseInvitation(
    pwzInvitation: PCWSTR,
    ppInvitationInfo: *mut *mut PEER_INVITATION_INFO,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppInvitationInfo) }?;
        // SAFETY: per the contract.
        let text = unsafe { wide::required(pwzInvitation, MAX_XML_UNITS) }?;
        let info = session::context()?.parse_invitation(&text).or_hr()?;
        let mut block = Block::new();
        let p = convert::invitation(&mut block, &info);
        // SAFETY: per the contract.
        unsafe { put(ppInvitationInfo, alloc::hand_out(block, p)) }?;
        ok()
    })
}

/// Joins a group with an invitation issued to the identity (NULL: the default one) and opens
/// it (`PeerGroupJoin`). Joining again gives `PEER_S_ALREADY_A_MEMBER` and a handle. A NULL
/// cloud is the invitation's.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `phGroup` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupJoin(
    pwzIdentity: PCWSTR,
    pwzInvitation: PCWSTR,
    pwzCloud: PCWSTR,
    phGroup: *mut HGROUP,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phGroup) }?;
        // SAFETY: per the contract.
        let JoinArguments { context, identity, invitation, cloud } =
            unsafe { join_arguments(pwzIdentity, pwzInvitation, pwzCloud) }?;
        let joined = context.join(&identity, &invitation).or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { open_joined(&context, &identity, &joined, cloud.as_deref(), phGroup) }
    })
}

/// A password invitation to the group (`PeerGroupCreatePasswordInvitation`; free it with
/// `PeerFreeData`): whoever holds it and knows the password joins with `PeerGroupPasswordJoin`.
/// Administrators only (`PEER_E_NOT_AUTHORIZED`, also for a group without a password).
///
/// # Safety
/// `ppwzInvitation` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupCreatePasswordInvitation(hGroup: HGROUP, ppwzInvitation: *mut PWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppwzInvitation) }?;
        let text = session::group(hGroup)?.create_password_invitation().or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { put(ppwzInvitation, wide::hand_out(&text)) }?;
        ok()
    })
}

/// Joins a password group and opens it (`PeerGroupPasswordJoin`): finds a member in the
/// group's cloud (`pwzCloud`, NULL: the invitation's), proves the password to it and keeps
/// the membership it issues, then opens the group (not synchronised until it connects).
/// peergroup checks the password here, at the join, rather than at the first
/// `PeerGroupConnect` (`docs/capi.md`): a wrong password is `PEER_E_NOT_AUTHORIZED` and
/// stores nothing; no member reachable is `PEER_E_NO_MEMBERS_FOUND`; joining again is
/// `PEER_S_ALREADY_A_MEMBER` with a handle.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `phGroup` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupPasswordJoin(
    pwzIdentity: PCWSTR,
    pwzInvitation: PCWSTR,
    pwzPassword: PCWSTR,
    pwzCloud: PCWSTR,
    phGroup: *mut HGROUP,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phGroup) }?;
        // SAFETY (both): per the contract. Every argument is read before the default identity
        // is looked up.
        let password = unsafe { wide::required(pwzPassword, MAX_STRING_UNITS) }?;
        let JoinArguments { context, identity, invitation, cloud } =
            unsafe { join_arguments(pwzIdentity, pwzInvitation, pwzCloud) }?;
        let joined = session::runtime()?
            .block_on(context.password_join(&identity, &invitation, &password, cloud.as_deref(), &[]))
            .or_hr()?;
        // SAFETY: checked non-NULL above.
        unsafe { open_joined(&context, &identity, &joined, cloud.as_deref(), phGroup) }
    })
}

/// Resumes a password authentication that `PEER_GROUP_EVENT_AUTHENTICATION_FAILED` held up
/// (`PeerGroupResumePasswordAuthentication`, Windows 7). peergroup proves a password once,
/// inside `PeerGroupPasswordJoin`, before any handle of the group exists, so no handle ever has
/// an authentication waiting: this checks both handles and returns `S_OK` (`docs/capi.md`,
/// difference 3). `E_HANDLE` for a group or a registration that is not open.
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupResumePasswordAuthentication(hGroup: HGROUP, hPeerEventHandle: HPEEREVENT) -> HRESULT {
    call(|| {
        session::require()?;
        session::group(hGroup)?;
        session::registration(hPeerEventHandle)?;
        ok()
    })
}

/// Opens a group the identity created or joined (`PeerGroupOpen`): in `pwzCloud`, or when it
/// is NULL in the group's own cloud. The handle starts offline.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `phGroup` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupOpen(
    pwzIdentity: PCWSTR,
    pwzGroupPeerName: PCWSTR,
    pwzCloud: PCWSTR,
    phGroup: *mut HGROUP,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phGroup) }?;
        // SAFETY (three reads): per the contract.
        let identity = unsafe { wide::required(pwzIdentity, MAX_STRING_UNITS) }?;
        let group = unsafe { wide::required(pwzGroupPeerName, MAX_STRING_UNITS) }?;
        let cloud = unsafe { wide::optional(pwzCloud, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        // SAFETY: checked non-NULL above.
        unsafe { open_and_hand_out(&context, &identity, &group, cloud.as_deref(), phGroup) }?;
        ok()
    })
}

/// Closes a group handle (`PeerGroupClose`). Other handles, here and in other processes, go
/// on; event registrations made through it keep running until unregistered.
#[unsafe(no_mangle)]
pub extern "C" fn PeerGroupClose(hGroup: HGROUP) -> HRESULT {
    call(|| {
        session::require()?;
        drop(session::remove(hGroup, |o| matches!(o, Object::Group(_)))?);
        ok()
    })
}

/// Deletes an identity's group: database, membership and keys (`PeerGroupDelete`). NULL
/// identity: the default one. Open handles of the group fail from now on.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupDelete(pwzIdentity: PCWSTR, pwzGroupPeerName: PCWSTR) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY (two reads): per the contract.
        let identity = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        let group = unsafe { wide::required(pwzGroupPeerName, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let identity = identity_or_default(&context, identity)?;
        context.delete_group(&identity, &group).or_hr()?;
        ok()
    })
}

/// Enumerates the groups of an identity as `PEER_NAME_PAIR` items (group peer name, friendly
/// name) (`PeerEnumGroups`).
///
/// # Safety
/// `pwzIdentity` NULL or NUL-terminated UTF-16; `phPeerEnum` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerEnumGroups(pwzIdentity: PCWSTR, phPeerEnum: *mut HPEERENUM) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        // SAFETY: per the contract.
        let identity = unsafe { wide::required(pwzIdentity, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let items = context
            .groups(&identity)
            .or_hr()
            .map_err(not_found)?
            .into_iter()
            .map(|g| Item::NamePair { name: g.group_peer_name.to_string(), friendly: g.friendly_name })
            .collect();
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(items, phPeerEnum) }?;
        ok()
    })
}

/// The group's properties (`PeerGroupGetProperties`).
///
/// # Safety
/// `ppProperties` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupGetProperties(
    hGroup: HGROUP,
    ppProperties: *mut *mut PEER_GROUP_PROPERTIES,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppProperties) }?;
        let props = session::group(hGroup)?.properties().or_hr()?;
        let mut block = Block::new();
        let p = convert::properties(&mut block, &props);
        // SAFETY: per the contract.
        unsafe { put(ppProperties, alloc::hand_out(block, p)) }?;
        ok()
    })
}

/// The `PEER_GROUP_STATUS` flags as every process on this host sees them
/// (`PeerGroupGetStatus`): 0 while no process has connected the group.
///
/// # Safety
/// `pdwStatus` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupGetStatus(hGroup: HGROUP, pdwStatus: *mut DWORD) -> HRESULT {
    call(|| {
        session::require()?;
        if pdwStatus.is_null() {
            return Err(E_INVALIDARG);
        }
        let status = session::group(hGroup)?.status().or_hr()?;
        // SAFETY: per the contract.
        unsafe { put(pdwStatus, status.flags()) }?;
        ok()
    })
}

/// Enumerates the members this group's database knows as `PEER_MEMBER` items
/// (`PeerGroupEnumMembers`): `dwFlags` 0 for all, `PEER_MEMBER_PRESENT` for connected ones
/// only; a non-NULL `pwzIdentity` selects one.
///
/// # Safety
/// `pwzIdentity` NULL or NUL-terminated UTF-16; `phPeerEnum` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupEnumMembers(
    hGroup: HGROUP,
    dwFlags: DWORD,
    pwzIdentity: PCWSTR,
    phPeerEnum: *mut HPEERENUM,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phPeerEnum) }?;
        // SAFETY: per the contract.
        let identity = unsafe { wide::optional_nonempty(pwzIdentity, MAX_STRING_UNITS) }?;
        if dwFlags & !PEER_MEMBER_PRESENT != 0 {
            return Err(E_INVALIDARG);
        }
        let members = session::group(hGroup)?.members().or_hr()?;
        let items = members
            .into_iter()
            .filter(|m| dwFlags & PEER_MEMBER_PRESENT == 0 || m.flags & PEER_MEMBER_PRESENT != 0)
            .filter(|m| identity.as_deref().is_none_or(|i| m.peer_name.to_string() == i))
            .map(|m| Item::Member(Box::new(m)))
            .collect();
        // SAFETY: checked non-NULL above.
        unsafe { start_enumeration(items, phPeerEnum) }?;
        ok()
    })
}

/// Changes the group's friendly name and comment (`PeerGroupSetProperties`; administrators
/// only, `PEER_E_NOT_AUTHORIZED` otherwise). The other fields are not changed: the names and
/// cloud are immutable on Windows too, and the lifetimes and flags are fixed at creation here.
///
/// # Safety
/// As `PeerGroupCreate`'s properties.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupSetProperties(hGroup: HGROUP, pProperties: *const PEER_GROUP_PROPERTIES) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        let (p, _) = unsafe { read_properties(pProperties) }?;
        // SAFETY (two reads): the strings are NULL or NUL-terminated per the contract.
        let friendly = unsafe { wide::optional(p.pwzFriendlyName, MAX_STRING_UNITS) }?;
        let comment = unsafe { wide::optional(p.pwzComment, MAX_STRING_UNITS) }?;
        let group = session::group(hGroup)?;
        let current = group.properties().or_hr()?;
        group
            .set_properties(&friendly.unwrap_or(current.friendly_name), &comment.unwrap_or(current.comment))
            .or_hr()?;
        ok()
    })
}

/// Converts a UTC time to the group's peer time (`PeerGroupUniversalTimeToPeerTime`). Offline,
/// peer time is UTC: the time is copied.
///
/// # Safety
/// `pftUniversalTime` NULL or readable; `pftPeerTime` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupUniversalTimeToPeerTime(
    hGroup: HGROUP,
    pftUniversalTime: *const FILETIME,
    pftPeerTime: *mut FILETIME,
) -> HRESULT {
    call(|| {
        session::require()?;
        if pftUniversalTime.is_null() {
            return Err(E_INVALIDARG);
        }
        session::group(hGroup)?;
        // SAFETY: non-NULL and readable per the contract; the output is checked by `put`.
        unsafe { put(pftPeerTime, pftUniversalTime.read_unaligned()) }?;
        ok()
    })
}

/// Converts the group's peer time to UTC (`PeerGroupPeerTimeToUniversalTime`); the copy of
/// [`PeerGroupUniversalTimeToPeerTime`].
///
/// # Safety
/// `pftPeerTime` NULL or readable; `pftUniversalTime` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerGroupPeerTimeToUniversalTime(
    hGroup: HGROUP,
    pftPeerTime: *const FILETIME,
    pftUniversalTime: *mut FILETIME,
) -> HRESULT {
    // SAFETY: forwarded contract.
    unsafe { PeerGroupUniversalTimeToPeerTime(hGroup, pftPeerTime, pftUniversalTime) }
}
