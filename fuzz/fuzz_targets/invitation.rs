//! The invitation parser (`PeerGroupParseInvitation`) on arbitrary text and arbitrary DER:
//! never panics, and whatever it accepts is a structurally valid chain of at most 24
//! certificates ending with the invitee's membership certificate.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_security::{CertKind, MAX_CHAIN_LEN, invitation};

fn check(info: invitation::InvitationInfo) {
    assert!(info.chain.len() >= 2 && info.chain.len() <= MAX_CHAIN_LEN);
    assert_eq!(info.chain.root().kind, CertKind::Grc);
    assert_eq!(info.chain.leaf().subject, info.subject);
    assert_eq!(*info.chain.group(), info.group);
}

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = invitation::parse_der(data) {
        check(info);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(info) = invitation::parse(text) {
            check(info);
        }
    }
});
