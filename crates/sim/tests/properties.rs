//! Property tests over random seeds (a bounded number here; `cargo run -p peergroup-sim
//! --release -- seeds 10000` runs many more): every honest member converges to the same set,
//! no item the policy refuses is ever stored, no deleted record comes back, and a seed
//! reproduces its run exactly.

use peergroup_sim::scenario::{check, random};

/// Seeds checked in every test run (about 10 s in a debug build).
const SEEDS: u64 = 150;

#[test]
fn every_seed_converges_and_keeps_the_store_rules() {
    let failures: Vec<String> = (0..SEEDS).filter_map(|seed| check(seed).err()).collect();
    assert!(failures.is_empty(), "{} of {SEEDS} seeds failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn a_seed_reproduces_its_run_exactly() {
    for seed in [0, 7, 12_345] {
        let (a, b) = (check(seed), check(seed));
        assert_eq!(a, b, "seed {seed}");
    }
    let hashes: std::collections::BTreeSet<u64> =
        (0..20).filter_map(|seed| check(seed).ok()).map(|o| o.trace_hash).collect();
    assert_eq!(hashes.len(), 20, "twenty seeds, twenty different runs");
}

#[test]
fn the_scenarios_exercise_what_they_claim() {
    // Not vacuous: across the bounded seeds there are misbehaving members reported, items that
    // survive, partitions and losses.
    let outcomes: Vec<_> = (0..40).filter_map(|seed| check(seed).ok()).collect();
    assert!(outcomes.iter().any(|o| o.reported > 0), "some run has a reported misbehaving member");
    assert!(outcomes.iter().all(|o| o.flood_messages > 0));
    assert!(outcomes.iter().filter(|o| o.items > 0).count() > 20);
    let scenarios: Vec<_> = (0..40).map(random).collect();
    assert!(scenarios.iter().any(|s| s.config.net.loss_ppm > 20_000));
    assert!(scenarios.iter().any(|s| s.actions.iter().any(|(_, a)| matches!(a, peergroup_sim::Action::Partition(_)))));
}
