//! Going online (`PeerGroupConnect`): one network presence per (identity, group) on this host,
//! held by whichever process connected first, taken over by another process with the group
//! open when the holder closes its last handle or dies.
//!
//! The holder keeps the presence lock (`status.rs`) and runs a `peergroup-net` presence on this
//! process's network runtime. A supervisor thread publishes what the presence reports (status,
//! connections, failures) in the status blob, which every process reads and turns into events
//! (`fanout.rs`), and reads the connect intent ([`INTENT_BLOB`]: the addresses to keep links
//! to, whether to find members in the cloud) that any process may extend.
//!
//! A process that has the group open while another holds the presence keeps a standby thread
//! that tries the lock every [`STANDBY_POLL`]: the kernel releases a dead holder's lock at once,
//! so the standby takes the presence over within that time, with the intent the holder
//! followed.

use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use peergroup_identity::Identity;
use peergroup_net::{Presence as NetPresence, PresenceConfig, PresenceEvent};
use peergroup_pnrp::Cloud;
use peergroup_state::{Change, DirectRequest, GroupDb, MembershipStore};

use crate::context::Context;
use crate::direct::Directs;
use crate::error::{Error, Result};
use crate::fanout::Hub;
use crate::status::{
    self, Connection, Failure, GroupStatus, NetView, PEER_CONNECTION_NEIGHBOR, PRESENCE_LOCK, Presence, STATUS_BLOB,
};
use crate::wake::{Stopper, Wake};

/// The group database blob that holds the connect intent.
pub const INTENT_BLOB: &str = "network-intent";

/// How often a standby process tries the presence lock.
pub const STANDBY_POLL: Duration = Duration::from_millis(100);

/// How often the supervisor looks for a changed intent and for its stop flag.
const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// How long a member that connects through its cloud looks for other members before it reports
/// `PEER_GROUP_EVENT_CONNECTION_FAILED` (it keeps listening, and keeps looking).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a member connected through its cloud resolves the group's name again while it has
/// no neighbour.
const RESOLVE_EVERY: Duration = Duration::from_secs(5);

/// The most registrations taken from one resolution.
const MAX_RESOLVED: usize = 16;

/// How many neighbours a presence connected through its cloud looks for; below that it
/// resolves the group's name again every [`RESOLVE_EVERY`] and dials members it is not linked
/// to (which also heals a partition once the cloud shows both sides).
pub const TARGET_NEIGHBORS: usize = 4;

/// This process's network runtime: two worker threads, made on the first connect.
pub(crate) fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("peergroup-net")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Runtime(std::io::Error::other(format!("cannot start the network runtime: {e}"))))
}

/// What the presence of a group should do: the addresses to keep links to, and whether to
/// register in the group's cloud and find members there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Intent {
    pub(crate) addresses: Vec<SocketAddr>,
    pub(crate) discover: bool,
}

impl Intent {
    fn encode(&self) -> Vec<u8> {
        let mut text = String::new();
        for a in &self.addresses {
            text.push_str(&format!("address {a}\n"));
        }
        if self.discover {
            text.push_str("discover\n");
        }
        text.into_bytes()
    }

    fn decode(bytes: &[u8]) -> Self {
        let mut intent = Self::default();
        for line in String::from_utf8_lossy(bytes).lines() {
            match line.split_once(' ') {
                Some(("address", a)) => intent.addresses.extend(a.parse::<SocketAddr>().ok()),
                _ if line == "discover" => intent.discover = true,
                _ => {}
            }
        }
        intent
    }

    /// This intent with `more` added.
    fn merged(&self, more: &Intent) -> Self {
        let mut out = self.clone();
        for a in &more.addresses {
            if !out.addresses.contains(a) {
                out.addresses.push(*a);
            }
        }
        out.discover |= more.discover;
        out
    }

    fn read(db: &GroupDb) -> Result<Self> {
        Ok(db.get_blob(INTENT_BLOB)?.map(|b| Self::decode(&b)).unwrap_or_default())
    }
}

/// What a process needs to run the group's presence: set by the first handle of the group in
/// the process.
#[derive(Debug, Clone)]
pub(crate) struct OnlineParts {
    pub(crate) context: Context,
    pub(crate) group: peergroup_identity::PeerName,
    pub(crate) identity: Identity,
    pub(crate) memberships: MembershipStore,
    pub(crate) cloud: Cloud,
}

/// The presence this process runs for one group. Dropping it closes the presence (the lock,
/// held beside it in the hub, goes after it).
#[derive(Debug)]
pub(crate) struct Online {
    presence: Arc<NetPresence>,
    stop: Arc<AtomicBool>,
    /// The supervisor's inbox: requests of this process's handles go straight to it.
    reports: std::sync::mpsc::Sender<Report>,
    /// Wakes the supervisor's watch of the group folder so that it ends.
    wake_stopper: Option<Stopper>,
}

impl Online {
    /// Hands a request of this process's handles to the supervisor (the holder is this
    /// process: no need for the database's mailbox).
    pub(crate) fn submit(&self, request: DirectRequest) {
        // A supervisor that stopped has closed the presence: nothing to send with.
        let _ = self.reports.send(Report::Request(request));
    }
}

impl Drop for Online {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(stopper) = &self.wake_stopper {
            stopper.stop();
        }
        self.presence.close();
    }
}

/// What reaches the supervisor.
pub(crate) enum Report {
    /// Something happened on the presence.
    Event(PresenceEvent),
    /// Events were missed, or a direct connection opened or failed: read the connections
    /// again.
    Reread,
    /// Something was committed to the group database: read the feed.
    Poll,
    /// A request of this process's handles.
    Request(DirectRequest),
}

fn connection(n: peergroup_net::Neighbor) -> Connection {
    Connection { id: n.id, flags: PEER_CONNECTION_NEIGHBOR, peer: n.peer, addr: n.addr, outgoing: n.outgoing }
}

/// Goes online with `intent` for the group of `hub` (`PeerGroupConnect`): starts the presence
/// here when no process holds it, or hands the intent to the process that does.
pub(crate) fn connect(hub: &Arc<Hub>, db: &GroupDb, intent: &Intent) -> Result<()> {
    let mut online = hub.online();
    // Merge before anything reads it: the holder (this process or another) follows the blob.
    let merged = Intent::read(db)?.merged(intent);
    if online.is_some() {
        db.put_status_blob(INTENT_BLOB, &merged.encode())?;
        return Ok(());
    }
    let mut held = hub.presence();
    if held.is_none() {
        match Presence::take(&status::lock_path(db.path())) {
            Ok(lock) => *held = Some(lock),
            Err(Error::State(peergroup_state::StateError::Busy { .. })) => {
                // Another process holds the presence: it reads the intent (a status write
                // wakes it) and this one stands by to take over.
                drop(held);
                drop(online);
                db.put_status_blob(INTENT_BLOB, &merged.encode())?;
                start_standby(hub);
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    drop(held);
    // An intent left by a presence that ended on purpose is not this one's: start afresh.
    let intent = if held_was_live(db) { merged } else { intent.clone() };
    db.put_status_blob(INTENT_BLOB, &intent.encode())?;
    *online = Some(start(hub, db, &intent)?);
    Ok(())
}

/// Whether the status blob says a presence was online (its holder left without going offline:
/// the intent it followed is still wanted).
fn held_was_live(db: &GroupDb) -> bool {
    db.get_blob(STATUS_BLOB).ok().flatten().and_then(|b| GroupStatus::decode(&b)).is_some_and(|s| s.is_connected())
}

/// Starts the presence in this process, which holds the lock.
fn start(hub: &Arc<Hub>, db: &GroupDb, intent: &Intent) -> Result<Online> {
    let parts = hub.parts().ok_or_else(|| Error::Runtime(std::io::Error::other("the group has no open handle")))?;
    let rt = runtime()?;
    // Credentials published for this identity since it last read its membership are its
    // membership from this connect on.
    db.adopt_published_membership()?;
    let membership = parts.memberships.get(parts.identity.peer_name(), db.group_peer_name())?;
    let port = parts.context.net_port();
    let listen = SocketAddr::from((Ipv6Addr::UNSPECIFIED, port));
    let config = |listen| PresenceConfig {
        listen,
        identity: parts.identity.clone(),
        membership: membership.clone(),
        store: parts.memberships.clone(),
    };
    // A host that keeps a password group's stretch serves password joiners.
    let verifier = crate::password::verifier(&parts.memberships, parts.identity.peer_name(), db)?;
    let _entered = rt.enter();
    // Dual-stack where the host has IPv6; IPv4 alone where it has not.
    let presence = match NetPresence::start_with_password(config(listen), verifier.clone()) {
        Ok(p) => p,
        Err(peergroup_net::NetError::Bind { .. }) => {
            NetPresence::start_with_password(config(SocketAddr::from(([0, 0, 0, 0], port))), verifier)
                .map_err(Error::from)?
        }
        Err(e) => return Err(e.into()),
    };
    let presence = Arc::new(presence);
    let stop = Arc::new(AtomicBool::new(false));
    let local_port = presence.local_addr()?.port();
    let view = NetView {
        status: GroupStatus { listening: true, connections: 0, presence_pid: None },
        port: Some(local_port),
        ..NetView::default()
    };
    db.put_status_blob(STATUS_BLOB, &view.encode(std::process::id()))?;
    for addr in &intent.addresses {
        presence.dial(*addr);
    }
    let (report, reports) = std::sync::mpsc::channel();
    let groups = parts.memberships.groups(parts.identity.peer_name())?;
    let directs = Directs::new(groups.open(db.group_peer_name())?, parts.identity.peer_name().clone());
    let inbox_report = report.clone();
    directs
        .start_inbox(&presence, rt.handle(), Arc::clone(&stop), move || {
            let _ = inbox_report.send(Report::Reread);
        })
        .map_err(Error::Runtime)?;
    let wake_stopper = watch_folder(db.dir(), report.clone());
    let supervisor = Supervisor {
        report: report.clone(),
        presence: Arc::clone(&presence),
        directs,
        db: groups.open(db.group_peer_name())?,
        view,
        intent: intent.clone(),
        stop: Arc::clone(&stop),
        parts: parts.clone(),
        started: Instant::now(),
        discovery: None,
        creator: membership.is_owner_chain(),
    };
    supervisor.spawn(rt.handle(), reports)?;
    Ok(Online { presence, stop, reports: report, wake_stopper })
}

/// Wakes the supervisor whenever something is committed to the group database (a request of
/// another process among it), so that requests wait for no tick. `None` when the folder
/// cannot be watched: the supervisor's tick reads the feed anyway.
fn watch_folder(dir: &std::path::Path, report: std::sync::mpsc::Sender<Report>) -> Option<Stopper> {
    let (wake, stopper) = Wake::new(dir, std::ffi::OsStr::new(PRESENCE_LOCK)).ok()?;
    if !wake.is_notified() {
        return None;
    }
    std::thread::Builder::new()
        .name("peergroup-presence-wake".into())
        .spawn(move || {
            loop {
                let woken = wake.wait(Duration::from_secs(1));
                if woken.stop || (woken.changed && report.send(Report::Poll).is_err()) {
                    return;
                }
            }
        })
        .ok()?;
    Some(stopper)
}

/// Publishes what the presence reports and follows the intent.
struct Supervisor {
    /// Where the presence's events, discovery's failures and requests go.
    report: std::sync::mpsc::Sender<Report>,
    presence: Arc<NetPresence>,
    /// The direct connections and data of the presence.
    directs: Arc<Directs>,
    db: GroupDb,
    view: NetView,
    intent: Intent,
    stop: Arc<AtomicBool>,
    parts: OnlineParts,
    started: Instant,
    /// The registration in the cloud and the resolver task, once discovery started.
    discovery: Option<tokio::task::JoinHandle<()>>,
    creator: bool,
}

impl Supervisor {
    fn spawn(mut self, rt: &tokio::runtime::Handle, rx: std::sync::mpsc::Receiver<Report>) -> Result<()> {
        let tx = self.report.clone();
        let mut events = self.presence.subscribe();
        rt.spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => {
                        if tx.send(Report::Event(e)).is_err() {
                            return;
                        }
                    }
                    // Missed events: the supervisor reads the neighbours again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if tx.send(Report::Reread).is_err() {
                            return;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        let mut watcher = self.db.watch()?;
        let rt = rt.clone();
        std::thread::Builder::new()
            .name("peergroup-presence".into())
            .spawn(move || {
                if self.intent.discover {
                    self.discover(&rt);
                }
                while !self.stop.load(Ordering::Acquire) {
                    let mut dirty = false;
                    match rx.recv_timeout(SUPERVISOR_TICK) {
                        Ok(report) => {
                            dirty |= self.note(report, &rt);
                            while let Ok(report) = rx.try_recv() {
                                dirty |= self.note(report, &rt);
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    if let Ok(changes) = watcher.poll() {
                        if changes.iter().any(|c| matches!(c.change, Change::DirectRequested)) {
                            // Taken once: whatever fails to be read is lost with the request.
                            for request in self.db.take_direct_requests().unwrap_or_default() {
                                self.request(request, &rt);
                            }
                        }
                        if changes.iter().any(|c| matches!(c.change, Change::StatusChanged)) {
                            self.follow_intent(&rt);
                        }
                        if changes.iter().any(|c| self.is_own_entry(&c.change)) {
                            // New credentials for this identity arrived: its membership takes
                            // them now (the presence shows them from its next start). A
                            // failure is tried again on the next open or connect.
                            let _ = self.db.adopt_published_membership();
                        }
                    }
                    dirty |= self.check_lonely();
                    if dirty && !self.stop.load(Ordering::Acquire) {
                        // A failed write is published with the next change.
                        if self.db.put_status_blob(STATUS_BLOB, &self.view.encode(std::process::id())).is_ok() {
                            self.directs.published(&self.view.connections);
                        }
                    }
                }
                if let Some(task) = self.discovery.take() {
                    task.abort();
                }
            })
            .map(drop)
            .map_err(Error::Runtime)
    }

    /// Whether `change` is of this identity's own member entry.
    fn is_own_entry(&self, change: &Change) -> bool {
        matches!(change, Change::MemberChanged { peer_name } | Change::MemberJoined { peer_name }
            if peer_name == self.parts.identity.peer_name())
    }

    /// Takes in one report; whether the view changed.
    fn note(&mut self, report: Report, rt: &tokio::runtime::Handle) -> bool {
        match report {
            Report::Event(PresenceEvent::NeighborConnected(_) | PresenceEvent::NeighborDisconnected(_))
            | Report::Event(PresenceEvent::DirectConnected { .. })
            | Report::Reread => self.reread(),
            // The view drops it once the inbox stored its data (every process sees the data
            // before the close).
            Report::Event(PresenceEvent::DirectClosed { id, .. }) => self.directs.close(id) && self.reread(),
            Report::Event(PresenceEvent::ConnectionFailed { reason, .. }) => self.failed(false, reason),
            Report::Event(PresenceEvent::AuthenticationFailed { reason, .. }) => self.failed(true, reason),
            Report::Request(request) => {
                self.request(request, rt);
                false
            }
            Report::Event(_) | Report::Poll => false,
        }
    }

    /// Reads the connections again; true (the view changed).
    fn reread(&mut self) -> bool {
        let neighbors: Vec<Connection> = self.presence.neighbors().into_iter().map(connection).collect();
        self.view.status.connections = u32::try_from(neighbors.len()).unwrap_or(u32::MAX);
        self.view.connections = neighbors;
        self.view.connections.extend(self.directs.list(&self.presence));
        self.view.direct_failures = self.directs.failures();
        true
    }

    /// Carries out a request of a handle of this host.
    fn request(&self, request: DirectRequest, rt: &tokio::runtime::Handle) {
        let report = self.report.clone();
        self.directs.handle(request, &self.presence, rt, move || {
            let _ = report.send(Report::Reread);
        });
    }

    fn failed(&mut self, authentication: bool, reason: String) -> bool {
        self.view.failures += 1;
        self.view.last_failure = Some(Failure { authentication, reason });
        true
    }

    /// A member (not the creator) that found nobody within [`CONNECT_TIMEOUT`] is told once; it
    /// keeps listening.
    fn check_lonely(&mut self) -> bool {
        if self.creator || self.view.failures > 0 || !self.view.connections.is_empty() {
            return false;
        }
        let looks = self.intent.discover || !self.intent.addresses.is_empty();
        if self.started.elapsed() < CONNECT_TIMEOUT || !looks {
            return false;
        }
        self.failed(
            false,
            format!("no member connected within {} s (PEER_E_NO_MEMBERS_FOUND)", CONNECT_TIMEOUT.as_secs()),
        )
    }

    /// Reads the intent again: new addresses are dialled, discovery started if asked for.
    fn follow_intent(&mut self, rt: &tokio::runtime::Handle) {
        let Ok(intent) = Intent::read(&self.db) else { return };
        for addr in &intent.addresses {
            if !self.intent.addresses.contains(addr) {
                let _entered = rt.enter();
                self.presence.dial(*addr);
            }
        }
        let discover = intent.discover && !self.intent.discover;
        self.intent = self.intent.merged(&intent);
        if discover {
            self.discover(rt);
        }
    }

    /// Registers the group's name in its cloud with this presence's endpoints, and resolves it
    /// for other members until the presence has a neighbour, again every [`RESOLVE_EVERY`].
    fn discover(&mut self, rt: &tokio::runtime::Handle) {
        let context = self.parts.context.clone();
        let cloud = self.parts.cloud.name.to_string();
        let group = self.db.group_peer_name().to_string();
        let presence = Arc::clone(&self.presence);
        let stop = Arc::clone(&self.stop);
        let Ok(local) = self.presence.local_addr() else { return };
        // The group's name is proven by this member: its identity signs, its chain shows the
        // group admitted it.
        if let Ok(membership) = self.parts.memberships.get(self.parts.identity.peer_name(), &self.parts.group) {
            context.group_signers().allow(&self.parts.group, self.parts.identity.clone(), membership.chain.to_der());
        }
        let report = self.report.clone();
        self.discovery = Some(rt.spawn(async move {
            let failed = |reason: String| {
                let addr = local;
                let _ = report.send(Report::Event(PresenceEvent::ConnectionFailed { addr, reason }));
            };
            let endpoints = match context.advertised_endpoints(&cloud, local.port()).await {
                Ok(e) if !e.is_empty() => e,
                Ok(_) => {
                    failed(format!("this host has no address in {cloud} to register (PEER_E_UNABLE_TO_LISTEN)"));
                    Vec::new()
                }
                Err(e) => {
                    failed(format!("cannot list this host's addresses in {cloud}: {e}"));
                    Vec::new()
                }
            };
            // Registering may take a while (multicast DNS probes for its names first); the
            // other members' registrations are resolved meanwhile.
            let register = async {
                if endpoints.is_empty() {
                    return None;
                }
                match context.pnrp_register(&group, &cloud, endpoints.clone(), "").await {
                    Ok(r) => Some(r),
                    Err(e) => {
                        failed(format!("cannot register {group} in {cloud}: {e}"));
                        None
                    }
                }
            };
            let resolve = async {
                // Quick at first (the other members may be registering right now), then every
                // RESOLVE_EVERY.
                let mut pause = Duration::from_millis(250);
                while !stop.load(Ordering::Acquire) {
                    let wanted = TARGET_NEIGHBORS.saturating_sub(presence.neighbors().len());
                    if wanted > 0 {
                        let mut dialled = 0;
                        // One registration is one member: its endpoints are tried in turn, one
                        // link kept.
                        let mut found = |info: peergroup_pnrp::EndpointInfo| {
                            let theirs: Vec<SocketAddr> =
                                info.addresses.into_iter().filter(|a| !endpoints.contains(a) && *a != local).collect();
                            if dialled < wanted && presence.dial_any(&theirs) {
                                dialled += 1;
                            }
                        };
                        // Each endpoint is dialled as it is found; none is not an error here
                        // (the member that finds nobody is told after CONNECT_TIMEOUT).
                        let _ =
                            context.pnrp_resolve_each(&group, &cloud, MAX_RESOLVED, RESOLVE_EVERY, &mut found).await;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(RESOLVE_EVERY);
                }
            };
            // The registration lives as long as the resolution: until the presence stops.
            let (_registration, ()) = tokio::join!(register, resolve);
        }));
    }
}

/// Starts the standby of `hub`'s group in this process, unless it runs already or this process
/// holds the presence.
pub(crate) fn start_standby(hub: &Arc<Hub>) {
    let mut standby = hub.standby();
    if standby.as_ref().is_some_and(|s| !s.load(Ordering::Acquire)) {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    *standby = Some(Arc::clone(&stop));
    drop(standby);
    let weak = Arc::downgrade(hub);
    let lock = status::lock_path(hub.path());
    let spawned = std::thread::Builder::new().name("peergroup-standby".into()).spawn(move || {
        stand_by(&weak, &lock, &stop);
        stop.store(true, Ordering::Release);
    });
    if spawned.is_err()
        && let Some(stop) = hub.standby().take()
    {
        stop.store(true, Ordering::Release);
    }
}

/// Tries the lock until it is free, then takes over if the presence was live.
fn stand_by(hub: &Weak<Hub>, lock: &std::path::Path, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(STANDBY_POLL);
        let Some(hub) = hub.upgrade() else { return };
        if hub.online().is_some() {
            return;
        }
        let Ok(taken) = Presence::try_take(lock) else { continue };
        let Some(taken) = taken else { continue };
        let Some(parts) = hub.parts() else { return };
        let Ok(db) = parts.memberships.groups(parts.identity.peer_name()).and_then(|g| g.open(&parts.group)) else {
            return;
        };
        if !held_was_live(&db) {
            // The holder went offline on purpose: nothing to take over.
            return;
        }
        let mut intent = Intent::read(&db).unwrap_or_default();
        // The members the old holder was linked to are dialled too (one UDP port per presence:
        // the address a link came from is where that member listens), so that members who
        // dialled the old holder's port find the group again.
        let before = db.get_blob(STATUS_BLOB).ok().flatten().and_then(|b| NetView::decode(&b)).unwrap_or_default();
        let mut inherited = Intent::default();
        inherited.addresses.extend(before.connections.iter().map(|c| c.addr));
        intent = intent.merged(&inherited);
        let mut online = hub.online();
        *hub.presence() = Some(taken);
        match start(&hub, &db, &intent) {
            Ok(started) => *online = Some(started),
            Err(_) => {
                // Could not listen here: let another process try.
                *hub.presence() = None;
            }
        }
        return;
    }
}

/// [`start_standby`] unless this process holds the presence (the feed reader calls it when the
/// group goes online).
pub(crate) fn stand_by_unless_holder(hub: &Arc<Hub>) {
    if hub.online().is_none() && hub.presence().is_none() {
        start_standby(hub);
    }
}
