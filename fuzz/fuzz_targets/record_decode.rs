//! Any bytes either decode as a record whose encoding is exactly those bytes, or fail. The
//! input is tried as it is and behind a valid header, so that the fuzzer reaches the fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_state::Record;

fuzz_target!(|data: &[u8]| {
    let mut framed = b"PGREC\x01".to_vec();
    framed.extend_from_slice(data);
    for bytes in [data, &framed[..]] {
        if let Ok(record) = Record::decode(bytes) {
            assert_eq!(record.encode(), bytes, "decoding is canonical");
        }
    }
});
