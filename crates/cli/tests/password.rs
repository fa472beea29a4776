//! Password groups between processes on loopback (issue 13's acceptance): Alice creates a
//! group with a password and hands out a password invitation; her `group connect` serves
//! password joiners. Carol, with a wrong password, is refused (`PEER_E_NOT_AUTHORIZED`), stores
//! nothing, and Alice's process reports the authentication failure; Bob, with the right one,
//! joins, connects as a member and becomes ready; joining again is `already a member`. Only
//! administrators hand out password invitations, and only for groups with a password.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::path::PathBuf;

use common::{NO_GLOBAL, Running, WAIT, first_line, home_with_config, json, listening_port, ok, run, until};

const PASSWORD: &str = "correct horse battery";

fn assert_error(out: &std::process::Output, code: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains(code), "expected {code}: {stderr}");
}

/// A home with its identity.
fn member(tmp: &std::path::Path, name: &str) -> (PathBuf, String) {
    let home = home_with_config(&tmp.join(name), NO_GLOBAL);
    let id = first_line(&home, &["identity", "create", name]);
    (home, id)
}

#[test]
fn the_right_password_joins_and_a_wrong_one_is_refused_and_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_id) = member(tmp.path(), "alice");
    let (bob, bob_id) = member(tmp.path(), "bob");
    let (carol, carol_id) = member(tmp.path(), "carol");
    let create = ["group", "create", "--identity", &alice_id, "chat", "--password", PASSWORD];
    let group = first_line(&alice, &create);
    // A password shorter than 8 characters is refused with its code.
    let short = ["group", "create", "--identity", &alice_id, "other", "--password", "short"];
    assert_error(&run(&alice, &short), "PEER_E_PASSWORD_DOES_NOT_MEET_POLICY");

    let invitation = tmp.path().join("chat.invitation");
    let invite = ["group", "invite", "--identity", &alice_id, "--group", &group, "--password-invitation", "--out"];
    ok(&alice, &[&invite[..], &[invitation.to_str().unwrap()]].concat());
    let text = std::fs::read_to_string(&invitation).unwrap();
    assert!(!text.contains(PASSWORD), "the invitation holds no password");

    let serving = Running::spawn(&alice, &["group", "connect", "--identity", &alice_id, "--group", &group]);
    let address = format!("127.0.0.1:{}", listening_port(&serving));
    let join = |home: &PathBuf, id: &str, password: &str| {
        let args = ["group", "join", "--identity", id, "--invitation", invitation.to_str().unwrap()];
        run(home, &[&args[..], &["--password", password, "--address", &address]].concat())
    };

    // Carol guesses wrong: refused, nothing stored on her side, Alice's process tells of it.
    assert_error(&join(&carol, &carol_id, "wrong horse battery"), "PEER_E_NOT_AUTHORIZED");
    let carols = json(&carol, &["group", "list", "--identity", &carol_id]);
    assert_eq!(carols, serde_json::json!([]), "Carol stores nothing");
    serving.expect("Alice hears of the failure", |l| {
        (l.starts_with("authentication failed: ") && l.contains("password")).then_some(())
    });

    // Bob knows it: a member with the group's password role, not ready until he connects.
    let out = join(&bob, &bob_id, PASSWORD);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), group);
    let again = join(&bob, &bob_id, PASSWORD);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already a member"), "{again:?}");
    let open = || json(&bob, &["group", "open", "--identity", &bob_id, "--group", &group]);
    assert_eq!(open()["ready"], false);
    assert_eq!(open()["roles"], serde_json::json!(["member"]));
    let bob_online =
        Running::spawn(&bob, &["group", "connect", "--identity", &bob_id, "--group", &group, "--address", &address]);
    bob_online.expect("Bob links as a member", |l| (l == format!("member connected {alice_id}")).then_some(()));
    until("Bob ready", WAIT, || open()["ready"] == true);

    // A member hands out no password invitation; a group without a password has none.
    let by_bob = ["group", "invite", "--identity", &bob_id, "--group", &group, "--password-invitation"];
    assert_error(&run(&bob, &by_bob), "PEER_E_NOT_AUTHORIZED");
    let plain = first_line(&alice, &["group", "create", "--identity", &alice_id, "plain"]);
    let none = ["group", "invite", "--identity", &alice_id, "--group", &plain, "--password-invitation"];
    assert_error(&run(&alice, &none), "PEER_E_NOT_AUTHORIZED");
}
