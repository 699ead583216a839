//! The connections being served, so that when the cap is reached the one that has waited
//! longest for a request head (a silent new socket, a slow head, an idle kept-alive
//! connection) can be closed to make room: a flood of idle sockets then costs a real client
//! nothing but a reconnect, where a plain cap would lock it out for the header timeout.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use tokio::{sync::Notify, time::Instant};

use super::guard::Progress;

#[derive(Debug)]
pub struct Registry {
    epoch: Instant,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Entry>>>,
}

/// What the registry knows of one connection.
#[derive(Debug)]
pub struct Entry {
    pub progress: Arc<Progress>,
    /// Told when the connection is chosen to make room.
    pub evict: Notify,
    chosen: AtomicBool,
}

/// A connection's place in the registry; leaving it (drop) removes the connection.
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
    pub entry: Arc<Entry>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.open.lock() {
            open.remove(&self.id);
        }
    }
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { epoch: Instant::now(), next_id: AtomicU64::new(0), open: Mutex::new(HashMap::new()) })
    }

    /// Adds a new connection.
    pub fn register(self: &Arc<Self>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(Entry {
            progress: Arc::new(Progress::new(self.epoch)),
            evict: Notify::new(),
            chosen: AtomicBool::new(false),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, entry.clone());
        }
        Registration { registry: self.clone(), id, entry }
    }

    /// Tells the (up to) `count` connections that have waited longest for a head to close;
    /// returns how many were told (0 when every connection is inside a request). Several at a
    /// time, so that a flood of new connections pays for this scan (at most the cap, only when
    /// the cap is reached) once per `count` of them.
    pub fn evict_longest_waiting(&self, count: usize) -> usize {
        let Ok(open) = self.open.lock() else { return 0 };
        let mut waiting: Vec<(u64, Arc<Entry>)> = open
            .values()
            .filter(|entry| !entry.chosen.load(Ordering::Acquire))
            .filter_map(|entry| entry.progress.waiting_since().map(|since| (since, entry.clone())))
            .collect();
        drop(open);
        if waiting.len() > count {
            waiting.select_nth_unstable_by_key(count, |(since, _)| *since);
            waiting.truncate(count);
        }
        for (_, entry) in &waiting {
            entry.chosen.store(true, Ordering::Release);
            // A permit is stored if the connection is not listening yet.
            entry.evict.notify_one();
        }
        waiting.len()
    }
}
