//! Member links of peergroup: QUIC (quinn) with TLS 1.3 (rustls on aws-lc-rs), both sides
//! authenticated twice before anything of the group travels:
//!
//! 1. **TLS**: each side presents its identity certificate and signs the handshake with its
//!    key (RSA-PSS); the verifiers accept any well-formed identity certificate and check the
//!    signature against its key (`tls.rs`).
//! 2. **Membership**: each side sends its chain to the group's root; the other side validates
//!    it for the group at the time and requires its last certificate to name the key and the
//!    identity TLS just proved (`proof.rs`). A refused side is told why
//!    ([`NetError::Refused`]); the refusing side reports [`NetError::NotMember`].
//!
//! Over a link, [`sync_over`] runs a whole synchronisation of the group database
//! (`peergroup-sync`'s protocol; [`StoreReplica`] is the store side). A [`Presence`] is a
//! member online in its group: it listens, keeps links to the members it is told of (one link
//! per member), syncs on every new link, floods every change made on this host
//! (`peergroup-sync`'s Plumtree), and penalises peers that break the protocol.
//!
//! `docs/connect.md` describes the handshake, the sync, the presence and the flood. The
//! facade elects which process of a host runs the presence of a group.
//!
//! ```no_run
//! # async fn example(alice: peergroup_identity::Identity, membership: peergroup_security::Membership)
//! #     -> Result<(), peergroup_net::NetError> {
//! use peergroup_net::MemberEndpoint;
//!
//! let endpoint = MemberEndpoint::bind("[::]:0".parse().unwrap(), &alice, membership)?;
//! let link = endpoint.connect("[2001:db8::7]:3587".parse().unwrap()).await?;
//! println!("linked to {} with roles {:?}", link.peer().identity, link.peer().roles);
//! # Ok(()) }
//! ```

mod error;
mod flooding;
mod link;
pub mod password;
mod presence;
mod proof;
mod replicate;
mod tls;

pub use error::{NetError, Result};
pub use flooding::{FLOOD_STREAM, MAX_FLOOD_MESSAGE};
pub use link::{
    Accepted, Accepting, CLOSED, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, Link, MAX_HANDSHAKES, MemberEndpoint, REFUSED,
    SETTLED,
};
pub use presence::{
    ConnectionKind, DATA_QUEUE, DIRECT_STREAM, DirectConnection, IncomingData, MAX_DATA_LEN, MAX_DIRECT,
    MAX_DIRECT_PER_LINK, MAX_REDIAL, Neighbor, PENALTY, Presence, PresenceConfig, PresenceEvent,
};
pub use proof::{MAX_PROOF_LEN, MembershipProof, PROOF_MAGIC, PeerMember};
pub use replicate::{
    IncomingStream, MAX_PENDING, Role, SYNC_IDLE_TIMEOUT, SYNC_STREAM, StoreReplica, SyncSummary, accept_stream,
    sync_on, sync_over,
};
pub use tls::{ALPN, SERVER_NAME};
