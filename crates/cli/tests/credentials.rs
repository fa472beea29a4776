//! `group issue` between processes on loopback (issue 13's acceptance): Alice, the creator,
//! renews Bob's credentials and then promotes him with `--store` while he is offline; on his
//! next connect (by address) Bob's home picks each up, and once an administrator he invites
//! Carol. Without `--store`, Bob joins with the credentials' invitation instead. Members may
//! not issue; bad subjects are `E_INVALIDARG`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{NO_GLOBAL, Pair, Running, first_line, home_with_config, json, listening_port, ok, pair, run, until};
use serde_json::Value;

const WAIT: Duration = common::WAIT;

/// `group open --json` of Bob's home.
fn bob_open(p: &Pair) -> Value {
    json(&p.bob, &["group", "open", "--identity", &p.bob_id, "--group", &p.group])
}

fn issue(p: &Pair, extra: &[&str]) -> String {
    let bob_xml = p.tmp.path().join("bob.xml");
    let mut args = vec!["group", "issue", "--identity", &p.alice_id, "--group", &p.group, "--subject"];
    args.push(bob_xml.to_str().unwrap());
    args.extend_from_slice(extra);
    ok(&p.alice, &args)
}

/// Bob connects to Alice at `address` and is linked; the process stays online until dropped.
fn bob_online(p: &Pair, address: &str) -> Running {
    let bob = Running::spawn(
        &p.bob,
        &["group", "connect", "--identity", &p.bob_id, "--group", &p.group, "--address", address],
    );
    bob.expect("linked", |l| (l == format!("member connected {}", p.alice_id)).then_some(()));
    bob
}

fn assert_error(out: &std::process::Output, code: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(code), "expected {code}: {stderr}");
}

fn now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

/// Carol's home and identity info file.
fn carol(p: &Pair) -> (std::path::PathBuf, String, String) {
    let home = home_with_config(&p.tmp.path().join("carol"), NO_GLOBAL);
    let id = first_line(&home, &["identity", "create", "carol"]);
    let info = p.tmp.path().join("carol.xml");
    ok(&home, &["identity", "info", &id, "--out", info.to_str().unwrap()]);
    (home, id, info.to_str().unwrap().to_owned())
}

fn invite_carol(p: &Pair, carol_info: &str, out: &Path) -> std::process::Output {
    let invite = ["group", "invite", "--identity", &p.bob_id, "--group", &p.group, "--invitee", carol_info];
    let mut args = invite.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    run(&p.bob, &args)
}

#[test]
fn a_member_renewed_then_promoted_with_store_picks_each_up_on_its_next_connect_and_then_invites() {
    let p = pair();
    let (carol_home, carol_id, carol_info) = carol(&p);
    let carol_invitation = p.tmp.path().join("carol.invitation");
    let alice = Running::spawn(&p.alice, &["group", "connect", "--identity", &p.alice_id, "--group", &p.group]);
    let address = format!("127.0.0.1:{}", listening_port(&alice));

    // Bob's first connect makes him ready; a member, he may neither invite nor issue.
    let mut bob = bob_online(&p, &address);
    until("Bob ready", WAIT, || bob_open(&p)["ready"] == true);
    assert_error(&invite_carol(&p, &carol_info, &carol_invitation), "PEER_E_NOT_AUTHORIZED");
    let bob_issues = ["group", "issue", "--identity", &p.bob_id, "--group", &p.group, "--subject", &carol_info];
    assert_error(&run(&p.bob, &bob_issues), "PEER_E_NOT_AUTHORIZED");
    bob.interrupt();
    let first = bob_open(&p);
    assert_eq!(first["roles"], serde_json::json!(["member"]));

    // Renewed for 30 days while he is offline: published in Alice's database.
    let stored = issue(&p, &["--expires", "30d", "--store"]);
    assert_eq!(stored.trim(), format!("stored credentials for {}", p.bob_id));
    let mut bob = bob_online(&p, &address);
    until("Bob holds the renewed credentials", WAIT, || {
        bob_open(&p)["valid_from"].as_i64() > first["valid_from"].as_i64()
    });
    let renewed = bob_open(&p);
    let until_end = renewed["valid_until"].as_i64().unwrap() - now();
    assert!((30 * 86_400 - 60..=30 * 86_400).contains(&until_end), "{renewed}");
    assert_eq!(renewed["roles"], serde_json::json!(["member"]));
    bob.interrupt();

    // Promoted, again while offline; on his next connect he is an administrator and invites.
    issue(&p, &["--role", "administrator", "--store"]);
    let bob = bob_online(&p, &address);
    // His connected process adopts them as they arrive: `group invite` (which opens no handle)
    // succeeds without anything else picking them up.
    until("Bob invites", WAIT, || invite_carol(&p, &carol_info, &carol_invitation).status.success());
    assert_eq!(bob_open(&p)["roles"], serde_json::json!(["administrator"]));
    let joined = ok(
        &carol_home,
        &["group", "join", "--identity", &carol_id, "--invitation", carol_invitation.to_str().unwrap()],
    );
    assert_eq!(joined.trim(), p.group);
    drop(bob);
}

#[test]
fn without_store_the_member_joins_with_the_credentials_and_bad_subjects_are_refused() {
    let p = pair();
    let file = p.tmp.path().join("bob.credentials");
    let wrote = issue(&p, &["--role", "administrator", "--out", file.to_str().unwrap()]);
    assert!(wrote.starts_with("wrote "), "{wrote}");
    // Alice's own copy of Bob is not his to pick up: nothing was published.
    let joined = ok(&p.bob, &["group", "join", "--identity", &p.bob_id, "--invitation", file.to_str().unwrap()]);
    assert!(joined.contains("PEER_S_ALREADY_A_MEMBER"), "{joined}");
    assert_eq!(bob_open(&p)["roles"], serde_json::json!(["administrator"]));

    // Standard output carries the invitation when neither --store nor --out is given.
    let text = issue(&p, &[]);
    assert!(text.starts_with("-----BEGIN PEERGROUP INVITATION-----"), "{text}");

    // Alice issuing to herself, and a subject file that is no identity info.
    let alice_xml = p.tmp.path().join("alice.xml");
    ok(&p.alice, &["identity", "info", &p.alice_id, "--out", alice_xml.to_str().unwrap()]);
    let own =
        ["group", "issue", "--identity", &p.alice_id, "--group", &p.group, "--subject", alice_xml.to_str().unwrap()];
    assert_error(&run(&p.alice, &own), "E_INVALIDARG");
    let junk = p.tmp.path().join("junk.xml");
    std::fs::write(&junk, "<not-an-identity/>").unwrap();
    let bad = ["group", "issue", "--identity", &p.alice_id, "--group", &p.group, "--subject", junk.to_str().unwrap()];
    assert_error(&run(&p.alice, &bad), "E_INVALIDARG");
}
