//! Looking descriptors up with hickory-resolver.

use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};

use crate::config::DnsConfig;
use crate::descriptor::{SrvRecord, parse_descriptor};
use crate::rule::DnsAnswer;

/// How long a negative answer without an SOA is kept: not at all (RFC 2308 §5).
const NO_SOA_NEGATIVE_TTL: u32 = 0;

/// A resolver that asks exactly the configured servers, once each, with our cache in charge
/// (hickory's own cache is off so that TTL handling is ours and testable).
pub(crate) fn build(config: &DnsConfig) -> Result<TokioResolver, String> {
    let servers = config
        .nameservers
        .iter()
        .map(|addr| {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let mut server = NameServerConfig::udp(addr.ip());
            server.connections = vec![udp, tcp];
            server
        })
        .collect();
    let mut opts = ResolverOpts::default();
    opts.use_hosts_file = ResolveHosts::Never;
    opts.timeout = config.timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    // Names are always absolute: no search list on hickory's side.
    opts.ndots = 0;
    Resolver::builder_with_config(ResolverConfig::from_parts(None, vec![], servers), TokioRuntimeProvider::default())
        .with_options(opts)
        .build()
        .map_err(|e| e.to_string())
}

/// Looks up one descriptor name (absolute): its SRV and TXT records, at once. Returns the
/// answer and how long it may be cached.
pub(crate) async fn lookup(resolver: TokioResolver, owner: String) -> (DnsAnswer, Duration) {
    let (srv, txt) = tokio::join!(resolver.srv_lookup(owner.as_str()), resolver.txt_lookup(owner.as_str()));
    let srv = match srv {
        Ok(lookup) => lookup,
        Err(e) => return negative(&e),
    };
    let mut ttl = u32::MAX;
    let mut records = Vec::new();
    for record in srv.answers() {
        if let RData::SRV(s) = &record.data {
            ttl = ttl.min(record.ttl);
            records.push(SrvRecord {
                priority: s.priority,
                weight: s.weight,
                port: s.port,
                target: s.target.to_string(),
            });
        }
    }
    if records.is_empty() {
        return (DnsAnswer::NoDescriptor, Duration::ZERO);
    }
    let mut strings = Vec::new();
    match txt {
        Ok(lookup) => {
            for record in lookup.answers() {
                if let RData::TXT(t) = &record.data {
                    ttl = ttl.min(record.ttl);
                    strings.push(t.txt_data.iter().map(|s| s.to_vec()).collect());
                }
            }
        }
        Err(e) if e.is_no_records_found() => {}
        Err(e) => return negative(&e),
    }
    (parse_descriptor(&owner, &records, &strings), Duration::from_secs(u64::from(ttl)))
}

fn negative(e: &NetError) -> (DnsAnswer, Duration) {
    match e {
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            let ttl = Duration::from_secs(u64::from(no.negative_ttl.unwrap_or(NO_SOA_NEGATIVE_TTL)));
            let answer = if e.is_nx_domain() { DnsAnswer::NxDomain } else { DnsAnswer::NoDescriptor };
            (answer, ttl)
        }
        NetError::Timeout => (DnsAnswer::TimedOut, Duration::ZERO),
        other => (DnsAnswer::Failed(other.to_string()), Duration::ZERO),
    }
}
