//! Arbitrary bytes as an identity certificate, an identity-info document, an export file or
//! a private key give errors, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_identity::{IdentityInfo, Keystore, default_provider};

fuzz_target!(|data: &[u8]| {
    let _ = IdentityInfo::from_certificate(data);
    let _ = default_provider().signing_key(data);
    let _ = default_provider().verifying_key(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = IdentityInfo::from_xml(text);
        thread_local! {
            static STORE: (tempfile::TempDir, Keystore) = {
                let tmp = tempfile::tempdir().expect("temp dir");
                let store = Keystore::open(tmp.path().join("home")).expect("keystore");
                (tmp, store)
            };
        }
        STORE.with(|(_, store)| {
            let _ = store.import(text, "fuzz password");
        });
    }
});
