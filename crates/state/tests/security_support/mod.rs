//! Helpers shared by the group-security tests: keyed subjects from the cached test keys, and
//! certificates issued directly (so that tests can build chains that break rules).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peergroup_identity::{PeerName, SigningKey, default_provider, testing};
use peergroup_security::{GroupCertificate, Role, Subject, issue_gmc, issue_grc};

/// A base time for hand-made chains (2033-05-18).
pub const BASE: i64 = 2_000_000_000;

/// A time `secs` seconds from the Unix epoch.
pub fn t(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

/// A test key with a subject of its own.
#[derive(Debug)]
pub struct Keyed {
    pub key: Box<dyn SigningKey>,
    pub subject: Subject,
}

/// The `n`th cached test key as a subject `m<n>`.
pub fn keyed(n: usize) -> Keyed {
    let key = default_provider().signing_key(&testing::key(n)).unwrap();
    let spki = key.public_key_der().to_vec();
    let subject = Subject {
        peer_name: PeerName::secure(&spki, &format!("m{n}")).unwrap(),
        friendly_name: format!("Member {n}"),
        public_key: spki,
    };
    Keyed { key, subject }
}

/// A group root certificate made with key `n` (group classifier `g`), valid `nb..na`.
pub fn grc(k: &Keyed, nb: i64, na: i64) -> GroupCertificate {
    let group = PeerName::secure(&k.subject.public_key, "g").unwrap();
    let der = issue_grc(k.key.as_ref(), &group, t(nb), t(na)).unwrap();
    GroupCertificate::parse(&der, None).unwrap()
}

/// A GMC for `subject`, issued by `issuer` (whose key is `issuer_key`), read back without
/// checking any rule but the signature.
pub fn gmc(
    issuer: &GroupCertificate,
    issuer_key: &Keyed,
    subject: &Keyed,
    roles: &[Role],
    nb: i64,
    na: i64,
) -> GroupCertificate {
    let der = issue_gmc(issuer, issuer_key.key.as_ref(), &subject.subject, roles, t(nb), t(na)).unwrap();
    GroupCertificate::parse(&der, Some(&issuer_key.subject.public_key)).unwrap()
}

/// A straight chain over `keys` (the first makes the GRC), every GMC an administrator, all
/// valid `BASE-1000..BASE+1000`. Returns the DER certificates.
pub fn admin_chain(keys: &[Keyed]) -> Vec<Vec<u8>> {
    let mut certs = vec![grc(&keys[0], BASE - 1000, BASE + 1000)];
    for i in 1..keys.len() {
        let next = gmc(&certs[i - 1], &keys[i - 1], &keys[i], &[Role::Administrator], BASE - 1000, BASE + 1000);
        certs.push(next);
    }
    certs.into_iter().map(|c| c.der).collect()
}

/// The security error inside a state result; panics on any other error.
pub fn sec<T: std::fmt::Debug>(
    r: Result<T, peergroup_state::StateError>,
) -> Result<T, peergroup_security::SecurityError> {
    r.map_err(|e| match e {
        peergroup_state::StateError::Security(e) => e,
        other => panic!("expected a security error, got {other:?}"),
    })
}
