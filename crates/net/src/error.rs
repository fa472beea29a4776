//! The errors of member links.

use std::net::SocketAddr;

/// What went wrong on a member link. Each variant names the address or the peer involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The UDP socket could not be bound. Maps to `PEER_E_SERVICE_NOT_AVAILABLE`.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// The identity cannot take part in TLS: its key is unreadable or not usable for TLS 1.3.
    /// Maps to `PEER_E_NO_KEY_ACCESS`.
    #[error("the identity {identity} cannot be used on a link: {reason}")]
    Identity {
        /// The identity (peer name).
        identity: String,
        /// Why.
        reason: String,
    },
    /// No QUIC connection came up with `addr` (no answer, TLS failed, closed by the network).
    /// Maps to `PEER_E_CONNECTION_FAILED`.
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// The peer's address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// The other side refused this member: it said why when it closed the link. Maps to
    /// `PEER_E_CONNECTION_REFUSED`.
    #[error("{addr} refused the link: {reason}")]
    Refused {
        /// The peer's address.
        addr: SocketAddr,
        /// The reason it gave.
        reason: String,
    },
    /// The other side is not a member this side accepts: its certificate, its chain, its group
    /// or the binding between them failed. It was told, and got no group data. Maps to
    /// `PEER_E_CONNECTION_NOT_AUTHENTICATED`.
    #[error("{addr} is not an accepted member: {reason}")]
    NotMember {
        /// The peer's address.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
    /// The group database failed during a sync (reading what to send, or storing what
    /// arrived). Maps to `E_FAIL`.
    #[error("the group database failed during a sync: {reason}")]
    Store {
        /// What the state layer reported.
        reason: String,
    },
    /// The link went away during an exchange: the connection was lost, timed out or was
    /// closed by the other side. Nobody misbehaved: not penalised. Maps to
    /// `PEER_E_CONNECTION_FAILED`.
    #[error("the link with {addr} was lost: {reason}")]
    Lost {
        /// The peer's address.
        addr: SocketAddr,
        /// What the connection reported.
        reason: String,
    },
    /// The other side broke the link protocol (a malformed or oversized message, no answer
    /// within the handshake's time). Maps to `PEER_E_CONNECTION_FAILED`.
    #[error("protocol error with {addr}: {reason}")]
    Protocol {
        /// The peer's address.
        addr: SocketAddr,
        /// What was wrong.
        reason: String,
    },
    /// A direct connection was asked for to this member itself. Maps to `PEER_E_CONNECT_SELF`.
    #[error("{peer} is this member: no direct connection to oneself")]
    ConnectSelf {
        /// The member's peer name.
        peer: String,
    },
    /// A direct connection was asked for to a member this presence has no link to. Maps to
    /// `PEER_E_CONNECTION_FAILED` (the facade reports it in the failed connection's event).
    #[error("no link to {peer}: a direct connection runs over the link to the member")]
    NotLinked {
        /// The member's peer name.
        peer: String,
    },
    /// No connection (direct or neighbour) has this id in the presence: never opened, or
    /// closed. Maps to `PEER_E_CONNECTION_NOT_FOUND`.
    #[error("no connection {id}")]
    ConnectionNotFound {
        /// The id asked for.
        id: u64,
    },
    /// Data larger than one frame takes ([`crate::MAX_DATA_LEN`]): nothing was sent. Maps to
    /// `E_INVALIDARG`.
    #[error("{len} bytes of data, at most {max} in one send")]
    DataTooLarge {
        /// The length given.
        len: usize,
        /// The bound.
        max: usize,
    },
    /// This presence holds as many direct connections as it takes, to this member
    /// ([`crate::MAX_DIRECT_PER_LINK`]) or in all ([`crate::MAX_DIRECT`]). Maps to
    /// `E_OUTOFMEMORY` (a bounded resource).
    #[error("too many direct connections (at most {max}) to open one to {peer}")]
    TooManyDirect {
        /// The member asked for.
        peer: String,
        /// The bound reached.
        max: usize,
    },
    /// A password exchange failed its key confirmation: on the joiner's side the password is
    /// wrong; on the member's side a joiner did not prove it (counted against its address).
    /// Maps to `PEER_E_NOT_AUTHORIZED`, Windows' code for a wrong group password.
    #[error("password join with {addr} refused: {reason}")]
    PasswordRejected {
        /// The other side.
        addr: SocketAddr,
        /// What failed.
        reason: String,
    },
}

/// `Result` with [`NetError`].
pub type Result<T, E = NetError> = std::result::Result<T, E>;

impl NetError {
    /// The symbolic p2p.h name of the HRESULT this error maps to (the facade turns it into the
    /// value). No wildcard arm: a new variant must be given its code here.
    pub fn p2p_code(&self) -> &'static str {
        match self {
            Self::Bind { .. } => "PEER_E_SERVICE_NOT_AVAILABLE",
            Self::Identity { .. } => "PEER_E_NO_KEY_ACCESS",
            Self::Connect { .. } | Self::Lost { .. } | Self::Protocol { .. } | Self::NotLinked { .. } => {
                "PEER_E_CONNECTION_FAILED"
            }
            Self::Refused { .. } => "PEER_E_CONNECTION_REFUSED",
            Self::NotMember { .. } => "PEER_E_CONNECTION_NOT_AUTHENTICATED",
            Self::Store { .. } => "E_FAIL",
            Self::ConnectSelf { .. } => "PEER_E_CONNECT_SELF",
            Self::ConnectionNotFound { .. } => "PEER_E_CONNECTION_NOT_FOUND",
            Self::DataTooLarge { .. } => "E_INVALIDARG",
            Self::TooManyDirect { .. } => "E_OUTOFMEMORY",
            Self::PasswordRejected { .. } => "PEER_E_NOT_AUTHORIZED",
        }
    }

    /// One value of every variant, for the facade's test that each maps to its code.
    #[doc(hidden)]
    pub fn all_variants_for_tests() -> Vec<Self> {
        let addr = SocketAddr::from(([127, 0, 0, 1], 1));
        let s = String::new;
        vec![
            Self::Bind { addr, source: std::io::Error::other("x") },
            Self::Identity { identity: s(), reason: s() },
            Self::Connect { addr, reason: s() },
            Self::Refused { addr, reason: s() },
            Self::NotMember { addr, reason: s() },
            Self::Store { reason: s() },
            Self::Lost { addr, reason: s() },
            Self::Protocol { addr, reason: s() },
            Self::ConnectSelf { peer: s() },
            Self::NotLinked { peer: s() },
            Self::ConnectionNotFound { id: 1 },
            Self::DataTooLarge { len: 2, max: 1 },
            Self::TooManyDirect { peer: s(), max: 1 },
            Self::PasswordRejected { addr, reason: s() },
        ]
    }
}
