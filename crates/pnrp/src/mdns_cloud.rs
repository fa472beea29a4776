//! Registrations in link-local and site-local clouds: multicast DNS with DNS-SD (RFC 6762,
//! RFC 6763) on the cloud's own interface, through `mdns-sd` (`docs/clouds.md`,
//! "Registrations on the link").
//!
//! For a peer name `P` registered by a process on a host `H` in `LinkLocal_eth0`, announced and
//! answered on `eth0` only:
//!
//! ```text
//! <label>._peergroup._udp.local.      SRV 0 0 <port> <label>.local.   the first endpoint's port
//! <label>._peergroup._udp.local.      TXT "v=pg1" "pn=P" "ep=…" "x=…" "p=…" "p.1=…"
//! <label>.local.                      A / AAAA                         the endpoints' addresses
//! _peergroup._udp.local.              PTR <label>._peergroup._udp.local.
//! _<key>._sub._peergroup._udp.local.  PTR <label>._peergroup._udp.local.
//! ```
//!
//! with `<key>` = [`name_key`]`(P)` and `<label>` = [`instance_label`]`(P, H and the process)`:
//! an instance per registration, so two processes of one host that register the same name
//! do not answer for one instance with two contents. The TXT record is the announcement of
//! `announce.rs` with one change: DNS-SD keeps one value per key (RFC 6763 §6.4), so a value
//! continued over several strings goes on under the keys `k.1`, `k.2`, … The proof signs the
//! announcement placed in the cloud `local.` at the instance's full name, the same on every
//! host of the link whatever each calls its interface.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo, TxtProperty};

use crate::announce::validate_peer_name;
use crate::announce::{MAX_TXT_STRINGS, Placement, instance_label, name_key};
use crate::cloud::Scope;
use crate::dns_cloud::host_id;
use crate::error::{PnrpError, Result};
use crate::name::CloudName;
use crate::proof::{ProofSigner, ProofVerifier, accept_announcement, announcement_of};
use crate::registration::{EndpointInfo, Medium, Publication, unix_now};

/// The DNS-SD service type of registrations on the link.
pub const MDNS_SERVICE: &str = "_peergroup._udp.local.";

/// The domain the proofs of registrations on the link are placed in.
pub const MDNS_DOMAIN: &str = "local.";

/// The most distinct instances one resolution examines (a link where more answer is either
/// very large or hostile; either way the work stays bounded).
pub const MAX_MDNS_INSTANCES: usize = 256;

/// How long a withdrawal waits for the daemon to say the goodbye packets left.
const WITHDRAW_WAIT: Duration = Duration::from_secs(2);

/// The multicast DNS medium: one `mdns-sd` daemon per interface whose cloud is used, bound to
/// that interface alone; proofs of secure names through the injected signer and verifier.
pub struct MdnsMedium {
    host_id: Vec<u8>,
    signer: Arc<dyn ProofSigner>,
    verifier: Arc<dyn ProofVerifier>,
    daemons: Mutex<HashMap<String, Daemon>>,
}

/// One interface's daemon, and what its browse has heard (started by the first resolution).
#[derive(Clone)]
struct Daemon {
    daemon: ServiceDaemon,
    heard: Arc<Mutex<Option<Arc<Heard>>>>,
}

/// The `_peergroup._udp` instances a daemon's browse holds now, each as the TXT strings a
/// resolver parses. One browse per daemon runs for the medium's life (a daemon has one
/// listener per service type), kept current by `mdns-sd` (answers, announcements, goodbyes,
/// re-queries before the records expire): a resolution reads it at once, then waits for
/// what is new.
struct Heard {
    instances: Mutex<HashMap<String, Vec<Vec<u8>>>>,
    /// Counts the changes of `instances`; closed when the browse ends.
    changes: tokio::sync::watch::Sender<u64>,
}

impl Heard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Vec<u8>>>> {
        // Plain data, consistent after any panic.
        self.instances.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs on its own thread until the daemon stops.
    fn listen(&self, events: &mdns_sd::Receiver<ServiceEvent>) {
        while let Ok(event) = events.recv() {
            let changed = match event {
                ServiceEvent::ServiceResolved(service) => {
                    let fullname = service.get_fullname().to_owned();
                    let strings = properties_to_txt(service.get_properties().iter().map(|p| (p.key(), p.val())));
                    self.hold(fullname, strings)
                }
                ServiceEvent::ServiceRemoved(_, fullname) => self.lock().remove(&fullname).is_some(),
                _ => false,
            };
            if changed {
                self.changed();
            }
        }
    }

    /// Holds one instance's TXT strings; whether it was taken. Bounded: a link announcing
    /// more instances than [`MAX_MDNS_INSTANCES`] is very large or hostile; the ones held
    /// first stay, updates of them included.
    fn hold(&self, fullname: String, strings: Vec<Vec<u8>>) -> bool {
        let mut instances = self.lock();
        if instances.len() < MAX_MDNS_INSTANCES || instances.contains_key(&fullname) {
            instances.insert(fullname, strings);
            true
        } else {
            false
        }
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl std::fmt::Debug for MdnsMedium {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let interfaces: Vec<String> = self.lock_daemons().keys().cloned().collect();
        f.debug_struct("MdnsMedium").field("interfaces", &interfaces).finish_non_exhaustive()
    }
}

impl Drop for MdnsMedium {
    fn drop(&mut self) {
        for (_, d) in self.lock_daemons().drain() {
            // The daemon's thread sends the goodbyes of what is still registered and ends.
            let _ = d.daemon.shutdown();
        }
    }
}

/// The interface of a link-local or site-local cloud, or why the cloud is not one.
fn cloud_interface(cloud: &CloudName) -> Result<&str> {
    match (cloud.scope(), cloud.interface_name()) {
        (Some(Scope::LinkLocal | Scope::SiteLocal), Some(interface)) => Ok(interface),
        _ => Err(PnrpError::InvalidRegistration {
            what: "cloud",
            reason: "not the link-local or site-local cloud of an interface (LinkLocal_<interface>)",
        }),
    }
}

/// The DNS-SD subtype under which a peer name's instances are announced (and asked for).
fn subtype(peer_name: &str) -> String {
    format!("_{}._sub.{MDNS_SERVICE}", name_key(peer_name))
}

/// The TXT strings of an announcement as DNS-SD properties: a key met again becomes `k.1`,
/// `k.2`, … (one value per key on the wire).
pub fn txt_to_properties(strings: &[String]) -> Vec<(String, String)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    strings
        .iter()
        .map(|s| {
            let (key, value) = s.split_once('=').unwrap_or((s.as_str(), ""));
            let n = seen.entry(key).or_insert(0);
            let name = if *n == 0 { key.to_owned() } else { format!("{key}.{n}") };
            *n += 1;
            (name, value.to_owned())
        })
        .collect()
}

/// The inverse of [`txt_to_properties`], on what a resolver received: each property back to
/// a `key=value` string, `k.<number>` to `k`. At most [`MAX_TXT_STRINGS`] + 1 strings are
/// made, so that the announcement's parser refuses an oversized record without this
/// copying all of it.
pub fn properties_to_txt<'a>(properties: impl IntoIterator<Item = (&'a str, Option<&'a [u8]>)>) -> Vec<Vec<u8>> {
    properties
        .into_iter()
        .take(MAX_TXT_STRINGS + 1)
        .map(|(key, value)| {
            let key = match key.rsplit_once('.') {
                Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
                _ => key,
            };
            let mut s = key.as_bytes().to_vec();
            if let Some(value) = value {
                s.push(b'=');
                s.extend_from_slice(value);
            }
            s
        })
        .collect()
}

impl MdnsMedium {
    /// A medium with this host's id ([`host_id`]) and the proof seams. No socket is opened
    /// until a cloud is used.
    pub fn new(signer: Arc<dyn ProofSigner>, verifier: Arc<dyn ProofVerifier>) -> Self {
        Self { host_id: host_id(), signer, verifier, daemons: Mutex::new(HashMap::new()) }
    }

    /// The same with another host id (tests that play two hosts in one process).
    pub fn with_host_id(mut self, host_id: &[u8]) -> Self {
        self.host_id = host_id.to_vec();
        self
    }

    fn lock_daemons(&self) -> std::sync::MutexGuard<'_, HashMap<String, Daemon>> {
        // A map of handles, consistent after any panic.
        self.daemons.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The label of this process's registration of `peer_name`.
    pub fn instance_label(&self, peer_name: &str) -> String {
        let mut id = self.host_id.clone();
        id.extend_from_slice(format!("/{}", std::process::id()).as_bytes());
        instance_label(peer_name, &id)
    }

    /// The daemon of `interface`, started on first use and bound to that interface alone.
    fn daemon(&self, cloud: &CloudName, interface: &str) -> Result<Daemon> {
        if let Some(d) = self.lock_daemons().get(interface) {
            return Ok(d.clone());
        }
        let failed = |e: mdns_sd::Error| PnrpError::MdnsFailed { cloud: cloud.to_string(), reason: e.to_string() };
        let daemon = ServiceDaemon::new().map_err(failed)?;
        let started = daemon
            .disable_interface(IfKind::All)
            .and_then(|()| daemon.enable_interface(IfKind::Name(interface.to_owned())))
            .map_err(failed);
        if let Err(e) = started {
            let _ = daemon.shutdown();
            return Err(e);
        }
        let d = Daemon { daemon, heard: Arc::new(Mutex::new(None)) };
        let mut daemons = self.lock_daemons();
        // Another caller may have started one meanwhile: keep the first, stop this one.
        if let Some(first) = daemons.get(interface) {
            let _ = d.daemon.shutdown();
            return Ok(first.clone());
        }
        daemons.insert(interface.to_owned(), d.clone());
        Ok(d)
    }

    /// What `d`'s browse has heard, the browse and its listening thread started on first use.
    /// The whole type, not a name's subtype: a foreign DNS-SD publisher need not know of
    /// subtypes; the TXT's `pn` picks a name's instances.
    fn heard(&self, d: &Daemon, cloud: &CloudName) -> Result<Arc<Heard>> {
        let mut slot = d.heard.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(heard) = slot.as_ref() {
            return Ok(heard.clone());
        }
        let failed = |reason: String| PnrpError::MdnsFailed { cloud: cloud.to_string(), reason };
        let events = d.daemon.browse(MDNS_SERVICE).map_err(|e| failed(e.to_string()))?;
        let heard =
            Arc::new(Heard { instances: Mutex::new(HashMap::new()), changes: tokio::sync::watch::Sender::new(0) });
        let listener = heard.clone();
        std::thread::Builder::new()
            .name("pg-mdns-browse".into())
            .spawn(move || listener.listen(&events))
            .map_err(|e| failed(format!("cannot start the browsing thread: {e}")))?;
        *slot = Some(heard.clone());
        Ok(heard)
    }

    fn service_info(&self, p: &Publication, interface: &str) -> Result<ServiceInfo> {
        let label = self.instance_label(&p.peer_name);
        let instance = format!("{label}.{MDNS_SERVICE}");
        let at = Placement { cloud: MDNS_DOMAIN, instance: &instance };
        let announcement = announcement_of(p, at, self.signer.as_ref(), true)?;
        let properties: Vec<TxtProperty> =
            txt_to_properties(&announcement.to_txt()).into_iter().map(TxtProperty::from).collect();
        let mut addresses: Vec<IpAddr> = p.endpoints.iter().map(SocketAddr::ip).collect();
        addresses.sort();
        addresses.dedup();
        // `Publication::check` made sure there is at least one endpoint.
        let port = p.endpoints.first().map_or(0, SocketAddr::port);
        let subtype = subtype(&p.peer_name);
        let host = format!("{label}.{MDNS_DOMAIN}");
        let mut info = ServiceInfo::new(&subtype, &label, &host, addresses.as_slice(), port, properties)
            .map_err(|e| PnrpError::MdnsFailed { cloud: p.cloud.to_string(), reason: e.to_string() })?;
        info.set_interfaces(vec![IfKind::Name(interface.to_owned())]);
        Ok(info)
    }

    /// The endpoint info of one resolved instance when its TXT is well formed, for this peer
    /// name, not expired, and (for a secure name) proven; link-local IPv6 endpoints get the
    /// interface's scope id. `None` drops it.
    fn accept(
        &self,
        peer_name: &str,
        instance: &str,
        strings: &[Vec<u8>],
        scope_id: u32,
        now: u64,
    ) -> Option<EndpointInfo> {
        let at = Placement { cloud: MDNS_DOMAIN, instance };
        let record = format!("{instance} TXT");
        let a = accept_announcement(&record, strings, peer_name, at, self.verifier.as_ref(), now)?;
        let addresses = a
            .endpoints
            .into_iter()
            .map(|e| match e {
                SocketAddr::V6(mut v6) if v6.ip().is_unicast_link_local() => {
                    v6.set_scope_id(scope_id);
                    SocketAddr::V6(v6)
                }
                other => other,
            })
            .collect();
        Some(EndpointInfo { peer_name: a.peer_name, addresses, comment: a.comment })
    }
}

impl MdnsMedium {
    /// One legacy unicast query for `peer_name` on the cloud's interface and nothing else (no
    /// daemon, no browse): what the responders answer within half a second, checked as a
    /// resolution checks. [`Medium::resolve`] sends the same query when what the browse holds
    /// does not answer yet (`mdns_oneshot.rs`); this form lets a caller, or a test, see that
    /// path alone.
    pub async fn ask_once(&self, peer_name: &str, cloud: &CloudName) -> Result<Vec<EndpointInfo>> {
        validate_peer_name(peer_name)?;
        let interface = cloud_interface(cloud)?;
        let scope_id = crate::system::index_of(interface);
        let heard = Mutex::new(Vec::new());
        let subtype = subtype(peer_name);
        crate::mdns_oneshot::ask(scope_id, &subtype, |txts| {
            heard.lock().unwrap_or_else(PoisonError::into_inner).extend(txts);
        })
        .await;
        let now = unix_now();
        let mut found: Vec<EndpointInfo> = heard
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter_map(|(instance, strings)| self.accept(peer_name, instance, strings, scope_id, now))
            .collect();
        found.sort();
        found.dedup();
        Ok(found)
    }
}

impl Medium for MdnsMedium {
    async fn publish(&self, publication: &Publication) -> Result<()> {
        publication.check()?;
        let interface = cloud_interface(&publication.cloud)?;
        let info = self.service_info(publication, interface)?;
        let d = self.daemon(&publication.cloud, interface)?;
        // Registering the same full name again replaces the content and announces it.
        d.daemon
            .register(info)
            .map_err(|e| PnrpError::MdnsFailed { cloud: publication.cloud.to_string(), reason: e.to_string() })
    }

    async fn withdraw(&self, publication: &Publication) -> Result<()> {
        let interface = cloud_interface(&publication.cloud)?;
        let d = self.daemon(&publication.cloud, interface)?;
        let fullname = format!("{}.{MDNS_SERVICE}", self.instance_label(&publication.peer_name));
        let failed = |reason: String| PnrpError::MdnsFailed { cloud: publication.cloud.to_string(), reason };
        let status = d.daemon.unregister(&fullname).map_err(|e| failed(e.to_string()))?;
        // The goodbye packets leave from the daemon's thread; wait for it to say so, bounded.
        match tokio::time::timeout(WITHDRAW_WAIT, status.recv_async()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(failed("the mDNS daemon stopped".into())),
            Err(_) => Err(failed(format!("no answer from the mDNS daemon within {} ms", WITHDRAW_WAIT.as_millis()))),
        }
    }

    async fn resolve(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        let mut found = Vec::new();
        self.resolve_each(peer_name, cloud, max, timeout, &mut |info| found.push(info)).await?;
        found.sort();
        Ok(found)
    }

    async fn resolve_each(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
        found: &mut (dyn FnMut(EndpointInfo) + Send),
    ) -> Result<()> {
        validate_peer_name(peer_name)?;
        let interface = cloud_interface(cloud)?;
        let d = self.daemon(cloud, interface)?;
        let heard = self.heard(&d, cloud)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let scope_id = crate::system::index_of(interface);
        let mut changes = heard.changes.subscribe();
        let mut given: Vec<EndpointInfo> = Vec::new();
        let mut asked = false;
        while given.len() < max {
            changes.borrow_and_update();
            // Copied out: proofs are checked without holding the listener up.
            let instances: Vec<(String, Vec<Vec<u8>>)> =
                heard.lock().iter().map(|(name, txt)| (name.clone(), txt.clone())).collect();
            let now = unix_now();
            for (instance, strings) in &instances {
                if given.len() >= max {
                    break;
                }
                if let Some(info) = self.accept(peer_name, instance, strings, scope_id, now)
                    && !given.contains(&info)
                {
                    given.push(info.clone());
                    found(info);
                }
            }
            if given.len() >= max {
                break;
            }
            if !asked {
                // Not all held yet: ask once the quick way too (`mdns_oneshot.rs`); its
                // answers join the browse's, and the loop reads them as any change.
                asked = true;
                let subtype = subtype(peer_name);
                let heard = heard.clone();
                tokio::spawn(async move {
                    crate::mdns_oneshot::ask(scope_id, &subtype, |txts| {
                        let mut any = false;
                        for (instance, strings) in txts {
                            any |= heard.hold(instance, strings);
                        }
                        if any {
                            heard.changed();
                        }
                    })
                    .await;
                });
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                // The browse ended (the daemon stopped) or the time is up.
                Ok(Err(_)) | Err(_) => break,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::announce::Announcement;
    use crate::proof::ProofError;

    #[test]
    fn continued_values_get_numbered_keys_and_come_back() {
        let strings: Vec<String> =
            ["v=pg1", "pn=0.x", "ep=[fe80::1]:5", "p=AAAA", "p=BBBB", "p=CC==", "x=9"].map(String::from).to_vec();
        let props = txt_to_properties(&strings);
        let keys: Vec<&str> = props.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["v", "pn", "ep", "p", "p.1", "p.2", "x"]);
        let back = properties_to_txt(props.iter().map(|(k, v)| (k.as_str(), Some(v.as_bytes()))));
        let back: Vec<String> = back.into_iter().map(|s| String::from_utf8(s).unwrap()).collect();
        assert_eq!(back, strings);
    }

    #[test]
    fn the_longest_proof_fits_dns_sd_properties_once_numbered() {
        let a = Announcement {
            peer_name: "0.x".into(),
            endpoints: vec!["[fe80::1]:5".parse().unwrap()],
            comment: String::new(),
            expires: 9,
            proof: vec![0xA5; 4096],
        };
        let props = txt_to_properties(&a.to_txt());
        assert!(props.len() > 20, "{} properties", props.len());
        for (key, value) in &props {
            assert!(key.len() + 1 + value.len() <= 255, "{key}: {} bytes", key.len() + 1 + value.len());
        }
    }

    #[test]
    fn a_key_without_value_and_an_oversized_record_stay_refusable() {
        let strings = properties_to_txt([("v", Some(&b"pg1"[..])), ("flag", None), ("a.b", Some(&b"1"[..]))]);
        assert_eq!(strings, [b"v=pg1".to_vec(), b"flag".to_vec(), b"a.b=1".to_vec()]);
        let many: Vec<(String, Option<Vec<u8>>)> = (0..1000).map(|i| (format!("k{i}"), None)).collect();
        let strings = properties_to_txt(many.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        assert_eq!(strings.len(), MAX_TXT_STRINGS + 1);
        assert!(Announcement::parse_txt("x", &strings).is_err());
    }

    /// A proof that is the message itself, reversed: enough to tell signed bytes apart.
    struct Mirror;

    impl ProofSigner for Mirror {
        fn prove(&self, _peer_name: &str, message: &[u8]) -> std::result::Result<Vec<u8>, ProofError> {
            Ok(message.iter().rev().copied().collect())
        }
    }

    impl ProofVerifier for Mirror {
        fn verify(&self, _peer_name: &str, message: &[u8], proof: &[u8]) -> bool {
            proof.iter().rev().eq(message.iter())
        }
    }

    /// What a resolver receives of a registration: the instance's full name and its TXT.
    fn published(medium: &MdnsMedium, peer_name: &str) -> (String, Vec<Vec<u8>>) {
        let cloud = CloudName::parse("LinkLocal_eth0").unwrap();
        let p = Publication::new(cloud, peer_name, vec!["[fe80::1]:4000".parse().unwrap()], "hi").unwrap();
        let info = medium.service_info(&p, "eth0").unwrap();
        let strings = properties_to_txt(info.get_properties().iter().map(|p| (p.key(), p.val())));
        (info.get_fullname().to_owned(), strings)
    }

    #[test]
    fn a_secure_name_is_accepted_with_its_proof_at_its_instance_only() {
        const SECURE: &str = "6520c005f63fc1864b7d8f3cabebd4916ae7f33d.JohnDoe";
        let medium = MdnsMedium::new(Arc::new(Mirror), Arc::new(Mirror)).with_host_id(b"host");
        let (instance, strings) = published(&medium, SECURE);
        assert!(instance.starts_with(&name_key(SECURE)) && instance.ends_with(MDNS_SERVICE), "{instance}");
        // The proof continues over numbered keys and comes back whole.
        assert!(strings.iter().filter(|s| s.starts_with(b"p=")).count() > 1);
        let info = medium.accept(SECURE, &instance, &strings, 7, unix_now()).unwrap();
        assert_eq!(info.addresses, ["[fe80::1%7]:4000".parse::<SocketAddr>().unwrap()]);
        assert_eq!(info.comment, "hi");
        // Copied to another instance, asked as another name, past its expiry, or checked
        // by a verifier that refuses it: dropped.
        let elsewhere = instance.replacen("pg-", "pg-0", 1);
        assert!(medium.accept(SECURE, &elsewhere, &strings, 7, unix_now()).is_none());
        assert!(medium.accept("0.JohnDoe", &instance, &strings, 7, unix_now()).is_none());
        assert!(medium.accept(SECURE, &instance, &strings, 7, unix_now() + 3600).is_none());
        let refusing = MdnsMedium::new(Arc::new(Mirror), Arc::new(crate::NoProofs));
        assert!(refusing.accept(SECURE, &instance, &strings, 7, unix_now()).is_none());
    }

    #[test]
    fn only_interface_clouds_of_the_link_or_site() {
        for ok in ["LinkLocal_eth0", "SiteLocal_eth0"] {
            assert_eq!(cloud_interface(&CloudName::parse(ok).unwrap()).unwrap(), "eth0");
        }
        for bad in ["Global_", "LinkLocal_", "corp.example."] {
            assert!(matches!(
                cloud_interface(&CloudName::parse(bad).unwrap()),
                Err(PnrpError::InvalidRegistration { what: "cloud", .. })
            ));
        }
    }
}
