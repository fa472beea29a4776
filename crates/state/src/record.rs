//! Records (the counterpart of `PEER_RECORD`) and their canonical, signed encoding.
//!
//! Encoding, version 1 (all integers big-endian; every variable field length-prefixed):
//!
//! ```text
//! "PGREC" 0x01
//! type: 16 bytes   id: 16 bytes   version: u32   flags: u32
//! creator: u16 len + UTF-8 peer name   modifier: u16 len + UTF-8 peer name
//! created: i64 µs   modified: i64 µs   expires: i64 µs
//! attribute count: u16, then per attribute (sorted by name):
//!   name: u8 len + ASCII   type: u8 (1 string, 2 int, 3 date)
//!   value: string u32 len + UTF-8 | int i64 | date i64 µs
//! data: u32 len + bytes
//! ---- end of the signed part ----
//! signature: u16 len + bytes (RSA PKCS#1 v1.5 SHA-256 by the modifier's key)
//! ```
//!
//! Decoding refuses anything but exactly this: a bad magic or version, a length running past
//! the end, trailing bytes, invalid peer names or attributes, sizes over the limits.

use peergroup_identity::{Identity, PeerName, VerifyingKey};
use uuid::Uuid;

use crate::attributes::{Attribute, AttributeType, AttributeValue, Attributes};
use crate::error::{Result, StateError};
use crate::time::Timestamp;

/// The largest record payload (`data`), in bytes.
pub const MAX_RECORD_DATA_LEN: usize = 16 * 1024 * 1024;
/// The largest encoded record (payload, attributes, header and signature), in bytes.
pub const MAX_ENCODED_RECORD_LEN: usize = MAX_RECORD_DATA_LEN + 1024 * 1024;
/// The largest signature accepted, in bytes (RSA-2048 gives 256).
pub const MAX_SIGNATURE_LEN: usize = 1024;

const MAGIC: &[u8; 5] = b"PGREC";
const ENCODING_VERSION: u8 = 1;

/// `PEER_RECORD_FLAGS`: the record is refreshed automatically by its publisher.
pub const RECORD_FLAG_AUTOREFRESH: u32 = 0x1;
/// `PEER_RECORD_FLAGS`: the record was deleted; what remains is its tombstone.
pub const RECORD_FLAG_DELETED: u32 = 0x2;

/// A record: the counterpart of Windows' `PEER_RECORD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The application-defined record type.
    pub record_type: Uuid,
    /// The record id, assigned when it is added.
    pub id: Uuid,
    /// 1 when added, one more on each update (and on delete).
    pub version: u32,
    /// `RECORD_FLAG_*` bits.
    pub flags: u32,
    /// The identity that added it.
    pub creator: PeerName,
    /// The identity that changed it last, whose key signed it.
    pub modifier: PeerName,
    /// Typed attributes.
    pub attributes: Attributes,
    /// When it was added.
    pub created: Timestamp,
    /// When it was changed last.
    pub modified: Timestamp,
    /// When it expires: it disappears from every read at that time.
    pub expires: Timestamp,
    /// The payload.
    pub data: Vec<u8>,
    /// The modifier's signature over the canonical encoding of everything above.
    pub signature: Vec<u8>,
}

/// What an application gives to add a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    /// The record type.
    pub record_type: Uuid,
    /// Its attributes.
    pub attributes: Attributes,
    /// When it expires (must be in the future).
    pub expires: Timestamp,
    /// The payload, at most [`MAX_RECORD_DATA_LEN`] bytes.
    pub data: Vec<u8>,
}

/// What an update may change: attributes, data and expiration (never earlier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordUpdate {
    /// The new attributes.
    pub attributes: Attributes,
    /// The new expiration: not earlier than the current one.
    pub expires: Timestamp,
    /// The new payload.
    pub data: Vec<u8>,
}

impl Record {
    /// Whether this is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.flags & RECORD_FLAG_DELETED != 0
    }

    /// The canonical encoding of everything the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.data.len());
        out.extend_from_slice(MAGIC);
        out.push(ENCODING_VERSION);
        out.extend_from_slice(self.record_type.as_bytes());
        out.extend_from_slice(self.id.as_bytes());
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        put_str16(&mut out, &self.creator.to_string());
        put_str16(&mut out, &self.modifier.to_string());
        for t in [self.created, self.modified, self.expires] {
            out.extend_from_slice(&t.as_micros().to_be_bytes());
        }
        // At most MAX_ATTRIBUTES (100) attributes, checked by Attributes::new.
        out.extend_from_slice(&(self.attributes.len() as u16).to_be_bytes());
        for a in &self.attributes {
            // Names are at most MAX_ATTRIBUTE_NAME_LEN (128) bytes.
            out.push(a.name.len() as u8);
            out.extend_from_slice(a.name.as_bytes());
            out.push(a.value.kind().code());
            match &a.value {
                AttributeValue::String(s) => {
                    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
                AttributeValue::Int(i) => out.extend_from_slice(&i.to_be_bytes()),
                AttributeValue::Date(t) => out.extend_from_slice(&t.as_micros().to_be_bytes()),
            }
        }
        // Data is at most MAX_RECORD_DATA_LEN, checked before any record is built.
        out.extend_from_slice(&(self.data.len() as u32).to_be_bytes());
        out.extend_from_slice(&self.data);
        out
    }

    /// The whole encoding: the signed part followed by the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.signed_bytes();
        out.extend_from_slice(&(self.signature.len() as u16).to_be_bytes());
        out.extend_from_slice(&self.signature);
        out
    }

    /// Decodes [`Self::encode`]'s output, checking every bound and rule; does not verify
    /// the signature (see [`Self::verify`]).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENCODED_RECORD_LEN {
            return Err(StateError::MaxRecordSizeExceeded {
                what: "encoded record",
                size: bytes.len(),
                max: MAX_ENCODED_RECORD_LEN,
            });
        }
        let mut r = Reader { bytes, pos: 0 };
        if r.take(5)? != MAGIC {
            return Err(bad(None, "not a peergroup record"));
        }
        let version = r.u8()?;
        if version != ENCODING_VERSION {
            return Err(bad(None, format!("record encoding version {version} is not supported")));
        }
        let record_type = Uuid::from_slice(r.take(16)?).map_err(|_| bad(None, "type"))?;
        let id = Uuid::from_slice(r.take(16)?).map_err(|_| bad(None, "id"))?;
        let bad_id = |reason: &str| bad(Some(id), reason);
        let rec_version = r.u32()?;
        let flags = r.u32()?;
        let creator = r.peer_name().map_err(|_| bad_id("creator is not a peer name"))?;
        let modifier = r.peer_name().map_err(|_| bad_id("modifier is not a peer name"))?;
        let created = Timestamp::from_micros(r.i64()?);
        let modified = Timestamp::from_micros(r.i64()?);
        let expires = Timestamp::from_micros(r.i64()?);
        let count = usize::from(r.u16()?);
        let mut attrs = Vec::with_capacity(count.min(crate::attributes::MAX_ATTRIBUTES));
        for _ in 0..count {
            let len = usize::from(r.u8()?);
            let name = std::str::from_utf8(r.take(len)?).map_err(|_| bad_id("attribute name is not UTF-8"))?;
            let kind = AttributeType::from_code(r.u8()?).ok_or_else(|| bad_id("unknown attribute type"))?;
            let value = match kind {
                AttributeType::String => {
                    let len = r.u32()? as usize;
                    let s = std::str::from_utf8(r.take(len)?).map_err(|_| bad_id("attribute value is not UTF-8"))?;
                    AttributeValue::String(s.to_owned())
                }
                AttributeType::Int => AttributeValue::Int(r.i64()?),
                AttributeType::Date => AttributeValue::Date(Timestamp::from_micros(r.i64()?)),
            };
            attrs.push(Attribute { name: name.to_owned(), value });
        }
        let sorted = attrs.windows(2).all(|w| w[0].name < w[1].name);
        let attributes = Attributes::new(attrs).map_err(|e| bad(Some(id), e.to_string()))?;
        if !sorted {
            return Err(bad_id("attributes are not in canonical order"));
        }
        let data_len = r.u32()? as usize;
        if data_len > MAX_RECORD_DATA_LEN {
            return Err(StateError::MaxRecordSizeExceeded {
                what: "record data",
                size: data_len,
                max: MAX_RECORD_DATA_LEN,
            });
        }
        let data = r.take(data_len)?.to_vec();
        let sig_len = usize::from(r.u16()?);
        if sig_len > MAX_SIGNATURE_LEN {
            return Err(bad_id("signature is too long"));
        }
        let signature = r.take(sig_len)?.to_vec();
        if r.pos != bytes.len() {
            return Err(bad_id("trailing bytes after the record"));
        }
        Ok(Self {
            record_type,
            id,
            version: rec_version,
            flags,
            creator,
            modifier,
            attributes,
            created,
            modified,
            expires,
            data,
            signature,
        })
    }

    /// Signs the record with `identity`, which must be its modifier.
    pub fn sign(&mut self, identity: &Identity) -> Result<()> {
        if identity.peer_name() != &self.modifier {
            return Err(bad(Some(self.id), "the signing identity is not the record's modifier"));
        }
        self.signature = identity.sign(&self.signed_bytes())?;
        Ok(())
    }

    /// Verifies the signature with the modifier's public key (DER `SubjectPublicKeyInfo`):
    /// the key must own the modifier's (secure) peer name and the signature must verify.
    pub fn verify(&self, modifier_public_key: &[u8]) -> Result<()> {
        if !self.modifier.is_secure() || !self.modifier.is_owned_by(modifier_public_key) {
            return Err(bad(Some(self.id), format!("the key given does not own modifier {}", self.modifier)));
        }
        let key: Box<dyn VerifyingKey> = peergroup_identity::default_provider().verifying_key(modifier_public_key)?;
        key.verify(&self.signed_bytes(), &self.signature)
            .map_err(|_| bad(Some(self.id), format!("signature by {} does not verify", self.modifier)))
    }
}

fn bad(id: Option<Uuid>, reason: impl Into<String>) -> StateError {
    StateError::InvalidRecord { id, reason: reason.into() }
}

pub(crate) fn put_str16(out: &mut Vec<u8>, s: &str) {
    // Peer names are at most MAX_PEER_NAME_LEN (1024) bytes.
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad(None, "truncated"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub(crate) fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    pub(crate) fn peer_name(&mut self) -> Result<PeerName> {
        let len = usize::from(self.u16()?);
        let s = std::str::from_utf8(self.take(len)?).map_err(|_| bad(None, "peer name is not UTF-8"))?;
        let name = PeerName::parse(s)?;
        // Parsing normalises (the authority's hex is lowercase); a record must hold the normal
        // form, so that one record has one encoding (found by the `record_decode` fuzz target).
        if name.to_string() != s {
            return Err(bad(None, format!("peer name {s:?} is not in its normal form ({name})")));
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(modifier: PeerName) -> Record {
        Record {
            record_type: Uuid::from_u128(7),
            id: Uuid::from_u128(9),
            version: 3,
            flags: 0,
            creator: modifier.clone(),
            modifier,
            attributes: Attributes::new(vec![Attribute::int("n", -5), Attribute::string("s", "é")]).unwrap(),
            created: Timestamp::from_micros(1),
            modified: Timestamp::from_micros(2),
            expires: Timestamp::from_micros(3),
            data: b"payload".to_vec(),
            signature: vec![1, 2, 3],
        }
    }

    #[test]
    fn encoding_round_trips_and_rejects_every_truncation() {
        let rec = sample(PeerName::parse("0.someone").unwrap());
        let bytes = rec.encode();
        assert_eq!(Record::decode(&bytes).unwrap(), rec);
        for n in 0..bytes.len() {
            assert!(Record::decode(&bytes[..n]).is_err(), "prefix {n}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(Record::decode(&longer), Err(StateError::InvalidRecord { .. })));
        let mut other = bytes;
        other[5] = 2;
        assert!(matches!(Record::decode(&other), Err(StateError::InvalidRecord { .. })));
        // A peer name in another case than its normal form is refused, not normalised: one
        // record, one encoding.
        let alice = sample(PeerName::parse(&format!("{}.alice", "ab".repeat(20))).unwrap());
        let bytes = alice.encode();
        let at = bytes.windows(2).position(|w| w == b"ab").unwrap();
        let mut upper = bytes.clone();
        upper[at] = b'A';
        assert!(matches!(Record::decode(&upper), Err(StateError::InvalidRecord { .. })), "uppercase authority");
        assert_eq!(Record::decode(&bytes).unwrap().encode(), bytes);
    }

    #[test]
    fn signature_covers_every_field() {
        let tmp = tempfile::tempdir().unwrap();
        let store = peergroup_identity::Keystore::open(tmp.path().join("home")).unwrap();
        let alice = store.create_with_key("alice", None, &peergroup_identity::testing::key(0)).unwrap();
        let mut rec = sample(alice.peer_name().clone());
        rec.sign(&alice).unwrap();
        rec.verify(alice.public_key_der()).unwrap();
        let mut changed = rec.clone();
        changed.data.push(0);
        assert!(matches!(changed.verify(alice.public_key_der()), Err(StateError::InvalidRecord { .. })));
        let mut changed = rec.clone();
        changed.expires = Timestamp::from_micros(4);
        assert!(changed.verify(alice.public_key_der()).is_err());
        let bob = store.create_with_key("bob", None, &peergroup_identity::testing::key(1)).unwrap();
        assert!(rec.verify(bob.public_key_der()).is_err());
    }
}
