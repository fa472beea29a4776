//! Group state for peergroup: the per-identity, per-group database that several processes
//! open at once (properties, membership certificates, members, records, change feed), and the
//! group security that decides who may open it (group root and membership certificates,
//! invitations).

mod error;
pub mod security;

pub use error::{Result, StateError};
