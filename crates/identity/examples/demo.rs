//! The identity layer end to end, in a throw-away keystore: create two identities, list them,
//! sign and verify, export one with a password and import it into a second keystore, print
//! the public identity info an inviter needs, and show the key-access rule refusing a key
//! file that others could read.
//!
//! Run: `cargo run -p peergroup-identity --example demo`

use std::os::unix::fs::PermissionsExt;

use peergroup_identity::{IdentityError, Keystore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let store = Keystore::open(tmp.path().join("alice-home"))?;
    println!("keystore: {}", store.root().display());

    println!("\ncreating two identities (RSA-2048, provider {})...", store.provider().name());
    let alice = store.create("alice", Some("Alice"))?;
    let bob = store.create("bob", Some("Bob"))?;
    store.set_default_identity(alice.peer_name())?;
    for info in store.list()? {
        println!("  {}  {:?}", info.peer_name(), info.friendly_name());
    }
    println!("default identity: {}", store.default_identity()?.map(|n| n.to_string()).unwrap_or_default());

    let signature = alice.sign(b"hello, group")?;
    alice.info().verify(b"hello, group", &signature)?;
    println!("\nalice signed and verified a message ({} byte signature)", signature.len());
    let refused = bob.info().verify(b"hello, group", &signature);
    println!("bob's key refuses alice's signature: {}", refused.is_err());

    let exported = store.export(alice.peer_name(), "correct horse battery staple")?;
    println!("\nexported alice ({} bytes of text, password protected)", exported.len());
    let other = Keystore::open(tmp.path().join("laptop-home"))?;
    let imported = other.import(&exported, "correct horse battery staple")?;
    println!(
        "imported into a second keystore: {} (same name: {})",
        imported.peer_name(),
        imported.peer_name() == alice.peer_name()
    );
    match other.import(&exported, "wrong password!") {
        Err(e) => println!("with a wrong password: {e}"),
        Ok(_) => return Err("import with a wrong password succeeded".into()),
    }

    let xml = bob.info().to_xml();
    println!("\nbob's identity info for an inviter ({} bytes): {}...", xml.len(), &xml[..60.min(xml.len())]);

    // Someone loosens the key file's permissions: the key may no longer be used.
    std::fs::set_permissions(bob.key_path(), std::fs::Permissions::from_mode(0o644))?;
    match store.get(bob.peer_name()) {
        Err(e @ IdentityError::NoKeyAccess { .. }) => {
            println!("\nafter chmod 644 on bob's key (PEER_E_NO_KEY_ACCESS):\n  {e}")
        }
        Err(e) => return Err(e.into()),
        Ok(_) => return Err("a group-readable key was accepted".into()),
    }

    std::fs::set_permissions(bob.key_path(), std::fs::Permissions::from_mode(0o600))?;
    println!("after chmod 600 it is usable again: {}", store.get(bob.peer_name())?.sign(b"x").is_ok());

    store.delete(bob.peer_name())?;
    println!("\ndeleted bob; {} identity left. The temporary keystores are removed on exit.", store.list()?.len());
    Ok(())
}
