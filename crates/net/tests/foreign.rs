//! A foreign QUIC client (aioquic, `tests/foreign/quic_client.py`, installed by `.ci/run`)
//! against a member endpoint on loopback: without a client certificate the TLS handshake
//! fails; with a certificate of an identity that is not a member it gets through TLS, sends a
//! proof, and is closed with `REFUSED` and a reason, having received no byte of stream data;
//! a client that gets through TLS and then stalls does not hold up another member's handshake.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

mod common;

use std::process::Command;
use std::time::SystemTime;

use peergroup_identity::testing::key;
use peergroup_identity::x509::to_pem;
use peergroup_identity::{Identity, Keystore};
use peergroup_net::{MemberEndpoint, NetError};
use peergroup_security::NewGroup;
use peergroup_state::MembershipStore;
use tokio::io::AsyncBufReadExt;

fn aioquic(test: &str) -> Option<std::path::PathBuf> {
    let have = Command::new("python3").args(["-c", "import aioquic"]).output().is_ok_and(|o| o.status.success());
    peergroup_testkit::require(test, have, "aioquic is missing (python3 -m pip install aioquic)")
        .then(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/foreign/quic_client.py"))
}

/// Alice's endpoint in the group she created, on loopback.
fn alice(dir: &std::path::Path) -> (Identity, MemberEndpoint) {
    let keystore = Keystore::open(dir.join("alice")).unwrap();
    let identity = keystore.create_with_key("alice", None, &key(0)).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    let db = store.create_group_with_key(&identity, &NewGroup::new("chat", ""), key(1), SystemTime::now()).unwrap();
    let membership = store.get(identity.peer_name(), db.group_peer_name()).unwrap();
    let endpoint = MemberEndpoint::bind("127.0.0.1:0".parse().unwrap(), &identity, membership).unwrap();
    (identity, endpoint)
}

/// Runs the client against `endpoint` while it accepts; returns the client's lines and what
/// `accept` said.
async fn run(endpoint: &MemberEndpoint, script: &std::path::Path, args: &[&str]) -> (String, NetError) {
    let port = endpoint.local_addr().unwrap().port().to_string();
    let mut command = tokio::process::Command::new("python3");
    command.arg(script).args(["127.0.0.1", &port]).args(args);
    let (out, accepted) = tokio::join!(command.output(), endpoint.accept());
    let out = out.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let err = accepted.expect("the endpoint is open").expect_err("a foreign client must not become a link");
    (stdout, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_a_certificate_fails_the_handshake() {
    let Some(script) = aioquic("a_client_without_a_certificate_fails_the_handshake") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_alice, endpoint) = alice(dir.path());
    let (stdout, err) = run(&endpoint, &script, &["no-cert"]).await;
    // In TLS 1.3 the client is done once it sent its Finished; the server then checks what
    // came with it and closes with the TLS alert certificate_required (116), a QUIC crypto
    // error 0x100 + 116 (RFC 9001 §4.8), before any stream data.
    let lines: Vec<&str> = stdout.lines().collect();
    let failed = lines.first().is_some_and(|l| l.starts_with("HANDSHAKE_FAILED"))
        || (lines.iter().any(|l| l.starts_with("CLOSED 372 ")) && lines.contains(&"RECEIVED 0"));
    assert!(failed, "{stdout}");
    assert!(matches!(err, NetError::Connect { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_members_certificate_is_refused_with_no_group_data() {
    let Some(script) = aioquic("a_non_members_certificate_is_refused_with_no_group_data") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (_alice, endpoint) = alice(dir.path());
    // Carol: a well-formed identity, never invited. Her certificate and key as PEM files.
    let carol = Keystore::open(dir.path().join("carol")).unwrap().create_with_key("carol", None, &key(3)).unwrap();
    let cert = dir.path().join("carol.pem");
    let private = dir.path().join("carol.key");
    std::fs::write(&cert, to_pem("CERTIFICATE", carol.certificate_der())).unwrap();
    std::fs::write(&private, to_pem("PRIVATE KEY", &key(3))).unwrap();
    let (stdout, err) = run(&endpoint, &script, &["cert", cert.to_str().unwrap(), private.to_str().unwrap()]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"CONNECTED"), "{stdout}");
    assert!(lines.iter().any(|l| l.starts_with("CLOSED 1 ") && l.contains("a member of 0.elsewhere")), "{stdout}");
    assert!(lines.contains(&"RECEIVED 0"), "no byte of group data: {stdout}");
    match err {
        NetError::NotMember { reason, .. } => assert!(reason.contains("0.elsewhere"), "{reason}"),
        other => panic!("{other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_handshake_does_not_hold_up_a_member() {
    let Some(script) = aioquic("a_stalled_handshake_does_not_hold_up_a_member") else { return };
    let (alice, alice_m, bob, bob_m) = common::alice_and_bob();
    let a = alice.endpoint(alice_m);
    let b = bob.endpoint(bob_m);
    let port = a.local_addr().unwrap().port().to_string();
    // Carol gets through TLS, then sends no proof.
    let dir = tempfile::tempdir().unwrap();
    let carol = Keystore::open(dir.path().join("carol")).unwrap().create_with_key("carol", None, &key(3)).unwrap();
    let (cert, private) = (dir.path().join("carol.pem"), dir.path().join("carol.key"));
    std::fs::write(&cert, to_pem("CERTIFICATE", carol.certificate_der())).unwrap();
    std::fs::write(&private, to_pem("PRIVATE KEY", &key(3))).unwrap();
    let mut stall = tokio::process::Command::new("python3")
        .arg(&script)
        .args(["127.0.0.1", &port, "stall", cert.to_str().unwrap(), private.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let first = a.incoming().await.unwrap();
    let stalled = tokio::spawn(first.complete());
    let mut lines = tokio::io::BufReader::new(stall.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("CONNECTED"));

    // Bob's handshake runs beside Carol's and completes while hers still waits.
    let second = a.incoming();
    let (out, inc) = tokio::join!(b.connect(a.local_addr().unwrap()), async { second.await.unwrap().complete().await });
    assert_eq!(out.unwrap().peer().identity, *alice.identity.peer_name());
    assert_eq!(inc.unwrap().peer().identity, *bob.identity.peer_name());
    assert!(!stalled.is_finished(), "Carol's handshake still waits for her proof");

    // Carol goes away: her handshake ends with an error, not a link.
    stall.kill().await.unwrap();
    let outcome = stalled.await.unwrap();
    assert!(outcome.is_err(), "{outcome:?}");
}
