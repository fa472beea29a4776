//! Any bytes either decode as the signed form of group properties whose encoding is exactly
//! those bytes (the record and the properties in its data), or fail. The input is tried as it
//! is and as the data of a Security Properties record, so that the fuzzer reaches the fields.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_state::{
    Attributes, Record, SECURITY_PROPERTIES_TYPE, Timestamp, decode_signed_properties, encode_properties_data,
};

fuzz_target!(|data: &[u8]| {
    let creator = peergroup_identity::PeerName::parse("0.fuzz").expect("a valid peer name");
    let framed = Record {
        record_type: SECURITY_PROPERTIES_TYPE,
        id: Default::default(),
        version: 2,
        flags: 0,
        creator: creator.clone(),
        modifier: creator,
        attributes: Attributes::empty(),
        created: Timestamp::EPOCH,
        modified: Timestamp::EPOCH,
        expires: Timestamp::MAX,
        data: data.to_vec(),
        signature: Vec::new(),
    }
    .encode();
    for bytes in [data, &framed[..]] {
        if let Ok((record, props)) = decode_signed_properties(bytes) {
            assert_eq!(record.encode(), bytes, "the record's decoding is canonical");
            assert_eq!(encode_properties_data(&props), record.data, "the properties' decoding is canonical");
            assert_eq!(props.version, record.version);
        }
    }
});
