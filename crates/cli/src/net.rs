//! `peergroup group connect|status|members|connections`: a group online.

use std::net::SocketAddr;
use std::time::Duration;

use peergroup::{EventType, Group, Member, PEER_MEMBER_PRESENT, PeerName};
use serde_json::{Value, json};

use crate::commands::{event_json, event_text, parse_duration, status_word};
use crate::output::{CliError, CliResult, Output};

/// How long `connect` waits for the presence to publish its port before it prints the events.
const PORT_WAIT: Duration = Duration::from_secs(5);

fn runtime_error(e: std::io::Error) -> CliError {
    CliError::Peergroup(peergroup::Error::Runtime(e))
}

/// `group connect`: online until SIGINT, SIGTERM or `--for`; one line per event meanwhile.
pub fn connect(group: &Group, addresses: &[String], duration: Option<&str>, out: &Output) -> CliResult {
    let duration = duration.map(parse_duration).transpose()?;
    let addresses = addresses.iter().map(|a| crate::pnrp::endpoint(a)).collect::<CliResult<Vec<SocketAddr>>>()?;
    crate::pnrp::runtime()?.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        // The handlers are in place before anything goes online: an interrupt that comes right
        // after `connecting` is printed closes the group, rather than killing the process.
        let signal = |kind| signal(kind).map_err(runtime_error);
        let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
        let mut events = group.events(&EventType::ALL)?;
        let name = group.peer_name().to_string();
        out.print(&format!("connecting {name}"), json!({"connecting": name}));
        if addresses.is_empty() {
            group.connect()?
        } else {
            group.connect_by_address(&addresses)?
        }
        let start = tokio::time::Instant::now();
        while group.network()?.port.is_none() && start.elapsed() < PORT_WAIT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if let Some(port) = group.network()?.port {
            out.print(&format!("listening {port}"), json!({"listening": port}));
        }
        let until = duration.map_or(start + Duration::from_secs(100 * 365 * 86_400), |d| start + d);
        loop {
            tokio::select! {
                _ = interrupt.recv() => break,
                _ = terminate.recv() => break,
                () = tokio::time::sleep_until(until) => break,
                event = events.next() => match event {
                    Some(event) => {
                        let event = event?;
                        out.print(&event_text(&event), event_json(&event));
                    }
                    None => break,
                },
            }
        }
        Ok(())
    })
}

/// `group status`.
pub fn status(group: &Group, out: &Output) -> CliResult {
    let view = group.network()?;
    let ready = group.is_ready()?;
    let word = status_word(&view.status);
    let mut text = vec![word.to_owned(), format!("connections: {}", view.status.connections)];
    if let Some(port) = view.port {
        text.push(format!("port: {port}"));
    }
    text.push(format!("ready: {}", if ready { "yes" } else { "no" }));
    if let Some(f) = &view.last_failure {
        text.push(format!("last failure: {}", f.reason));
    }
    out.print(
        &text.join("\n"),
        json!({"status": word, "listening": view.status.listening, "connections": view.status.connections,
               "port": view.port, "ready": ready, "presence_pid": view.status.presence_pid,
               "last_failure": view.last_failure.as_ref().map(|f| f.reason.clone())}),
    );
    Ok(())
}

fn member_line(m: &Member) -> String {
    let present = if m.flags & PEER_MEMBER_PRESENT != 0 { "present" } else { "absent" };
    format!("{}  {}  {present}", m.peer_name, m.friendly_name)
}

/// `group members`.
pub fn members(group: &Group, present_only: bool, out: &Output) -> CliResult {
    let members = if present_only { group.present_members()? } else { group.members()? };
    let text: Vec<String> = members.iter().map(member_line).collect();
    let json: Vec<Value> = members
        .iter()
        .map(|m| {
            json!({"peer_name": m.peer_name.to_string(), "friendly_name": m.friendly_name,
                   "present": m.flags & PEER_MEMBER_PRESENT != 0, "flags": m.flags})
        })
        .collect();
    out.print(&text.join("\n"), Value::Array(json));
    Ok(())
}

/// `group connections`.
pub fn connections(group: &Group, out: &Output) -> CliResult {
    let all = group.connections()?;
    let text: Vec<String> = all
        .iter()
        .map(|c| {
            let kind = if c.is_direct() { "  direct" } else { "" };
            format!("{}  {}  {}  {}{kind}", c.id, c.peer, c.addr, if c.outgoing { "out" } else { "in" })
        })
        .collect();
    let json: Vec<Value> = all
        .iter()
        .map(|c| {
            json!({"id": c.id, "peer_name": c.peer.to_string(), "address": c.addr.to_string(),
                   "outgoing": c.outgoing, "flags": c.flags, "direct": c.is_direct()})
        })
        .collect();
    out.print(&text.join("\n"), Value::Array(json));
    Ok(())
}

/// What `group send` sends, and where.
pub struct Send<'a> {
    pub to: Option<&'a str>,
    pub connection: Option<u64>,
    pub data_type: &'a str,
    pub bytes: &'a [u8],
    pub addresses: &'a [String],
    pub timeout: Option<&'a str>,
}

/// How long `group send` waits for each step by default.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

fn failed(code: peergroup::Hresult, message: String) -> CliError {
    CliError::Failed { code, message }
}

/// `group send`: online unless the group is, a link to the member, a direct connection, the
/// data, and the close that says it was delivered (the member's side closes its end once it
/// read everything before the end).
pub fn send(group: &Group, send: &Send<'_>, out: &Output) -> CliResult {
    use peergroup::{ConnectionStatus, Event, hresult};
    let data_type: uuid::Uuid =
        send.data_type.parse().map_err(|e| CliError::Usage(format!("--type {}: {e}", send.data_type)))?;
    if let Some(id) = send.connection {
        group.send_data(id, data_type, send.bytes)?;
        let len = send.bytes.len();
        out.print(&format!("sent {len} on {id}"), json!({"sent": len, "connection": id}));
        return Ok(());
    }
    let to = send.to.ok_or_else(|| CliError::Usage("give --to or --connection".into()))?;
    let member: PeerName = to.parse().map_err(|e| CliError::Usage(format!("--to {to}: {e}")))?;
    if member == *group.identity().peer_name() {
        // Before going online: the answer does not depend on the network.
        return Err(failed(hresult::PEER_E_CONNECT_SELF, format!("{member} is this identity")));
    }
    let addresses = send.addresses.iter().map(|a| crate::pnrp::endpoint(a)).collect::<CliResult<Vec<SocketAddr>>>()?;
    let timeout = send.timeout.map(parse_duration).transpose()?.unwrap_or(SEND_TIMEOUT);
    let mut events = group.events(&[EventType::DirectConnection, EventType::StatusChanged])?;
    if !group.status()?.is_connected() {
        if addresses.is_empty() { group.connect()? } else { group.connect_by_address(&addresses)? }
    }
    let deadline = std::time::Instant::now() + timeout;
    let late = |what: &str| failed(hresult::PEER_E_CONNECTION_FAILED, format!("{what} within {timeout:?}"));
    let linked = || -> CliResult<bool> { Ok(group.connections()?.iter().any(|c| !c.is_direct() && c.peer == member)) };
    // A status change or a neighbour may be the link; the wait is bounded by the deadline.
    while !linked()? {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(late(&format!("no link to {member}")));
        }
        events.recv_timeout(left.min(Duration::from_millis(50)))?;
    }
    let id = group.open_direct_connection(&member, addresses.first().copied())?;
    let mut wait_for = |want: ConnectionStatus| -> CliResult<()> {
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let Some(event) = events.recv_timeout(left)? else {
                return Err(late(&format!("direct connection {id} not {want:?}")));
            };
            if let Event::DirectConnection { status, connection, reason } = event
                && connection.id == id
            {
                if status == want {
                    return Ok(());
                }
                let why = reason.unwrap_or_else(|| format!("{status:?}"));
                return Err(failed(hresult::PEER_E_CONNECTION_FAILED, format!("direct connection to {member}: {why}")));
            }
        }
    };
    wait_for(ConnectionStatus::Connected)?;
    group.send_data(id, data_type, send.bytes)?;
    group.close_direct_connection(id)?;
    wait_for(ConnectionStatus::Disconnected)?;
    let len = send.bytes.len();
    out.print(&format!("sent {len} {member}"), json!({"sent": len, "to": member.to_string(), "connection": id}));
    Ok(())
}
