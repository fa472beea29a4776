//! Registrations in a DNS cloud against a real BIND 9 primary (`named`, started per test on
//! loopback with a TSIG key), cross-checked with `dig`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use peergroup_identity::{Identity, IdentityInfo, Keystore};
use peergroup_pnrp::{
    CloudName, DnsConfig, DnsMedium, KeyAlgorithm, Medium, NoProofs, PnrpError, ProofError, ProofSigner, ProofVerifier,
    Publication, UpdateAnswer, UpdateKey, register,
};
use peergroup_testkit::{BIND_KEY_NAME, Bind, has_bind, require};

const ZONE: &str = "corp.example";

/// Proofs made with a peergroup identity: its certificate (2-byte length first) and a
/// signature, as the facade will make them.
struct IdentitySigner(Identity);

impl ProofSigner for IdentitySigner {
    fn prove(&self, peer_name: &str, message: &[u8]) -> Result<Vec<u8>, ProofError> {
        if self.0.peer_name().to_string() != peer_name {
            return Err(ProofError { reason: format!("this identity is not {peer_name}") });
        }
        let cert = self.0.certificate_der();
        let sig = self.0.sign(message).map_err(|e| ProofError { reason: e.to_string() })?;
        let mut proof = u16::try_from(cert.len()).unwrap().to_be_bytes().to_vec();
        proof.extend_from_slice(cert);
        proof.extend_from_slice(&sig);
        Ok(proof)
    }
}

struct IdentityVerifier;

impl ProofVerifier for IdentityVerifier {
    fn verify(&self, peer_name: &str, message: &[u8], proof: &[u8]) -> bool {
        let Some((len, rest)) = proof.split_first_chunk::<2>() else { return false };
        let Some((cert, sig)) = rest.split_at_checked(usize::from(u16::from_be_bytes(*len))) else { return false };
        let Ok(info) = IdentityInfo::from_certificate(cert) else { return false };
        info.peer_name().to_string() == peer_name && info.verify(message, sig).is_ok()
    }
}

fn bind(test: &str) -> Option<Bind> {
    if !require(test, has_bind(), "needs named, tsig-keygen and dig (apt-get install bind9 bind9-dnsutils)") {
        return None;
    }
    Some(Bind::start(ZONE).expect("start named"))
}

fn config(server: &Bind, secret: &[u8]) -> DnsConfig {
    DnsConfig {
        nameservers: vec![server.addr()],
        timeout: Duration::from_secs(5),
        updates: vec![
            UpdateKey::new(ZONE, Some(server.addr()), BIND_KEY_NAME, KeyAlgorithm::HmacSha256, secret).unwrap(),
        ],
        ..DnsConfig::default()
    }
}

fn secret(server: &Bind) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(server.secret()).unwrap()
}

fn identity(home: &std::path::Path, n: usize) -> Identity {
    let store = Keystore::open(home.join("keystore")).unwrap();
    store.create_with_key(&format!("member{n}"), None, &peergroup_identity::testing::key(n)).unwrap()
}

fn cloud() -> CloudName {
    CloudName::parse("corp.example.").unwrap()
}

fn endpoints() -> Vec<SocketAddr> {
    vec!["192.0.2.10:3587".parse().unwrap(), "[2001:db8::10]:3587".parse().unwrap()]
}

/// The `x=` expiry in the TXT strings `dig` shows.
fn expiry(txt: &[String]) -> u64 {
    let line = txt.first().expect("a TXT record");
    let start = line.find("\"x=").expect("x=") + 3;
    line[start..].split('"').next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_dig_resolve_unregister() {
    let Some(server) = bind("register_dig_resolve_unregister") else { return };
    let home = tempfile::tempdir().unwrap();
    let me = identity(home.path(), 0);
    let peer_name = me.peer_name().to_string();
    let medium = Arc::new(
        DnsMedium::new(config(&server, &secret(&server)), Arc::new(IdentitySigner(me)), Arc::new(IdentityVerifier))
            .with_host_id(b"host-a"),
    );
    let publication = Publication::new(cloud(), &peer_name, endpoints(), "hello from a").unwrap();
    let registration = register(medium.clone(), publication).await.unwrap();

    let instance = medium.instance_name(&peer_name, &cloud()).unwrap();
    let label = instance.split('.').next().unwrap().to_owned();
    assert_eq!(server.dig(&instance, "SRV"), [format!("0 0 3587 {label}.corp.example.")]);
    let txt = server.dig(&instance, "TXT");
    assert!(txt[0].starts_with("\"v=pg1\" \"pn=") && txt[0].contains("\"ep=192.0.2.10:3587,[2001:db8::10]:3587\""));
    assert_eq!(server.dig(&format!("{label}.corp.example"), "A"), ["192.0.2.10"]);
    assert_eq!(server.dig(&format!("{label}.corp.example"), "AAAA"), ["2001:db8::10"]);
    assert_eq!(server.dig("_peergroup._udp.corp.example", "PTR"), std::slice::from_ref(&instance));

    // Another home: no update key, no identity; only the name server.
    let other = DnsMedium::new(
        DnsConfig { nameservers: vec![server.addr()], ..DnsConfig::default() },
        Arc::new(NoProofs),
        Arc::new(IdentityVerifier),
    );
    let found = other.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].peer_name, peer_name);
    assert_eq!(found[0].comment, "hello from a");
    assert_eq!(found[0].addresses, endpoints());

    // A resolver whose verifier refuses every proof drops the answer.
    let suspicious = DnsMedium::new(
        DnsConfig { nameservers: vec![server.addr()], ..DnsConfig::default() },
        Arc::new(NoProofs),
        Arc::new(NoProofs),
    );
    assert!(suspicious.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap().is_empty());

    // An address change replaces the records in one update.
    registration.update(vec!["192.0.2.11:4000".parse().unwrap()]).await.unwrap();
    assert_eq!(server.dig(&instance, "SRV"), [format!("0 0 4000 {label}.corp.example.")]);
    assert_eq!(server.dig(&format!("{label}.corp.example"), "A"), ["192.0.2.11"]);
    assert!(server.dig(&format!("{label}.corp.example"), "AAAA").is_empty());
    let found = other.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found[0].addresses, ["192.0.2.11:4000".parse().unwrap()]);

    registration.unregister().await.unwrap();
    for (name, rtype) in [
        (instance.as_str(), "SRV"),
        (instance.as_str(), "TXT"),
        (&format!("{label}.corp.example"), "A"),
        ("_peergroup._udp.corp.example", "PTR"),
    ] {
        assert!(server.dig(name, rtype).is_empty(), "{name} {rtype} left behind");
    }
    assert!(other.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_a_clear_error_and_changes_nothing() {
    let Some(server) = bind("a_wrong_secret_is_a_clear_error_and_changes_nothing") else { return };
    let medium = Arc::new(
        DnsMedium::new(config(&server, b"not the right secret"), Arc::new(NoProofs), Arc::new(NoProofs))
            .with_host_id(b"host-a"),
    );
    let publication = Publication::new(cloud(), "0.open-name", endpoints(), "").unwrap();
    let err = register(medium.clone(), publication).await.unwrap_err();
    match &err {
        PnrpError::UpdateRefused { zone, server: at, answer } => {
            assert_eq!(zone, ZONE);
            assert_eq!(*at, server.addr());
            assert_eq!(*answer, UpdateAnswer::BadSig);
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains("corp.example") && text.contains("BADSIG"), "{text}");
    assert_eq!(err.p2p_code(), "E_ACCESSDENIED");
    let instance = medium.instance_name("0.open-name", &cloud()).unwrap();
    assert!(server.dig(&instance, "TXT").is_empty());
    assert!(server.dig("_peergroup._udp.corp.example", "PTR").is_empty());

    // An unknown key name is BADKEY.
    let mut unknown = config(&server, &secret(&server));
    unknown.updates =
        vec![UpdateKey::new(ZONE, Some(server.addr()), "no-such-key", KeyAlgorithm::HmacSha256, b"x").unwrap()];
    let medium = Arc::new(DnsMedium::new(unknown, Arc::new(NoProofs), Arc::new(NoProofs)));
    let publication = Publication::new(cloud(), "0.open-name", endpoints(), "").unwrap();
    let err = medium.publish(&publication).await.unwrap_err();
    assert!(matches!(err, PnrpError::UpdateRefused { answer: UpdateAnswer::BadKey, .. }), "{err}");

    // A zone the server does not serve is refused (NOTAUTH), naming the zone.
    let mut elsewhere = config(&server, &secret(&server));
    elsewhere.updates = vec![
        UpdateKey::new("other.example", Some(server.addr()), BIND_KEY_NAME, KeyAlgorithm::HmacSha256, &secret(&server))
            .unwrap(),
    ];
    let medium = DnsMedium::new(elsewhere, Arc::new(NoProofs), Arc::new(NoProofs));
    let publication =
        Publication::new(CloudName::parse("other.example.").unwrap(), "0.open-name", endpoints(), "").unwrap();
    let err = medium.publish(&publication).await.unwrap_err();
    assert!(matches!(&err, PnrpError::UpdateRefused { zone, .. } if zone == "other.example"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_before_the_ttl_ends() {
    let Some(server) = bind("refresh_before_the_ttl_ends") else { return };
    let medium = Arc::new(
        DnsMedium::new(config(&server, &secret(&server)), Arc::new(NoProofs), Arc::new(NoProofs))
            .with_host_id(b"host-a"),
    );
    let publication =
        Publication::new(cloud(), "0.open-name", endpoints(), "").unwrap().with_ttl(Duration::from_secs(2)).unwrap();
    let registration = register(medium.clone(), publication).await.unwrap();
    let instance = medium.instance_name("0.open-name", &cloud()).unwrap();
    let first = expiry(&server.dig(&instance, "TXT"));

    // The background refresh republishes every half TTL (1 s): wait for a later expiry, with
    // a bound, by polling what the server holds.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut later = first;
    while later == first {
        assert!(std::time::Instant::now() < deadline, "no refresh within 20 s: {:?}", registration.last_error());
        tokio::time::sleep(Duration::from_millis(100)).await;
        later = expiry(&server.dig(&instance, "TXT"));
    }
    assert!(later > first);
    assert_eq!(registration.last_error(), None);

    // A resolver keeps finding it across refreshes; the manual refresh works too.
    registration.refresh().await.unwrap();
    let found = medium.resolve("0.open-name", &cloud(), 5, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found.len(), 1);

    // Dropping the registration withdraws it (in the background: poll, bounded).
    drop(registration);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.dig(&instance, "TXT").is_empty() {
        assert!(std::time::Instant::now() < deadline, "still published after the drop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_and_a_forged_record() {
    let Some(server) = bind("two_hosts_and_a_forged_record") else { return };
    let home = tempfile::tempdir().unwrap();
    let me = identity(home.path(), 0);
    let peer_name = me.peer_name().to_string();
    let signer = Arc::new(IdentitySigner(me));
    let a = Arc::new(
        DnsMedium::new(config(&server, &secret(&server)), signer.clone(), Arc::new(IdentityVerifier))
            .with_host_id(b"host-a"),
    );
    let b = Arc::new(
        DnsMedium::new(config(&server, &secret(&server)), signer, Arc::new(IdentityVerifier)).with_host_id(b"host-b"),
    );
    let _ra = register(a.clone(), Publication::new(cloud(), &peer_name, endpoints(), "a").unwrap()).await.unwrap();
    let _rb =
        register(b.clone(), Publication::new(cloud(), &peer_name, vec!["192.0.2.20:1".parse().unwrap()], "b").unwrap())
            .await
            .unwrap();
    let found = a.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap();
    let comments: Vec<&str> = found.iter().map(|f| f.comment.as_str()).collect();
    assert_eq!(comments, ["a", "b"]);
    assert_eq!(a.resolve(&peer_name, &cloud(), 1, Duration::from_secs(5)).await.unwrap().len(), 1, "max holds");

    // Someone with the zone key but not the identity: a secure name with another identity's
    // proof is refused by the signer side, and a record forged with nsupdate is dropped.
    let other = identity(home.path(), 1);
    let thief = DnsMedium::new(config(&server, &secret(&server)), Arc::new(IdentitySigner(other)), Arc::new(NoProofs))
        .with_host_id(b"host-c");
    let err = thief.publish(&Publication::new(cloud(), &peer_name, endpoints(), "x").unwrap()).await.unwrap_err();
    assert!(matches!(err, PnrpError::Proof { .. }), "{err}");
    assert_eq!(err.p2p_code(), "PEER_E_IDENTITY_NOT_FOUND");

    let forged = thief.instance_name(&peer_name, &cloud()).unwrap();
    let subtype = format!("_{}._sub._peergroup._udp.corp.example.", peergroup_pnrp::name_key(&peer_name));
    let script = format!(
        "server 127.0.0.1 {port}\nzone corp.example\n\
         update add {forged} 300 TXT \"v=pg1\" \"pn={peer_name}\" \"ep=198.51.100.1:1\" \"x=99999999999\" \"p=AAAA\"\n\
         update add {subtype} 300 PTR {forged}\nsend\n",
        port = server.addr().port()
    );
    let mut nsupdate = std::process::Command::new("nsupdate")
        .args(["-y", &format!("hmac-sha256:{BIND_KEY_NAME}:{}", server.secret())])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    nsupdate.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    assert!(nsupdate.wait().unwrap().success());
    assert_eq!(server.dig(&forged, "TXT").len(), 1, "the forged record is in the zone");
    let found = a.resolve(&peer_name, &cloud(), 10, Duration::from_secs(5)).await.unwrap();
    assert_eq!(found.len(), 2, "the forged record is dropped: {found:?}");
    assert!(found.iter().all(|f| f.addresses[0].ip().to_string() != "198.51.100.1"));
}
