//! `peergroup pnrp register|resolve` in a DNS cloud served by a real BIND 9 primary: a secure
//! name registered by one home, resolved from another, withdrawn on interrupt.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use peergroup_testkit::{BIND_KEY_NAME, Bind, has_bind, require};

mod common;

use common::{cmd, home_with_config, run};

/// A home (0700) whose `config.toml` names the server and, when `secret` is given, the key.
fn home(dir: &Path, server: &Bind, secret: Option<&str>) -> PathBuf {
    // Global_ off: nothing here may reach the public DHT.
    let mut config =
        format!("[global]\nenabled = false\n[dns]\nnameservers = [\"{}\"]\ntimeout_ms = 5000\n", server.addr());
    if let Some(secret) = secret {
        config.push_str(&format!(
            "[dns.update.\"corp.example\"]\nserver = \"{}\"\nkey_name = \"{BIND_KEY_NAME}\"\nsecret = \"{secret}\"\n",
            server.addr()
        ));
    }
    home_with_config(dir, &config)
}

#[test]
fn register_resolve_and_withdraw_on_interrupt() {
    let test = "register_resolve_and_withdraw_on_interrupt";
    if !require(test, has_bind(), "needs named, tsig-keygen, dig and nsupdate (apt-get install bind9 bind9-dnsutils)") {
        return;
    }
    let server = Bind::start("corp.example").unwrap();
    server.add_cloud_descriptor();
    let tmp = tempfile::tempdir().unwrap();
    let alice = home(&tmp.path().join("alice"), &server, Some(server.secret()));
    let bob = home(&tmp.path().join("bob"), &server, None);
    let out = run(&alice, &["identity", "create", "alice"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let name = String::from_utf8(out.stdout).unwrap().lines().next().unwrap().to_owned();

    let mut register = cmd(
        &alice,
        &[
            "pnrp",
            "register",
            "--cloud",
            "corp.example.",
            &name,
            "--address",
            "192.0.2.7:3587",
            "--comment",
            "hi",
            "--for",
            "60s",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut first = String::new();
    BufReader::new(register.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert_eq!(
        first.trim_end(),
        format!("registered {name}"),
        "{:?}",
        register.stderr.take().map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            s
        })
    );

    let out = run(&bob, &["pnrp", "resolve", "--cloud", "corp.example.", &name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim_end(), format!("192.0.2.7 3587 {name} hi"));
    let out = run(&bob, &["--json", "pnrp", "resolve", "--cloud", "corp.example.", &name]);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value[0]["address"], "192.0.2.7");
    assert_eq!(value[0]["port"], 3587);
    assert_eq!(value[0]["peer_name"], name.as_str());
    assert_eq!(value[0]["comment"], "hi");

    // An interrupt withdraws the registration, then the process exits 0.
    let pid = register.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = register.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let out = run(&bob, &["pnrp", "resolve", "--cloud", "corp.example.", &name, "--timeout", "3s"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PEER_E_NOT_FOUND"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An address that is not HOST:PORT: a usage error; Global_ turned off in config.toml says
    // so. (Without --address the host's own addresses are published: tests/pnrp_link.rs;
    // Global_ on a DHT: tests/pnrp_global.rs.)
    let out = run(&alice, &["pnrp", "register", "--cloud", "corp.example.", &name, "--address", "nowhere"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&bob, &["pnrp", "resolve", "--cloud", "Global_", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PEER_E_SERVICE_NOT_AVAILABLE") && stderr.contains("enabled = false"), "{stderr}");
}
