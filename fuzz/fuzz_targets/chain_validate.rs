//! Chain validation fed arbitrary certificates: the input is cut into certificates by 16-bit
//! big-endian length prefixes. Validation never panics, and an accepted chain obeys the rules.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_security::{CertKind, MAX_CHAIN_LEN, validate_chain};

fuzz_target!(|data: &[u8]| {
    let mut certs = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && certs.len() <= MAX_CHAIN_LEN {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let take = len.min(rest.len() - 2);
        certs.push(&rest[2..2 + take]);
        rest = &rest[2 + take..];
    }
    if let Ok(chain) = validate_chain(&certs, None, None) {
        assert!(!chain.is_empty() && chain.len() <= MAX_CHAIN_LEN);
        assert_eq!(chain.root().kind, CertKind::Grc);
        for pair in chain.certificates().windows(2) {
            assert_eq!(pair[1].kind, CertKind::Gmc);
            assert_eq!(pair[1].group, pair[0].group);
            assert!(pair[1].not_before >= pair[0].not_before && pair[1].not_after <= pair[0].not_after);
            assert!(pair[1].roles.iter().all(|r| pair[0].may_issue(*r)));
        }
    }
});
