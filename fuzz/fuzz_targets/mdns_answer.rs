//! A datagram received by a one-shot multicast DNS query (RFC 6762 §6.7) from anyone on the
//! link: the TXT records of our registrations' instances, bounded, each through the
//! announcement's parser; never a panic. The query id is the datagram's own first two bytes
//! (so that answers pass the id check and reach the record parsing).
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_pnrp::{Announcement, MAX_MDNS_INSTANCES, MDNS_SERVICE, mdns_answer_txts};

fuzz_target!(|data: &[u8]| {
    let id = data.first_chunk::<2>().map_or(0, |b| u16::from_be_bytes(*b));
    let txts = mdns_answer_txts(data, id);
    assert!(txts.len() <= MAX_MDNS_INSTANCES);
    for (instance, strings) in txts {
        assert!(instance.ends_with(MDNS_SERVICE), "{instance}");
        let _ = Announcement::parse_txt(&instance, &strings);
    }
});
