//! Password groups: the password's stretch and the password-authenticated key exchange a
//! joiner without a membership runs with the member it reached (`PeerGroupPasswordJoin`, then
//! the first connect). Pure: no I/O, no clock; the caller gives the TLS exporter and carries
//! the messages (`docs/security.md`, "Password groups").
//!
//! The exchange is SPAKE2 (RustCrypto's `spake2`, Ed25519 group) on the password's stretch
//! ([`PasswordKey`]: scrypt salted with the group peer name), bound to the TLS session: both
//! SPAKE2 identities hold the group, the peer name of their side and the TLS exporter of the
//! connection, and each side confirms the shared key with an HMAC over the exporter. A man in
//! the middle runs two TLS sessions with two exporters, so the keys never agree through it.
//!
//! ```text
//! joiner → member   "PGP1" 01  u16 length, UTF-8 group peer name  33 bytes SPAKE2 (side A)
//! member → joiner   "PGP1" 02  33 bytes SPAKE2 (side B)  32 bytes member confirmation
//! joiner → member   "PGP1" 03  32 bytes joiner confirmation
//! ```
//!
//! Each message travels on its own; none holds the password or anything computed from the
//! password alone: a SPAKE2 element is blinded by a fresh random scalar, and a confirmation is
//! keyed by the shared key, which an eavesdropper cannot compute. A captured exchange therefore
//! lets nobody test passwords offline; an active attacker tests one password per exchange.

use hmac::{Hmac, KeyInit, Mac};
use peergroup_identity::PeerName;
use sha2::Sha256;
use spake2::{Ed25519Group, Identity as SpakeIdentity, Password as SpakePassword, Spake2};
use zeroize::Zeroizing;

use crate::error::{Result, SecurityError};

/// The first bytes of every message of the exchange (and what tells a member, on a link's
/// first stream, a password join from a membership proof, `PGM1`).
pub const PAKE_MAGIC: &[u8; 4] = b"PGP1";
/// The label of the TLS exporter both sides bind the exchange to (RFC 8446 §7.5).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-peergroup-password-v1";
/// The length of the exporter's output.
pub const EXPORTER_LEN: usize = 32;
/// The length of a SPAKE2 message (side byte and a compressed Edwards point).
pub const SPAKE_LEN: usize = 33;
/// The length of a key confirmation (HMAC-SHA-256).
pub const CONFIRM_LEN: usize = 32;
/// The largest message of the exchange (a hello with the longest group peer name).
pub const MAX_PAKE_MESSAGE: usize = 4 + 1 + 2 + 1024 + SPAKE_LEN;
/// The longest group peer name a hello carries.
const MAX_GROUP_LEN: usize = 1024;

/// scrypt cost of the stretch: N = 2^15, r = 8, p = 1 (32 MiB, about 0.1 s optimised), the
/// price of each guess for whoever holds a verifier file.
const SCRYPT_LOG_N: u8 = 15;
const SCRYPT_R: u32 = 8;
const SCRYPT_P: u32 = 1;
const SALT_PREFIX: &[u8] = b"peergroup password v1\0";

const TAG_HELLO: u8 = 1;
const TAG_REPLY: u8 = 2;
const TAG_CONFIRM: u8 = 3;

/// The password's stretch for one group: what the exchange runs on and what administrators'
/// hosts keep to verify joiners (the verifier file). Zeroized when dropped, never shown.
#[derive(Clone)]
pub struct PasswordKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for PasswordKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordKey(..)")
    }
}

impl PasswordKey {
    /// Stretches `password` for `group` with scrypt, salted with the group peer name (unique
    /// to the group: its authority is the hash of a fresh group key), so that one computation
    /// serves one group only. An empty password is [`SecurityError::InvalidGroupProperties`].
    pub fn derive(password: &str, group: &PeerName) -> Result<Self> {
        if password.is_empty() {
            return Err(SecurityError::InvalidGroupProperties { reason: "the group password is empty".into() });
        }
        let mut salt = SALT_PREFIX.to_vec();
        salt.extend_from_slice(group.to_string().as_bytes());
        let kdf = |reason: String| SecurityError::InvalidGroupProperties { reason };
        let params = scrypt::Params::new(SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P).map_err(|e| kdf(e.to_string()))?;
        let mut out = Zeroizing::new([0u8; 32]);
        scrypt::scrypt(password.as_bytes(), &salt, &params, out.as_mut()).map_err(|e| kdf(e.to_string()))?;
        Ok(Self(out))
    }

    /// The key from its stored bytes (the verifier file).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Its bytes, to store in the verifier file (0600).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The shortest group password, in characters (as the identity export's passwords).
pub const MIN_GROUP_PASSWORD_LEN: usize = peergroup_identity::MIN_PASSWORD_LEN;
/// The longest group password, in bytes of UTF-8.
pub const MAX_GROUP_PASSWORD_LEN: usize = 1024;

/// A group password as the caller gave it (`pwzGroupPassword`, the password of
/// `PeerGroupPasswordJoin`): zeroized when dropped, never shown by `Debug`, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct GroupPassword(Zeroizing<String>);

impl std::fmt::Debug for GroupPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupPassword(..)")
    }
}

impl GroupPassword {
    /// Takes the password (the `String` moves in, so no copy is left behind).
    pub fn new(password: String) -> Self {
        Self(Zeroizing::new(password))
    }

    /// Its text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// [`SecurityError::PasswordPolicy`] unless it has [`MIN_GROUP_PASSWORD_LEN`] to
    /// [`MAX_GROUP_PASSWORD_LEN`] characters and no NUL.
    pub fn check_policy(&self) -> Result<()> {
        let chars = self.0.chars().count();
        if chars < MIN_GROUP_PASSWORD_LEN {
            return Err(SecurityError::PasswordPolicy {
                reason: format!("a group password needs at least {MIN_GROUP_PASSWORD_LEN} characters"),
            });
        }
        if self.0.len() > MAX_GROUP_PASSWORD_LEN || self.0.contains('\0') {
            return Err(SecurityError::PasswordPolicy {
                reason: format!("a group password has at most {MAX_GROUP_PASSWORD_LEN} bytes and no NUL"),
            });
        }
        Ok(())
    }

    /// Its stretch for `group` ([`PasswordKey::derive`]).
    pub fn key(&self, group: &PeerName) -> Result<PasswordKey> {
        PasswordKey::derive(&self.0, group)
    }
}

/// The session the exchange is bound to: the group, both sides' peer names (from their TLS
/// certificates) and the TLS exporter ([`EXPORTER_LABEL`], [`EXPORTER_LEN`] bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The group peer name.
    pub group: PeerName,
    /// The identity joining with the password (the TLS client).
    pub joiner: PeerName,
    /// The member verifying it (the TLS server).
    pub member: PeerName,
    /// The TLS exporter of the connection.
    pub exporter: [u8; EXPORTER_LEN],
}

impl Binding {
    fn identity(&self, side: &str, name: &PeerName) -> SpakeIdentity {
        let mut id = PAKE_MAGIC.to_vec();
        for part in [side.as_bytes(), self.group.to_string().as_bytes(), name.to_string().as_bytes()] {
            id.extend_from_slice(&u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes());
            id.extend_from_slice(part);
        }
        id.extend_from_slice(&self.exporter);
        SpakeIdentity::new(&id)
    }

    fn spake_ids(&self) -> (SpakeIdentity, SpakeIdentity) {
        (self.identity("joiner", &self.joiner), self.identity("member", &self.member))
    }

    fn confirmation(&self, key: &[u8], side: &[u8]) -> Result<[u8; CONFIRM_LEN]> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| malformed("a key of no length"))?;
        mac.update(b"peergroup password confirm ");
        mac.update(side);
        mac.update(&self.exporter);
        Ok(mac.finalize().into_bytes().into())
    }

    fn check_confirmation(&self, key: &[u8], side: &[u8], got: &[u8; CONFIRM_LEN]) -> Result<()> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).map_err(|_| malformed("a key of no length"))?;
        mac.update(b"peergroup password confirm ");
        mac.update(side);
        mac.update(&self.exporter);
        // verify_slice compares in constant time.
        mac.verify_slice(got).map_err(|_| SecurityError::PasswordNotAccepted {
            reason: format!("the {} key confirmation does not match: the password is wrong", side_name(side)),
        })
    }
}

fn side_name(side: &[u8]) -> &'static str {
    if side == b"member" { "member's" } else { "joiner's" }
}

fn malformed(reason: impl Into<String>) -> SecurityError {
    SecurityError::InvalidPakeMessage { reason: reason.into() }
}

/// One message of the exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PakeMessage {
    /// The joiner's first message: the group it joins and its SPAKE2 message.
    Hello {
        /// The group peer name, as sent.
        group: String,
        /// The SPAKE2 message (side A).
        spake: [u8; SPAKE_LEN],
    },
    /// The member's answer: its SPAKE2 message and its key confirmation.
    Reply {
        /// The SPAKE2 message (side B).
        spake: [u8; SPAKE_LEN],
        /// HMAC of the member's side over the exporter.
        confirm: [u8; CONFIRM_LEN],
    },
    /// The joiner's key confirmation.
    Confirm {
        /// HMAC of the joiner's side over the exporter.
        confirm: [u8; CONFIRM_LEN],
    },
}

impl PakeMessage {
    /// The bytes on the wire; `None` when the group name does not fit its length field.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = PAKE_MAGIC.to_vec();
        match self {
            Self::Hello { group, spake } => {
                if group.len() > MAX_GROUP_LEN {
                    return None;
                }
                out.push(TAG_HELLO);
                out.extend_from_slice(&u16::try_from(group.len()).ok()?.to_be_bytes());
                out.extend_from_slice(group.as_bytes());
                out.extend_from_slice(spake);
            }
            Self::Reply { spake, confirm } => {
                out.push(TAG_REPLY);
                out.extend_from_slice(spake);
                out.extend_from_slice(confirm);
            }
            Self::Confirm { confirm } => {
                out.push(TAG_CONFIRM);
                out.extend_from_slice(confirm);
            }
        }
        Some(out)
    }

    /// Reads one message; [`SecurityError::InvalidPakeMessage`] with the reason when it is
    /// malformed. At most [`MAX_PAKE_MESSAGE`] bytes are read.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PAKE_MESSAGE {
            return Err(malformed(format!("a message of {} bytes (at most {MAX_PAKE_MESSAGE})", bytes.len())));
        }
        let rest = bytes.strip_prefix(PAKE_MAGIC).ok_or_else(|| malformed("bad magic"))?;
        let (&tag, rest) = rest.split_first().ok_or_else(|| malformed("no message type"))?;
        let exact = |rest: &[u8], len: usize| {
            if rest.len() == len {
                Ok(())
            } else {
                Err(malformed(format!("a body of {} bytes, {len} expected", rest.len())))
            }
        };
        match tag {
            TAG_HELLO => {
                let (len, rest) = rest.split_first_chunk::<2>().ok_or_else(|| malformed("the group is cut short"))?;
                let (group, rest) = rest
                    .split_at_checked(usize::from(u16::from_be_bytes(*len)))
                    .ok_or_else(|| malformed("the group is cut short"))?;
                if group.len() > MAX_GROUP_LEN {
                    return Err(malformed("the group name is too long"));
                }
                let group = std::str::from_utf8(group).map_err(|_| malformed("the group is not UTF-8"))?.to_owned();
                exact(rest, SPAKE_LEN)?;
                let mut spake = [0; SPAKE_LEN];
                spake.copy_from_slice(rest);
                Ok(Self::Hello { group, spake })
            }
            TAG_REPLY => {
                exact(rest, SPAKE_LEN + CONFIRM_LEN)?;
                let (s, c) = rest.split_at(SPAKE_LEN);
                let mut spake = [0; SPAKE_LEN];
                spake.copy_from_slice(s);
                let mut confirm = [0; CONFIRM_LEN];
                confirm.copy_from_slice(c);
                Ok(Self::Reply { spake, confirm })
            }
            TAG_CONFIRM => {
                exact(rest, CONFIRM_LEN)?;
                let mut confirm = [0; CONFIRM_LEN];
                confirm.copy_from_slice(rest);
                Ok(Self::Confirm { confirm })
            }
            other => Err(malformed(format!("unknown message type {other}"))),
        }
    }
}

fn spake_array(msg: &[u8]) -> Result<[u8; SPAKE_LEN]> {
    msg.try_into().map_err(|_| malformed(format!("a SPAKE2 message of {} bytes", msg.len())))
}

/// The joiner's side, after its hello ([`Joiner::start`]).
pub struct Joiner {
    spake: Spake2<Ed25519Group>,
    binding: Binding,
}

impl std::fmt::Debug for Joiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joiner").field("binding", &self.binding).finish_non_exhaustive()
    }
}

impl Joiner {
    /// Starts the exchange: the state to keep and the hello to send.
    pub fn start(key: &PasswordKey, binding: Binding) -> Result<(Self, PakeMessage)> {
        let (a, b) = binding.spake_ids();
        let (spake, msg) =
            Spake2::<Ed25519Group>::start_a_with_rng(&SpakePassword::new(key.as_bytes()), &a, &b, rand::rng());
        let hello = PakeMessage::Hello { group: binding.group.to_string(), spake: spake_array(&msg)? };
        Ok((Self { spake, binding }, hello))
    }

    /// Reads the member's reply: checks its confirmation (a wrong password, a tampered message
    /// or another session's exporter fail here with [`SecurityError::PasswordNotAccepted`])
    /// and gives the confirmation to send.
    pub fn finish(self, reply: &PakeMessage) -> Result<PakeMessage> {
        let PakeMessage::Reply { spake, confirm } = reply else {
            return Err(malformed("a reply was expected"));
        };
        let key = Zeroizing::new(self.spake.finish(spake).map_err(|e| malformed(format!("SPAKE2: {e:?}")))?);
        self.binding.check_confirmation(&key, b"member", confirm)?;
        Ok(PakeMessage::Confirm { confirm: self.binding.confirmation(&key, b"joiner")? })
    }
}

/// The member's side, after its reply ([`Member::respond`]).
pub struct Member {
    key: Zeroizing<Vec<u8>>,
    binding: Binding,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member").field("binding", &self.binding).finish_non_exhaustive()
    }
}

impl Member {
    /// Answers a joiner's hello with the password key this host keeps: the state to keep and
    /// the reply to send. A hello for another group is [`SecurityError::InvalidPakeMessage`].
    pub fn respond(key: &PasswordKey, binding: Binding, hello: &PakeMessage) -> Result<(Self, PakeMessage)> {
        let PakeMessage::Hello { group, spake } = hello else {
            return Err(malformed("a hello was expected"));
        };
        if *group != binding.group.to_string() {
            return Err(malformed(format!("a password join of {group}, not of {}", binding.group)));
        }
        let (a, b) = binding.spake_ids();
        let (state, msg) =
            Spake2::<Ed25519Group>::start_b_with_rng(&SpakePassword::new(key.as_bytes()), &a, &b, rand::rng());
        let ours = spake_array(&msg)?;
        let shared = Zeroizing::new(state.finish(spake).map_err(|e| malformed(format!("SPAKE2: {e:?}")))?);
        let confirm = binding.confirmation(&shared, b"member")?;
        Ok((Self { key: shared, binding }, PakeMessage::Reply { spake: ours, confirm }))
    }

    /// Checks the joiner's confirmation: `Ok` when the joiner knew the password
    /// ([`SecurityError::PasswordNotAccepted`] otherwise).
    pub fn finish(self, confirm: &PakeMessage) -> Result<()> {
        let PakeMessage::Confirm { confirm } = confirm else {
            return Err(malformed("a confirmation was expected"));
        };
        self.binding.check_confirmation(&self.key, b"joiner", confirm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;

    const GROUP: &str = "0123456789abcdef0123456789abcdef01234567.chat";
    const JOINER: &str = "1111111111111111111111111111111111111111.bob";
    const MEMBER: &str = "2222222222222222222222222222222222222222.alice";

    fn binding(exporter: u8) -> Binding {
        Binding {
            group: PeerName::parse(GROUP).unwrap(),
            joiner: PeerName::parse(JOINER).unwrap(),
            member: PeerName::parse(MEMBER).unwrap(),
            exporter: [exporter; EXPORTER_LEN],
        }
    }

    fn key(password: &str) -> PasswordKey {
        PasswordKey::derive(password, &PeerName::parse(GROUP).unwrap()).unwrap()
    }

    /// Runs the whole exchange through the wire form, every message passed through `tamper`;
    /// records every message's bytes. The joiner's and the member's verdicts.
    fn run(
        joiner_key: &PasswordKey,
        member_key: &PasswordKey,
        bindings: (Binding, Binding),
        tamper: &mut dyn FnMut(usize, &mut Vec<u8>),
        seen: &mut Vec<Vec<u8>>,
    ) -> (Result<()>, Result<()>) {
        let mut wire = |i: usize, m: &PakeMessage| -> Result<PakeMessage> {
            let mut bytes = m.encode().unwrap();
            tamper(i, &mut bytes);
            seen.push(bytes.clone());
            PakeMessage::decode(&bytes)
        };
        let (joiner, hello) = Joiner::start(joiner_key, bindings.0).unwrap();
        let hello = match wire(0, &hello) {
            Ok(h) => h,
            Err(e) => return (Err(e), Err(malformed("no hello"))),
        };
        let (member, reply) = match Member::respond(member_key, bindings.1, &hello) {
            Ok(x) => x,
            Err(e) => return (Err(malformed("no reply")), Err(e)),
        };
        let confirm = match wire(1, &reply).and_then(|r| joiner.finish(&r)) {
            Ok(c) => c,
            Err(e) => return (Err(e), Err(malformed("no confirmation"))),
        };
        let member_verdict = wire(2, &confirm).and_then(|c| member.finish(&c));
        (Ok(()), member_verdict)
    }

    #[test]
    fn the_right_password_agrees_and_a_wrong_one_fails_on_both_sides() {
        let (j, m) =
            run(&key("correct horse"), &key("correct horse"), (binding(7), binding(7)), &mut |_, _| {}, &mut vec![]);
        j.unwrap();
        m.unwrap();
        let (j, _) =
            run(&key("wrong horse"), &key("correct horse"), (binding(7), binding(7)), &mut |_, _| {}, &mut vec![]);
        assert!(matches!(j, Err(SecurityError::PasswordNotAccepted { .. })), "{j:?}");
        assert!(j.unwrap_err().to_string().contains("password is wrong"));
    }

    #[test]
    fn a_man_in_the_middle_with_two_sessions_gets_no_agreement() {
        // The relay forwards messages unchanged between two TLS sessions: the exporters differ.
        let (j, _) = run(&key("pw"), &key("pw"), (binding(1), binding(2)), &mut |_, _| {}, &mut vec![]);
        assert!(matches!(j, Err(SecurityError::PasswordNotAccepted { .. })), "{j:?}");
    }

    #[test]
    fn the_stretch_depends_on_the_group_and_hides_the_password() {
        let other = PeerName::parse("0123456789abcdef0123456789abcdef01234568.chat").unwrap();
        assert_ne!(key("pw").as_bytes(), PasswordKey::derive("pw", &other).unwrap().as_bytes());
        assert!(PasswordKey::derive("", &other).is_err());
        assert_eq!(format!("{:?}", key("pw")), "PasswordKey(..)");
    }

    #[test]
    fn malformed_messages_say_why() {
        let hello = PakeMessage::Hello { group: GROUP.into(), spake: [0x41; SPAKE_LEN] }.encode().unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"XXXX".to_vec(), "bad magic"),
            (PAKE_MAGIC.to_vec(), "no message type"),
            ([PAKE_MAGIC.to_vec(), vec![9]].concat(), "unknown message type"),
            (hello[..8].to_vec(), "cut short"),
            ([hello.clone(), vec![0]].concat(), "expected"),
            ([PAKE_MAGIC.to_vec(), vec![3, 1]].concat(), "expected"),
            (vec![0; MAX_PAKE_MESSAGE + 1], "at most"),
            ([PAKE_MAGIC.to_vec(), vec![1, 0, 1, 0xff], vec![0; SPAKE_LEN]].concat(), "UTF-8"),
        ];
        for (bytes, part) in cases {
            let err = PakeMessage::decode(&bytes).unwrap_err().to_string();
            assert!(err.contains(part), "{part}: {err}");
        }
    }

    /// Every simple hash of the password a test can think of.
    fn hashes(password: &str) -> Vec<Vec<u8>> {
        let p = password.as_bytes();
        let mut h = vec![p.to_vec(), sha2::Sha256::digest(p).to_vec(), sha2::Sha512::digest(p).to_vec()];
        h.push(sha1_digest(p));
        h.push(password.encode_utf16().flat_map(u16::to_le_bytes).collect());
        h
    }

    fn sha1_digest(p: &[u8]) -> Vec<u8> {
        use sha1::Digest as _;
        sha1::Sha1::digest(p).to_vec()
    }

    /// Whether `hay` holds `needle` (its first 8 bytes: enough to make a chance match
    /// impossible in practice, and a prefix of a hash leaks as much as the hash).
    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        let n = needle.len().min(8);
        hay.windows(n).any(|w| w == &needle[..n])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(12))]

        #[test]
        fn messages_hold_neither_the_password_nor_its_hashes(password in "[A-Z][A-Z ]{5,23}", exporter: u8) {
            let k = key(&password);
            let mut seen = vec![];
            let (j, m) = run(&k, &k, (binding(exporter), binding(exporter)), &mut |_, _| {}, &mut seen);
            proptest::prop_assert!(j.is_ok() && m.is_ok());
            let mut secrets = hashes(&password);
            secrets.push(k.as_bytes().to_vec());
            for message in &seen {
                for secret in &secrets {
                    proptest::prop_assert!(!contains(message, secret), "a message holds a password hash");
                }
            }
        }

        #[test]
        fn a_tampered_message_never_agrees(which in 0usize..3, at in 0usize..80, bit in 0u8..8) {
            let k = key("pw");
            let mut tamper = |i: usize, bytes: &mut Vec<u8>| {
                if i == which {
                    let at = at % bytes.len();
                    bytes[at] ^= 1 << bit;
                }
            };
            let (j, m) = run(&k, &k, (binding(3), binding(3)), &mut tamper, &mut vec![]);
            proptest::prop_assert!(j.is_err() || m.is_err(), "a tampered exchange agreed");
        }

        #[test]
        fn decode_never_panics_and_round_trips(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..120)) {
            let _ = PakeMessage::decode(&bytes);
            let mut with_magic = PAKE_MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            if let Ok(m) = PakeMessage::decode(&with_magic) {
                proptest::prop_assert_eq!(m.encode().unwrap(), with_magic);
            }
        }
    }
}
