//! Properties: cloud names round-trip; the resolution rule agrees with a reference model over
//! random cloud lists and random hosts, and never picks a wrong cloud.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::IpAddr;

use peergroup_pnrp::{
    Cloud, CloudName, CloudState, Interface, LocalMatch, NameOrigin, PnrpError, Scope, clouds_from_interfaces, select,
};
use proptest::prelude::*;

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::Global), Just(Scope::SiteLocal), Just(Scope::LinkLocal)]
}

fn random_case(s: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), s.len()).prop_map(move |upper| {
        s.chars().zip(upper).map(|(c, u)| if u { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }).collect()
    })
}

fn interface_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9._@-]{1,15}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn dns_label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,20}[a-zA-Z0-9_])?"
}

fn dns_name() -> impl Strategy<Value = String> {
    (proptest::collection::vec(dns_label(), 1..6), any::<bool>())
        .prop_map(|(labels, absolute)| format!("{}{}", labels.join("."), if absolute { "." } else { "" }))
        .prop_filter("scope prefixes are not DNS names", |s| {
            let lower = s.to_ascii_lowercase();
            !["global_", "linklocal_", "sitelocal_"].iter().any(|p| lower.starts_with(p))
        })
}

/// Any valid cloud name, in any case.
fn cloud_name_text() -> impl Strategy<Value = String> {
    prop_oneof![
        random_case("Global_"),
        random_case("LinkLocal_"),
        random_case("SiteLocal_"),
        (random_case("LinkLocal_"), interface_name()).prop_map(|(p, i)| p + &i),
        (random_case("SiteLocal_"), interface_name()).prop_map(|(p, i)| p + &i),
        dns_name(),
    ]
}

proptest! {
    #[test]
    fn names_round_trip(text in cloud_name_text()) {
        let name = CloudName::parse(&text).unwrap();
        let canonical = name.to_string();
        prop_assert!(canonical.eq_ignore_ascii_case(&text) || name.interface_name().is_some());
        let again = CloudName::parse(&canonical).unwrap();
        prop_assert_eq!(&again, &name);
        prop_assert_eq!(again.to_string(), canonical);
        prop_assert_eq!(name.is_local_only(), name.interface_name().is_some());
        prop_assert_eq!(name.scope().is_none(), name.dns_name().is_some());
    }

    #[test]
    fn any_string_parses_or_is_an_invalid_argument(text in "\\PC{0,300}|[\\x00-\\x7f]{0,40}") {
        match CloudName::parse(&text) {
            Ok(name) => prop_assert_eq!(CloudName::parse(&name.to_string()).unwrap(), name),
            Err(PnrpError::InvalidCloudName { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

/// A small pool of names so random lists collide and ambiguity happens.
const POOL: &[&str] = &[
    "Global_",
    "LinkLocal_",
    "SiteLocal_",
    "LinkLocal_a",
    "LinkLocal_b",
    "SiteLocal_a",
    "SiteLocal_b",
    "corp.example.",
    "corp",
];

fn random_cloud() -> impl Strategy<Value = Cloud> {
    (0..POOL.len(), scope(), 0u32..4).prop_map(|(i, scope, scope_id)| {
        let name = CloudName::parse(POOL[i]).unwrap();
        Cloud { local_only: name.is_local_only(), name, scope, scope_id, state: CloudState::Active, seeds: vec![] }
    })
}

#[derive(Debug, PartialEq)]
enum Outcome {
    One(usize),
    None,
    Ambiguous(Vec<usize>),
    Dns,
}

/// The rule written as plainly as possible: indexes of exact matches, else of scope matches.
fn model(name: &CloudName, origin: NameOrigin, clouds: &[Cloud]) -> Outcome {
    let exact: Vec<usize> = (0..clouds.len()).filter(|&i| clouds[i].name.as_str() == name.as_str()).collect();
    let candidates = if !exact.is_empty() {
        exact
    } else if name.interface_name().is_some() && origin == NameOrigin::Caller {
        return Outcome::None;
    } else if let Some(scope) = name.scope() {
        (0..clouds.len()).filter(|&i| clouds[i].scope == scope).collect()
    } else {
        return Outcome::Dns;
    };
    match candidates.len() {
        0 => Outcome::None,
        1 => Outcome::One(candidates[0]),
        _ => Outcome::Ambiguous(candidates),
    }
}

fn run(name: &CloudName, origin: NameOrigin, clouds: &[Cloud]) -> Outcome {
    match select(name, origin, clouds) {
        Ok(LocalMatch::Found(cloud)) => {
            Outcome::One(clouds.iter().position(|c| std::ptr::eq(c, cloud)).expect("a cloud of the list"))
        }
        Ok(LocalMatch::NeedsDns) => Outcome::Dns,
        Err(PnrpError::NoCloud { .. }) => Outcome::None,
        Err(PnrpError::Ambiguous { candidates, .. }) => {
            // Candidates are listed by name in list order; map them back to indexes.
            let expected = match model(name, origin, clouds) {
                Outcome::Ambiguous(ix) => ix,
                _ => vec![],
            };
            let names: Vec<String> = expected.iter().map(|&i| clouds[i].name.to_string()).collect();
            assert_eq!(candidates, names, "the error lists every candidate");
            Outcome::Ambiguous(expected)
        }
        Err(other) => panic!("unexpected {other:?}"),
    }
}

proptest! {
    #[test]
    fn rule_agrees_with_the_model(
        clouds in proptest::collection::vec(random_cloud(), 0..8),
        query in 0..POOL.len(),
        stored in any::<bool>(),
    ) {
        let name = CloudName::parse(POOL[query]).unwrap();
        let origin = if stored { NameOrigin::Stored } else { NameOrigin::Caller };
        let got = run(&name, origin, &clouds);
        prop_assert_eq!(&got, &model(&name, origin, &clouds));
        if let Outcome::One(i) = got {
            // Never a wrong cloud: the exact one, or one of the name's scope.
            let c = &clouds[i];
            prop_assert!(c.name == name || (name.scope() == Some(c.scope) && !clouds.iter().any(|o| o.name == name)));
        }
    }
}

fn random_interface() -> impl Strategy<Value = Interface> {
    let addr = prop_oneof![
        Just("fe80::1"),
        Just("fd00::1"),
        Just("2001:db8::1"),
        Just("10.0.0.1"),
        Just("169.254.0.1"),
        Just("::1")
    ];
    (
        prop_oneof![Just("eth0"), Just("eth1"), Just("wlan0"), Just("lo"), Just("bad name")],
        1u32..6,
        any::<(bool, bool, bool)>(),
        proptest::collection::vec(addr, 0..4),
    )
        .prop_map(|(name, index, (up, loopback, multicast), addrs)| Interface {
            name: name.to_owned(),
            index,
            up,
            loopback,
            multicast,
            addrs: addrs.iter().map(|a| a.parse::<IpAddr>().unwrap()).collect(),
        })
}

proptest! {
    #[test]
    fn random_hosts_resolve_by_the_model(host in proptest::collection::vec(random_interface(), 0..6), query in 0..POOL.len()) {
        let clouds = clouds_from_interfaces(&host);
        prop_assert_eq!(clouds[0].name.as_str(), "Global_");
        for (i, c) in clouds.iter().enumerate() {
            prop_assert!(clouds[i + 1..].iter().all(|o| o.name != c.name), "names are unique");
            if let Some(ifname) = c.name.interface_name() {
                prop_assert!(host.iter().any(|h| h.name == ifname && h.up && !h.loopback && h.index == c.scope_id));
            }
        }
        let name = CloudName::parse(POOL[query]).unwrap();
        for origin in [NameOrigin::Caller, NameOrigin::Stored] {
            prop_assert_eq!(run(&name, origin, &clouds), model(&name, origin, &clouds));
        }
    }
}

/// A valid registration's content: an unsecured or secure peer name with any classifier,
/// 1 to 10 endpoints, any comment within the limits, a proof for secure names.
fn announcement() -> impl Strategy<Value = peergroup_pnrp::Announcement> {
    let endpoint = (any::<bool>(), any::<[u8; 16]>(), 1..=u16::MAX).prop_map(|(v4, bytes, port)| {
        let ip: IpAddr = if v4 {
            IpAddr::from([bytes[0] % 223 + 1, bytes[1], bytes[2], bytes[3]])
        } else {
            IpAddr::from([
                0x20,
                0x01,
                0x0d,
                0xb8,
                bytes[4],
                bytes[5],
                bytes[6],
                bytes[7],
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                bytes[8] | 1,
            ])
        };
        std::net::SocketAddr::new(ip, port)
    });
    (
        prop_oneof![Just("0".to_owned()), "[0-9a-f]{40}"],
        "[^\\p{Cc}]{1,149}".prop_filter("149 UTF-16 units", |c| c.encode_utf16().count() <= 149),
        proptest::collection::vec(endpoint, 1..=10),
        "[^\\p{Cc}]{0,60}".prop_filter("255 bytes", |c| c.len() <= 255),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 1..=4096),
    )
        .prop_map(|(authority, classifier, endpoints, comment, expires, proof)| {
            let secure = authority != "0";
            peergroup_pnrp::Announcement {
                peer_name: format!("{authority}.{classifier}"),
                endpoints,
                comment,
                expires,
                proof: if secure { proof } else { Vec::new() },
            }
        })
}

proptest! {
    /// Every valid registration encodes to TXT strings of at most 255 bytes that parse back to
    /// it, and any change of a string's bytes never panics the parser.
    #[test]
    fn announcements_round_trip_through_txt(a in announcement(), flip in any::<(usize, usize, u8)>()) {
        let strings: Vec<Vec<u8>> = a.to_txt().into_iter().map(String::into_bytes).collect();
        prop_assert!(strings.iter().all(|s| s.len() <= 255));
        prop_assert_eq!(peergroup_pnrp::Announcement::parse_txt("r TXT", &strings).unwrap(), a);
        let mut damaged = strings.clone();
        let i = flip.0 % damaged.len();
        if !damaged[i].is_empty() {
            let j = flip.1 % damaged[i].len();
            damaged[i][j] ^= flip.2 | 1;
        }
        if let Err(e) = peergroup_pnrp::Announcement::parse_txt("r TXT", &damaged) {
            prop_assert!(matches!(e, PnrpError::MalformedDescriptor { .. }), "{e:?}");
        }
    }
}
