//! Property: whatever strings `open` is given, it never panics and answers with success or one
//! of the documented outcomes of `docs/open.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::sync::{Arc, OnceLock};

use peergroup::DnsConfig;
use peergroup::hresult;
use peergroup::testing::host_with_link_locals;
use peergroup::{Context, Keystore, NewGroup, testing_key};
use proptest::prelude::*;

struct Fixture {
    _tmp: tempfile::TempDir,
    ctx: Context,
    identity: String,
    group: String,
}

/// One keystore for every case: an identity with a group, on a host with two link-local
/// interfaces (so that `LinkLocal_` is ambiguous) and no DNS server (so that DNS names are
/// "no cloud" at once).
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(tmp.path().join("home")).unwrap();
        let ctx = Context::with_parts(keystore, DnsConfig::default(), Arc::new(host_with_link_locals(2)));
        let id = ctx.keystore().create_with_key("alice", None, &testing_key(0)).unwrap();
        let identity = id.peer_name().to_string();
        let group = ctx.create_group(&identity, &NewGroup::new("chat", "Chat")).unwrap().to_string();
        Fixture { _tmp: tmp, ctx, identity, group }
    })
}

/// Strings near the valid ones: the real names, mangled, plus arbitrary text.
fn near(valid: String) -> impl Strategy<Value = String> {
    prop_oneof![
        Just(valid.clone()),
        any::<String>(),
        "[0-9a-f]{40}\\.[a-z]{1,8}",
        (0..valid.len(), any::<char>()).prop_map(move |(i, c)| {
            let mut s: Vec<char> = valid.chars().collect();
            let i = i.min(s.len().saturating_sub(1));
            s[i] = c;
            s.into_iter().collect()
        }),
    ]
}

fn cloud() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("Global_".to_owned())),
        Just(Some("LinkLocal_".to_owned())),
        Just(Some("LinkLocal_eth0".to_owned())),
        Just(Some("SiteLocal_".to_owned())),
        "[a-z]{1,10}(\\.[a-z]{1,10}){0,2}\\.?".prop_map(Some),
        any::<String>().prop_map(Some),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn open_gives_a_documented_outcome(
        identity in near(fixture().identity.clone()),
        group in near(fixture().group.clone()),
        cloud in cloud(),
    ) {
        let f = fixture();
        match f.ctx.open_group_blocking(&identity, &group, cloud.as_deref()) {
            Ok(g) => {
                prop_assert_eq!(identity, f.identity.clone());
                prop_assert_eq!(group, f.group.clone());
                prop_assert!(!g.status().unwrap().is_connected());
            }
            Err(e) => prop_assert!(hresult::OPEN_ERRORS.contains(&e.hresult()), "undocumented outcome {:?}: {}", e.hresult(), e),
        }
    }
}
