//! `pnrp_register` / `pnrp_resolve` in a DNS cloud against a real BIND 9 primary: the update
//! key from `config.toml`, a secure peer name proven with the keystore's identity, resolved
//! from another home.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use peergroup::{Context, Error, PnrpError, hresult};
use peergroup_testkit::{BIND_KEY_NAME, Bind, has_bind, require};

/// A home (0700) whose `config.toml` names the server, its zone descriptor's name server and
/// (when `secret` is given) the update key.
fn home(dir: &std::path::Path, server: &Bind, secret: Option<&str>) -> Context {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    // Global_ off: nothing here may reach the public DHT.
    let mut config =
        format!("[global]\nenabled = false\n[dns]\nnameservers = [\"{}\"]\ntimeout_ms = 5000\n", server.addr());
    if let Some(secret) = secret {
        config.push_str(&format!(
            "[dns.update.\"corp.example\"]\nserver = \"{}\"\nkey_name = \"{BIND_KEY_NAME}\"\nsecret = \"{secret}\"\n",
            server.addr()
        ));
    }
    std::fs::write(dir.join("config.toml"), config).unwrap();
    Context::open(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_resolve_a_secure_name_in_a_dns_cloud() {
    let test = "register_and_resolve_a_secure_name_in_a_dns_cloud";
    if !require(test, has_bind(), "needs named, tsig-keygen, dig and nsupdate (apt-get install bind9 bind9-dnsutils)") {
        return;
    }
    let server = Bind::start("corp.example").unwrap();
    server.add_cloud_descriptor();
    let tmp = tempfile::tempdir().unwrap();
    let alice = home(&tmp.path().join("alice"), &server, Some(server.secret()));
    let bob = home(&tmp.path().join("bob"), &server, None);
    let me = alice.keystore().create_with_key("alice", None, &peergroup::testing_key(0)).unwrap();
    let name = me.peer_name().to_string();

    let endpoints = vec!["192.0.2.7:3587".parse().unwrap()];
    let registration = alice.pnrp_register(&name, "corp.example.", endpoints.clone(), "alice here").await.unwrap();
    let found = bob.pnrp_resolve(&name, "corp.example.", 5, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].addresses.clone(), found[0].comment.as_str()), (endpoints, "alice here"));

    // Bob holds no identity for the name and no update key.
    let err = bob.pnrp_register(&name, "corp.example.", vec!["192.0.2.8:1".parse().unwrap()], "").await.unwrap_err();
    assert!(matches!(err, Error::Cloud(PnrpError::NoUpdateKey { .. })), "{err}");
    // A name nobody registered is PEER_E_NOT_FOUND; Global_ in a context made of parts is
    // off until given a DHT, and says so.
    let err = bob.pnrp_resolve("0.nobody", "corp.example.", 5, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_NOT_FOUND, "{err}");
    let err = bob.pnrp_resolve(&name, "Global_", 5, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_SERVICE_NOT_AVAILABLE, "{err}");
    assert!(err.to_string().contains("enabled = false"), "{err}");

    registration.unregister().await.unwrap();
    let err = bob.pnrp_resolve(&name, "corp.example.", 5, Duration::from_secs(5)).await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_NOT_FOUND, "{err}");
}
