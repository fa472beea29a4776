//! The network presence of one identity in one group on a host: one QUIC endpoint that listens
//! for the group's members and links to the ones it is told of, a sync on every new link, and
//! the flood (`flooding.rs`) of every change made on this host (in any process: the presence
//! follows the database's change feed, so the records of every application with the group
//! open reach the network through the store). What a sync brought is reconciled on the other
//! links too (a healed partition's difference reaches the members behind them), and a link
//! whose dialler saw the database change since its last sync reconciles again every
//! [`ANTI_ENTROPY`], which repairs whatever the flood missed.
//!
//! Links to addresses the presence was given are kept: a link that drops is dialled again,
//! with a backoff from 250 ms doubling to 30 s. A peer that fails the membership check or
//! breaks the protocol is closed and penalised: its address is refused for
//! [`PENALTY`], and nothing it sent was stored unless it passed the trust path.
//!
//! One link per member: two members that dial each other at once, or a member reached at
//! several addresses, end up with one link. Of two links dialled in opposite directions, the
//! one dialled by the member with the smaller peer name stays (both sides reach the same
//! verdict alone); of two dialled by this side, the older. A kept address whose member is
//! linked through another address waits, without dialling, until that link drops.
//!
//! The facade elects which process holds the presence (a lock) and publishes what this reports
//! (status, neighbours) to every process; this module knows nothing of processes.

#[path = "direct.rs"]
mod direct;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use peergroup_identity::{Identity, PeerName};
use peergroup_security::Membership;
use peergroup_state::{Change, MembershipStore, Origin, SyncKind};
use tokio::sync::{Notify, broadcast};

use crate::error::{NetError, Result};
use crate::flooding::{FLOOD_ORIGIN, FLOOD_STREAM, FloodHandle, Input, LINK_QUEUE, MAX_FLOOD_MESSAGE};
use crate::link::{Link, MemberEndpoint};
use crate::replicate::{
    FrameEnd, IncomingStream, Role, SYNC_STREAM, StoreReplica, accept_stream, read_frame, sync_on, sync_over,
};

pub use direct::{
    ConnectionKind, DATA_QUEUE, DIRECT_STREAM, DirectConnection, IncomingData, MAX_DATA_LEN, MAX_DIRECT,
    MAX_DIRECT_PER_LINK,
};

/// How often a link reconciles again while the database changed since its last sync.
pub const ANTI_ENTROPY: Duration = Duration::from_secs(10);

/// How long a misbehaving peer's address is refused.
pub const PENALTY: Duration = Duration::from_secs(60);

/// The first wait before dialling a lost neighbour again; it doubles up to [`MAX_REDIAL`].
const FIRST_REDIAL: Duration = Duration::from_millis(250);
/// The longest wait between two dials of one address.
pub const MAX_REDIAL: Duration = Duration::from_secs(30);
/// A link that lived this long resets the backoff of its address.
const STABLE: Duration = Duration::from_secs(10);
/// How often the change-feed follower looks at its stop flag.
const FEED_TICK: Duration = Duration::from_millis(250);
/// Events kept for a slow subscriber before it misses some ([`PresenceEvent`]s are hints: the
/// state is always readable from [`Presence::neighbors`]).
const EVENT_BUFFER: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent, even when it panics.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a presence needs: where to listen, who it is, and the store of its group database.
#[derive(Debug, Clone)]
pub struct PresenceConfig {
    /// The UDP address to listen on (port 0: a free one).
    pub listen: SocketAddr,
    /// The identity.
    pub identity: Identity,
    /// Its membership of the group.
    pub membership: Membership,
    /// The membership store that holds the group database.
    pub store: MembershipStore,
}

/// A neighbour: a member at the other end of a live link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    /// The link's id in this presence (unique for its life).
    pub id: u64,
    /// The member.
    pub peer: PeerName,
    /// Its address.
    pub addr: SocketAddr,
    /// Whether this side opened the link.
    pub outgoing: bool,
}

/// What happened on the presence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceEvent {
    /// A link to a member came up.
    NeighborConnected(Neighbor),
    /// A link went down.
    NeighborDisconnected(Neighbor),
    /// No link came up with `addr`: it did not answer, or the link broke the protocol.
    ConnectionFailed {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A link was refused by a membership check, on either side.
    AuthenticationFailed {
        /// The other side's address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// A sync with `peer` finished; `stored` items arrived.
    Synchronized {
        /// The member.
        peer: PeerName,
        /// Items stored.
        stored: u64,
    },
    /// The group became ready for this member: its first sync completed.
    Ready,
    /// A direct connection with `peer` opened: the other member opened it, or it accepted the
    /// one this side opened ([`Presence::open_direct`]).
    DirectConnected {
        /// The connection's id in this presence.
        id: u64,
        /// The member at the other end.
        peer: PeerName,
    },
    /// A direct connection closed: by either side, or with its link.
    DirectClosed {
        /// The connection's id in this presence.
        id: u64,
        /// The member at the other end.
        peer: PeerName,
    },
}

/// A running presence. Dropping it closes it.
#[derive(Debug)]
pub struct Presence {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    endpoint: MemberEndpoint,
    me: PeerName,
    group: PeerName,
    store: MembershipStore,
    links: Mutex<HashMap<u64, LinkState>>,
    /// Signalled whenever a link drops, for the dialled addresses that wait for one.
    link_dropped: Notify,
    dialled: Mutex<HashSet<SocketAddr>>,
    next_id: AtomicU64,
    events: broadcast::Sender<PresenceEvent>,
    penalties: Mutex<HashMap<SocketAddr, Instant>>,
    synchronized: AtomicBool,
    closed: AtomicBool,
    stop: Notify,
    flood: FloodHandle,
    /// Counts the changes of the database (of any origin), for the anti-entropy syncs.
    generation: AtomicU64,
    /// Direct connections, neighbour channels and the incoming data queue.
    direct: direct::Directs,
}

#[derive(Debug)]
struct LinkState {
    neighbor: Neighbor,
    link: Link,
    changed: Arc<Notify>,
}

impl Presence {
    /// Binds the endpoint and starts listening, following the group database. Runs in a Tokio
    /// runtime with the time and I/O drivers.
    pub fn start(config: PresenceConfig) -> Result<Self> {
        Self::start_with_password(config, None)
    }

    /// [`Self::start`], serving password joiners with `password` (an administrator's host of
    /// a password group: the password's stretch and role; `docs/security.md`).
    pub fn start_with_password(
        config: PresenceConfig,
        password: Option<crate::password::PasswordVerifier>,
    ) -> Result<Self> {
        let PresenceConfig { listen, identity, membership, store } = config;
        let group = membership.group().clone();
        let synchronized = membership.synchronized;
        let endpoint = MemberEndpoint::bind_with_password(listen, &identity, membership, password)?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let open = |store: &MembershipStore| store.groups(identity.peer_name()).and_then(|g| g.open(&group));
        let (checker, writer) = (open(&store).map_err(store_error)?, open(&store).map_err(store_error)?);
        let mut failed_start = None;
        let shared = Arc::new_cyclic(|weak: &std::sync::Weak<Shared>| {
            let weak = weak.clone();
            let misbehaved: crate::flooding::OnMisbehaved = Arc::new(move |id, reason| {
                if let Some(shared) = weak.upgrade() {
                    shared.misbehaved(id, reason);
                }
            });
            let flood = FloodHandle::start(checker, writer, misbehaved).unwrap_or_else(|e| {
                failed_start = Some(e);
                FloodHandle::stopped()
            });
            Shared {
                endpoint,
                me: identity.peer_name().clone(),
                group: group.clone(),
                store: store.clone(),
                links: Mutex::new(HashMap::new()),
                link_dropped: Notify::new(),
                dialled: Mutex::new(HashSet::new()),
                next_id: AtomicU64::new(1),
                events,
                penalties: Mutex::new(HashMap::new()),
                synchronized: AtomicBool::new(synchronized),
                closed: AtomicBool::new(false),
                stop: Notify::new(),
                flood,
                generation: AtomicU64::new(0),
                direct: direct::Directs::new(),
            }
        });
        if let Some(e) = failed_start {
            return Err(e);
        }
        let watcher = shared.open_db()?.watch().map_err(store_error)?;
        tokio::spawn(accept_loop(Arc::clone(&shared)));
        follow_feed(Arc::clone(&shared), watcher)?;
        Ok(Self { shared })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.shared.endpoint.local_addr()
    }

    /// What happens from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<PresenceEvent> {
        self.shared.events.subscribe()
    }

    /// Keeps a link to the member at `addr`: dials it now and again whenever the link drops.
    /// An address already kept is left as it is; whether it was new.
    pub fn dial(&self, addr: SocketAddr) -> bool {
        self.dial_any(&[addr])
    }

    /// Keeps a link to the member reachable at any of `addrs` (one registration's endpoints):
    /// tries them in order and keeps the first that links. Whether they were new: addresses
    /// of which one is kept already are left as they are.
    pub fn dial_any(&self, addrs: &[SocketAddr]) -> bool {
        let addrs: Vec<SocketAddr> = {
            let mut dialled = lock(&self.shared.dialled);
            if addrs.is_empty() || addrs.iter().any(|a| dialled.contains(a)) {
                return false;
            }
            addrs.iter().filter(|a| dialled.insert(**a)).copied().collect()
        };
        tokio::spawn(keep_dialled(Arc::clone(&self.shared), addrs));
        true
    }

    /// The live links.
    pub fn neighbors(&self) -> Vec<Neighbor> {
        let mut all: Vec<_> = lock(&self.shared.links).values().map(|l| l.neighbor.clone()).collect();
        all.sort_by_key(|n| n.id);
        all
    }

    /// The live link of neighbour `id`, for the protocols that run beside the sync.
    pub fn link(&self, id: u64) -> Option<Link> {
        lock(&self.shared.links).get(&id).map(|l| l.link.clone())
    }

    /// The flood's counters so far (pushes received, duplicates, ...).
    pub fn flood_stats(&self) -> peergroup_sync::flood::Stats {
        self.shared.flood.stats()
    }

    /// Whether the group is synchronised for this member.
    pub fn is_synchronized(&self) -> bool {
        self.shared.synchronized.load(Ordering::Acquire)
    }

    /// Opens a direct connection to `peer` over the link to it (one QUIC stream,
    /// `docs/connect.md`, "Direct connections and data"); returns its id once the member
    /// accepted it, when both sides also report [`PresenceEvent::DirectConnected`].
    ///
    /// Fails with [`NetError::ConnectSelf`] for this member itself, [`NetError::NotLinked`]
    /// when no link to it is up, [`NetError::TooManyDirect`] beyond [`MAX_DIRECT_PER_LINK`] or
    /// [`MAX_DIRECT`], [`NetError::Refused`] when the member is at its own bounds, and
    /// [`NetError::Lost`] or [`NetError::Protocol`] when the link fails meanwhile.
    pub async fn open_direct(&self, peer: &PeerName) -> Result<u64> {
        direct::open(&self.shared, peer).await
    }

    /// Closes direct connection `id`: its stream is finished, the other side closes its end,
    /// and both report [`PresenceEvent::DirectClosed`]. Returns at once, even while a send waits
    /// on a slow reader: the frames already being sent go out before the end. Data the other
    /// member sends after is not delivered. [`NetError::ConnectionNotFound`] when no direct
    /// connection has this id.
    pub async fn close_direct(&self, id: u64) -> Result<()> {
        direct::close(&self.shared, id).await
    }

    /// Sends `bytes` of type `data_type` on connection `id`: a direct connection, or a
    /// neighbour's link (its [`Neighbor::id`]). Returns once QUIC took it (not once delivered);
    /// frames arrive in the order sent on each connection. Waits while the other side's reader
    /// is slow (flow control). [`NetError::DataTooLarge`] beyond [`MAX_DATA_LEN`] (nothing is
    /// sent), [`NetError::ConnectionNotFound`] for an unknown id, [`NetError::Lost`] when the
    /// connection went.
    pub async fn send_data(&self, id: u64, data_type: uuid::Uuid, bytes: &[u8]) -> Result<()> {
        direct::send(&self.shared, id, data_type, bytes).await
    }

    /// The receiver of the data other members send on direct and neighbour connections, in
    /// order per connection; `None` after the first call (one reader takes it). It holds
    /// [`DATA_QUEUE`] frames: while it is full, the senders wait. Dropping it ends the
    /// connections' readers.
    pub fn incoming_data(&self) -> Option<tokio::sync::mpsc::Receiver<IncomingData>> {
        self.shared.direct.take_receiver()
    }

    /// The open direct connections, by id.
    pub fn direct_connections(&self) -> Vec<DirectConnection> {
        self.shared.direct.list()
    }

    /// Closes every link and stops listening.
    pub fn close(&self) {
        self.shared.close();
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        self.shared.close();
    }
}

fn store_error(e: impl std::fmt::Display) -> NetError {
    NetError::Store { reason: e.to_string() }
}

impl Shared {
    fn close(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            self.endpoint.close();
            self.stop.notify_waiters();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn open_db(&self) -> Result<peergroup_state::GroupDb> {
        self.store.groups(&self.me).and_then(|g| g.open(&self.group)).map_err(store_error)
    }

    fn emit(&self, event: PresenceEvent) {
        // No subscriber is not an error: the state stays readable.
        let _ = self.events.send(event);
    }

    fn penalise(&self, addr: SocketAddr) {
        lock(&self.penalties).insert(addr, Instant::now() + PENALTY);
    }

    /// Link `id` broke the protocol beside the sync (its flood stream): it is closed and its
    /// peer penalised.
    fn misbehaved(&self, id: u64, reason: String) {
        let Some(link) = lock(&self.links).get(&id).map(|l| l.link.clone()) else { return };
        let addr = link.remote_address();
        self.failed(addr, &NetError::Protocol { addr, reason });
        link.close();
    }

    fn is_penalised(&self, addr: SocketAddr) -> bool {
        let mut penalties = lock(&self.penalties);
        let now = Instant::now();
        penalties.retain(|_, until| *until > now);
        penalties.contains_key(&addr)
    }

    /// Tells the sync loop of every link but those to `except` that the store changed.
    fn changed(&self, except: Option<&str>) {
        for state in lock(&self.links).values() {
            if except.is_none_or(|peer| state.neighbor.peer.to_string() != peer) {
                state.changed.notify_one();
            }
        }
    }

    /// Returns once no link to `member` is left, or the presence closed.
    async fn while_linked(&self, member: &PeerName) {
        loop {
            let dropped = self.link_dropped.notified();
            tokio::pin!(dropped);
            // Registered before the check, so a drop between the two is not missed.
            dropped.as_mut().enable();
            if self.is_closed() || !lock(&self.links).values().any(|l| &l.neighbor.peer == member) {
                return;
            }
            tokio::select! {
                () = dropped => {}
                () = self.stop.notified() => return,
            }
        }
    }

    /// Reports a failed link attempt or a broken link, penalising a peer that misbehaved.
    fn failed(&self, addr: SocketAddr, error: &NetError) {
        match error {
            NetError::NotMember { .. } => {
                self.penalise(addr);
                self.emit(PresenceEvent::AuthenticationFailed { addr, reason: error.to_string() });
            }
            // A wrong password is counted per address by the endpoint, which refuses the
            // address as a non-member (penalised above) once it has failed too often.
            NetError::Refused { .. } | NetError::PasswordRejected { .. } => {
                self.emit(PresenceEvent::AuthenticationFailed { addr, reason: error.to_string() })
            }
            NetError::Protocol { .. } => {
                self.penalise(addr);
                self.emit(PresenceEvent::ConnectionFailed { addr, reason: error.to_string() });
            }
            // The other side closed a link still in its handshake: it answered, so this is no
            // failure to connect. Most often it settled two links between the same members
            // and kept the other one; a member that went away fails the next dial instead.
            NetError::Lost { .. } => {}
            _ => self.emit(PresenceEvent::ConnectionFailed { addr, reason: error.to_string() }),
        }
    }
}

/// Accepts links while the presence lives, each handshake on a task of its own.
async fn accept_loop(shared: Arc<Shared>) {
    while let Some(accepting) = shared.endpoint.incoming().await {
        let addr = accepting.remote_address();
        if shared.is_penalised(addr) {
            accepting.refuse();
            continue;
        }
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            match accepting.complete().await {
                Ok(link) => run_link(shared, link, false).await,
                Err(e) => shared.failed(addr, &e),
            }
        });
    }
}

/// Keeps a link to the member at one of `addrs` while the presence lives.
async fn keep_dialled(shared: Arc<Shared>, addrs: Vec<SocketAddr>) {
    let mut wait = FIRST_REDIAL;
    // The member these addresses reached last: while it is linked through another address
    // (or from its side: after a takeover it dials from a new endpoint), they are not dialled.
    let mut member: Option<PeerName> = None;
    while !shared.is_closed() {
        if member.is_none() {
            // A member linked already from one of these addresses (it dialled first, or both
            // found each other at once): dialling it too would only have the two links
            // settle on one, dropping what the other carried (direct connections).
            member = lock(&shared.links)
                .values()
                .find(|l| addrs.contains(&l.neighbor.addr))
                .map(|l| l.neighbor.peer.clone());
        }
        if let Some(member) = &member {
            shared.while_linked(member).await;
        }
        let started = Instant::now();
        for &addr in &addrs {
            match shared.endpoint.connect(addr).await {
                Ok(link) if link.peer().identity == shared.me => {
                    // Our own address (a resolution finds our own registration too): never again.
                    link.close();
                    return;
                }
                Ok(link) => {
                    member = Some(link.peer().identity.clone());
                    run_link(Arc::clone(&shared), link, true).await;
                    break;
                }
                Err(e) => shared.failed(addr, &e),
            }
        }
        if started.elapsed() >= STABLE {
            wait = FIRST_REDIAL;
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.stop.notified() => return,
        }
        wait = (wait * 2).min(MAX_REDIAL);
    }
}

/// What becomes of a new link to a member already linked.
#[derive(Debug, PartialEq, Eq)]
enum Admission {
    /// The first link to the member, or a second one that the dialler will settle.
    Keep,
    /// The new link stays; the old one (this id) closes.
    Replace(u64),
    /// The new link closes.
    Refuse,
}

/// The link already kept to a member: its id, whether this side dialled it, and the port of
/// the member's endpoint it reaches.
type Kept = (u64, bool, u16);

/// The verdict on a new link to `peer` (`outgoing`: dialled by this side) whose other end is
/// the member's endpoint at `port`, given the link to it already kept, when there is one.
fn admit(me: &PeerName, peer: &PeerName, outgoing: bool, port: u16, existing: Option<Kept>) -> Admission {
    match existing {
        None => Admission::Keep,
        // Another endpoint of the member (each presence has one UDP port): its presence was
        // started again or taken over by another process, and the old link is dead even if its
        // idle timeout has not said so yet.
        Some((id, _, old_port)) if old_port != port => Admission::Replace(id),
        // Opposite directions: the smaller peer name's dial stays, the same verdict on both sides.
        Some((id, existing_outgoing, _)) if existing_outgoing != outgoing => {
            let mine_stays = me.to_string() < peer.to_string();
            if outgoing == mine_stays { Admission::Replace(id) } else { Admission::Refuse }
        }
        // Two dials of this side: the older stays.
        Some(_) if outgoing => Admission::Refuse,
        // Two dials of the other side: it closes the newer one itself.
        Some(_) => Admission::Keep,
    }
}

/// Serves one link until it closes: the sync that the dialler starts, a sync from this side
/// whenever the store changed, and the syncs the other side starts.
async fn run_link(shared: Arc<Shared>, link: Link, outgoing: bool) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let neighbor = Neighbor { id, peer: link.peer().identity.clone(), addr: link.remote_address(), outgoing };
    let changed = Arc::new(Notify::new());
    if outgoing {
        // The dialler starts the first sync.
        changed.notify_one();
    }
    let replaced = {
        let mut links = lock(&shared.links);
        let existing = links
            .values()
            .find(|l| l.neighbor.peer == neighbor.peer)
            .map(|l| (l.neighbor.id, l.neighbor.outgoing, l.neighbor.addr.port()));
        let replaced = match admit(&shared.me, &neighbor.peer, outgoing, neighbor.addr.port(), existing) {
            Admission::Refuse => {
                drop(links);
                link.close_settled();
                return;
            }
            Admission::Replace(old) => links.get(&old).map(|l| l.link.clone()),
            Admission::Keep => None,
        };
        links.insert(id, LinkState { neighbor: neighbor.clone(), link: link.clone(), changed: Arc::clone(&changed) });
        replaced
    };
    if let Some(old) = replaced {
        old.close_settled();
    }
    if shared.is_closed() {
        link.close();
    }
    shared.emit(PresenceEvent::NeighborConnected(neighbor.clone()));
    let (to_flood, flood_out) = tokio::sync::mpsc::channel(LINK_QUEUE);
    tokio::spawn(write_flood(link.clone(), flood_out));
    shared.flood.give(Input::LinkUp(id, to_flood)).await;

    let initiate = {
        let (shared, link) = (Arc::clone(&shared), link.clone());
        async move {
            let mut synced_at = None;
            loop {
                if outgoing {
                    // The dialler reconciles again now and then while the database changes.
                    tokio::select! {
                        () = changed.notified() => {}
                        () = tokio::time::sleep(ANTI_ENTROPY) => {
                            if synced_at == Some(shared.generation.load(Ordering::Acquire)) {
                                continue;
                            }
                        }
                    }
                } else {
                    changed.notified().await;
                }
                synced_at = Some(shared.generation.load(Ordering::Acquire));
                let replica = replica_for(&shared, &link).await?;
                let (summary, _) = sync_over(&link, Role::Initiator, replica).await?;
                synced(&shared, &link, summary.stored);
            }
        }
    };
    let respond = {
        let (shared, link) = (Arc::clone(&shared), link.clone());
        async move {
            loop {
                let stream = accept_stream(&link).await?;
                if stream.tag == *FLOOD_STREAM {
                    tokio::spawn(read_flood(Arc::clone(&shared), link.clone(), id, stream));
                    continue;
                }
                if stream.tag == *DIRECT_STREAM {
                    tokio::spawn(direct::accept(Arc::clone(&shared), link.clone(), id, stream));
                    continue;
                }
                respond(&shared, &link, stream).await?;
            }
        }
    };
    let outcome: Result<()> = tokio::select! {
        r = initiate => r,
        r = respond => r,
        _ = link.connection().closed() => Ok(()),
    };
    if let Err(e) = outcome {
        if link.connection().close_reason().is_none() {
            // This side broke off: a peer that broke the protocol is penalised.
            shared.failed(neighbor.addr, &e);
        }
        link.close();
    }
    lock(&shared.links).remove(&id);
    direct::link_down(&shared, id);
    shared.flood.give(Input::LinkDown(id)).await;
    shared.link_dropped.notify_waiters();
    shared.emit(PresenceEvent::NeighborDisconnected(neighbor));
}

/// Carries this side's flood messages to the member of `link`, on a stream of their own.
async fn write_flood(link: Link, mut messages: tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let Ok((mut send, _recv)) = link.connection().open_bi().await else { return };
    if send.write_all(FLOOD_STREAM).await.is_err() {
        return;
    }
    while let Some(message) = messages.recv().await {
        let Ok(len) = u32::try_from(message.len()) else { continue };
        if send.write_all(&len.to_be_bytes()).await.is_err() || send.write_all(&message).await.is_err() {
            return;
        }
    }
    let _ = send.finish();
}

/// Reads the flood messages the member of link `id` sends, for the flood; a malformed or
/// oversized one ends the link and penalises its peer.
async fn read_flood(shared: Arc<Shared>, link: Link, id: u64, stream: IncomingStream) {
    let mut recv = stream.into_recv();
    loop {
        let bytes = match read_frame(&mut recv, MAX_FLOOD_MESSAGE).await {
            Ok(bytes) => bytes,
            Err(FrameEnd::Ended) => return,
            Err(FrameEnd::TooLong(len)) => {
                shared.misbehaved(id, format!("a flood message of {len} bytes (at most {MAX_FLOOD_MESSAGE})"));
                return;
            }
        };
        match peergroup_sync::flood::Message::decode(&bytes) {
            Ok(message) => {
                if !shared.flood.give(Input::Message(id, message)).await {
                    return;
                }
            }
            Err(e) => {
                shared.misbehaved(id, format!("flood: {e}"));
                return;
            }
        }
        if link.connection().close_reason().is_some() {
            return;
        }
    }
}

/// Serves a stream the other side opened.
async fn respond(shared: &Arc<Shared>, link: &Link, stream: IncomingStream) -> Result<()> {
    if stream.tag != *SYNC_STREAM {
        return Err(NetError::Protocol { addr: link.remote_address(), reason: "a stream of no known protocol".into() });
    }
    let replica = replica_for(shared, link).await?;
    let (summary, _) = sync_on(link, Role::Responder, stream, replica).await?;
    synced(shared, link, summary.stored);
    Ok(())
}

/// A store replica for one sync with the member of `link`, read from the database now.
async fn replica_for(shared: &Arc<Shared>, link: &Link) -> Result<StoreReplica> {
    let s = Arc::clone(shared);
    let peer = link.peer().identity.to_string();
    tokio::task::spawn_blocking(move || {
        Ok(StoreReplica::new(s.open_db()?, s.open_db()?, &peer)?.with_writer(s.open_db()?))
    })
    .await
    .map_err(|e| store_error(format!("the store task stopped: {e}")))?
}

/// After a sync: reports it, and marks the group synchronised for this member after its first.
fn synced(shared: &Shared, link: &Link, stored: u64) {
    shared.emit(PresenceEvent::Synchronized { peer: link.peer().identity.clone(), stored });
    if !shared.synchronized.load(Ordering::Acquire) {
        match shared.store.mark_synchronized(&shared.me, &shared.group) {
            Ok(_) => {
                shared.synchronized.store(true, Ordering::Release);
                shared.emit(PresenceEvent::Ready);
            }
            Err(e) => shared.emit(PresenceEvent::ConnectionFailed {
                addr: link.remote_address(),
                reason: format!("the group could not be marked synchronised: {e}"),
            }),
        }
    }
}

/// Follows the group's change feed on a thread of its own: a change made on this host (by any
/// process) is read from the store and handed to the flood; one that a sync stored starts a
/// sync on every link but to the member it came from (what a healed partition exchanged over
/// one link reaches the members behind the others; a sync that finds nothing to exchange
/// stores nothing, so the wave stops where everyone holds it); what the flood stored, the
/// flood forwards itself.
fn follow_feed(shared: Arc<Shared>, mut watcher: peergroup_state::Watcher) -> Result<()> {
    let db = shared.open_db()?;
    std::thread::Builder::new()
        .name("peergroup-presence-feed".into())
        .spawn(move || {
            while !shared.is_closed() {
                match watcher.recv_timeout(FEED_TICK) {
                    Ok(Some(event)) if !matches!(event.change, Change::StatusChanged) => {
                        shared.generation.fetch_add(1, Ordering::AcqRel);
                        match &event.origin {
                            Origin::Local => {
                                let Some(key) = item_of(&event.change) else { continue };
                                // Gone again, or unreadable: the next reconciliation carries it.
                                if let Ok(items) = db.sync_items(&[key])
                                    && !items.is_empty()
                                    && !shared.flood.give_blocking(Input::Local(items))
                                {
                                    return;
                                }
                            }
                            Origin::Remote(peer) if peer == FLOOD_ORIGIN => {}
                            Origin::Remote(peer) => shared.changed(Some(peer)),
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(FEED_TICK),
                }
            }
        })
        .map(drop)
        .map_err(|e| store_error(format!("cannot start the feed follower: {e}")))
}

/// The replicated item a change names, if it names one (an expiry is every member's own).
fn item_of(change: &Change) -> Option<(SyncKind, Vec<u8>)> {
    match change {
        Change::RecordAdded { id, .. } | Change::RecordUpdated { id, .. } | Change::RecordDeleted { id, .. } => {
            Some((SyncKind::Record, id.as_bytes().to_vec()))
        }
        Change::MemberChanged { peer_name } | Change::MemberJoined { peer_name } => {
            Some((SyncKind::Member, peer_name.to_string().into_bytes()))
        }
        Change::PropertiesChanged => Some((SyncKind::Properties, Vec::new())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A secure peer name whose authority is `digit` repeated (the order of names follows it).
    fn name(digit: char, classifier: &str) -> PeerName {
        format!("{}.{classifier}", digit.to_string().repeat(40)).parse().unwrap()
    }

    #[test]
    fn opposite_dials_settle_on_the_smaller_names_dial_on_both_sides() {
        let (small, large) = (name('0', "a"), name('1', "b"));
        // Whichever arrives second, the small side keeps its own dial ...
        assert_eq!(admit(&small, &large, true, 9, Some((7, false, 9))), Admission::Replace(7));
        assert_eq!(admit(&small, &large, false, 9, Some((7, true, 9))), Admission::Refuse);
        // ... and the large side keeps the small side's dial.
        assert_eq!(admit(&large, &small, false, 9, Some((7, true, 9))), Admission::Replace(7));
        assert_eq!(admit(&large, &small, true, 9, Some((7, false, 9))), Admission::Refuse);
    }

    #[test]
    fn the_dialler_settles_two_dials_of_its_own() {
        let (me, peer) = (name('0', "a"), name('1', "b"));
        assert_eq!(admit(&me, &peer, true, 9, None), Admission::Keep);
        assert_eq!(admit(&me, &peer, true, 9, Some((3, true, 9))), Admission::Refuse);
        assert_eq!(admit(&me, &peer, false, 9, Some((3, false, 9))), Admission::Keep);
    }

    #[test]
    fn a_link_from_another_endpoint_of_the_member_replaces_the_old_one() {
        // The member's presence moved (restarted, or taken over by another process): whatever
        // the directions and the names, the link to its new endpoint stays.
        let (small, large) = (name('0', "a"), name('1', "b"));
        for (me, peer) in [(&small, &large), (&large, &small)] {
            for (outgoing, old_outgoing) in [(true, true), (true, false), (false, true), (false, false)] {
                assert_eq!(admit(me, peer, outgoing, 10, Some((4, old_outgoing, 9))), Admission::Replace(4));
            }
        }
    }
}
