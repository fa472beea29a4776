//! Any string either parses as a peer name that formats back to an equal name, or fails.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_identity::PeerName;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(name) = PeerName::parse(s) {
            let again = PeerName::parse(&name.to_string()).expect("a formatted name parses");
            assert_eq!(again, name);
        }
    }
});
