//! Settings of the network presence: `[net]` in `<home>/config.toml`.
//!
//! ```toml
//! [net]
//! port = 3587                      # the UDP port of every presence of this home; 0: a free one
//! advertise = ["192.0.2.7"]        # the addresses registered in clouds, instead of the host's
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The largest `config.toml` read.
const MAX_CONFIG_LEN: u64 = 1 << 20;
/// The most advertised addresses.
pub const MAX_ADVERTISED: usize = 16;

/// The `[net]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetConfig {
    /// The UDP port presences listen on (0: a free one each).
    pub port: u16,
    /// The addresses a presence registers in its cloud; `None`: this host's addresses in the
    /// cloud (`Context::local_endpoints`).
    pub advertise: Option<Vec<IpAddr>>,
}

#[derive(Debug, Default, Deserialize)]
struct File {
    #[serde(default)]
    net: Option<Section>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Section {
    port: Option<u16>,
    advertise: Option<Vec<String>>,
}

impl NetConfig {
    /// The defaults overridden by `<home>/config.toml` when it exists.
    pub fn load(home: &Path) -> Result<Self> {
        let path = home.join("config.toml");
        let err = |reason: String| Error::Config { path: path.clone(), reason };
        let text = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(err(e.to_string())),
            Ok(m) if m.len() > MAX_CONFIG_LEN => return Err(err(format!("larger than {MAX_CONFIG_LEN} bytes"))),
            Ok(_) => std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?,
        };
        Self::parse(&path, &text)
    }

    /// Reads the `[net]` table of a configuration text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let err = |reason: String| Error::Config { path: PathBuf::from(path), reason };
        let file: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map_or(1, |s| 1 + text.as_bytes()[..s.start.min(text.len())].iter().filter(|b| **b == b'\n').count());
            err(format!("{} (line {line})", e.message()))
        })?;
        let Some(net) = file.net else { return Ok(Self::default()) };
        let mut config = Self { port: net.port.unwrap_or(0), advertise: None };
        if let Some(list) = net.advertise {
            if list.len() > MAX_ADVERTISED {
                return Err(err(format!("net.advertise: at most {MAX_ADVERTISED} addresses")));
            }
            let parsed = list
                .iter()
                .map(|a| a.parse::<IpAddr>().map_err(|_| err(format!("net.advertise: {a:?} is not an IP address"))))
                .collect::<Result<Vec<_>>>()?;
            config.advertise = Some(parsed);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_table_is_read_and_checked() {
        let p = Path::new("/home/config.toml");
        assert_eq!(NetConfig::parse(p, "").unwrap(), NetConfig::default());
        let c = NetConfig::parse(p, "[net]\nport = 3587\nadvertise = [\"127.0.0.1\", \"::1\"]\n").unwrap();
        assert_eq!(c.port, 3587);
        assert_eq!(c.advertise.unwrap().len(), 2);
        let e = NetConfig::parse(p, "[net]\nport = 70000\n").unwrap_err().to_string();
        assert!(e.contains("config.toml") && e.contains("line 2"), "{e}");
        let e = NetConfig::parse(p, "[net]\nadvertise = [\"host\"]\n").unwrap_err().to_string();
        assert!(e.contains("\"host\" is not an IP address"), "{e}");
        assert!(NetConfig::parse(p, "[net]\nprot = 1\n").is_err(), "unknown keys are refused");
        // Other tables are the other layers'.
        assert_eq!(NetConfig::parse(p, "[global]\nenabled = false\n").unwrap(), NetConfig::default());
    }
}
