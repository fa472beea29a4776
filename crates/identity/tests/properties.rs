//! Property tests of the identity layer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on any unexpected error.

use peergroup_identity::{Keystore, MAX_CLASSIFIER_UTF16, PeerName, testing};
use proptest::prelude::*;

fn classifier() -> impl Strategy<Value = String> {
    // Any characters but controls, 1 to 149 UTF-16 units, dots included.
    proptest::collection::vec(any::<char>().prop_filter("no controls", |c| !c.is_control()), 1..100)
        .prop_map(|cs| cs.into_iter().collect::<String>())
        .prop_filter("fits", |s| s.encode_utf16().count() <= MAX_CLASSIFIER_UTF16)
}

proptest! {
    #[test]
    fn parse_format_round_trip(hash in proptest::array::uniform20(any::<u8>()), classifier in classifier(), secure: bool) {
        let text = if secure {
            format!("{}.{classifier}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
        } else {
            format!("0.{classifier}")
        };
        let name = PeerName::parse(&text).unwrap();
        prop_assert_eq!(name.to_string(), text.clone());
        prop_assert_eq!(PeerName::parse(&name.to_string()).unwrap(), name);
    }

    #[test]
    fn every_string_parses_or_fails_cleanly(s in ".*") {
        if let Ok(name) = PeerName::parse(&s) {
            prop_assert_eq!(PeerName::parse(&name.to_string()).unwrap(), name);
        }
    }

    #[test]
    fn near_miss_names_fail_cleanly(hex in "[0-9a-fA-FxX]{0,45}", sep in "[.]{0,2}", rest in "\\PC{0,160}") {
        let _ = PeerName::parse(&format!("{hex}{sep}{rest}"));
    }
}

proptest! {
    // Each case runs scrypt twice; a handful of cases covers the property.
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn export_then_import_keeps_name_and_key(key in 0usize..3, classifier in "[a-z][a-z0-9.]{0,20}", message: Vec<u8>) {
        let tmp = tempfile::tempdir().unwrap();
        let a = Keystore::open(tmp.path().join("a")).unwrap();
        let b = Keystore::open(tmp.path().join("b")).unwrap();
        let original = a.create_with_key(&classifier, None, &testing::key(key)).unwrap();
        let text = a.export(original.peer_name(), "a long password").unwrap();
        let imported = b.import(&text, "a long password").unwrap();
        prop_assert_eq!(imported.peer_name(), original.peer_name());
        let sig = imported.sign(&message).unwrap();
        original.verify(&message, &sig).unwrap();
        imported.verify(&message, &original.sign(&message).unwrap()).unwrap();
    }
}
