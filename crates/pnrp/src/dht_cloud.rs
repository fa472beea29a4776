//! Registrations in the global cloud: the BitTorrent Mainline DHT (BEP 5) through `mainline`
//! (`docs/clouds.md`, "Registrations in Global_").
//!
//! A registration of the peer name `P` in `Global_` is an `announce_peer` under the 20-byte
//! key [`dht_key`]`(Global_, P)` with the port of its endpoints; the DHT nodes that store it
//! keep the address they saw the announcement come from (BEP 5 carries no address, no
//! comment, no proof). A resolution is a `get_peers` of the same key: each address a node
//! returns is one endpoint, handed out as the answers come. Nothing proves that an answer
//! was announced by the owner of a secure peer name: the member link's handshake does.
//!
//! The announcement is repeated every half TTL by [`crate::Registration`], well within the
//! 30 minutes after which BEP 5 nodes may forget a peer. BEP 5 has no withdrawal: a withdrawn
//! or dead registration stops being repeated, and the nodes forget it on their own schedule.

use std::collections::HashSet;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;
use mainline::Id;
use mainline::async_dht::AsyncDht;
use sha2::{Digest, Sha256};

use crate::announce::validate_peer_name;
use crate::config::GlobalConfig;
use crate::error::{PnrpError, Result};
use crate::name::CloudName;
use crate::registration::{EndpointInfo, Medium, Publication};

/// The most distinct addresses one resolution examines: the DHT returns at most a few dozen
/// per node, so a lookup that gathers more is either huge or hostile; the work stays bounded.
pub const MAX_DHT_PEERS: usize = 256;

/// Domain separation for [`dht_key`].
const KEY_TAG: &[u8] = b"peergroup-pnrp-dht-v1";

/// The 20-byte DHT key of a peer name in a cloud: the first 20 bytes of
/// SHA-256(tag, cloud, peer name), each part behind its length. The same on every host;
/// different for every (cloud, peer name), so clouds sharing one DHT do not see each other's
/// names.
pub fn dht_key(cloud: &CloudName, peer_name: &str) -> [u8; 20] {
    let mut h = Sha256::new();
    for part in [KEY_TAG, cloud.to_string().as_bytes(), peer_name.as_bytes()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    let digest = h.finalize();
    let mut key = [0; 20];
    key.copy_from_slice(&digest[..20]);
    key
}

/// The one port a registration announces: BEP 5 stores one address per node and key, so all
/// endpoints must share their port (this host's addresses with one listening port, as
/// `register` without addresses makes them).
fn announced_port(endpoints: &[SocketAddr]) -> Result<u16> {
    let port = endpoints
        .first()
        .map(SocketAddr::port)
        .ok_or(PnrpError::InvalidRegistration { what: "endpoints", reason: "no endpoint" })?;
    if endpoints.iter().any(|e| e.port() != port) {
        return Err(PnrpError::InvalidRegistration {
            what: "endpoints",
            reason: "Global_ (the Mainline DHT) announces one port per registration: give endpoints that share it",
        });
    }
    Ok(port)
}

/// Whether an address a DHT node returned can be an endpoint (the same rules as registered
/// endpoints: a port, a unicast address).
fn usable(addr: &SocketAddrV4) -> bool {
    addr.port() != 0 && !addr.ip().is_unspecified() && !addr.ip().is_multicast() && !addr.ip().is_broadcast()
}

fn dht_failed(reason: String) -> PnrpError {
    PnrpError::DhtFailed { reason }
}

/// Starts a node of the Mainline DHT on a blocking thread (binding, and resolving bootstrap
/// host names, block).
async fn start_node(
    listen: SocketAddrV4,
    bootstrap: Option<Vec<String>>,
    request_timeout: Duration,
    server: bool,
) -> Result<AsyncDht> {
    let build = move || {
        let mut builder = mainline::Dht::builder();
        builder.bind_address(*listen.ip()).port(listen.port()).request_timeout(request_timeout);
        match &bootstrap {
            Some(nodes) if nodes.is_empty() => builder.no_bootstrap(),
            Some(nodes) => builder.bootstrap(nodes),
            None => &mut builder,
        };
        if server {
            builder.server_mode();
        }
        builder.build()
    };
    let dht = tokio::task::spawn_blocking(build)
        .await
        .map_err(|e| dht_failed(format!("the DHT node did not start: {e}")))?
        .map_err(|e| dht_failed(format!("cannot bind {listen}: {e}")))?;
    Ok(dht.as_async())
}

/// The Mainline DHT medium of `Global_`: one DHT node per medium, started on first use with
/// the `[global]` settings.
#[derive(Debug)]
pub struct DhtMedium {
    config: GlobalConfig,
    node: tokio::sync::OnceCell<AsyncDht>,
}

impl DhtMedium {
    /// A medium with these settings; nothing starts until the first registration or
    /// resolution.
    pub fn new(config: GlobalConfig) -> Self {
        Self { config, node: tokio::sync::OnceCell::new() }
    }

    /// The settings.
    pub fn config(&self) -> &GlobalConfig {
        &self.config
    }

    /// This process's DHT node, started on first use. A failed start is retried on the next
    /// call.
    async fn node(&self) -> Result<&AsyncDht> {
        if !self.config.enabled {
            return Err(PnrpError::GlobalDisabled);
        }
        let c = &self.config;
        self.node.get_or_try_init(|| start_node(c.listen, c.bootstrap.clone(), c.request_timeout, false)).await
    }

    /// The address this process's DHT node is bound to (started if it was not).
    pub async fn local_addr(&self) -> Result<SocketAddrV4> {
        Ok(self.node().await?.info().await.local_addr())
    }

    fn bootstrap_text(&self) -> String {
        match &self.config.bootstrap {
            Some(nodes) => format!("[global] bootstrap = {nodes:?}"),
            None => "the public routers of the Mainline DHT".to_owned(),
        }
    }
}

fn global_only(cloud: &CloudName) -> Result<()> {
    if *cloud == CloudName::global() {
        Ok(())
    } else {
        Err(PnrpError::InvalidRegistration { what: "cloud", reason: "the Mainline DHT carries Global_ only" })
    }
}

impl Medium for DhtMedium {
    async fn publish(&self, publication: &Publication) -> Result<()> {
        publication.check()?;
        global_only(&publication.cloud)?;
        let port = announced_port(&publication.endpoints)?;
        let node = self.node().await?;
        let key = Id::from(dht_key(&publication.cloud, &publication.peer_name));
        node.announce_peer(key, Some(port)).await.map(drop).map_err(|e| {
            dht_failed(format!(
                "announcing {} found no DHT node to store it ({e}); asked {}",
                publication.peer_name,
                self.bootstrap_text()
            ))
        })
    }

    async fn withdraw(&self, publication: &Publication) -> Result<()> {
        // BEP 5 has no withdrawal: the registration stops being announced again and the
        // nodes forget it (docs/clouds.md).
        global_only(&publication.cloud)
    }

    async fn resolve(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        let mut all = Vec::new();
        self.resolve_each(peer_name, cloud, max, timeout, &mut |info| all.push(info)).await?;
        Ok(all)
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
        global_only(cloud)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let node = self.node().await?;
        let mut answers = node.get_peers(Id::from(dht_key(cloud, peer_name)));
        let max = max.min(MAX_DHT_PEERS);
        let mut seen = HashSet::new();
        while seen.len() < max {
            let next = std::future::poll_fn(|cx| Pin::new(&mut answers).poll_next(cx));
            // The end of the stream is the end of the lookup; the deadline ends it sooner.
            let Ok(Some(peers)) = tokio::time::timeout_at(deadline, next).await else { break };
            for addr in peers.into_iter().filter(usable) {
                if seen.len() < max && seen.insert(addr) {
                    found(EndpointInfo {
                        peer_name: peer_name.to_owned(),
                        addresses: vec![SocketAddr::V4(addr)],
                        comment: String::new(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// A node of the Mainline DHT in server mode, for a private DHT network or an offline test
/// (`peergroup pnrp dht-node`): it answers other nodes and stores their announcements until
/// dropped.
#[derive(Debug)]
pub struct DhtNode {
    node: AsyncDht,
    addr: SocketAddrV4,
}

impl DhtNode {
    /// Starts a node bound to `listen` (port 0: a free one) that joins the network of the
    /// `bootstrap` nodes, or starts a new network when there are none.
    pub async fn start(listen: SocketAddrV4, bootstrap: &[String]) -> Result<Self> {
        for node in bootstrap {
            crate::config::check_host_port(node)
                .map_err(|reason| dht_failed(format!("bootstrap node {node:?} {reason}")))?;
        }
        let node = start_node(listen, Some(bootstrap.to_vec()), crate::DEFAULT_DHT_REQUEST_TIMEOUT, true).await?;
        let addr = node.info().await.local_addr();
        Ok(Self { node, addr })
    }

    /// The address it answers on.
    pub fn local_addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// How many other nodes its routing table holds (a node that knows none cannot be
    /// found by the network it was meant to join).
    pub async fn known_nodes(&self) -> usize {
        self.node.to_bootstrap().await.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "0.chat";

    #[test]
    fn keys_differ_per_cloud_and_name_and_are_stable() {
        let global = CloudName::global();
        let corp = CloudName::parse("corp.example").unwrap();
        assert_eq!(dht_key(&global, NAME), dht_key(&global, NAME));
        assert_ne!(dht_key(&global, NAME), dht_key(&corp, NAME));
        assert_ne!(dht_key(&global, NAME), dht_key(&global, "0.chat2"));
        // Lengths keep the parts apart: ("ab", "c") is not ("a", "bc").
        let a = CloudName::parse("a.example").unwrap();
        let b = CloudName::parse("a.exampl").unwrap();
        assert_ne!(dht_key(&a, "0.x"), dht_key(&b, "e0.x"));
        // A fixed value: every host must compute the same key.
        let hex: String = dht_key(&global, NAME).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex.len(), 40);
        assert_eq!(hex, KNOWN_KEY);
    }

    // SHA-256 computed apart (Python hashlib) over the same parts.
    const KNOWN_KEY: &str = "615aaa125e25147af1faa4634762e05dc7f1b5d2";

    #[test]
    fn endpoints_must_share_one_port() {
        let a: SocketAddr = "192.0.2.1:4000".parse().unwrap();
        let b: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
        let c: SocketAddr = "192.0.2.1:4001".parse().unwrap();
        assert_eq!(announced_port(&[a, b]).unwrap(), 4000);
        let err = announced_port(&[a, c]).unwrap_err();
        assert!(err.to_string().contains("one port"), "{err}");
        assert_eq!(err.p2p_code(), "E_INVALIDARG");
    }

    #[test]
    fn unusable_answers_are_dropped() {
        for (addr, ok) in [
            ("192.0.2.1:4000", true),
            ("0.0.0.0:4000", false),
            ("192.0.2.1:0", false),
            ("224.0.0.1:4000", false),
            ("255.255.255.255:1", false),
        ] {
            assert_eq!(usable(&addr.parse().unwrap()), ok, "{addr}");
        }
    }

    #[tokio::test]
    async fn a_disabled_global_cloud_says_so_and_binds_nothing() {
        let medium = DhtMedium::new(GlobalConfig { enabled: false, ..GlobalConfig::private(&[]) });
        let p = Publication::new(CloudName::global(), NAME, vec!["127.0.0.1:4000".parse().unwrap()], "").unwrap();
        assert!(matches!(medium.publish(&p).await, Err(PnrpError::GlobalDisabled)));
        let err = medium.resolve(NAME, &CloudName::global(), 1, Duration::from_millis(10)).await.unwrap_err();
        assert!(err.to_string().contains("enabled = false"), "{err}");
        assert!(medium.node.get().is_none());
    }

    #[tokio::test]
    async fn other_clouds_are_refused() {
        let medium = DhtMedium::new(GlobalConfig::private(&[]));
        let cloud = CloudName::parse("corp.example").unwrap();
        let err = medium.resolve(NAME, &cloud, 1, Duration::from_millis(10)).await.unwrap_err();
        assert_eq!(err.p2p_code(), "E_INVALIDARG");
        assert!(medium.node.get().is_none());
    }
}
