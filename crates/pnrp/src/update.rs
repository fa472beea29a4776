//! RFC 2136 dynamic updates signed with TSIG (RFC 8945): the per-zone key from the
//! configuration, the UPDATE messages that publish and withdraw a registration, and the
//! exchange with the zone's primary over TCP.
//!
//! Each message is one atomic UPDATE: publishing deletes whatever the instance and its target
//! held, then adds the SRV, TXT, A/AAAA and PTR records, so a refresh or an address change
//! never leaves a mix of old and new records; withdrawing deletes the instance, its target and
//! its two PTR records. The answer must carry a TSIG that verifies with the same key (an
//! unsigned "success" could come from anyone on the path).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hickory_proto::op::{Message, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::rdata::{A, AAAA, PTR, SRV, TXT};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType, TSigner};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

use crate::error::{PnrpError, Result, UpdateAnswer, UpdateFailure};
use crate::registration::unix_now;

/// How far our clock and the server's may differ (RFC 8945 recommends 300 s).
const FUDGE: u16 = 300;

/// The largest answer read from a server, in bytes.
const MAX_ANSWER_LEN: usize = 16 * 1024;

/// The MAC algorithms accepted for update keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// `hmac-sha256`, the default of `tsig-keygen`.
    HmacSha256,
    /// `hmac-sha384`.
    HmacSha384,
    /// `hmac-sha512`.
    HmacSha512,
}

impl KeyAlgorithm {
    /// Its name in configurations (`hmac-sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }

    fn tsig(self) -> TsigAlgorithm {
        match self {
            Self::HmacSha256 => TsigAlgorithm::HmacSha256,
            Self::HmacSha384 => TsigAlgorithm::HmacSha384,
            Self::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::HmacSha256, Self::HmacSha384, Self::HmacSha512].into_iter().find(|a| a.name().eq_ignore_ascii_case(s))
    }
}

/// A TSIG key that may update one zone. Its secret is zeroized when dropped and never shown
/// by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct UpdateKey {
    /// The zone, lowercase, without its final dot.
    pub zone: String,
    /// Where updates go; `None`: the primary named by the zone's SOA, on port 53.
    pub server: Option<SocketAddr>,
    /// The key's name, as the server knows it.
    pub key_name: String,
    /// The MAC algorithm.
    pub algorithm: KeyAlgorithm,
    secret: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for UpdateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateKey")
            .field("zone", &self.zone)
            .field("server", &self.server)
            .field("key_name", &self.key_name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The `[dns.update."<zone>"]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateKeySection {
    server: Option<String>,
    key_name: String,
    algorithm: Option<String>,
    secret: Zeroizing<String>,
}

impl fmt::Debug for UpdateKeySection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UpdateKeySection").field("key_name", &self.key_name).field("secret", &"<redacted>").finish()
    }
}

impl UpdateKey {
    /// A key for `zone` (a DNS name; a final dot is dropped), with the raw secret bytes.
    pub fn new(
        zone: &str,
        server: Option<SocketAddr>,
        key_name: &str,
        algorithm: KeyAlgorithm,
        secret: &[u8],
    ) -> std::result::Result<Self, String> {
        let zone = crate::name::parse_dns(zone.strip_suffix('.').unwrap_or(zone))
            .map_err(|_| format!("{:?} is not a zone name", crate::error::excerpt(zone)))?
            .as_str()
            .to_owned();
        Name::from_ascii(key_name).map_err(|_| format!("key_name {:?} is not a DNS name", key_name))?;
        if secret.is_empty() {
            return Err(format!("dns.update.{zone:?}: the secret is empty"));
        }
        Ok(Self { zone, server, key_name: key_name.to_owned(), algorithm, secret: Zeroizing::new(secret.to_vec()) })
    }

    pub(crate) fn from_section(zone: &str, s: UpdateKeySection) -> std::result::Result<Self, String> {
        let at = format!("dns.update.{zone:?}");
        let server = match s.server.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse::<SocketAddr>()
                    .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                    .map_err(|_| format!("{at}.server: {text:?} is not an address or address:port"))?,
            ),
        };
        let algorithm = match s.algorithm.as_deref() {
            None => KeyAlgorithm::HmacSha256,
            Some(a) => KeyAlgorithm::parse(a)
                .ok_or_else(|| format!("{at}.algorithm: {a:?} is not hmac-sha256, hmac-sha384 or hmac-sha512"))?,
        };
        // The message never quotes the secret.
        let secret = Zeroizing::new(
            BASE64.decode(s.secret.trim()).map_err(|_| format!("{at}.secret: not base64 (the secret is not shown)"))?,
        );
        Self::new(zone, server, &s.key_name, algorithm, &secret).map_err(|e| format!("{at}: {e}"))
    }

    fn signer(&self) -> std::result::Result<TSigner, String> {
        let name = Name::from_ascii(&self.key_name).map_err(|e| e.to_string())?;
        // hickory keeps its own copy of the key (not zeroized on its side: a known limit).
        TSigner::new(self.secret.to_vec(), self.algorithm.tsig(), name, FUDGE).map_err(|e| e.to_string())
    }
}

/// The DNS names and records of one registration in a zone.
#[derive(Debug, Clone)]
pub(crate) struct DnsRecords {
    /// The zone updated.
    pub zone: Name,
    /// `<label>._peergroup._udp.<cloud>`: SRV and TXT.
    pub instance: Name,
    /// `<label>.<cloud>`: A and AAAA, the SRV target.
    pub target: Name,
    /// `_peergroup._udp.<cloud>`: PTR to the instance (DNS-SD browsing).
    pub service: Name,
    /// `<name key>._sub._peergroup._udp.<cloud>`: PTR to the instance (resolution by peer name).
    pub subtype: Name,
    /// The TTL of every record.
    pub ttl: u32,
    /// The TXT strings.
    pub txt: Vec<String>,
    /// The endpoints (SRV ports, A/AAAA addresses).
    pub endpoints: Vec<SocketAddr>,
}

fn update_message(zone: &Name) -> Message {
    let mut message = Message::query();
    message.metadata.op_code = OpCode::Update;
    message.metadata.recursion_desired = false;
    let mut query = Query::new();
    query.set_name(zone.clone()).set_query_class(DNSClass::IN).set_query_type(RecordType::SOA);
    message.add_zone(query);
    message
}

fn delete_all(name: &Name) -> Record {
    let mut record = Record::update0(name.clone(), 0, RecordType::ANY);
    record.dns_class = DNSClass::ANY;
    record.into_record_of_rdata()
}

fn delete_rdata(name: &Name, data: RData) -> Record {
    let mut record = Record::from_rdata(name.clone(), 0, data);
    record.dns_class = DNSClass::NONE;
    record
}

impl DnsRecords {
    /// The UPDATE that replaces whatever the instance and its target held with this content.
    pub fn publish(&self) -> Message {
        let mut m = update_message(&self.zone);
        m.add_update(delete_all(&self.instance));
        m.add_update(delete_all(&self.target));
        let mut ports: Vec<u16> = self.endpoints.iter().map(SocketAddr::port).collect();
        ports.sort_unstable();
        ports.dedup();
        for port in ports {
            m.add_update(Record::from_rdata(
                self.instance.clone(),
                self.ttl,
                RData::SRV(SRV::new(0, 0, port, self.target.clone())),
            ));
        }
        m.add_update(Record::from_rdata(self.instance.clone(), self.ttl, RData::TXT(TXT::new(self.txt.clone()))));
        let mut ips: Vec<IpAddr> = self.endpoints.iter().map(SocketAddr::ip).collect();
        ips.sort_unstable();
        ips.dedup();
        for ip in ips {
            let data = match ip {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            m.add_update(Record::from_rdata(self.target.clone(), self.ttl, data));
        }
        for owner in [&self.service, &self.subtype] {
            m.add_update(Record::from_rdata(owner.clone(), self.ttl, RData::PTR(PTR(self.instance.clone()))));
        }
        m
    }

    /// The UPDATE that removes every record of the registration.
    pub fn withdraw(&self) -> Message {
        let mut m = update_message(&self.zone);
        m.add_update(delete_all(&self.instance));
        m.add_update(delete_all(&self.target));
        for owner in [&self.service, &self.subtype] {
            m.add_update(delete_rdata(owner, RData::PTR(PTR(self.instance.clone()))));
        }
        m
    }
}

/// Signs `message` with `key`, sends it to `server` over TCP, and checks the answer: success
/// with a TSIG that verifies, or the precise error.
pub(crate) async fn send(key: &UpdateKey, server: SocketAddr, mut message: Message, timeout: Duration) -> Result<()> {
    let zone = key.zone.clone();
    let failed = |cause: UpdateFailure| PnrpError::UpdateFailed { zone: zone.clone(), server, cause };
    let signer = key.signer().map_err(|e| failed(UpdateFailure::Local(e)))?;
    let mut verifier = message
        .finalize(&signer, unix_now())
        .map_err(|e| failed(UpdateFailure::Local(e.to_string())))?
        .ok_or_else(|| failed(UpdateFailure::Local("the TSIG signer gave no verifier".into())))?;
    let bytes = message.to_vec().map_err(|e| failed(UpdateFailure::Local(e.to_string())))?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(server).await?;
        stream.set_nodelay(true)?;
        let len = u16::try_from(bytes.len()).map_err(|_| std::io::Error::other("UPDATE longer than 64 KiB"))?;
        let mut framed = Vec::with_capacity(2 + bytes.len());
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await?;
        let len = usize::from(stream.read_u16().await?);
        if len > MAX_ANSWER_LEN {
            return Err(std::io::Error::other(format!("an answer of {len} bytes")));
        }
        let mut answer = vec![0; len];
        stream.read_exact(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(timeout, exchange).await {
        Err(_) => return Err(failed(UpdateFailure::Timeout(timeout))),
        Ok(Err(e)) => return Err(failed(UpdateFailure::Io(e))),
        Ok(Ok(answer)) => answer,
    };
    let parsed = Message::from_vec(&answer).map_err(|e| failed(UpdateFailure::BadAnswer(e.to_string())))?;
    if parsed.id != message.id || parsed.op_code != OpCode::Update {
        return Err(failed(UpdateFailure::BadAnswer("an answer to another message".into())));
    }
    let rcode = parsed.response_code;
    let tsig_error = parsed.signature().and_then(|s| s.data.error);
    if let Some(answer) = refusal(rcode, tsig_error) {
        return Err(PnrpError::UpdateRefused { zone, server, answer });
    }
    if rcode != ResponseCode::NoError {
        return Err(failed(UpdateFailure::ServerError(u16::from(rcode), rcode.to_str())));
    }
    verifier.verify(&answer).map_err(|e| failed(UpdateFailure::BadAnswer(format!("its TSIG does not verify: {e}"))))?;
    Ok(())
}

/// The refusals RFC 2136 and RFC 8945 define, from the answer's RCODE and TSIG error.
fn refusal(rcode: ResponseCode, tsig: Option<TsigError>) -> Option<UpdateAnswer> {
    match tsig {
        Some(TsigError::BadKey) => return Some(UpdateAnswer::BadKey),
        Some(TsigError::BadSig) => return Some(UpdateAnswer::BadSig),
        Some(TsigError::BadTime) => return Some(UpdateAnswer::BadTime),
        _ => {}
    }
    match rcode {
        ResponseCode::Refused => Some(UpdateAnswer::Refused),
        ResponseCode::NotAuth => Some(UpdateAnswer::NotAuth),
        ResponseCode::NotZone => Some(UpdateAnswer::NotZone),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DnsConfig;

    #[test]
    fn keys_come_from_the_config_file_and_hide_their_secret() {
        let mut c = DnsConfig::default();
        let text = "[dns.update.\"Corp.Example.\"]\nserver = \"127.0.0.1:5300\"\nkey_name = \"pg-update\"\n\
                    algorithm = \"hmac-sha256\"\nsecret = \"c2VjcmV0LWJ5dGVz\"\n\
                    [dns.update.\"example\"]\nserver = \"::1\"\nkey_name = \"k2\"\nsecret = \"AAAA\"\n";
        c.apply_toml(std::path::Path::new("config.toml"), text).unwrap();
        assert_eq!(c.updates.len(), 2);
        let k = c.update_key_for("a.corp.example.").unwrap();
        assert_eq!((k.zone.as_str(), k.server), ("corp.example", Some("127.0.0.1:5300".parse().unwrap())));
        assert_eq!(k.algorithm, KeyAlgorithm::HmacSha256);
        assert_eq!(&*k.secret, b"secret-bytes");
        assert!(!format!("{k:?}").contains("c2VjcmV0") && !format!("{c:?}").contains("secret-bytes"));
        assert_eq!(c.update_key_for("other.example").unwrap().server, Some("[::1]:53".parse().unwrap()));
        assert!(c.update_key_for("xexample").is_none());
        assert!(c.update_key_for("corp.example").is_some());
    }

    #[test]
    fn bad_keys_are_config_errors_that_never_quote_the_secret() {
        for (text, part) in [
            ("[dns.update.\"z\"]\nkey_name = \"k\"\nsecret = \"not base64!!\"\n", "not base64"),
            ("[dns.update.\"z\"]\nkey_name = \"k\"\nsecret = \"AAAA\"\nalgorithm = \"hmac-md5\"\n", "hmac-md5"),
            ("[dns.update.\"z\"]\nkey_name = \"k\"\nsecret = \"\"\n", "empty"),
            ("[dns.update.\"z\"]\nkey_name = \"k\"\nsecret = \"AAAA\"\nserver = \"nope\"\n", "not an address"),
            ("[dns.update.\"a..b\"]\nkey_name = \"k\"\nsecret = \"AAAA\"\n", "not a zone"),
            ("[dns.update.\"z\"]\nkey_name = \"k\"\nsecret = \"AAAA\"\nport = 1\n", "unknown field"),
        ] {
            let err = DnsConfig::default().apply_toml(std::path::Path::new("c.toml"), text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(part) && msg.contains("c.toml"), "{text}: {msg}");
            assert!(!msg.contains("not base64!!"), "{msg}");
        }
    }

    #[test]
    fn refusals_are_named() {
        assert_eq!(refusal(ResponseCode::NotAuth, Some(TsigError::BadSig)), Some(UpdateAnswer::BadSig));
        assert_eq!(refusal(ResponseCode::NotAuth, Some(TsigError::BadKey)), Some(UpdateAnswer::BadKey));
        assert_eq!(refusal(ResponseCode::NotAuth, Some(TsigError::BadTime)), Some(UpdateAnswer::BadTime));
        assert_eq!(refusal(ResponseCode::Refused, None), Some(UpdateAnswer::Refused));
        assert_eq!(refusal(ResponseCode::NotAuth, None), Some(UpdateAnswer::NotAuth));
        assert_eq!(refusal(ResponseCode::ServFail, None), None);
        assert_eq!(refusal(ResponseCode::NoError, None), None);
    }
}
