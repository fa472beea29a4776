//! Any bytes either decode as a reconciliation message whose encoding is exactly those bytes,
//! or fail; a message that decodes is answered by a small index within the bounds. The input
//! is tried as it is and behind the header of a `RECONCILE` message.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use peergroup_sync::reconcile::{self, MAX_ENTRIES, MAX_RANGES, SetIndex};
use peergroup_sync::wire::{self, Message, decode, encode, kind};
use peergroup_sync::{Entry, ItemKey};

fn index() -> &'static SetIndex {
    static INDEX: OnceLock<SetIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        SetIndex::from_entries((0..2000u32).map(|n| {
            let mut key = [0u8; 32];
            key[..4].copy_from_slice(&n.wrapping_mul(2_654_435_761).to_be_bytes());
            Entry { key: ItemKey(key), digest: [n as u8; 32] }
        }))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut framed = vec![wire::VERSION, kind::RECONCILE];
    framed.extend_from_slice(data);
    for bytes in [data, &framed[..]] {
        if let Ok(message) = decode(bytes) {
            assert_eq!(encode(&message), bytes, "decoding is canonical");
            if let Message::Reconcile(m) = message {
                let (answer, _) = reconcile::answer(index(), &m);
                if let Some(answer) = answer {
                    assert!(answer.ranges.len() <= MAX_RANGES && answer.entry_count() <= MAX_ENTRIES);
                    let encoded = encode(&Message::Reconcile(answer.clone()));
                    assert_eq!(decode(&encoded), Ok(Message::Reconcile(answer)), "our answers decode");
                }
            }
        }
    }
});
