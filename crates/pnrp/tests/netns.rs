//! The real interface source (`getifaddrs`) inside network namespaces with chosen
//! interfaces: none but `lo`, one link-local interface, two, and one going down.
//!
//! Each test makes its own namespace (`ip netns add`, removed by a guard), builds veth
//! interfaces in it, and re-runs this test binary inside it (`ip netns exec`) to list the
//! clouds there. Creating a namespace needs root; without it each test prints a loud
//! `SKIPPED:` line and returns, or fails under `CI=true` (see `peergroup_testkit::Netns`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use peergroup_pnrp::{CloudResolver, DnsConfig, NameOrigin, SystemInterfaces, discover};
use peergroup_testkit::Netns;
use serde_json::{Value, json};

/// The child of every test below, re-executed inside a namespace: prints what it sees as one
/// JSON line.
#[test]
#[ignore = "child-process entry point, run inside a namespace by the other tests of this file"]
fn child_print_clouds() {
    peergroup_testkit::child_entry("child_print_clouds", "observe (every test of tests/netns.rs)");
    let clouds = discover(&SystemInterfaces).unwrap();
    let clouds: Vec<Value> = clouds
        .iter()
        .map(|c| {
            json!({
                "name": c.name.to_string(),
                "scope": c.scope.to_raw(),
                "scope_id": c.scope_id,
                "state": c.state.to_raw(),
                "local_only": c.local_only,
            })
        })
        .collect();
    let resolver = CloudResolver::new(DnsConfig::default());
    let link_local = match resolver.resolve_blocking(Some("LinkLocal_"), NameOrigin::Caller, &SystemInterfaces) {
        Ok(cloud) => format!("ok {}", cloud.name),
        Err(e) => format!("err {e}"),
    };
    println!("CLOUDS {}", json!({ "clouds": clouds, "link_local": link_local }));
}

/// What this crate sees inside the namespace.
fn observe(ns: &Netns) -> Value {
    let out = peergroup_testkit::as_child(&mut ns.command(peergroup_testkit::test_exe()), "child_print_clouds")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("CLOUDS ").map(|(_, json)| json))
        .unwrap_or_else(|| panic!("the child printed no clouds: {stdout}"));
    serde_json::from_str(line).unwrap()
}

fn names(seen: &Value) -> Vec<String> {
    seen["clouds"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

const ACTIVE: u64 = 2;
const NO_NET: u64 = 5;
const LINK_LOCAL: u64 = 3;
const SITE_LOCAL: u64 = 2;

#[test]
fn host_with_only_loopback_has_an_offline_global_cloud() {
    let Some(ns) = Netns::create("lo") else { return };
    let seen = observe(&ns);
    assert_eq!(names(&seen), ["Global_"]);
    assert_eq!(seen["clouds"][0]["state"], NO_NET);
    assert_eq!(seen["clouds"][0]["scope"], 1);
    let link_local = seen["link_local"].as_str().unwrap();
    assert_eq!(link_local, "err no cloud named LinkLocal_: this host has no link-local cloud");
}

#[test]
fn host_with_one_link_local_interface() {
    let Some(ns) = Netns::create("one") else { return };
    ns.veth("va", "vb");
    ns.up_with("va", &["fe80::1/64"]);
    ns.up_with("vb", &[]);
    let seen = observe(&ns);
    assert_eq!(names(&seen), ["Global_", "LinkLocal_va"]);
    assert_eq!(seen["clouds"][0]["state"], NO_NET, "a link-local address is not a network");
    let va = &seen["clouds"][1];
    assert_eq!(va["scope"], LINK_LOCAL);
    assert_eq!(va["scope_id"], ns.index("va"));
    assert_eq!(va["state"], ACTIVE);
    assert_eq!(va["local_only"], true);
    assert_eq!(seen["link_local"], "ok LinkLocal_va");
}

#[test]
fn host_with_two_link_local_interfaces_is_ambiguous() {
    let Some(ns) = Netns::create("two") else { return };
    ns.link_locals("va", "vb");
    let seen = observe(&ns);
    assert_eq!(names(&seen), ["Global_", "LinkLocal_va", "LinkLocal_vb"]);
    assert_eq!(seen["clouds"][2]["scope_id"], ns.index("vb"));
    assert_eq!(seen["link_local"], "err cloud name LinkLocal_ is ambiguous: it matches LinkLocal_va, LinkLocal_vb");
}

#[test]
fn interfaces_going_down_take_their_clouds_with_them() {
    let Some(ns) = Netns::create("down") else { return };
    ns.veth("va", "vb");
    ns.up_with("va", &["fe80::1/64", "fd00:1::1/64"]);
    ns.up_with("vb", &["fe80::2/64"]);
    let seen = observe(&ns);
    assert_eq!(names(&seen), ["Global_", "LinkLocal_va", "LinkLocal_vb", "SiteLocal_va"]);
    assert_eq!(seen["clouds"][0]["state"], ACTIVE, "a unique-local address is a network");
    assert_eq!(seen["clouds"][3]["scope"], SITE_LOCAL);
    assert_eq!(seen["clouds"][3]["scope_id"], ns.index("va"));

    ns.ip(&["link", "set", "va", "down"]);
    let seen = observe(&ns);
    assert_eq!(names(&seen), ["Global_", "LinkLocal_vb"]);
    assert_eq!(seen["clouds"][0]["state"], NO_NET);
    assert_eq!(seen["link_local"], "ok LinkLocal_vb");

    ns.ip(&["link", "set", "vb", "down"]);
    assert_eq!(names(&observe(&ns)), ["Global_"]);
}
