//! Password joins over a link (`docs/security.md`, "Password groups"): the joiner, holding no
//! membership yet, runs the password exchange of `peergroup_security::password` on the link's
//! first stream instead of sending its membership proof; a member holding the password key
//! answers, and on success issues the joiner its membership and sends the chain.
//!
//! On the stream the joiner writes the tag `PGP1` (which tells the member this is no `PGM1`
//! proof), then each message behind a 2-byte big-endian length; the member's last message is
//! the joiner's chain as a membership proof (`PGM1`), after which it finishes the stream and
//! closes the connection: the joiner links again as a member.
//!
//! A member bounds the failed exchanges it accepts from one IP address
//! ([`MAX_PASSWORD_FAILURES`] within [`PASSWORD_WINDOW`]): beyond, it refuses the address as a
//! non-member, which the presence penalises.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use peergroup_identity::{Identity, IdentityInfo, PeerName};
use peergroup_security::password::{
    Binding, EXPORTER_LABEL, EXPORTER_LEN, Joiner, MAX_PAKE_MESSAGE, Member, PAKE_MAGIC, PakeMessage, PasswordKey,
};
use peergroup_security::password_invitation::issue_membership;
use peergroup_security::{Membership, Role, Subject, ValidatedChain, validate_chain};
use quinn::crypto::rustls::QuicClientConfig;

use crate::error::{NetError, Result};
use crate::link::{HANDSHAKE_TIMEOUT, REFUSED, peer_certificate, stream_failure};
use crate::proof::{MAX_PROOF_LEN, MembershipProof};
use crate::tls::{SERVER_NAME, client_config};

/// Failed password exchanges a member accepts from one IP address within [`PASSWORD_WINDOW`].
pub const MAX_PASSWORD_FAILURES: u32 = 3;
/// The window over which failures are counted.
pub const PASSWORD_WINDOW: Duration = Duration::from_secs(600);

/// What a member needs to admit password joiners: the password's stretch (from the verifier
/// file at administrators' hosts) and the role the group gives them.
#[derive(Debug, Clone)]
pub struct PasswordVerifier {
    /// The password's stretch.
    pub key: PasswordKey,
    /// The password role.
    pub role: Role,
}

/// Failed exchanges per IP address: pure bookkeeping, the time given by the caller.
#[derive(Debug, Default)]
pub struct Attempts {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Attempts {
    /// Whether `ip` may try again at `now`.
    pub fn allowed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (_, since)| now.saturating_duration_since(*since) < PASSWORD_WINDOW);
        map.get(&ip).is_none_or(|(n, _)| *n < MAX_PASSWORD_FAILURES)
    }

    /// Counts a failure of `ip` at `now` (the window starts at its first failure).
    pub fn failed(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry(ip).or_insert((0, now)).0 += 1;
    }
}

/// What the member side of a link serves password joiners with.
#[derive(Debug)]
pub(crate) struct Serving {
    pub(crate) verifier: PasswordVerifier,
    pub(crate) identity: Identity,
    pub(crate) attempts: Attempts,
}

fn exporter(connection: &quinn::Connection, addr: SocketAddr) -> Result<[u8; EXPORTER_LEN]> {
    let mut out = [0; EXPORTER_LEN];
    connection
        .export_keying_material(&mut out, EXPORTER_LABEL, b"")
        .map_err(|_| NetError::Protocol { addr, reason: "no TLS exporter".into() })?;
    Ok(out)
}

async fn write_message(send: &mut quinn::SendStream, message: &PakeMessage) -> std::result::Result<(), String> {
    let bytes = message.encode().ok_or("a message that does not encode")?;
    let len = u16::try_from(bytes.len()).map_err(|_| "a message too long")?;
    send.write_all(&len.to_be_bytes()).await.map_err(|e| e.to_string())?;
    send.write_all(&bytes).await.map_err(|e| e.to_string())
}

async fn read_message(recv: &mut quinn::RecvStream) -> std::result::Result<Vec<u8>, String> {
    let mut len = [0; 2];
    recv.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_PAKE_MESSAGE {
        return Err(format!("a password message of {len} bytes (at most {MAX_PAKE_MESSAGE})"));
    }
    let mut bytes = vec![0; len];
    recv.read_exact(&mut bytes).await.map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn refuse(connection: &quinn::Connection, reason: &str) {
    connection.close(REFUSED, reason.as_bytes());
}

/// The member's side, once the stream's tag said `PGP1`: runs the exchange and, on success,
/// issues and sends the joiner's chain. Returns the joiner's identity.
pub(crate) async fn serve(
    serving: Option<&Serving>,
    membership: &Membership,
    connection: &quinn::Connection,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) -> Result<PeerName> {
    let addr = connection.remote_address();
    let Some(serving) = serving else {
        refuse(connection, "this member admits nobody by password");
        return Err(NetError::NotMember { addr, reason: "a password join, and this member holds no password".into() });
    };
    if !serving.attempts.allowed(addr.ip(), Instant::now()) {
        refuse(connection, "too many wrong passwords from this address");
        return Err(NetError::NotMember { addr, reason: "too many wrong passwords from this address".into() });
    }
    let certificate =
        peer_certificate(connection).ok_or(NetError::Protocol { addr, reason: "no TLS certificate".into() })?;
    let joiner = IdentityInfo::from_certificate(&certificate)
        .map_err(|e| NetError::Protocol { addr, reason: format!("not an identity certificate: {e}") })?;
    let binding = Binding {
        group: membership.group().clone(),
        joiner: joiner.peer_name().clone(),
        member: serving.identity.peer_name().clone(),
        exporter: exporter(connection, addr)?,
    };
    let protocol = |reason: String| {
        refuse(connection, "a malformed password exchange");
        NetError::Protocol { addr, reason }
    };
    let hello = read_message(&mut recv).await.map_err(|e| stream_failure(connection, addr, e))?;
    let hello = PakeMessage::decode(&hello).map_err(|e| protocol(e.to_string()))?;
    let (member, reply) =
        Member::respond(&serving.verifier.key, binding, &hello).map_err(|e| protocol(e.to_string()))?;
    write_message(&mut send, &reply).await.map_err(|e| stream_failure(connection, addr, e))?;
    // From here a joiner that stops, or confirms wrongly, did not know the password: it counts.
    let confirmed = match read_message(&mut recv).await {
        Ok(bytes) => PakeMessage::decode(&bytes).and_then(|c| member.finish(&c)).map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    if let Err(reason) = confirmed {
        serving.attempts.failed(addr.ip(), Instant::now());
        refuse(connection, "the password was wrong");
        return Err(NetError::PasswordRejected { addr, reason });
    }
    let signing = serving.identity.signing_key().map_err(|e| NetError::Identity {
        identity: serving.identity.peer_name().to_string(),
        reason: e.to_string(),
    })?;
    let chain =
        issue_membership(membership, signing, &Subject::from(&joiner), serving.verifier.role, SystemTime::now())
            .map_err(|e| {
                refuse(connection, "this member cannot issue memberships");
                NetError::NotMember { addr, reason: format!("issuing the password joiner's membership: {e}") }
            })?;
    let proof = MembershipProof { group: membership.group().to_string(), chain: chain.to_der() }
        .encode()
        .ok_or_else(|| protocol("the issued chain does not fit in a proof".into()))?;
    send.write_all(&proof).await.map_err(|e| stream_failure(connection, addr, e.to_string()))?;
    send.finish().map_err(|e| stream_failure(connection, addr, e.to_string()))?;
    // The joiner closes once it has read the chain, then links again as a member.
    let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, connection.closed()).await;
    Ok(joiner.peer_name().clone())
}

/// The joiner's side (`PeerGroupPasswordJoin`'s first connect): links to the member at `addr`
/// with `identity`'s certificate, proves the password of `group` by its stretch `key`, and
/// returns the membership chain the member issued (validated now, for this identity).
/// A wrong password is [`NetError::PasswordRejected`]; nothing else of the group travels.
pub async fn password_join(
    identity: &Identity,
    group: &PeerName,
    key: &PasswordKey,
    addr: SocketAddr,
) -> Result<ValidatedChain> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, join_inner(identity, group, key, addr)).await.unwrap_or_else(|_| {
        Err(NetError::Protocol { addr, reason: format!("no password join within {} s", HANDSHAKE_TIMEOUT.as_secs()) })
    })
}

async fn join_inner(
    identity: &Identity,
    group: &PeerName,
    key: &PasswordKey,
    addr: SocketAddr,
) -> Result<ValidatedChain> {
    let identity_error = |reason: String| NetError::Identity { identity: identity.peer_name().to_string(), reason };
    let local: SocketAddr = if addr.is_ipv6() { ([0u16; 8], 0).into() } else { ([0, 0, 0, 0], 0).into() };
    let endpoint = quinn::Endpoint::client(local).map_err(|source| NetError::Bind { addr: local, source })?;
    let tls = QuicClientConfig::try_from(client_config(identity)?).map_err(|e| identity_error(e.to_string()))?;
    let config = quinn::ClientConfig::new(Arc::new(tls));
    let failed = |reason: String| NetError::Connect { addr, reason };
    let connecting = endpoint.connect_with(config, addr, SERVER_NAME).map_err(|e| failed(e.to_string()))?;
    let connection = connecting.await.map_err(|e| failed(e.to_string()))?;
    let outcome = exchange(identity, group, key, &connection, addr).await;
    connection.close(crate::link::CLOSED, b"password join done");
    endpoint.wait_idle().await;
    outcome
}

async fn exchange(
    identity: &Identity,
    group: &PeerName,
    key: &PasswordKey,
    connection: &quinn::Connection,
    addr: SocketAddr,
) -> Result<ValidatedChain> {
    let lost = |e: String| stream_failure(connection, addr, e);
    let certificate =
        peer_certificate(connection).ok_or(NetError::Protocol { addr, reason: "no TLS certificate".into() })?;
    let member = IdentityInfo::from_certificate(&certificate)
        .map_err(|e| NetError::Protocol { addr, reason: format!("not an identity certificate: {e}") })?;
    let binding = Binding {
        group: group.clone(),
        joiner: identity.peer_name().clone(),
        member: member.peer_name().clone(),
        exporter: exporter(connection, addr)?,
    };
    let (joiner, hello) =
        Joiner::start(key, binding).map_err(|e| NetError::Protocol { addr, reason: e.to_string() })?;
    let (mut send, mut recv) = connection.open_bi().await.map_err(|e| lost(e.to_string()))?;
    send.write_all(PAKE_MAGIC).await.map_err(|e| lost(e.to_string()))?;
    write_message(&mut send, &hello).await.map_err(lost)?;
    let reply = read_message(&mut recv).await.map_err(lost)?;
    let reply = PakeMessage::decode(&reply).map_err(|e| NetError::Protocol { addr, reason: e.to_string() })?;
    let confirm = joiner.finish(&reply).map_err(|e| {
        refuse(connection, "the password was wrong");
        NetError::PasswordRejected { addr, reason: e.to_string() }
    })?;
    write_message(&mut send, &confirm).await.map_err(lost)?;
    send.finish().map_err(|e| lost(e.to_string()))?;
    let answer = recv.read_to_end(MAX_PROOF_LEN).await.map_err(|e| lost(e.to_string()))?;
    let proof = MembershipProof::decode(&answer).map_err(|reason| NetError::Protocol { addr, reason })?;
    if proof.group != group.to_string() {
        return Err(NetError::Protocol { addr, reason: format!("a membership of {}, not of {group}", proof.group) });
    }
    let chain = validate_chain(&proof.chain, Some(group), Some(SystemTime::now()))
        .map_err(|e| NetError::Protocol { addr, reason: format!("the issued chain does not hold: {e}") })?;
    let leaf = chain.leaf();
    if leaf.public_key != identity.info().public_key_der() || leaf.subject != *identity.peer_name() {
        return Err(NetError::Protocol {
            addr,
            reason: format!("the issued chain is for {}, not for this identity", leaf.subject),
        });
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_bounded_per_address_within_the_window() {
        let attempts = Attempts::default();
        let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 1].into(), [127, 0, 0, 2].into());
        let start = Instant::now();
        for _ in 0..MAX_PASSWORD_FAILURES {
            assert!(attempts.allowed(a, start));
            attempts.failed(a, start);
        }
        assert!(!attempts.allowed(a, start), "a fourth guess from the same address");
        assert!(attempts.allowed(b, start), "another address is not held up");
        assert!(attempts.allowed(a, start + PASSWORD_WINDOW), "the window passed");
    }
}
