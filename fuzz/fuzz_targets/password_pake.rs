//! A message of the password exchange another host sends on a link's first stream (after TLS,
//! before any membership): decoded or refused with a reason, never a panic; what decodes
//! encodes back to the same bytes; a decoded hello or reply goes through the state machine
//! (SPAKE2 point decoding of arbitrary bytes included), which refuses, never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_identity::PeerName;
use peergroup_security::password::{Binding, EXPORTER_LEN, Joiner, MAX_PAKE_MESSAGE, Member, PakeMessage, PasswordKey};

fn binding() -> Binding {
    let name = |s: &str| PeerName::parse(s).expect("a valid peer name");
    Binding {
        group: name("0123456789abcdef0123456789abcdef01234567.chat"),
        joiner: name("1111111111111111111111111111111111111111.bob"),
        member: name("2222222222222222222222222222222222222222.alice"),
        exporter: [7; EXPORTER_LEN],
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(message) = PakeMessage::decode(data) else { return };
    assert!(data.len() <= MAX_PAKE_MESSAGE);
    assert_eq!(message.encode().expect("a decoded message encodes"), data);
    // A fixed key: the stretch is slow on purpose, and the parser is what is fuzzed.
    let key = PasswordKey::from_bytes([9; 32]);
    match &message {
        PakeMessage::Hello { .. } => {
            if let Ok((member, _reply)) = Member::respond(&key, binding(), &message) {
                let _ = member.finish(&PakeMessage::Confirm { confirm: [0; 32] });
            }
        }
        PakeMessage::Reply { .. } => {
            let (joiner, _hello) = Joiner::start(&key, binding()).expect("a hello is made");
            // Random bytes never confirm a fresh exchange.
            assert!(joiner.finish(&message).is_err());
        }
        PakeMessage::Confirm { .. } => {}
    }
});
