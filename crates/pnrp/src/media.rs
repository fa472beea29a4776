//! One medium for every kind of cloud a registration can live in: DNS clouds through
//! [`DnsMedium`], link-local and site-local clouds through [`MdnsMedium`], `Global_` through
//! [`DhtMedium`].

use std::sync::Arc;
use std::time::Duration;

use crate::dht_cloud::DhtMedium;
use crate::dns_cloud::DnsMedium;
use crate::error::{PnrpError, Result};
use crate::mdns_cloud::MdnsMedium;
use crate::name::CloudName;
use crate::registration::{EndpointInfo, Medium, Publication};

/// Picks the medium by the cloud: a DNS name goes to the zone, an interface cloud to
/// multicast DNS on that interface, `Global_` to the Mainline DHT. A bare `LinkLocal_` or
/// `SiteLocal_` names no one cloud: [`PnrpError::InvalidRegistration`].
#[derive(Debug)]
pub struct CloudMedia {
    dns: DnsMedium,
    mdns: Arc<MdnsMedium>,
    dht: Arc<DhtMedium>,
}

enum Which<'a> {
    Dns(&'a DnsMedium),
    Mdns(&'a MdnsMedium),
    Dht(&'a DhtMedium),
}

impl CloudMedia {
    /// Every medium; the multicast and DHT ones are shared (their daemons, nodes and caches
    /// outlive one call).
    pub fn new(dns: DnsMedium, mdns: Arc<MdnsMedium>, dht: Arc<DhtMedium>) -> Self {
        Self { dns, mdns, dht }
    }

    fn which(&self, cloud: &CloudName) -> Result<Which<'_>> {
        if cloud.dns_name().is_some() {
            Ok(Which::Dns(&self.dns))
        } else if cloud.interface_name().is_some() {
            Ok(Which::Mdns(&self.mdns))
        } else if *cloud == CloudName::global() {
            Ok(Which::Dht(&self.dht))
        } else {
            Err(PnrpError::InvalidRegistration {
                what: "cloud",
                reason: "a bare scope name is not one cloud: name LinkLocal_<interface>, Global_ or a DNS cloud",
            })
        }
    }
}

impl Medium for CloudMedia {
    async fn publish(&self, publication: &Publication) -> Result<()> {
        match self.which(&publication.cloud)? {
            Which::Dns(m) => m.publish(publication).await,
            Which::Mdns(m) => m.publish(publication).await,
            Which::Dht(m) => m.publish(publication).await,
        }
    }

    async fn withdraw(&self, publication: &Publication) -> Result<()> {
        match self.which(&publication.cloud)? {
            Which::Dns(m) => m.withdraw(publication).await,
            Which::Mdns(m) => m.withdraw(publication).await,
            Which::Dht(m) => m.withdraw(publication).await,
        }
    }

    async fn resolve(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<EndpointInfo>> {
        match self.which(cloud)? {
            Which::Dns(m) => m.resolve(peer_name, cloud, max, timeout).await,
            Which::Mdns(m) => m.resolve(peer_name, cloud, max, timeout).await,
            Which::Dht(m) => m.resolve(peer_name, cloud, max, timeout).await,
        }
    }

    async fn resolve_each(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
        found: &mut (dyn FnMut(EndpointInfo) + Send),
    ) -> Result<()> {
        match self.which(cloud)? {
            Which::Dns(m) => m.resolve_each(peer_name, cloud, max, timeout, found).await,
            Which::Mdns(m) => m.resolve_each(peer_name, cloud, max, timeout, found).await,
            Which::Dht(m) => m.resolve_each(peer_name, cloud, max, timeout, found).await,
        }
    }
}
