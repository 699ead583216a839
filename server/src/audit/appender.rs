//! The batching appender: events of reads and refusals from many requests appended in one
//! transaction, each request told through a oneshot whether its event is durable.
//!
//! One task takes whatever is queued (up to [`MAX_BATCH`]) whenever a batch slot is free, so the
//! events that arrive while batches commit share the next commit and its fsync (on a SQLite file
//! the batch runs on the synchronous writer while writes wait, one thread hand-off in all; see
//! `crate::store::audit::append_all`). It must not decide which events are due (`scope`,
//! `capture`).

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::{event::Event, file::FileSink};
use crate::store::{Db, audit};

/// Most events in one transaction.
const MAX_BATCH: usize = 512;
/// Batches being appended at once on PostgreSQL (transactions of their own, on random lanes).
/// On a SQLite file a batch is a transaction of the synchronous writer, alone in the process
/// (`Db::exclusive_inline`), so batches could only queue for it: there one runs at a time, and
/// the events that arrive while it commits make up the next one (measured: 1 in flight gave
/// get-secret 82 % of its rate without the trail, 4 gave 51 %: four small batches, four fsyncs).
const IN_FLIGHT: usize = 4;
/// Events waiting for a batch before senders wait for room.
const QUEUE: usize = 8192;

/// Why an event could not be made durable (for the log; the client gets a plain 500).
pub type AppendError = String;

struct Job {
    event: Event,
    done: oneshot::Sender<Result<(), AppendError>>,
}

#[derive(Clone)]
pub struct Appender {
    jobs: mpsc::Sender<Job>,
    timeout: Duration,
}

impl Appender {
    /// Starts the appending task on the current runtime; it ends when every `Appender` is gone.
    pub fn start(db: Db, sink: Option<Arc<FileSink>>, timeout: Duration) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, sink, queue));
        Self { jobs, timeout }
    }

    /// Appends `event` and waits until it is committed (and copied to the audit file), at most
    /// the timeout.
    pub async fn append(&self, event: Event) -> Result<(), AppendError> {
        let (done, outcome) = oneshot::channel();
        let wait = async {
            self.jobs.send(Job { event, done }).await.map_err(|_| "the audit appender has stopped".to_owned())?;
            outcome.await.map_err(|_| "the audit appender dropped the event".to_owned())?
        };
        match tokio::time::timeout(self.timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(format!("the audit event was not durable within {} ms", self.timeout.as_millis())),
        }
    }
}

async fn run(db: Db, sink: Option<Arc<FileSink>>, mut queue: mpsc::Receiver<Job>) {
    let slots = Arc::new(Semaphore::new(if db.writes_inline() { 1 } else { IN_FLIGHT }));
    loop {
        // A free slot first, then whatever queued meanwhile: while every slot is busy, events
        // gather into the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        tokio::spawn(commit_batch(db.clone(), sink.clone(), batch, slot));
    }
}

/// Appends one batch, copies it to the file, and tells every waiter the outcome.
async fn commit_batch(db: Db, sink: Option<Arc<FileSink>>, batch: Vec<Job>, _slot: OwnedSemaphorePermit) {
    let (events, waiters): (Vec<Event>, Vec<_>) = batch.into_iter().map(|job| (job.event, job.done)).unzip();
    let started = std::time::Instant::now();
    let appended = audit::append_all(&db, events).await.map_err(|e| format!("database: {e}"));
    tracing::debug!(events = waiters.len(), micros = started.elapsed().as_micros(), "audit batch");
    let mut result = appended.as_ref().map(|_| ()).map_err(Clone::clone);
    if let (Ok(events), Some(sink)) = (appended, &sink)
        && let Err(e) = super::file::write_async(sink.clone(), events).await
    {
        result = Err(format!("audit file {}: {e}", sink.path().display()));
    }
    match &result {
        Ok(()) => crate::metrics::audit_events_written(waiters.len() as u64),
        Err(e) => {
            crate::metrics::audit_events_failed(waiters.len() as u64);
            tracing::error!(error = %e, events = waiters.len(), "cannot store audit events; their requests fail");
        }
    }
    for waiter in waiters {
        let _ = waiter.send(result.clone());
    }
}
