//! A whole synchronisation over a member link: the replication protocol of `peergroup-sync`
//! (a sans-I/O `Link`: range-based set reconciliation, then stamps and items) driven over the
//! link's first stream after the proofs, each side's group database written by an
//! [`Applier`] (checks and writes on threads of its own) while the protocol goes on.
//!
//! Frames on the stream: a 4-byte big-endian length and one encoded sync message, at most
//! [`peergroup_sync::wire::MAX_MESSAGE_LEN`]. The driver follows `docs/sync.md`, "Driving a
//! link": items the protocol asks for are read from the store; items that arrive go to the
//! applier; a record refused only because its signer's member entry has not arrived yet waits
//! and is submitted again once member entries are stored; every other refusal counts against
//! the peer.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use peergroup_security::VersionStamp;
use peergroup_state::{Applied, Applier, GroupDb, Origin, SyncItem, SyncKind};
use peergroup_sync::{Item, ItemKey, ItemKind, Link as SyncLink, Output, Replica, SetIndex, Tag};

use crate::error::{NetError, Result};
use crate::link::{Link, stream_failure};

/// Most records held back at once waiting for their signer's member entry.
pub const MAX_PENDING: usize = 1_000_000;

/// How long a sync waits for the other side before it gives up.
pub const SYNC_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Frames received and not yet handled: a message may be up to 17 MiB, so few are held (a
/// peer that sends faster than this side handles waits on QUIC flow control).
const QUEUE_IN: usize = 4;

/// Frames handed to the stream writer and not yet written: items leave in frames of about
/// 1 MiB, and QUIC buffers more behind them (its send window), so a few keep the stream busy.
const QUEUE_OUT: usize = 4;

/// Which side of the sync this member plays: the one that opened the link starts it.
pub use peergroup_sync::Role;

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Items this side stored (records, member entries, properties).
    pub stored: u64,
    /// Items this side refused (counted against the peer).
    pub refused: u64,
    /// Messages sent.
    pub messages_sent: u64,
}

/// One member's side of a sync: its group database (two handles: one reads and writes, one
/// checks), the applier, and the reconciled set built from what the database holds.
///
/// It holds the reconciled set and no more: per record its key, its version's digest and its
/// id (in the index's tag, 80 bytes), per member entry and the properties their ids. Versions
/// and bodies are read from the database when the sync needs them, so a presence of a
/// million-record group serving a whole sync holds about 130 MB (`docs/PERFORMANCE.md`).
pub struct StoreReplica {
    db: Arc<GroupDb>,
    /// Started with the first items received: a side that only serves keeps its database
    /// handles as they are (an applier gives the writer a page cache of 32 MiB).
    applier: Option<Applier>,
    /// The writer's and the checker's handles until the applier starts, and the peer's name
    /// for the feed.
    start: Option<(Arc<GroupDb>, GroupDb, String)>,
    pending: Vec<SyncItem>,
    members_arrived: bool,
    refused: u64,
    stored: u64,
    index: SetIndex,
    /// Member entries and the properties (few): their kinds and ids. Records are the index's
    /// other entries, their ids in the tags.
    others: HashMap<ItemKey, (SyncKind, Vec<u8>)>,
    /// The first error of a read the sync protocol made through [`Replica::stamp`], which
    /// cannot return one: the driver ends the sync with it.
    failure: RefCell<Option<NetError>>,
}

impl std::fmt::Debug for StoreReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreReplica").field("held", &self.index.len()).finish_non_exhaustive()
    }
}

fn item_kind(kind: SyncKind) -> ItemKind {
    match kind {
        SyncKind::Member => ItemKind::Member,
        SyncKind::Properties => ItemKind::Properties,
        _ => ItemKind::Record,
    }
}

fn sync_kind(kind: ItemKind) -> SyncKind {
    match kind {
        ItemKind::Member => SyncKind::Member,
        ItemKind::Properties => SyncKind::Properties,
        ItemKind::Record => SyncKind::Record,
    }
}

/// An item of the store as the sync protocol carries it.
pub(crate) fn to_item(item: SyncItem) -> Item {
    Item { kind: item_kind(item.kind), id: item.id, stamp: item.stamp, body: item.body }
}

/// An item of the sync protocol as the store takes it.
pub(crate) fn to_sync_item(item: Item) -> SyncItem {
    SyncItem { kind: sync_kind(item.kind), id: item.id, stamp: item.stamp, body: item.body }
}

fn store_error(e: impl std::fmt::Display) -> NetError {
    NetError::Store { reason: e.to_string() }
}

impl StoreReplica {
    /// `db` and `checker`: two handles of the same group database; `peer` names the other
    /// member in the change feed.
    pub fn new(db: GroupDb, checker: GroupDb, peer: &str) -> Result<Self> {
        let db = Arc::new(db);
        let mut replica = Self {
            db: Arc::clone(&db),
            applier: None,
            start: Some((Arc::clone(&db), checker, peer.to_owned())),
            pending: Vec::new(),
            members_arrived: false,
            refused: 0,
            stored: 0,
            index: SetIndex::new(),
            others: HashMap::new(),
            failure: RefCell::new(None),
        };
        let built = RefCell::new((SetIndex::new(), HashMap::new()));
        db.sync_digests_with(
            |kind, id, digest| {
                let (index, others) = &mut *built.borrow_mut();
                learn(index, others, kind, id, digest);
            },
            || *built.borrow_mut() = (SetIndex::new(), HashMap::new()),
        )
        .map_err(store_error)?;
        (replica.index, replica.others) = built.into_inner();
        replica.index.shrink_to_fit();
        Ok(replica)
    }

    /// Writes what the sync brings through `writer`, a third handle of the database, instead
    /// of the one that reads: an applier gives its writer a page cache of 32 MiB, which reads
    /// of a whole group to send would otherwise fill (a presence serving a million records
    /// stays under 200 MB with it apart).
    #[must_use]
    pub fn with_writer(mut self, writer: GroupDb) -> Self {
        if let Some((_, checker, peer)) = self.start.take() {
            self.start = Some((Arc::new(writer), checker, peer));
        }
        self
    }

    /// The kind and id of the item held under `key`.
    fn locate(&self, key: &ItemKey) -> Option<(SyncKind, Vec<u8>)> {
        if let Some((kind, id)) = self.others.get(key) {
            return Some((*kind, id.clone()));
        }
        self.index.tag(key).map(|tag| (SyncKind::Record, tag.to_vec()))
    }

    /// The items `keys` name, read from the database in the order asked.
    pub fn read(&self, keys: &[ItemKey]) -> Result<Vec<Item>> {
        let wanted: Vec<(SyncKind, Vec<u8>)> = keys.iter().filter_map(|k| self.locate(k)).collect();
        let items = self.db.sync_items(&wanted).map_err(store_error)?;
        Ok(items.into_iter().map(to_item).collect())
    }

    fn applier(&mut self) -> Result<&mut Applier> {
        if let Some((writer, checker, peer)) = self.start.take() {
            let applier = Applier::new(Arc::new(checker), writer, Origin::Remote(peer)).map_err(store_error)?;
            self.applier = Some(applier);
        }
        // Set just above, or by an earlier call (the handles are taken once).
        self.applier.as_mut().ok_or_else(|| store_error("the applier could not start"))
    }

    /// The error of a read made for the sync protocol, if one failed (the sync must end).
    pub fn take_failure(&self) -> Option<NetError> {
        self.failure.borrow_mut().take()
    }

    /// Hands received items to the applier.
    pub fn submit(&mut self, items: Vec<Item>) -> Result<()> {
        let batch = items.into_iter().map(to_sync_item).collect();
        self.applier()?.submit(batch).map_err(store_error)
    }

    /// Takes in what the applier wrote (waiting for it when `wait`); returns the refusals
    /// that count against the peer, or `None` when nothing was ready.
    pub fn collect(&mut self, wait: bool) -> Result<Option<u64>> {
        let Some(applier) = &mut self.applier else { return Ok(None) };
        let applied = if wait { applier.wait_next() } else { applier.try_next() };
        let Some(applied) = applied else { return Ok(None) };
        let Applied { items, outcome } = applied.map_err(store_error)?;
        let before = self.refused;
        for e in outcome.stored {
            self.members_arrived |= e.kind == SyncKind::Member;
            self.stored += 1;
            learn(&mut self.index, &mut self.others, e.kind, &e.id, &e.stamp.digest);
        }
        for r in outcome.refused {
            if r.awaits_member() && self.pending.len() < MAX_PENDING {
                self.pending.push(items[r.index].clone());
            } else {
                self.refused += 1;
            }
        }
        if self.members_arrived && !self.pending.is_empty() {
            self.members_arrived = false;
            let pending = std::mem::take(&mut self.pending);
            self.applier()?.submit(pending).map_err(store_error)?;
        }
        Ok(Some(self.refused - before))
    }

    /// Ends the sync's wait for members: records still waiting for their signer's member
    /// entry never get it (the sync is over and no member of that name arrived), so they are
    /// dropped and count as refused against the peer. Returns how many.
    pub fn settle(&mut self) -> u64 {
        let dropped = self.pending.len() as u64;
        self.pending.clear();
        self.refused += dropped;
        dropped
    }

    /// Batches handed to the applier and not collected yet.
    pub fn in_flight(&self) -> usize {
        self.applier.as_ref().map_or(0, Applier::in_flight)
    }

    /// Records still waiting for their signer's member entry.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Items refused so far.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Items stored so far.
    pub fn stored(&self) -> u64 {
        self.stored
    }

    /// How many items of `kind` this side holds.
    pub fn count(&self, kind: SyncKind) -> usize {
        match kind {
            SyncKind::Record => self.index.len() as usize - self.others.len(),
            _ => self.others.values().filter(|(k, _)| *k == kind).count(),
        }
    }
}

/// Enters an item held into the reconciled set: a record's id (16 bytes) in the index's tag,
/// any other item's id beside it.
fn learn(
    index: &mut SetIndex,
    others: &mut HashMap<ItemKey, (SyncKind, Vec<u8>)>,
    kind: SyncKind,
    id: &[u8],
    digest: &[u8; 32],
) {
    let key = ItemKey::of(item_kind(kind), id);
    let entry = peergroup_sync::Entry { key, digest: *digest };
    match <Tag>::try_from(id) {
        Ok(tag) if kind == SyncKind::Record => {
            index.insert_tagged(entry, tag);
        }
        _ => {
            index.insert(entry);
            others.insert(key, (kind, id.to_vec()));
        }
    }
}

impl Replica for StoreReplica {
    fn index(&self) -> &SetIndex {
        &self.index
    }

    fn stamp(&self, key: &ItemKey) -> Option<VersionStamp> {
        let wanted = self.locate(key)?;
        match self.db.sync_items(std::slice::from_ref(&wanted)) {
            Ok(mut items) => items.pop().map(|item| item.stamp),
            Err(e) => {
                self.failure.borrow_mut().get_or_insert(store_error(e));
                None
            }
        }
    }

    fn kind(&self, key: &ItemKey) -> Option<ItemKind> {
        match self.others.get(key) {
            Some((kind, _)) => Some(item_kind(*kind)),
            None => self.index.get(key).map(|_| ItemKind::Record),
        }
    }
}

/// A stream another member opened on a link, its protocol tag read ([`accept_stream`]).
#[derive(Debug)]
pub struct IncomingStream {
    /// The first four bytes: which protocol the stream carries ([`SYNC_STREAM`], ...).
    pub tag: [u8; 4],
    send: quinn::SendStream,
    recv: quinn::RecvStream,
}

impl IncomingStream {
    /// The receiving half, for a protocol that only reads (the sending half is finished).
    pub(crate) fn into_recv(self) -> quinn::RecvStream {
        self.recv
    }

    /// Both halves, for a protocol that answers.
    pub(crate) fn into_parts(self) -> (quinn::SendStream, quinn::RecvStream) {
        (self.send, self.recv)
    }
}

/// How long the opener of a stream may take to send its tag.
const TAG_TIMEOUT: Duration = Duration::from_secs(10);

/// The next stream the member on the other side of `link` opens, once its tag arrived. Fails
/// when the link closes, or when the tag does not come within 10 s.
pub async fn accept_stream(link: &Link) -> Result<IncomingStream> {
    let addr = link.remote_address();
    let failure = |reason: String| stream_failure(link.connection(), addr, reason);
    let (send, mut recv) = link.connection().accept_bi().await.map_err(|e| failure(e.to_string()))?;
    let mut tag = [0; 4];
    tokio::time::timeout(TAG_TIMEOUT, recv.read_exact(&mut tag))
        .await
        .map_err(|_| NetError::Protocol { addr, reason: "a stream without its tag".into() })?
        .map_err(|e| failure(e.to_string()))?;
    Ok(IncomingStream { tag, send, recv })
}

/// Synchronises `replica` with the member on the other side of `link`, as `role` (the side
/// that opened the link is the [`Role::Initiator`]), on a stream of its own. Runs the store
/// work on a blocking thread; returns once both sides hold the same items (the link reports
/// completion and everything received is stored) with the replica back.
pub async fn sync_over(link: &Link, role: Role, replica: StoreReplica) -> Result<(SyncSummary, StoreReplica)> {
    let addr = link.remote_address();
    let failure = |reason: String| stream_failure(link.connection(), addr, reason);
    let stream = match role {
        Role::Initiator => {
            let (mut send, recv) = link.connection().open_bi().await.map_err(|e| failure(e.to_string()))?;
            // A stream is announced to the peer by its first bytes: say which protocol it is.
            send.write_all(SYNC_STREAM).await.map_err(|e| failure(e.to_string()))?;
            IncomingStream { tag: *SYNC_STREAM, send, recv }
        }
        Role::Responder => accept_stream(link).await?,
    };
    sync_on(link, role, stream, replica).await
}

/// [`sync_over`] on a stream already open: one the other side opened and [`accept_stream`]
/// took (`role` is then [`Role::Responder`]). The replica is built after the stream arrived, so
/// that it holds what the store holds when the sync starts.
pub async fn sync_on(
    link: &Link,
    role: Role,
    stream: IncomingStream,
    replica: StoreReplica,
) -> Result<(SyncSummary, StoreReplica)> {
    let addr = link.remote_address();
    if stream.tag != *SYNC_STREAM {
        return Err(NetError::Protocol { addr, reason: "a stream that is not a sync".into() });
    }
    let IncomingStream { mut send, mut recv, .. } = stream;
    let (to_peer, mut outgoing) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUE_OUT);
    // A frame, or why the stream could not be read (the driver ends the sync with it).
    let (incoming, from_peer) = tokio::sync::mpsc::channel::<std::result::Result<Vec<u8>, String>>(QUEUE_IN);
    let writer = tokio::spawn(async move {
        while let Some(frame) = outgoing.recv().await {
            if send.write_all(&(frame.len() as u32).to_be_bytes()).await.is_err()
                || send.write_all(&frame).await.is_err()
            {
                return;
            }
        }
        let _ = send.finish();
    });
    let reader = tokio::spawn(async move {
        loop {
            let mut len = [0; 4];
            if recv.read_exact(&mut len).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes(len) as usize;
            let frame = if len > peergroup_sync::wire::MAX_MESSAGE_LEN {
                Err(format!(
                    "a sync message of {len} bytes (at most {} are read)",
                    peergroup_sync::wire::MAX_MESSAGE_LEN
                ))
            } else {
                let mut frame = vec![0; len];
                match recv.read_exact(&mut frame).await {
                    Ok(()) => Ok(frame),
                    Err(e) => Err(format!("a sync message cut short: {e}")),
                }
            };
            let failed = frame.is_err();
            if incoming.send(frame).await.is_err() || failed {
                return;
            }
        }
    });
    let runtime = tokio::runtime::Handle::current();
    let driven = tokio::task::spawn_blocking(move || drive(&runtime, role, replica, to_peer, from_peer, addr))
        .await
        .map_err(|e| NetError::Store { reason: format!("the sync driver stopped: {e}") })?;
    // The writer ends when the driver dropped its sender (finishing the stream).
    let _ = writer.await;
    reader.abort();
    // A sync cut short because the link went away is nobody's fault.
    driven.map_err(|e| match e {
        NetError::Protocol { reason, .. } if link.connection().close_reason().is_some() => {
            NetError::Lost { addr, reason }
        }
        e => e,
    })
}

/// Why [`read_frame`] returned no frame.
pub(crate) enum FrameEnd {
    /// The stream ended or failed: nothing more comes.
    Ended,
    /// The peer announced a frame of this many bytes, more than allowed.
    TooLong(usize),
}

/// One frame of a stream: a 4-byte big-endian length, then that many bytes (at most `max`).
/// The framing of every protocol on a link (sync, flood, data).
pub(crate) async fn read_frame(
    recv: &mut (impl tokio::io::AsyncRead + Unpin),
    max: usize,
) -> std::result::Result<Vec<u8>, FrameEnd> {
    use tokio::io::AsyncReadExt;
    let mut len = [0; 4];
    recv.read_exact(&mut len).await.map_err(|_| FrameEnd::Ended)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameEnd::TooLong(len));
    }
    let mut frame = vec![0; len];
    recv.read_exact(&mut frame).await.map_err(|_| FrameEnd::Ended)?;
    Ok(frame)
}

/// The first bytes of a sync stream.
pub const SYNC_STREAM: &[u8; 4] = b"PGS1";

/// The protocol loop, on a blocking thread (the store work blocks); it waits for the peer
/// through `runtime`. Dropping `to_peer` at the end finishes the stream.
fn drive(
    runtime: &tokio::runtime::Handle,
    role: Role,
    mut replica: StoreReplica,
    to_peer: tokio::sync::mpsc::Sender<Vec<u8>>,
    mut from_peer: tokio::sync::mpsc::Receiver<std::result::Result<Vec<u8>, String>>,
    addr: SocketAddr,
) -> Result<(SyncSummary, StoreReplica)> {
    let misbehaved = |e: peergroup_sync::LinkError| NetError::Protocol { addr, reason: format!("sync: {e}") };
    let gone = || NetError::Protocol { addr, reason: "the other side closed the sync".into() };
    let unreadable = |reason: String| NetError::Protocol { addr, reason };
    let failed = |replica: &StoreReplica| replica.take_failure().map_or(Ok(()), Err);
    let mut link = SyncLink::new(role, &replica);
    let mut sent = 0u64;
    loop {
        let mut progressed = false;
        while let Some(refused) = replica.collect(false)? {
            link.refused(refused).map_err(misbehaved)?;
            progressed = true;
        }
        while let Ok(frame) = from_peer.try_recv() {
            let bytes = frame.map_err(unreadable)?;
            link.handle_bytes(&replica, &bytes).map_err(misbehaved)?;
            failed(&replica)?;
            progressed = true;
        }
        while let Some(output) = link.poll() {
            progressed = true;
            match output {
                Output::Send(m) => {
                    to_peer.blocking_send(peergroup_sync::wire::encode(&m)).map_err(|_| gone())?;
                    sent += 1;
                }
                Output::NeedItems(keys) => {
                    let items = replica.read(&keys)?;
                    link.items_read(&replica, items).map_err(misbehaved)?;
                }
                Output::Apply(items) => replica.submit(items)?,
                Output::Complete => {}
            }
        }
        if link.is_complete() && replica.in_flight() == 0 {
            break;
        }
        if !progressed {
            if replica.in_flight() > 0 {
                if let Some(refused) = replica.collect(true)? {
                    link.refused(refused).map_err(misbehaved)?;
                }
            } else {
                // Nothing to do but wait for the peer, bounded.
                let next = runtime.block_on(tokio::time::timeout(SYNC_IDLE_TIMEOUT, from_peer.recv()));
                let bytes = next
                    .map_err(|_| NetError::Protocol {
                        addr,
                        reason: format!("no sync message within {} s", SYNC_IDLE_TIMEOUT.as_secs()),
                    })?
                    .ok_or_else(gone)?
                    .map_err(unreadable)?;
                link.handle_bytes(&replica, &bytes).map_err(misbehaved)?;
                failed(&replica)?;
            }
        }
    }
    // Records signed by no member the sync brought count against the peer too.
    let unsigned = replica.settle();
    if unsigned > 0 {
        link.refused(unsigned).map_err(misbehaved)?;
    }
    let summary = SyncSummary { stored: replica.stored(), refused: replica.refused(), messages_sent: sent };
    Ok((summary, replica))
}
