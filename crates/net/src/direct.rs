//! Direct connections and data (`PeerGroupOpenDirectConnection`, `PeerGroupSendData`): typed
//! messages between two members over their link, on streams of their own beside the sync and
//! the flood.
//!
//! A **direct connection** is one QUIC bidirectional stream on the link to the member. Its
//! opener writes the tag [`DIRECT_STREAM`] and the kind byte `0`; the other side answers one
//! byte, `1` (accepted: both sides report [`PresenceEvent::DirectConnected`]) or `0` (refused:
//! it holds [`MAX_DIRECT_PER_LINK`] or [`MAX_DIRECT`] already). Closing finishes the stream: the
//! other side finishes its half in turn, and both report [`PresenceEvent::DirectClosed`]. A link
//! that drops closes its direct connections.
//!
//! A **neighbour connection** is the link itself, its id the neighbour's
//! ([`crate::Neighbor::id`]). Data sent on it travels on one stream per direction, opened by
//! the first send with the kind byte `1` and kept while the link lives (no answer byte).
//!
//! Both carry frames: the data type (a GUID, 16 bytes in RFC 4122 order), the length (u32,
//! big-endian), the bytes. A frame is at most [`MAX_DATA_LEN`] bytes of data: a larger send
//! fails ([`NetError::DataTooLarge`]); a peer that announces a larger frame broke the protocol,
//! and its link is closed and its address penalised. Frames arrive in order per connection.
//! What arrives goes to one bounded queue ([`crate::Presence::incoming_data`]); while it is full the
//! readers wait, and QUIC's flow control makes the senders wait in turn: nothing is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use peergroup_identity::PeerName;
use tokio::io::{AsyncReadExt, BufReader};
use tokio::sync::{Mutex as AsyncMutex, broadcast, mpsc};
use uuid::Uuid;

use super::{PresenceEvent, Shared, lock};
use crate::error::{NetError, Result};
use crate::link::{HANDSHAKE_TIMEOUT, Link, stream_failure};
use crate::replicate::{FrameEnd, IncomingStream, read_frame};

/// The tag of a stream of direct connection or neighbour data.
pub const DIRECT_STREAM: &[u8; 4] = b"PGD1";

/// The most bytes of data one frame (one `send_data`) carries: 4 MiB. Large enough for what
/// applications sent through `PeerGroupSendData` (chat messages, files in pieces), small
/// enough that the incoming queue ([`DATA_QUEUE`] frames) holds at most 128 MiB.
pub const MAX_DATA_LEN: usize = 4 * 1024 * 1024;

/// Frames received and not yet taken from [`crate::Presence::incoming_data`]'s receiver: beyond, the
/// readers wait (and QUIC's flow control stops the senders).
pub const DATA_QUEUE: usize = 32;

/// Direct connections on one link, opened by either side. With the sync, the flood and the
/// neighbour channel, this fits the 16 streams a link lets each side open at once.
pub const MAX_DIRECT_PER_LINK: usize = 8;

/// Direct connections of one presence, over all its links.
pub const MAX_DIRECT: usize = 256;

/// How long the opener of a direct connection waits for the other side's answer, and the
/// other side for the kind byte.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// The kind byte of a direct connection's stream.
const KIND_DIRECT: u8 = 0;
/// The kind byte of a neighbour channel's stream.
const KIND_NEIGHBOR: u8 = 1;
/// The answer that accepts a direct connection.
const ACCEPTED: u8 = 1;
/// The answer that refuses one.
const REFUSED: u8 = 0;

/// The bytes of a frame's header: the type and the length.
const HEADER_LEN: usize = 20;
/// Frames up to this size are written in one piece (header and data copied together).
const SMALL_FRAME: usize = 64 * 1024;
/// The reader's buffer: many small frames per read from QUIC.
const READ_BUFFER: usize = 64 * 1024;

/// Which kind of connection data came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    /// A direct connection ([`crate::Presence::open_direct`]).
    Direct,
    /// A neighbour connection: the link itself.
    Neighbor,
}

/// Data another member sent on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingData {
    /// The connection's id in this presence: a direct connection's, or the neighbour's.
    pub connection: u64,
    /// Which kind it is.
    pub kind: ConnectionKind,
    /// The member who sent it.
    pub peer: PeerName,
    /// The type the sender gave.
    pub data_type: Uuid,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A direct connection as [`crate::Presence::direct_connections`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectConnection {
    /// Its id in this presence (unique for the presence's life).
    pub id: u64,
    /// The member at the other end.
    pub peer: PeerName,
    /// The id of the link (the neighbour) it runs on.
    pub link: u64,
    /// Whether this side opened it.
    pub outgoing: bool,
}

type Sender = Arc<AsyncMutex<quinn::SendStream>>;

#[derive(Debug)]
struct DirectState {
    info: DirectConnection,
    link: Link,
    send: Sender,
}

/// The direct connections and the data queue of a presence.
#[derive(Debug)]
pub(super) struct Directs {
    connections: std::sync::Mutex<HashMap<u64, DirectState>>,
    /// This side's neighbour channel per link: opened by the first send.
    neighbor_out: std::sync::Mutex<HashMap<u64, Arc<AsyncMutex<Option<quinn::SendStream>>>>>,
    data: mpsc::Sender<IncomingData>,
    receiver: std::sync::Mutex<Option<mpsc::Receiver<IncomingData>>>,
}

impl Directs {
    pub(super) fn new() -> Self {
        let (data, receiver) = mpsc::channel(DATA_QUEUE);
        Self {
            connections: std::sync::Mutex::new(HashMap::new()),
            neighbor_out: std::sync::Mutex::new(HashMap::new()),
            data,
            receiver: std::sync::Mutex::new(Some(receiver)),
        }
    }

    fn count(&self, link: u64) -> (usize, usize) {
        let connections = lock(&self.connections);
        (connections.values().filter(|c| c.info.link == link).count(), connections.len())
    }

    fn remove(&self, id: u64) -> Option<DirectState> {
        lock(&self.connections).remove(&id)
    }

    fn is_open(&self, id: u64) -> bool {
        lock(&self.connections).contains_key(&id)
    }

    pub(super) fn take_receiver(&self) -> Option<mpsc::Receiver<IncomingData>> {
        lock(&self.receiver).take()
    }

    pub(super) fn list(&self) -> Vec<DirectConnection> {
        let mut all: Vec<_> = lock(&self.connections).values().map(|c| c.info.clone()).collect();
        all.sort_by_key(|c| c.id);
        all
    }
}

fn refused_error(link: &Link, counts: (usize, usize)) -> Option<NetError> {
    let (on_link, all) = counts;
    if on_link >= MAX_DIRECT_PER_LINK {
        Some(NetError::TooManyDirect { peer: link.peer().identity.to_string(), max: MAX_DIRECT_PER_LINK })
    } else if all >= MAX_DIRECT {
        Some(NetError::TooManyDirect { peer: link.peer().identity.to_string(), max: MAX_DIRECT })
    } else {
        None
    }
}

/// How many links to one member an open tries, one after the other, when the link it went over
/// closed for another one (settled) meanwhile.
const OPEN_ATTEMPTS: usize = 3;

/// Opens a direct connection to `peer` over its link (see [`crate::Presence::open_direct`]).
///
/// Two links to the member that came up at once settle on one (`presence.rs`): an open that
/// went over the link that closed is made again over the one that stayed, so the caller never
/// sees the settling.
pub(super) async fn open(shared: &Arc<Shared>, peer: &PeerName) -> Result<u64> {
    if *peer == shared.me {
        return Err(NetError::ConnectSelf { peer: peer.to_string() });
    }
    // A link closed a moment ago stays listed until its task ends: the open goes over a live one.
    let link_to = || {
        lock(&shared.links)
            .values()
            .filter(|l| l.neighbor.peer == *peer)
            .min_by_key(|l| l.link.connection().close_reason().is_some())
            .map(|l| (l.neighbor.id, l.link.clone()))
    };
    let mut attempt = 1;
    loop {
        let (link_id, link) = link_to().ok_or_else(|| NetError::NotLinked { peer: peer.to_string() })?;
        // Subscribed before the open: the link that stays may come up while it runs.
        let mut events = shared.events.subscribe();
        match open_on(shared, peer, link_id, link.clone()).await {
            Err(e) if attempt < OPEN_ATTEMPTS && link.is_settled() => {
                // The link that stays is up, or comes up within a handshake.
                let other = async {
                    while link_to().is_none_or(|(now, _)| now == link_id) {
                        if let Err(broadcast::error::RecvError::Closed) = events.recv().await {
                            return false;
                        }
                    }
                    true
                };
                if !tokio::time::timeout(HANDSHAKE_TIMEOUT, other).await.unwrap_or(false) {
                    return Err(e);
                }
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// Opens a direct connection to `peer` over link `link_id`.
async fn open_on(shared: &Arc<Shared>, peer: &PeerName, link_id: u64, link: Link) -> Result<u64> {
    if let Some(e) = refused_error(&link, shared.direct.count(link_id)) {
        return Err(e);
    }
    let addr = link.remote_address();
    let failure = |e: String| stream_failure(link.connection(), addr, e);
    let (mut send, mut recv) = link.connection().open_bi().await.map_err(|e| failure(e.to_string()))?;
    let mut hello = DIRECT_STREAM.to_vec();
    hello.push(KIND_DIRECT);
    send.write_all(&hello).await.map_err(|e| failure(e.to_string()))?;
    let mut answer = [0; 1];
    match tokio::time::timeout(ANSWER_TIMEOUT, recv.read_exact(&mut answer)).await {
        Err(_) => return Err(NetError::Protocol { addr, reason: "no answer to a direct connection".into() }),
        Ok(Err(e)) => return Err(failure(e.to_string())),
        Ok(Ok(())) if answer[0] == ACCEPTED => {}
        Ok(Ok(())) => {
            return Err(NetError::Refused {
                addr,
                reason: "the member holds as many direct connections as it takes".into(),
            });
        }
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let info = DirectConnection { id, peer: peer.clone(), link: link_id, outgoing: true };
    let send = Arc::new(AsyncMutex::new(send));
    lock(&shared.direct.connections).insert(id, DirectState { info, link: link.clone(), send: Arc::clone(&send) });
    if !lock(&shared.links).contains_key(&link_id) {
        // The link dropped meanwhile, after its direct connections were closed.
        shared.direct.remove(id);
        return Err(NetError::Lost { addr, reason: "the link closed while the direct connection opened".into() });
    }
    shared.emit(PresenceEvent::DirectConnected { id, peer: peer.clone() });
    tokio::spawn(read_frames(Arc::clone(shared), recv, id, ConnectionKind::Direct, link, link_id));
    Ok(id)
}

/// Serves a [`DIRECT_STREAM`] the member of link `link_id` opened.
pub(super) async fn accept(shared: Arc<Shared>, link: Link, link_id: u64, stream: IncomingStream) {
    let (mut send, mut recv) = stream.into_parts();
    let mut kind = [0; 1];
    match tokio::time::timeout(ANSWER_TIMEOUT, recv.read_exact(&mut kind)).await {
        Ok(Ok(())) => {}
        Ok(Err(_)) => return,
        Err(_) => return shared.misbehaved(link_id, "a data stream without its kind".into()),
    }
    let peer = link.peer().identity.clone();
    match kind[0] {
        KIND_NEIGHBOR => {
            let _ = send.finish();
            read_frames(shared, recv, link_id, ConnectionKind::Neighbor, link, link_id).await;
        }
        KIND_DIRECT => {
            let send = Arc::new(AsyncMutex::new(send));
            // Held until the answer is written: nothing is sent on the connection before it.
            let Ok(mut guard) = Arc::clone(&send).try_lock_owned() else { return };
            let admitted = {
                let mut connections = lock(&shared.direct.connections);
                let on_link = connections.values().filter(|c| c.info.link == link_id).count();
                if refused_error(&link, (on_link, connections.len())).is_some() {
                    None
                } else {
                    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    let info = DirectConnection { id, peer: peer.clone(), link: link_id, outgoing: false };
                    connections.insert(id, DirectState { info, link: link.clone(), send: Arc::clone(&send) });
                    Some(id)
                }
            };
            let Some(id) = admitted else {
                let _ = guard.write_all(&[REFUSED]).await;
                let _ = guard.finish();
                return;
            };
            if !lock(&shared.links).contains_key(&link_id) {
                shared.direct.remove(id);
                return;
            }
            if guard.write_all(&[ACCEPTED]).await.is_err() {
                shared.direct.remove(id);
                return;
            }
            drop(guard);
            shared.emit(PresenceEvent::DirectConnected { id, peer });
            read_frames(shared, recv, id, ConnectionKind::Direct, link, link_id).await;
        }
        other => shared.misbehaved(link_id, format!("a data stream of unknown kind {other}")),
    }
}

/// Reads the frames of connection `id` and queues them, in order, until the stream ends or
/// breaks the protocol; then closes a direct connection if it is still open.
async fn read_frames(
    shared: Arc<Shared>,
    recv: quinn::RecvStream,
    id: u64,
    kind: ConnectionKind,
    link: Link,
    link_id: u64,
) {
    let peer = link.peer().identity.clone();
    let mut recv = BufReader::with_capacity(READ_BUFFER, recv);
    loop {
        let mut type_bytes = [0; 16];
        if recv.read_exact(&mut type_bytes).await.is_err() {
            break;
        }
        let bytes = match read_frame(&mut recv, MAX_DATA_LEN).await {
            Ok(bytes) => bytes,
            Err(FrameEnd::Ended) => break,
            Err(FrameEnd::TooLong(len)) => {
                shared.misbehaved(link_id, format!("a data frame of {len} bytes (at most {MAX_DATA_LEN})"));
                break;
            }
        };
        if kind == ConnectionKind::Direct && !shared.direct.is_open(id) {
            // Closed by this side: what the peer sent after is not delivered.
            return;
        }
        let data =
            IncomingData { connection: id, kind, peer: peer.clone(), data_type: Uuid::from_bytes(type_bytes), bytes };
        // Waits while the queue is full (back-pressure); fails only once the receiver is gone.
        if shared.direct.data.send(data).await.is_err() {
            break;
        }
    }
    if kind == ConnectionKind::Direct {
        close_state(&shared, id);
    }
}

/// Closes direct connection `id` from this side if it is still open: reports it and finishes
/// the stream after the frames already being sent (on a task: a send that waits on a slow
/// reader does not hold up the close; it ends with the link at the latest).
fn close_state(shared: &Shared, id: u64) -> bool {
    let Some(state) = shared.direct.remove(id) else { return false };
    shared.emit(PresenceEvent::DirectClosed { id, peer: state.info.peer.clone() });
    tokio::spawn(async move {
        let _ = state.send.lock().await.finish();
    });
    true
}

/// Closes direct connection `id` (see [`crate::Presence::close_direct`]).
pub(super) async fn close(shared: &Shared, id: u64) -> Result<()> {
    if close_state(shared, id) { Ok(()) } else { Err(NetError::ConnectionNotFound { id }) }
}

/// The link `link_id` went down: its direct connections close.
pub(super) fn link_down(shared: &Shared, link_id: u64) {
    let gone: Vec<DirectState> = {
        let mut connections = lock(&shared.direct.connections);
        let ids: Vec<u64> = connections.values().filter(|c| c.info.link == link_id).map(|c| c.info.id).collect();
        ids.iter().filter_map(|id| connections.remove(id)).collect()
    };
    lock(&shared.direct.neighbor_out).remove(&link_id);
    let mut gone = gone;
    gone.sort_by_key(|c| c.info.id);
    for state in gone {
        shared.emit(PresenceEvent::DirectClosed { id: state.info.id, peer: state.info.peer });
    }
}

/// Sends one frame on connection `id` (see [`crate::Presence::send_data`]).
pub(super) async fn send(shared: &Shared, id: u64, data_type: Uuid, bytes: &[u8]) -> Result<()> {
    if bytes.len() > MAX_DATA_LEN {
        return Err(NetError::DataTooLarge { len: bytes.len(), max: MAX_DATA_LEN });
    }
    let direct = lock(&shared.direct.connections).get(&id).map(|c| (Arc::clone(&c.send), c.link.clone()));
    if let Some((sender, link)) = direct {
        let mut send = sender.lock().await;
        return write_frame(&mut send, &link, data_type, bytes).await;
    }
    let link = lock(&shared.links).get(&id).map(|l| l.link.clone()).ok_or(NetError::ConnectionNotFound { id })?;
    let channel = Arc::clone(lock(&shared.direct.neighbor_out).entry(id).or_default());
    let mut channel = channel.lock().await;
    if channel.is_none() {
        let addr = link.remote_address();
        let failure = |e: String| stream_failure(link.connection(), addr, e);
        let (mut send, _recv) = link.connection().open_bi().await.map_err(|e| failure(e.to_string()))?;
        let mut hello = DIRECT_STREAM.to_vec();
        hello.push(KIND_NEIGHBOR);
        send.write_all(&hello).await.map_err(|e| failure(e.to_string()))?;
        *channel = Some(send);
    }
    match channel.as_mut() {
        Some(send) => write_frame(send, &link, data_type, bytes).await,
        // Set just above.
        None => Err(NetError::ConnectionNotFound { id }),
    }
}

async fn write_frame(send: &mut quinn::SendStream, link: &Link, data_type: Uuid, bytes: &[u8]) -> Result<()> {
    let addr = link.remote_address();
    let lost = |e: String| match stream_failure(link.connection(), addr, e) {
        // A stream this side writes cannot carry a protocol error of the peer's: the peer
        // stopped reading it (it closed the connection) or the link went.
        NetError::Protocol { addr, reason } => NetError::Lost { addr, reason },
        other => other,
    };
    // At most MAX_DATA_LEN, checked by the caller.
    let len = u32::try_from(bytes.len()).map_err(|_| NetError::DataTooLarge { len: bytes.len(), max: MAX_DATA_LEN })?;
    let mut header = Vec::with_capacity(HEADER_LEN + bytes.len().min(SMALL_FRAME));
    header.extend_from_slice(data_type.as_bytes());
    header.extend_from_slice(&len.to_be_bytes());
    if bytes.len() <= SMALL_FRAME {
        header.extend_from_slice(bytes);
        send.write_all(&header).await.map_err(|e| lost(e.to_string()))
    } else {
        send.write_all(&header).await.map_err(|e| lost(e.to_string()))?;
        send.write_all(bytes).await.map_err(|e| lost(e.to_string()))
    }
}
