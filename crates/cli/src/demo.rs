//! `peergroup demo`: the whole flow in a temporary home, no setup.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
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

/// A private home (0700) in `parent`, whose DNS server does not exist, so that the demo's
/// "no cloud" case needs no network, and whose `Global_` is off, so that a group going online
/// registers nowhere (the demo's members meet by address over loopback).
fn make_home(parent: &Path, name: &str) -> CliResult<PathBuf> {
    let home = parent.join(name);
    std::fs::create_dir(&home).map_err(|source| CliError::File { path: home.clone(), source })?;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
        .map_err(|source| CliError::File { path: home.clone(), source })?;
    let config = home.join("config.toml");
    let settings = "[global]\nenabled = false\n[dns]\nnameservers = [\"127.0.0.1:9\"]\nsearch = []\ntimeout_ms = 500\n";
    std::fs::write(&config, settings).map_err(|source| CliError::File { path: config.clone(), source })?;
    Ok(home)
}

pub fn run(out: &Output) -> CliResult {
    if out.json {
        return Err(CliError::Usage("demo prints text only; run it without --json".into()));
    }
    let tmp = tempfile::tempdir().map_err(|source| CliError::File { path: std::env::temp_dir(), source })?;
    let home = make_home(tmp.path(), "alice")?;
    let bob_home = make_home(tmp.path(), "bob")?;
    let ctx = Context::open(&home)?;
    let bob_ctx = Context::open(&bob_home)?;
    println!("peergroup demo in two temporary homes: {} and {}", home.display(), bob_home.display());

    step("1. two identities in two homes (RSA-2048 keys, self-signed certificates)");
    let alice = ctx.keystore().create("alice", Some("Alice"))?;
    let bob = bob_ctx.keystore().create("bob", Some("Bob"))?;
    println!("  alice: {}\n  bob:   {}", alice.peer_name(), bob.peer_name());
    let (alice_name, bob_name) = (alice.peer_name().to_string(), bob.peer_name().to_string());

    step("2. alice creates a group");
    let group = ctx.create_group(&alice_name, &NewGroup::new("chat", "Demo chat"))?.to_string();
    println!("  group: {group}");

    step("3. alice invites bob (from his public identity info), bob joins");
    let request = InvitationRequest { roles: vec![Role::Member], expiration: None };
    let invitation = ctx.invite(&alice_name, &group, &bob.info().to_xml(), &request)?;
    println!("  invitation: {} bytes of text, safe for mail or chat", invitation.len());
    let joined = bob_ctx.join(&bob_name, &invitation)?;
    println!("  bob joined {}", joined.group());
    let again = bob_ctx.join(&bob_name, &invitation)?;
    let outcome = match again {
        peergroup::Joined::AlreadyMember(_) => "already a member (PEER_S_ALREADY_A_MEMBER)",
        peergroup::Joined::Joined(_) => "joined again",
    };
    println!("  joining again is harmless: {outcome}");
    let bobs = bob_ctx.open_group_blocking(&bob_name, &group, None)?;
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

    step(
        "5. online: alice's group connected by another process, bob's by this one, over loopback; records and a direct connection",
    );
    online(&exe, &home, &alice_name, &bob_ctx, &bob_name, &ctx, &group)?;

    step("6. the documented errors of PeerGroupOpen, with their codes");
    show_error("no such group", bob_ctx.open_group_blocking(&bob_name, &format!("{}.other", "0".repeat(40)), None))?;
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

    step("7. clean up");
    ctx.delete_group(&alice_name, &group)?;
    println!("  deleted the group; the temporary home is removed on exit");
    Ok(())
}

/// The data type of the demo's direct message.
const DEMO_DATA_TYPE: uuid::Uuid = uuid::Uuid::from_u128(0x6368_a7d1_5e1f_4c2b_9a11_3b7e_520c_4401);

/// Step 5: `group connect` in a process of alice's home listens; this process connects bob's
/// group to it by address, becomes ready, and records cross both ways as events.
fn online(
    exe: &Path,
    home: &Path,
    alice_name: &str,
    bob_ctx: &Context,
    bob_name: &str,
    ctx: &Context,
    group: &str,
) -> CliResult {
    let io = |source| CliError::File { path: exe.to_owned(), source };
    let mut holder = Command::new(exe)
        .arg("--home")
        .arg(home)
        .args(["group", "connect", "--identity", alice_name, "--group", group, "--for", "60s"])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(io)?;
    let stdout = holder.stdout.take().ok_or_else(|| CliError::Usage("no output from group connect".into()))?;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = |what: &str| {
        lines.recv_timeout(WAIT).map_err(|_| CliError::Usage(format!("group connect printed no {what} within 10 s")))
    };
    let port = loop {
        let line = next_line("port")?;
        println!("  alice's process {}: {line}", holder.id());
        if let Some(port) = line.strip_prefix("listening ").and_then(|p| p.parse::<u16>().ok()) {
            break port;
        }
    };

    let bobs = bob_ctx.open_group_blocking(bob_name, group, None)?;
    let mut events = bobs.events(&[])?;
    bobs.connect_by_address(&[SocketAddr::from((Ipv4Addr::LOCALHOST, port))])?;
    println!("  bob connects to 127.0.0.1:{port}");
    let mut shown = 0;
    let start = std::time::Instant::now();
    while !bobs.is_ready()? || shown < 3 {
        if start.elapsed() > WAIT {
            return Err(CliError::Usage("bob's group did not become ready within 10 s".into()));
        }
        if let Some(event) = events.recv_timeout(Duration::from_millis(50))?
            && !matches!(event, peergroup::Event::RecordChanged { .. })
        {
            println!("  bob's event: {}", crate::commands::event_text(&event));
            shown += 1;
        }
    }
    println!("  bob's group is ready: {} records arrived", bobs.records(None)?.len());
    let status = bobs.status()?;
    println!("  bob's status: {} ({} connection)", crate::commands::status_word(&status), status.connections);

    let mine = bobs.add_record(chat("hello from bob's home"))?;
    println!("  bob adds record {}", mine.id);
    loop {
        let line = next_line("record event")?;
        if line.contains("Global_ is disabled") {
            // The demo's homes keep off the public DHT: the group's name is registered nowhere.
            println!("  alice's process {}: (Global_ is off in the demo's homes: nothing registered)", holder.id());
            continue;
        }
        println!("  alice's process {}: {line}", holder.id());
        if line.contains(&mine.id.to_string()) {
            break;
        }
    }
    // A third process of alice's home (this one) adds a record: it goes out through the store.
    let alices = ctx.open_group_blocking(alice_name, group, None)?;
    let theirs = alices.add_record(chat("hello from alice's home"))?;
    println!("  another process of alice's home adds record {}", theirs.id);
    loop {
        match events.recv_timeout(WAIT)? {
            Some(peergroup::Event::RecordChanged { id, .. }) if id == theirs.id => {
                println!("  bob's event: record added {id} (from the network)");
                break;
            }
            Some(_) => {}
            None => return Err(CliError::Usage("alice's record did not reach bob within 10 s".into())),
        }
    }
    // A direct connection from this process of alice's home, carried by her holder process.
    let bob_peer: peergroup::PeerName = bob_name.parse().map_err(|e| CliError::Usage(format!("{bob_name}: {e}")))?;
    let mut alice_events = alices.events(&[peergroup::EventType::DirectConnection])?;
    let direct = alices.open_direct_connection(&bob_peer, None)?;
    println!("  another process of alice's home opens direct connection {direct} to bob");
    match alice_events.recv_timeout(WAIT)? {
        Some(peergroup::Event::DirectConnection { status: peergroup::ConnectionStatus::Connected, .. }) => {}
        other => return Err(CliError::Usage(format!("the direct connection did not open: {other:?}"))),
    }
    alices.send_data(direct, DEMO_DATA_TYPE, b"a whisper for bob")?;
    alices.close_direct_connection(direct)?;
    println!("  it sends 17 bytes on it and closes it");
    loop {
        match events.recv_timeout(WAIT)? {
            Some(event @ peergroup::Event::IncomingData { .. }) => {
                println!("  bob's event: {}", crate::commands::event_text(&event));
            }
            Some(event @ peergroup::Event::DirectConnection { status, .. }) => {
                println!("  bob's event: {}", crate::commands::event_text(&event));
                if status == peergroup::ConnectionStatus::Disconnected {
                    break;
                }
            }
            Some(_) => {}
            None => return Err(CliError::Usage("the direct connection did not close within 10 s".into())),
        }
    }
    let status = alices.status()?;
    println!(
        "  alice's status as her other processes see it: {} (presence held by process {})",
        crate::commands::status_word(&status),
        status.presence_pid.unwrap_or_default()
    );
    alices.close();
    // SIGTERM: `group connect` closes the group and exits.
    let _ = Command::new("kill").args(["-TERM", &holder.id().to_string()]).status();
    let _ = holder.wait();
    loop {
        match events.recv_timeout(WAIT)? {
            Some(peergroup::Event::MemberPresence { peer_name, connected: false }) => {
                println!("  bob's event: member disconnected {peer_name}");
                break;
            }
            Some(_) => {}
            None => return Err(CliError::Usage("bob did not see alice go within 10 s".into())),
        }
    }
    bobs.close();
    Ok(())
}

/// How long the demo waits for the network at most (loopback answers in milliseconds).
const WAIT: Duration = Duration::from_secs(10);

fn chat(text: &str) -> NewRecord {
    NewRecord {
        record_type: uuid::Uuid::from_u128(0x7e57),
        attributes: Attributes::empty(),
        expires: Timestamp::now().saturating_add(Duration::from_secs(3600)),
        data: text.as_bytes().to_vec(),
    }
}
