//! `peergroup pnrp register|resolve`: peer names in DNS clouds and on the link (multicast DNS).

use std::net::{SocketAddr, ToSocketAddrs};

use peergroup::{Context, EndpointInfo};
use serde_json::{Value, json};

use crate::args::PnrpCommand;
use crate::commands::parse_duration;
use crate::output::{CliError, CliResult, Output};

pub fn run(ctx: &Context, command: &PnrpCommand, out: &Output) -> CliResult {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Peergroup(peergroup::Error::Runtime(e)))?;
    match command {
        PnrpCommand::Register { cloud, peer_name, addresses, comment, duration } => {
            if addresses.is_empty() {
                return Err(CliError::Usage(
                    "give at least one --address HOST:PORT (this host's own addresses come with link clouds)".into(),
                ));
            }
            let endpoints = addresses.iter().map(|a| endpoint(a)).collect::<CliResult<Vec<_>>>()?;
            let duration = duration.as_deref().map(parse_duration).transpose()?;
            rt.block_on(async {
                let registration = ctx.pnrp_register(peer_name, cloud, endpoints, comment).await?;
                out.print(&format!("registered {peer_name}"), json!({"registered": peer_name}));
                match duration {
                    Some(d) => {
                        tokio::select! {
                            () = tokio::time::sleep(d) => {}
                            _ = tokio::signal::ctrl_c() => {}
                        }
                    }
                    None => {
                        let _ = tokio::signal::ctrl_c().await;
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
    }
}

fn endpoint(text: &str) -> CliResult<SocketAddr> {
    let bad = || CliError::Usage(format!("--address {text:?} is not HOST:PORT"));
    text.to_socket_addrs().map_err(|_| bad())?.next().ok_or_else(bad)
}

/// One line per address: `address port peer-name comment`.
fn lines(info: &EndpointInfo) -> Vec<String> {
    info.addresses
        .iter()
        .map(|a| format!("{} {} {} {}", a.ip(), a.port(), info.peer_name, info.comment).trim_end().to_owned())
        .collect()
}

fn objects(info: &EndpointInfo) -> Vec<Value> {
    info.addresses
        .iter()
        .map(|a| json!({"address": a.ip().to_string(), "port": a.port(), "peer_name": info.peer_name, "comment": info.comment}))
        .collect()
}
