//! Any bytes either decode as a sync message whose encoding is exactly those bytes, or fail.
//! The input is tried as it is and behind the header of a `ITEMS` message, so that the fuzzer
//! reaches its fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_sync::wire::{self, decode, encode, kind};

fuzz_target!(|data: &[u8]| {
    let mut framed = vec![wire::VERSION, kind::ITEMS];
    framed.extend_from_slice(data);
    for bytes in [data, &framed[..]] {
        if let Ok(message) = decode(bytes) {
            assert_eq!(encode(&message), bytes, "decoding is canonical");
        }
    }
});
