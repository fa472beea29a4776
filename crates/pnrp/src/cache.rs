//! The DNS answer cache: positive and negative answers, each kept for its TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::rule::DnsAnswer;

/// The most descriptor names the cache holds.
pub const MAX_CACHE_ENTRIES: usize = 1024;

/// The longest a positive answer is kept, whatever its TTL.
pub const MAX_POSITIVE_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest a negative answer is kept, whatever its TTL (RFC 2308 advises 1 to 3 hours).
pub const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(3600);

/// Answers by descriptor name (lowercase), each with the instant it expires. Time is passed in,
/// so tests drive it.
#[derive(Debug, Default)]
pub struct DnsCache {
    entries: HashMap<String, (Instant, DnsAnswer)>,
}

impl DnsCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The answer for `name` if it is still valid at `now`.
    pub fn get(&mut self, name: &str, now: Instant) -> Option<DnsAnswer> {
        match self.entries.get(name) {
            Some((expires, answer)) if *expires > now => Some(answer.clone()),
            Some(_) => {
                self.entries.remove(name);
                None
            }
            None => None,
        }
    }

    /// Keeps `answer` for `ttl` (capped by kind). Only final answers are kept: a found cloud,
    /// NXDOMAIN, no descriptor and "not offered"; timeouts, failures and malformed
    /// descriptors are asked again next time.
    pub fn insert(&mut self, name: &str, answer: DnsAnswer, ttl: Duration, now: Instant) {
        let cap = match answer {
            DnsAnswer::Found(_) | DnsAnswer::NotOffered => MAX_POSITIVE_TTL,
            DnsAnswer::NxDomain | DnsAnswer::NoDescriptor => MAX_NEGATIVE_TTL,
            DnsAnswer::TimedOut | DnsAnswer::Failed(_) | DnsAnswer::Malformed { .. } => return,
        };
        let ttl = ttl.min(cap);
        if ttl.is_zero() {
            return;
        }
        if self.entries.len() >= MAX_CACHE_ENTRIES && !self.entries.contains_key(name) {
            self.entries.retain(|_, (expires, _)| *expires > now);
            if self.entries.len() >= MAX_CACHE_ENTRIES {
                // Full of live entries: drop the one that expires first.
                let first = self.entries.iter().min_by_key(|(_, (expires, _))| *expires).map(|(k, _)| k.clone());
                if let Some(first) = first {
                    self.entries.remove(&first);
                }
            }
        }
        self.entries.insert(name.to_owned(), (now + ttl, answer));
    }

    /// The number of entries (live or not yet purged).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn answers_live_for_their_ttl() {
        let t0 = Instant::now();
        let mut cache = DnsCache::new();
        cache.insert("a", DnsAnswer::NxDomain, 30 * S, t0);
        cache.insert("b", DnsAnswer::NotOffered, 300 * S, t0);
        assert_eq!(cache.get("a", t0 + 29 * S), Some(DnsAnswer::NxDomain));
        assert_eq!(cache.get("a", t0 + 30 * S), None);
        assert_eq!(cache.get("b", t0 + 299 * S), Some(DnsAnswer::NotOffered));
        assert_eq!(cache.get("c", t0), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn ttls_are_capped_and_transient_answers_never_kept() {
        let t0 = Instant::now();
        let mut cache = DnsCache::new();
        cache.insert("nx", DnsAnswer::NxDomain, 86_400 * S, t0);
        assert_eq!(cache.get("nx", t0 + MAX_NEGATIVE_TTL), None);
        cache.insert("zero", DnsAnswer::NxDomain, Duration::ZERO, t0);
        cache.insert("t", DnsAnswer::TimedOut, 60 * S, t0);
        cache.insert("f", DnsAnswer::Failed("x".into()), 60 * S, t0);
        cache.insert("m", DnsAnswer::Malformed { record: "r".into(), reason: "x".into() }, 60 * S, t0);
        assert!(cache.is_empty());
    }

    #[test]
    fn size_is_bounded() {
        let t0 = Instant::now();
        let mut cache = DnsCache::new();
        for i in 0..MAX_CACHE_ENTRIES + 10 {
            cache.insert(&format!("n{i}"), DnsAnswer::NxDomain, Duration::from_secs(10 + i as u64), t0);
        }
        assert_eq!(cache.len(), MAX_CACHE_ENTRIES);
        assert_eq!(cache.get("n0", t0), None, "the entry expiring first went");
        assert!(cache.get(&format!("n{}", MAX_CACHE_ENTRIES + 9), t0).is_some());
    }
}
