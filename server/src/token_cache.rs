//! A short-lived cache of verified tokens, so that a client's requests do not each cost a
//! database lookup of its token.
//!
//! Rules that keep it safe:
//! - Keyed by the token's keyed hash, never the token; an entry holds the caller it stands for.
//!
//! The cache is generic over what it holds (the server keeps `crate::caller::Caller`s in it), so
//! it depends on no other module of the server but `metrics` (which depends on none): `auth`
//! uses it through `state`, and a cache that named `auth`'s types would close a circle.
//! - An entry lives at most the TTL (`SG_TOKEN_CACHE_TTL_MS`, default 1 s) and never past the
//!   token's or its account's expiry.
//! - Every change to identities through this process (users, tokens, virtual accounts, teams)
//!   clears the whole cache when it completes, so a revoke or a role change here takes effect at
//!   once. A lookup that started before the clear cannot put its (possibly stale) answer back:
//!   the clear bumps a generation that the insert checks.
//! - A change made elsewhere (another replica, the CLI, SQL) takes effect within the TTL: that is
//!   the bound for several replicas on one PostgreSQL.
//! - Group roles are never cached: they are read on every request, so collaborator changes
//!   apply at once on every replica.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Most tokens remembered at once; beyond it expired entries are dropped, then all.
const MAX_ENTRIES: usize = 10_000;

pub struct TokenCache<V> {
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Entry<V>>>,
}

struct Entry<V> {
    caller: V,
    until: Instant,
}

impl<V: Clone> TokenCache<V> {
    /// A cache keeping entries for `ttl`; a zero TTL turns it off.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, generation: AtomicU64::new(0), entries: RwLock::new(HashMap::new()) }
    }

    /// The caller `token_hash` was verified as, if that was less than the TTL ago.
    pub fn get(&self, token_hash: &str) -> Option<V> {
        let found = self.entries.read().ok().and_then(|entries| {
            let entry = entries.get(token_hash)?;
            (entry.until > Instant::now()).then(|| entry.caller.clone())
        });
        match found {
            Some(_) => crate::metrics::token_cache_hit(),
            None => crate::metrics::token_cache_miss(),
        }
        found
    }

    /// Taken before a lookup; pass it to [`TokenCache::insert`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remembers a verified caller, unless the cache was cleared since `generation` was taken.
    /// `valid_for` is how much longer the token itself is valid (`None`: no expiry).
    pub fn insert(&self, generation: u64, token_hash: String, caller: V, valid_for: Option<Duration>) {
        if self.ttl.is_zero() {
            return;
        }
        let lifetime = valid_for.map_or(self.ttl, |left| left.min(self.ttl));
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the write lock: a clear takes the same lock after bumping the
        // generation, so no insert can slip in between the two.
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let now = Instant::now();
            entries.retain(|_, e| e.until > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(token_hash, Entry { caller, until: Instant::now() + lifetime });
    }

    /// Forgets everything; lookups in flight will not repopulate it.
    pub fn clear(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut entries) = self.entries.write() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> String {
        "user u".to_owned()
    }

    #[test]
    fn entries_expire_and_clears_win_over_lookups_in_flight() {
        let cache = TokenCache::new(Duration::from_secs(60));
        let generation = cache.generation();
        cache.insert(generation, "h".into(), caller(), None);
        assert!(cache.get("h").is_some());
        assert!(cache.get("other").is_none());

        // A lookup that began before a clear does not put its answer back.
        let before = cache.generation();
        cache.clear();
        assert!(cache.get("h").is_none());
        cache.insert(before, "h".into(), caller(), None);
        assert!(cache.get("h").is_none());

        // Never past the token's own expiry.
        cache.insert(cache.generation(), "short".into(), caller(), Some(Duration::ZERO));
        assert!(cache.get("short").is_none());

        let off = TokenCache::new(Duration::ZERO);
        off.insert(off.generation(), "h".into(), caller(), None);
        assert!(off.get("h").is_none());
    }
}
