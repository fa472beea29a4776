//! The flood of a presence: `peergroup-sync`'s Plumtree state ([`peergroup_sync::flood::Flood`])
//! driven over the presence's links. A change made on this host is pushed to the eager
//! neighbours and announced to the lazy ones; an item pushed by a neighbour is verified and
//! stored through an [`Applier`] (the trust path) and forwarded only when the store took it
//! as new, so a new record costs each member about one receipt once the eager links have
//! thinned to a tree (`docs/sync.md`, "Flooding").
//!
//! The state runs on a thread of its own (the applier blocks): the links' readers hand it
//! messages through a bounded queue, and it hands each link's writer the messages to send
//! through a bounded queue too. A full queue drops a flood message rather than wait: the
//! flood is the fast path, and set reconciliation (on every new link, and on every link
//! while the database has changed since its last sync) repairs whatever it misses.
//!
//! Each link carries one flood stream per direction, tagged [`FLOOD_STREAM`]; each message
//! travels behind its 4-byte big-endian length, at most [`MAX_FLOOD_MESSAGE`] bytes.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use peergroup_state::{Applier, GroupDb, Origin, SyncItem, SyncKind};
use peergroup_sync::Entry;
use peergroup_sync::flood::{Config, Flood, InEvent, Message, OutEvent, Stats, Timer, Verdict};

use crate::error::{NetError, Result};
use crate::replicate::{to_item, to_sync_item};

/// The first bytes of a flood stream.
pub const FLOOD_STREAM: &[u8; 4] = b"PGF1";

/// The largest flood message read (a push carries one item whole).
pub const MAX_FLOOD_MESSAGE: usize = peergroup_sync::wire::MAX_MESSAGE_LEN;

/// The origin the flood's applier writes in the change feed: the feed follower knows that
/// what it stored is forwarded by the flood already.
pub(crate) const FLOOD_ORIGIN: &str = "flood";

/// Flood inputs queued for the thread before the links' readers wait.
const INPUT_QUEUE: usize = 1024;

/// Messages queued for one link's writer before more are dropped.
pub(crate) const LINK_QUEUE: usize = 256;

/// How long the thread waits for input when nothing else is due.
const IDLE: Duration = Duration::from_millis(250);

/// How often the thread looks for the applier's results while items are in flight.
const APPLY_POLL: Duration = Duration::from_millis(1);

/// What the flood thread is told.
#[derive(Debug)]
pub(crate) enum Input {
    /// Link `id` is up; its writer takes encoded messages.
    LinkUp(u64, tokio::sync::mpsc::Sender<Vec<u8>>),
    /// Link `id` went down.
    LinkDown(u64),
    /// A message arrived on link `id`.
    Message(u64, Message),
    /// Items changed by this host (read from the store after the change feed named them).
    Local(Vec<SyncItem>),
}

/// What a presence does when a neighbour sent more refused items than a link tolerates.
pub(crate) type OnMisbehaved = Arc<dyn Fn(u64, String) + Send + Sync>;

/// The flood of one presence: the queue to its thread.
#[derive(Clone, Debug)]
pub(crate) struct FloodHandle {
    input: SyncSender<Input>,
    stats: Arc<Mutex<Stats>>,
}

impl FloodHandle {
    /// Starts the thread; `checker` and `writer` are two handles of the group database.
    pub(crate) fn start(checker: GroupDb, writer: GroupDb, misbehaved: OnMisbehaved) -> Result<Self> {
        let applier = Applier::new(Arc::new(checker), Arc::new(writer), Origin::Remote(FLOOD_ORIGIN.into()))
            .map_err(|e| NetError::Store { reason: e.to_string() })?;
        let (input, inputs) = sync_channel(INPUT_QUEUE);
        let stats = Arc::new(Mutex::new(Stats::default()));
        let driver = Driver {
            stats: Arc::clone(&stats),
            flood: Flood::new(Config::default()),
            applier,
            links: HashMap::new(),
            refusals: HashMap::new(),
            applying: VecDeque::new(),
            timers: BTreeSet::new(),
            started: Instant::now(),
            misbehaved,
        };
        std::thread::Builder::new()
            .name("peergroup-flood".into())
            .spawn(move || driver.run(&inputs))
            .map_err(|e| NetError::Store { reason: format!("cannot start the flood: {e}") })?;
        Ok(Self { input, stats })
    }

    /// The flood's counters so far.
    pub(crate) fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A handle whose thread never started: every input is refused.
    pub(crate) fn stopped() -> Self {
        let (input, _) = sync_channel(1);
        Self { input, stats: Arc::default() }
    }

    /// Hands `input` to the thread, waiting (async) while its queue is full; `false` once the
    /// thread ended.
    pub(crate) async fn give(&self, mut input: Input) -> bool {
        loop {
            match self.input.try_send(input) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    input = back;
                    tokio::time::sleep(APPLY_POLL).await;
                }
            }
        }
    }

    /// Hands `input` to the thread from a thread that may block; `false` once it ended.
    pub(crate) fn give_blocking(&self, input: Input) -> bool {
        self.input.send(input).is_ok()
    }
}

struct Driver {
    flood: Flood<u64>,
    /// A copy of the flood's counters, for [`FloodHandle::stats`].
    stats: Arc<Mutex<Stats>>,
    applier: Applier,
    links: HashMap<u64, tokio::sync::mpsc::Sender<Vec<u8>>>,
    /// Items of each link that the store refused.
    refusals: HashMap<u64, u64>,
    /// The entries handed to the applier, in order, each with its link.
    applying: VecDeque<(u64, Entry)>,
    /// Timers set, by due time (µs since `started`).
    timers: BTreeSet<(u64, Timer)>,
    started: Instant,
    misbehaved: OnMisbehaved,
}

impl Driver {
    fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn run(mut self, inputs: &Receiver<Input>) {
        loop {
            self.collect();
            self.fire_timers();
            let wait = if self.applying.is_empty() { self.until_next_timer() } else { APPLY_POLL };
            match inputs.recv_timeout(wait) {
                Ok(input) => {
                    self.take(input);
                    // Whatever queued meanwhile, before the next wait.
                    while let Ok(input) = inputs.try_recv() {
                        self.take(input);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            self.stats.lock().unwrap_or_else(PoisonError::into_inner).clone_from(self.flood.stats());
        }
    }

    fn until_next_timer(&self) -> Duration {
        match self.timers.first() {
            Some((at, _)) => Duration::from_micros(at.saturating_sub(self.now())).min(IDLE),
            None => IDLE,
        }
    }

    fn take(&mut self, input: Input) {
        let now = self.now();
        let out = match input {
            Input::LinkUp(id, writer) => {
                self.links.insert(id, writer);
                self.flood.handle(now, InEvent::LinkUp(id))
            }
            Input::LinkDown(id) => {
                self.links.remove(&id);
                self.refusals.remove(&id);
                self.flood.handle(now, InEvent::LinkDown(id))
            }
            Input::Message(id, message) => self.flood.handle(now, InEvent::Message(id, message)),
            Input::Local(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(self.flood.handle(now, InEvent::LocalChange(to_item(item))));
                }
                out
            }
        };
        self.carry_out(out);
    }

    fn fire_timers(&mut self) {
        let now = self.now();
        while let Some((at, _)) = self.timers.first() {
            if *at > now {
                return;
            }
            let Some((_, timer)) = self.timers.pop_first() else { return };
            let out = self.flood.handle(now, InEvent::Timer(timer));
            self.carry_out(out);
        }
    }

    fn carry_out(&mut self, out: Vec<OutEvent<u64>>) {
        for event in out {
            match event {
                OutEvent::Send(id, message) => {
                    if let Some(writer) = self.links.get(&id) {
                        // Full: dropped (reconciliation repairs); closed: the link is going.
                        let _ = writer.try_send(message.encode());
                    }
                }
                OutEvent::SetTimer(at, timer) => {
                    self.timers.insert((at, timer));
                }
                OutEvent::Apply(id, item) => {
                    self.applying.push_back((id, item.entry()));
                    if self.applier.submit(vec![to_sync_item(item)]).is_err() {
                        // The applier's threads are gone: nothing more can be stored.
                        self.applying.pop_back();
                    }
                }
                OutEvent::Refused(id, _) => {
                    let refused = self.refusals.entry(id).or_default();
                    *refused += 1;
                    if *refused > peergroup_sync::link::MAX_REFUSALS {
                        let reason = format!("the store refused {refused} of its flooded items");
                        self.refusals.remove(&id);
                        (self.misbehaved)(id, reason);
                    }
                }
            }
        }
    }

    /// Takes in what the applier wrote and gives the flood its verdicts.
    fn collect(&mut self) {
        while let Some(applied) = self.applier.try_next() {
            let Ok(applied) = applied else {
                // A failed transaction stored none of its items: each is stale for the flood
                // (reconciliation brings them later).
                self.applying.clear();
                continue;
            };
            let refused: BTreeSet<usize> =
                applied.outcome.refused.iter().filter(|r| !r.awaits_member()).map(|r| r.index).collect();
            let stored: BTreeSet<(SyncKind, Vec<u8>)> =
                applied.outcome.stored.iter().map(|e| (e.kind, e.id.clone())).collect();
            let now = self.now();
            for (index, item) in applied.items.iter().enumerate() {
                let Some((_, entry)) = self.applying.pop_front() else { break };
                let verdict = if refused.contains(&index) {
                    Verdict::Refused
                } else if stored.contains(&(item.kind, item.id.clone())) {
                    Verdict::Applied
                } else {
                    // Stale, or a record whose signer's member entry has not arrived here:
                    // reconciliation brings both.
                    Verdict::Stale
                };
                let out = self.flood.handle(now, InEvent::Verdict(entry, verdict));
                self.carry_out(out);
            }
        }
    }
}
