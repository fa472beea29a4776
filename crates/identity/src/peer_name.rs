//! Peer names: `authority.classifier`.

use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

use crate::error::{IdentityError, Result, excerpt};

/// The longest classifier, in UTF-16 code units (as in Windows).
pub const MAX_CLASSIFIER_UTF16: usize = 149;

/// The longest string [`PeerName::parse`] looks at, in bytes; longer input is refused at once.
pub const MAX_PEER_NAME_LEN: usize = 1024;

/// The authority part of a peer name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Authority {
    /// `0`: an unsecured name that anyone may claim.
    Unsecured,
    /// SHA-1 of the DER `SubjectPublicKeyInfo` of the key that owns the name.
    Secure([u8; 20]),
}

impl Authority {
    /// The authority of a public key given as DER `SubjectPublicKeyInfo`.
    pub fn of_public_key(spki_der: &[u8]) -> Self {
        Self::Secure(Sha1::digest(spki_der).into())
    }

    /// The 40 lowercase hex digits (or `0`).
    pub fn to_hex(&self) -> String {
        let mut out = [0u8; 40];
        self.hex_into(&mut out).to_owned()
    }

    /// The lowercase hex form written into `buf`, without allocating: names are formatted on
    /// every database write (a `format!` per byte cost a microsecond per name).
    fn hex_into<'a>(&self, buf: &'a mut [u8; 40]) -> &'a str {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        match self {
            Self::Unsecured => "0",
            Self::Secure(hash) => {
                for (pair, b) in buf.chunks_exact_mut(2).zip(hash) {
                    pair[0] = DIGITS[usize::from(b >> 4)];
                    pair[1] = DIGITS[usize::from(b & 0x0f)];
                }
                // Only ASCII hex digits were written.
                std::str::from_utf8(buf).unwrap_or_default()
            }
        }
    }
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A peer name: `<40 hex digits>.<classifier>` (secure) or `0.<classifier>` (unsecured).
///
/// ```
/// use peergroup_identity::PeerName;
/// let name: PeerName = "0.chat".parse()?;
/// assert!(!name.is_secure());
/// assert_eq!(name.classifier(), "chat");
/// assert_eq!(name.to_string(), "0.chat");
/// # Ok::<(), peergroup_identity::IdentityError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerName {
    authority: Authority,
    classifier: String,
}

impl PeerName {
    /// Parses and validates `authority.classifier`. The authority's hex digits may be given in
    /// either case; they are kept in lowercase.
    pub fn parse(s: &str) -> Result<Self> {
        let invalid = |reason| IdentityError::InvalidPeerName { name: excerpt(s), reason };
        if s.len() > MAX_PEER_NAME_LEN {
            return Err(invalid("longer than any peer name can be"));
        }
        let Some((authority, classifier)) = s.split_once('.') else {
            return Err(invalid("no '.' between authority and classifier"));
        };
        let authority = if authority == "0" {
            Authority::Unsecured
        } else if authority.len() == 40 && authority.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hash = [0u8; 20];
            for (i, byte) in hash.iter_mut().enumerate() {
                // The 40 characters are ASCII hex digits (checked above), so both the slice and
                // the radix-16 parse succeed.
                *byte = u8::from_str_radix(&authority[2 * i..2 * i + 2], 16)
                    .map_err(|_| invalid("authority is not hexadecimal"))?;
            }
            Authority::Secure(hash)
        } else {
            return Err(invalid("authority must be 0 or 40 hexadecimal digits"));
        };
        validate_classifier(classifier)?;
        Ok(Self { authority, classifier: classifier.to_owned() })
    }

    /// The secure name of a public key (DER `SubjectPublicKeyInfo`) with this classifier.
    pub fn secure(spki_der: &[u8], classifier: &str) -> Result<Self> {
        validate_classifier(classifier)?;
        Ok(Self { authority: Authority::of_public_key(spki_der), classifier: classifier.to_owned() })
    }

    /// An unsecured name `0.<classifier>`.
    pub fn unsecured(classifier: &str) -> Result<Self> {
        validate_classifier(classifier)?;
        Ok(Self { authority: Authority::Unsecured, classifier: classifier.to_owned() })
    }

    /// The authority.
    pub fn authority(&self) -> Authority {
        self.authority
    }

    /// The classifier.
    pub fn classifier(&self) -> &str {
        &self.classifier
    }

    /// Whether the name is bound to a key.
    pub fn is_secure(&self) -> bool {
        matches!(self.authority, Authority::Secure(_))
    }

    /// Whether this name belongs to the given public key (DER `SubjectPublicKeyInfo`).
    pub fn is_owned_by(&self, spki_der: &[u8]) -> bool {
        self.authority == Authority::of_public_key(spki_der)
    }
}

/// Checks a classifier: 1 to [`MAX_CLASSIFIER_UTF16`] UTF-16 code units, no control characters.
pub fn validate_classifier(classifier: &str) -> Result<()> {
    let invalid = |reason| IdentityError::InvalidClassifier { classifier: excerpt(classifier), reason };
    if classifier.is_empty() {
        return Err(invalid("empty"));
    }
    // Bound the work before counting: a UTF-8 byte is at most one UTF-16 unit.
    let len =
        if classifier.len() > 4 * MAX_CLASSIFIER_UTF16 { classifier.len() } else { classifier.encode_utf16().count() };
    if len > MAX_CLASSIFIER_UTF16 {
        return Err(IdentityError::ClassifierTooLong { len, max: MAX_CLASSIFIER_UTF16 });
    }
    if classifier.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    Ok(())
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 40];
        f.write_str(self.authority.hex_into(&mut buf))?;
        f.write_str(".")?;
        f.write_str(&self.classifier)
    }
}

impl fmt::Debug for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerName({self})")
    }
}

impl FromStr for PeerName {
    type Err = IdentityError;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn secure_name_round_trips() {
        let name = PeerName::parse(&format!("{HEX}.my.group")).unwrap();
        assert!(name.is_secure());
        assert_eq!(name.classifier(), "my.group");
        assert_eq!(name.to_string(), format!("{HEX}.my.group"));
    }

    #[test]
    fn uppercase_authority_is_normalised() {
        let name = PeerName::parse(&format!("{}.x", HEX.to_uppercase())).unwrap();
        assert_eq!(name.to_string(), format!("{HEX}.x"));
    }

    #[test]
    fn each_violation_has_its_error() {
        for bad in ["", "nodot", "1.x", "zz.x", &format!("{}.x", &HEX[..39]), &format!("{HEX}0.x")] {
            assert!(matches!(PeerName::parse(bad), Err(IdentityError::InvalidPeerName { .. })), "{bad}");
        }
        assert!(matches!(PeerName::parse("0."), Err(IdentityError::InvalidClassifier { .. })));
        assert!(matches!(PeerName::parse("0.a\u{7}b"), Err(IdentityError::InvalidClassifier { .. })));
        let long = "x".repeat(150);
        assert!(matches!(
            PeerName::parse(&format!("0.{long}")),
            Err(IdentityError::ClassifierTooLong { len: 150, max: 149 })
        ));
        assert!(PeerName::parse(&format!("0.{}", "x".repeat(149))).is_ok());
        // 149 UTF-16 units, counted as Windows counts them: an astral character is two.
        let astral = "😀".repeat(75);
        assert!(matches!(
            PeerName::parse(&format!("0.{astral}")),
            Err(IdentityError::ClassifierTooLong { len: 150, .. })
        ));
        assert!(matches!(PeerName::parse(&"0.".repeat(2000)), Err(IdentityError::InvalidPeerName { .. })));
    }

    #[test]
    fn authority_is_sha1_of_the_key() {
        let name = PeerName::secure(b"abc", "c").unwrap();
        // SHA-1("abc")
        assert_eq!(name.authority().to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert!(name.is_owned_by(b"abc"));
        assert!(!name.is_owned_by(b"abd"));
    }
}
