//! Any string either parses as attribute XML that formats back to equal attributes, or fails.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_state::Attributes;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(attrs) = Attributes::from_xml(s) {
            let again = Attributes::from_xml(&attrs.to_xml()).expect("produced XML parses");
            assert_eq!(again, attrs);
        }
    }
});
