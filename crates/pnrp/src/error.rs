//! The cloud layer's error type.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cloud::Scope;

/// Why no cloud matched a name (the cause carried by [`PnrpError::NoCloud`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoCloudCause {
    /// No up interface gives a cloud of this scope (for example no link-local interface).
    NoCloudOfScope(Scope),
    /// Every DNS name tried answered NXDOMAIN.
    NxDomain {
        /// The descriptor names queried, in order.
        queried: Vec<String>,
    },
    /// The DNS names exist but hold no peergroup descriptor (no SRV records).
    NoDescriptor {
        /// The descriptor names queried, in order.
        queried: Vec<String>,
    },
    /// The descriptor's SRV records all have the target `.`: the domain says it offers no cloud.
    NotOffered {
        /// The descriptor name.
        record: String,
    },
    /// No DNS server answered within the timeout.
    Timeout {
        /// The configured timeout that elapsed.
        after: Duration,
        /// The descriptor names that got no answer.
        queried: Vec<String>,
    },
    /// The DNS servers failed (SERVFAIL, REFUSED, unreachable, ...).
    DnsFailure {
        /// What the resolver reported.
        reason: String,
    },
    /// No DNS server is configured (neither in `/etc/resolv.conf` nor in `config.toml`).
    NoNameservers,
    /// The name has no search domain to try (a relative name and an empty search list).
    NoSearchDomains,
    /// The caller named an interface cloud (`LinkLocal_eth9`) and this host has no such
    /// interface, or it gives no cloud of that scope.
    NoSuchInterface {
        /// The names of this host's clouds, for the message.
        clouds: Vec<String>,
    },
}

impl fmt::Display for NoCloudCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCloudOfScope(scope) => write!(f, "this host has no {scope} cloud"),
            Self::NxDomain { queried } => write!(f, "DNS says NXDOMAIN for {}", queried.join(", ")),
            Self::NoDescriptor { queried } => write!(f, "no SRV records at {}", queried.join(", ")),
            Self::NotOffered { record } => write!(f, "{record} says the service is not offered (SRV target \".\")"),
            Self::Timeout { after, queried } => {
                write!(f, "DNS timeout: no answer within {} ms for {}", after.as_millis(), queried.join(", "))
            }
            Self::DnsFailure { reason } => write!(f, "DNS failure: {reason}"),
            Self::NoNameservers => f.write_str("no DNS server is configured"),
            Self::NoSearchDomains => f.write_str("a relative name needs a search domain and none is configured"),
            Self::NoSuchInterface { clouds } => {
                write!(f, "this host has no such interface; its clouds are {}", clouds.join(", "))
            }
        }
    }
}

/// How a zone's primary refused a dynamic update (RFC 2136 §2.2, RFC 8945 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateAnswer {
    /// REFUSED: the server's policy does not allow this update (no `update-policy` grant).
    Refused,
    /// NOTAUTH: the server is not authoritative for the zone, or refused the signature.
    NotAuth,
    /// NOTZONE: a name updated is not in the zone.
    NotZone,
    /// TSIG BADKEY: the server does not know the key name or its algorithm.
    BadKey,
    /// TSIG BADSIG: the MAC does not verify (a wrong secret).
    BadSig,
    /// TSIG BADTIME: our clock and the server's differ by more than the fudge (300 s).
    BadTime,
}

impl fmt::Display for UpdateAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "REFUSED (the zone's update policy does not allow it)",
            Self::NotAuth => "NOTAUTH (not authoritative for the zone, or the signature was refused)",
            Self::NotZone => "NOTZONE (a name is outside the zone)",
            Self::BadKey => "NOTAUTH, TSIG BADKEY (the server does not know this key)",
            Self::BadSig => "NOTAUTH, TSIG BADSIG (the signature does not verify: wrong secret?)",
            Self::BadTime => "NOTAUTH, TSIG BADTIME (the clocks differ by more than 300 s)",
        })
    }
}

/// Why a dynamic update got no usable answer.
#[derive(Debug)]
#[non_exhaustive]
pub enum UpdateFailure {
    /// The connection failed.
    Io(std::io::Error),
    /// No answer within the timeout.
    Timeout(std::time::Duration),
    /// The server failed (an RCODE other than success and the refusals), with its name.
    ServerError(u16, &'static str),
    /// An answer that is not one: unparsable, for another message, or with a TSIG that does
    /// not verify.
    BadAnswer(String),
    /// The message could not be made or signed here.
    Local(String),
}

impl fmt::Display for UpdateFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "{e}"),
            Self::Timeout(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::ServerError(code, name) => write!(f, "the server answered RCODE {code} ({name})"),
            Self::BadAnswer(why) => write!(f, "a bad answer: {why}"),
            Self::Local(why) => write!(f, "cannot make the message: {why}"),
        }
    }
}

/// Everything that can go wrong in the cloud layer.
///
/// Each variant names the `p2p.h` HRESULT it is meant to map to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PnrpError {
    /// A syntactically invalid cloud name (empty, too long, control characters, not a DNS
    /// name). Maps to `E_INVALIDARG` (0x80070057).
    #[error("invalid cloud name {name:?}: {reason}")]
    InvalidCloudName {
        /// The offending name (cut to 300 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No cloud matches the name. Maps to `PEER_E_NO_CLOUD` (0x80631001).
    #[error("no cloud named {name}: {cause}")]
    NoCloud {
        /// The name asked for.
        name: String,
        /// Why nothing matched.
        cause: NoCloudCause,
    },
    /// More than one cloud matches the name. Maps to `PEER_E_CLOUD_NAME_AMBIGUOUS` (0x80631005).
    #[error("cloud name {name} is ambiguous: it matches {}", candidates.join(", "))]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// The names of every matching cloud.
        candidates: Vec<String>,
    },
    /// A DNS descriptor that does not follow the format of `docs/clouds.md`.
    /// Maps to `HRESULT_FROM_WIN32(ERROR_INVALID_DATA)` (0x8007000D).
    #[error("malformed cloud descriptor {record}: {reason}")]
    MalformedDescriptor {
        /// The record at fault, as `<owner name> <type>` (for example `_peergroup._udp.corp.example. TXT`).
        record: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration file that cannot be read or parsed.
    /// Maps to `HRESULT_FROM_WIN32(ERROR_BAD_CONFIGURATION)` (0x8007064A).
    #[error("configuration file {path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system refused to list the network interfaces.
    /// Maps to `E_FAIL` (0x80004005).
    #[error("cannot list network interfaces: {0}")]
    Interfaces(#[source] std::io::Error),
    /// The blocking API could not start its runtime. Maps to `E_OUTOFMEMORY` (0x8007000E).
    #[error("cannot start the DNS runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A peer name that is not `authority.classifier` as pnrp reads it.
    /// Maps to `PEER_E_INVALID_PEER_NAME` (0x80632050).
    #[error("invalid peer name {name:?}: {reason}")]
    InvalidPeerName {
        /// The offending name (cut to 300 characters).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A registration that breaks a rule (no endpoint, too many, a comment too long, a cloud
    /// that is not a DNS cloud). Maps to `E_INVALIDARG`.
    #[error("invalid registration: {what}: {reason}")]
    InvalidRegistration {
        /// Which part (`endpoints`, `comment`, `cloud`, `ttl`).
        what: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `[dns.update."<zone>"]` key covers the cloud's domain.
    /// Maps to `HRESULT_FROM_WIN32(ERROR_BAD_CONFIGURATION)`.
    #[error("no update key for the DNS cloud {cloud}: add a [dns.update.\"<zone>\"] table to config.toml")]
    NoUpdateKey {
        /// The cloud.
        cloud: String,
    },
    /// The zone's primary refused the update. Maps to `E_ACCESSDENIED` (0x80070005).
    #[error("the primary {server} of zone {zone} refused the update: {answer}")]
    UpdateRefused {
        /// The zone.
        zone: String,
        /// The server asked.
        server: SocketAddr,
        /// Its answer.
        answer: UpdateAnswer,
    },
    /// The update got no usable answer. Maps to `PEER_E_SERVICE_NOT_AVAILABLE` (0x806320A1).
    #[error("update of zone {zone} at {server} failed: {cause}")]
    UpdateFailed {
        /// The zone.
        zone: String,
        /// The server asked.
        server: SocketAddr,
        /// What happened.
        cause: UpdateFailure,
    },
    /// The zone's primary could not be found from its SOA (and none is configured).
    /// Maps to `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("cannot find the primary of zone {zone}: {reason}")]
    NoPrimary {
        /// The zone.
        zone: String,
        /// Why.
        reason: String,
    },
    /// The proof of a secure peer name could not be made: no identity here owns it, or its
    /// key is not usable. Maps to `PEER_E_IDENTITY_NOT_FOUND` (0x80630401).
    #[error("cannot prove ownership of {peer_name}: {source}")]
    Proof {
        /// The peer name.
        peer_name: String,
        /// The signer's reason.
        #[source]
        source: crate::proof::ProofError,
    },
    /// Resolution failed (no DNS answer within the timeout, or the servers failed); a name
    /// that is simply not registered is no error but an empty answer.
    /// Maps to `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("cannot resolve {peer_name} in {cloud}: {reason}")]
    ResolveFailed {
        /// The peer name.
        peer_name: String,
        /// The cloud.
        cloud: String,
        /// What the resolver reported.
        reason: String,
    },
    /// Multicast DNS could not be used on the cloud's interface (the daemon could not start,
    /// bind its sockets, or take the registration). Maps to `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("multicast DNS failed in {cloud}: {reason}")]
    MdnsFailed {
        /// The cloud (`LinkLocal_<interface>`).
        cloud: String,
        /// What `mdns-sd` reported.
        reason: String,
    },
    /// `Global_` is turned off by `[global] enabled = false`: it registers and resolves
    /// nothing. Maps to `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("Global_ is disabled ([global] enabled = false in config.toml): it registers and resolves no one")]
    GlobalDisabled,
    /// The Mainline DHT could not be used: this process's node could not bind, or no DHT node
    /// answered (none of the `[global] bootstrap` nodes is reachable). Maps to
    /// `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("the Mainline DHT failed for Global_: {reason}")]
    DhtFailed {
        /// What went wrong, with the bootstrap nodes or the address involved.
        reason: String,
    },
}

impl PnrpError {
    /// The symbolic p2p.h / winerror.h name of the HRESULT this error maps to (the facade turns
    /// it into the value). No wildcard arm: a new variant must be given its code here.
    pub fn p2p_code(&self) -> &'static str {
        match self {
            Self::InvalidCloudName { .. } => "E_INVALIDARG",
            Self::NoCloud { .. } => "PEER_E_NO_CLOUD",
            Self::Ambiguous { .. } => "PEER_E_CLOUD_NAME_AMBIGUOUS",
            Self::MalformedDescriptor { .. } => "ERROR_INVALID_DATA",
            Self::Config { .. } => "ERROR_BAD_CONFIGURATION",
            Self::Interfaces(_) => "E_FAIL",
            Self::Runtime(_) => "E_OUTOFMEMORY",
            Self::InvalidPeerName { .. } => "PEER_E_INVALID_PEER_NAME",
            Self::InvalidRegistration { .. } => "E_INVALIDARG",
            Self::NoUpdateKey { .. } => "ERROR_BAD_CONFIGURATION",
            Self::UpdateRefused { .. } => "E_ACCESSDENIED",
            Self::UpdateFailed { .. }
            | Self::NoPrimary { .. }
            | Self::ResolveFailed { .. }
            | Self::MdnsFailed { .. }
            | Self::GlobalDisabled
            | Self::DhtFailed { .. } => "PEER_E_SERVICE_NOT_AVAILABLE",
            Self::Proof { .. } => "PEER_E_IDENTITY_NOT_FOUND",
        }
    }

    /// One value of every variant, for the facade's test that every error maps to its
    /// documented HRESULT. The `match` in [`Self::p2p_code`] makes a new variant fail to
    /// compile; add it here too.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let s = String::new;
        vec![
            Self::InvalidCloudName { name: s(), reason: "" },
            Self::NoCloud { name: s(), cause: NoCloudCause::NoNameservers },
            Self::Ambiguous { name: s(), candidates: Vec::new() },
            Self::MalformedDescriptor { record: s(), reason: s() },
            Self::Config { path: PathBuf::new(), reason: s() },
            Self::Interfaces(std::io::Error::other("x")),
            Self::Runtime(std::io::Error::other("x")),
            Self::InvalidPeerName { name: s(), reason: "" },
            Self::InvalidRegistration { what: "", reason: "" },
            Self::NoUpdateKey { cloud: s() },
            Self::UpdateRefused { zone: s(), server: ([127, 0, 0, 1], 53).into(), answer: UpdateAnswer::BadSig },
            Self::UpdateFailed {
                zone: s(),
                server: ([127, 0, 0, 1], 53).into(),
                cause: UpdateFailure::Timeout(Duration::ZERO),
            },
            Self::NoPrimary { zone: s(), reason: s() },
            Self::Proof { peer_name: s(), source: crate::proof::ProofError { reason: s() } },
            Self::ResolveFailed { peer_name: s(), cloud: s(), reason: s() },
            Self::MdnsFailed { cloud: s(), reason: s() },
            Self::GlobalDisabled,
            Self::DhtFailed { reason: s() },
        ]
    }
}

/// Cuts user input quoted in an error message, so that huge inputs make short errors.
pub(crate) fn excerpt(s: &str) -> String {
    s.chars().take(300).collect()
}

/// The cloud layer's result type.
pub type Result<T, E = PnrpError> = std::result::Result<T, E>;
