//! Registrations that stay published: the medium-independent part.
//!
//! A [`Medium`] knows how to publish, withdraw and look up one registration in its kind of
//! cloud (DNS zones here; multicast DNS and the DHT beside it later). A [`Registration`] keeps
//! a publication alive: it publishes once when made (so the caller sees the first error),
//! then again every half TTL until it is unregistered or dropped; [`Registration::refresh`]
//! does it at once, [`Registration::update`] changes the endpoints.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::announce::{validate_comment, validate_endpoints, validate_peer_name};
use crate::error::{PnrpError, Result};
use crate::name::CloudName;

/// Now, in Unix seconds (the unit of an announcement's expiry and of TSIG's time).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The TTL of a registration when the caller names none.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// The shortest TTL accepted.
pub const MIN_TTL: Duration = Duration::from_secs(2);

/// The longest TTL accepted (a day, as the cloud cache).
pub const MAX_TTL: Duration = Duration::from_secs(86_400);

/// What one registration publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The cloud.
    pub cloud: CloudName,
    /// The peer name.
    pub peer_name: String,
    /// Where the peer listens.
    pub endpoints: Vec<SocketAddr>,
    /// A free text (at most 255 bytes).
    pub comment: String,
    /// How long the records stay valid without a refresh.
    pub ttl: Duration,
}

impl Publication {
    /// A publication with the [`DEFAULT_TTL`], checked: the peer name, endpoints, comment.
    pub fn new(cloud: CloudName, peer_name: &str, endpoints: Vec<SocketAddr>, comment: &str) -> Result<Self> {
        let p =
            Self { cloud, peer_name: peer_name.to_owned(), endpoints, comment: comment.to_owned(), ttl: DEFAULT_TTL };
        p.check()?;
        Ok(p)
    }

    /// The same with another TTL.
    pub fn with_ttl(mut self, ttl: Duration) -> Result<Self> {
        self.ttl = ttl;
        self.check()?;
        Ok(self)
    }

    /// Checks every rule a medium relies on.
    pub fn check(&self) -> Result<()> {
        validate_peer_name(&self.peer_name)?;
        validate_endpoints(&self.endpoints)?;
        validate_comment(&self.comment)?;
        if self.ttl < MIN_TTL || self.ttl > MAX_TTL {
            return Err(PnrpError::InvalidRegistration { what: "ttl", reason: "not between 2 s and one day" });
        }
        Ok(())
    }
}

/// One registration found by resolution (`PEER_PNRP_ENDPOINT_INFO`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct EndpointInfo {
    /// The peer name.
    pub peer_name: String,
    /// Its addresses and ports.
    pub addresses: Vec<SocketAddr>,
    /// Its comment.
    pub comment: String,
}

/// A kind of cloud that registrations can be published in and resolved from.
pub trait Medium: Send + Sync + 'static {
    /// Publishes (or republishes, replacing the previous content) one registration.
    fn publish(&self, publication: &Publication) -> impl Future<Output = Result<()>> + Send;
    /// Removes one registration.
    fn withdraw(&self, publication: &Publication) -> impl Future<Output = Result<()>> + Send;
    /// Finds at most `max` registrations of `peer_name` in `cloud` within `timeout`, dropping
    /// those whose proof fails or that have expired. None found is an empty list.
    fn resolve(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<EndpointInfo>>> + Send;

    /// The streaming form of [`Self::resolve`] (`PeerPnrpStartResolve`): calls `found` with
    /// each registration as soon as it is known, at most `max` of them. By default it
    /// resolves, then hands the list out; a medium that hears answers one by one (multicast
    /// DNS) hands each out as it comes.
    fn resolve_each(
        &self,
        peer_name: &str,
        cloud: &CloudName,
        max: usize,
        timeout: Duration,
        found: &mut (dyn FnMut(EndpointInfo) + Send),
    ) -> impl Future<Output = Result<()>> + Send {
        async move {
            for info in self.resolve(peer_name, cloud, max, timeout).await? {
                found(info);
            }
            Ok(())
        }
    }
}

struct Shared<M> {
    medium: Arc<M>,
    publication: Mutex<Publication>,
    wake: Notify,
    last_error: Mutex<Option<String>>,
}

impl<M> Shared<M> {
    fn publication(&self) -> Publication {
        // Plain data, consistent after any panic.
        self.publication.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// A published registration. Dropping it withdraws it in the background (when a Tokio
/// runtime is still there); [`Registration::unregister`] withdraws it and reports how that went.
pub struct Registration<M: Medium> {
    shared: Arc<Shared<M>>,
    task: tokio::task::JoinHandle<()>,
    withdrawn: bool,
}

impl<M: Medium> std::fmt::Debug for Registration<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").field("publication", &self.shared.publication()).finish_non_exhaustive()
    }
}

/// Registers `publication` through `medium`: publishes it now, then keeps it published.
/// Must run inside a Tokio runtime.
pub async fn register<M: Medium>(medium: Arc<M>, publication: Publication) -> Result<Registration<M>> {
    publication.check()?;
    medium.publish(&publication).await?;
    let shared = Arc::new(Shared {
        medium,
        publication: Mutex::new(publication),
        wake: Notify::new(),
        last_error: Mutex::new(None),
    });
    let task = tokio::spawn(keep_published(shared.clone()));
    Ok(Registration { shared, task, withdrawn: false })
}

/// Republishes every half TTL (a tenth after a failure, so one lost update does not let the
/// records expire); [`Registration::update`] wakes it to restart the count.
async fn keep_published<M: Medium>(shared: Arc<Shared<M>>) {
    let mut wait = shared.publication().ttl / 2;
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.wake.notified() => {
                wait = shared.publication().ttl / 2;
                continue;
            }
        }
        let publication = shared.publication();
        let outcome = shared.medium.publish(&publication).await;
        wait = if outcome.is_ok() { publication.ttl / 2 } else { publication.ttl / 10 };
        *shared.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            outcome.err().map(|e| e.to_string());
    }
}

impl<M: Medium> Registration<M> {
    /// What is published.
    pub fn publication(&self) -> Publication {
        self.shared.publication()
    }

    /// The error of the last background refresh, if it failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Publishes again now (new expiry, new proof), as the background refresh does.
    pub async fn refresh(&self) -> Result<()> {
        let publication = self.shared.publication();
        self.shared.medium.publish(&publication).await?;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Replaces the endpoints and publishes at once (`PeerPnrpUpdateRegistration`). On error
    /// the previous endpoints stay.
    pub async fn update(&self, endpoints: Vec<SocketAddr>) -> Result<()> {
        let mut next = self.shared.publication();
        next.endpoints = endpoints;
        next.check()?;
        self.shared.medium.publish(&next).await?;
        *self.shared.publication.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        self.shared.wake.notify_one();
        Ok(())
    }

    /// Stops refreshing and withdraws the records (`PeerPnrpUnregister`).
    pub async fn unregister(mut self) -> Result<()> {
        self.task.abort();
        self.withdrawn = true;
        self.shared.medium.withdraw(&self.shared.publication()).await
    }
}

impl<M: Medium> Drop for Registration<M> {
    fn drop(&mut self) {
        self.task.abort();
        if self.withdrawn {
            return;
        }
        // Best effort: without a runtime the records expire by themselves (their TTL and the
        // signed expiry).
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            handle.spawn(async move {
                let _ = shared.medium.withdraw(&shared.publication()).await;
            });
        }
    }
}
