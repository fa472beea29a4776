//! Settings: DNS (the system's `/etc/resolv.conf`, overridden by `<home>/config.toml`) and
//! the global cloud's DHT (`[global]` in the same file).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{PnrpError, Result};
use crate::name::parse_dns;
use crate::update::{UpdateKey, UpdateKeySection};

/// The system resolver configuration file.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The name of the configuration file inside the peergroup home.
pub const CONFIG_FILE: &str = "config.toml";

/// The largest configuration file read, in bytes.
pub const MAX_CONFIG_LEN: u64 = 64 * 1024;

/// The most name servers and search domains kept.
pub const MAX_NAMESERVERS: usize = 8;

/// The most search domains kept.
pub const MAX_SEARCH_DOMAINS: usize = 8;

/// The timeout when neither file sets one (glibc's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest timeout accepted.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// Where and how DNS clouds are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Name servers, asked over UDP (and TCP for truncated answers).
    pub nameservers: Vec<SocketAddr>,
    /// Search domains for relative cloud names, without final dots.
    pub search: Vec<String>,
    /// The bound on a whole DNS resolution, and on one dynamic update.
    pub timeout: Duration,
    /// The TSIG keys for dynamic updates, one per zone (`[dns.update."<zone>"]`).
    pub updates: Vec<UpdateKey>,
}

impl Default for DnsConfig {
    /// No name server, no search domain, the default timeout, no update key.
    fn default() -> Self {
        Self { nameservers: Vec::new(), search: Vec::new(), timeout: DEFAULT_TIMEOUT, updates: Vec::new() }
    }
}

impl DnsConfig {
    /// The update key of the zone that holds `domain` (absolute or not): the configured zone
    /// that is the longest suffix of it, on label boundaries.
    pub fn update_key_for(&self, domain: &str) -> Option<&UpdateKey> {
        let domain = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
        self.updates
            .iter()
            .filter(|k| domain == k.zone || domain.ends_with(&format!(".{}", k.zone)))
            .max_by_key(|k| k.zone.len())
    }
}

#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    dns: Option<DnsSection>,
    #[serde(default)]
    global: Option<GlobalSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlobalSection {
    enabled: Option<bool>,
    bootstrap: Option<Vec<String>>,
    listen: Option<String>,
    request_timeout_ms: Option<u64>,
}

/// Reads a configuration file, bounded; `None` when it does not exist. The text may hold
/// update secrets: it is zeroized when dropped.
fn read_file(path: &Path) -> Result<Option<zeroize::Zeroizing<String>>> {
    let err = |reason: String| PnrpError::Config { path: path.to_owned(), reason };
    match std::fs::File::open(path) {
        Ok(file) => {
            use std::io::Read;
            let mut text = zeroize::Zeroizing::new(String::new());
            file.take(MAX_CONFIG_LEN + 1).read_to_string(&mut text).map_err(|e| err(e.to_string()))?;
            if text.len() as u64 > MAX_CONFIG_LEN {
                return Err(err(format!("larger than {MAX_CONFIG_LEN} bytes")));
            }
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(err(e.to_string())),
    }
}

/// Parses a configuration text; errors name `path` and the line.
fn parse_file(path: &Path, text: &str) -> Result<ConfigFile> {
    toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |span| {
            1 + text.as_bytes()[..span.start.min(text.len())].iter().filter(|b| **b == b'\n').count()
        });
        PnrpError::Config { path: PathBuf::from(path), reason: format!("{} (line {line})", e.message()) }
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DnsSection {
    nameservers: Option<Vec<String>>,
    search: Option<Vec<String>>,
    timeout_ms: Option<u64>,
    update: Option<std::collections::BTreeMap<String, UpdateKeySection>>,
}

/// The most update keys kept.
pub const MAX_UPDATE_KEYS: usize = 64;

/// A search domain as the resolver uses it: a valid DNS name, lowercase, without a final dot.
fn search_domain(domain: &str) -> Result<String> {
    parse_dns(domain.strip_suffix('.').unwrap_or(domain)).map(|n| n.as_str().to_owned())
}

impl DnsConfig {
    /// The settings of a `resolv.conf` text (`nameserver`, `search`/`domain`,
    /// `options timeout:N`). Lines it cannot read are skipped, as the C library does.
    pub fn from_resolv_conf(text: &[u8]) -> Self {
        let (conf, _skipped) = resolv_conf::Config::parse_with_errors(text);
        let nameservers =
            conf.nameservers.iter().take(MAX_NAMESERVERS).map(|ip| SocketAddr::new(IpAddr::from(ip.clone()), 53));
        let search =
            conf.get_last_search_or_domain().filter_map(|d| search_domain(d).ok()).take(MAX_SEARCH_DOMAINS).collect();
        let timeout = Duration::from_secs(u64::from(conf.timeout.max(1))).min(MAX_TIMEOUT);
        Self { nameservers: nameservers.collect(), search, timeout, updates: Vec::new() }
    }

    /// The system's settings, from [`RESOLV_CONF`]; the default when it cannot be read.
    pub fn system() -> Self {
        std::fs::read(RESOLV_CONF).map(|text| Self::from_resolv_conf(&text)).unwrap_or_default()
    }

    /// The system's settings overridden by `<home>/config.toml` when it exists (`home` is the
    /// peergroup home, the keystore root; see `peergroup_identity::Keystore::default_root`).
    pub fn load(home: &Path) -> Result<Self> {
        let mut config = Self::system();
        config.apply_file(&home.join(CONFIG_FILE))?;
        Ok(config)
    }

    /// Applies the `[dns]` table of a configuration file, if the file exists:
    ///
    /// ```toml
    /// [dns]
    /// nameservers = ["192.0.2.53", "[2001:db8::53]:5353"]  # port 53 when left out
    /// search = ["corp.example"]
    /// timeout_ms = 2000
    ///
    /// [dns.update."corp.example"]     # a TSIG key for dynamic updates of this zone
    /// server = "127.0.0.1:5300"       # else the primary named by the zone's SOA, port 53
    /// key_name = "pg-update"
    /// algorithm = "hmac-sha256"       # or hmac-sha384, hmac-sha512
    /// secret = "<base64>"             # kept zeroized, never printed
    /// ```
    ///
    /// Each key present replaces the system's value. Other tables are left to other layers.
    pub fn apply_file(&mut self, path: &Path) -> Result<()> {
        match read_file(path)? {
            Some(text) => self.apply_toml(path, &text),
            None => Ok(()),
        }
    }

    /// Applies the `[dns]` table of a configuration text; `path` names it in errors.
    pub fn apply_toml(&mut self, path: &Path, text: &str) -> Result<()> {
        let err = |reason: String| PnrpError::Config { path: PathBuf::from(path), reason };
        let file = parse_file(path, text)?;
        let Some(dns) = file.dns else { return Ok(()) };
        if let Some(servers) = dns.nameservers {
            if servers.len() > MAX_NAMESERVERS {
                return Err(err(format!("dns.nameservers: at most {MAX_NAMESERVERS} name servers")));
            }
            self.nameservers = servers
                .iter()
                .map(|s| {
                    s.parse::<SocketAddr>()
                        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                        .map_err(|_| err(format!("dns.nameservers: {s:?} is not an address or address:port")))
                })
                .collect::<Result<_>>()?;
        }
        if let Some(search) = dns.search {
            if search.len() > MAX_SEARCH_DOMAINS {
                return Err(err(format!("dns.search: at most {MAX_SEARCH_DOMAINS} domains")));
            }
            self.search = search
                .iter()
                .map(|d| search_domain(d).map_err(|_| err(format!("dns.search: {d:?} is not a domain name"))))
                .collect::<Result<_>>()?;
        }
        if let Some(ms) = dns.timeout_ms {
            let timeout = Duration::from_millis(ms);
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                return Err(err(format!("dns.timeout_ms: {ms} is not between 1 and {}", MAX_TIMEOUT.as_millis())));
            }
            self.timeout = timeout;
        }
        if let Some(updates) = dns.update {
            if updates.len() > MAX_UPDATE_KEYS {
                return Err(err(format!("dns.update: at most {MAX_UPDATE_KEYS} zones")));
            }
            self.updates = updates
                .into_iter()
                .map(|(zone, section)| UpdateKey::from_section(&zone, section).map_err(err))
                .collect::<Result<_>>()?;
        }
        Ok(())
    }
}

/// The most bootstrap nodes kept.
pub const MAX_BOOTSTRAP_NODES: usize = 32;

/// The DHT's request timeout when the configuration names none (`mainline`'s default).
pub const DEFAULT_DHT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How the global cloud `Global_` reaches the Mainline DHT (`[global]` in `config.toml`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// Whether `Global_` registers and resolves at all; when off, both say so
    /// ([`PnrpError::GlobalDisabled`]).
    pub enabled: bool,
    /// The nodes a new DHT node first asks (`host:port`); `None` means the public routers of
    /// the Mainline DHT (`mainline::DEFAULT_BOOTSTRAP_NODES`).
    pub bootstrap: Option<Vec<String>>,
    /// Where this process's DHT node binds (IPv4: the Mainline DHT of BEP 5 is IPv4);
    /// port 0 picks a free one.
    pub listen: SocketAddrV4,
    /// How long the DHT waits for one node's answer before it stops counting on it.
    pub request_timeout: Duration,
}

impl Default for GlobalConfig {
    /// On, the public routers, any address and a free port, a 2 s request timeout.
    fn default() -> Self {
        Self {
            enabled: true,
            bootstrap: None,
            listen: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            request_timeout: DEFAULT_DHT_REQUEST_TIMEOUT,
        }
    }
}

impl GlobalConfig {
    /// A private DHT network: these bootstrap nodes, binding on loopback (tests, labs).
    pub fn private(bootstrap: &[String]) -> Self {
        Self {
            bootstrap: Some(bootstrap.to_vec()),
            listen: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            ..Self::default()
        }
    }

    /// The default settings overridden by `<home>/config.toml` when it exists.
    pub fn load(home: &Path) -> Result<Self> {
        let mut config = Self::default();
        let path = home.join(CONFIG_FILE);
        if let Some(text) = read_file(&path)? {
            config.apply_toml(&path, &text)?;
        }
        Ok(config)
    }

    /// Applies the `[global]` table of a configuration text; `path` names it in errors:
    ///
    /// ```toml
    /// [global]
    /// enabled = true                          # false: Global_ registers and resolves nothing
    /// bootstrap = ["dht.corp.example:6881"]   # else the public routers of the Mainline DHT
    /// listen = "0.0.0.0:0"                    # this process's DHT node (IPv4)
    /// request_timeout_ms = 2000
    /// ```
    pub fn apply_toml(&mut self, path: &Path, text: &str) -> Result<()> {
        let err = |reason: String| PnrpError::Config { path: PathBuf::from(path), reason };
        let Some(global) = parse_file(path, text)?.global else { return Ok(()) };
        if let Some(enabled) = global.enabled {
            self.enabled = enabled;
        }
        if let Some(nodes) = global.bootstrap {
            if nodes.len() > MAX_BOOTSTRAP_NODES {
                return Err(err(format!("global.bootstrap: at most {MAX_BOOTSTRAP_NODES} nodes")));
            }
            for node in &nodes {
                check_host_port(node).map_err(|reason| err(format!("global.bootstrap: {node:?} {reason}")))?;
            }
            self.bootstrap = Some(nodes);
        }
        if let Some(listen) = global.listen {
            self.listen =
                listen.parse().map_err(|_| err(format!("global.listen: {listen:?} is not an IPv4 address:port")))?;
        }
        if let Some(ms) = global.request_timeout_ms {
            let timeout = Duration::from_millis(ms);
            if timeout.is_zero() || timeout > MAX_TIMEOUT {
                return Err(err(format!(
                    "global.request_timeout_ms: {ms} is not between 1 and {}",
                    MAX_TIMEOUT.as_millis()
                )));
            }
            self.request_timeout = timeout;
        }
        Ok(())
    }
}

/// `host:port` with a host name or an IPv4 address and a port that is not 0.
pub(crate) fn check_host_port(node: &str) -> std::result::Result<(), &'static str> {
    let Some((host, port)) = node.rsplit_once(':') else { return Err("is not host:port") };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err("has no port (1 to 65535)"),
        Ok(_) => {}
    }
    if host.parse::<Ipv4Addr>().is_err() && parse_dns(host).is_err() {
        return Err("does not name an IPv4 address or a host");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_is_read() {
        let c = DnsConfig::from_resolv_conf(
            b"# comment\nnameserver 192.0.2.1\nnameserver 2001:db8::1\nsearch a.example b.example.\noptions timeout:2 attempts:3\nbogus line\n",
        );
        assert_eq!(c.nameservers, ["192.0.2.1:53".parse().unwrap(), "[2001:db8::1]:53".parse().unwrap()]);
        assert_eq!(c.search, ["a.example", "b.example"]);
        assert_eq!(c.timeout, Duration::from_secs(2));
        let empty = DnsConfig::from_resolv_conf(b"");
        assert!(empty.nameservers.is_empty() && empty.search.is_empty());
        assert_eq!(empty.timeout, DEFAULT_TIMEOUT);
        assert_eq!(DnsConfig::from_resolv_conf(b"domain corp.example\n").search, ["corp.example"]);
    }

    #[test]
    fn config_file_overrides_each_key_it_has() {
        let home = tempfile::tempdir().unwrap();
        let mut c = DnsConfig::from_resolv_conf(b"nameserver 192.0.2.1\nsearch sys.example\n");
        c.apply_file(&home.path().join(CONFIG_FILE)).unwrap();
        assert_eq!(c.search, ["sys.example"], "a missing file changes nothing");
        std::fs::write(
            home.path().join(CONFIG_FILE),
            "[identity]\nother = 1\n[dns]\nnameservers = [\"127.0.0.1:5353\", \"::1\"]\ntimeout_ms = 250\n",
        )
        .unwrap();
        c.apply_file(&home.path().join(CONFIG_FILE)).unwrap();
        assert_eq!(c.nameservers, ["127.0.0.1:5353".parse().unwrap(), "[::1]:53".parse().unwrap()]);
        assert_eq!(c.search, ["sys.example"]);
        assert_eq!(c.timeout, Duration::from_millis(250));
    }

    #[test]
    fn config_errors_name_the_file() {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join(CONFIG_FILE);
        for (text, part) in [
            ("[dns\n", "unclosed table"),
            ("[dns]\nnameserver = []\n", "unknown field"),
            ("[dns]\nnameservers = [\"nope\"]\n", "not an address"),
            ("[dns]\nsearch = [\"a..b\"]\n", "not a domain"),
            ("[dns]\ntimeout_ms = 0\n", "between 1 and 60000"),
            ("[dns]\ntimeout_ms = 60001\n", "between"),
            ("[dns]\nsearch = [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]\n", "at most 8"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = DnsConfig::default().apply_file(&path).unwrap_err();
            let PnrpError::Config { path: at, reason } = &err else { panic!("{err:?}") };
            assert_eq!(at, &path);
            assert!(reason.contains(part), "{text:?}: {reason:?}");
            assert!(err.to_string().contains(&path.display().to_string()));
        }
        std::fs::write(&path, "x".repeat(70_000)).unwrap();
        assert!(DnsConfig::default().apply_file(&path).unwrap_err().to_string().contains("larger than"));
    }

    #[test]
    fn load_reads_the_home() {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join(CONFIG_FILE), "[dns]\nsearch = [\"home.example\"]\n").unwrap();
        assert_eq!(DnsConfig::load(home.path()).unwrap().search, ["home.example"]);
    }

    #[test]
    fn global_section_is_read() {
        let path = Path::new("/home/config.toml");
        let mut c = GlobalConfig::default();
        c.apply_toml(path, "[dns]\nsearch = []\n").unwrap();
        assert_eq!(c, GlobalConfig::default(), "no [global] changes nothing");
        c.apply_toml(
            path,
            "[global]\nenabled = false\nbootstrap = [\"127.0.0.1:6881\", \"dht.corp.example:6881\"]\nlisten = \"127.0.0.1:0\"\nrequest_timeout_ms = 300\n",
        )
        .unwrap();
        assert!(!c.enabled);
        assert_eq!(
            c.bootstrap.as_deref(),
            Some(&["127.0.0.1:6881".to_owned(), "dht.corp.example:6881".to_owned()][..])
        );
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(c.request_timeout, Duration::from_millis(300));
    }

    #[test]
    fn global_errors_name_the_file_and_the_key() {
        let path = Path::new("/home/config.toml");
        for (text, part) in [
            ("[global]\nenable = true\n", "unknown field"),
            ("[global]\nbootstrap = [\"127.0.0.1\"]\n", "global.bootstrap: \"127.0.0.1\" is not host:port"),
            ("[global]\nbootstrap = [\"127.0.0.1:0\"]\n", "has no port"),
            ("[global]\nbootstrap = [\"bad host:1\"]\n", "does not name"),
            ("[global]\nlisten = \"[::1]:6881\"\n", "not an IPv4 address:port"),
            ("[global]\nrequest_timeout_ms = 0\n", "between 1 and 60000"),
            ("[global]\nenabled = \"yes\"\n", "line 2"),
        ] {
            let err = GlobalConfig::default().apply_toml(path, text).unwrap_err();
            let PnrpError::Config { path: at, reason } = &err else { panic!("{err:?}") };
            assert_eq!(at, path);
            assert!(reason.contains(part), "{text:?}: {reason:?}");
        }
        let many = format!("[global]\nbootstrap = [{}]\n", vec!["\"a:1\""; 33].join(","));
        assert!(GlobalConfig::default().apply_toml(path, &many).unwrap_err().to_string().contains("at most 32"));
    }

    #[test]
    fn global_load_reads_the_home() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(GlobalConfig::load(home.path()).unwrap(), GlobalConfig::default());
        std::fs::write(home.path().join(CONFIG_FILE), "[global]\nenabled = false\n").unwrap();
        assert!(!GlobalConfig::load(home.path()).unwrap().enabled);
    }
}
