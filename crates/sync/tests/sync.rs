//! Whole syncs between two in-memory members: reconciliation finds exactly the symmetric
//! difference, versions resolve to the greater stamp, nothing superseded is sent, and crafted
//! messages are refused or bounded.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use peergroup_security::body_digest;
use peergroup_sync::link::{MAX_REFUSALS, Misbehaviour};
use peergroup_sync::reconcile::{self, Bound, Fingerprint, MAX_ENTRIES, MAX_RANGES, Mode, Range, Reconcile, SetIndex};
use peergroup_sync::wire::{self, Message};
use peergroup_sync::{ItemKey, ItemKind, Link, LinkError, Output, Role};
use proptest::prelude::*;
use support::{Member, item, member_entry, sync, sync_with};

/// Where an item is held: only by A, only by B, by both the same, by both differently
/// (A's version, B's version, whether each is a tombstone).
#[derive(Clone, Debug)]
enum Place {
    A(u32),
    B(u32),
    Same(u32),
    Differ(u32, bool, u32, bool),
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        (1u32..5).prop_map(Place::A),
        (1u32..5).prop_map(Place::B),
        (1u32..5).prop_map(Place::Same),
        (1u32..5, any::<bool>(), 1u32..5, any::<bool>())
            .prop_filter("another version", |(a, da, b, db)| (a, da) != (b, db))
            .prop_map(|(a, da, b, db)| Place::Differ(a, da, b, db)),
    ]
}

fn members(places: &[Place]) -> (Member, Member) {
    let (mut a, mut b) = (Member::default(), Member::default());
    for (n, p) in places.iter().enumerate() {
        let n = n as u32;
        match *p {
            Place::A(v) => {
                a.put(item(n, v, false));
            }
            Place::B(v) => {
                b.put(item(n, v, false));
            }
            Place::Same(v) => {
                a.put(item(n, v, false));
                b.put(item(n, v, false));
            }
            Place::Differ(va, da, vb, db) => {
                a.put(item(n, va, da));
                b.put(item(n, vb, db));
            }
        }
    }
    (a, b)
}

fn set(keys: &[ItemKey]) -> BTreeSet<ItemKey> {
    keys.iter().copied().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Both sides learn exactly the symmetric difference, each part in its place.
    #[test]
    fn both_sides_learn_the_symmetric_difference(places in prop::collection::vec(place(), 0..600)) {
        let (a, b) = members(&places);
        let run = reconcile::run_local(&a.index, &b.index);
        let key = |n: usize| item(n as u32, 1, false).key();
        let only = |f: fn(&Place) -> bool| -> BTreeSet<ItemKey> {
            places.iter().enumerate().filter(|(_, p)| f(p)).map(|(n, _)| key(n)).collect()
        };
        let only_a = only(|p| matches!(p, Place::A(_)));
        let only_b = only(|p| matches!(p, Place::B(_)));
        let differ = only(|p| matches!(p, Place::Differ(..)));
        prop_assert_eq!(set(&run.a.peer_lacks), only_a.clone());
        prop_assert_eq!(set(&run.a.we_lack), only_b.clone());
        prop_assert_eq!(set(&run.a.differ), differ.clone());
        prop_assert_eq!(set(&run.b.peer_lacks), only_b);
        prop_assert_eq!(set(&run.b.we_lack), only_a);
        prop_assert_eq!(set(&run.b.differ), differ);
    }

    /// After one sync both hold, for every key, the greater version of the two; no side ever
    /// received a version it already superseded; a tombstone is never undone.
    #[test]
    fn versions_resolve_to_the_greater_stamp(places in prop::collection::vec(place(), 0..400)) {
        let (mut a, mut b) = members(&places);
        let mut expected = BTreeMap::new();
        for m in [&a, &b] {
            for (k, i) in &m.items {
                let e = expected.entry(*k).or_insert_with(|| i.stamp.clone());
                if i.stamp.supersedes(e) {
                    *e = i.stamp.clone();
                }
            }
        }
        sync(&mut a, &mut b).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for m in [&a, &b] {
            let held: BTreeMap<_, _> = m.items.iter().map(|(k, i)| (*k, i.stamp.clone())).collect();
            prop_assert_eq!(&held, &expected);
            prop_assert_eq!(m.useless, 0, "a side received a version it superseded");
        }
        prop_assert_eq!(a.index.total_fingerprint(), b.index.total_fingerprint());
    }
}

#[test]
fn equal_sets_take_one_round_trip_and_a_few_bytes() {
    let index = SetIndex::from_entries((0..100_000u32).map(|n| item(n, 1, false).entry()));
    let run = reconcile::run_local(&index, &index.clone());
    assert_eq!(run.messages, 2);
    assert!(run.bytes < 64, "{} bytes", run.bytes);
    assert!(run.a.peer_lacks.is_empty() && run.b.we_lack.is_empty() && run.a.differ.is_empty());
}

#[test]
fn a_one_sided_difference_fits_the_message_bounds() {
    // 100,000 entries against none: lists in many messages, each within its bounds.
    let big = SetIndex::from_entries((0..100_000u32).map(|n| item(n, 1, false).entry()));
    let empty = SetIndex::new();
    for (a, b) in [(&big, &empty), (&empty, &big)] {
        let mut msg = reconcile::initial(a);
        let mut side_b = true;
        let mut learned = 0;
        let mut messages = 0;
        loop {
            messages += 1;
            assert!(msg.ranges.len() <= MAX_RANGES && msg.entry_count() <= MAX_ENTRIES);
            let bytes = wire::encode(&Message::Reconcile(msg.clone()));
            assert_eq!(wire::decode(&bytes), Ok(Message::Reconcile(msg.clone())));
            let (reply, l) = reconcile::answer(if side_b { b } else { a }, &msg);
            learned += l.peer_lacks.len();
            match reply {
                Some(r) => msg = r,
                None => break,
            }
            side_b = !side_b;
        }
        assert_eq!(learned, 100_000);
        assert!(messages < 64, "{messages} messages");
    }
}

#[test]
fn a_late_change_is_found_by_the_next_sync() {
    let (mut a, mut b) = (Member::default(), Member::default());
    for n in 0..1000 {
        a.put(item(n, 1, false));
        b.put(item(n, 1, false));
    }
    b.put(item(7, 2, false));
    a.put(item(8, 3, true));
    let run = sync(&mut a, &mut b).unwrap();
    assert_eq!(run.sent_items, [1, 1]);
    assert_eq!(a.items[&item(7, 1, false).key()].stamp.version, 2);
    assert!(b.items[&item(8, 1, false).key()].stamp.deleted);
    // Nothing left: the next sync sends no item.
    let run = sync(&mut a, &mut b).unwrap();
    assert_eq!(run.sent_items, [0, 0]);
}

#[test]
fn a_crafted_reconcile_message_is_refused_and_closes_the_link() {
    let member = Member::default();
    let mut link = Link::new(Role::Responder, &member);
    let mut bytes = vec![wire::VERSION, wire::kind::RECONCILE];
    bytes.extend_from_slice(&10_000u16.to_be_bytes());
    for i in 0..10_000u32 {
        bytes.extend_from_slice(&[3, (i >> 8) as u8, i as u8, 1]);
        bytes.push(1);
        bytes.extend_from_slice(&[0; 16]);
    }
    let err = link.handle_bytes(&member, &bytes).unwrap_err();
    assert!(
        matches!(err, LinkError::Peer(Misbehaviour::Wire(wire::WireError::TooMany { what: "ranges", .. }))),
        "{err}"
    );
    assert_eq!(link.poll(), None);
    assert_eq!(link.handle(&member, Message::Done), Err(LinkError::Closed));
}

#[test]
fn the_largest_valid_message_costs_a_bounded_answer() {
    // MAX_RANGES fingerprints that all differ, against 200,000 entries: the answer stays
    // within the bounds (lists up to the budget, then one fingerprint for the rest).
    let index = SetIndex::from_entries((0..200_000u32).map(|n| item(n, 1, false).entry()));
    let mut ranges = Vec::new();
    for i in 1..MAX_RANGES {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&((i as u32) << 19).to_be_bytes());
        ranges.push(Range { upper: Bound::Key(ItemKey(k)), mode: Mode::Fingerprint(Fingerprint([0xaa; 16])) });
    }
    ranges.push(Range { upper: Bound::End, mode: Mode::Fingerprint(Fingerprint([0xaa; 16])) });
    let msg = Reconcile { ranges };
    let bytes = wire::encode(&Message::Reconcile(msg.clone()));
    assert_eq!(wire::decode(&bytes), Ok(Message::Reconcile(msg.clone())));
    let (reply, _) = reconcile::answer(&index, &msg);
    let reply = reply.unwrap();
    assert!(reply.ranges.len() <= MAX_RANGES);
    assert!(reply.entry_count() <= MAX_ENTRIES);
    assert_eq!(reply.ranges.last().unwrap().upper, Bound::End);
    assert!(matches!(reply.ranges.last().unwrap().mode, Mode::Fingerprint(_)), "the rest is deferred");
}

#[test]
fn an_item_that_does_not_match_its_digest_ends_the_link() {
    let member = Member::default();
    let mut link = Link::new(Role::Responder, &member);
    let mut bad = item(1, 1, false);
    bad.body.push(0);
    let err = link.handle_bytes(&member, &wire::encode(&Message::Items(vec![bad.clone()]))).unwrap_err();
    assert_eq!(err, LinkError::Peer(Misbehaviour::DigestMismatch { key: bad.key() }));
}

#[test]
fn refusals_past_the_limit_end_the_link() {
    let member = Member::default();
    let mut link = Link::new(Role::Responder, &member);
    let good = item(1, 1, false);
    assert_eq!(good.stamp.digest, body_digest(&good.body));
    link.handle(&member, Message::Items(vec![good])).unwrap();
    assert!(matches!(link.poll(), Some(Output::Apply(_))));
    link.refused(MAX_REFUSALS).unwrap();
    assert_eq!(link.refused(1), Err(LinkError::Peer(Misbehaviour::Refused { refused: MAX_REFUSALS + 1 })));
    assert_eq!(link.refused(0), Err(LinkError::Closed));
}

#[test]
fn reconciling_after_the_end_is_misbehaviour() {
    let (mut a, mut b) = (Member::default(), Member::default());
    a.put(item(1, 1, false));
    b.put(item(1, 1, false));
    let mut link = Link::new(Role::Responder, &b);
    let first = reconcile::initial(&a.index);
    link.handle(&b, Message::Reconcile(first.clone())).unwrap();
    // The answer needs no answer: reconciliation ended on this side.
    let Some(Output::Send(Message::Reconcile(answer))) = link.poll() else { panic!("an answer") };
    assert!(!answer.needs_answer());
    assert_eq!(link.poll(), Some(Output::Send(Message::Done)));
    assert_eq!(link.handle(&b, Message::Reconcile(first)), Err(LinkError::Peer(Misbehaviour::LateReconcile)));
}

#[test]
fn member_entries_come_before_the_records_they_sign() {
    // Reconciliation finds keys range by range: here `a` holds many items in the lower half of
    // the key space only, so the records `b` holds in the lower half are found rounds before
    // the member entries, all in the upper half. The receiver still gets every member entry
    // first (it checks each record's signer).
    let low = |i: &peergroup_sync::Item| i.key().0[0] < 0x80;
    let (mut a, mut b) = (Member::default(), Member::default());
    for i in (1_000_000..).map(|n| item(n, 1, false)).filter(low).take(20_000) {
        a.put(i);
    }
    for n in 0..10_000 {
        b.put(item(n, 1, false));
    }
    for i in (0..).map(member_entry).filter(|i| !low(i)).take(5) {
        b.put(i);
    }
    let run = sync(&mut a, &mut b).unwrap();
    let received = &run.received[0];
    assert_eq!(received.len(), 10_005);
    let first_record = received.iter().position(|k| *k == ItemKind::Record).unwrap();
    assert_eq!(first_record, 5, "{:?}", &received[..10]);
    assert_eq!(a.items.len(), 30_005);
}

#[test]
fn a_key_is_acted_on_once() {
    // A stamp this side did not wait for (its set changed): answered each time, but the item
    // is asked for once.
    let mut m = Member::default();
    m.put(item(1, 2, false));
    let mut link = Link::new(Role::Responder, &m);
    // Reconciled first (equal sets): records are asked for only after reconciliation.
    link.handle(&m, Message::Reconcile(reconcile::initial(&m.index))).unwrap();
    while link.poll().is_some() {}
    let theirs =
        Message::Stamps(vec![wire::StampEntry { key: item(1, 1, false).key(), stamp: Some(item(1, 1, false).stamp) }]);
    link.handle(&m, theirs.clone()).unwrap();
    let first: Vec<_> = std::iter::from_fn(|| link.poll()).collect();
    assert!(
        matches!(&first[..], [Output::Send(Message::Stamps(s)), Output::NeedItems(k)] if s.len() == 1 && k.len() == 1),
        "{first:?}"
    );
    link.handle(&m, theirs).unwrap();
    let second: Vec<_> = std::iter::from_fn(|| link.poll()).collect();
    assert!(matches!(&second[..], [Output::Send(Message::Stamps(_))]), "{second:?}");
}

#[test]
fn a_set_changing_during_the_sync_never_stalls_it() {
    // Whatever message the change comes before, both links complete, nobody misbehaves, and a
    // second sync leaves both sides equal.
    for at in 0..12 {
        let (mut a, mut b) = (Member::default(), Member::default());
        for n in 0..300 {
            a.put(item(n, 1, false));
            if n % 7 != 0 {
                b.put(item(n, if n % 11 == 0 { 2 } else { 1 }, false));
            }
        }
        sync_with(&mut a, &mut b, |n, members| {
            if n == at {
                // Another member's changes reach both sides in the middle of this sync.
                for k in [3, 5, 14, 22, 33] {
                    members[0].put(item(k, 5, false));
                    members[1].put(item(k + 1, 6, k % 2 == 0));
                }
            }
        })
        .unwrap_or_else(|e| panic!("change before message {at}: {e}"));
        sync(&mut a, &mut b).unwrap();
        assert_eq!(a.index.total_fingerprint(), b.index.total_fingerprint(), "change before message {at}");
    }
}
