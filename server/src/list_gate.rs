//! Admission to the long list reads (pages that scan: `search`, tenant-wide lists, lists with
//! values), so that one caller's expensive lists cannot starve everyone else's.
//!
//! Two queues, both FIFO (tokio's semaphore is fair) and both waited on asynchronously, so a
//! queued list holds no thread and no database connection:
//! - per caller (the token's principal): at most [`PER_CALLER`] of a caller's lists are admitted
//!   or queued for the shared slots at once; the caller's other lists wait behind their own;
//! - shared: at most `slots` long reads run at once (on SQLite, as many as there are list-page
//!   connections, so none of them ever blocks a worker thread waiting for a connection).
//!
//! A caller who sends 32 lists at once therefore stands in the shared queue with 2 of them, and
//! another caller's list waits for at most 2 lists per other active caller, not for 32. A list
//! that cannot be admitted within the queue timeout is answered 503 with `Retry-After`.
//! Point lookups (`fqn`, one group's keys, `secretFqns` without values) never come here.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Lists one caller may have admitted or waiting for a shared slot at once.
pub const PER_CALLER: usize = 2;

pub struct ListGate {
    shared: Arc<Semaphore>,
    callers: Mutex<HashMap<String, Arc<Semaphore>>>,
    queue_timeout: Duration,
}

/// Holds a list's admission until dropped.
pub struct ListPermit<'a> {
    gate: &'a ListGate,
    caller: String,
    shared: Option<OwnedSemaphorePermit>,
    own: Option<OwnedSemaphorePermit>,
}

/// The list waited longer than the queue timeout.
#[derive(Debug)]
pub struct QueueTimeout(pub Duration);

impl ListGate {
    pub fn new(slots: usize, queue_timeout: Duration) -> Self {
        Self { shared: Arc::new(Semaphore::new(slots.max(1))), callers: Mutex::default(), queue_timeout }
    }

    /// Waits (at most the queue timeout) until `caller` may run a long list.
    pub async fn enter(&self, caller: &str) -> Result<ListPermit<'_>, QueueTimeout> {
        let queue = self.caller_queue(caller);
        let admitted = tokio::time::timeout(self.queue_timeout, async {
            let own = queue.clone().acquire_owned().await.ok()?;
            let shared = self.shared.clone().acquire_owned().await.ok()?;
            Some((own, shared))
        })
        .await;
        drop(queue);
        match admitted {
            Ok(Some((own, shared))) => {
                Ok(ListPermit { gate: self, caller: caller.to_owned(), shared: Some(shared), own: Some(own) })
            }
            // The semaphores are never closed: a timeout is the only way here.
            _ => {
                self.forget_if_idle(caller, None);
                Err(QueueTimeout(self.queue_timeout))
            }
        }
    }

    fn caller_queue(&self, caller: &str) -> Arc<Semaphore> {
        let mut callers = self.callers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        callers.entry(caller.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(PER_CALLER))).clone()
    }

    /// Releases `own` and forgets the caller's queue once nothing else holds or waits on it, so
    /// the table holds only callers with lists in flight (bounded by the connection cap, not by
    /// history). Under the table's lock, so no `enter` can pick up a queue being forgotten.
    fn forget_if_idle(&self, caller: &str, own: Option<OwnedSemaphorePermit>) {
        let mut callers = self.callers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        drop(own);
        // The table's reference is the only one left: no permit, no waiter.
        if callers.get(caller).is_some_and(|queue| Arc::strong_count(queue) == 1) {
            callers.remove(caller);
        }
    }

    /// Callers with a queue right now (admitted or waiting lists).
    pub fn tracked_callers(&self) -> usize {
        self.callers.lock().map_or(0, |callers| callers.len())
    }
}

impl Drop for ListPermit<'_> {
    fn drop(&mut self) {
        // The shared slot first: the next caller in the shared queue may start at once.
        drop(self.shared.take());
        self.gate.forget_if_idle(&self.caller, self.own.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_with_many_lists_cannot_starve_another() {
        let gate = Arc::new(ListGate::new(1, Duration::from_secs(5)));
        // The heavy caller's first list holds the only shared slot.
        let first = gate.enter("heavy").await.expect("admitted");
        // Its next lists queue: one behind its own second slot for the shared slot, the rest
        // behind its own queue.
        let mut heavy = Vec::new();
        for _ in 0..8 {
            let gate = gate.clone();
            heavy.push(tokio::spawn(async move {
                let _permit = gate.enter("heavy").await.expect("admitted");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let light = {
            let gate = gate.clone();
            tokio::spawn(async move {
                let started = tokio::time::Instant::now();
                let _permit = gate.enter("light").await.expect("admitted");
                started.elapsed()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(first);
        let waited = light.await.expect("light");
        // Behind at most one more heavy list (20 ms), not eight (160 ms).
        assert!(waited < Duration::from_millis(120), "waited {waited:?}");
        for task in heavy {
            task.await.expect("heavy");
        }
        assert_eq!(gate.tracked_callers(), 0, "queues of idle callers are forgotten");
    }

    #[tokio::test]
    async fn a_list_that_waits_too_long_is_refused() {
        let gate = ListGate::new(1, Duration::from_millis(50));
        let _held = gate.enter("a").await.expect("admitted");
        assert!(gate.enter("b").await.is_err(), "the only slot is held");
        assert_eq!(gate.tracked_callers(), 1, "the refused caller's queue is forgotten");
    }
}
