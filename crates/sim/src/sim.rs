//! The simulator: members on a virtual clock (µs), one event queue, links with latency, jitter
//! (which reorders), loss, partitions and churn, every random draw from one seeded generator.
//!
//! Flood messages travel as datagrams: each is encoded, may be lost (`loss_ppm`), and takes
//! the link's latency plus a random jitter, so they arrive out of order. Reconciliation
//! messages model a reliable stream: never lost while the link is up, delivered in order. A
//! message in flight when its link goes down is dropped (each link-up starts a new epoch).
//!
//! An oracle watches every store write: an item signed by a non-member stored by an honest
//! member, or a live version stored where a tombstone was held, is a violation.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use peergroup_sync::flood::{self, Flood, InEvent, Message, OutEvent, Verdict};
use peergroup_sync::{Entry, Item, ItemKey};

use crate::reconcile::Reconciler;
use crate::rng::Rng;
use crate::store::{Body, MemStore, MemberId, make_item};

/// The network's behaviour.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// One-way latency of every link, µs.
    pub latency_micros: u64,
    /// Extra one-way delay, uniform in `0..=jitter_micros`, drawn per message.
    pub jitter_micros: u64,
    /// Probability that a flood message is lost, per million.
    pub loss_ppm: u32,
}

/// A simulation's set-up.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many members (ids `0..members`).
    pub members: u32,
    /// Who is linked to whom (each pair once, either order).
    pub edges: Vec<(MemberId, MemberId)>,
    /// The network.
    pub net: NetConfig,
    /// The flood's tunables (every member the same).
    pub flood: flood::Config,
    /// Members that misbehave: their stores take anything and they write items signed by a
    /// non-member.
    pub misbehaving: BTreeSet<MemberId>,
    /// The seed of every random draw.
    pub seed: u64,
}

/// What a scheduled write does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Adds the record or updates it, expiring at this virtual time (`u64::MAX`: never).
    Put {
        /// Expiry, µs of virtual time.
        expires: u64,
    },
    /// Deletes the record (a tombstone).
    Delete,
}

/// Something scheduled from outside the protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// A member writes record `record`.
    Write {
        /// Who.
        member: MemberId,
        /// Which record.
        record: u64,
        /// What.
        op: WriteOp,
    },
    /// Splits the members: `groups[m]` is member `m`'s side; links across sides go down.
    Partition(Vec<u8>),
    /// Ends any partition.
    Heal,
    /// A member leaves (all its links go down); it keeps its store.
    Offline(MemberId),
    /// A member comes back.
    Online(MemberId),
    /// Changes the flood loss rate.
    SetLoss(u32),
    /// Every link that is up reconciles again (periodic anti-entropy).
    ResyncAll,
}

#[derive(Clone, Debug)]
enum Wire<M> {
    Flood(Vec<u8>),
    /// A sync message and the sync session it belongs to: a resync over a link that stays up
    /// starts a new session, as a new stream would, and what is still in flight of the old
    /// one is dropped rather than fed to the new session's state.
    Sync(u64, M),
}

#[derive(Clone, Debug)]
enum Event<M> {
    Deliver { from: MemberId, to: MemberId, epoch: u64, wire: Wire<M> },
    Timer { member: MemberId, timer: flood::Timer },
    Action(Action),
}

#[derive(Clone, Debug, Default)]
struct Link {
    up: bool,
    epoch: u64,
    /// The current sync session (one more at each start of a sync on this link).
    session: u64,
    /// Time of the last reliable message scheduled in each direction (low → high, high → low).
    fifo: [u64; 2],
}

/// One simulated member.
#[derive(Debug)]
pub struct Member<R> {
    /// Its store.
    pub store: MemStore,
    /// Its flood state.
    pub flood: Flood<MemberId>,
    links: BTreeMap<MemberId, R>,
    online: bool,
    side: u8,
    misbehaving: bool,
}

impl<R> Member<R> {
    /// Whether it is online.
    pub fn online(&self) -> bool {
        self.online
    }
    /// Whether it misbehaves.
    pub fn misbehaving(&self) -> bool {
        self.misbehaving
    }
}

/// Counters over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Flood messages sent (including lost ones).
    pub flood_messages: u64,
    /// Their bytes.
    pub flood_bytes: u64,
    /// Flood messages lost.
    pub lost: u64,
    /// Reconciliation messages sent.
    pub sync_messages: u64,
    /// Their bytes ([`Reconciler::wire_size`]).
    pub sync_bytes: u64,
    /// Messages dropped because their link went down.
    pub dropped_link_down: u64,
    /// Sync messages dropped because a newer sync session started on their link.
    pub dropped_old_session: u64,
    /// Flood messages that did not decode (a bug: every sender here encodes valid messages).
    pub decode_errors: u64,
    /// Refusals reported against each member, by the members it sent items to.
    pub reported: BTreeMap<MemberId, u64>,
    /// Writes a member could not make (the record was deleted, or absent for a delete).
    pub writes_skipped: u64,
}

/// The simulator.
#[derive(Debug)]
pub struct Sim<R: Reconciler> {
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Event<R::Message>>,
    members: Vec<Member<R>>,
    links: BTreeMap<(MemberId, MemberId), Link>,
    net: NetConfig,
    rng: Rng,
    trace: u64,
    stats: Stats,
    violations: Vec<String>,
    tombstoned: BTreeSet<(MemberId, ItemKey)>,
    watch: Option<(ItemKey, Vec<Option<u64>>)>,
}

/// The signer a misbehaving member puts on its items: nobody in the group.
pub const OUTSIDER: u32 = u32::MAX;

impl<R: Reconciler> Sim<R> {
    /// A simulation at time 0 with every link up (and reconciling).
    pub fn new(config: Config) -> Self {
        let group: BTreeSet<u32> = (0..config.members).filter(|m| !config.misbehaving.contains(m)).collect();
        let members = (0..config.members)
            .map(|m| {
                let misbehaving = config.misbehaving.contains(&m);
                Member {
                    store: MemStore::new(group.clone(), misbehaving),
                    flood: Flood::new(config.flood.clone()),
                    links: BTreeMap::new(),
                    online: true,
                    side: 0,
                    misbehaving,
                }
            })
            .collect();
        let links = config
            .edges
            .iter()
            .filter(|(a, b)| a != b && *a < config.members && *b < config.members)
            .map(|&(a, b)| ((a.min(b), a.max(b)), Link::default()))
            .collect();
        let mut sim = Self {
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            members,
            links,
            net: config.net,
            rng: Rng::new(config.seed),
            trace: 0xcbf2_9ce4_8422_2325,
            stats: Stats::default(),
            violations: Vec::new(),
            tombstoned: BTreeSet::new(),
            watch: None,
        };
        sim.update_links();
        sim
    }

    /// The virtual time, µs.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// The members.
    pub fn members(&self) -> &[Member<R>] {
        &self.members
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// What the oracle saw go wrong (empty when every rule held).
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// A hash of every event processed, in order: two runs of one seed give the same hash.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// The simulator's generator, for scenario code that draws from the same seed.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// Records, for each member, when its store first holds any version of `key`.
    pub fn watch(&mut self, key: ItemKey) {
        let times = self.members.iter().map(|m| m.store.get(&key).map(|_| self.now)).collect();
        self.watch = Some((key, times));
    }

    /// When each member first held the watched key.
    pub fn watch_times(&self) -> &[Option<u64>] {
        self.watch.as_ref().map_or(&[], |(_, t)| t.as_slice())
    }

    /// Schedules `action` at virtual time `at` (not before now).
    pub fn schedule(&mut self, at: u64, action: Action) {
        self.push(at, Event::Action(action));
    }

    /// Processes every event up to and including time `t`; the clock then reads `t`.
    pub fn run_until(&mut self, t: u64) {
        while let Some((&(at, _), _)) = self.queue.first_key_value() {
            if at > t {
                break;
            }
            self.step();
        }
        self.now = self.now.max(t);
    }

    /// Processes events until none is left or the clock passes `limit`. Returns whether the
    /// queue emptied.
    pub fn run_until_quiet(&mut self, limit: u64) -> bool {
        while let Some((&(at, _), _)) = self.queue.first_key_value() {
            if at > limit {
                return false;
            }
            self.step();
        }
        true
    }

    /// Processes events until `done` holds (checked after each), none is left or the clock
    /// passes `limit`. Returns whether `done` held.
    pub fn run_while(&mut self, limit: u64, mut done: impl FnMut(&Self) -> bool) -> bool {
        while !done(self) {
            match self.queue.first_key_value() {
                Some((&(at, _), _)) if at <= limit => self.step(),
                _ => return false,
            }
        }
        true
    }

    /// Whether every honest member holds the same versions, live items and expiry markers
    /// alike (expiry applied at the current time). Returns the differences otherwise.
    pub fn converged(&mut self) -> Result<(), String> {
        let now = self.now;
        let mut reference: Option<(MemberId, BTreeSet<Entry>)> = None;
        for (m, member) in self.members.iter_mut().enumerate() {
            if member.misbehaving {
                continue;
            }
            member.store.purge(now);
            let entries = member.store.entries();
            match &reference {
                None => reference = Some((m as MemberId, entries)),
                Some((r, theirs)) if *theirs != entries => {
                    return Err(format!(
                        "member {m} holds {} items, member {r} {}; {} differ",
                        entries.len(),
                        theirs.len(),
                        entries.symmetric_difference(theirs).count()
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn push(&mut self, at: u64, event: Event<R::Message>) {
        self.seq += 1;
        self.queue.insert((at.max(self.now), self.seq), event);
    }

    fn mix(&mut self, words: &[u64]) {
        for w in words {
            for b in w.to_le_bytes() {
                self.trace ^= u64::from(b);
                self.trace = self.trace.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }

    fn mix_bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.trace ^= u64::from(b);
            self.trace = self.trace.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Processes the next event.
    fn step(&mut self) {
        let Some(((at, _), event)) = self.queue.pop_first() else { return };
        self.now = at;
        match event {
            Event::Deliver { from, to, epoch, wire } => {
                self.mix(&[at, 1, u64::from(from), u64::from(to)]);
                self.deliver(from, to, epoch, wire);
            }
            Event::Timer { member, timer } => {
                self.mix(&[at, 2, u64::from(member)]);
                self.flood_event(member, InEvent::Timer(timer));
            }
            Event::Action(action) => {
                self.mix(&[at, 3]);
                self.act(action);
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Write { member, record, op } => self.write(member, record, op),
            Action::Partition(sides) => {
                for (m, side) in self.members.iter_mut().zip(sides.into_iter().chain(std::iter::repeat(0))) {
                    m.side = side;
                }
                self.update_links();
            }
            Action::Heal => {
                for m in &mut self.members {
                    m.side = 0;
                }
                self.update_links();
            }
            Action::Offline(m) | Action::Online(m) if m as usize >= self.members.len() => {}
            Action::Offline(m) => {
                self.members[m as usize].online = false;
                self.update_links();
            }
            Action::Online(m) => {
                self.members[m as usize].online = true;
                self.update_links();
            }
            Action::SetLoss(ppm) => self.net.loss_ppm = ppm,
            Action::ResyncAll => {
                let up: Vec<(MemberId, MemberId)> = self.links.iter().filter(|(_, l)| l.up).map(|(k, _)| *k).collect();
                for (a, b) in up {
                    self.start_syncs(a, b);
                }
            }
        }
    }

    fn write(&mut self, m: MemberId, record: u64, op: WriteOp) {
        let Some(member) = self.members.get(m as usize) else { return };
        let key = make_item(record, 1, false, 0, m, &Body { signer: 0, expires: 0, payload: 0 }).key();
        let held = member.store.get_any(&key).map(|i| (i.stamp.version, i.stamp.deleted));
        let misbehaving = member.misbehaving;
        let (version, deleted, expires) = match (op, held) {
            (_, Some((_, true))) | (WriteOp::Delete, None) => {
                self.stats.writes_skipped += 1;
                return;
            }
            (WriteOp::Put { expires }, held) => (held.map_or(1, |(v, _)| v.saturating_add(1)), false, expires),
            (WriteOp::Delete, Some((v, _))) => (v.saturating_add(1), true, u64::MAX),
        };
        let signer = if misbehaving { OUTSIDER } else { m };
        let payload = self.rng.next_u64();
        let item = make_item(record, version, deleted, self.now, m, &Body { signer, expires, payload });
        if self.store_apply(m, &item) == Verdict::Applied {
            self.flood_event(m, InEvent::LocalChange(item));
        } else {
            self.stats.writes_skipped += 1;
        }
    }

    /// Applies `item` to member `m`'s store, checking the rules the store must keep.
    fn store_apply(&mut self, m: MemberId, item: &Item) -> Verdict {
        let now = self.now;
        let member = &mut self.members[m as usize];
        member.store.purge(now);
        let verdict = member.store.apply(item, now);
        if verdict != Verdict::Applied {
            return verdict;
        }
        let key = item.key();
        if !member.misbehaving {
            match Body::decode(&item.body) {
                Some(body) if body.signer != OUTSIDER => {}
                _ => self.violations.push(format!("t={now}: member {m} stored an item the policy refuses")),
            }
            if !item.stamp.deleted && self.tombstoned.contains(&(m, key)) {
                self.violations.push(format!("t={now}: member {m} resurrected a deleted record"));
            }
            if item.stamp.deleted {
                self.tombstoned.insert((m, key));
            }
        }
        if let Some((watched, times)) = &mut self.watch
            && *watched == key
            && times[m as usize].is_none()
        {
            times[m as usize] = Some(now);
        }
        verdict
    }

    /// Feeds one event to member `m`'s flood and carries out everything that follows.
    fn flood_event(&mut self, m: MemberId, event: InEvent<MemberId>) {
        let mut work = VecDeque::from([event]);
        while let Some(event) = work.pop_front() {
            let outs = self.members[m as usize].flood.handle(self.now, event);
            for out in outs {
                match out {
                    OutEvent::Send(to, message) => self.transmit(m, to, Wire::Flood(message.encode())),
                    OutEvent::SetTimer(at, timer) => self.push(at, Event::Timer { member: m, timer }),
                    OutEvent::Apply(_, item) => {
                        let verdict = self.store_apply(m, &item);
                        work.push_back(InEvent::Verdict(item.entry(), verdict));
                    }
                    OutEvent::Refused(peer, _) => *self.stats.reported.entry(peer).or_default() += 1,
                }
            }
        }
    }

    fn transmit(&mut self, from: MemberId, to: MemberId, wire: Wire<R::Message>) {
        let key = (from.min(to), from.max(to));
        let Some(link) = self.links.get(&key) else { return };
        if !link.up {
            self.stats.dropped_link_down += 1;
            return;
        }
        let epoch = link.epoch;
        let delay = self.net.latency_micros + self.rng.below(self.net.jitter_micros + 1);
        let mut at = self.now + delay;
        match &wire {
            Wire::Flood(bytes) => {
                self.stats.flood_messages += 1;
                self.stats.flood_bytes += bytes.len() as u64;
                if self.rng.chance_ppm(self.net.loss_ppm) {
                    self.stats.lost += 1;
                    return;
                }
            }
            Wire::Sync(_, message) => {
                self.stats.sync_messages += 1;
                self.stats.sync_bytes += R::wire_size(message) as u64;
                let dir = usize::from(from > to);
                if let Some(link) = self.links.get_mut(&key) {
                    at = at.max(link.fifo[dir]);
                    link.fifo[dir] = at;
                }
            }
        }
        self.push(at, Event::Deliver { from, to, epoch, wire });
    }

    fn deliver(&mut self, from: MemberId, to: MemberId, epoch: u64, wire: Wire<R::Message>) {
        let key = (from.min(to), from.max(to));
        let Some(link) = self.links.get(&key).filter(|l| l.up && l.epoch == epoch) else {
            self.stats.dropped_link_down += 1;
            return;
        };
        if let Wire::Sync(session, _) = &wire
            && *session != link.session
        {
            self.stats.dropped_old_session += 1;
            return;
        }
        match wire {
            Wire::Flood(bytes) => {
                self.mix_bytes(&bytes);
                match Message::decode(&bytes) {
                    Ok(message) => self.flood_event(to, InEvent::Message(from, message)),
                    Err(_) => self.stats.decode_errors += 1,
                }
            }
            Wire::Sync(session, message) => {
                let now = self.now;
                let member = &mut self.members[to as usize];
                member.store.purge(now);
                let Some(end) = member.links.get_mut(&from) else { return };
                let (replies, items) = end.receive(&member.store, message);
                self.mix(&[replies.len() as u64, items.len() as u64]);
                let mut refused = 0;
                for item in items {
                    match self.store_apply(to, &item) {
                        Verdict::Applied => self.flood_event(to, InEvent::Reconciled(from, item)),
                        Verdict::Refused => {
                            refused += 1;
                            *self.stats.reported.entry(from).or_default() += 1;
                        }
                        Verdict::Stale => {}
                    }
                }
                if let Some(end) = self.members[to as usize].links.get_mut(&from) {
                    end.refused(refused);
                }
                for reply in replies {
                    self.transmit(to, from, Wire::Sync(session, reply));
                }
            }
        }
    }

    /// Starts a new sync session on the link between `a` and `b` (both ends).
    fn start_syncs(&mut self, a: MemberId, b: MemberId) {
        let key = (a.min(b), a.max(b));
        let Some(link) = self.links.get_mut(&key) else { return };
        link.session += 1;
        let session = link.session;
        self.start_sync(a, b, session);
        self.start_sync(b, a, session);
    }

    fn start_sync(&mut self, from: MemberId, to: MemberId, session: u64) {
        let now = self.now;
        let member = &mut self.members[from as usize];
        member.store.purge(now);
        // One end initiates (the lower id), the other answers.
        let mut end = R::new_link(from < to, &member.store);
        let messages = end.start(&member.store);
        member.links.insert(to, end);
        for message in messages {
            self.transmit(from, to, Wire::Sync(session, message));
        }
    }

    /// Brings each link up or down to match who is online and on which side.
    fn update_links(&mut self) {
        let keys: Vec<(MemberId, MemberId)> = self.links.keys().copied().collect();
        for (a, b) in keys {
            let (ma, mb) = (&self.members[a as usize], &self.members[b as usize]);
            let want = ma.online && mb.online && ma.side == mb.side;
            let Some(link) = self.links.get_mut(&(a, b)) else { continue };
            if link.up == want {
                continue;
            }
            link.up = want;
            link.epoch += 1;
            link.fifo = [self.now; 2];
            self.mix(&[self.now, 4, u64::from(a), u64::from(b), u64::from(want)]);
            for (x, y) in [(a, b), (b, a)] {
                if want {
                    self.flood_event(x, InEvent::LinkUp(y));
                } else {
                    self.members[x as usize].links.remove(&y);
                    self.flood_event(x, InEvent::LinkDown(y));
                }
            }
            if want {
                self.start_syncs(a, b);
            }
        }
    }
}
