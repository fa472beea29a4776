//! The simple PNRP API (`PeerPnrp*`): peer names registered in clouds and resolved to
//! endpoints, on the facade's `pnrp_register` / `pnrp_resolve` (DNS clouds by signed dynamic
//! updates, link-local and site-local clouds by multicast DNS; `docs/clouds.md`).

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use peergroup::hresult::{
    E_INVALIDARG, PEER_E_NO_CLOUD, PEER_E_NO_MORE, PEER_E_NOT_FOUND, PEER_E_UNSUPPORTED_VERSION, PEER_S_NO_EVENT_DATA,
};
use peergroup::{CloudMedia, Context, EndpointInfo, Registration, Scope};

use crate::alloc::{self, Block};
use crate::guard::{CResult, OrHresult, call, clear_out, ok, put};
use crate::session::{self, Object};
use crate::types::*;
use crate::wide::{self, MAX_STRING_UNITS};

/// How long `PeerPnrpResolve` listens (Windows: 30 s). On the link a resolution ends when
/// the asked number of endpoints is found, else at this time.
pub const PNRP_RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most endpoints `PeerPnrpResolve` returns when `*pcEndpoints` is 0.
pub const PNRP_MAX_ENDPOINTS: ULONG = 100;

/// The most addresses a registration may carry (`MAX_ENDPOINTS` of peergroup-pnrp).
const MAX_ADDRESSES: ULONG = 10;

/// Starts the simple PNRP API (`PeerPnrpStartup`): the same session as `PeerGroupStartup`,
/// counted the same way; every success needs one `PeerPnrpShutdown`. Only `PNRP_VERSION`
/// (2.0) is supported.
#[unsafe(no_mangle)]
pub extern "C" fn PeerPnrpStartup(wVersionRequested: WORD) -> HRESULT {
    call(|| {
        if wVersionRequested != PNRP_VERSION {
            return Err(PEER_E_UNSUPPORTED_VERSION);
        }
        session::start()?;
        ok()
    })
}

/// Ends one `PeerPnrpStartup` (`PeerPnrpShutdown`); the last end of the session withdraws
/// the registrations still open.
#[unsafe(no_mangle)]
pub extern "C" fn PeerPnrpShutdown() -> HRESULT {
    call(|| {
        session::stop()?;
        ok()
    })
}

/// Reads one `SOCKADDR` (`sockaddr_in` or `sockaddr_in6`).
///
/// # Safety
/// `p` is NULL or points to a readable `sockaddr_in` or `sockaddr_in6` of the family it says.
unsafe fn socket_addr(p: *const SOCKADDR) -> CResult<SocketAddr> {
    if p.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: readable per the contract; the family says which structure it is.
    let family = i32::from(unsafe { (*p).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: an AF_INET address is a sockaddr_in per the contract.
            let sin = unsafe { p.cast::<libc::sockaddr_in>().read_unaligned() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: an AF_INET6 address is a sockaddr_in6 per the contract.
            let sin6 = unsafe { p.cast::<libc::sockaddr_in6>().read_unaligned() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Ok(SocketAddr::V6(SocketAddrV6::new(ip, port, u32::from_be(sin6.sin6_flowinfo), sin6.sin6_scope_id)))
        }
        _ => Err(E_INVALIDARG),
    }
}

/// One address as the C side reads it, in `block`.
fn c_sockaddr(block: &mut Block, a: &SocketAddr) -> *mut SOCKADDR {
    match a {
        SocketAddr::V4(v4) => {
            // SAFETY: all-zero is a valid sockaddr_in (plain integers).
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            block.boxed(sin).cast()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: all-zero is a valid sockaddr_in6 (plain integers and bytes).
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            block.boxed(sin6).cast()
        }
    }
}

/// What a `PEER_PNRP_REGISTRATION_INFO` asks for, read and checked.
struct Wanted {
    cloud: Option<String>,
    /// `None`: this host's addresses in each cloud at `port`.
    addresses: Option<Vec<SocketAddr>>,
    port: u16,
    comment: String,
}

/// # Safety
/// `info` is NULL or points to a readable `PEER_PNRP_REGISTRATION_INFO` whose pointers are
/// NULL or valid as documented.
unsafe fn wanted(info: *const PEER_PNRP_REGISTRATION_INFO) -> CResult<Wanted> {
    if info.is_null() {
        return Err(E_INVALIDARG);
    }
    // SAFETY: readable per the contract.
    let info = unsafe { info.read_unaligned() };
    if info.payload.cbData != 0 {
        // No medium carries a payload (a DNS record must stay small; see docs/capi.md).
        return Err(E_INVALIDARG);
    }
    // SAFETY: NULL or NUL-terminated per the contract.
    let cloud = unsafe { wide::optional_nonempty(info.pwzCloudName, MAX_STRING_UNITS) }?;
    // SAFETY: as above.
    let comment = unsafe { wide::optional(info.pwzComment, MAX_STRING_UNITS) }?.unwrap_or_default();
    let addresses = match info.cAddresses {
        0 | PEER_PNRP_AUTO_ADDRESSES => None,
        n if n > MAX_ADDRESSES || info.ppAddresses.is_null() => return Err(E_INVALIDARG),
        n => Some(
            (0..n as usize)
                // SAFETY: `n` readable pointers per the contract, each NULL or an address.
                .map(|i| unsafe { socket_addr(info.ppAddresses.add(i).read_unaligned()) })
                .collect::<CResult<Vec<_>>>()?,
        ),
    };
    if addresses.is_none() && info.wPort == 0 {
        return Err(E_INVALIDARG);
    }
    Ok(Wanted { cloud, addresses, port: info.wPort, comment })
}

/// The clouds a registration or resolution without a cloud name covers: every link-local
/// and site-local cloud of this host (`Global_` only when named).
fn interface_clouds(context: &Context) -> CResult<Vec<String>> {
    let clouds: Vec<String> = context
        .clouds()
        .or_hr()?
        .into_iter()
        .filter(|c| matches!(c.scope, Scope::LinkLocal | Scope::SiteLocal))
        .map(|c| c.name.to_string())
        .collect();
    if clouds.is_empty() { Err(PEER_E_NO_CLOUD) } else { Ok(clouds) }
}

/// Publishes `peer_name` as `wanted` says in every cloud it names.
async fn publish(context: &Context, peer_name: &str, wanted: &Wanted) -> CResult<Vec<Registration<CloudMedia>>> {
    let clouds = match &wanted.cloud {
        Some(c) => vec![c.clone()],
        None => interface_clouds(context)?,
    };
    let mut registrations = Vec::new();
    for cloud in clouds {
        let endpoints = match &wanted.addresses {
            Some(a) => a.clone(),
            None => context.local_endpoints(&cloud, wanted.port).await.or_hr()?,
        };
        if endpoints.is_empty() {
            // A cloud where this host has no address (named by the caller) is not one it can
            // publish in; among all clouds such a one is passed over.
            if wanted.cloud.is_some() {
                return Err(PEER_E_NO_CLOUD);
            }
            continue;
        }
        // On failure the registrations made so far are dropped, which withdraws them.
        registrations.push(context.pnrp_register(peer_name, &cloud, endpoints, &wanted.comment).await.or_hr()?);
    }
    if registrations.is_empty() {
        return Err(PEER_E_NO_CLOUD);
    }
    Ok(registrations)
}

/// Registers a peer name (`PeerPnrpRegister`): in the cloud `pRegistrationInfo` names
/// (NULL: every link-local and site-local cloud of this host), at its addresses
/// (`PEER_PNRP_AUTO_ADDRESSES` or 0: this host's addresses in the cloud at `wPort`), kept
/// published until `PeerPnrpUnregister`. A NULL `pRegistrationInfo` is `E_INVALIDARG` here
/// (Windows picks a port itself; peergroup does not guess one). A secure name needs its
/// identity in this keystore (`PEER_E_IDENTITY_NOT_FOUND`); a payload is `E_INVALIDARG`.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `pRegistrationInfo` NULL or readable with its
/// pointers valid; `phRegistration` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpRegister(
    pcwzPeerName: PCWSTR,
    pRegistrationInfo: *const PEER_PNRP_REGISTRATION_INFO,
    phRegistration: *mut HREGISTRATION,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phRegistration) }?;
        // SAFETY: per the contract.
        let peer_name = unsafe { wide::required(pcwzPeerName, MAX_STRING_UNITS) }?;
        peergroup::validate_peer_name(&peer_name).or_hr()?;
        // SAFETY: per the contract.
        let wanted = unsafe { wanted(pRegistrationInfo) }?;
        let context = session::context()?;
        let registrations = session::runtime()?.block_on(publish(&context, &peer_name, &wanted))?;
        let handle = session::insert(Object::Pnrp(Arc::new(Mutex::new(registrations))))?;
        // SAFETY: checked non-NULL by clear_out.
        unsafe { put(phRegistration, handle) }?;
        ok()
    })
}

/// Changes what a registration publishes (`PeerPnrpUpdateRegistration`): its addresses and
/// comment; the cloud stays as registered (a different cloud name is `E_INVALIDARG`).
///
/// # Safety
/// As [`PeerPnrpRegister`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpUpdateRegistration(
    hRegistration: HREGISTRATION,
    pRegistrationInfo: *const PEER_PNRP_REGISTRATION_INFO,
) -> HRESULT {
    call(|| {
        session::require()?;
        let registrations = session::pnrp(hRegistration)?;
        // SAFETY: per the contract.
        let wanted = unsafe { wanted(pRegistrationInfo) }?;
        let context = session::context()?;
        let registrations = registrations.lock().unwrap_or_else(PoisonError::into_inner);
        session::runtime()?.block_on(async {
            for r in registrations.iter() {
                let publication = r.publication();
                let cloud = publication.cloud.to_string();
                if wanted.cloud.as_ref().is_some_and(|c| *c != cloud) {
                    return Err(E_INVALIDARG);
                }
                let endpoints = match &wanted.addresses {
                    Some(a) => a.clone(),
                    None => context.local_endpoints(&cloud, wanted.port).await.or_hr()?,
                };
                if wanted.comment != publication.comment {
                    // The comment is part of the signed announcement: a new one is a new
                    // registration, which Windows does not allow either.
                    return Err(E_INVALIDARG);
                }
                r.update(endpoints).await.or_hr()?;
            }
            Ok(())
        })?;
        ok()
    })
}

/// Withdraws a registration (`PeerPnrpUnregister`) and closes its handle.
#[unsafe(no_mangle)]
pub extern "C" fn PeerPnrpUnregister(hRegistration: HREGISTRATION) -> HRESULT {
    call(|| {
        let Object::Pnrp(registrations) = session::remove(hRegistration, |o| matches!(o, Object::Pnrp(_)))? else {
            return Err(peergroup::hresult::E_HANDLE);
        };
        let taken = std::mem::take(&mut *registrations.lock().unwrap_or_else(PoisonError::into_inner));
        session::runtime()?.block_on(async {
            for r in taken {
                r.unregister().await.or_hr()?;
            }
            Ok(())
        })?;
        ok()
    })
}

/// Resolves a peer name (`PeerPnrpResolve`): in `pcwzCloudName` (NULL: every link-local and
/// site-local cloud of this host, together), at most `*pcEndpoints` endpoints (0:
/// [`PNRP_MAX_ENDPOINTS`]), found within [`PNRP_RESOLVE_TIMEOUT`]. On success
/// `*pcEndpoints` is the number found and `*ppEndpoints` an array of them (one
/// `PeerFreeData`); none found is `PEER_E_NOT_FOUND`.
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `pcEndpoints` readable and writable;
/// `ppEndpoints` writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpResolve(
    pcwzPeerName: PCWSTR,
    pcwzCloudName: PCWSTR,
    pcEndpoints: *mut ULONG,
    ppEndpoints: *mut *mut PEER_PNRP_ENDPOINT_INFO,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(ppEndpoints) }?;
        if pcEndpoints.is_null() {
            return Err(E_INVALIDARG);
        }
        // SAFETY: non-NULL, readable per the contract.
        let max = match unsafe { pcEndpoints.read_unaligned() } {
            0 => PNRP_MAX_ENDPOINTS,
            n => n.min(PNRP_MAX_ENDPOINTS),
        } as usize;
        // SAFETY: per the contract.
        let peer_name = unsafe { wide::required(pcwzPeerName, MAX_STRING_UNITS) }?;
        // SAFETY: per the contract.
        let cloud = unsafe { wide::optional_nonempty(pcwzCloudName, MAX_STRING_UNITS) }?;
        let context = session::context()?;
        let clouds = match cloud {
            Some(c) => vec![c],
            None => interface_clouds(&context)?,
        };
        let found = session::runtime()?.block_on(resolve_all(&context, &peer_name, &clouds, max))?;
        let mut block = Block::new();
        let infos: Vec<PEER_PNRP_ENDPOINT_INFO> = found.iter().map(|e| endpoint_info(&mut block, e)).collect();
        let n = infos.len() as ULONG;
        let array = block.array(infos);
        // SAFETY: per the contract.
        unsafe { put(ppEndpoints, alloc::hand_out(block, array)) }?;
        // SAFETY: per the contract.
        unsafe { put(pcEndpoints, n) }?;
        ok()
    })
}

/// Resolves in every cloud at once; `PEER_E_NOT_FOUND` when none has an endpoint, the first
/// cloud's error when every cloud failed.
async fn resolve_all(context: &Context, peer_name: &str, clouds: &[String], max: usize) -> CResult<Vec<EndpointInfo>> {
    let mut set = tokio::task::JoinSet::new();
    for cloud in clouds {
        let (context, peer_name, cloud) = (context.clone(), peer_name.to_owned(), cloud.clone());
        set.spawn(async move { context.pnrp_resolve(&peer_name, &cloud, max, PNRP_RESOLVE_TIMEOUT).await.or_hr() });
    }
    let (mut found, mut first_error) = (Vec::new(), None);
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(endpoints)) => found.extend(endpoints),
            Ok(Err(hr)) if hr != PEER_E_NOT_FOUND => {
                first_error.get_or_insert(hr);
            }
            Ok(Err(_)) => {}
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    found.sort();
    found.dedup();
    found.truncate(max);
    match (found.is_empty(), first_error) {
        (false, _) => Ok(found),
        (true, Some(hr)) if clouds.len() == 1 => Err(hr),
        (true, _) => Err(PEER_E_NOT_FOUND),
    }
}

fn endpoint_info(block: &mut Block, e: &EndpointInfo) -> PEER_PNRP_ENDPOINT_INFO {
    let addresses: Vec<*mut SOCKADDR> = e.addresses.iter().map(|a| c_sockaddr(block, a)).collect();
    PEER_PNRP_ENDPOINT_INFO {
        pwzPeerName: block.wide(&e.peer_name),
        cAddresses: addresses.len() as ULONG,
        ppAddresses: block.array(addresses),
        pwzComment: block.wide(&e.comment),
        payload: PEER_DATA { cbData: 0, pbData: std::ptr::null_mut() },
    }
}

/// An asynchronous resolution: what it found and not yet handed out, the descriptor it
/// signals once per endpoint and once at the end, and the task that resolves.
pub struct Resolution {
    found: Mutex<Found>,
    fd: RawFd,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Found {
    queue: VecDeque<EndpointInfo>,
    done: bool,
    /// Set by `PeerPnrpEndResolve` or the session's end: the descriptor may be closed now.
    ended: bool,
}

impl std::fmt::Debug for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolution").field("fd", &self.fd).finish_non_exhaustive()
    }
}

impl Resolution {
    fn lock(&self) -> std::sync::MutexGuard<'_, Found> {
        // Plain data, consistent after any panic.
        self.found.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // Signals are written under the lock and never once `ended` is set, so that after
    // `end` returns the caller may close the descriptor (or another may take its number).
    fn push(&self, info: EndpointInfo) {
        let mut found = self.lock();
        if !found.ended {
            found.queue.push_back(info);
            crate::events::signal(self.fd);
        }
    }

    fn finish(&self) {
        let mut found = self.lock();
        found.done = true;
        if !found.ended {
            crate::events::signal(self.fd);
        }
    }

    /// Stops the task; no signal is written after this returns.
    pub(crate) fn end(&self) {
        self.lock().ended = true;
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

/// Starts resolving a peer name (`PeerPnrpStartResolve`): in `pcwzCloudName` (NULL: every
/// link-local and site-local cloud), at most `cMaxEndpoints` (0: [`PNRP_MAX_ENDPOINTS`]),
/// for [`PNRP_RESOLVE_TIMEOUT`]. `hEvent` is a file descriptor open for writing (an eventfd
/// or a pipe), signalled with an 8-byte 1 for each endpoint found and once more at the end;
/// `PeerPnrpGetEndpoint` takes them out. The cloud is checked now (`PEER_E_NO_CLOUD`, ...).
///
/// # Safety
/// Strings NULL or NUL-terminated UTF-16; `phResolveHandle` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpStartResolve(
    pcwzPeerName: PCWSTR,
    pcwzCloudName: PCWSTR,
    cMaxEndpoints: ULONG,
    hEvent: HANDLE,
    phResolveHandle: *mut HRESOLUTION,
) -> HRESULT {
    call(|| {
        session::require()?;
        // SAFETY: per the contract.
        unsafe { clear_out(phResolveHandle) }?;
        // SAFETY: per the contract.
        let peer_name = unsafe { wide::required(pcwzPeerName, MAX_STRING_UNITS) }?;
        peergroup::validate_peer_name(&peer_name).or_hr()?;
        // SAFETY: per the contract.
        let cloud = unsafe { wide::optional_nonempty(pcwzCloudName, MAX_STRING_UNITS) }?;
        let fd = RawFd::try_from(hEvent as isize).map_err(|_| E_INVALIDARG)?;
        crate::events::check_descriptor(fd)?;
        let max = match cMaxEndpoints {
            0 => PNRP_MAX_ENDPOINTS,
            n => n.min(PNRP_MAX_ENDPOINTS),
        } as usize;
        let context = session::context()?;
        let rt = session::runtime()?;
        let clouds = match cloud {
            Some(c) => {
                // A cloud name that names no cloud here fails now, not as an empty result.
                rt.block_on(context.resolve_cloud(Some(&c))).or_hr()?;
                vec![c]
            }
            None => interface_clouds(&context)?,
        };
        let resolution = Arc::new(Resolution { found: Mutex::new(Found::default()), fd, task: Mutex::new(None) });
        let r = resolution.clone();
        let task = rt.spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            let shared = Arc::new(Mutex::new(Vec::<EndpointInfo>::new()));
            for cloud in clouds {
                let (context, peer_name, r, shared) = (context.clone(), peer_name.clone(), r.clone(), shared.clone());
                set.spawn(async move {
                    let mut each = |info: EndpointInfo| {
                        let mut given = shared.lock().unwrap_or_else(PoisonError::into_inner);
                        if given.len() < max && !given.contains(&info) {
                            given.push(info.clone());
                            r.push(info);
                        }
                    };
                    // A cloud that fails just finds nothing; the end is signalled either way.
                    let _ = context.pnrp_resolve_each(&peer_name, &cloud, max, PNRP_RESOLVE_TIMEOUT, &mut each).await;
                });
            }
            while set.join_next().await.is_some() {}
            r.finish();
        });
        *resolution.task.lock().unwrap_or_else(PoisonError::into_inner) = Some(task);
        let handle = session::insert(Object::Resolution(resolution))?;
        // SAFETY: checked non-NULL by clear_out.
        unsafe { put(phResolveHandle, handle) }?;
        ok()
    })
}

/// Takes the next endpoint of an asynchronous resolution (`PeerPnrpGetEndpoint`): `S_OK`
/// with one `PEER_PNRP_ENDPOINT_INFO` (one `PeerFreeData`); `PEER_E_NO_MORE` once every
/// endpoint was taken and the resolution ended (again on every later call);
/// `PEER_S_NO_EVENT_DATA` with NULL while the resolution runs and nothing waits.
///
/// # Safety
/// `ppEndpoint` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn PeerPnrpGetEndpoint(
    hResolveHandle: HRESOLUTION,
    ppEndpoint: *mut *mut PEER_PNRP_ENDPOINT_INFO,
) -> HRESULT {
    call(|| {
        // SAFETY: per the contract.
        unsafe { clear_out(ppEndpoint) }?;
        let resolution = session::resolution(hResolveHandle)?;
        let next = {
            let mut found = resolution.lock();
            match found.queue.pop_front() {
                Some(info) => info,
                None if found.done => return Err(PEER_E_NO_MORE),
                None => return Ok(PEER_S_NO_EVENT_DATA),
            }
        };
        let mut block = Block::new();
        let info = endpoint_info(&mut block, &next);
        let p = block.boxed(info);
        // SAFETY: per the contract.
        unsafe { put(ppEndpoint, alloc::hand_out(block, p)) }?;
        ok()
    })
}

/// Ends an asynchronous resolution (`PeerPnrpEndResolve`), running or not, and closes its
/// handle; endpoints not taken are dropped, and the descriptor is not signalled again.
#[unsafe(no_mangle)]
pub extern "C" fn PeerPnrpEndResolve(hResolveHandle: HRESOLUTION) -> HRESULT {
    call(|| {
        let Object::Resolution(resolution) = session::remove(hResolveHandle, |o| matches!(o, Object::Resolution(_)))?
        else {
            return Err(peergroup::hresult::E_HANDLE);
        };
        resolution.end();
        ok()
    })
}
