//! Direct connections and data across the processes of a host (`PeerGroupOpenDirectConnection`,
//! `PeerGroupCloseDirectConnection`, `PeerGroupSendData`, `PEER_GROUP_EVENT_DIRECT_CONNECTION`,
//! `PEER_GROUP_EVENT_INCOMING_DATA`).
//!
//! Only the process that holds the group's presence has the links, so every request goes to
//! it: through the group database's mailbox (`peergroup_state::DirectRequest`) from another
//! process, or straight to its supervisor from its own. The holder opens, closes and sends
//! with `peergroup-net`, publishes its direct connections in the status view (every process
//! turns a change of them into `DIRECT_CONNECTION` events, as for neighbours), and stores what
//! arrives in the inbox, from which every process's feed reader hands it to every registration
//! for `INCOMING_DATA` (`docs/connect.md`, "Direct connections and data").
//!
//! Connection ids: a neighbour's is its link's id in the presence; a direct connection's is
//! [`DIRECT_ID_BASE`] plus a number from the group database, so that the process that asks
//! knows the id before the holder acts, and no two processes ever hand out the same.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use peergroup_identity::PeerName;
use peergroup_net::{ConnectionKind, IncomingData, NetError, Presence as NetPresence};
use peergroup_state::{DirectRequest, GroupDb, InboxMessage};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::status::{Connection, DIRECT_FAILURES_KEPT, DirectFailure, PEER_CONNECTION_DIRECT};

/// The first id of a direct connection: below it, the ids are neighbours' (link ids).
pub const DIRECT_ID_BASE: u64 = 1 << 40;

/// The most bytes one [`crate::Group::send_data`] sends (4 MiB): the network layer's bound on
/// one message. More is `E_INVALIDARG`, nothing is sent.
pub const MAX_DATA_LEN: usize = peergroup_net::MAX_DATA_LEN;

/// How long the holder waits for a link to a member it dialled for a direct connection.
const LINK_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages the holder stores in one inbox transaction at most.
const INBOX_BATCH: usize = 64;

/// How long data on a direct connection this host opened waits for the connection's id (its
/// opener maps it as soon as the other member accepted) before it gets a new one.
const MAP_PATIENCE: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its map consistent, even when it panics.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What one connection's sender task does next, in order.
enum Outgoing {
    Data(Uuid, Vec<u8>),
    Close,
}

#[derive(Default)]
struct Ids {
    /// Presence id of a direct connection → its id here.
    by_net: HashMap<u64, u64>,
    /// Id here → presence id.
    by_id: HashMap<u64, u64>,
}

/// The holder's side: ids, the senders of each connection, and the opens that failed.
pub(crate) struct Directs {
    ids: Mutex<Ids>,
    /// One ordered queue per presence connection id (direct or neighbour), with its task.
    queues: Mutex<HashMap<u64, mpsc::UnboundedSender<Outgoing>>>,
    failures: Mutex<VecDeque<DirectFailure>>,
    /// Presence direct connections that closed, forgotten (and the view read again) once the
    /// inbox has stored the data read on them before their end.
    closing: Mutex<Vec<u64>>,
    /// The direct connections last listed, by presence id: a connection that closed stays in
    /// the view from here until it is forgotten.
    listed: Mutex<HashMap<u64, Connection>>,
    /// The ids here of the direct connections in the view last written: data on one is stored
    /// only once it is (every process hears of a connection before its data).
    published: Mutex<HashSet<u64>>,
    /// Wakes the inbox thread for `closing`.
    close_notice: tokio::sync::Notify,
    /// Whether the inbox thread runs (else a close is forgotten at once).
    inbox_running: std::sync::atomic::AtomicBool,
    /// A handle of its own, for connection ids.
    db: GroupDb,
    own: PeerName,
}

impl std::fmt::Debug for Directs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directs").field("connections", &lock(&self.ids).by_id.len()).finish_non_exhaustive()
    }
}

impl Directs {
    pub(crate) fn new(db: GroupDb, own: PeerName) -> Arc<Self> {
        Arc::new(Self {
            ids: Mutex::new(Ids::default()),
            queues: Mutex::new(HashMap::new()),
            failures: Mutex::new(VecDeque::new()),
            closing: Mutex::new(Vec::new()),
            listed: Mutex::new(HashMap::new()),
            published: Mutex::new(HashSet::new()),
            close_notice: tokio::sync::Notify::new(),
            inbox_running: std::sync::atomic::AtomicBool::new(false),
            db,
            own,
        })
    }

    /// The id here of presence direct connection `net`, allocated when it has none.
    fn id_of(&self, net: u64) -> Option<u64> {
        let mut ids = lock(&self.ids);
        if let Some(id) = ids.by_net.get(&net) {
            return Some(*id);
        }
        let id = DIRECT_ID_BASE + self.db.new_connection_id().ok()?;
        ids.by_net.insert(net, id);
        ids.by_id.insert(id, net);
        Some(id)
    }

    /// The presence id of connection `id` (a neighbour's is its own).
    fn net_of(&self, id: u64) -> Option<u64> {
        if id < DIRECT_ID_BASE { Some(id) } else { lock(&self.ids).by_id.get(&id).copied() }
    }

    fn fail(&self, id: u64, peer: PeerName, reason: String) {
        let mut failures = lock(&self.failures);
        failures.push_back(DirectFailure { id, peer, reason });
        while failures.len() > DIRECT_FAILURES_KEPT {
            failures.pop_front();
        }
    }

    /// The newest failed opens, for the view.
    pub(crate) fn failures(&self) -> Vec<DirectFailure> {
        lock(&self.failures).iter().cloned().collect()
    }

    /// The presence's direct connections with their ids here, for the view. One this host
    /// opened appears once its opener mapped it; one another member opened gets its id now.
    /// One that closed stays listed until it is forgotten ([`Self::close`]).
    pub(crate) fn list(&self, presence: &NetPresence) -> Vec<Connection> {
        let neighbors = presence.neighbors();
        let open: Vec<(u64, Connection)> = presence
            .direct_connections()
            .into_iter()
            .filter_map(|d| {
                let id = if d.outgoing { lock(&self.ids).by_net.get(&d.id).copied()? } else { self.id_of(d.id)? };
                let addr = neighbors.iter().find(|n| n.id == d.link).map(|n| n.addr)?;
                Some((d.id, Connection { id, flags: PEER_CONNECTION_DIRECT, peer: d.peer, addr, outgoing: d.outgoing }))
            })
            .collect();
        let mut listed = lock(&self.listed);
        let closing: Vec<(u64, Connection)> = lock(&self.closing)
            .iter()
            .filter(|net| !open.iter().any(|(n, _)| n == *net))
            .filter_map(|net| listed.get(net).map(|c| (*net, c.clone())))
            .collect();
        listed.retain(|net, _| closing.iter().any(|(n, _)| n == net));
        listed.extend(open.iter().cloned());
        open.into_iter().chain(closing).map(|(_, c)| c).collect()
    }

    /// The view with `connections` was written: data on its direct connections may be stored.
    pub(crate) fn published(&self, connections: &[Connection]) {
        *lock(&self.published) = connections.iter().filter(|c| c.is_direct()).map(|c| c.id).collect();
    }

    /// Presence direct connection `net` closed: whether it is forgotten now (true: read the
    /// view again). With the inbox running, it is forgotten once the inbox stored what was read
    /// on it before its end (the presence queues every frame before it reports the close), so
    /// that every process sees the data before the close; then `reread` of the inbox runs.
    pub(crate) fn close(&self, net: u64) -> bool {
        if !self.inbox_running.load(std::sync::atomic::Ordering::Acquire) {
            self.closed(net);
            return true;
        }
        lock(&self.closing).push(net);
        self.close_notice.notify_one();
        false
    }

    /// Forgets presence direct connection `net`, which closed.
    fn closed(&self, net: u64) {
        lock(&self.listed).remove(&net);
        let mut ids = lock(&self.ids);
        if let Some(id) = ids.by_net.remove(&net) {
            ids.by_id.remove(&id);
        }
        lock(&self.queues).remove(&net);
    }

    /// Carries out `request` on `presence`; `reread` is called when the view must be read
    /// again (an open finished).
    pub(crate) fn handle(
        self: &Arc<Self>,
        request: DirectRequest,
        presence: &Arc<NetPresence>,
        rt: &tokio::runtime::Handle,
        reread: impl Fn() + Send + 'static,
    ) {
        match request {
            DirectRequest::Open { connection, peer, address } => {
                if peer == self.own {
                    self.fail(connection, peer, NetError::ConnectSelf { peer: self.own.to_string() }.to_string());
                    reread();
                    return;
                }
                let me = Arc::clone(self);
                let weak = Arc::downgrade(presence);
                rt.spawn(async move {
                    let Some(presence) = weak.upgrade() else { return };
                    match open(&presence, &peer, address).await {
                        Ok(net) => {
                            let mut ids = lock(&me.ids);
                            ids.by_net.insert(net, connection);
                            ids.by_id.insert(connection, net);
                        }
                        Err(e) => me.fail(connection, peer, e.to_string()),
                    }
                    reread();
                });
            }
            DirectRequest::Close { connection } => {
                if let Some(net) = self.net_of(connection).filter(|_| connection >= DIRECT_ID_BASE) {
                    self.enqueue(net, Outgoing::Close, presence, rt);
                }
            }
            DirectRequest::Send { connection, data_type, body } => {
                if let Some(net) = self.net_of(connection) {
                    self.enqueue(net, Outgoing::Data(data_type, body), presence, rt);
                }
            }
            // A newer kind of request this build does not know: nothing to do.
            _ => {}
        }
    }

    /// Queues `what` for presence connection `net`: one task per connection sends in order.
    fn enqueue(&self, net: u64, what: Outgoing, presence: &Arc<NetPresence>, rt: &tokio::runtime::Handle) {
        let mut queues = lock(&self.queues);
        let sender = queues.entry(net).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let weak = Arc::downgrade(presence);
            rt.spawn(async move {
                while let Some(next) = rx.recv().await {
                    let Some(presence) = weak.upgrade() else { return };
                    match next {
                        // A failed send means the connection went: its close is reported.
                        Outgoing::Data(t, body) => {
                            if presence.send_data(net, t, &body).await.is_err() {
                                return;
                            }
                        }
                        Outgoing::Close => {
                            let _ = presence.close_direct(net).await;
                            return;
                        }
                    }
                }
            });
            tx
        });
        // The task ended (its connection went): what was queued for it goes nowhere, as the
        // data of a connection that closed.
        let _ = sender.send(what);
    }

    /// Stores what other members send, until `stop` says the presence closed; `reread` is
    /// called once connections that closed are forgotten ([`Self::close`]).
    pub(crate) fn start_inbox(
        self: &Arc<Self>,
        presence: &Arc<NetPresence>,
        rt: &tokio::runtime::Handle,
        stop: Arc<std::sync::atomic::AtomicBool>,
        reread: impl Fn() + Send + 'static,
    ) -> std::io::Result<()> {
        let Some(mut rx) = presence.incoming_data() else { return Ok(()) };
        let me = Arc::clone(self);
        let weak = Arc::downgrade(presence);
        let rt = rt.clone();
        self.inbox_running.store(true, std::sync::atomic::Ordering::Release);
        let spawned = std::thread::Builder::new().name("peergroup-inbox".into()).spawn(move || {
            let mut waiting: VecDeque<(IncomingData, Instant)> = VecDeque::new();
            while !stop.load(std::sync::atomic::Ordering::Acquire) {
                let wait = if waiting.is_empty() { Duration::from_millis(100) } else { Duration::from_millis(2) };
                let received = rt.block_on(async {
                    tokio::select! {
                        r = tokio::time::timeout(wait, rx.recv()) => r.map(|m| m.map(Some)),
                        () = me.close_notice.notified() => Ok(Some(None)),
                    }
                });
                match received {
                    Ok(Some(Some(first))) => waiting.push_back((first, Instant::now())),
                    Ok(None) => break,
                    Ok(Some(None)) | Err(_) => {}
                }
                // The closes noted before this drain: their frames are all in the queue.
                let closing = lock(&me.closing).clone();
                while (!closing.is_empty() || waiting.len() < INBOX_BATCH)
                    && let Ok(more) = rx.try_recv()
                {
                    waiting.push_back((more, Instant::now()));
                }
                me.store(&mut waiting, &weak);
                // A closed connection with data still waiting (for its view) is forgotten later.
                let done: Vec<u64> = closing
                    .into_iter()
                    .filter(|net| {
                        !waiting.iter().any(|(d, _)| matches!(d.kind, ConnectionKind::Direct) && d.connection == *net)
                    })
                    .collect();
                if !done.is_empty() {
                    for net in &done {
                        me.closed(*net);
                    }
                    lock(&me.closing).retain(|net| !done.contains(net));
                    reread();
                }
            }
            me.inbox_running.store(false, std::sync::atomic::Ordering::Release);
            for net in std::mem::take(&mut *lock(&me.closing)) {
                me.closed(net);
            }
        });
        if let Err(e) = spawned {
            self.inbox_running.store(false, std::sync::atomic::Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    /// Stores the waiting messages, in order, up to the first on a direct connection that its
    /// opener has not mapped yet or that no written view showed yet (each waits at most
    /// [`MAP_PATIENCE`]).
    fn store(&self, waiting: &mut VecDeque<(IncomingData, Instant)>, presence: &Weak<NetPresence>) {
        let mut batch = Vec::new();
        while let Some((data, since)) = waiting.front() {
            let connection = match data.kind {
                ConnectionKind::Neighbor => data.connection,
                ConnectionKind::Direct => {
                    let mapped = lock(&self.ids).by_net.get(&data.connection).copied();
                    let id = match mapped {
                        Some(id) => id,
                        None => {
                            let opened_here = presence.upgrade().is_some_and(|p| {
                                p.direct_connections().iter().any(|d| d.id == data.connection && d.outgoing)
                            });
                            if opened_here && since.elapsed() < MAP_PATIENCE {
                                break;
                            }
                            match self.id_of(data.connection) {
                                Some(id) => id,
                                None => break,
                            }
                        }
                    };
                    if !lock(&self.published).contains(&id) && since.elapsed() < MAP_PATIENCE {
                        break;
                    }
                    id
                }
            };
            let Some((data, _)) = waiting.pop_front() else { break };
            batch.push(InboxMessage { connection, peer: data.peer, data_type: data.data_type, body: data.bytes });
        }
        if !batch.is_empty() {
            // A failed write (disk full) loses these messages, as a full receiver would.
            let _ = self.db.post_incoming(&batch);
        }
    }
}

/// Opens a direct connection to `peer`, first dialling `address` when no link to it is up.
async fn open(
    presence: &NetPresence,
    peer: &PeerName,
    address: Option<std::net::SocketAddr>,
) -> peergroup_net::Result<u64> {
    let linked = |p: &NetPresence| p.neighbors().iter().any(|n| &n.peer == peer);
    if let Some(addr) = address
        && !linked(presence)
    {
        let mut events = presence.subscribe();
        presence.dial(addr);
        let wait = async {
            while !linked(presence) {
                // Any event may be the link coming up; a closed presence ends the wait.
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = events.recv().await {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(LINK_TIMEOUT, wait).await;
    }
    presence.open_direct(peer).await
}

impl crate::Group {
    /// Opens a direct connection to `member` (`PeerGroupOpenDirectConnection`, asynchronous):
    /// returns its id at once; [`crate::Event::DirectConnection`] then says connected or
    /// failed, in every handle on this host, and only from then on does the id name a
    /// connection. The presence of the group on this host (whichever process holds it) opens
    /// it over its link to the member, dialling `address` first when no link to it is up.
    ///
    /// `PEER_E_CONNECT_SELF` for this identity itself; `E_INVALIDARG` for port 0 or the
    /// unspecified address; `PEER_E_CONNECTION_FAILED` when the group is not connected on this
    /// host (no process holds its presence).
    pub fn open_direct_connection(
        &self,
        member: &PeerName,
        address: Option<std::net::SocketAddr>,
    ) -> crate::Result<u64> {
        if member == self.identity().peer_name() {
            return Err(NetError::ConnectSelf { peer: member.to_string() }.into());
        }
        if let Some(bad) = address.filter(|a| a.port() == 0 || a.ip().is_unspecified()) {
            return Err(crate::Error::InvalidArgument {
                argument: "address",
                reason: format!("{bad} names no member"),
            });
        }
        let db = self.db()?;
        if !crate::status::read(db)?.is_connected() {
            return Err(
                NetError::NotLinked { peer: format!("{member} (the group is not connected on this host)") }.into()
            );
        }
        let connection = DIRECT_ID_BASE + db.new_connection_id()?;
        self.direct_request(DirectRequest::Open { connection, peer: member.clone(), address })?;
        Ok(connection)
    }

    /// Closes direct connection `id` (`PeerGroupCloseDirectConnection`) after the data sent
    /// on it before; both sides then see [`crate::Event::DirectConnection`] disconnected.
    /// `PEER_E_CONNECTION_NOT_FOUND` for an id that names no open direct connection.
    pub fn close_direct_connection(&self, id: u64) -> crate::Result<()> {
        self.find_connection(id, true)?;
        self.direct_request(DirectRequest::Close { connection: id })
    }

    /// Sends `data` of type `data_type` on connection `id`, a neighbour's or a direct one
    /// (`PeerGroupSendData`); the member receives [`crate::Event::IncomingData`], in the
    /// order sent on the connection. Returns once queued with the holder of the presence.
    /// `E_INVALIDARG` beyond [`MAX_DATA_LEN`] bytes (nothing is sent),
    /// `PEER_E_CONNECTION_NOT_FOUND` for an id that names no connection.
    pub fn send_data(&self, id: u64, data_type: Uuid, data: &[u8]) -> crate::Result<()> {
        if data.len() > MAX_DATA_LEN {
            return Err(NetError::DataTooLarge { len: data.len(), max: MAX_DATA_LEN }.into());
        }
        self.find_connection(id, false)?;
        self.direct_request(DirectRequest::Send { connection: id, data_type, body: data.to_vec() })
    }

    /// The published connection `id` (a direct one only, with `direct`).
    fn find_connection(&self, id: u64, direct: bool) -> crate::Result<Connection> {
        crate::status::read_view(self.db()?)?
            .connections
            .into_iter()
            .find(|c| c.id == id && (!direct || c.is_direct()))
            .ok_or_else(|| NetError::ConnectionNotFound { id }.into())
    }

    /// Hands `request` to the holder of the presence: this process's supervisor, or another
    /// process through the database.
    fn direct_request(&self, request: DirectRequest) -> crate::Result<()> {
        let online = self.hub().online();
        match online.as_ref() {
            Some(online) => online.submit(request),
            None => {
                drop(online);
                self.db()?.post_direct_request(&request)?;
            }
        }
        Ok(())
    }
}
