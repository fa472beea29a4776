//! Random scenarios from one seed, and the checks every scenario must pass.
//!
//! A scenario: 3 to 12 members on a random connected graph, random latency, jitter and loss
//! (0 to 5 %), writes to a small set of records (so that members update and delete the same
//! ones concurrently), some expiring within seconds, partitions, churn, and sometimes one
//! misbehaving member writing items signed by an outsider. After ten virtual seconds the
//! network heals: every member comes back, loss stops and every link reconciles once more.
//! Then every honest member must hold the same items, none refused by the policy, and no
//! record may have come back after its deletion.

use std::collections::BTreeSet;

use crate::reconcile::SyncLink;
use crate::rng::Rng;
use crate::sim::{Action, Config, NetConfig, OUTSIDER, Sim, WriteOp};
use crate::store::{Body, MemberId};

/// A random neighbour graph on `n` members: a ring (so it is connected), then random edges
/// until each member has about `min..=max` neighbours (never more than `max`).
pub fn graph(n: u32, min: u32, max: u32, rng: &mut Rng) -> Vec<(MemberId, MemberId)> {
    fn add(a: u32, b: u32, edges: &mut BTreeSet<(u32, u32)>, degree: &mut [u32]) {
        if a != b && edges.insert((a.min(b), a.max(b))) {
            degree[a as usize] += 1;
            degree[b as usize] += 1;
        }
    }
    let mut edges = BTreeSet::new();
    let mut degree = vec![0u32; n as usize];
    if n < 2 {
        return Vec::new();
    }
    for m in 0..n {
        add(m, (m + 1) % n, &mut edges, &mut degree);
    }
    for m in 0..n {
        let target = (min + rng.below(u64::from(max - min + 1)) as u32).min(n - 1);
        for _ in 0..64 {
            if degree[m as usize] >= target {
                break;
            }
            let o = rng.below(u64::from(n)) as u32;
            if o != m && degree[o as usize] < max {
                add(m, o, &mut edges, &mut degree);
            }
        }
    }
    edges.into_iter().collect()
}

/// A scenario: the set-up, the scheduled actions and when the network heals.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The set-up.
    pub config: Config,
    /// What happens when.
    pub actions: Vec<(u64, Action)>,
    /// When everything heals.
    pub heal_at: u64,
}

const SECOND: u64 = 1_000_000;

/// The scenario of `seed`.
pub fn random(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed ^ 0xa076_1d64_78bd_642f);
    let n = 3 + rng.below(10) as u32;
    let edges = graph(n, 2, 4, &mut rng);
    let latency = 1_000 + rng.below(50_000);
    let net = NetConfig {
        latency_micros: latency,
        jitter_micros: rng.below(latency + 1),
        loss_ppm: rng.below(50_001) as u32,
    };
    let misbehaving: BTreeSet<u32> = if rng.below(4) == 0 { [n - 1].into() } else { BTreeSet::new() };
    let heal_at = 10 * SECOND;
    let records = 1 + rng.below(12);
    let mut actions = Vec::new();
    for _ in 0..20 + rng.below(40) {
        let at = rng.below(heal_at);
        let member = rng.below(u64::from(n)) as u32;
        let op = match rng.below(10) {
            0 | 1 => WriteOp::Delete,
            2 | 3 => WriteOp::Put { expires: at + rng.below(3 * SECOND) },
            _ => WriteOp::Put { expires: u64::MAX },
        };
        actions.push((at, Action::Write { member, record: rng.below(records), op }));
    }
    for _ in 0..rng.below(4) {
        let at = rng.below(heal_at);
        let sides = (0..n).map(|_| rng.below(2) as u8).collect();
        actions.push((at, Action::Partition(sides)));
        actions.push((at + rng.below(heal_at - at), Action::Heal));
    }
    for _ in 0..rng.below(4) {
        let at = rng.below(heal_at);
        let member = rng.below(u64::from(n)) as u32;
        actions.push((at, Action::Offline(member)));
        actions.push((at + rng.below(heal_at - at), Action::Online(member)));
    }
    actions.push((heal_at, Action::Heal));
    for m in 0..n {
        actions.push((heal_at, Action::Online(m)));
    }
    actions.push((heal_at, Action::SetLoss(0)));
    actions.push((heal_at, Action::ResyncAll));
    let config = Config { members: n, edges, net, flood: Default::default(), misbehaving, seed };
    Scenario { config, actions, heal_at }
}

/// What a scenario ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The hash of every event processed.
    pub trace_hash: u64,
    /// Live items every honest member holds at the end.
    pub items: usize,
    /// Flood messages sent.
    pub flood_messages: u64,
    /// Refusals reported against the misbehaving member.
    pub reported: u64,
}

/// Runs the scenario of `seed` and checks every rule; the error says which one broke.
pub fn check(seed: u64) -> Result<Outcome, String> {
    let scenario = random(seed);
    let mut sim: Sim<SyncLink> = Sim::new(scenario.config.clone());
    for (at, action) in scenario.actions {
        sim.schedule(at, action);
    }
    let fail = |what: String| Err(format!("seed {seed}: {what}"));
    if !sim.run_until_quiet(scenario.heal_at + 600 * SECOND) {
        return fail("events still pending ten minutes after healing".into());
    }
    if let Some(v) = sim.violations().first() {
        return fail(format!("{} violation(s), first: {v}", sim.violations().len()));
    }
    if sim.stats().decode_errors > 0 {
        return fail(format!("{} flood messages did not decode", sim.stats().decode_errors));
    }
    if let Err(e) = sim.converged() {
        return fail(format!("not converged: {e}"));
    }
    for (m, member) in sim.members().iter().enumerate() {
        if !member.misbehaving()
            && member.store.all().any(|i| Body::decode(&i.body).is_none_or(|b| b.signer == OUTSIDER))
        {
            return fail(format!("member {m} holds an item signed by a non-member"));
        }
    }
    let honest = sim.members().iter().find(|m| !m.misbehaving());
    let reported = scenario.config.misbehaving.iter().map(|m| sim.stats().reported.get(m).copied().unwrap_or(0)).sum();
    Ok(Outcome {
        trace_hash: sim.trace_hash(),
        items: honest.map_or(0, |m| m.store.len()),
        flood_messages: sim.stats().flood_messages,
        reported,
    })
}
