//! External cross-check with the `openssl` command: group certificates parse with
//! `openssl x509 -text`, and `openssl verify` accepts every membership chain given the group
//! root certificate as trust anchor. The test fails if `openssl` is missing (CI installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use peergroup_identity::x509::to_pem;
use peergroup_identity::{Keystore, testing};
use peergroup_security::{InvitationRequest, NewGroup, Role};
use peergroup_state::MembershipStore;

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .output()
        .expect("the `openssl` command is needed by this test (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn openssl_parses_group_certificates_and_verifies_each_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(tmp.path().join("home")).unwrap();
    let store = MembershipStore::for_keystore(&keystore);
    let now = SystemTime::now();
    let alice = keystore.create_with_key("alice", Some("Alice"), &testing::key(0)).unwrap();
    let bob = keystore.create_with_key("bob", Some("Bob"), &testing::key(1)).unwrap();
    let carol = keystore.create_with_key("carol", Some("Carol"), &testing::key(2)).unwrap();
    let db = store.create_group_with_key(&alice, &NewGroup::new("chat", "Chat"), testing::key(3), now).unwrap();
    let group = db.group_peer_name().clone();
    let admin = InvitationRequest { roles: vec![Role::Administrator], expiration: None };
    let text = store.create_invitation(&alice, &group, bob.info(), &admin, now).unwrap();
    store.join(&bob, &text, now).unwrap();
    store.mark_synchronized(bob.peer_name(), &group).unwrap();
    let member = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let text = store.create_invitation(&bob, &group, carol.info(), &member, now).unwrap();
    store.join(&carol, &text, now).unwrap();

    let dir = tmp.path();
    for who in [&alice, &bob, &carol] {
        let chain = store.get(who.peer_name(), &group).unwrap().chain.to_der();
        std::fs::write(dir.join("grc.pem"), to_pem("CERTIFICATE", &chain[0])).unwrap();
        let intermediates: String = chain[1..chain.len() - 1].iter().map(|c| to_pem("CERTIFICATE", c)).collect();
        std::fs::write(dir.join("intermediates.pem"), &intermediates).unwrap();
        std::fs::write(dir.join("gmc.pem"), to_pem("CERTIFICATE", &chain[chain.len() - 1])).unwrap();
        for (i, cert) in chain.iter().enumerate() {
            std::fs::write(dir.join("c.pem"), to_pem("CERTIFICATE", cert)).unwrap();
            let text = openssl(&["x509", "-in", "c.pem", "-noout", "-text"], dir);
            assert!(text.contains("Version: 3"), "{text}");
            assert!(text.contains("sha256WithRSAEncryption"), "{text}");
            // The peergroup extensions are there, non-critical, under the private arc.
            assert!(
                text.contains("1.2.840.113556.1.8000.2554.18037.56657.2457.18319.37311.16039132.4159728.1:"),
                "{text}"
            );
            assert!(!text.contains("4159728.1: critical"), "{text}");
            if i == 0 {
                assert!(text.contains(&format!("CN={group}")) || text.contains(&format!("CN = {group}")), "{text}");
            }
        }
        let mut args = vec!["verify", "-CAfile", "grc.pem"];
        if !intermediates.is_empty() {
            args.extend(["-untrusted", "intermediates.pem"]);
        }
        args.push("gmc.pem");
        let verdict = openssl(&args, dir);
        assert_eq!(verdict.trim(), "gmc.pem: OK", "chain of {}", who.peer_name());
    }
}
