//! Throttles failed authentication without ever refusing a valid credential.
//!
//! Tokens are 256-bit random, so guessing one online is hopeless; what the limit protects is the
//! server's time (a database lookup per presented token). So:
//! - Only well-formed tokens (`tfy_sg_…`, and the former `sgt_…`) that are not valid count as
//!   failures: they are what costs a lookup. Anything else is refused by its shape alone, so it
//!   is always a plain 401.
//! - Failures are counted per client (the address [`crate::client_addr`] gives, IPv6 grouped by
//!   /64, since one host usually holds a whole /64). Past the limit in a window, the client's
//!   *failed* attempts are answered 429 with `Retry-After` until the window ends.
//! - A valid token is always served, whoever presents it. One in the verified-token cache is
//!   served without any lookup. From a client over its limit, any other token is looked up only
//!   if it is *known*: seen valid by this process, or among the valid tokens that the catch-up
//!   ([`AuthLimiter::catch_up`], `auth.rs`) loads from the database, at most once a second, when a
//!   throttled client presents a token that is not known. An unknown token is answered 429
//!   without a lookup of its own. The answer to a throttled client is 429 for every token that is
//!   not valid, known or not, so it tells nothing a 200 would not.
//!
//! Both tables are bounded LRU maps (`hashlink`, which sqlx already uses): a fixed cap, O(1) per
//! operation, the least recently seen entry evicted first. Nothing is ever scanned.

use std::{
    hash::{BuildHasher as _, RandomState},
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use hashlink::LruCache;

/// Most clients whose failures are remembered at once.
const MAX_CLIENTS: usize = 10_000;
/// Most tokens remembered as known, by a 64-bit fingerprint (about 40 bytes each).
const MAX_KNOWN_TOKENS: usize = 50_000;
/// How long a token seen valid lets a throttled client's request reach the database.
const KNOWN_FOR: Duration = Duration::from_secs(24 * 3600);

pub struct AuthLimiter {
    /// Failures allowed per window; 0 turns the limiter off.
    limit: u32,
    window: Duration,
    clients: Mutex<LruCache<IpAddr, Entry>>,
    /// Fingerprints of known tokens' keyed hashes, and when they were last known valid. A
    /// fingerprint shared by chance costs one lookup, never an answer.
    known: Mutex<LruCache<u64, Instant>>,
    fingerprints: RandomState,
    /// Where the catch-up of known tokens stands; its lock makes catch-ups single-flight.
    pub catch_up: tokio::sync::Mutex<CatchUp>,
}

/// How far the catch-up of valid tokens from the database got.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// The newest `created_at` seen (epoch ms); the next catch-up starts a margin before it.
    pub newest: i64,
    /// When the last catch-up ran; the next waits [`CATCH_UP_EVERY`].
    pub at: Option<Instant>,
}

impl CatchUp {
    /// True when a catch-up may run now.
    pub fn due(&self) -> bool {
        self.at.is_none_or(|at| at.elapsed() >= CATCH_UP_EVERY)
    }
}

/// At most one catch-up query per this interval, however many throttled requests arrive.
pub const CATCH_UP_EVERY: Duration = Duration::from_secs(1);

struct Entry {
    window_start: Instant,
    failures: u32,
}

/// The key failures are counted under: the address, or for IPv6 its /64.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl AuthLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, MAX_CLIENTS)
    }

    /// As [`AuthLimiter::new`], remembering at most `clients` clients.
    pub fn with_capacity(limit: u32, window: Duration, clients: usize) -> Self {
        Self {
            limit,
            window,
            clients: Mutex::new(LruCache::new(clients.max(1))),
            known: Mutex::new(LruCache::new(MAX_KNOWN_TOKENS)),
            fingerprints: RandomState::new(),
            catch_up: tokio::sync::Mutex::new(CatchUp::default()),
        }
    }

    /// Seconds until `ip`'s window ends when it is over its limit, else `None`.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = clients.get(&client_key(ip))?;
        let left = self.window.checked_sub(entry.window_start.elapsed())?;
        // Rounded up, so a client that waits as told is never still refused.
        (entry.failures >= self.limit).then(|| left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Counts one failed authentication of `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let key = client_key(ip);
        let failures = match clients.get_mut(&key) {
            Some(entry) if now.duration_since(entry.window_start) < self.window => {
                entry.failures = entry.failures.saturating_add(1);
                entry.failures
            }
            Some(entry) => {
                *entry = Entry { window_start: now, failures: 1 };
                1
            }
            None => {
                // Evicts the least recently seen client when full.
                clients.insert(key, Entry { window_start: now, failures: 1 });
                1
            }
        };
        // Counted once per window, when the client reaches its limit.
        if failures == self.limit {
            crate::metrics::client_throttled();
        }
    }

    /// Remembers that the token with this keyed hash was valid just now.
    pub fn remember_valid(&self, token_hash: &str) {
        if self.limit == 0 {
            return;
        }
        let fingerprint = self.fingerprints.hash_one(token_hash);
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match known.get_mut(&fingerprint) {
            Some(seen) => *seen = Instant::now(),
            None => {
                known.insert(fingerprint, Instant::now());
            }
        }
    }

    /// Forgets the token: it was looked up and is not valid (any more).
    pub fn forget(&self, token_hash: &str) {
        let fingerprint = self.fingerprints.hash_one(token_hash);
        self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&fingerprint);
    }

    /// True when the token was known valid within [`KNOWN_FOR`]: worth a lookup even from a throttled
    /// client. Never a reason to serve it: the lookup decides.
    pub fn is_known_valid(&self, token_hash: &str) -> bool {
        let fingerprint = self.fingerprints.hash_one(token_hash);
        let mut known = self.known.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        known.get(&fingerprint).is_some_and(|seen| seen.elapsed() < KNOWN_FOR)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let limiter = AuthLimiter::new(3, Duration::from_millis(200));
        let (client, other) = (ip("192.0.2.1"), ip("192.0.2.2"));
        for _ in 0..2 {
            limiter.record_failure(client);
        }
        assert_eq!(limiter.blocked_for(client), None, "under the limit");
        limiter.record_failure(client);
        assert_eq!(limiter.blocked_for(client), Some(1), "at the limit; Retry-After is at least 1 s");
        assert_eq!(limiter.blocked_for(other), None, "other clients are not affected");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.blocked_for(client), None, "the window ended");
        limiter.record_failure(client);
        assert_eq!(limiter.blocked_for(client), None, "a new window starts from one failure");
    }

    #[test]
    fn zero_turns_it_off() {
        let limiter = AuthLimiter::new(0, Duration::from_secs(60));
        for _ in 0..100 {
            limiter.record_failure(ip("192.0.2.1"));
        }
        assert_eq!(limiter.blocked_for(ip("192.0.2.1")), None);
    }

    #[test]
    fn the_table_is_bounded_and_evicts_the_least_recently_seen() {
        let limiter = AuthLimiter::with_capacity(1, Duration::from_secs(60), 4);
        for i in 0..1000u32 {
            limiter.record_failure(IpAddr::from(i.to_be_bytes()));
            assert!(limiter.tracked() <= 4, "{} clients tracked", limiter.tracked());
        }
        // The last four are remembered (and over their limit of 1); the first is gone.
        for i in 996..1000u32 {
            assert!(limiter.blocked_for(IpAddr::from(i.to_be_bytes())).is_some(), "client {i}");
        }
        assert_eq!(limiter.blocked_for(IpAddr::from(0u32.to_be_bytes())), None);
        // Looking a client up makes it recent: a new client then evicts another one.
        assert!(limiter.blocked_for(IpAddr::from(996u32.to_be_bytes())).is_some());
        limiter.record_failure(ip("198.51.100.1"));
        assert!(limiter.blocked_for(IpAddr::from(996u32.to_be_bytes())).is_some());
        assert_eq!(limiter.blocked_for(IpAddr::from(997u32.to_be_bytes())), None);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let limiter = AuthLimiter::new(2, Duration::from_secs(60));
        limiter.record_failure(ip("2001:db8:1:2::1"));
        limiter.record_failure(ip("2001:db8:1:2:ffff:ffff:ffff:fffe"));
        assert!(limiter.blocked_for(ip("2001:db8:1:2::99")).is_some(), "same /64");
        assert_eq!(limiter.blocked_for(ip("2001:db8:1:3::1")), None, "next /64");
        assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"), "IPv4-mapped is IPv4");
    }

    #[test]
    fn known_valid_tokens_are_remembered_only_when_limiting() {
        let limiter = AuthLimiter::new(2, Duration::from_secs(60));
        assert!(!limiter.is_known_valid("h"));
        limiter.remember_valid("h");
        assert!(limiter.is_known_valid("h"));
        assert!(!limiter.is_known_valid("other"));
        let off = AuthLimiter::new(0, Duration::from_secs(60));
        off.remember_valid("h");
        assert!(!off.is_known_valid("h"));
        limiter.forget("h");
        assert!(!limiter.is_known_valid("h"), "a token found invalid is forgotten");
    }
}
