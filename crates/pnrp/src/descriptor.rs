//! The DNS descriptor of a private cloud, and its parser (pure: no I/O, fuzzed).
//!
//! A cloud named by the domain `D` is described at `_peergroup._udp.D.`:
//!
//! - one or more SRV records, each a seed endpoint (`priority weight port target`);
//!   a single SRV record with target `.` says the domain offers no cloud (RFC 2782);
//! - optionally one TXT record starting with `v=peergroup1`, then space-separated
//!   `key=value` tokens: `scope=global` (the default) or `scope=site-local`. Unknown keys are
//!   ignored, so later versions can add some; TXT records not starting with `v=peergroup` are
//!   ignored too.
//!
//! Everything else is malformed, and the error names the record.

use crate::cloud::{Cloud, CloudState, Scope, Seed};
use crate::name::parse_dns;
use crate::rule::DnsAnswer;

/// The label pair in front of the domain.
pub const DESCRIPTOR_PREFIX: &str = "_peergroup._udp.";

/// The version token a descriptor TXT record starts with.
pub const TXT_VERSION: &str = "v=peergroup1";

/// The most SRV records a descriptor may hold.
pub const MAX_SRV_RECORDS: usize = 32;

/// The most TXT records looked at, at the descriptor name.
pub const MAX_TXT_RECORDS: usize = 16;

/// The longest peergroup TXT record, in bytes (all its strings together).
pub const MAX_TXT_LEN: usize = 512;

/// One SRV record, as read from DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvRecord {
    /// Priority.
    pub priority: u16,
    /// Weight.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host name, as DNS gave it.
    pub target: String,
}

/// The descriptor name of a domain: `_peergroup._udp.<domain>.` (`domain` with or without its
/// final dot).
pub fn descriptor_name(domain: &str) -> String {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    format!("{DESCRIPTOR_PREFIX}{domain}.")
}

/// Reads the descriptor found at `owner` (a [`descriptor_name`]) from its SRV records and the
/// strings of each of its TXT records. Never panics, whatever the input.
pub fn parse_descriptor(owner: &str, srv: &[SrvRecord], txt: &[Vec<Vec<u8>>]) -> DnsAnswer {
    match parse(owner, srv, txt) {
        Ok(answer) => answer,
        Err((kind, reason)) => DnsAnswer::Malformed { record: format!("{owner} {kind}"), reason },
    }
}

type Malformed = (&'static str, String);

fn parse(owner: &str, srv: &[SrvRecord], txt: &[Vec<Vec<u8>>]) -> Result<DnsAnswer, Malformed> {
    let srv_err = |reason: String| ("SRV", reason);
    let txt_err = |reason: String| ("TXT", reason);
    let domain = owner
        .strip_prefix(DESCRIPTOR_PREFIX)
        .ok_or_else(|| srv_err(format!("the owner name does not start with {DESCRIPTOR_PREFIX}")))?;
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let name =
        parse_dns(&format!("{domain}.")).map_err(|e| srv_err(format!("the domain is not a valid cloud name ({e})")))?;

    if srv.is_empty() {
        return Err(srv_err("no SRV record".to_owned()));
    }
    if srv.len() > MAX_SRV_RECORDS {
        return Err(srv_err(format!("{} SRV records; at most {MAX_SRV_RECORDS} are accepted", srv.len())));
    }
    if srv.iter().any(|r| r.target == ".") {
        if srv.len() == 1 {
            return Ok(DnsAnswer::NotOffered);
        }
        return Err(srv_err("a target \".\" (no service) must be the only SRV record".to_owned()));
    }
    let mut seeds = Vec::with_capacity(srv.len());
    for record in srv {
        if record.port == 0 {
            return Err(srv_err(format!("target {:?} has port 0", excerpt(&record.target))));
        }
        let target = parse_dns(&record.target)
            .map_err(|_| srv_err(format!("target {:?} is not a host name", excerpt(&record.target))))?;
        let mut target = target.as_str().to_owned();
        if !target.ends_with('.') {
            target.push('.');
        }
        seeds.push(Seed { target, port: record.port, priority: record.priority, weight: record.weight });
    }
    // Best first: lowest priority, then highest weight; the rest only makes the order stable.
    seeds.sort_by(|a, b| {
        (a.priority, std::cmp::Reverse(a.weight), &a.target, a.port).cmp(&(
            b.priority,
            std::cmp::Reverse(b.weight),
            &b.target,
            b.port,
        ))
    });
    seeds.dedup();

    if txt.len() > MAX_TXT_RECORDS {
        return Err(txt_err(format!("{} TXT records; at most {MAX_TXT_RECORDS} are looked at", txt.len())));
    }
    let ours: Vec<&Vec<Vec<u8>>> =
        txt.iter().filter(|strings| strings.first().is_some_and(|s| s.starts_with(b"v=peergroup"))).collect();
    let scope = match ours.as_slice() {
        [] => Scope::Global,
        [record] => parse_txt(record).map_err(txt_err)?,
        _ => return Err(txt_err(format!("{} records start with v=peergroup; at most one may", ours.len()))),
    };
    Ok(DnsAnswer::Found(Cloud { name, scope, scope_id: 0, state: CloudState::Active, local_only: false, seeds }))
}

fn parse_txt(strings: &[Vec<u8>]) -> Result<Scope, String> {
    let len: usize = strings.iter().map(Vec::len).sum();
    if len > MAX_TXT_LEN {
        return Err(format!("{len} bytes; at most {MAX_TXT_LEN} are accepted"));
    }
    if strings.iter().flatten().any(|b| !(0x20..0x7f).contains(b)) {
        return Err("holds a byte that is not printable ASCII".to_owned());
    }
    // Strings are separated like tokens; a token never spans two strings.
    let mut tokens = strings.iter().flat_map(|s| s.split(|b| *b == b' ')).filter(|t| !t.is_empty());
    let version = tokens.next().unwrap_or_default();
    if version != TXT_VERSION.as_bytes() {
        return Err(format!("unsupported version {:?} (this reader knows {TXT_VERSION})", lossy(version)));
    }
    let mut scope = None;
    let mut seen: Vec<&[u8]> = Vec::new();
    for token in tokens {
        let Some(eq) = token.iter().position(|b| *b == b'=') else {
            return Err(format!("token {:?} is not key=value", lossy(token)));
        };
        let (key, value) = (&token[..eq], &token[eq + 1..]);
        if key.is_empty() {
            return Err(format!("token {:?} has an empty key", lossy(token)));
        }
        if seen.contains(&key) {
            return Err(format!("key {:?} appears twice", lossy(key)));
        }
        seen.push(key);
        if key == b"scope" {
            scope = Some(match value {
                b"global" => Scope::Global,
                b"site-local" => Scope::SiteLocal,
                b"link-local" => return Err("scope=link-local: a DNS cloud is global or site-local".to_owned()),
                other => return Err(format!("unknown scope {:?} (global or site-local)", lossy(other))),
            });
        }
    }
    Ok(scope.unwrap_or(Scope::Global))
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(64)]).into_owned()
}

fn excerpt(s: &str) -> String {
    s.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: &str = "_peergroup._udp.corp.example.";

    fn srv(port: u16, target: &str) -> SrvRecord {
        SrvRecord { priority: 10, weight: 5, port, target: target.to_owned() }
    }

    fn txt(s: &str) -> Vec<Vec<u8>> {
        vec![s.as_bytes().to_vec()]
    }

    fn malformed(answer: DnsAnswer) -> (String, String) {
        match answer {
            DnsAnswer::Malformed { record, reason } => (record, reason),
            other => panic!("not malformed: {other:?}"),
        }
    }

    #[test]
    fn a_full_descriptor() {
        let records = [
            SrvRecord { priority: 20, weight: 0, port: 3587, target: "c.corp.example.".into() },
            SrvRecord { priority: 10, weight: 1, port: 3587, target: "B.corp.example.".into() },
            SrvRecord { priority: 10, weight: 9, port: 3588, target: "a.corp.example".into() },
        ];
        let other_txt = txt("google-site-verification=xyz");
        let ours = vec![b"v=peergroup1".to_vec(), b"scope=site-local future=1".to_vec()];
        let DnsAnswer::Found(cloud) = parse_descriptor(OWNER, &records, &[other_txt, ours]) else { panic!() };
        assert_eq!(cloud.name.as_str(), "corp.example.");
        assert_eq!(cloud.scope, Scope::SiteLocal);
        assert_eq!(cloud.state, CloudState::Active);
        assert!(!cloud.local_only);
        let seeds: Vec<(&str, u16)> = cloud.seeds.iter().map(|s| (s.target.as_str(), s.port)).collect();
        assert_eq!(seeds, [("a.corp.example.", 3588), ("b.corp.example.", 3587), ("c.corp.example.", 3587)]);
    }

    #[test]
    fn srv_only_is_global() {
        let DnsAnswer::Found(cloud) = parse_descriptor(OWNER, &[srv(1, "s.example.")], &[]) else { panic!() };
        assert_eq!(cloud.scope, Scope::Global);
        assert_eq!(descriptor_name("corp.example"), OWNER);
        assert_eq!(descriptor_name("corp.example."), OWNER);
    }

    #[test]
    fn owner_must_be_a_descriptor_name() {
        let (record, reason) = malformed(parse_descriptor("corp.example.", &[srv(1, "a.")], &[]));
        assert_eq!(record, "corp.example. SRV");
        assert!(reason.contains("does not start"));
        let (_, reason) = malformed(parse_descriptor("_peergroup._udp.a..b.", &[srv(1, "a.")], &[]));
        assert!(reason.contains("not a valid cloud name"));
    }

    #[test]
    fn dot_target_means_not_offered() {
        assert_eq!(parse_descriptor(OWNER, &[srv(0, ".")], &[]), DnsAnswer::NotOffered);
        let (record, reason) = malformed(parse_descriptor(OWNER, &[srv(0, "."), srv(1, "a.")], &[]));
        assert_eq!(record, format!("{OWNER} SRV"));
        assert!(reason.contains("only SRV record"));
    }

    #[test]
    fn each_malformation_names_its_record() {
        let s = [srv(1, "s.example.")];
        let cases: Vec<(DnsAnswer, &str, &str)> = vec![
            (parse_descriptor(OWNER, &[], &[]), "SRV", "no SRV"),
            (parse_descriptor(OWNER, &vec![srv(1, "a."); 33], &[]), "SRV", "at most 32"),
            (parse_descriptor(OWNER, &[srv(0, "a.")], &[]), "SRV", "port 0"),
            (parse_descriptor(OWNER, &[srv(1, "bad host")], &[]), "SRV", "not a host name"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup2")]), "TXT", "unsupported version"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 scope")]), "TXT", "not key=value"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 =x")]), "TXT", "empty key"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 a=1 a=2")]), "TXT", "twice"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 scope=mars")]), "TXT", "unknown scope"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 scope=link-local")]), "TXT", "global or site-local"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1 x=\u{1}")]), "TXT", "printable"),
            (parse_descriptor(OWNER, &s, &[txt(&format!("v=peergroup1 x={}", "a".repeat(600)))]), "TXT", "512"),
            (parse_descriptor(OWNER, &s, &[txt("v=peergroup1"), txt("v=peergroup1")]), "TXT", "at most one"),
            (parse_descriptor(OWNER, &s, &vec![txt("other"); 17]), "TXT", "at most 16"),
        ];
        for (answer, kind, reason_part) in cases {
            let (record, reason) = malformed(answer);
            assert_eq!(record, format!("{OWNER} {kind}"));
            assert!(reason.contains(reason_part), "{reason:?} lacks {reason_part:?}");
        }
    }
}
