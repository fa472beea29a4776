//! `peergroup demo`: the whole flow in a temporary home, no setup.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use peergroup::{Attribute, Attributes, Context, DnsConfig, InvitationRequest, NewGroup, NewRecord, Role, Timestamp};

use crate::output::{CliError, CliResult, Output};

fn step(title: &str) {
    println!("\n== {title}");
}

fn show_error<T>(what: &str, result: peergroup::Result<T>) -> CliResult {
    match result {
        Err(e) => {
            println!("  {what}: {} ({:#010x})\n    {e}", e.name(), e.hresult().bits());
            Ok(())
        }
        Ok(_) => Err(CliError::Usage(format!("{what}: expected an error, and it succeeded"))),
    }
}

pub fn run(out: &Output) -> CliResult {
    if out.json {
        return Err(CliError::Usage("demo prints text only; run it without --json".into()));
    }
    let tmp = tempfile::tempdir().map_err(|source| CliError::File { path: std::env::temp_dir(), source })?;
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).map_err(|source| CliError::File { path: home.clone(), source })?;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
        .map_err(|source| CliError::File { path: home.clone(), source })?;
    // A DNS server that does not exist, so the demo's "no cloud" case needs no network.
    let config = home.join("config.toml");
    std::fs::write(&config, "[dns]\nnameservers = [\"127.0.0.1:9\"]\nsearch = []\ntimeout_ms = 500\n")
        .map_err(|source| CliError::File { path: config.clone(), source })?;
    let ctx = Context::open(&home)?;
    println!("peergroup demo in a temporary home: {}", home.display());

    step("1. two identities (RSA-2048 keys, self-signed certificates)");
    let alice = ctx.keystore().create("alice", Some("Alice"))?;
    let bob = ctx.keystore().create("bob", Some("Bob"))?;
    println!("  alice: {}\n  bob:   {}", alice.peer_name(), bob.peer_name());
    let (alice_name, bob_name) = (alice.peer_name().to_string(), bob.peer_name().to_string());

    step("2. alice creates a group");
    let group = ctx.create_group(&alice_name, &NewGroup::new("chat", "Demo chat"))?.to_string();
    println!("  group: {group}");

    step("3. alice invites bob (from his public identity info), bob joins");
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let invitation = ctx.invite(&alice_name, &group, &bob.info().to_xml(), &request)?;
    println!("  invitation: {} bytes of text, safe for mail or chat", invitation.len());
    let joined = ctx.join(&bob_name, &invitation)?;
    println!("  bob joined {}", joined.group());
    let again = ctx.join(&bob_name, &invitation)?;
    let outcome = match again {
        peergroup::Joined::AlreadyMember(_) => "already a member (PEER_S_ALREADY_A_MEMBER)",
        peergroup::Joined::Joined(_) => "joined again",
    };
    println!("  joining again is harmless: {outcome}");
    let bobs = ctx.open_group_blocking(&bob_name, &group, None)?;
    println!("  bob opens his copy: status {}", crate::commands::status_word(&bobs.status()?));
    match bobs.records(None) {
        Err(e) => println!(
            "  his records wait for a first synchronisation with a member: {} ({:#010x})",
            e.name(),
            e.hresult().bits()
        ),
        Ok(r) => println!("  bob sees {} records", r.len()),
    }
    bobs.close();

    step("4. alice opens the group in two processes; records added here reach the other as events");
    let exe = std::env::current_exe().map_err(|source| CliError::File { path: "/proc/self/exe".into(), source })?;
    let mut watcher = Command::new(&exe)
        .arg("--home")
        .arg(&home)
        .args(["--json", "group", "watch", "--identity", &alice_name, "--group", &group, "--count", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| CliError::File { path: exe.clone(), source })?;
    let stdout = watcher.stdout.take().ok_or_else(|| CliError::Usage("no watcher output".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    // Wait for the watcher's registration, so no event is missed (no sleeps to order events).
    let ready = lines.next().transpose().map_err(|source| CliError::File { path: exe.clone(), source })?;
    println!("  watcher process {} says: {}", watcher.id(), ready.unwrap_or_default());
    let handle = ctx.open_group_blocking(&alice_name, &group, None)?;
    for text in ["hello", "from", "peergroup"] {
        let record = handle.add_record(NewRecord {
            record_type: uuid::Uuid::from_u128(0x7e57),
            attributes: Attributes::new(vec![Attribute::string("text", text)])?,
            expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
            data: text.as_bytes().to_vec(),
        })?;
        println!("  this process added record {} (\"{text}\")", record.id);
    }
    for line in lines.take(3) {
        let line = line.map_err(|source| CliError::File { path: exe.clone(), source })?;
        println!("  watcher process received: {line}");
    }
    let _ = watcher.wait();
    let found = handle.search(r#"<peersearch><clause attrib="text" type="string">h*</clause></peersearch>"#)?;
    println!("  search text = \"h*\": {} record(s)", found.len());
    handle.close();

    step("5. the documented errors of PeerGroupOpen, with their codes");
    show_error("no such group", ctx.open_group_blocking(&bob_name, &format!("{}.other", "0".repeat(40)), None))?;
    show_error("malformed group name", ctx.open_group_blocking(&alice_name, "not a peer name", None))?;
    show_error("a cloud no DNS server knows", ctx.open_group_blocking(&alice_name, &group, Some("nosuch.example.")))?;
    let two_link_host = Context::with_parts(
        ctx.keystore().clone(),
        DnsConfig::default(),
        Arc::new(peergroup::testing::host_with_link_locals(2)),
    );
    show_error(
        "LinkLocal_ on a host with two link-local interfaces (eth0, eth1)",
        two_link_host.open_group_blocking(&alice_name, &group, Some("LinkLocal_")),
    )?;
    std::fs::set_permissions(alice.key_path(), std::fs::Permissions::from_mode(0o644))
        .map_err(|source| CliError::File { path: alice.key_path().to_owned(), source })?;
    show_error(
        "alice's key file made readable by others (mode 0644)",
        ctx.open_group_blocking(&alice_name, &group, None),
    )?;
    std::fs::set_permissions(alice.key_path(), std::fs::Permissions::from_mode(0o600))
        .map_err(|source| CliError::File { path: alice.key_path().to_owned(), source })?;

    step("6. clean up");
    ctx.delete_group(&alice_name, &group)?;
    println!("  deleted the group; the temporary home is removed on exit");
    Ok(())
}
