//! What a registration publishes, as pure data: the peer name, its endpoints, the comment, the
//! expiry and the proof, their encoding as the strings of one TXT record, and the bytes the
//! proof signs.
//!
//! The TXT record is the authority on a registration (the SRV, A and AAAA records beside it are
//! for DNS-SD browsers): it is what the proof covers and all a resolver reads. Its strings are
//! `key=value`, in this order:
//!
//! | key | value | |
//! |---|---|---|
//! | `v` | `pg1` | first, once |
//! | `pn` | the peer name | required |
//! | `c` | the comment (UTF-8, no control characters) | absent when empty |
//! | `ep` | endpoints, `address:port` separated by `,` (IPv6 in brackets) | required, 1 to [`MAX_ENDPOINTS`] |
//! | `x` | the expiry, Unix seconds | required |
//! | `p` | the proof, base64 (standard alphabet, padded) | required for secure peer names |
//!
//! A value longer than one string can hold continues in the next strings under the same key
//! (values of one key are concatenated in the order of the strings). Unknown keys are ignored,
//! so that later versions can add some. The checks, in order: at most [`MAX_TXT_STRINGS`]
//! strings and [`MAX_TXT_BYTES`] bytes in all; every string `key=value` in UTF-8; the first is
//! `v=pg1`; `v` and `x` once each; the peer name valid ([`validate_peer_name`]); the comment at
//! most [`MAX_COMMENT_LEN`] bytes without control characters; each endpoint an address and a
//! port other than 0; the expiry a number; the proof valid base64 of at most
//! [`MAX_PROOF_LEN`] bytes. A failed check is [`PnrpError::MalformedDescriptor`] naming the
//! record; the parser never panics (fuzz target `pnrp_announcement`).

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::error::{PnrpError, Result, excerpt};

/// The version string, first in every TXT record.
pub const ANNOUNCEMENT_VERSION: &str = "v=pg1";

/// The most endpoints one registration publishes (a DNS record must stay small; group
/// publications in Windows carried at most 4).
pub const MAX_ENDPOINTS: usize = 10;

/// The longest comment, in bytes of UTF-8.
pub const MAX_COMMENT_LEN: usize = 255;

/// The longest peer name, in bytes: a 40-character authority, a dot, and a classifier of at
/// most 149 UTF-16 code units (at most 3 bytes of UTF-8 each).
pub const MAX_PEER_NAME_LEN: usize = 41 + 3 * MAX_CLASSIFIER_UTF16;

/// The longest classifier, in UTF-16 code units (as in `peergroup-identity`).
pub const MAX_CLASSIFIER_UTF16: usize = 149;

/// The largest proof, in bytes (before base64): room for a certificate chain and a signature.
pub const MAX_PROOF_LEN: usize = 4096;

/// The most strings in one TXT record.
pub const MAX_TXT_STRINGS: usize = 64;

/// The most bytes in all the strings of one TXT record.
pub const MAX_TXT_BYTES: usize = 8192;

/// The longest string of a TXT record (RFC 1035 §3.3.14).
const MAX_STRING: usize = 255;

/// Domain separation for the signed bytes.
const SIGNED_TAG: &[u8] = b"peergroup-pnrp-announcement-v1";

/// A peer name's syntax, as pnrp needs it (the identity crate owns the full rules): an
/// authority `0` (unsecured) or 40 lowercase hexadecimal digits (secure), a dot, and a
/// classifier of 1 to 149 UTF-16 code units without control characters. Returns whether the
/// name is secure.
pub fn validate_peer_name(name: &str) -> Result<bool> {
    let invalid = |reason: &'static str| PnrpError::InvalidPeerName { name: excerpt(name), reason };
    if name.len() > MAX_PEER_NAME_LEN {
        return Err(invalid("longer than a peer name can be"));
    }
    let Some((authority, classifier)) = name.split_once('.') else {
        return Err(invalid("not of the form authority.classifier"));
    };
    let secure = match authority {
        "0" => false,
        a if a.len() == 40 && a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) => true,
        _ => return Err(invalid("the authority is neither 0 nor 40 lowercase hexadecimal digits")),
    };
    if classifier.is_empty() {
        return Err(invalid("empty classifier"));
    }
    if classifier.encode_utf16().count() > MAX_CLASSIFIER_UTF16 {
        return Err(invalid("classifier longer than 149 UTF-16 code units"));
    }
    if classifier.chars().any(char::is_control) {
        return Err(invalid("classifier holds a control character"));
    }
    Ok(secure)
}

/// The comment's rules: at most [`MAX_COMMENT_LEN`] bytes, no control characters.
pub fn validate_comment(comment: &str) -> Result<()> {
    if comment.len() > MAX_COMMENT_LEN {
        return Err(PnrpError::InvalidRegistration { what: "comment", reason: "longer than 255 bytes" });
    }
    if comment.chars().any(char::is_control) {
        return Err(PnrpError::InvalidRegistration { what: "comment", reason: "holds a control character" });
    }
    Ok(())
}

/// The endpoints' rules: 1 to [`MAX_ENDPOINTS`], port not 0, not unspecified or multicast.
pub fn validate_endpoints(endpoints: &[SocketAddr]) -> Result<()> {
    let bad = |reason| PnrpError::InvalidRegistration { what: "endpoints", reason };
    if endpoints.is_empty() {
        return Err(bad("no endpoint"));
    }
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(bad("more than 10 endpoints"));
    }
    for e in endpoints {
        if e.port() == 0 {
            return Err(bad("port 0"));
        }
        if e.ip().is_unspecified() || e.ip().is_multicast() {
            return Err(bad("an unspecified or multicast address"));
        }
    }
    Ok(())
}

/// One registration's content, as published and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The peer name registered.
    pub peer_name: String,
    /// Where the peer listens (no IPv6 scope id: DNS carries none).
    pub endpoints: Vec<SocketAddr>,
    /// A free text, possibly empty.
    pub comment: String,
    /// When the announcement stops being valid, Unix seconds.
    pub expires: u64,
    /// The proof that the peer name's identity made it (empty for unsecured names).
    pub proof: Vec<u8>,
}

/// Where an announcement is published: its proof covers this too, so that a record copied to
/// another name or cloud does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement<'a> {
    /// The cloud, as its canonical name (`corp.example.`).
    pub cloud: &'a str,
    /// The owner name of the instance (`pg-…._peergroup._udp.corp.example.`).
    pub instance: &'a str,
}

fn endpoint_text(e: &SocketAddr) -> String {
    // No scope id: it means nothing on another host.
    match e.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", e.port()),
        IpAddr::V6(ip) => format!("[{ip}]:{}", e.port()),
    }
}

fn endpoints_text(endpoints: &[SocketAddr]) -> String {
    endpoints.iter().map(endpoint_text).collect::<Vec<_>>().join(",")
}

impl Announcement {
    /// The bytes the proof signs: a fixed tag, then the placement, peer name, comment,
    /// endpoints (as published) and expiry, each with its length (4 bytes, big-endian) first.
    pub fn signed_bytes(&self, at: Placement<'_>) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        let expires = self.expires.to_string();
        let endpoints = endpoints_text(&self.endpoints);
        for field in [
            SIGNED_TAG,
            at.cloud.as_bytes(),
            at.instance.as_bytes(),
            self.peer_name.as_bytes(),
            self.comment.as_bytes(),
            endpoints.as_bytes(),
            expires.as_bytes(),
        ] {
            // Every field is bounded far below 4 GiB (the TXT record itself is at most 8 KiB).
            out.extend_from_slice(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            out.extend_from_slice(field);
        }
        out
    }

    /// The strings of the TXT record.
    pub fn to_txt(&self) -> Vec<String> {
        let mut out = vec![ANNOUNCEMENT_VERSION.to_owned()];
        push_chunks(&mut out, "pn", &self.peer_name);
        if !self.comment.is_empty() {
            push_chunks(&mut out, "c", &self.comment);
        }
        push_chunks(&mut out, "ep", &endpoints_text(&self.endpoints));
        out.push(format!("x={}", self.expires));
        if !self.proof.is_empty() {
            push_chunks(&mut out, "p", &BASE64.encode(&self.proof));
        }
        out
    }

    /// Parses the strings of a TXT record found at `record` (named in errors, for example
    /// `pg-…._peergroup._udp.corp.example. TXT`). See the module documentation for the checks.
    pub fn parse_txt(record: &str, strings: &[Vec<u8>]) -> Result<Self> {
        let bad = |reason: String| PnrpError::MalformedDescriptor { record: excerpt(record), reason };
        if strings.len() > MAX_TXT_STRINGS {
            return Err(bad(format!("more than {MAX_TXT_STRINGS} strings")));
        }
        if strings.iter().map(Vec::len).sum::<usize>() > MAX_TXT_BYTES {
            return Err(bad(format!("more than {MAX_TXT_BYTES} bytes")));
        }
        let mut fields: Vec<(&str, String)> = Vec::new();
        for (i, s) in strings.iter().enumerate() {
            let s = std::str::from_utf8(s).map_err(|_| bad(format!("string {i} is not UTF-8")))?;
            let Some((key, value)) = s.split_once('=') else {
                return Err(bad(format!("string {i} is not key=value")));
            };
            if i == 0 && s != ANNOUNCEMENT_VERSION {
                return Err(bad(format!("the first string is {:?}, not {ANNOUNCEMENT_VERSION}", excerpt(s))));
            }
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some(_) if key == "v" || key == "x" => return Err(bad(format!("{key} given twice"))),
                Some((_, v)) => v.push_str(value),
                None => fields.push((key, value.to_owned())),
            }
        }
        if strings.is_empty() {
            return Err(bad("no strings".into()));
        }
        let get = |key: &str| fields.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str());
        let peer_name = get("pn").ok_or_else(|| bad("no peer name (pn)".into()))?;
        let secure = validate_peer_name(peer_name).map_err(|e| bad(format!("pn: {e}")))?;
        let comment = get("c").unwrap_or_default();
        validate_comment(comment).map_err(|e| bad(format!("c: {e}")))?;
        let endpoints = get("ep").ok_or_else(|| bad("no endpoints (ep)".into()))?;
        let endpoints = endpoints
            .split(',')
            .take(MAX_ENDPOINTS + 1)
            .map(|e| e.parse::<SocketAddr>().map_err(|_| bad(format!("ep: {:?} is not address:port", excerpt(e)))))
            .collect::<Result<Vec<_>>>()?;
        validate_endpoints(&endpoints).map_err(|e| bad(format!("ep: {e}")))?;
        if endpoints.iter().any(|e| matches!(e, SocketAddr::V6(v6) if v6.scope_id() != 0)) {
            return Err(bad("ep: an IPv6 address with a scope id".into()));
        }
        let expires = get("x").ok_or_else(|| bad("no expiry (x)".into()))?;
        let expires = expires.parse::<u64>().map_err(|_| bad(format!("x: {:?} is not a number", excerpt(expires))))?;
        let proof = match get("p") {
            Some(p) if p.len() > MAX_PROOF_LEN.div_ceil(3) * 4 => return Err(bad("p: longer than 4096 bytes".into())),
            Some(p) => BASE64.decode(p).map_err(|_| bad("p: not base64".into()))?,
            None => Vec::new(),
        };
        if proof.len() > MAX_PROOF_LEN {
            return Err(bad("p: longer than 4096 bytes".into()));
        }
        if secure && proof.is_empty() {
            return Err(bad("a secure peer name without a proof (p)".into()));
        }
        Ok(Self { peer_name: peer_name.to_owned(), endpoints, comment: comment.to_owned(), expires, proof })
    }
}

/// Room left in a continued string for the number multicast DNS adds to its key: DNS-SD has
/// one value per key, so `p`, `p`, `p` go out as `p`, `p.1`, `p.2` (`.` and two digits: the
/// longest value, a 4096-byte proof, takes 22 strings).
const CONTINUATION_SUFFIX: usize = 3;

/// Appends `key=value` strings, the value cut at character boundaries so each fits 255 bytes,
/// even once multicast DNS has numbered the key.
fn push_chunks(out: &mut Vec<String>, key: &str, value: &str) {
    let room = MAX_STRING - key.len() - CONTINUATION_SUFFIX - 1;
    let mut rest = value;
    loop {
        let mut cut = rest.len().min(room);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(format!("{key}={head}"));
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The DNS label that stands for a peer name: `pg-` and 20 hexadecimal digits of
/// SHA-256(peer name). The same on every host, so a resolver can compute it.
pub fn name_key(peer_name: &str) -> String {
    format!("pg-{}", hex(&Sha256::digest(peer_name.as_bytes())[..10]))
}

/// The DNS label of one registration: [`name_key`], `-`, and 12 hexadecimal digits of
/// SHA-256(host id, peer name): 36 bytes, within a label's 63, unique per (peer name, host),
/// and a valid host name label (it also names the SRV target).
pub fn instance_label(peer_name: &str, host_id: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update((host_id.len() as u64).to_be_bytes());
    h.update(host_id);
    h.update(peer_name.as_bytes());
    format!("{}-{}", name_key(peer_name), hex(&h.finalize()[..6]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECURE: &str = "6520c005f63fc1864b7d8f3cabebd4916ae7f33d.JohnDoe";

    fn sample() -> Announcement {
        Announcement {
            peer_name: SECURE.into(),
            endpoints: vec!["192.0.2.1:3587".parse().unwrap(), "[2001:db8::1]:3588".parse().unwrap()],
            comment: "héllo".into(),
            expires: 1_800_000_000,
            proof: vec![7; 700],
        }
    }

    fn bytes(strings: &[String]) -> Vec<Vec<u8>> {
        strings.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn txt_round_trips_and_strings_fit() {
        let a = sample();
        let txt = a.to_txt();
        assert_eq!(txt[0], "v=pg1");
        assert!(txt.iter().all(|s| s.len() <= 255));
        assert!(txt.iter().filter(|s| s.starts_with("p=")).count() > 1, "the proof spans strings");
        assert_eq!(Announcement::parse_txt("r TXT", &bytes(&txt)).unwrap(), a);
        let long = Announcement { peer_name: format!("0.{}", "é".repeat(149)), proof: vec![], ..a };
        let txt = long.to_txt();
        assert!(txt.iter().all(|s| s.len() <= 255) && txt.iter().filter(|s| s.starts_with("pn=")).count() > 1);
        assert_eq!(Announcement::parse_txt("r TXT", &bytes(&txt)).unwrap(), long);
    }

    #[test]
    fn malformed_records_name_the_record_and_the_fault() {
        let good = sample().to_txt();
        let cases: Vec<(Vec<String>, &str)> = vec![
            (vec![], "no strings"),
            (vec!["v=pg2".into()], "not v=pg1"),
            (vec!["v=pg1".into(), "junk".into()], "not key=value"),
            (vec!["v=pg1".into(), "x=1".into(), "x=2".into()], "x given twice"),
            (good.iter().filter(|s| !s.starts_with("pn=")).cloned().collect(), "no peer name"),
            (good.iter().filter(|s| !s.starts_with("p=")).cloned().collect(), "without a proof"),
            (good.iter().filter(|s| !s.starts_with("ep=")).cloned().collect(), "no endpoints"),
            (good.iter().filter(|s| !s.starts_with("x=")).cloned().collect(), "no expiry"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "ep=[fe80::1%2]:1".into(), "x=1".into()], "scope id"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "ep=1.2.3.4:0".into(), "x=1".into()], "port 0"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "ep=nope".into(), "x=1".into()], "not address:port"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "ep=1.2.3.4:5".into(), "x=soon".into()], "not a number"),
            (vec!["v=pg1".into(), "pn=A.a".into(), "ep=1.2.3.4:5".into(), "x=1".into()], "authority"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "c=a\u{7}".into(), "ep=1.2.3.4:5".into(), "x=1".into()], "control"),
            (vec!["v=pg1".into(), "pn=0.a".into(), "ep=1.2.3.4:5".into(), "x=1".into(), "p=!!".into()], "not base64"),
            (vec!["v=pg1".into(); 65], "more than 64 strings"),
        ];
        for (strings, part) in cases {
            let err = Announcement::parse_txt("pg-1._peergroup._udp.c. TXT", &bytes(&strings)).unwrap_err();
            let PnrpError::MalformedDescriptor { record, reason } = &err else { panic!("{err:?}") };
            assert_eq!(record, "pg-1._peergroup._udp.c. TXT");
            assert!(reason.contains(part), "{strings:?}: {reason}");
        }
        let eleven = ["1.2.3.4:5"; 11].join(",");
        let strings = bytes(&["v=pg1".into(), "pn=0.a".into(), format!("ep={eleven}"), "x=1".into()]);
        assert!(Announcement::parse_txt("r", &strings).unwrap_err().to_string().contains("more than 10"));
        let unknown = bytes(&["v=pg1".into(), "pn=0.a".into(), "ep=1.2.3.4:5".into(), "x=1".into(), "new=1".into()]);
        assert_eq!(Announcement::parse_txt("r", &unknown).unwrap().peer_name, "0.a", "unknown keys are ignored");
    }

    #[test]
    fn signed_bytes_cover_every_field_and_the_placement() {
        let a = sample();
        let at = Placement { cloud: "corp.example.", instance: "pg-x._peergroup._udp.corp.example." };
        let base = a.signed_bytes(at);
        let mut changed = vec![
            Announcement { comment: "other".into(), ..a.clone() }.signed_bytes(at),
            Announcement { expires: 1, ..a.clone() }.signed_bytes(at),
            Announcement { endpoints: vec!["192.0.2.9:1".parse().unwrap()], ..a.clone() }.signed_bytes(at),
            Announcement { peer_name: "0.x".into(), ..a.clone() }.signed_bytes(at),
            a.signed_bytes(Placement { cloud: "other.example.", ..at }),
            a.signed_bytes(Placement { instance: "pg-y._peergroup._udp.corp.example.", ..at }),
        ];
        changed.push(Announcement { proof: vec![], ..a.clone() }.signed_bytes(at));
        assert!(changed[..6].iter().all(|c| *c != base));
        assert_eq!(changed[6], base, "the proof is not part of what it signs");
    }

    #[test]
    fn labels_fit_dns_and_differ_per_host() {
        let a = instance_label(SECURE, b"host-a");
        let b = instance_label(SECURE, b"host-b");
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert!(a.starts_with(&name_key(SECURE)));
        assert!(a.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'));
        assert_eq!(a, instance_label(SECURE, b"host-a"));
    }

    #[test]
    fn peer_names() {
        assert!(validate_peer_name(SECURE).unwrap());
        assert!(!validate_peer_name("0.JohnDoe.Games").unwrap());
        for bad in ["", "nodot", "0.", "6520C005F63FC1864B7D8F3CABEBD4916AE7F33D.x", "1.x", "0.a\nb"] {
            assert!(matches!(validate_peer_name(bad), Err(PnrpError::InvalidPeerName { .. })), "{bad:?}");
        }
        assert!(validate_peer_name(&format!("0.{}", "a".repeat(150))).is_err());
    }
}
