//! Flooding between many presences on loopback: twelve members, each dialling two others (a
//! ring and chords), become ready; records added on several of them reach every member by the
//! flood, and once the eager links have thinned to a tree a record costs each member about one
//! push received. The figures are printed; the bound asserted is on messages, never on time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{Home, home, record};
use peergroup_net::{Presence, PresenceConfig, PresenceEvent};
use peergroup_security::Membership;

const MEMBERS: usize = 12;
const RECORDS: usize = 24;
const WAIT: Duration = Duration::from_secs(30);

fn presence(home: &Home, membership: Membership) -> Presence {
    Presence::start(PresenceConfig {
        listen: common::LOOPBACK.parse().unwrap(),
        identity: home.identity.clone(),
        membership,
        store: home.store.clone(),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_reaches_every_member_by_the_flood_with_about_one_push_each() {
    let creator = home("m0", 0);
    let owner = creator.create_group("many", 1);
    let group = owner.group().clone();
    let mut homes = vec![creator];
    let mut memberships = vec![owner];
    for n in 1..MEMBERS {
        let member = home(&format!("m{n}"), 20 + n);
        let invitation = homes[0].invite(&group, &member, SystemTime::now(), None);
        memberships.push(member.join(&invitation, SystemTime::now()));
        homes.push(member);
    }
    let presences: Vec<Presence> = homes.iter().zip(memberships).map(|(h, m)| presence(h, m)).collect();
    let mut events: Vec<_> = presences.iter().map(Presence::subscribe).collect();
    let addrs: Vec<_> = presences.iter().map(|p| p.local_addr().unwrap()).collect();
    for (n, p) in presences.iter().enumerate() {
        p.dial(addrs[(n + 1) % MEMBERS]);
        p.dial(addrs[(n + 5) % MEMBERS]);
    }
    // Every joined member becomes ready.
    for e in &mut events[1..] {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let event = tokio::time::timeout_at(deadline, e.recv()).await.expect("never ready").unwrap();
            if event == PresenceEvent::Ready {
                break;
            }
        }
    }

    let before: u64 = presences.iter().map(|p| p.flood_stats().pushes_received).sum();
    let started = Instant::now();
    let mut spread = Vec::new();
    for k in 0..RECORDS {
        let from = (k * 5) % MEMBERS;
        let added = Instant::now();
        homes[from].db(&group).add_record(&homes[from].identity, record(k)).unwrap();
        // Every member holds it before the next is added.
        for home in &homes {
            let db = home.db(&group);
            while db.records(None).unwrap().len() <= k {
                assert!(started.elapsed() < WAIT, "record {k} did not reach {}", home.identity.peer_name());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        spread.push(added.elapsed());
    }
    let pushes: u64 = presences.iter().map(|p| p.flood_stats().pushes_received).sum::<u64>() - before;
    let duplicates: u64 = presences.iter().map(|p| p.flood_stats().duplicates).sum();
    let per_member = pushes as f64 / (RECORDS * (MEMBERS - 1)) as f64;
    spread.sort();
    eprintln!(
        "{RECORDS} records on {MEMBERS} members: {per_member:.2} pushes received per member per record \
         ({duplicates} duplicates in all); every member held each record after median {:?}, slowest {:?}",
        spread[RECORDS / 2],
        spread[RECORDS - 1]
    );
    assert!(pushes >= (RECORDS * (MEMBERS - 1)) as u64 / 2, "the flood, not reconciliation, carried the records");
    assert!(per_member < 1.5, "{per_member:.2} pushes per member per record: the eager links did not thin out");
}
