//! Any string either parses as a cloud name whose canonical form parses back to an equal
//! name, or is an invalid-argument error; never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_pnrp::{CloudName, PnrpError};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    match CloudName::parse(s) {
        Ok(name) => {
            let again = CloudName::parse(&name.to_string()).expect("a canonical name parses");
            assert_eq!(again, name);
            assert!(name.to_string().chars().count() <= peergroup_pnrp::MAX_CLOUD_NAME_LEN);
        }
        Err(PnrpError::InvalidCloudName { .. }) => {}
        Err(other) => panic!("unexpected error {other:?}"),
    }
});
