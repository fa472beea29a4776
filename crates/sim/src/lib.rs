//! A seeded, deterministic simulator of peergroup replication (never published).
//!
//! N members on a virtual clock, each with an in-memory store, the flood of `peergroup-sync`
//! ([`peergroup_sync::flood::Flood`]) and a per-link [`Reconciler`], joined by links with
//! latency, jitter, loss, partitions and churn, all drawn from one `u64` seed: a failing seed
//! reproduces exactly (`cargo run -p peergroup-sim --release -- seed <S>`).
//!
//! - [`sim`]: the event loop, the network and the oracle that checks the store rules;
//! - [`store`]: the in-memory store, the sim's item bodies and policy;
//! - [`reconcile`]: the reconciler seam and `SyncLink`, the real `peergroup_sync::Link` behind it;
//! - [`scenario`]: random scenarios and their checks (the property tests);
//! - [`convergence`]: the convergence experiment behind `cargo xtask convergence`;
//! - [`rng`]: the seeded generator.

pub mod convergence;
pub mod reconcile;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod store;

pub use reconcile::{Reconciler, SyncLink};
pub use sim::{Action, Config, NetConfig, Sim, WriteOp};
