//! The signed form of the group properties, what replicates them: a [`Record`] of Windows'
//! reserved type Security Properties ([`SECURITY_PROPERTIES_TYPE`]) whose data is the encoded
//! properties, signed by the administrator who set them (`PeerGroupSetProperties`).
//!
//! The record: id nil, version the properties' version, no flags, creator and modifier the
//! signer, created and modified the time it was signed, expiring never
//! ([`Timestamp::MAX`]), no attributes. Its data, version 1 (integers big-endian; strings a
//! u16 length and UTF-8; peer names in their normal form):
//!
//! ```text
//! 0x01
//! group peer name   classifier   creator   friendly name   comment   cloud name
//! member data lifetime: u32   presence lifetime: u32   flags: u32   authentication schemes: u32
//! password role: 0x00 | 0x01 + 16 bytes
//! ```
//!
//! Decoding refuses anything but exactly this form (one version, one encoding).

use peergroup_identity::Identity;
use peergroup_security::{GroupProperties, SecurityError, VersionStamp};
use uuid::Uuid;

use crate::attributes::Attributes;
use crate::db::record_stamp;
use crate::error::{Result, StateError};
use crate::record::{Reader, Record, put_str16};
use crate::time::Timestamp;

/// Windows' reserved record type Security Properties, `{02000000-0000-0000-0000-000000000000}`:
/// the type of the record that carries the signed group properties.
pub const SECURITY_PROPERTIES_TYPE: Uuid = Uuid::from_u128(0x0200_0000_0000_0000_0000_0000_0000_0000);

/// The longest signed properties item accepted, in bytes (the encoded properties are at most a
/// few KiB: six strings of at most 1024 bytes and a signature).
pub const MAX_PROPERTIES_ITEM_LEN: usize = 16 * 1024;

const ENCODING_VERSION: u8 = 1;

fn invalid(reason: impl Into<String>) -> StateError {
    SecurityError::InvalidGroupProperties { reason: reason.into() }.into()
}

/// The encoded properties (the record's data); the version is the record's.
pub(crate) fn encode(props: &GroupProperties) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    out.push(ENCODING_VERSION);
    for s in [
        &props.group_peer_name.to_string(),
        &props.classifier,
        &props.creator.to_string(),
        &props.friendly_name,
        &props.comment,
        &props.cloud_name,
    ] {
        put_str16(&mut out, s);
    }
    for n in [props.member_data_lifetime, props.presence_lifetime, props.flags, props.authentication_schemes] {
        out.extend_from_slice(&n.to_be_bytes());
    }
    match props.password_role {
        None => out.push(0),
        Some(role) => {
            out.push(1);
            out.extend_from_slice(role.as_bytes());
        }
    }
    out
}

fn decode(bytes: &[u8], version: u32) -> Result<GroupProperties> {
    let mut r = Reader { bytes, pos: 0 };
    let text = |r: &mut Reader<'_>| -> Result<String> {
        let len = usize::from(r.u16()?);
        std::str::from_utf8(r.take(len)?).map(str::to_owned).map_err(|_| invalid("a text property is not UTF-8"))
    };
    if r.u8()? != ENCODING_VERSION {
        return Err(invalid("the properties encoding version is not supported"));
    }
    let group_peer_name = r.peer_name()?;
    let classifier = text(&mut r)?;
    let creator = r.peer_name()?;
    let friendly_name = text(&mut r)?;
    let comment = text(&mut r)?;
    let cloud_name = text(&mut r)?;
    let member_data_lifetime = r.u32()?;
    let presence_lifetime = r.u32()?;
    let flags = r.u32()?;
    let authentication_schemes = r.u32()?;
    let password_role = match r.u8()? {
        0 => None,
        1 => Some(Uuid::from_slice(r.take(16)?).map_err(|_| invalid("password role"))?),
        _ => return Err(invalid("the password role marker is neither 0 nor 1")),
    };
    if r.pos != bytes.len() {
        return Err(invalid("trailing bytes after the properties"));
    }
    let props = GroupProperties {
        group_peer_name,
        classifier,
        creator,
        friendly_name,
        comment,
        cloud_name,
        member_data_lifetime,
        presence_lifetime,
        flags,
        authentication_schemes,
        password_role,
        version,
    };
    props.validate()?;
    Ok(props)
}

/// The signed form of `props` (at its version), signed now by `identity`.
pub(crate) fn sign(props: &GroupProperties, identity: &Identity) -> Result<Record> {
    let now = Timestamp::now();
    let mut record = Record {
        record_type: SECURITY_PROPERTIES_TYPE,
        id: Uuid::nil(),
        version: props.version,
        flags: 0,
        creator: identity.peer_name().clone(),
        modifier: identity.peer_name().clone(),
        attributes: Attributes::empty(),
        created: now,
        modified: now,
        expires: Timestamp::MAX,
        data: encode(props),
        signature: Vec::new(),
    };
    record.sign(identity)?;
    Ok(record)
}

/// A signed properties item decoded (its signature not verified): the record, the properties
/// it carries and its stamp. Refuses anything but the form [`sign`] makes.
pub(crate) fn open(body: &[u8]) -> Result<(Record, GroupProperties, VersionStamp)> {
    if body.len() > MAX_PROPERTIES_ITEM_LEN {
        return Err(invalid(format!(
            "the signed properties are {} bytes long; at most {MAX_PROPERTIES_ITEM_LEN} are allowed",
            body.len()
        )));
    }
    let record = Record::decode(body)?;
    if record.record_type != SECURITY_PROPERTIES_TYPE
        || record.id != Uuid::nil()
        || record.flags != 0
        || record.creator != record.modifier
        || record.expires != Timestamp::MAX
        || !record.attributes.is_empty()
    {
        return Err(invalid("the signed properties are not a Security Properties record in the form signed"));
    }
    let props = decode(&record.data, record.version)?;
    let stamp = record_stamp(&record, body);
    Ok((record, props, stamp))
}

/// Decodes a signed properties item (for the fuzz target): the record that carries them and
/// the properties, with every rule [`crate::GroupDb::apply_batch`] checks before the signature.
#[doc(hidden)]
pub fn decode_signed_properties(body: &[u8]) -> Result<(Record, GroupProperties)> {
    open(body).map(|(record, props, _)| (record, props))
}

/// The data of the record that carries `props` (for the fuzz target).
#[doc(hidden)]
pub fn encode_properties_data(props: &GroupProperties) -> Vec<u8> {
    encode(props)
}

#[cfg(test)]
mod tests {
    use peergroup_identity::{Keystore, PeerName};

    use super::*;

    #[test]
    fn the_signed_form_round_trips_and_rejects_every_truncation_and_change() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Keystore::open(tmp.path().join("home")).unwrap();
        let alice = store.create_with_key("alice", None, &peergroup_identity::testing::key(0)).unwrap();
        let group: PeerName = format!("{}.chat", "ab".repeat(20)).parse().unwrap();
        let mut props = GroupProperties::new(group, alice.peer_name().clone(), "Chat");
        props.version = 4;
        props.comment = "é".into();
        props.password_role = Some(Uuid::from_u128(3));
        let body = sign(&props, &alice).unwrap().encode();
        let (record, opened, stamp) = open(&body).unwrap();
        assert_eq!(opened, props);
        assert_eq!(stamp.version, 4);
        record.verify(alice.public_key_der()).unwrap();
        for n in 0..body.len() {
            assert!(open(&body[..n]).is_err(), "prefix {n}");
        }
        let data = encode(&props);
        for n in 0..data.len() {
            assert!(decode(&data[..n], 4).is_err(), "data prefix {n}");
        }
        let mut longer = data.clone();
        longer.push(0);
        assert!(decode(&longer, 4).is_err());
        let mut other_type = record.clone();
        other_type.record_type = Uuid::from_u128(7);
        assert!(open(&other_type.encode()).is_err());
        assert!(open(&vec![0; MAX_PROPERTIES_ITEM_LEN + 1]).is_err());
    }
}
