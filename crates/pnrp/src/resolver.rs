//! The public entry point: a cloud name in, exactly one cloud out.

use std::sync::Mutex;
use std::time::Instant;

use crate::cache::DnsCache;
use crate::cloud::Cloud;
use crate::config::DnsConfig;
use crate::descriptor::descriptor_name;
use crate::dns;
use crate::error::{NoCloudCause, PnrpError, Result};
use crate::interfaces::{InterfaceSource, discover};
use crate::name::CloudName;
use crate::rule::{DnsAnswer, LocalMatch, NameOrigin, decide_dns, select};

/// Turns cloud names into clouds, following the rule of `docs/clouds.md`, with a cache of DNS
/// answers. Cheap to share between threads; keep one per process so the cache helps.
#[derive(Debug)]
pub struct CloudResolver {
    config: DnsConfig,
    cache: Mutex<DnsCache>,
}

impl CloudResolver {
    /// A resolver with these DNS settings (see [`DnsConfig::load`]).
    pub fn new(config: DnsConfig) -> Self {
        Self { config, cache: Mutex::new(DnsCache::new()) }
    }

    /// Its DNS settings.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// Resolves `name` (`None` means `Global_`, as a NULL cloud in `p2p.h`) to one cloud;
    /// `origin` says whether an interface name that matches no cloud here may fall back to its
    /// scope (rule 3: only for a [`NameOrigin::Stored`] name).
    ///
    /// The interface list is read at most once, and not at all for DNS names (no interface
    /// cloud has a DNS name). DNS resolution, when needed, is bounded by the configured
    /// timeout. Must run inside a Tokio runtime with I/O and time enabled.
    pub async fn resolve(
        &self,
        name: Option<&str>,
        origin: NameOrigin,
        interfaces: &(impl InterfaceSource + ?Sized),
    ) -> Result<Cloud> {
        let name = parse(name)?;
        if name.dns_name().is_none() {
            return resolve_local(&name, origin, interfaces);
        }
        self.resolve_dns(&name).await
    }

    /// [`Self::resolve`] for synchronous callers. Local names and cached DNS answers need no
    /// runtime; a DNS lookup runs on a current-thread runtime made for it (on a helper thread
    /// when the caller is itself inside a Tokio runtime).
    pub fn resolve_blocking(
        &self,
        name: Option<&str>,
        origin: NameOrigin,
        interfaces: &(impl InterfaceSource + ?Sized),
    ) -> Result<Cloud> {
        let name = parse(name)?;
        if name.dns_name().is_none() {
            return resolve_local(&name, origin, interfaces);
        }
        if let Some(cached) = self.cached_decision(&name) {
            return cached;
        }
        let run = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(PnrpError::Runtime)?
                .block_on(self.resolve_dns(&name))
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| s.spawn(run).join()).unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        } else {
            run()
        }
    }

    /// Resolves a DNS cloud name (rule 4): an absolute name is looked up once, a relative one
    /// under each search domain, all at once, within the timeout.
    pub async fn resolve_dns(&self, name: &CloudName) -> Result<Cloud> {
        let owners = self.owners(name);
        let timeout = self.config.timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut answers: Vec<Option<DnsAnswer>> = {
            let now = Instant::now();
            let mut cache = self.lock_cache();
            owners.iter().map(|o| cache.get(o, now)).collect()
        };
        if answers.iter().any(Option::is_none) {
            if self.config.nameservers.is_empty() {
                return Err(PnrpError::NoCloud { name: name.to_string(), cause: NoCloudCause::NoNameservers });
            }
            let resolver = dns::build(&self.config).map_err(|reason| PnrpError::NoCloud {
                name: name.to_string(),
                cause: NoCloudCause::DnsFailure { reason },
            })?;
            let mut set = tokio::task::JoinSet::new();
            for (i, owner) in owners.iter().enumerate().filter(|(i, _)| answers[*i].is_none()) {
                let (resolver, owner) = (resolver.clone(), owner.clone());
                set.spawn(async move { (i, dns::lookup(resolver, owner).await) });
            }
            // Whatever has not answered by the deadline has timed out; dropping the set
            // cancels it.
            while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, set.join_next()).await {
                let (i, (answer, ttl)) = match joined {
                    Ok(done) => done,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(_) => continue,
                };
                self.lock_cache().insert(&owners[i], answer.clone(), ttl, Instant::now());
                answers[i] = Some(answer);
            }
        }
        let answers: Vec<(String, DnsAnswer)> =
            owners.into_iter().zip(answers).map(|(o, a)| (o, a.unwrap_or(DnsAnswer::TimedOut))).collect();
        decide_dns(name, &answers, timeout)
    }

    /// The decision from cached answers alone, when every descriptor name is cached.
    fn cached_decision(&self, name: &CloudName) -> Option<Result<Cloud>> {
        let owners = self.owners(name);
        let now = Instant::now();
        let mut cache = self.lock_cache();
        let mut answers = Vec::with_capacity(owners.len());
        for owner in owners {
            let answer = cache.get(&owner, now)?;
            answers.push((owner, answer));
        }
        drop(cache);
        Some(decide_dns(name, &answers, self.config.timeout))
    }

    /// The descriptor names to ask for `name`, in search order.
    fn owners(&self, name: &CloudName) -> Vec<String> {
        let Some(dns) = name.dns_name() else { return Vec::new() };
        if name.is_absolute() {
            vec![descriptor_name(dns)]
        } else {
            self.config.search.iter().map(|domain| descriptor_name(&format!("{dns}.{domain}"))).collect()
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, DnsCache> {
        // The cache holds plain data, consistent after any panic: a poisoned lock is usable.
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn parse(name: Option<&str>) -> Result<CloudName> {
    name.map_or_else(|| Ok(CloudName::global()), CloudName::parse)
}

fn resolve_local(name: &CloudName, origin: NameOrigin, interfaces: &(impl InterfaceSource + ?Sized)) -> Result<Cloud> {
    let clouds = discover(interfaces)?;
    match select(name, origin, &clouds)? {
        LocalMatch::Found(cloud) => Ok(cloud.clone()),
        // A name with a scope always ends in Found or an error (see `select`).
        LocalMatch::NeedsDns => Err(PnrpError::NoCloud {
            name: name.to_string(),
            cause: NoCloudCause::NoCloudOfScope(name.scope().unwrap_or(crate::cloud::Scope::Global)),
        }),
    }
}

/// Resolves a local name (not a DNS name) against an interface source, without a resolver:
/// rules 1 to 3 and 5, for a name of `origin`. DNS names get [`PnrpError::NoCloud`] with
/// [`NoCloudCause::NoNameservers`]; use [`CloudResolver`] for them.
pub fn resolve_cloud(
    name: Option<&str>,
    origin: NameOrigin,
    interfaces: &(impl InterfaceSource + ?Sized),
) -> Result<Cloud> {
    let name = parse(name)?;
    if name.dns_name().is_some() {
        return Err(PnrpError::NoCloud { name: name.to_string(), cause: NoCloudCause::NoNameservers });
    }
    resolve_local(&name, origin, interfaces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Scope;
    use crate::interfaces::Interface;

    struct Counting(std::cell::Cell<u32>, Vec<Interface>);
    impl InterfaceSource for Counting {
        fn interfaces(&self) -> Result<Vec<Interface>> {
            self.0.set(self.0.get() + 1);
            Ok(self.1.clone())
        }
    }

    fn eth0() -> Interface {
        crate::interfaces::iface("eth0", 2, &["fe80::1"])
    }

    #[test]
    fn local_names_read_interfaces_once_and_dns_names_never() {
        let source = Counting(Default::default(), vec![eth0()]);
        let resolver = CloudResolver::new(DnsConfig::default());
        assert_eq!(
            resolver.resolve_blocking(Some("LinkLocal_"), NameOrigin::Caller, &source).unwrap().scope,
            Scope::LinkLocal
        );
        assert_eq!(source.0.get(), 1);
        assert_eq!(resolver.resolve_blocking(None, NameOrigin::Caller, &source).unwrap().name, CloudName::global());
        assert_eq!(source.0.get(), 2);
        let err = resolver.resolve_blocking(Some("corp.example."), NameOrigin::Caller, &source).unwrap_err();
        assert!(matches!(err, PnrpError::NoCloud { cause: NoCloudCause::NoNameservers, .. }), "{err}");
        let err = resolver.resolve_blocking(Some("corp"), NameOrigin::Caller, &source).unwrap_err();
        assert!(matches!(err, PnrpError::NoCloud { cause: NoCloudCause::NoSearchDomains, .. }), "{err}");
        assert_eq!(source.0.get(), 2);
        assert!(matches!(
            resolver.resolve_blocking(Some(""), NameOrigin::Caller, &source),
            Err(PnrpError::InvalidCloudName { .. })
        ));
    }

    #[test]
    fn resolve_cloud_is_the_local_rule() {
        assert_eq!(resolve_cloud(Some("LinkLocal_x"), NameOrigin::Stored, &vec![eth0()]).unwrap().scope_id, 2);
        assert!(matches!(
            resolve_cloud(Some("a.b"), NameOrigin::Caller, &vec![eth0()]),
            Err(PnrpError::NoCloud { .. })
        ));
    }

    #[test]
    fn owners_follow_the_search_list() {
        let resolver = CloudResolver::new(DnsConfig {
            search: vec!["a.example".into(), "b.example".into()],
            ..DnsConfig::default()
        });
        assert_eq!(
            resolver.owners(&"corp".parse().unwrap()),
            ["_peergroup._udp.corp.a.example.", "_peergroup._udp.corp.b.example."]
        );
        assert_eq!(resolver.owners(&"Corp.Example.".parse().unwrap()), ["_peergroup._udp.corp.example."]);
    }
}
