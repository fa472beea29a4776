//! `pnrp_register` / `pnrp_resolve` in `Global_`: two homes whose `config.toml` points their
//! `[global]` DHT at a private network of DHT nodes on loopback (never the public DHT).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use peergroup::{Context, DhtNode, hresult, testing_key};

fn home(dir: &std::path::Path, bootstrap: &str) -> Context {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[global]\nbootstrap = [\"{bootstrap}\"]\nlisten = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    Context::open(dir).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_name_registered_in_global_is_resolved_from_another_home() {
    let first = DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), &[]).await.unwrap();
    let bootstrap = first.local_addr().to_string();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(
            DhtNode::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), std::slice::from_ref(&bootstrap)).await.unwrap(),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let alice = home(&dir.path().join("alice"), &bootstrap);
    let bob = home(&dir.path().join("bob"), &bootstrap);
    let name = alice.keystore().create_with_key("alice", None, &testing_key(0)).unwrap().peer_name().to_string();

    let endpoint = SocketAddr::from((Ipv4Addr::LOCALHOST, 45_001));
    let registration = alice.pnrp_register(&name, "Global_", vec![endpoint], "not carried").await.unwrap();
    let found = bob.pnrp_resolve(&name, "Global_", 1, Duration::from_secs(10)).await.unwrap();
    assert_eq!(found.len(), 1);
    // The DHT carries the port and the address it saw; no comment.
    assert_eq!((found[0].addresses.as_slice(), found[0].comment.as_str()), (&[endpoint][..], ""));

    // Endpoints with two ports cannot be announced; a name nobody registered is not found.
    let two = vec![endpoint, SocketAddr::from((Ipv4Addr::LOCALHOST, 45_002))];
    let err = alice.pnrp_register(&name, "Global_", two, "").await.unwrap_err();
    assert_eq!(err.hresult(), hresult::E_INVALIDARG, "{err}");
    let err = bob.pnrp_resolve("0.nobody", "Global_", 1, Duration::from_secs(10)).await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_NOT_FOUND, "{err}");
    registration.unregister().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_global_cloud_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("home");
    std::fs::create_dir(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(path.join("config.toml"), "[global]\nenabled = false\n").unwrap();
    let ctx = Context::open(&path).unwrap();
    let err = ctx.pnrp_resolve("0.x", "Global_", 1, Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_SERVICE_NOT_AVAILABLE, "{err}");
    assert!(err.to_string().contains("enabled = false"), "{err}");
    let err = ctx.pnrp_register("0.x", "Global_", vec!["127.0.0.1:1".parse().unwrap()], "").await.unwrap_err();
    assert_eq!(err.hresult(), hresult::PEER_E_SERVICE_NOT_AVAILABLE, "{err}");
}
