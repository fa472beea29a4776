//! proptest: random issuer trees (depth ≤ 30, random roles and validity windows, keys drawn
//! from a small pool so that they repeat): chain validation agrees with a reference model of
//! the rules, for the chain of every node and a random time.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod security_support;

use peergroup_security::{ChainFault, GroupCertificate, MAX_CHAIN_LEN, Role, SecurityError, validate_chain};
use proptest::prelude::*;
use security_support::{BASE, Keyed, gmc, grc, keyed, t};

const POOL: usize = 8;
const MAX_DEPTH: usize = 30;

#[derive(Debug, Clone)]
struct NodeSpec {
    parent: usize,
    key: usize,
    roles: Vec<Role>,
    /// Offsets of the window from the parent's: start moves by `nb`, end by `-na`.
    nb: i64,
    na: i64,
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    prop_oneof![
        1 => Just(vec![]),
        2 => Just(vec![Role::Member]),
        4 => Just(vec![Role::Administrator]),
        2 => Just(vec![Role::Administrator, Role::Member]),
    ]
}

fn node(max_parent: usize) -> impl Strategy<Value = NodeSpec> {
    (0..max_parent, 0..POOL, roles(), -8i64..100, -8i64..100).prop_map(|(parent, key, roles, nb, na)| NodeSpec {
        parent,
        key,
        roles,
        nb,
        na,
    })
}

/// A tree: node 0 is the root (key `root_key`), node i > 0 has a parent < i. Depth is capped
/// by re-parenting too-deep nodes to the root.
fn tree() -> impl Strategy<Value = (usize, Vec<NodeSpec>, i64)> {
    (0..POOL, prop::collection::vec(node(8000), 1..40), -100i64..2100).prop_map(|(root_key, mut nodes, now)| {
        let mut depth = vec![0usize];
        for (i, n) in nodes.iter_mut().enumerate() {
            // Seven nodes in eight extend the newest one, so that deep chains (past 24) are
            // common; the others branch off anywhere.
            n.parent = if n.parent % 8 != 0 { i } else { (n.parent / 8) % (i + 1) };
            if depth[n.parent] + 1 > MAX_DEPTH {
                n.parent = 0;
            }
            depth.push(depth[n.parent] + 1);
        }
        (root_key, nodes, now)
    })
}

/// What the rules say about a chain given as (key, roles, nb, na) from the root on.
#[derive(Debug, PartialEq, Eq)]
enum Expected {
    Valid,
    TooLong,
    Circular { index: usize, earlier: usize },
    NoRoles(usize),
    RoleNotIssuable(usize),
    NotNested(usize),
    Time(usize),
}

fn model(path: &[(usize, Vec<Role>, i64, i64)], now: i64) -> Expected {
    if path.len() > MAX_CHAIN_LEN {
        return Expected::TooLong;
    }
    for i in 1..path.len() {
        let (key, roles, nb, na) = &path[i];
        if let Some(earlier) = path[..i].iter().position(|(k, ..)| k == key) {
            return Expected::Circular { index: i, earlier };
        }
        if roles.is_empty() {
            return Expected::NoRoles(i);
        }
        let issuer_is_root = i == 1;
        let issuer_admin = path[i - 1].1.contains(&Role::Administrator);
        if !issuer_is_root && !issuer_admin {
            return Expected::RoleNotIssuable(i);
        }
        if *nb < path[i - 1].2 || *na > path[i - 1].3 {
            return Expected::NotNested(i);
        }
    }
    match path.iter().position(|(_, _, nb, na)| now < *nb || now > *na) {
        Some(i) => Expected::Time(i),
        None => Expected::Valid,
    }
}

fn observed(r: peergroup_security::Result<peergroup_security::ValidatedChain>) -> Expected {
    match r {
        Ok(_) => Expected::Valid,
        Err(SecurityError::ChainTooLong { .. }) => Expected::TooLong,
        Err(SecurityError::CircularChain { index, earlier }) => Expected::Circular { index, earlier },
        Err(SecurityError::ChainNotTrusted { index, fault: ChainFault::NoRoles }) => Expected::NoRoles(index),
        Err(SecurityError::ChainNotTrusted { index, fault: ChainFault::RoleNotIssuable { .. } }) => {
            Expected::RoleNotIssuable(index)
        }
        Err(SecurityError::ChainNotTrusted { index, fault: ChainFault::ValidityNotNested { .. } }) => {
            Expected::NotNested(index)
        }
        Err(SecurityError::InvalidTimePeriod { what, .. }) => {
            let index = what.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(usize::MAX);
            Expected::Time(index)
        }
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn validation_agrees_with_the_model((root_key, nodes, now) in tree()) {
        let pool: Vec<Keyed> = (0..POOL).map(|n| keyed(100 + n)).collect();
        // Node 0 is the root; nodes[i] is node i + 1.
        let root = grc(&pool[root_key], BASE, BASE + 2000);
        let mut certs: Vec<GroupCertificate> = vec![root];
        let mut parents = vec![usize::MAX];
        let mut specs: Vec<(usize, Vec<Role>, i64, i64)> = vec![(root_key, vec![], BASE, BASE + 2000)];
        for n in &nodes {
            let p = n.parent;
            let (nb, na) = (specs[p].2 + n.nb, specs[p].3 - n.na);
            let issuer_key = &pool[specs[p].0];
            let cert = gmc(&certs[p], issuer_key, &pool[n.key], &n.roles, nb, na);
            certs.push(cert);
            parents.push(p);
            specs.push((n.key, n.roles.clone(), nb, na));
        }
        for leaf in 0..certs.len() {
            let mut path = vec![leaf];
            while path[path.len() - 1] != 0 {
                path.push(parents[path[path.len() - 1]]);
            }
            path.reverse();
            let ders: Vec<&[u8]> = path.iter().map(|&i| certs[i].der.as_slice()).collect();
            let model_path: Vec<_> = path.iter().map(|&i| specs[i].clone()).collect();
            let expected = model(&model_path, BASE + now);
            let got = observed(validate_chain(&ders, Some(&certs[0].group), Some(t(BASE + now))));
            prop_assert_eq!(got, expected, "path {:?}", path);
        }
    }
}
