//! Property tests: random operations through three handles on one database against an
//! in-memory model, and indexed search against the naive evaluator.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use peergroup_state::{
    Attribute, AttributeValue, Attributes, Change, GroupDb, Record, RecordUpdate, SearchQuery, StateError, Timestamp,
};
use proptest::prelude::*;
use uuid::Uuid;

#[derive(Debug, Clone)]
enum Op {
    Add {
        handle: usize,
        kind: bool,
        n: i64,
        s: String,
        data: Vec<u8>,
    },
    Update {
        handle: usize,
        pick: usize,
        n: i64,
        data: Vec<u8>,
        later: bool,
    },
    Delete {
        handle: usize,
        pick: usize,
    },
    Get {
        handle: usize,
        pick: usize,
    },
    Enum {
        handle: usize,
        kind: Option<bool>,
    },
    Rename {
        handle: usize,
        name: String,
    },
    /// A search on one attribute: the attribute index must follow adds, updates and deletes.
    Search {
        handle: usize,
        by_int: bool,
        n: i64,
        s: String,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let h = 0..3usize;
    prop_oneof![
        4 => (h.clone(), any::<bool>(), -3..3i64, "[ab]{0,3}", proptest::collection::vec(any::<u8>(), 0..16))
            .prop_map(|(handle, kind, n, s, data)| Op::Add { handle, kind, n, s, data }),
        3 => (h.clone(), any::<usize>(), -3..3i64, proptest::collection::vec(any::<u8>(), 0..16), any::<bool>())
            .prop_map(|(handle, pick, n, data, later)| Op::Update { handle, pick, n, data, later }),
        2 => (h.clone(), any::<usize>()).prop_map(|(handle, pick)| Op::Delete { handle, pick }),
        2 => (h.clone(), any::<usize>()).prop_map(|(handle, pick)| Op::Get { handle, pick }),
        1 => (h.clone(), proptest::option::of(any::<bool>())).prop_map(|(handle, kind)| Op::Enum { handle, kind }),
        1 => (h.clone(), "[A-Za-z ]{1,12}").prop_map(|(handle, name)| Op::Rename { handle, name }),
        2 => (h, any::<bool>(), -3..3i64, "[abu]{0,2}")
            .prop_map(|(handle, by_int, n, s)| Op::Search { handle, by_int, n, s }),
    ]
}

#[derive(Debug, Clone, PartialEq)]
struct Model {
    record_type: Uuid,
    attributes: Attributes,
    data: Vec<u8>,
    version: u32,
    expires: Timestamp,
    deleted: bool,
}

fn attrs(n: i64, s: &str) -> Attributes {
    Attributes::new(vec![Attribute::int("n", n), Attribute::string("s", s)]).unwrap()
}

fn check(rec: &Record, m: &Model) {
    assert_eq!(
        (rec.record_type, &rec.attributes, &rec.data, rec.version, rec.expires),
        (m.record_type, &m.attributes, &m.data, m.version, m.expires)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn three_handles_agree_with_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        let s = setup();
        let handles: Vec<GroupDb> = (0..3).map(|_| s.store.open(&s.group).unwrap()).collect();
        let mut watcher = handles[2].watch().unwrap();
        let mut model: BTreeMap<Uuid, Model> = BTreeMap::new();
        let mut order: Vec<Uuid> = Vec::new();
        let mut changes: Vec<Change> = Vec::new();
        let mut friendly = "Test group".to_owned();
        for op in ops {
            match op {
                Op::Add { handle, kind, n, s: text, data } => {
                    let t = if kind { TYPE_A } else { TYPE_B };
                    let rec = handles[handle].add_record(&s.alice, new_record(t, attrs(n, &text), &data)).unwrap();
                    let m = Model { record_type: t, attributes: attrs(n, &text), data, version: 1, expires: rec.expires, deleted: false };
                    check(&rec, &m);
                    model.insert(rec.id, m);
                    order.push(rec.id);
                    changes.push(Change::RecordAdded { id: rec.id, record_type: t });
                }
                Op::Update { handle, pick, n, data, later } => {
                    if order.is_empty() { continue; }
                    let id = order[pick % order.len()];
                    let m = model.get_mut(&id).unwrap();
                    let expires = if later { m.expires.saturating_add(Duration::from_secs(1)) } else {
                        Timestamp::from_micros(m.expires.as_micros() - 1)
                    };
                    let result = handles[handle].update_record(&s.alice, id, RecordUpdate { attributes: attrs(n, "u"), expires, data: data.clone() });
                    match (m.deleted, later, result) {
                        (true, _, Err(StateError::RecordNotFound { .. })) => {}
                        (false, false, Err(StateError::InvalidRecordExpiration { .. })) => {}
                        (false, true, Ok(rec)) => {
                            m.attributes = attrs(n, "u");
                            m.data = data;
                            m.version += 1;
                            m.expires = expires;
                            check(&rec, m);
                            changes.push(Change::RecordUpdated { id, record_type: m.record_type });
                        }
                        (deleted, later, other) => panic!("update deleted={deleted} later={later}: {other:?}"),
                    }
                }
                Op::Delete { handle, pick } => {
                    if order.is_empty() { continue; }
                    let id = order[pick % order.len()];
                    let m = model.get_mut(&id).unwrap();
                    match (m.deleted, handles[handle].delete_record(&s.alice, id)) {
                        (true, Err(StateError::RecordNotFound { .. })) => {}
                        (false, Ok(())) => {
                            m.deleted = true;
                            m.version += 1;
                            changes.push(Change::RecordDeleted { id, record_type: m.record_type });
                        }
                        (deleted, other) => panic!("delete deleted={deleted}: {other:?}"),
                    }
                }
                Op::Get { handle, pick } => {
                    if order.is_empty() { continue; }
                    let id = order[pick % order.len()];
                    let m = &model[&id];
                    match (m.deleted, handles[handle].record(id)) {
                        (true, Err(StateError::RecordNotFound { .. })) => {}
                        (false, Ok(rec)) => check(&rec, m),
                        (deleted, other) => panic!("get deleted={deleted}: {other:?}"),
                    }
                    let tomb = handles[handle].record_or_tombstone(id).unwrap().unwrap();
                    prop_assert_eq!(tomb.version, m.version);
                    prop_assert_eq!(tomb.is_deleted(), m.deleted);
                }
                Op::Enum { handle, kind } => {
                    let t = kind.map(|k| if k { TYPE_A } else { TYPE_B });
                    let got: Vec<(Uuid, u32)> = handles[handle].records(t).unwrap().iter().map(|r| (r.id, r.version)).collect();
                    let want: Vec<(Uuid, u32)> = order.iter()
                        .filter(|id| !model[id].deleted && t.is_none_or(|t| model[id].record_type == t))
                        .map(|id| (*id, model[id].version)).collect();
                    prop_assert_eq!(got, want);
                }
                Op::Search { handle, by_int, n, s: text } => {
                    let (query, want) = if by_int {
                        (format!(r#"<peersearch><clause attrib="n" type="int">{n}</clause></peersearch>"#), Attribute::int("n", n))
                    } else {
                        (format!(r#"<peersearch><clause attrib="s" type="string">{text}</clause></peersearch>"#), Attribute::string("s", &text))
                    };
                    let got: Vec<Uuid> = handles[handle].search(&query).unwrap().iter().map(|r| r.id).collect();
                    let expected: Vec<Uuid> = order.iter()
                        .filter(|id| !model[id].deleted && model[id].attributes.iter().any(|a| *a == want))
                        .copied().collect();
                    prop_assert_eq!(got, expected, "query {}", query);
                }
                Op::Rename { handle, name } => {
                    let mut props = handles[handle].properties().unwrap();
                    props.friendly_name = name.clone();
                    handles[handle].set_properties(&s.alice, &props).unwrap();
                    friendly = name;
                    changes.push(Change::PropertiesChanged);
                }
            }
        }
        for h in &handles {
            prop_assert_eq!(&h.properties().unwrap().friendly_name, &friendly);
        }
        // The attribute index holds exactly the live records' attributes: none left behind by
        // an update or a delete.
        let rows: i64 = handles[0].with_connection(|c| c.query_row("SELECT count(*) FROM attributes", [], |r| r.get(0)).unwrap());
        let live: usize = model.values().filter(|m| !m.deleted).map(|m| m.attributes.len()).sum();
        prop_assert_eq!(usize::try_from(rows).unwrap(), live);
        // The third handle's watcher saw every change of all three, in order, once.
        let mut seen = Vec::new();
        while seen.len() < changes.len() {
            let ev = watcher.recv_timeout(Duration::from_secs(5)).unwrap().expect("a change");
            seen.push(ev.change);
        }
        prop_assert_eq!(watcher.poll().unwrap(), vec![]);
        prop_assert_eq!(seen, changes);
    }
}

// ------------------------------------------------------------------ search

fn value_text(v: &str) -> String {
    v.replace('&', "&amp;").replace('<', "&lt;")
}

/// A random query as XML text, over attributes a (string), b (int), c (string or int).
fn query_xml() -> impl Strategy<Value = String> {
    let compare = prop_oneof![
        Just("equal"),
        Just("notequal"),
        Just("less"),
        Just("greater"),
        Just("lessorequal"),
        Just("greaterorequal")
    ];
    let leaf = prop_oneof![
        (compare.clone(), "[xy]{0,3}").prop_map(|(c, v)| format!(
            r#"<clause attrib="a" type="string" compare="{c}">{}</clause>"#,
            value_text(&v)
        )),
        (prop_oneof![Just("equal"), Just("notequal")], "[xy*?]{0,4}|\\\\\\*x").prop_map(|(c, v)| format!(
            r#"<clause attrib="a" type="string" compare="{c}">{}</clause>"#,
            value_text(&v)
        )),
        (compare.clone(), -2..3i64)
            .prop_map(|(c, v)| format!(r#"<clause attrib="b" type="int" compare="{c}">{v}</clause>"#)),
        (compare.clone(), -2..3i64)
            .prop_map(|(c, v)| format!(r#"<clause attrib="c" type="int" compare="{c}">{v}</clause>"#)),
        (compare.clone(), "[xy]{0,2}")
            .prop_map(|(c, v)| format!(r#"<clause attrib="c" type="string" compare="{c}">{v}</clause>"#)),
        // Reserved attributes: ids are 1, 2, ... in the bulk rows below.
        (compare.clone(), 0..12u32).prop_map(|(c, i)| format!(
            r#"<clause attrib="peerrecordid" type="string" compare="{c}">{{00000000-0000-0000-0000-{i:012x}}}</clause>"#
        )),
        (prop_oneof![Just("equal"), Just("notequal")], 0..10u32).prop_map(|(c, i)| format!(
            r#"<clause attrib="peerrecordid" type="string" compare="{c}">*{i:x}?</clause>"#
        )),
        compare.clone().prop_map(|c| format!(
            r#"<clause attrib="peerrecordtype" type="string" compare="{c}">{}</clause>"#,
            TYPE_A.braced()
        )),
        compare.prop_map(|c| format!(
            r#"<clause attrib="peercreationtime" type="date" compare="{c}">2020-01-01</clause>"#
        )),
        Just(r#"<clause attrib="peercreatorid" type="int">1</clause>"#.to_owned()),
    ];
    let tree = leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| format!("<and>{}</and>", v.concat())),
            proptest::collection::vec(inner, 1..4).prop_map(|v| format!("<or>{}</or>", v.concat())),
        ]
    });
    tree.prop_map(|t| format!("<peersearch>{t}</peersearch>"))
}

fn random_attrs() -> impl Strategy<Value = Vec<Attribute>> {
    (
        proptest::option::of("[xy*]{0,3}"),
        proptest::option::of(-2..3i64),
        proptest::option::of(prop_oneof![
            (-2..3i64).prop_map(AttributeValue::Int),
            "[xy]{0,2}".prop_map(AttributeValue::String)
        ]),
    )
        .prop_map(|(a, b, c)| {
            let mut out = Vec::new();
            if let Some(a) = a {
                out.push(Attribute::string("a", &a));
            }
            if let Some(b) = b {
                out.push(Attribute::int("b", b));
            }
            if let Some(c) = c {
                out.push(Attribute { name: "c".into(), value: c });
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn indexed_search_equals_the_naive_evaluator(
        records in proptest::collection::vec(random_attrs(), 0..40),
        queries in proptest::collection::vec(query_xml(), 1..12),
    ) {
        let s = setup();
        let db = s.store.open(&s.group).unwrap();
        // One signed record gives the signature reused by the bulk path (search never verifies).
        let template = db.add_record(&s.alice, new_record(TYPE_A, Attributes::empty(), b"")).unwrap();
        let rows: Vec<Record> = records.into_iter().enumerate().map(|(i, a)| Record {
            id: Uuid::from_u128(i as u128 + 1),
            attributes: Attributes::new(a).unwrap(),
            ..template.clone()
        }).collect();
        db.bulk_insert_unchecked(&rows).unwrap();
        let all = db.records(None).unwrap();
        for q in queries {
            let parsed = SearchQuery::parse(&q).unwrap();
            let want: Vec<Uuid> = all.iter().filter(|r| parsed.matches(r)).map(|r| r.id).collect();
            let got: Vec<Uuid> = db.search(&q).unwrap().into_iter().map(|r| r.id).collect();
            prop_assert_eq!(got, want, "query {}", q);
        }
    }
}
