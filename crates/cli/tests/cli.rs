//! The `peergroup` binary end to end: the grammar scripts depend on, and every outcome of
//! `group open`, including clouds from a real DNS server on loopback and hosts with chosen
//! interfaces (network namespaces).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use peergroup::testing::{Behaviour, StaticDns, srv};
use peergroup_testkit::Netns;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_peergroup");

struct Home {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Home {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("home");
        Self { _tmp: tmp, dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--home").arg(&self.dir).args(args).env_remove("PEERGROUP_HOME");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// The first line of a command's output (the new peer name or record id).
    fn first_line(&self, args: &[&str]) -> String {
        self.ok(args).lines().next().unwrap().to_owned()
    }

    /// An identity and a group it created.
    fn with_group(&self, cloud: Option<&str>) -> (String, String) {
        let id = self.first_line(&["identity", "create", "alice", "--friendly-name", "Alice"]);
        let mut args = vec!["group", "create", "--identity", &id, "chat"];
        if let Some(cloud) = cloud {
            args.extend(["--cloud", cloud]);
        }
        let group = self.first_line(&args);
        (id, group)
    }

    fn write_config(&self, text: &str) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(self.dir.join("config.toml"), text).unwrap();
    }
}

/// A failed command: exit status 1, one stderr line with the message, the symbolic name and
/// the HRESULT, and with `--json` the error object on stdout.
#[track_caller]
fn assert_error(out: &Output, name: &str, hex: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let line = stderr.lines().last().unwrap();
    assert!(line.contains(name) && line.contains(hex), "{line}");
}

#[test]
fn scripts_get_the_new_names_on_the_first_line() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    assert!(id.ends_with(".alice") && id.len() == 40 + 6, "{id}");
    assert!(group.ends_with(".chat"), "{group}");
    let listed = home.ok(&["identity", "list"]);
    assert!(listed.contains(&id));
    let json: Value = serde_json::from_str(home.ok(&["--json", "identity", "list"]).trim()).unwrap();
    assert_eq!(json[0]["peer_name"], id.as_str());
    let record = home.first_line(&[
        "record",
        "add",
        "--identity",
        &id,
        "--group",
        &group,
        "--type",
        "00000000-0000-0000-0000-00000000002a",
        "--attr",
        "topic=rust",
        "--attr",
        "n:int=7",
        "--data",
        "hello",
    ]);
    assert_eq!(record.len(), 36, "{record}");
    let listed = home.ok(&["record", "list", "--identity", &id, "--group", &group]);
    assert!(listed.contains(&record), "{listed}");
    let found = home.ok(&[
        "--json",
        "record",
        "search",
        "--identity",
        &id,
        "--group",
        &group,
        "--query",
        r#"<peersearch><clause attrib="n" type="int" compare="greater">5</clause></peersearch>"#,
    ]);
    let found: Value = serde_json::from_str(found.trim()).unwrap();
    assert_eq!(found[0]["id"], record.as_str());
    assert_eq!(found[0]["data"], "hello");
}

#[test]
fn invite_and_join_through_files() {
    let home = Home::new();
    let (alice, group) = home.with_group(None);
    let bob = home.first_line(&["identity", "create", "bob"]);
    let info = home.dir.join("bob.xml");
    let invitation = home.dir.join("bob.invitation");
    home.ok(&["identity", "info", &bob, "--out", info.to_str().unwrap()]);
    home.ok(&[
        "group",
        "invite",
        "--identity",
        &alice,
        "--group",
        &group,
        "--invitee",
        info.to_str().unwrap(),
        "--expires",
        "30d",
        "--out",
        invitation.to_str().unwrap(),
    ]);
    let joined = home.first_line(&["group", "join", "--identity", &bob, "--invitation", invitation.to_str().unwrap()]);
    assert_eq!(joined, group);
    let again = home.ok(&["--json", "group", "join", "--identity", &bob, "--invitation", invitation.to_str().unwrap()]);
    let again: Value = serde_json::from_str(again.trim()).unwrap();
    assert_eq!(again["already_member"], true);
    // Bob's copy opens before its first synchronisation (as `PeerGroupOpen` does): the status
    // is shown, the properties wait.
    let out = home.ok(&["group", "open", "--identity", &bob, "--group", &group]);
    assert!(out.contains("not ready yet") && out.contains("status: offline"), "{out}");
    let v: Value =
        serde_json::from_str(home.ok(&["--json", "group", "open", "--identity", &bob, "--group", &group]).trim())
            .unwrap();
    assert_eq!(
        (v["group"].as_str(), &v["ready"], &v["properties"]),
        (Some(group.as_str()), &Value::Bool(false), &Value::Null)
    );
    assert_eq!(v["status"]["connected"], false);
    // Alice's invitation presented by Alice herself is refused.
    let out = home.run(&["group", "join", "--identity", &alice, "--invitation", invitation.to_str().unwrap()]);
    assert_error(&out, "PEER_E_INVITATION_NOT_TRUSTED", "0x80630701");
}

// ---- every outcome of `group open` ----

#[test]
fn open_succeeds_offline() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let out = home.ok(&["--json", "group", "open", "--identity", &id, "--group", &group]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["properties"]["group"], group.as_str());
    assert_eq!(v["ready"], true);
    assert_eq!(v["cloud"]["name"], "Global_");
    assert_eq!(v["status"]["connected"], false);
}

#[test]
fn open_with_malformed_arguments_is_invalid_arg() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    assert_error(
        &home.run(&["group", "open", "--identity", "nonsense", "--group", &group]),
        "E_INVALIDARG",
        "0x80070057",
    );
    assert_error(&home.run(&["group", "open", "--identity", &id, "--group", "x.y.z"]), "E_INVALIDARG", "0x80070057");
    assert_error(
        &home.run(&["group", "open", "--identity", &id, "--group", &group, "--cloud", "bad name"]),
        "E_INVALIDARG",
        "0x80070057",
    );
    // A missing required option is a usage error: exit status 2.
    assert_eq!(home.run(&["group", "open", "--identity", &id]).status.code(), Some(2));
}

#[test]
fn open_with_json_prints_the_error_object() {
    let home = Home::new();
    let (_, group) = home.with_group(None);
    let unknown = format!("{}.nobody", "1".repeat(40));
    let out = home.run(&["--json", "group", "open", "--identity", &unknown, "--group", &group]);
    assert_error(&out, "PEER_E_IDENTITY_NOT_FOUND", "0x80630401");
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["error"]["name"], "PEER_E_IDENTITY_NOT_FOUND");
    assert_eq!(v["error"]["hresult"], "0x80630401");
    assert!(v["error"]["message"].as_str().unwrap().contains("not found"));
}

#[test]
fn open_a_group_the_identity_never_joined_is_not_found() {
    let home = Home::new();
    let (_, group) = home.with_group(None);
    let bob = home.first_line(&["identity", "create", "bob"]);
    assert_error(
        &home.run(&["group", "open", "--identity", &bob, "--group", &group]),
        "PEER_E_NOT_FOUND",
        "0x80070490",
    );
}

#[test]
fn open_without_key_access() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let authority = id.split('.').next().unwrap();
    let key = home.dir.join("identities").join(authority).join("key.pk8");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o604)).unwrap();
    let out = home.run(&["group", "open", "--identity", &id, "--group", &group]);
    assert_error(&out, "PEER_E_NO_KEY_ACCESS", "0x80630203");
    assert!(String::from_utf8_lossy(&out.stderr).contains(key.to_str().unwrap()));
}

#[test]
fn open_without_access_to_the_group_key() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let group_key = std::fs::read_dir(home.dir.join("groups"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|g| g.unwrap().path().join("group.key"))
        .find(|p| p.exists())
        .unwrap();
    std::fs::set_permissions(&group_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = home.run(&["group", "open", "--identity", &id, "--group", &group]);
    assert_error(&out, "PEER_E_NO_KEY_ACCESS", "0x80630203");
    assert!(String::from_utf8_lossy(&out.stderr).contains("group.key"));
}

#[test]
fn open_with_a_damaged_identity_certificate_is_a_crypto_error() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let authority = id.split('.').next().unwrap();
    let cert = home.dir.join("identities").join(authority).join("certificate.der");
    let bytes = std::fs::read(&cert).unwrap();
    std::fs::write(&cert, &bytes[..bytes.len() - 7]).unwrap();
    let out = home.run(&["group", "open", "--identity", &id, "--group", &group]);
    assert_error(&out, "NTE_BAD_KEYSET", "0x80090016");
}

/// A process allowed too few file descriptors for another group handle gets `E_OUTOFMEMORY`
/// (`ulimit -n` lowers the limit for the binary alone).
#[test]
fn open_out_of_descriptors_is_out_of_memory() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let script = format!("ulimit -n 66 && exec \"$0\" --home \"$1\" group open --identity {id} --group {group}");
    let out = Command::new("sh").arg("-c").arg(script).arg(BIN).arg(&home.dir).output().unwrap();
    assert_error(&out, "E_OUTOFMEMORY", "0x8007000e");
}

/// A private cloud named in DNS, served by a DNS server on loopback: found, and not found.
#[test]
fn open_in_a_dns_cloud() {
    let dns = StaticDns::start(Behaviour::Zone {
        records: vec![srv("_peergroup._udp.corp.test.", 300, 3540, "seed.corp.test.")],
        negative_ttl: 60,
    })
    .unwrap();
    let home = Home::new();
    home.write_config(&format!("[dns]\nnameservers = [\"{}\"]\nsearch = []\ntimeout_ms = 2000\n", dns.addr()));
    let (id, group) = home.with_group(None);
    let out = home.ok(&["--json", "group", "open", "--identity", &id, "--group", &group, "--cloud", "corp.test."]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["cloud"]["name"], "corp.test.");
    let out = home.run(&["group", "open", "--identity", &id, "--group", &group, "--cloud", "other.test."]);
    assert_error(&out, "PEER_E_NO_CLOUD", "0x80631001");
}

#[test]
fn open_when_dns_is_silent_is_no_cloud_within_the_timeout() {
    let dns = StaticDns::start(Behaviour::Silent).unwrap();
    let home = Home::new();
    home.write_config(&format!("[dns]\nnameservers = [\"{}\"]\nsearch = []\ntimeout_ms = 300\n", dns.addr()));
    let (id, group) = home.with_group(None);
    let out = home.run(&["group", "open", "--identity", &id, "--group", &group, "--cloud", "corp.test."]);
    assert_error(&out, "PEER_E_NO_CLOUD", "0x80631001");
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout"));
}

// ---- hosts with chosen interfaces ----

/// Runs the binary inside a namespace, on `home`.
fn run_in(ns: &Netns, home: &Home, args: &[&str]) -> Output {
    ns.command(BIN).arg("--home").arg(&home.dir).args(args).output().unwrap()
}

#[test]
fn open_link_local_on_hosts_with_zero_one_and_two_interfaces() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let open = ["group", "open", "--identity", &id, "--group", &group, "--cloud", "LinkLocal_"];

    let Some(none) = Netns::create("none") else { return };
    assert_error(&run_in(&none, &home, &open), "PEER_E_NO_CLOUD", "0x80631001");

    let Some(one) = Netns::create("one") else { return };
    one.veth("pg0", "pg1");
    one.up_with("pg0", &["fe80::a/64"]);
    one.up_with("pg1", &[]); // up, but without a link-local address: no cloud
    let out = run_in(
        &one,
        &home,
        &["--json", "group", "open", "--identity", &id, "--group", &group, "--cloud", "LinkLocal_"],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["cloud"]["name"], "LinkLocal_pg0");
    // A name the user types is exact: no interface `nosuch9` here is "no cloud", and the
    // message lists the clouds this host has.
    let out =
        run_in(&one, &home, &["group", "open", "--identity", &id, "--group", &group, "--cloud", "LinkLocal_nosuch9"]);
    assert_error(&out, "PEER_E_NO_CLOUD", "0x80631001");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LinkLocal_nosuch9") && stderr.contains("Global_, LinkLocal_pg0"), "{stderr}");
    // A name stored with the group, made on this host, is opened on another host whose only
    // link-local interface has another name: it falls back to its scope.
    let out = run_in(&one, &home, &["group", "create", "--identity", &id, "elsewhere", "--cloud", "LinkLocal_pg0"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stored = String::from_utf8_lossy(&out.stdout).lines().next().unwrap().to_owned();
    let Some(other) = Netns::create("other") else { return };
    other.veth("pgx", "pgy");
    other.up_with("pgx", &["fe80::b/64"]);
    other.up_with("pgy", &[]);
    let out = run_in(&other, &home, &["--json", "group", "open", "--identity", &id, "--group", &stored]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(v["cloud"]["name"], "LinkLocal_pgx");

    let Some(two) = Netns::create("two") else { return };
    two.link_locals("pga", "pgb");
    let out = run_in(&two, &home, &open);
    assert_error(&out, "PEER_E_CLOUD_NAME_AMBIGUOUS", "0x80631005");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("LinkLocal_pga") && stderr.contains("LinkLocal_pgb"), "{stderr}");
}

// ---- several processes ----

/// Two `group watch` processes and a writer: each watcher sees every record, in order.
#[test]
fn watchers_in_other_processes_receive_every_record() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let spawn_watcher = || {
        let mut child = home
            .cmd(&["--json", "group", "watch", "--identity", &id, "--group", &group, "--count", "5"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // The watcher's first line says its registration is in place.
        let ready: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        assert_eq!(ready["ready"], group.as_str());
        (child, lines)
    };
    let watchers = [spawn_watcher(), spawn_watcher()];
    let ids: Vec<String> = (0..5)
        .map(|i| {
            home.first_line(&[
                "record",
                "add",
                "--identity",
                &id,
                "--group",
                &group,
                "--type",
                "00000000-0000-0000-0000-000000000001",
                "--data",
                &format!("message {i}"),
            ])
        })
        .collect();
    for (mut child, lines) in watchers {
        let seen: Vec<String> = lines
            .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, ids);
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn deleting_the_group_ends_a_watcher() {
    let home = Home::new();
    let (id, group) = home.with_group(None);
    let mut child = home
        .cmd(&["--json", "group", "watch", "--identity", &id, "--group", &group])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    lines.next().unwrap().unwrap();
    home.ok(&["group", "delete", "--identity", &id, "--group", &group]);
    let event: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(event["event"], "status_changed");
    assert_eq!(event["deleted"], true);
    assert!(child.wait().unwrap().success());
    assert_error(&home.run(&["group", "open", "--identity", &id, "--group", &group]), "PEER_E_NOT_FOUND", "0x80070490");
}

#[test]
fn the_demo_runs() {
    let out = Command::new(BIN).arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for code in [
        "PEER_E_NO_CLOUD",
        "PEER_E_CLOUD_NAME_AMBIGUOUS",
        "PEER_E_NO_KEY_ACCESS",
        "watcher process received",
        // Online: bob's group becomes ready over loopback, records cross both ways.
        "bob's group is ready: 3 records arrived",
        "bob's status: connected",
        "(from the network)",
        "bob's event: member disconnected",
    ] {
        assert!(stdout.contains(code), "{code} missing from the demo:\n{stdout}");
    }
    // Readable text only: no Rust `Debug` forms of our types.
    for debug in ["PeerName(", "AlreadyMember(", "GroupStatus {", " { ", "Some(", "Ok("] {
        assert!(!stdout.contains(debug), "the demo prints a Debug form ({debug}):\n{stdout}");
    }
}
