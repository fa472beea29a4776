//! `peergroup pnrp register|resolve` on the link (multicast DNS) between two hosts made of
//! network namespaces, `A —(va|vb)— B`, IPv6 link-local only: B registers without
//! `--address` (its own link-local address at a port it holds), A resolves it with the
//! scope of its own interface, B withdraws on interrupt.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use peergroup_testkit::Netns;

const BIN: &str = env!("CARGO_BIN_EXE_peergroup");

fn home(dir: &Path) -> PathBuf {
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir.to_owned()
}

fn cmd(ns: &Netns, home: &Path, args: &[&str]) -> Command {
    let mut c = ns.command(BIN);
    c.arg("--home").arg(home).args(args).env_remove("PEERGROUP_HOME");
    c
}

#[test]
fn register_on_the_link_without_an_address_and_resolve_from_the_neighbour() {
    let Some(a) = Netns::create("cla") else { return };
    let Some(b) = Netns::create("clb") else { return };
    a.veth_to(&b, "va", "vb");
    a.up_with("va", &["fe80::a/64"]);
    b.up_with("vb", &["fe80::b/64"]);
    let tmp = tempfile::tempdir().unwrap();
    let (home_a, home_b) = (home(&tmp.path().join("a")), home(&tmp.path().join("b")));

    let mut register = cmd(&b, &home_b, &["pnrp", "register", "--cloud", "LinkLocal_", "0.cli-link", "--for", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(register.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "register ended: {:?}", register.wait_with_output());
        lines.push(line.trim_end().to_owned());
    }
    assert_eq!(lines[0], "registered 0.cli-link");
    // B's only link-local address, with B's scope, at the port the command holds.
    let endpoint = lines[1].strip_prefix("endpoint ").unwrap_or_else(|| panic!("{lines:?}"));
    let prefix = format!("[fe80::b%{}]:", b.index("vb"));
    let port: u16 = endpoint.strip_prefix(&prefix).unwrap_or_else(|| panic!("{endpoint}")).parse().unwrap();
    assert_ne!(port, 0);

    let out =
        cmd(&a, &home_a, &["pnrp", "resolve", "--cloud", "LinkLocal_va", "0.cli-link", "--max", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim_end(), format!("fe80::b%{} {port} 0.cli-link", a.index("va")));
    let out = cmd(&a, &home_a, &["--json", "pnrp", "resolve", "--cloud", "LinkLocal_va", "0.cli-link", "--max", "1"])
        .output()
        .unwrap();
    let found: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found[0]["address"], format!("fe80::b%{}", a.index("va")));
    assert_eq!(found[0]["port"], port);

    let pid = register.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert!(register.wait().unwrap().success());
    let out = cmd(&a, &home_a, &["pnrp", "resolve", "--cloud", "LinkLocal_va", "0.cli-link", "--timeout", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PEER_E_NOT_FOUND"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
