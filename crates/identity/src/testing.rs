//! Shared test keys: RSA key generation is the slowest step of most tests, so each test
//! process generates a key once per index and hands out copies.
//!
//! Not part of the stable API; other peergroup crates use it from their tests.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use crate::provider::{Pkcs8Der, default_provider};

static KEYS: OnceLock<Mutex<HashMap<usize, Pkcs8Der>>> = OnceLock::new();

/// The `n`th test key of this process (RSA-2048, PKCS#8 DER), generated on first use.
///
/// # Panics
/// If the crypto provider cannot generate a key: tests cannot go on without one.
#[allow(clippy::expect_used)]
pub fn key(n: usize) -> Pkcs8Der {
    let map = KEYS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    map.entry(n).or_insert_with(|| default_provider().generate_key().expect("test key generation")).clone()
}
