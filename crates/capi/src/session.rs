//! The process-wide session (`PeerGroupStartup` .. `PeerGroupShutdown`) and the handle
//! registry: `HGROUP`, `HPEERENUM` and `HPEEREVENT` values are keys of a map, never pointers,
//! so a closed, foreign or made-up handle is found missing (`E_HANDLE`) instead of being
//! dereferenced.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use peergroup::hresult::{E_HANDLE, PEER_E_NOT_INITIALIZED};
use peergroup::{CloudMedia, Context, Group, Registration as PnrpRegistration};

use crate::enumeration::Enumeration;
use crate::events::Registration;
use crate::guard::{CResult, OrHresult};

/// What a handle stands for.
pub(crate) enum Object {
    Group(Arc<Group>),
    Enum(Arc<Mutex<Enumeration>>),
    Event(Arc<Registration>),
    /// An `HREGISTRATION`: one peer name published in one or more clouds.
    Pnrp(Arc<Mutex<Vec<PnrpRegistration<CloudMedia>>>>),
    /// An `HRESOLUTION`: an asynchronous resolution (`PeerPnrpStartResolve`).
    Resolution(Arc<crate::api::pnrp::Resolution>),
}

impl Object {
    fn tag(&self) -> u64 {
        match self {
            Object::Group(_) => 1,
            Object::Enum(_) => 2,
            Object::Event(_) => 3,
            Object::Pnrp(_) => 4,
            Object::Resolution(_) => 5,
        }
    }
}

struct Session {
    context: Context,
    starts: u32,
    handles: HashMap<u64, Object>,
}

static SESSION: Mutex<Option<Session>> = Mutex::new(None);
/// Handle numbers are never reused, so a stale handle cannot name a newer object.
static NEXT: AtomicU64 = AtomicU64::new(1);

fn session() -> MutexGuard<'static, Option<Session>> {
    SESSION.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts (or, when started, counts another start of) the session, reading the keystore root
/// from the environment on the first start.
pub(crate) fn start() -> CResult<()> {
    let mut guard = session();
    if let Some(s) = guard.as_mut() {
        s.starts += 1;
        return Ok(());
    }
    let context = Context::open_default().or_hr()?;
    *guard = Some(Session { context, starts: 1, handles: HashMap::new() });
    Ok(())
}

/// Ends one start; the last closes every handle still open.
pub(crate) fn stop() -> CResult<()> {
    let orphans = {
        let mut guard = session();
        let s = guard.as_mut().ok_or(PEER_E_NOT_INITIALIZED)?;
        s.starts -= 1;
        if s.starts > 0 {
            return Ok(());
        }
        guard.take().map(|s| s.handles)
    };
    // Groups close and registrations end outside the lock; a registration another thread
    // still holds ends now too, so no descriptor is written to after the last shutdown.
    for object in orphans.iter().flat_map(|handles| handles.values()) {
        match object {
            Object::Event(registration) => registration.end(),
            // Peer names still registered are withdrawn, as PeerPnrpUnregister would.
            Object::Pnrp(registrations) => {
                let taken = std::mem::take(&mut *registrations.lock().unwrap_or_else(PoisonError::into_inner));
                if let Ok(rt) = runtime() {
                    rt.block_on(async {
                        for r in taken {
                            let _ = r.unregister().await;
                        }
                    });
                }
            }
            Object::Resolution(resolution) => resolution.end(),
            _ => {}
        }
    }
    drop(orphans);
    Ok(())
}

/// The runtime that keeps peer-name registrations refreshed and runs resolutions: one per
/// process, two worker threads, started by the first function that needs it.
pub(crate) fn runtime() -> CResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pg-capi-pnrp")
        .enable_all()
        .build()
        .map_err(|_| peergroup::hresult::E_OUTOFMEMORY)?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// The registrations of an `HREGISTRATION`.
pub(crate) fn pnrp(handle: *mut c_void) -> CResult<Arc<Mutex<Vec<PnrpRegistration<CloudMedia>>>>> {
    lookup(handle, |o| match o {
        Object::Pnrp(r) => Some(r.clone()),
        _ => None,
    })
}

/// The resolution of an `HRESOLUTION`.
pub(crate) fn resolution(handle: *mut c_void) -> CResult<Arc<crate::api::pnrp::Resolution>> {
    lookup(handle, |o| match o {
        Object::Resolution(r) => Some(r.clone()),
        _ => None,
    })
}

/// `PEER_E_NOT_INITIALIZED` unless the session runs: the first check of every function.
pub(crate) fn require() -> CResult<()> {
    session().as_ref().map(|_| ()).ok_or(PEER_E_NOT_INITIALIZED)
}

/// The context of the running session.
pub(crate) fn context() -> CResult<Context> {
    session().as_ref().map(|s| s.context.clone()).ok_or(PEER_E_NOT_INITIALIZED)
}

/// Registers an object and returns its handle.
pub(crate) fn insert(object: Object) -> CResult<*mut c_void> {
    let mut guard = session();
    let s = guard.as_mut().ok_or(PEER_E_NOT_INITIALIZED)?;
    let value = (NEXT.fetch_add(1, Ordering::Relaxed) << 4) | object.tag();
    s.handles.insert(value, object);
    Ok(value as usize as *mut c_void)
}

fn lookup<T>(handle: *mut c_void, pick: impl FnOnce(&Object) -> Option<T>) -> CResult<T> {
    let guard = session();
    let s = guard.as_ref().ok_or(PEER_E_NOT_INITIALIZED)?;
    s.handles.get(&(handle as usize as u64)).and_then(pick).ok_or(E_HANDLE)
}

/// The group of an `HGROUP`.
pub(crate) fn group(handle: *mut c_void) -> CResult<Arc<Group>> {
    lookup(handle, |o| match o {
        Object::Group(g) => Some(g.clone()),
        _ => None,
    })
}

/// The enumeration of an `HPEERENUM`.
pub(crate) fn enumeration(handle: *mut c_void) -> CResult<Arc<Mutex<Enumeration>>> {
    lookup(handle, |o| match o {
        Object::Enum(e) => Some(e.clone()),
        _ => None,
    })
}

/// The registration of an `HPEEREVENT`.
pub(crate) fn registration(handle: *mut c_void) -> CResult<Arc<Registration>> {
    lookup(handle, |o| match o {
        Object::Event(r) => Some(r.clone()),
        _ => None,
    })
}

/// Removes a handle for which `is_kind` holds; `E_HANDLE` when there is no such handle.
pub(crate) fn remove(handle: *mut c_void, is_kind: impl FnOnce(&Object) -> bool) -> CResult<Object> {
    let mut guard = session();
    let s = guard.as_mut().ok_or(PEER_E_NOT_INITIALIZED)?;
    let key = handle as usize as u64;
    match s.handles.get(&key) {
        Some(o) if is_kind(o) => s.handles.remove(&key).ok_or(E_HANDLE),
        _ => Err(E_HANDLE),
    }
}
