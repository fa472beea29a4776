//! The membership proof another host sends on a member link (after TLS, before anything of
//! the group): decoded or refused with a reason, never a panic; what decodes encodes back to
//! the same bytes, and its chain goes through the same validation the link applies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_identity::PeerName;
use peergroup_net::{MAX_PROOF_LEN, MembershipProof};

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = MembershipProof::decode(data) else { return };
    assert!(data.len() <= MAX_PROOF_LEN);
    assert_eq!(proof.encode().expect("a decoded proof encodes"), data);
    let Ok(group) = PeerName::parse(&proof.group) else { return };
    let _ = peergroup_security::validate_chain(&proof.chain, Some(&group), None);
    // Without a TLS certificate the check refuses; it must say so, not panic.
    assert!(proof.check(&group, &[], std::time::SystemTime::UNIX_EPOCH).is_err());
});
