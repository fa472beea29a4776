//! The membership proof each side of a link sends once TLS is up, and its check. Pure: no I/O,
//! no clock (the caller gives the time), so the fuzzer and the tests drive it directly.
//!
//! ```text
//! "PGM1"                      magic and version
//! u16 length, UTF-8           the group peer name the sender is a member of
//! u8 count (1..=MAX_CHAIN_LEN) the certificates of its chain, root first, its own GMC last
//! count × (u16 length, DER)
//! ```
//!
//! The TLS handshake proved that the sender holds the private key of its identity certificate;
//! the proof adds that this key is a member of the group: the chain must validate for the
//! group at the time, and its last certificate must name the same key and the same identity
//! as the TLS certificate. The chain is public (anyone may have seen it), so without the key
//! binding it would prove nothing.

use std::time::SystemTime;

use peergroup_identity::{IdentityInfo, PeerName};
use peergroup_security::{MAX_CHAIN_LEN, Role, ValidatedChain, validate_chain};

/// The first bytes of a proof.
pub const PROOF_MAGIC: &[u8; 4] = b"PGM1";

/// The largest proof read (a chain of [`MAX_CHAIN_LEN`] certificates of a few KiB each).
pub const MAX_PROOF_LEN: usize = 64 * 1024;

/// A proof as sent: the group, and the sender's chain (DER, root first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipProof {
    /// The group peer name.
    pub group: String,
    /// The chain, root first.
    pub chain: Vec<Vec<u8>>,
}

/// Who the other side of a link is, once its proof held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMember {
    /// Its identity (the subject of its certificates).
    pub identity: PeerName,
    /// Its roles in the group.
    pub roles: Vec<Role>,
    /// Its validated chain.
    pub chain: ValidatedChain,
}

impl MembershipProof {
    /// The bytes on the wire; `None` when a part does not fit its length field.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = PROOF_MAGIC.to_vec();
        out.extend_from_slice(&u16::try_from(self.group.len()).ok()?.to_be_bytes());
        out.extend_from_slice(self.group.as_bytes());
        out.push(u8::try_from(self.chain.len()).ok()?);
        for cert in &self.chain {
            out.extend_from_slice(&u16::try_from(cert.len()).ok()?.to_be_bytes());
            out.extend_from_slice(cert);
        }
        (out.len() <= MAX_PROOF_LEN).then_some(out)
    }

    /// Reads a proof; the reason when it is malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() > MAX_PROOF_LEN {
            return Err(format!("a proof of {} bytes (at most {MAX_PROOF_LEN})", bytes.len()));
        }
        let rest = bytes.strip_prefix(PROOF_MAGIC).ok_or("not a membership proof (bad magic)")?;
        let (group, mut rest) = take_u16(rest).ok_or("the group name is cut short")?;
        let group = std::str::from_utf8(group).map_err(|_| "the group name is not UTF-8")?.to_owned();
        let (&count, tail) = rest.split_first().ok_or("the chain is missing")?;
        rest = tail;
        let count = usize::from(count);
        if count == 0 || count > MAX_CHAIN_LEN {
            return Err(format!("a chain of {count} certificates (1 to {MAX_CHAIN_LEN})"));
        }
        let mut chain = Vec::with_capacity(count);
        for _ in 0..count {
            let (cert, tail) = take_u16(rest).ok_or("a certificate is cut short")?;
            chain.push(cert.to_vec());
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(format!("{} bytes after the chain", rest.len()));
        }
        Ok(Self { group, chain })
    }

    /// Checks the proof of the side whose TLS certificate is `tls_certificate` (DER, verified
    /// by the TLS handshake) against the group this side is in, at `now`.
    pub fn check(&self, group: &PeerName, tls_certificate: &[u8], now: SystemTime) -> Result<PeerMember, String> {
        if self.group != group.to_string() {
            return Err(format!("a member of {}, not of {group}", self.group));
        }
        let info = IdentityInfo::from_certificate(tls_certificate)
            .map_err(|e| format!("its TLS certificate is not an identity certificate: {e}"))?;
        let chain = validate_chain(&self.chain, Some(group), Some(now))
            .map_err(|e| format!("its membership chain does not hold: {e}"))?;
        let leaf = chain.leaf();
        if leaf.public_key != info.public_key_der() {
            return Err(format!(
                "its chain is for the key of {}, not for the key it holds ({})",
                leaf.subject,
                info.peer_name()
            ));
        }
        if leaf.subject != *info.peer_name() {
            return Err(format!("its chain names {}, its certificate {}", leaf.subject, info.peer_name()));
        }
        Ok(PeerMember { identity: leaf.subject.clone(), roles: leaf.roles.clone(), chain })
    }
}

fn take_u16(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proof() -> MembershipProof {
        MembershipProof { group: "0.g".into(), chain: vec![vec![1, 2, 3], vec![4; 300]] }
    }

    #[test]
    fn a_proof_comes_back_as_sent() {
        let p = proof();
        let bytes = p.encode().unwrap();
        assert!(bytes.starts_with(PROOF_MAGIC));
        assert_eq!(MembershipProof::decode(&bytes).unwrap(), p);
    }

    #[test]
    fn malformed_proofs_say_why() {
        let good = proof().encode().unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"XXXX".to_vec(), "bad magic"),
            (good[..5].to_vec(), "group name"),
            (good[..10].to_vec(), "cut short"),
            ([good.clone(), vec![0]].concat(), "after the chain"),
            ([PROOF_MAGIC.to_vec(), vec![0, 0, 0]].concat(), "a chain of 0"),
            ([PROOF_MAGIC.to_vec(), vec![0, 0, 200]].concat(), "a chain of 200"),
            (vec![0; MAX_PROOF_LEN + 1], "at most"),
            ([PROOF_MAGIC.to_vec(), vec![0, 2, 0xff, 0xfe, 1, 0, 0]].concat(), "not UTF-8"),
        ];
        for (bytes, part) in cases {
            let err = MembershipProof::decode(&bytes).unwrap_err();
            assert!(err.contains(part), "{part}: {err}");
        }
    }

    #[test]
    fn oversized_parts_do_not_encode() {
        assert!(MembershipProof { group: "0.g".into(), chain: vec![vec![0; 70_000]] }.encode().is_none());
        assert!(MembershipProof { group: "0.g".into(), chain: vec![vec![0; 100]; 300] }.encode().is_none());
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = MembershipProof::decode(&bytes);
            let mut with_magic = PROOF_MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            if let Ok(p) = MembershipProof::decode(&with_magic) {
                proptest::prop_assert_eq!(p.encode().unwrap(), with_magic);
            }
        }
    }
}
