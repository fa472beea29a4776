//! The TXT record of a registration in a DNS cloud, as a resolver reads it from the network:
//! an announcement that keeps the format's promises (and encodes back to itself), or a
//! malformed error naming the record; never a panic. The same strings through the link's
//! path too (multicast DNS: DNS-SD properties with numbered continuation keys).
//!
//! Input layout: the TXT record's strings, each as one length byte and its bytes (missing
//! bytes cut the last string short).
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_pnrp::{
    Announcement, MAX_COMMENT_LEN, MAX_ENDPOINTS, MAX_PROOF_LEN, MAX_TXT_STRINGS, Placement, PnrpError,
    properties_to_txt, txt_to_properties, validate_peer_name,
};

const RECORD: &str = "pg-0123456789abcdef0123-0123456789ab._peergroup._udp.corp.example. TXT";

fuzz_target!(|data: &[u8]| {
    let mut strings = Vec::new();
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        strings.push(tail[..n].to_vec());
        rest = &tail[n..];
    }
    match Announcement::parse_txt(RECORD, &strings) {
        Ok(a) => {
            let secure = validate_peer_name(&a.peer_name).expect("a valid peer name");
            assert!(!secure || !a.proof.is_empty());
            assert!((1..=MAX_ENDPOINTS).contains(&a.endpoints.len()));
            assert!(a.endpoints.iter().all(|e| e.port() != 0));
            assert!(a.comment.len() <= MAX_COMMENT_LEN && a.proof.len() <= MAX_PROOF_LEN);
            let again: Vec<Vec<u8>> = a.to_txt().into_iter().map(String::into_bytes).collect();
            assert!(again.iter().all(|s| s.len() <= 255));
            assert_eq!(Announcement::parse_txt(RECORD, &again).expect("our own encoding parses"), a);
            let _ = a.signed_bytes(Placement { cloud: "corp.example.", instance: RECORD });
            let props = txt_to_properties(&a.to_txt());
            let back = properties_to_txt(props.iter().map(|(k, v)| (k.as_str(), Some(v.as_bytes()))));
            assert_eq!(Announcement::parse_txt(RECORD, &back).expect("our own mDNS encoding parses"), a);
        }
        Err(PnrpError::MalformedDescriptor { record, .. }) => assert_eq!(record, RECORD),
        Err(other) => panic!("the parser never says {other:?}"),
    }
    // As DNS-SD properties (each string split at its first `=`; a string without one is a
    // key without value), back to strings as the link's resolver makes them.
    let props: Vec<(String, Option<&[u8]>)> = strings
        .iter()
        .map(|s| match s.iter().position(|b| *b == b'=') {
            Some(i) => (String::from_utf8_lossy(&s[..i]).into_owned(), Some(&s[i + 1..])),
            None => (String::from_utf8_lossy(s).into_owned(), None),
        })
        .collect();
    let txt = properties_to_txt(props.iter().map(|(k, v)| (k.as_str(), *v)));
    assert!(txt.len() <= MAX_TXT_STRINGS + 1);
    match Announcement::parse_txt(RECORD, &txt) {
        Ok(_) | Err(PnrpError::MalformedDescriptor { .. }) => {}
        Err(other) => panic!("the parser never says {other:?}"),
    }
});
