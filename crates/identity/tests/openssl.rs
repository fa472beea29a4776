//! External cross-check with the `openssl` command: our identity certificates verify under
//! OpenSSL, the authority is SHA-1 of the public key DER that OpenSSL extracts, and the
//! export file is standard encrypted PKCS#8 that OpenSSL decrypts.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::path::Path;
use std::process::{Command, Stdio};

use peergroup_identity::{Keystore, testing, x509};
use sha1::{Digest, Sha1};

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::piped())
        .output()
        .expect("the `openssl` command is needed by this test (apt-get install openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[test]
fn openssl_accepts_identity_certificate_and_export() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Keystore::open(tmp.path().join("home")).unwrap();
    let id = store.create_with_key("openssl-check", Some("Cross Check"), &testing::key(0)).unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("c.pem"), x509::to_pem("CERTIFICATE", id.certificate_der())).unwrap();

    let verify = openssl(&["verify", "-CAfile", "c.pem", "c.pem"], dir);
    assert_eq!(String::from_utf8_lossy(&verify).trim(), "c.pem: OK");

    let spki = openssl(&["x509", "-in", "c.pem", "-noout", "-pubkey", "-outform", "PEM"], dir);
    std::fs::write(dir.join("pub.pem"), spki).unwrap();
    let der = openssl(&["pkey", "-pubin", "-in", "pub.pem", "-outform", "DER"], dir);
    let hash: String = Sha1::digest(&der).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hash, id.peer_name().authority().to_hex());
    assert_eq!(der, id.public_key_der());

    let text = openssl(&["x509", "-in", "c.pem", "-noout", "-subject"], dir);
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains(&id.peer_name().to_string()), "{text}");

    let export = store.export(id.peer_name(), "export password").unwrap();
    std::fs::write(dir.join("export.txt"), export).unwrap();
    let key = openssl(
        &["pkcs8", "-topk8", "-nocrypt", "-in", "export.txt", "-passin", "pass:export password", "-outform", "DER"],
        dir,
    );
    assert!(!key.is_empty());
    let cert_again = openssl(&["x509", "-in", "export.txt", "-outform", "DER"], dir);
    assert_eq!(cert_again, id.certificate_der());
}
