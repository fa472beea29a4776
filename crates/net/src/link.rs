//! Member links: one QUIC endpoint per (identity, group) presence, connecting out and accepting
//! in; each link authenticated by TLS 1.3 (`tls.rs`) and then by both membership proofs
//! (`proof.rs`), before anything of the group travels.
//!
//! The link's first stream carries the proofs: the side that connected sends its proof and
//! finishes; the accepting side reads it (bounded in size and time), checks it, and either
//! closes the connection with [`REFUSED`] and its reason, or answers with its own proof; the
//! connecting side checks that one the same way. Nothing else is read or sent before both
//! checks held.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use peergroup_identity::Identity;
use peergroup_security::Membership;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::error::{NetError, Result};
use crate::password::{self, Attempts, PasswordVerifier, Serving};
use crate::proof::{MAX_PROOF_LEN, MembershipProof, PeerMember};
use crate::tls::{SERVER_NAME, client_config, server_config};
use peergroup_security::password::PAKE_MAGIC;

/// The application close code of a link refused by its membership check.
pub const REFUSED: quinn::VarInt = quinn::VarInt::from_u32(1);

/// The application close code of a link closed on purpose.
pub const CLOSED: quinn::VarInt = quinn::VarInt::from_u32(0);

/// The application close code of a link closed because another link to the same member stays
/// (two that came up at once settle on one, `presence.rs`).
pub const SETTLED: quinn::VarInt = quinn::VarInt::from_u32(2);

/// How long the whole handshake of one link may take: the QUIC and TLS handshake and both
/// proofs.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a link may go without a packet from the other side before it is lost: a member
/// cut off is noticed, and its neighbours replaced, after this. Keep-alives every 3 s keep a
/// quiet link open.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a quiet link sends a keep-alive: three chances before [`IDLE_TIMEOUT`].
const KEEP_ALIVE: Duration = Duration::from_secs(3);

/// The reason of a refusal before the handshake (QUIC `CONNECTION_REFUSED`, no reason sent).
const REFUSED_AT_ONCE: &str =
    "refused before the handshake: this address is penalised there, or too many handshakes run at once";

/// The longest refusal reason sent in a close frame.
const MAX_REASON: usize = 200;

/// Streams the other side may have open at once on one link.
const MAX_STREAMS: u32 = 16;

/// Incoming handshakes in progress at once; more are refused at once (QUIC `CONNECTION_REFUSED`)
/// rather than queued, so that a flood of half-open connections costs a bounded amount.
pub const MAX_HANDSHAKES: usize = 64;

/// A QUIC endpoint of one member of one group: it accepts links from other members and
/// connects to them.
#[derive(Debug)]
pub struct MemberEndpoint {
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    own: Arc<Own>,
    handshakes: Arc<tokio::sync::Semaphore>,
}

/// What this side proves and checks against.
#[derive(Debug)]
struct Own {
    membership: Membership,
    proof: Vec<u8>,
    /// Set at administrators' hosts of password groups: password joiners are served.
    password: Option<Serving>,
}

/// An incoming link whose handshake has not run yet ([`MemberEndpoint::incoming`]). Complete
/// it on a task of its own: handshakes of several members then run side by side.
#[derive(Debug)]
pub struct Accepting {
    incoming: quinn::Incoming,
    own: Arc<Own>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Accepting {
    /// The address it comes from.
    pub fn remote_address(&self) -> SocketAddr {
        self.incoming.remote_address()
    }

    /// Refuses it at once (QUIC `CONNECTION_REFUSED`), before any handshake.
    pub fn refuse(self) {
        self.incoming.refuse();
    }

    /// Runs the handshake (QUIC, TLS, both proofs), bounded by [`HANDSHAKE_TIMEOUT`]. A
    /// password join served on it ends as [`NetError::Lost`]: the joiner links again as a
    /// member ([`Self::complete_any`] tells it apart).
    pub async fn complete(self) -> Result<Link> {
        let addr = self.incoming.remote_address();
        match self.complete_any().await? {
            Accepted::Link(link) => Ok(link),
            Accepted::PasswordJoin { joiner } => {
                Err(NetError::Lost { addr, reason: format!("{joiner} joined by password and links again") })
            }
        }
    }

    /// [`Self::complete`], telling a link from a password join served (`docs/security.md`).
    pub async fn complete_any(self) -> Result<Accepted> {
        let addr = self.incoming.remote_address();
        tokio::time::timeout(HANDSHAKE_TIMEOUT, accept_inner(self.incoming, &self.own)).await.unwrap_or_else(|_| {
            Err(NetError::Protocol { addr, reason: format!("no link within {} s", HANDSHAKE_TIMEOUT.as_secs()) })
        })
    }
}

/// What an incoming connection became.
#[derive(Debug)]
pub enum Accepted {
    /// An authenticated link to a member.
    Link(Link),
    /// A password joiner who proved the password and received its membership.
    PasswordJoin {
        /// Its identity.
        joiner: peergroup_identity::PeerName,
    },
}

/// An authenticated link to another member.
#[derive(Debug, Clone)]
pub struct Link {
    connection: quinn::Connection,
    peer: Arc<PeerMember>,
    /// Closed by this side for another link to the member ([`Self::close_settled`]).
    settled: Arc<std::sync::atomic::AtomicBool>,
}

impl Link {
    /// The member on the other side.
    pub fn peer(&self) -> &PeerMember {
        &self.peer
    }

    /// Its address.
    pub fn remote_address(&self) -> SocketAddr {
        self.connection.remote_address()
    }

    /// The QUIC connection, for the streams of the protocols that run on the link.
    pub fn connection(&self) -> &quinn::Connection {
        &self.connection
    }

    /// Closes the link, telling the other side.
    pub fn close(&self) {
        self.connection.close(CLOSED, b"closed");
    }

    /// Closes the link because another link to the same member stays, telling the other side.
    pub fn close_settled(&self) {
        self.settled.store(true, std::sync::atomic::Ordering::Release);
        self.connection.close(SETTLED, b"another link to the member stays");
    }

    /// Whether the link was closed, by either side, because another link to the same member
    /// stays: what went over it can go over that one.
    pub fn is_settled(&self) -> bool {
        match self.connection.close_reason() {
            Some(quinn::ConnectionError::ApplicationClosed(close)) => close.error_code == SETTLED,
            Some(_) => self.settled.load(std::sync::atomic::Ordering::Acquire),
            None => false,
        }
    }
}

fn transport() -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(MAX_STREAMS))
        .max_concurrent_uni_streams(quinn::VarInt::from_u32(MAX_STREAMS))
        .keep_alive_interval(Some(KEEP_ALIVE))
        // 10 s fits QUIC's idle timeout (a variable-length integer of milliseconds).
        .max_idle_timeout(quinn::IdleTimeout::try_from(IDLE_TIMEOUT).ok());
    Arc::new(t)
}

impl MemberEndpoint {
    /// Binds a UDP socket at `addr` (port 0: a free one) for `identity`, a member of the group
    /// of `membership`. Runs in a Tokio runtime.
    pub fn bind(addr: SocketAddr, identity: &Identity, membership: Membership) -> Result<Self> {
        Self::bind_with_password(addr, identity, membership, None)
    }

    /// [`Self::bind`], serving password joiners with `password` (the password's stretch and
    /// role, kept at administrators' hosts of password groups).
    pub fn bind_with_password(
        addr: SocketAddr,
        identity: &Identity,
        membership: Membership,
        password: Option<PasswordVerifier>,
    ) -> Result<Self> {
        let identity_error = |reason: String| NetError::Identity { identity: identity.peer_name().to_string(), reason };
        if membership.identity != *identity.peer_name() {
            return Err(identity_error(format!("the membership is {}'s", membership.identity)));
        }
        let proof = MembershipProof { group: membership.group().to_string(), chain: membership.chain.to_der() }
            .encode()
            .ok_or_else(|| identity_error("its membership chain does not fit in a proof".into()))?;
        let server_tls =
            QuicServerConfig::try_from(server_config(identity)?).map_err(|e| identity_error(e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(server_tls));
        server.transport_config(transport());
        let client_tls =
            QuicClientConfig::try_from(client_config(identity)?).map_err(|e| identity_error(e.to_string()))?;
        let mut client = quinn::ClientConfig::new(Arc::new(client_tls));
        client.transport_config(transport());
        let endpoint = quinn::Endpoint::server(server, addr).map_err(|source| NetError::Bind { addr, source })?;
        Ok(Self {
            endpoint,
            client,
            own: Arc::new(Own {
                membership,
                proof,
                password: password.map(|verifier| Serving {
                    verifier,
                    identity: identity.clone(),
                    attempts: Attempts::default(),
                }),
            }),
            handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.endpoint.local_addr().map_err(|source| NetError::Bind { addr: ([0, 0, 0, 0], 0).into(), source })
    }

    /// Connects to the member at `addr`: TLS, then both proofs.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Link> {
        tokio::time::timeout(HANDSHAKE_TIMEOUT, self.connect_inner(addr)).await.unwrap_or_else(|_| {
            Err(NetError::Protocol { addr, reason: format!("no link within {} s", HANDSHAKE_TIMEOUT.as_secs()) })
        })
    }

    async fn connect_inner(&self, addr: SocketAddr) -> Result<Link> {
        let failed = |reason: String| NetError::Connect { addr, reason };
        let connecting =
            self.endpoint.connect_with(self.client.clone(), addr, SERVER_NAME).map_err(|e| failed(e.to_string()))?;
        let connection = connecting.await.map_err(|e| match e {
            // Refused before any handshake: the member penalised this address (it failed the
            // membership check or broke the protocol there) or has too many handshakes at once.
            quinn::ConnectionError::ConnectionClosed(close)
                if close.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
            {
                NetError::Refused { addr, reason: REFUSED_AT_ONCE.into() }
            }
            e => failed(e.to_string()),
        })?;
        let lost = |e: String| stream_failure(&connection, addr, e);
        let (mut send, mut recv) = connection.open_bi().await.map_err(|e| lost(e.to_string()))?;
        send.write_all(&self.own.proof).await.map_err(|e| lost(e.to_string()))?;
        send.finish().map_err(|e| lost(e.to_string()))?;
        let answer = recv.read_to_end(MAX_PROOF_LEN).await.map_err(|e| lost(e.to_string()))?;
        let peer = check(&self.own, &connection, addr, &answer)?;
        Ok(Link { connection, peer: Arc::new(peer), settled: Arc::default() })
    }

    /// The next incoming link, its handshake not run yet; `None` once the endpoint is closed.
    /// Beyond [`MAX_HANDSHAKES`] handshakes in progress, new ones are refused.
    pub async fn incoming(&self) -> Option<Accepting> {
        loop {
            let incoming = self.endpoint.accept().await?;
            match Arc::clone(&self.handshakes).try_acquire_owned() {
                Ok(permit) => return Some(Accepting { incoming, own: Arc::clone(&self.own), _permit: permit }),
                Err(_) => incoming.refuse(),
            }
        }
    }

    /// The next link another member opens, its handshake completed; `None` once the endpoint
    /// is closed. One handshake at a time: a caller serving several members at once takes
    /// [`Self::incoming`] and completes each on a task of its own.
    pub async fn accept(&self) -> Option<Result<Link>> {
        Some(self.incoming().await?.complete().await)
    }

    /// Stops accepting and closes every link.
    pub fn close(&self) {
        self.endpoint.close(CLOSED, b"closing");
    }
}

/// The accepting side of a handshake: TLS, then the connector's proof checked, then ours sent;
/// or, when the stream starts with the password tag, a password join served.
async fn accept_inner(incoming: quinn::Incoming, own: &Own) -> Result<Accepted> {
    let addr = incoming.remote_address();
    let connection = incoming.await.map_err(|e| NetError::Connect { addr, reason: e.to_string() })?;
    let failure = |reason: String| stream_failure(&connection, addr, reason);
    let (mut send, mut recv) = connection.accept_bi().await.map_err(|e| failure(e.to_string()))?;
    let mut tag = [0; 4];
    recv.read_exact(&mut tag).await.map_err(|e| {
        connection.close(REFUSED, b"a malformed or oversized proof");
        failure(e.to_string())
    })?;
    if &tag == PAKE_MAGIC {
        let joiner = password::serve(own.password.as_ref(), &own.membership, &connection, send, recv).await?;
        return Ok(Accepted::PasswordJoin { joiner });
    }
    let rest = recv.read_to_end(MAX_PROOF_LEN - tag.len()).await.map_err(|e| {
        let failure = failure(e.to_string());
        if matches!(failure, NetError::Protocol { .. }) {
            connection.close(REFUSED, b"a malformed or oversized proof");
        }
        failure
    })?;
    let hello = [tag.as_slice(), &rest].concat();
    let peer = check(own, &connection, addr, &hello)?;
    send.write_all(&own.proof).await.map_err(|e| failure(e.to_string()))?;
    send.finish().map_err(|e| failure(e.to_string()))?;
    Ok(Accepted::Link(Link { connection, peer: Arc::new(peer), settled: Arc::default() }))
}

/// Checks the other side's proof; on failure closes the connection with the reason.
fn check(own: &Own, connection: &quinn::Connection, addr: SocketAddr, bytes: &[u8]) -> Result<PeerMember> {
    let outcome = MembershipProof::decode(bytes).and_then(|proof| {
        let certificate = peer_certificate(connection).ok_or("no TLS certificate")?;
        proof.check(own.membership.group(), &certificate, SystemTime::now())
    });
    outcome.map_err(|reason| {
        let mut said = reason.clone();
        if said.len() > MAX_REASON {
            let mut cut = MAX_REASON;
            while !said.is_char_boundary(cut) {
                cut -= 1;
            }
            said.truncate(cut);
        }
        connection.close(REFUSED, said.as_bytes());
        NetError::NotMember { addr, reason }
    })
}

/// The other side's TLS end-entity certificate (DER).
pub(crate) fn peer_certificate(connection: &quinn::Connection) -> Option<Vec<u8>> {
    let identity = connection.peer_identity()?;
    let certs = identity.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>().ok()?;
    certs.first().map(|c| c.to_vec())
}

/// What a failed stream operation on `connection` means: the other side's refusal, a link
/// that went away (nobody to blame), or, on a live connection, a peer that broke the protocol
/// (a stream ended early, a message too long).
pub(crate) fn stream_failure(connection: &quinn::Connection, addr: SocketAddr, reason: String) -> NetError {
    match refusal(connection, addr) {
        Some(refused) => refused,
        None if connection.close_reason().is_some() => NetError::Lost { addr, reason },
        None => NetError::Protocol { addr, reason },
    }
}

/// The refusal the other side closed the connection with, if that is what happened.
fn refusal(connection: &quinn::Connection, addr: SocketAddr) -> Option<NetError> {
    match connection.close_reason()? {
        quinn::ConnectionError::ApplicationClosed(close) if close.error_code == REFUSED => {
            Some(NetError::Refused { addr, reason: String::from_utf8_lossy(&close.reason).into_owned() })
        }
        _ => None,
    }
}
