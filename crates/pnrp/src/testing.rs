//! Test support, not part of the API: a tiny DNS responder on loopback that serves fixed
//! records, stays silent, or answers garbage, and counts the queries it gets. (Network
//! namespaces for tests are in the `peergroup-testkit` crate.)

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{SOA, SRV, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record};

/// What the responder does with a query.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answers from these records; NXDOMAIN (or an empty answer when the name has records of
    /// other types) with an SOA whose minimum is `negative_ttl`.
    Zone {
        /// The records served.
        records: Vec<Record>,
        /// The negative TTL announced.
        negative_ttl: u32,
    },
    /// Never answers.
    Silent,
    /// Answers with a header that promises an answer and bytes that are none.
    Garbage,
}

/// A DNS responder on `127.0.0.1:<ephemeral>`, stopped when dropped.
#[derive(Debug)]
pub struct StaticDns {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StaticDns {
    /// Starts a responder.
    pub fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        let addr = socket.local_addr()?;
        let queries = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let names = Arc::new(Mutex::new(Vec::new()));
        let (q, n, s) = (queries.clone(), names.clone(), stop.clone());
        let thread = std::thread::spawn(move || serve(&socket, &behaviour, &q, &n, &s));
        Ok(Self { addr, queries, names, stop, thread: Some(thread) })
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The number of queries received so far.
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// The distinct names asked for so far (lowercase, absolute), in order of first query.
    pub fn names(&self) -> Vec<String> {
        self.names.lock().map(|n| n.clone()).unwrap_or_default()
    }
}

impl Drop for StaticDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking receive with an empty datagram.
        if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
            let _ = socket.send_to(&[], self.addr);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    socket: &UdpSocket,
    behaviour: &Behaviour,
    queries: &AtomicUsize,
    names: &Mutex<Vec<String>>,
    stop: &AtomicBool,
) {
    let mut buf = [0u8; 4096];
    while let Ok((len, from)) = socket.recv_from(&mut buf) {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(query) = Message::from_vec(&buf[..len]) else { continue };
        queries.fetch_add(1, Ordering::SeqCst);
        if let (Some(q), Ok(mut names)) = (query.queries.first(), names.lock()) {
            let name = q.name.to_ascii().to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let reply = match behaviour {
            Behaviour::Silent => continue,
            Behaviour::Garbage => {
                let mut bytes = buf[..len].to_vec();
                bytes[2] |= 0x80; // QR: a response
                bytes[6..8].copy_from_slice(&1u16.to_be_bytes()); // one answer...
                bytes.extend_from_slice(&[0xc0, 0xff, 0xff]); // ...that is a dangling pointer
                bytes
            }
            Behaviour::Zone { records, negative_ttl } => answer(&query, records, *negative_ttl),
        };
        let _ = socket.send_to(&reply, from);
    }
}

fn answer(query: &Message, records: &[Record], negative_ttl: u32) -> Vec<u8> {
    let mut reply = Message::response(query.metadata.id, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.metadata.authoritative = true;
    if let Some(q) = query.queries.first() {
        reply.add_query(q.clone());
        let same_name: Vec<&Record> = records.iter().filter(|r| r.name.eq_case(&q.name) || r.name == q.name).collect();
        let answers: Vec<Record> =
            same_name.iter().filter(|r| r.record_type() == q.query_type).map(|r| (*r).clone()).collect();
        if answers.is_empty() {
            if same_name.is_empty() {
                reply.metadata.response_code = ResponseCode::NXDomain;
            }
            reply.add_authority(soa(negative_ttl));
        } else {
            reply.add_answers(answers);
        }
    }
    reply.to_vec().unwrap_or_default()
}

fn soa(negative_ttl: u32) -> Record {
    let name = Name::root();
    let soa = SOA::new(name.clone(), name.clone(), 1, 3600, 600, 86_400, negative_ttl);
    Record::from_rdata(name, negative_ttl, RData::SOA(soa))
}

/// An SRV record.
pub fn srv(owner: &str, ttl: u32, port: u16, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::SRV(SRV::new(10, 10, port, name(target))))
}

/// A TXT record of these strings.
pub fn txt(owner: &str, ttl: u32, strings: &[&str]) -> Record {
    Record::from_rdata(name(owner), ttl, RData::TXT(TXT::new(strings.iter().map(|s| (*s).to_owned()).collect())))
}

fn name(s: &str) -> Name {
    // Test inputs are fixed, valid names; the root stands in for a broken one.
    Name::from_ascii(s).unwrap_or_else(|_| Name::root())
}

/// A legacy unicast answer (RFC 6762 §6.7) to the query `id`, as a multicast DNS responder
/// sends it: one TXT record per `(instance, strings)` in the additional section. For the
/// seeds of the `mdns_answer` fuzz target and for tests.
pub fn legacy_answer(id: u16, records: &[(&str, Vec<Vec<u8>>)]) -> Option<Vec<u8>> {
    let mut m = Message::new(id, hickory_resolver::proto::op::MessageType::Response, OpCode::Query);
    for (instance, strings) in records {
        let name = Name::from_ascii(instance).ok()?;
        let txt = TXT::from_bytes(strings.iter().map(Vec::as_slice).collect());
        m.additionals.push(Record::from_rdata(name, 10, RData::TXT(txt)));
    }
    m.to_vec().ok()
}
