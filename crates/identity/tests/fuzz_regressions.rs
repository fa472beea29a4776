//! Inputs the fuzzers found that once panicked: each must now be an error.

use peergroup_identity::{IdentityError, Keystore};

#[test]
fn an_export_whose_scrypt_cost_is_zero_is_refused_not_a_panic() {
    // keystore_files found it: pkcs5 0.8 subtracts with overflow converting N = 0.
    let text = include_str!("regressions/export-scrypt-n-zero.txt");
    let tmp = tempfile::tempdir().expect("temp dir");
    let store = Keystore::open(tmp.path().join("home")).expect("keystore");
    match store.import(text, "fuzz password") {
        Err(IdentityError::InvalidExport { reason }) => {
            assert!(reason.contains("scrypt parameters invalid"), "{reason}");
        }
        other => panic!("expected InvalidExport, got {other:?}"),
    }
}
