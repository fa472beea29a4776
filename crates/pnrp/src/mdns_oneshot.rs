//! One-shot legacy unicast queries on the link (RFC 6762 §5.1, §6.7), for a quick first
//! answer.
//!
//! The daemon's browse (`mdns_cloud.rs`) is a continuous query: it waits 10–50 ms before its
//! first query (§5.2), and responders delay their answers about shared records such as PTR by
//! another 10–120 ms (§6). A query sent from a port other than 5353 is a one-shot "legacy"
//! query: responders answer it at once, by unicast to its port, echoing its question and
//! adding the instance's SRV, TXT and addresses. So a resolution that finds nothing yet in
//! what the browse holds also asks once for the name's subtype this way, and the TXT records
//! of the answers join what the browse holds, where the same checks read them.
//!
//! IPv6 only (`ff02::fb` on the cloud's interface, selected by the scope id); the browse
//! covers IPv4 as before.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};

use crate::mdns_cloud::{MAX_MDNS_INSTANCES, MDNS_SERVICE, properties_to_txt};

/// The IPv6 multicast DNS group (RFC 6762 §3).
const MDNS_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);

/// The multicast DNS port.
const MDNS_PORT: u16 = 5353;

/// The largest multicast DNS datagram (RFC 6762 §17).
const MAX_DATAGRAM: usize = 9000;

/// The most answers one query reads (every responder on the link may answer, and a large TXT
/// may take two datagrams).
const MAX_DATAGRAMS: usize = 64;

/// How long a one-shot query listens at most: responders answer it at once.
pub(crate) const LISTEN: Duration = Duration::from_millis(500);

/// The query: one PTR question for `name` (absolute), with `id`, no recursion wanted.
pub fn legacy_query(name: &str, id: u16) -> Option<Vec<u8>> {
    let name = Name::from_ascii(name).ok()?;
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.add_query(Query::query(name, RecordType::PTR));
    message.to_vec().ok()
}

/// A query id nobody else on the link predicts (answers must echo it): hickory's random one.
fn random_id() -> u16 {
    Message::query().metadata.id
}

/// Whether an instance name is of the form our registrations take: one plain label
/// (lowercase letters, digits, `-`) under `_peergroup._udp.local.`. Other forms (a foreign
/// publisher's label with spaces or capitals) are left to the browse, which names them the
/// way its removals will.
fn plain_instance(name: &str) -> bool {
    name.strip_suffix(MDNS_SERVICE).and_then(|l| l.strip_suffix('.')).is_some_and(|label| {
        !label.is_empty() && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    })
}

/// The TXT records of one answer to the query `id`, as (instance, strings) pairs the
/// browse's map holds: strings in the form [`properties_to_txt`] makes (continuation keys
/// folded back). Anything else (another id, a query, a malformed datagram, other names) gives
/// nothing; at most [`MAX_MDNS_INSTANCES`] pairs.
pub fn answer_txts(datagram: &[u8], id: u16) -> Vec<(String, Vec<Vec<u8>>)> {
    let Ok(message) = Message::from_vec(datagram) else { return Vec::new() };
    if message.metadata.id != id || message.metadata.message_type != MessageType::Response {
        return Vec::new();
    }
    message
        .answers
        .iter()
        .chain(&message.additionals)
        .filter_map(|record| {
            let RData::TXT(txt) = &record.data else { return None };
            let instance = record.name.to_ascii();
            if !plain_instance(&instance) {
                return None;
            }
            let properties = txt.txt_data.iter().map(|s| match s.iter().position(|b| *b == b'=') {
                Some(i) => (std::str::from_utf8(&s[..i]).unwrap_or(""), Some(&s[i + 1..])),
                None => (std::str::from_utf8(s).unwrap_or(""), None),
            });
            Some((instance, properties_to_txt(properties)))
        })
        .take(MAX_MDNS_INSTANCES)
        .collect()
}

/// Asks once on the interface `scope_id` for `name` and hands each answer's TXT records to
/// `heard` as they come, for at most [`LISTEN`]. Failures (no IPv6, no route) end it
/// quietly: the browse still runs.
pub(crate) async fn ask(scope_id: u32, name: &str, heard: impl Fn(Vec<(String, Vec<Vec<u8>>)>)) {
    let id = random_id();
    let Some(query) = legacy_query(name, id) else { return };
    let Ok(socket) = tokio::net::UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).await else { return };
    let group = SocketAddrV6::new(MDNS_GROUP_V6, MDNS_PORT, 0, scope_id);
    if socket.send_to(&query, group).await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LISTEN;
    let mut buf = vec![0; MAX_DATAGRAM];
    for _ in 0..MAX_DATAGRAMS {
        let Ok(Ok((len, _from))) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf)).await else {
            return;
        };
        let txts = answer_txts(&buf[..len], id);
        if !txts.is_empty() {
            heard(txts);
        }
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::TXT;

    use super::*;

    const INSTANCE: &str = "pg-0123456789abcdef0123-0123456789ab._peergroup._udp.local.";

    fn answer(id: u16, records: Vec<Record>) -> Vec<u8> {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.additionals = records;
        m.to_vec().unwrap()
    }

    fn txt(name: &str, strings: &[&[u8]]) -> Record {
        // Labels as given, spaces and capitals included (a foreign publisher's names).
        let labels: Vec<&[u8]> = name.trim_end_matches('.').split('.').map(str::as_bytes).collect();
        let name = Name::from_labels(labels).unwrap();
        Record::from_rdata(name, 10, RData::TXT(TXT::from_bytes(strings.to_vec())))
    }

    #[test]
    fn the_query_asks_one_ptr_question() {
        let bytes = legacy_query("_pg-ab._sub._peergroup._udp.local.", 7).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!((m.metadata.id, m.metadata.message_type), (7, MessageType::Query));
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::PTR);
        assert!(legacy_query("bad..name", 1).is_none());
    }

    #[test]
    fn txt_records_of_our_instances_come_back_with_continuations_folded() {
        let bytes = answer(9, vec![txt(INSTANCE, &[b"v=pg1", b"p=AA", b"p.1=BB", b"flag"])]);
        let got = answer_txts(&bytes, 9);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, INSTANCE);
        assert_eq!(got[0].1, [b"v=pg1".to_vec(), b"p=AA".to_vec(), b"p=BB".to_vec(), b"flag".to_vec()]);
    }

    #[test]
    fn other_ids_names_and_garbage_give_nothing() {
        let ours = answer(9, vec![txt(INSTANCE, &[b"v=pg1"])]);
        assert!(answer_txts(&ours, 10).is_empty(), "another query's answer");
        assert!(answer_txts(&legacy_query(INSTANCE, 9).unwrap(), 9).is_empty(), "a query, not an answer");
        for name in ["Foreign Peer._peergroup._udp.local.", "Caps._peergroup._udp.local.", "x._other._udp.local."] {
            let bytes = answer(9, vec![txt(name, &[b"v=pg1"])]);
            assert!(answer_txts(&bytes, 9).is_empty(), "{name}");
        }
        for garbage in [&b""[..], b"\x00\x09\x80", &[0xff; 64]] {
            assert!(answer_txts(garbage, 9).is_empty());
        }
    }

    #[test]
    fn answers_are_bounded() {
        let records = (0..300).map(|i| txt(&format!("pg-{i}._peergroup._udp.local."), &[b"v=pg1"])).collect();
        assert_eq!(answer_txts(&answer(1, records), 1).len(), MAX_MDNS_INSTANCES);
    }
}
