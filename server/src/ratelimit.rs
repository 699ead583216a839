//! Slows down token guessing: a client address that presents too many invalid credentials in a
//! window is refused (429 + `Retry-After`) for the rest of that window, whatever it presents,
//! so the answer never tells a valid token from an invalid one. Memory is bounded: the table is
//! cleared of stale entries when it grows past a limit.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Most client addresses remembered at once; beyond it stale ones are dropped first.
const MAX_TRACKED: usize = 10_000;

pub struct AuthLimiter {
    /// Failures allowed per window; 0 turns the limiter off.
    limit: u32,
    window: Duration,
    clients: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    window_start: Instant,
    failures: u32,
}

impl AuthLimiter {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self { limit, window, clients: Mutex::new(HashMap::new()) }
    }

    /// Seconds to wait when `ip` is over its limit, else `None`.
    pub fn blocked_for(&self, ip: IpAddr) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = clients.get(&ip)?;
        let elapsed = entry.window_start.elapsed();
        (entry.failures >= self.limit && elapsed < self.window).then(|| (self.window - elapsed).as_secs().max(1))
    }

    pub fn record_failure(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if clients.len() >= MAX_TRACKED {
            let window = self.window;
            clients.retain(|_, entry| now.duration_since(entry.window_start) < window);
        }
        let entry = clients.entry(ip).or_insert(Entry { window_start: now, failures: 0 });
        if now.duration_since(entry.window_start) >= self.window {
            *entry = Entry { window_start: now, failures: 0 };
        }
        entry.failures = entry.failures.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let limiter = AuthLimiter::new(3, Duration::from_millis(200));
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..2 {
            limiter.record_failure(ip);
        }
        assert_eq!(limiter.blocked_for(ip), None, "under the limit");
        limiter.record_failure(ip);
        assert_eq!(limiter.blocked_for(ip), Some(1), "at the limit; Retry-After is at least 1 s");
        assert_eq!(limiter.blocked_for(other), None, "other clients are not affected");
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(limiter.blocked_for(ip), None, "the window ended");
    }

    #[test]
    fn zero_turns_it_off() {
        let limiter = AuthLimiter::new(0, Duration::from_secs(60));
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        for _ in 0..100 {
            limiter.record_failure(ip);
        }
        assert_eq!(limiter.blocked_for(ip), None);
    }
}
