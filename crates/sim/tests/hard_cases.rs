//! The hard cases of replication, each scripted on the simulator.

use std::collections::BTreeSet;

use peergroup_sim::sim::OUTSIDER;
use peergroup_sim::store::{Body, make_item};
use peergroup_sim::{Action, Config, NetConfig, Sim, SyncLink, WriteOp};
use peergroup_sync::{Item, ItemKey};

const MS: u64 = 1_000;
const S: u64 = 1_000_000;

/// Six members on a ring with chords; member ids 0..6.
fn sim(misbehaving: &[u32], loss_ppm: u32, seed: u64) -> Sim<SyncLink> {
    let edges = vec![(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3), (1, 4)];
    let net = NetConfig { latency_micros: 10 * MS, jitter_micros: 5 * MS, loss_ppm };
    let misbehaving = misbehaving.iter().copied().collect();
    Sim::new(Config { members: 6, edges, net, flood: Default::default(), misbehaving, seed })
}

fn key(record: u64) -> ItemKey {
    make_item(record, 1, false, 0, 0, &Body { signer: 0, expires: 0, payload: 0 }).key()
}

fn put(member: u32, record: u64) -> Action {
    Action::Write { member, record, op: WriteOp::Put { expires: u64::MAX } }
}

fn held(sim: &Sim<SyncLink>, member: usize, record: u64) -> Option<Item> {
    sim.members()[member].store.get(&key(record)).cloned()
}

fn settle(sim: &mut Sim<SyncLink>) {
    assert!(sim.run_until_quiet(sim.now() + 600 * S), "the simulation settles");
    assert_eq!(sim.violations(), &[] as &[String]);
    if let Err(e) = sim.converged() {
        panic!("every member should hold the same items: {e}");
    }
}

/// Sides: {0, 1, 2} and {3, 4, 5}.
fn split() -> Action {
    Action::Partition(vec![0, 0, 0, 1, 1, 1])
}

#[test]
fn concurrent_updates_on_two_partitions_converge_to_the_greater_version() {
    for seed in 0..10 {
        let mut sim = sim(&[], 0, seed);
        sim.schedule(0, put(0, 1));
        settle(&mut sim);
        sim.schedule(sim.now(), split());
        sim.schedule(sim.now() + S, put(1, 1));
        sim.schedule(sim.now() + S, put(4, 1));
        sim.run_until(sim.now() + 2 * S);
        let (a, b) = (held(&sim, 0, 1).unwrap(), held(&sim, 5, 1).unwrap());
        assert_eq!((a.stamp.version, b.stamp.version), (2, 2), "each side updated it once");
        assert_ne!(a, b, "the two sides differ while partitioned");
        sim.schedule(sim.now(), Action::Heal);
        settle(&mut sim);
        let winner = if a.stamp > b.stamp { a } else { b };
        for m in 0..6 {
            assert_eq!(held(&sim, m, 1).as_ref(), Some(&winner), "seed {seed}, member {m}");
        }
    }
}

#[test]
fn a_delete_beats_a_concurrent_update_with_a_higher_version() {
    let mut sim = sim(&[], 0, 1);
    sim.schedule(0, put(0, 1));
    settle(&mut sim);
    sim.schedule(sim.now(), split());
    sim.schedule(sim.now() + S, Action::Write { member: 0, record: 1, op: WriteOp::Delete });
    for (i, t) in [2, 3, 4].into_iter().enumerate() {
        sim.schedule(sim.now() + t * S, put(3 + i as u32, 1));
    }
    sim.run_until(sim.now() + 5 * S);
    assert_eq!(held(&sim, 5, 1).unwrap().stamp.version, 4, "the other side went on updating");
    sim.schedule(sim.now(), Action::Heal);
    settle(&mut sim);
    for m in 0..6 {
        let item = held(&sim, m, 1).unwrap();
        assert!(item.stamp.deleted, "member {m} holds the tombstone");
        assert_eq!(item.stamp.version, 2);
    }
}

#[test]
fn a_late_old_version_never_resurrects_a_deleted_record() {
    let mut sim = sim(&[], 0, 2);
    sim.schedule(0, put(0, 1));
    settle(&mut sim);
    // Member 5 leaves holding version 1; the others update, then delete.
    sim.schedule(sim.now(), Action::Offline(5));
    sim.schedule(sim.now() + S, put(2, 1));
    sim.schedule(sim.now() + 2 * S, Action::Write { member: 3, record: 1, op: WriteOp::Delete });
    sim.run_until(sim.now() + 3 * S);
    assert_eq!(held(&sim, 5, 1).unwrap().stamp.version, 1);
    // It comes back and offers its old version to everyone (and updates it once more first).
    sim.schedule(sim.now(), put(5, 1));
    sim.schedule(sim.now() + MS, Action::Online(5));
    settle(&mut sim);
    for m in 0..6 {
        assert!(held(&sim, m, 1).unwrap().stamp.deleted, "member {m}");
    }
}

#[test]
fn an_item_expiring_while_partitioned_is_dropped_everywhere_and_never_taken_again() {
    let mut sim = sim(&[], 0, 3);
    let expires = 3 * S;
    sim.schedule(0, Action::Write { member: 0, record: 1, op: WriteOp::Put { expires } });
    sim.schedule(0, put(0, 2));
    sim.run_until(S);
    for m in 0..6 {
        assert!(held(&sim, m, 1).is_some(), "member {m} has it before the split");
    }
    let item = held(&sim, 0, 1).unwrap();
    sim.schedule(S, split());
    sim.schedule(S, Action::Offline(4));
    sim.run_until(5 * S);
    sim.schedule(5 * S, Action::Heal);
    sim.schedule(5 * S, Action::Online(4));
    settle(&mut sim);
    for m in 0..6 {
        assert!(held(&sim, m, 1).is_none(), "member {m} dropped the expired item");
        assert!(held(&sim, m, 2).is_some(), "member {m} keeps the item without expiry");
    }
    let mut store = sim.members()[4].store.clone();
    assert_eq!(store.apply(&item, sim.now()), peergroup_sync::flood::Verdict::Stale, "never taken again");
    assert!(store.get(&item.key()).is_none());
}

#[test]
fn a_flood_of_items_signed_by_a_non_member_is_dropped_counted_and_never_stored() {
    let mut sim = sim(&[3], 20_000, 4);
    sim.schedule(0, put(0, 1));
    for r in 0..200 {
        sim.schedule(r * MS, Action::Write { member: 3, record: 1_000 + r, op: WriteOp::Put { expires: u64::MAX } });
    }
    sim.schedule(S, Action::ResyncAll);
    sim.schedule(2 * S, Action::Offline(3));
    sim.schedule(3 * S, Action::Online(3));
    settle(&mut sim);
    assert_eq!(sim.members()[3].store.len(), 201, "the misbehaving member holds its own items");
    for (m, member) in sim.members().iter().enumerate().filter(|(m, _)| *m != 3) {
        let signers: BTreeSet<u32> = member.store.live().map(|(_, b)| b.signer).collect();
        assert!(!signers.contains(&OUTSIDER), "member {m} stored an outsider's item");
        assert_eq!(member.store.len(), 1, "member {m} holds only the honest item");
    }
    let reported = sim.stats().reported.get(&3).copied().unwrap_or(0);
    assert!(reported >= 200, "its neighbours reported it ({reported} refusals)");
    assert_eq!(sim.stats().reported.len(), 1, "nobody else was reported");
    // The honest members never passed the refused items on: only member 3 pushed them, so
    // every refusal names it, and honest stores refused only what their link with 3 carried.
    let refused: u64 = (0..6).filter(|&m| m != 3).map(|m| sim.members()[m].store.refused).sum();
    assert_eq!(refused, reported);
}

#[test]
fn a_new_item_costs_each_member_about_one_receipt_once_the_tree_has_formed() {
    let mut sim = sim(&[], 0, 5);
    for r in 0..10 {
        sim.schedule(r * S, put((r % 6) as u32, r));
    }
    settle(&mut sim);
    let pushes: u64 = sim.members().iter().map(|m| m.flood.stats().pushes_received).sum();
    sim.schedule(sim.now(), put(2, 99));
    settle(&mut sim);
    let after: u64 = sim.members().iter().map(|m| m.flood.stats().pushes_received).sum();
    assert_eq!(after - pushes, 5, "five receipts for five other members");
}
