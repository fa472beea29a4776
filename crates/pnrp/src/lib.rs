//! Cloud discovery for peergroup: which clouds this host is in, and which one a cloud name
//! means.
//!
//! Windows' PNRP is gone; peergroup defines clouds on what exists today. The host's network
//! interfaces give the global cloud `Global_` and one `LinkLocal_<interface>` /
//! `SiteLocal_<interface>` cloud per suitable interface; DNS gives private clouds named by a
//! domain (`_peergroup._udp.<domain>` SRV records list their seeds). `docs/clouds.md` has the
//! names, scopes, states, the DNS descriptor and the resolution rule.
//!
//! The rules are pure functions over an interface list ([`clouds_from_interfaces`],
//! [`select`], [`decide_dns`], [`parse_descriptor`]); the real sources sit behind
//! [`InterfaceSource`] ([`SystemInterfaces`] reads `getifaddrs`, [`WatchedInterfaces`] again
//! only after the kernel reports a change) and [`CloudResolver`] (DNS
//! with hickory-resolver, bounded by a timeout, answers cached for their TTL).
//!
//! Peer names are registered and resolved per cloud through a [`Medium`]: signed DNS updates
//! in DNS clouds ([`DnsMedium`]), multicast DNS on the link ([`MdnsMedium`]), and the Mainline
//! DHT in `Global_` ([`DhtMedium`], with [`DhtNode`] for private DHT networks);
//! [`CloudMedia`] picks by cloud.
//!
//! ```
//! use peergroup_pnrp::{CloudResolver, CloudState, DnsConfig, Interface, NameOrigin, PnrpError, Scope, discover};
//!
//! // A fixed host: loopback, and one Ethernet interface with only a link-local address.
//! let lo = Interface { name: "lo".into(), index: 1, up: true, loopback: true, multicast: false,
//!                      addrs: vec!["::1".parse()?] };
//! let eth0 = Interface { name: "eth0".into(), index: 2, up: true, loopback: false, multicast: true,
//!                        addrs: vec!["fe80::1".parse()?] };
//! let host = vec![lo, eth0.clone()];
//!
//! let clouds = discover(&host)?;
//! let names: Vec<String> = clouds.iter().map(|c| c.name.to_string()).collect();
//! assert_eq!(names, ["Global_", "LinkLocal_eth0"]);
//! assert_eq!(clouds[0].state, CloudState::NoNet); // offline, yet groups can open
//!
//! let resolver = CloudResolver::new(DnsConfig::default());
//! // Rule 2: a bare scope name picks the single cloud of that scope.
//! let cloud = resolver.resolve_blocking(Some("LinkLocal_"), NameOrigin::Caller, &host)?;
//! assert_eq!((cloud.scope, cloud.scope_id), (Scope::LinkLocal, 2));
//! // Rule 3: an interface name stored on another host falls back to its scope...
//! assert_eq!(resolver.resolve_blocking(Some("LinkLocal_en0"), NameOrigin::Stored, &host)?.name, cloud.name);
//! // ...but a name the caller types is exact: this host has no `en0`.
//! assert!(matches!(
//!     resolver.resolve_blocking(Some("LinkLocal_en0"), NameOrigin::Caller, &host),
//!     Err(PnrpError::NoCloud { .. })
//! ));
//!
//! // With two link-local interfaces the bare name is ambiguous.
//! let two = vec![eth0, Interface { name: "wlan0".into(), index: 3, up: true, loopback: false,
//!                                  multicast: true, addrs: vec!["fe80::2".parse()?] }];
//! match resolver.resolve_blocking(Some("LinkLocal_"), NameOrigin::Caller, &two) {
//!     Err(PnrpError::Ambiguous { candidates, .. }) => assert_eq!(candidates, ["LinkLocal_eth0", "LinkLocal_wlan0"]),
//!     other => panic!("{other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod announce;
mod cache;
mod cloud;
mod config;
mod descriptor;
mod dht_cloud;
mod dns;
mod dns_cloud;
mod error;
mod interfaces;
mod mdns_cloud;
mod mdns_oneshot;
mod media;
mod name;
mod proof;
mod registration;
mod resolver;
mod rule;
mod system;
#[doc(hidden)]
pub mod testing;
mod update;
mod watched;

pub use announce::{
    ANNOUNCEMENT_VERSION, Announcement, MAX_CLASSIFIER_UTF16, MAX_COMMENT_LEN, MAX_ENDPOINTS, MAX_PEER_NAME_LEN,
    MAX_PROOF_LEN, MAX_TXT_BYTES, MAX_TXT_STRINGS, Placement, instance_label, name_key, validate_comment,
    validate_endpoints, validate_peer_name,
};
pub use cache::{DnsCache, MAX_CACHE_ENTRIES, MAX_NEGATIVE_TTL, MAX_POSITIVE_TTL};
pub use cloud::{Cloud, CloudState, Scope, Seed};
pub use config::{
    CONFIG_FILE, DEFAULT_DHT_REQUEST_TIMEOUT, DEFAULT_TIMEOUT, DnsConfig, GlobalConfig, MAX_BOOTSTRAP_NODES,
    MAX_CONFIG_LEN, MAX_NAMESERVERS, MAX_SEARCH_DOMAINS, MAX_TIMEOUT, MAX_UPDATE_KEYS, RESOLV_CONF,
};
pub use descriptor::{
    DESCRIPTOR_PREFIX, MAX_SRV_RECORDS, MAX_TXT_LEN, MAX_TXT_RECORDS, SrvRecord, TXT_VERSION, descriptor_name,
    parse_descriptor,
};
pub use dht_cloud::{DhtMedium, DhtNode, MAX_DHT_PEERS, dht_key};
pub use dns_cloud::{DnsMedium, MAX_INSTANCES, host_id};
pub use error::{NoCloudCause, PnrpError, Result, UpdateAnswer, UpdateFailure};
pub use interfaces::{
    Interface, InterfaceSource, cloud_endpoints, clouds_from_interfaces, discover, is_ipv6_link_local, is_routable,
    is_unique_local,
};
pub use mdns_cloud::{MAX_MDNS_INSTANCES, MDNS_DOMAIN, MDNS_SERVICE, MdnsMedium, properties_to_txt, txt_to_properties};
pub use mdns_oneshot::{answer_txts as mdns_answer_txts, legacy_query as mdns_legacy_query};
pub use media::CloudMedia;
pub use name::{CloudName, MAX_CLOUD_NAME_LEN, MAX_DNS_NAME_LEN, MAX_INTERFACE_NAME_LEN};
pub use proof::{NoProofs, ProofError, ProofSigner, ProofVerifier};
pub use registration::{DEFAULT_TTL, EndpointInfo, MAX_TTL, MIN_TTL, Medium, Publication, Registration, register};
pub use resolver::{CloudResolver, resolve_cloud};
pub use rule::{DnsAnswer, LocalMatch, NameOrigin, decide_dns, select};
pub use system::SystemInterfaces;
pub use update::{KeyAlgorithm, UpdateKey};
pub use watched::WatchedInterfaces;
