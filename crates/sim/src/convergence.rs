//! The convergence experiment: one new item among N members on a random graph of 5 to 8
//! neighbours each, 20 ms links (plus up to 1 ms of jitter) and 1 % loss. Measured twice per
//! run: the first item of the group (every link still eager: the flood is a plain epidemic)
//! and an item after ten others (the eager links have thinned to a tree).

use crate::reconcile::SyncLink;
use crate::rng::Rng;
use crate::scenario::graph;
use crate::sim::{Action, Config, NetConfig, Sim, WriteOp};
use crate::store::{Body, make_item};

/// One item's spread.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Time until every member held it, µs (`None`: the flood alone did not reach everyone).
    pub time_micros: Option<u64>,
    /// Flood messages sent per member for it.
    pub messages_per_member: f64,
    /// Of which pushes (the item whole), per member.
    pub pushes_per_member: f64,
    /// Duplicate pushes received per member for it.
    pub duplicates_per_member: f64,
}

/// Both measurements of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Measurement {
    /// The first item.
    pub cold: Spread,
    /// An item after ten others.
    pub warm: Spread,
}

const LIMIT: u64 = 600 * 1_000_000;

fn duplicates(sim: &Sim<SyncLink>) -> u64 {
    sim.members().iter().map(|m| m.flood.stats().duplicates).sum()
}

fn pushes(sim: &Sim<SyncLink>) -> u64 {
    sim.members().iter().map(|m| m.flood.stats().sent[0]).sum()
}

fn spread(sim: &mut Sim<SyncLink>, rng: &mut Rng, record: u64) -> Spread {
    let n = sim.members().len();
    sim.run_until_quiet(LIMIT);
    let (messages, pushed, dups, t0) = (sim.stats().flood_messages, pushes(sim), duplicates(sim), sim.now());
    let member = rng.below(n as u64) as u32;
    sim.watch(make_item(record, 1, false, 0, 0, &Body { signer: 0, expires: 0, payload: 0 }).key());
    sim.schedule(t0, Action::Write { member, record, op: WriteOp::Put { expires: u64::MAX } });
    let everyone = sim.run_while(t0 + LIMIT, |s| s.watch_times().iter().all(Option::is_some));
    let time_micros = everyone.then(|| sim.watch_times().iter().flatten().max().map_or(0, |t| t - t0));
    sim.run_until_quiet(t0 + LIMIT);
    Spread {
        time_micros,
        messages_per_member: (sim.stats().flood_messages - messages) as f64 / n as f64,
        pushes_per_member: (pushes(sim) - pushed) as f64 / n as f64,
        duplicates_per_member: (duplicates(sim) - dups) as f64 / n as f64,
    }
}

/// Measures one run of `n` members with `seed`.
pub fn measure(n: u32, seed: u64) -> Measurement {
    let mut rng = Rng::new(seed ^ 0xe703_7ed1_a0b4_28db);
    let edges = graph(n, 5, 8, &mut rng);
    let net = NetConfig { latency_micros: 20_000, jitter_micros: 1_000, loss_ppm: 10_000 };
    let config = Config { members: n, edges, net, flood: Default::default(), misbehaving: Default::default(), seed };
    let mut sim: Sim<SyncLink> = Sim::new(config);
    let cold = spread(&mut sim, &mut rng, 0);
    for record in 1..=10 {
        spread(&mut sim, &mut rng, record);
    }
    let warm = spread(&mut sim, &mut rng, 11);
    Measurement { cold, warm }
}
