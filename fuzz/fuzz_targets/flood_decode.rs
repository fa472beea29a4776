//! Any bytes either decode as a flood message whose encoding is exactly those bytes, or fail;
//! decoding never panics and allocates only within the bounds. The input is tried as it is and
//! behind each valid version and type header, so that the fuzzer reaches the fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_sync::flood::{Message, TYPE_IHAVE, TYPE_PUSH, WIRE_VERSION};

fuzz_target!(|data: &[u8]| {
    let mut inputs = vec![data.to_vec()];
    for ty in TYPE_PUSH..=TYPE_IHAVE + 2 {
        inputs.push([&[WIRE_VERSION, ty][..], data].concat());
    }
    for bytes in inputs {
        if let Ok(message) = Message::decode(&bytes) {
            assert_eq!(message.encode(), bytes, "decoding is canonical");
        }
    }
});
