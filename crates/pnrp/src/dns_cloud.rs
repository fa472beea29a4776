//! Registrations in DNS clouds: published by signed dynamic updates to the zone's primary,
//! resolved with ordinary queries (`docs/clouds.md`, "Registrations in DNS clouds").
//!
//! For a peer name `P` registered from a host `H` in the cloud `D.`:
//!
//! ```text
//! <label>._peergroup._udp.D.         SRV 0 0 <port> <label>.D.     one per distinct port
//! <label>._peergroup._udp.D.         TXT "v=pg1" "pn=P" "ep=…" "x=…" "p=…"
//! <label>.D.                         A / AAAA                       the endpoints' addresses
//! _peergroup._udp.D.                 PTR <label>._peergroup._udp.D. (DNS-SD browsing)
//! _<key>._sub._peergroup._udp.D.     PTR <label>._peergroup._udp.D. (resolution by peer name)
//! ```
//!
//! with `<key>` = [`name_key`]`(P)` and `<label>` = [`instance_label`]`(P, H)`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::proto::rr::{Name, RData, RecordType};

use crate::announce::{Placement, instance_label, name_key, validate_peer_name};
use crate::config::DnsConfig;
use crate::dns;
use crate::error::{PnrpError, Result};
use crate::name::CloudName;
use crate::proof::{ProofSigner, ProofVerifier, accept_announcement, announcement_of};
use crate::registration::{EndpointInfo, Medium, Publication, unix_now};
use crate::update::{self, DnsRecords, UpdateKey};

/// The most instances of one peer name read by a resolution.
pub const MAX_INSTANCES: usize = 32;

/// This host's identifier for registration labels: `/etc/machine-id`, else the host name.
pub fn host_id() -> Vec<u8> {
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        let id = id.trim();
        if !id.is_empty() {
            return id.as_bytes().to_vec();
        }
    }
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        return buf[..end].to_vec();
    }
    Vec::new()
}

/// The DNS medium: registrations by TSIG-signed UPDATE, resolution through the configured
/// name servers. Proofs of secure names go through the injected signer and verifier.
pub struct DnsMedium {
    config: DnsConfig,
    host_id: Vec<u8>,
    signer: Arc<dyn ProofSigner>,
    verifier: Arc<dyn ProofVerifier>,
}

impl std::fmt::Debug for DnsMedium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsMedium").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A DNS cloud's absolute domain (`corp.example.`), or why the cloud is not one.
fn cloud_domain(cloud: &CloudName) -> Result<String> {
    match cloud.dns_name() {
        Some(d) if cloud.is_absolute() => Ok(d.to_owned()),
        Some(_) => Err(PnrpError::InvalidRegistration {
            what: "cloud",
            reason: "a relative DNS name: resolve the cloud first (its name is then absolute)",
        }),
        None => Err(PnrpError::InvalidRegistration { what: "cloud", reason: "not a DNS cloud" }),
    }
}

fn dns_name(text: &str) -> Result<Name> {
    Name::from_ascii(text)
        .map_err(|_| PnrpError::InvalidRegistration { what: "cloud", reason: "its names do not fit DNS" })
}

impl DnsMedium {
    /// A medium with these settings (name servers, timeout, update keys), this host's id
    /// ([`host_id`]), and the proof seams.
    pub fn new(config: DnsConfig, signer: Arc<dyn ProofSigner>, verifier: Arc<dyn ProofVerifier>) -> Self {
        Self { config, host_id: host_id(), signer, verifier }
    }

    /// The same with another host id (tests that play two hosts in one process).
    pub fn with_host_id(mut self, host_id: &[u8]) -> Self {
        self.host_id = host_id.to_vec();
        self
    }

    /// The owner name of the registration of `peer_name` from this host in `cloud`.
    pub fn instance_name(&self, peer_name: &str, cloud: &CloudName) -> Result<String> {
        Ok(format!("{}._peergroup._udp.{}", instance_label(peer_name, &self.host_id), cloud_domain(cloud)?))
    }

    /// The key and the records of a publication; `sign`: make the proof (not needed to withdraw).
    fn records(&self, p: &Publication, sign: bool) -> Result<(&UpdateKey, DnsRecords)> {
        let domain = cloud_domain(&p.cloud)?;
        let key =
            self.config.update_key_for(&domain).ok_or_else(|| PnrpError::NoUpdateKey { cloud: p.cloud.to_string() })?;
        let label = instance_label(&p.peer_name, &self.host_id);
        let instance = format!("{label}._peergroup._udp.{domain}");
        let at = Placement { cloud: &domain, instance: &instance };
        let announcement = announcement_of(p, at, self.signer.as_ref(), sign)?;
        let records = DnsRecords {
            zone: dns_name(&format!("{}.", key.zone))?,
            instance: dns_name(&instance)?,
            target: dns_name(&format!("{label}.{domain}"))?,
            service: dns_name(&format!("_peergroup._udp.{domain}"))?,
            subtype: dns_name(&format!("_{}._sub._peergroup._udp.{domain}", name_key(&p.peer_name)))?,
            // Bounded by MAX_TTL (a day).
            ttl: u32::try_from(p.ttl.as_secs()).unwrap_or(u32::MAX),
            txt: announcement.to_txt(),
            endpoints: p.endpoints.clone(),
        };
        Ok((key, records))
    }

    /// Where updates of `key`'s zone go: the configured server, else the primary its SOA
    /// names (MNAME), on port 53.
    async fn server(&self, key: &UpdateKey) -> Result<SocketAddr> {
        if let Some(server) = key.server {
            return Ok(server);
        }
        let fail = |reason: String| PnrpError::NoPrimary { zone: key.zone.clone(), reason };
        if self.config.nameservers.is_empty() {
            return Err(fail("no server is configured and no DNS server is there to ask for the SOA".into()));
        }
        let resolver = dns::build(&self.config).map_err(fail)?;
        let work = async {
            let soa = resolver.soa_lookup(format!("{}.", key.zone)).await.map_err(|e| e.to_string())?;
            let mname = soa
                .answers()
                .iter()
                .find_map(|r| match &r.data {
                    RData::SOA(soa) => Some(soa.mname.clone()),
                    _ => None,
                })
                .ok_or("no SOA record")?;
            let ips = resolver.lookup_ip(mname.clone()).await.map_err(|e| format!("{mname}: {e}"))?;
            ips.iter().next().map(|ip| SocketAddr::new(ip, 53)).ok_or_else(|| format!("{mname} has no address"))
        };
        match tokio::time::timeout(self.config.timeout, work).await {
            Ok(found) => found.map_err(fail),
            Err(_) => Err(fail(format!("no answer within {} ms", self.config.timeout.as_millis()))),
        }
    }

    async fn resolve_now(
        &self,
        peer_name: &str,
        domain: &str,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        let failed = |reason: String| PnrpError::ResolveFailed {
            peer_name: peer_name.to_owned(),
            cloud: domain.to_owned(),
            reason,
        };
        if self.config.nameservers.is_empty() {
            return Err(failed("no DNS server is configured".into()));
        }
        let mut config = self.config.clone();
        config.timeout = timeout;
        let resolver = dns::build(&config).map_err(failed)?;
        let subtype = format!("_{}._sub._peergroup._udp.{domain}", name_key(peer_name));
        let suffix = format!("._peergroup._udp.{domain}");
        let prefix = format!("{}-", name_key(peer_name));
        let ptrs = match resolver.lookup(subtype.as_str(), RecordType::PTR).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() => return Ok(Vec::new()),
            Err(e) => return Err(failed(e.to_string())),
        };
        let mut instances: Vec<String> = ptrs
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::PTR(ptr) => Some(ptr.0.to_lowercase().to_string()),
                _ => None,
            })
            // Only instances of this name in this cloud: a PTR elsewhere is not ours to follow.
            .filter(|i| i.strip_suffix(&suffix).is_some_and(|label| label.starts_with(&prefix) && !label.contains('.')))
            .collect();
        instances.sort();
        instances.dedup();
        instances.truncate(MAX_INSTANCES);
        let mut set = tokio::task::JoinSet::new();
        for instance in instances {
            let resolver = resolver.clone();
            set.spawn(async move {
                let txt = resolver.txt_lookup(instance.as_str()).await;
                (instance, txt)
            });
        }
        let now = unix_now();
        let mut found = Vec::new();
        while let Some(joined) = set.join_next().await {
            let (instance, txt) = match joined {
                Ok(done) => done,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => continue,
            };
            // An instance gone since the PTR was read, or unreadable: not an answer.
            let Ok(txt) = txt else { continue };
            for record in txt.answers() {
                let RData::TXT(t) = &record.data else { continue };
                let strings: Vec<Vec<u8>> = t.txt_data.iter().map(|s| s.to_vec()).collect();
                if let Some(info) = self.accept(peer_name, domain, &instance, &strings, now) {
                    found.push(info);
                }
            }
        }
        found.sort();
        found.dedup();
        found.truncate(max);
        Ok(found)
    }

    /// The endpoint info of one TXT record when it is well formed, for this peer name, not
    /// expired, and (for a secure name) proven; `None` drops it.
    fn accept(
        &self,
        peer_name: &str,
        domain: &str,
        instance: &str,
        strings: &[Vec<u8>],
        now: u64,
    ) -> Option<EndpointInfo> {
        let at = Placement { cloud: domain, instance };
        let record = format!("{instance} TXT");
        let a = accept_announcement(&record, strings, peer_name, at, self.verifier.as_ref(), now)?;
        Some(EndpointInfo { peer_name: a.peer_name, addresses: a.endpoints, comment: a.comment })
    }
}

impl Medium for DnsMedium {
    async fn publish(&self, publication: &Publication) -> Result<()> {
        publication.check()?;
        let (key, records) = self.records(publication, true)?;
        let server = self.server(key).await?;
        update::send(key, server, records.publish(), self.config.timeout).await
    }

    async fn withdraw(&self, publication: &Publication) -> Result<()> {
        let (key, records) = self.records(publication, false)?;
        let server = self.server(key).await?;
        update::send(key, server, records.withdraw(), self.config.timeout).await
    }

    async fn resolve(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        validate_peer_name(peer_name)?;
        let domain = cloud_domain(cloud)?;
        match tokio::time::timeout(timeout, self.resolve_now(peer_name, &domain, max, timeout)).await {
            Ok(found) => found,
            Err(_) => Err(PnrpError::ResolveFailed {
                peer_name: peer_name.to_owned(),
                cloud: domain,
                reason: format!("no answer within {} ms", timeout.as_millis()),
            }),
        }
    }
}
