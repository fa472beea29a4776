//! `peergroup pnrp register|resolve|dht-node`: peer names in DNS clouds, on the link (multicast
//! DNS) and in `Global_` (the Mainline DHT), and a DHT node for private networks.

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};

use peergroup::{Context, DhtNode, EndpointInfo};
use serde_json::{Value, json};

use crate::args::PnrpCommand;
use crate::commands::parse_duration;
use crate::output::{CliError, CliResult, Output};

pub fn runtime() -> CliResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)))
}

/// `pnrp dht-node`: a DHT node in server mode until SIGINT or SIGTERM.
pub fn dht_node(listen: &str, bootstrap: &[String], out: &Output) -> CliResult {
    let listen: SocketAddrV4 =
        listen.parse().map_err(|_| CliError::Usage(format!("--listen {listen:?} is not an IPv4 ADDRESS:PORT")))?;
    runtime()?.block_on(async {
        use tokio::signal::unix::{SignalKind, signal};
        let signal = |kind| signal(kind).map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)));
        let (mut interrupt, mut terminate) = (signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?);
        let node = DhtNode::start(listen, bootstrap).await.map_err(peergroup::Error::from)?;
        let addr = node.local_addr().to_string();
        out.print(&format!("listening {addr}"), json!({"listening": addr}));
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        drop(node);
        Ok(())
    })
}

pub fn run(ctx: &Context, command: &PnrpCommand, out: &Output) -> CliResult {
    let rt = runtime()?;
    match command {
        PnrpCommand::Register { cloud, peer_name, addresses, comment, duration } => {
            let duration = duration.as_deref().map(parse_duration).transpose()?;
            rt.block_on(async {
                // The handler is in place before anything is published: an interrupt that
                // comes right after `registered` is printed must withdraw, not kill.
                let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                    .map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)))?;
                // Without --address: this host's addresses in the cloud, at a UDP port held
                // (so that it is ours) for as long as the registration lasts.
                let mut _port = None;
                let endpoints = if addresses.is_empty() {
                    let socket = std::net::UdpSocket::bind("[::]:0")
                        .or_else(|_| std::net::UdpSocket::bind("0.0.0.0:0"))
                        .map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)))?;
                    let port =
                        socket.local_addr().map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)))?.port();
                    _port = Some(socket);
                    let endpoints = ctx.local_endpoints(cloud, port).await?;
                    if endpoints.is_empty() {
                        return Err(CliError::Usage(format!(
                            "this host has no address in {cloud}: give --address HOST:PORT"
                        )));
                    }
                    endpoints
                } else {
                    addresses.iter().map(|a| endpoint(a)).collect::<CliResult<Vec<_>>>()?
                };
                let registration = ctx.pnrp_register(peer_name, cloud, endpoints.clone(), comment).await?;
                let published: Vec<String> = endpoints.iter().map(ToString::to_string).collect();
                let text = std::iter::once(format!("registered {peer_name}"))
                    .chain(published.iter().map(|e| format!("endpoint {e}")))
                    .collect::<Vec<_>>()
                    .join("\n");
                out.print(&text, json!({"registered": peer_name, "endpoints": published}));
                match duration {
                    Some(d) => {
                        tokio::select! {
                            () = tokio::time::sleep(d) => {}
                            _ = interrupt.recv() => {}
                        }
                    }
                    None => {
                        interrupt.recv().await;
                    }
                }
                registration.unregister().await.map_err(peergroup::Error::from)?;
                Ok(())
            })
        }
        PnrpCommand::Resolve { cloud, peer_name, max, timeout } => {
            let timeout = parse_duration(timeout)?;
            let found = rt.block_on(ctx.pnrp_resolve(peer_name, cloud, *max, timeout))?;
            let lines: Vec<String> = found.iter().flat_map(lines).collect();
            out.print(&lines.join("\n"), Value::Array(found.iter().flat_map(objects).collect()));
            Ok(())
        }
        PnrpCommand::DhtNode { listen, bootstrap } => dht_node(listen, bootstrap, out),
    }
}

pub fn endpoint(text: &str) -> CliResult<SocketAddr> {
    let bad = || CliError::Usage(format!("--address {text:?} is not HOST:PORT"));
    text.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)
}

/// One line per address: `address port peer-name comment`.
fn lines(info: &EndpointInfo) -> Vec<String> {
    info.addresses
        .iter()
        .map(|a| format!("{} {} {} {}", address(a), a.port(), info.peer_name, info.comment).trim_end().to_owned())
        .collect()
}

fn objects(info: &EndpointInfo) -> Vec<Value> {
    info.addresses
        .iter()
        .map(|a| json!({"address": address(a), "port": a.port(), "peer_name": info.peer_name, "comment": info.comment}))
        .collect()
}

/// The address with its scope id when it has one (`fe80::1%3`): a link-local address found
/// on the link is usable only through the interface it was heard on.
fn address(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V6(v6) if v6.scope_id() != 0 => format!("{}%{}", v6.ip(), v6.scope_id()),
        other => other.ip().to_string(),
    }
}
