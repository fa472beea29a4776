//! What each command does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use peergroup::{
    Attribute, Attributes, Cloud, CloudState, ConnectionStatus, Context, CredentialRequest, CredentialSubject, Event,
    EventType, GroupProperties, GroupStatus, Identity, IdentityInfo, InvitationRequest, Joined, NewGroup, NewRecord,
    Record, RecordChange, RecordUpdate, Role, Timestamp,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::args::{
    Cli, CloudCommand, Command, GroupCommand, GroupRef, IdentityCommand, PnrpCommand, RecordCommand, RoleArg,
};
use crate::output::{CliError, CliResult, Output};

pub fn run(cli: &Cli, out: &Output) -> CliResult {
    // The demo makes its own homes; every other command works on the context of `--home`.
    let ctx = || match &cli.home {
        Some(home) => Context::open(home),
        None => Context::open_default(),
    };
    match &cli.command {
        Command::Demo => crate::demo::run(out),
        Command::Identity(c) => identity(&ctx()?, c, out),
        Command::Cloud(CloudCommand::List) => {
            let clouds = ctx()?.clouds()?;
            let text: Vec<String> = clouds.iter().map(cloud_line).collect();
            out.print(&text.join("\n"), Value::Array(clouds.iter().map(cloud_json).collect()));
            Ok(())
        }
        // A DHT node serves a network: it needs no home.
        Command::Pnrp(PnrpCommand::DhtNode { listen, bootstrap }) => crate::pnrp::dht_node(listen, bootstrap, out),
        Command::Pnrp(c) => crate::pnrp::run(&ctx()?, c, out),
        Command::Group(c) => group(&ctx()?, c, out),
        Command::Record(c) => record(&ctx()?, c, out),
    }
}

fn read_file(path: &Path) -> CliResult<String> {
    std::fs::read_to_string(path).map_err(|source| CliError::File { path: path.to_owned(), source })
}

fn write_file(path: &Path, text: &str) -> CliResult {
    std::fs::write(path, text).map_err(|source| CliError::File { path: path.to_owned(), source })
}

fn password(given: &Option<String>) -> CliResult<String> {
    given
        .clone()
        .or_else(|| std::env::var("PEERGROUP_PASSWORD").ok())
        .ok_or_else(|| CliError::Usage("give a password with --password or $PEERGROUP_PASSWORD".into()))
}

/// `30d`, `12h`, `90m`, `45s`, or plain seconds.
pub fn parse_duration(s: &str) -> CliResult<Duration> {
    let bad = || CliError::Usage(format!("{s:?} is not a duration (30d, 12h, 90m, 45s)"));
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        "d" => n.checked_mul(86_400).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(secs))
}

fn parse_uuid(what: &str, s: &str) -> CliResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| CliError::Usage(format!("{what} {s:?} is not a UUID: {e}")))
}

/// `NAME=VALUE`, `NAME:int=N`, `NAME:date=W3C-TIME`, `NAME:string=VALUE`.
fn parse_attrs(attrs: &[String]) -> CliResult<Attributes> {
    let mut out = Vec::new();
    for a in attrs {
        let (key, value) =
            a.split_once('=').ok_or_else(|| CliError::Usage(format!("attribute {a:?} is not NAME=VALUE")))?;
        let attr = match key.split_once(':') {
            None | Some((_, "string")) => Attribute::string(key.split(':').next().unwrap_or(key), value),
            Some((name, "int")) => Attribute::int(
                name,
                value.parse().map_err(|_| CliError::Usage(format!("attribute {name}: {value:?} is not an integer")))?,
            ),
            Some((name, "date")) => Attribute::date(
                name,
                Timestamp::parse_w3c(value)
                    .ok_or_else(|| CliError::Usage(format!("attribute {name}: {value:?} is not a W3C date-time")))?,
            ),
            Some((_, kind)) => return Err(CliError::Usage(format!("attribute type {kind:?}: string, int or date"))),
        };
        out.push(attr);
    }
    Ok(Attributes::new(out)?)
}

fn data(text: &Option<String>, file: &Option<PathBuf>) -> CliResult<Option<Vec<u8>>> {
    match (text, file) {
        (Some(t), _) => Ok(Some(t.as_bytes().to_vec())),
        (None, Some(path)) => {
            std::fs::read(path).map(Some).map_err(|source| CliError::File { path: path.clone(), source })
        }
        (None, None) => Ok(None),
    }
}

fn identity(ctx: &Context, command: &IdentityCommand, out: &Output) -> CliResult {
    let store = ctx.keystore();
    match command {
        IdentityCommand::Create { classifier, friendly_name } => {
            if !out.json {
                eprintln!("generating an RSA-2048 key...");
            }
            let id = store.create(classifier, friendly_name.as_deref())?;
            out.print(&format!("{}\n{}", id.peer_name(), id.friendly_name()), identity_json(id.info()));
        }
        IdentityCommand::List => {
            let list = store.list()?;
            let text: Vec<String> = list.iter().map(|i| format!("{}  {}", i.peer_name(), i.friendly_name())).collect();
            out.print(&text.join("\n"), Value::Array(list.iter().map(identity_json).collect()));
        }
        IdentityCommand::Show { identity } => {
            let id = ctx.identity(identity)?;
            out.print(&identity_text(&id), identity_json(id.info()));
        }
        IdentityCommand::Delete { identity } => {
            let id = ctx.identity(identity)?;
            store.delete(id.peer_name())?;
            out.print(&format!("deleted {}", id.peer_name()), json!({"deleted": id.peer_name().to_string()}));
        }
        IdentityCommand::Export { identity, out: file, password: pw } => {
            let id = ctx.identity(identity)?;
            let text = store.export(id.peer_name(), &password(pw)?)?;
            write_file(file, &text)?;
            out.print(
                &format!("exported {} to {}", id.peer_name(), file.display()),
                json!({"exported": id.peer_name().to_string(), "file": file}),
            );
        }
        IdentityCommand::Import { file, password: pw } => {
            let id = store.import(&read_file(file)?, &password(pw)?)?;
            out.print(&id.peer_name().to_string(), identity_json(id.info()));
        }
        IdentityCommand::Info { identity, out: file } => {
            let id = ctx.identity(identity)?;
            let xml = id.info().to_xml();
            match file {
                Some(path) => {
                    write_file(path, &xml)?;
                    out.print(
                        &format!("wrote {}", path.display()),
                        json!({"file": path, "peer_name": id.peer_name().to_string()}),
                    );
                }
                None => out.print(&xml, json!({"identity_info": xml})),
            }
        }
    }
    Ok(())
}

fn group(ctx: &Context, command: &GroupCommand, out: &Output) -> CliResult {
    match command {
        GroupCommand::Create { identity, classifier, friendly_name, cloud, password, password_role } => {
            let mut new = NewGroup::new(classifier.clone(), friendly_name.clone().unwrap_or_default());
            // The facade resolves it and keeps it as given, as for the C ABI.
            new.cloud = cloud.clone();
            new.password = password.clone().map(peergroup::GroupPassword::new);
            new.password_role = role_of(*password_role);
            if !out.json {
                eprintln!("generating the group key...");
            }
            let name = ctx.create_group(identity, &new)?;
            out.print(&name.to_string(), json!({"group": name.to_string()}));
        }
        GroupCommand::List { identity } => {
            let groups = ctx.groups(identity)?;
            let text: Vec<String> =
                groups.iter().map(|g| format!("{}  {}", g.group_peer_name, g.friendly_name)).collect();
            out.print(&text.join("\n"), Value::Array(groups.iter().map(properties_json).collect()));
        }
        GroupCommand::Invite { identity, group, invitee, password_invitation, role, expires, out: file } => {
            let text = match invitee {
                Some(invitee) if !password_invitation => {
                    let request = InvitationRequest { roles: vec![role_of(*role)], expiration: expiration(expires)? };
                    ctx.invite(identity, group, &read_file(invitee)?, &request)?
                }
                _ => ctx.open_group_blocking(identity, group, None)?.create_password_invitation()?,
            };
            match file {
                Some(path) => {
                    write_file(path, &text)?;
                    out.print(&format!("wrote {}", path.display()), json!({"file": path}));
                }
                None => out.print(&text, json!({"invitation": text})),
            }
        }
        GroupCommand::Issue { identity, group, subject, role, expires, store, out: file } => {
            let info = IdentityInfo::from_xml(&read_file(subject)?)?;
            let request = CredentialRequest {
                roles: role.map(role_of).into_iter().collect(),
                expiration: expiration(expires)?,
                friendly_name: None,
                store: *store,
            };
            let handle = ctx.open_group_blocking(identity, group, None)?;
            let text = handle.issue_credentials(CredentialSubject::Identity(&info), &request)?;
            let stored = json!({"subject": info.peer_name().to_string(), "stored": store});
            match file {
                Some(path) => {
                    write_file(path, &text)?;
                    out.print(&format!("wrote {}", path.display()), json!({"file": path, "credentials": stored}));
                }
                None if *store => out.print(&format!("stored credentials for {}", info.peer_name()), stored),
                None => out.print(&text, json!({"invitation": text, "credentials": stored})),
            }
        }
        GroupCommand::Join { identity, invitation, cloud, password, addresses } => {
            let text = read_file(invitation)?;
            let joined = match password {
                Some(password) => {
                    let addresses =
                        addresses.iter().map(|a| crate::pnrp::endpoint(a)).collect::<CliResult<Vec<_>>>()?;
                    ctx.password_join_blocking(identity, &text, password, cloud.as_deref(), &addresses)?
                }
                None => ctx.join(identity, &text)?,
            };
            let already = matches!(joined, Joined::AlreadyMember(_));
            if cloud.is_some() {
                ctx.open_group_blocking(identity, &joined.group().to_string(), cloud.as_deref())?;
            }
            let note = if already { "\nalready a member (PEER_S_ALREADY_A_MEMBER)" } else { "" };
            out.print(
                &format!("{}{note}", joined.group()),
                json!({"group": joined.group().to_string(), "already_member": already}),
            );
        }
        GroupCommand::Open(g) => {
            // `PeerGroupOpen` succeeds for a joined group before its first synchronisation;
            // only its properties wait for that, so they are shown once they can be read.
            let handle = open(ctx, g)?;
            let status = handle.status()?;
            let ready = handle.is_ready()?;
            let props = if ready { Some(handle.properties()?) } else { None };
            let head = match &props {
                Some(props) => properties_text(props),
                None => format!(
                    "{}\nnot ready yet: the group's properties and records arrive with the first \
                     synchronisation with a member (PEER_E_GROUP_NOT_READY until then)",
                    handle.peer_name()
                ),
            };
            let roles: Vec<String> = handle.roles().iter().map(Role::to_string).collect();
            let leaf = handle.membership().chain.leaf();
            let text = format!(
                "{head}\ncloud: {}\nstatus: {}\nroles: {}\n",
                cloud_line(handle.cloud()),
                status_word(&status),
                roles.join(", ")
            );
            out.print(
                &text,
                json!({"group": handle.peer_name().to_string(), "ready": ready, "roles": roles,
                       "valid_from": leaf.not_before, "valid_until": leaf.not_after,
                       "properties": props.as_ref().map(properties_json), "cloud": cloud_json(handle.cloud()),
                       "status": {"flags": status.flags(), "connected": status.is_connected()}}),
            );
            handle.close();
        }
        GroupCommand::Watch { group: g, count } => {
            let handle = open(ctx, g)?;
            let mut events = handle.events(&EventType::ALL)?;
            if !out.json {
                eprintln!("watching {} (Ctrl-C to stop)", handle.peer_name());
            }
            // A line scripts can wait for: the registration is in place from here on.
            out.print(&format!("ready {}", handle.peer_name()), json!({"ready": handle.peer_name().to_string()}));
            let mut seen = 0;
            while count.is_none_or(|n| seen < n) {
                let Some(event) = events.recv_timeout(Duration::from_millis(500))? else {
                    if events.is_ended() {
                        break;
                    }
                    continue;
                };
                seen += 1;
                out.print(&event_text(&event), event_json(&event));
                if matches!(event, Event::StatusChanged { deleted: true, .. }) {
                    break;
                }
            }
        }
        GroupCommand::Connect { group: g, addresses, duration } => {
            crate::net::connect(&open(ctx, g)?, addresses, duration.as_deref(), out)?;
        }
        GroupCommand::Send { group: g, to, connection, data_type, data, data_file, addresses, timeout } => {
            let bytes = match (data, data_file) {
                (Some(text), _) => text.clone().into_bytes(),
                (None, Some(path)) => {
                    std::fs::read(path).map_err(|source| CliError::File { path: path.clone(), source })?
                }
                (None, None) => return Err(CliError::Usage("give --data or --data-file".into())),
            };
            let send = crate::net::Send {
                to: to.as_deref(),
                connection: *connection,
                data_type,
                bytes: &bytes,
                addresses,
                timeout: timeout.as_deref(),
            };
            crate::net::send(&open(ctx, g)?, &send, out)?;
        }
        GroupCommand::Status(g) => crate::net::status(&open(ctx, g)?, out)?,
        GroupCommand::Members { group: g, present } => crate::net::members(&open(ctx, g)?, *present, out)?,
        GroupCommand::Connections(g) => crate::net::connections(&open(ctx, g)?, out)?,
        GroupCommand::Properties(g) => {
            let handle = open(ctx, g)?;
            let props = handle.properties()?;
            out.print(&properties_text(&props), properties_json(&props));
        }
        GroupCommand::Delete(g) => {
            ctx.delete_group(&g.identity, &g.group)?;
            out.print(&format!("deleted {}", g.group), json!({"deleted": g.group}));
        }
    }
    Ok(())
}

fn role_of(role: RoleArg) -> Role {
    match role {
        RoleArg::Member => Role::Member,
        RoleArg::Administrator => Role::Administrator,
    }
}

/// `--expires DURATION` as a time from now.
fn expiration(expires: &Option<String>) -> CliResult<Option<std::time::SystemTime>> {
    Ok(expires.as_deref().map(parse_duration).transpose()?.map(|d| std::time::SystemTime::now() + d))
}

fn open(ctx: &Context, g: &GroupRef) -> CliResult<peergroup::Group> {
    Ok(ctx.open_group_blocking(&g.identity, &g.group, g.cloud.as_deref())?)
}

fn record(ctx: &Context, command: &RecordCommand, out: &Output) -> CliResult {
    match command {
        RecordCommand::Add { group, record_type, attrs, data: text, data_file, expires } => {
            let new = NewRecord {
                record_type: parse_uuid("record type", record_type)?,
                attributes: parse_attrs(attrs)?,
                expires: Timestamp::now().saturating_add(parse_duration(expires)?),
                data: data(text, data_file)?.unwrap_or_default(),
            };
            let handle = open(ctx, group)?;
            let record = handle.add_record(new)?;
            out.print(&record.id.to_string(), record_json(&record));
        }
        RecordCommand::Get { group, id } => {
            let id = parse_uuid("record id", id)?;
            let record = open(ctx, group)?.record(id)?;
            out.print(&record_text(&record), record_json(&record));
        }
        RecordCommand::List { group, record_type } => {
            let record_type = record_type.as_deref().map(|t| parse_uuid("record type", t)).transpose()?;
            let records = open(ctx, group)?.records(record_type)?;
            print_records(&records, out);
        }
        RecordCommand::Update { group, id, attrs, data: text, data_file, expires } => {
            let id = parse_uuid("record id", id)?;
            let handle = open(ctx, group)?;
            let current = handle.record(id)?;
            let update = RecordUpdate {
                attributes: if attrs.is_empty() { current.attributes.clone() } else { parse_attrs(attrs)? },
                expires: match expires {
                    Some(d) => Timestamp::now().saturating_add(parse_duration(d)?),
                    None => current.expires,
                },
                data: data(text, data_file)?.unwrap_or(current.data),
            };
            let record = handle.update_record(id, update)?;
            out.print(&record.id.to_string(), record_json(&record));
        }
        RecordCommand::Delete { group, id } => {
            let id = parse_uuid("record id", id)?;
            open(ctx, group)?.delete_record(id)?;
            out.print(&format!("deleted {id}"), json!({"deleted": id.to_string()}));
        }
        RecordCommand::Search { group, query } => {
            let records = open(ctx, group)?.search(query)?;
            print_records(&records, out);
        }
    }
    Ok(())
}

fn print_records(records: &[Record], out: &Output) {
    let text: Vec<String> = records.iter().map(record_text).collect();
    out.print(&text.join("\n"), Value::Array(records.iter().map(record_json).collect()));
}

fn identity_text(id: &Identity) -> String {
    format!("{}\nfriendly name: {}\nkey: {}", id.peer_name(), id.friendly_name(), id.key_path().display())
}

pub fn identity_json(info: &IdentityInfo) -> Value {
    json!({"peer_name": info.peer_name().to_string(), "friendly_name": info.friendly_name()})
}

/// The status as one word: what a person reads, never a `Debug` form.
pub fn status_word(status: &GroupStatus) -> &'static str {
    match (status.listening, status.connections) {
        (_, 1..) => "connected",
        (true, 0) => "listening",
        (false, 0) => "offline",
    }
}

pub fn cloud_line(c: &Cloud) -> String {
    format!(
        "{}  scope {} ({})  id {}  state {}{}",
        c.name,
        c.scope.to_raw(),
        c.scope,
        c.scope_id,
        state_word(c.state),
        if c.local_only { "  local-only" } else { "" }
    )
}

pub fn cloud_json(c: &Cloud) -> Value {
    json!({"name": c.name.to_string(), "scope": c.scope.to_raw(), "scope_id": c.scope_id,
           "state": state_word(c.state), "local_only": c.local_only})
}

fn state_word(state: CloudState) -> &'static str {
    match state {
        CloudState::Virtual => "virtual",
        CloudState::Synchronising => "synchronising",
        CloudState::Active => "active",
        CloudState::Dead => "dead",
        CloudState::Disabled => "disabled",
        CloudState::NoNet => "no-network",
        CloudState::Alone => "alone",
    }
}

fn connection_word(status: ConnectionStatus) -> &'static str {
    match status {
        ConnectionStatus::Connected => "connected",
        ConnectionStatus::Disconnected => "disconnected",
        ConnectionStatus::Failed => "failed",
    }
}

fn change_word(change: RecordChange) -> &'static str {
    match change {
        RecordChange::Added => "added",
        RecordChange::Updated => "updated",
        RecordChange::Deleted => "deleted",
        RecordChange::Expired => "expired",
    }
}

fn properties_text(p: &GroupProperties) -> String {
    format!(
        "{}\nfriendly name: {}\ncreator: {}\ncloud: {}\ncomment: {}\nversion: {}",
        p.group_peer_name, p.friendly_name, p.creator, p.cloud_name, p.comment, p.version
    )
}

pub fn properties_json(p: &GroupProperties) -> Value {
    json!({"group": p.group_peer_name.to_string(), "classifier": p.classifier, "creator": p.creator.to_string(),
           "friendly_name": p.friendly_name, "comment": p.comment, "cloud": p.cloud_name,
           "member_data_lifetime": p.member_data_lifetime, "presence_lifetime": p.presence_lifetime,
           "flags": p.flags, "authentication_schemes": p.authentication_schemes, "version": p.version})
}

fn record_text(r: &Record) -> String {
    format!(
        "{}  type {}  v{}  by {}  {} bytes  {}",
        r.id,
        r.record_type,
        r.version,
        r.modifier,
        r.data.len(),
        String::from_utf8_lossy(&r.data).chars().take(60).collect::<String>()
    )
}

pub fn record_json(r: &Record) -> Value {
    json!({"id": r.id.to_string(), "type": r.record_type.to_string(), "version": r.version, "flags": r.flags,
           "creator": r.creator.to_string(), "modifier": r.modifier.to_string(),
           "attributes": r.attributes.to_xml(), "created": r.created.to_w3c(), "modified": r.modified.to_w3c(),
           "expires": r.expires.to_w3c(), "data": String::from_utf8_lossy(&r.data)})
}

pub fn event_text(e: &Event) -> String {
    match e {
        Event::RecordChanged { change, id, record_type } => {
            format!("record {} {id} type {record_type}", change_word(*change))
        }
        Event::PropertyChanged => "properties changed".into(),
        Event::MemberChanged { peer_name } => format!("member changed {peer_name}"),
        Event::MemberJoined { peer_name } => format!("member joined {peer_name}"),
        Event::StatusChanged { status, deleted } => {
            if *deleted {
                "group deleted".into()
            } else {
                format!("status {status:#x}")
            }
        }
        Event::Resync => "resync: events were lost, read the group again".into(),
        Event::NeighborConnection { status, connection: c } => {
            format!("neighbor {} {} {} {}", connection_word(*status), c.id, c.peer, c.addr)
        }
        Event::MemberPresence { peer_name, connected } => {
            format!("member {} {peer_name}", if *connected { "connected" } else { "disconnected" })
        }
        Event::ConnectionFailed { reason } => format!("connection failed: {reason}"),
        Event::AuthenticationFailed { reason } => format!("authentication failed: {reason}"),
        Event::DirectConnection { status, connection: c, reason } => match reason {
            Some(reason) => format!("direct {} {} {}: {reason}", connection_word(*status), c.id, c.peer),
            None => format!("direct {} {} {} {}", connection_word(*status), c.id, c.peer, c.addr),
        },
        Event::IncomingData { peer, data_type, data, .. } => format!("data {peer} {data_type} {}", data.len()),
        // Event is non-exhaustive: a kind this command does not know yet shows its type number.
        _ => format!("event {}", e.event_type().to_raw()),
    }
}

pub fn event_json(e: &Event) -> Value {
    match e {
        Event::RecordChanged { change, id, record_type } => json!({"event": "record_changed",
            "change": change_word(*change), "id": id.to_string(), "type": record_type.to_string()}),
        Event::PropertyChanged => json!({"event": "property_changed"}),
        Event::MemberChanged { peer_name } => json!({"event": "member_changed", "peer_name": peer_name.to_string()}),
        Event::MemberJoined { peer_name } => {
            json!({"event": "member_changed", "change": "joined", "peer_name": peer_name.to_string()})
        }
        Event::StatusChanged { status, deleted } => {
            json!({"event": "status_changed", "status": status, "deleted": deleted})
        }
        Event::Resync => json!({"event": "resync"}),
        Event::NeighborConnection { status, connection: c } => json!({"event": "neighbor_connection",
            "status": connection_word(*status), "id": c.id, "peer_name": c.peer.to_string(),
            "address": c.addr.to_string(), "outgoing": c.outgoing}),
        Event::MemberPresence { peer_name, connected } => json!({"event": "member_changed",
            "change": if *connected { "connected" } else { "disconnected" }, "peer_name": peer_name.to_string()}),
        Event::ConnectionFailed { reason } => json!({"event": "connection_failed", "reason": reason}),
        Event::AuthenticationFailed { reason } => json!({"event": "authentication_failed", "reason": reason}),
        Event::DirectConnection { status, connection: c, reason } => json!({"event": "direct_connection",
            "status": connection_word(*status), "id": c.id, "peer_name": c.peer.to_string(),
            "address": c.addr.to_string(), "outgoing": c.outgoing, "reason": reason}),
        Event::IncomingData { connection, peer, data_type, data } => {
            use base64::Engine as _;
            json!({"event": "incoming_data", "connection": connection, "peer_name": peer.to_string(),
                   "type": data_type.to_string(), "length": data.len(),
                   "data": base64::engine::general_purpose::STANDARD.encode(data)})
        }
        _ => json!({"event": e.event_type().to_raw()}),
    }
}
