//! Write transactions: [`WriteTx`], and on SQLite the group commit that lets concurrent writers
//! share one transaction (and one fsync).
//!
//! It owns the write transaction's life (begin, savepoints, commit, rollback, the flusher); it
//! must not know what is written: the modules of each table run their statements on
//! [`WriteTx::conn`]. It does not know [`super::Db`] either; `Db::begin_write` calls it.
//!
//! On PostgreSQL a [`WriteTx`] is a transaction of its own: transactions run concurrently and
//! rows are locked where a read decides a write.
//!
//! # Group commit (SQLite)
//!
//! SQLite allows one writer at a time, and with `synchronous = FULL` every COMMIT waits for an
//! fsync of the WAL. One transaction per write therefore caps writes at one per fsync (a few
//! hundred per second), however many clients wait. So concurrent writers share a transaction:
//!
//! - An in-process FIFO mutex guards the batch: the one open write transaction
//!   (`BEGIN IMMEDIATE`, so a transaction that reads and then writes waits for another process's
//!   lock through `busy_timeout` instead of failing with `SQLITE_BUSY`) and the members waiting
//!   for its COMMIT.
//! - Each writer (a *member*) takes the mutex, opens the transaction if none is open, and works
//!   inside `SAVEPOINT w`. [`WriteTx::commit`] does `RELEASE w`, which folds its work into the
//!   transaction, gives up the mutex and waits; [`WriteTx::rollback`], or dropping the
//!   [`WriteTx`] on an error path, undoes just its savepoint (`ROLLBACK TO w; RELEASE w`, done
//!   by whoever takes the mutex next if the member was dropped).
//! - A flusher task, woken whenever a member ends, queues on the same mutex, COMMITs, answers
//!   every waiting member with the outcome and returns the connection to the pool (so
//!   [`Db::close`], which waits for every connection, finishes). The writers that queued on the
//!   mutex ahead of it, while the previous COMMIT was fsyncing, make up the batch.
//!
//! A write is answered only after the COMMIT that contains it succeeded: durability is exactly
//! that of one transaction per write. Members of one batch see each other's uncommitted work,
//! which is the same as running them one after the other, because they commit or fail together.
//! Reads go through other pooled connections and see only committed data, so a client reads its
//! own writes once answered. A member that ends in an error (409, 404, 422…) is answered without
//! waiting for the batch, so if that COMMIT later failed (disk full, I/O error) the error may have
//! been decided on work that was rolled back; a dry run, which answers data, waits.
//!
//! The invariant that keeps a failure from committing half a batch: a member issues
//! `SAVEPOINT w` only right after `BEGIN IMMEDIATE` or after the previous member's savepoint was
//! released or rolled back successfully in the same transaction. Some SQLite errors (I/O,
//! `SQLITE_FULL`, interrupts) silently roll back the whole transaction, after which statements
//! run in autocommit mode and a new `SAVEPOINT` would start a fresh transaction. Each of those
//! statements fails when the transaction is gone (the savepoint no longer exists), so any
//! failure of RELEASE, ROLLBACK TO, SAVEPOINT or COMMIT marks the batch broken: `ROLLBACK`, every
//! waiting member answered with the error (never success), and the connection closed rather
//! than returned to the pool in an unknown state.

use std::sync::{Arc, Weak};

use sqlx::{Any, AnyConnection, AnyPool, Transaction, pool::PoolConnection};
use tokio::sync::{Mutex, Notify, OwnedMappedMutexGuard, OwnedMutexGuard, oneshot};

use super::{
    audit_chain,
    error::{StoreError, StoreResult},
};

/// SQLite's group commit: the batch behind its FIFO mutex, and the flusher's wake-up.
pub(crate) struct GroupCommit {
    batch: Arc<Mutex<Batch>>,
    flush: Arc<Notify>,
}

impl GroupCommit {
    /// An empty batch, and the flusher task that commits it (spawned on the current runtime).
    pub(crate) fn start() -> Self {
        let batch = Arc::new(Mutex::new(Batch::default()));
        let flush = Arc::new(Notify::new());
        tokio::spawn(run_flusher(Arc::downgrade(&batch), flush.clone()));
        Self { batch, flush }
    }

    /// Joins the shared transaction on `pool` (see the module docs).
    pub(crate) async fn begin(&self, pool: &AnyPool) -> StoreResult<WriteTx> {
        // Queues on the mutex here (a caller that gives up while queued leaves no trace), then
        // begins in a task of its own.
        let batch = self.batch.clone().lock_owned().await;
        let wake = Wake(self.flush.clone());
        uncancelled(join_batch(pool.clone(), batch, wake)).await
    }

    /// Runs `work` on `conn`, a synchronous connection to the same database file, as this
    /// process's only writer: with the batch's mutex held and its open transaction committed
    /// first (so SQLite's write lock is free and no member writes meanwhile), on a blocking
    /// thread. One thread hand-off in all, where a member's statements are one each (sqlx runs a
    /// SQLite connection on a thread of its own); the audit trail's batches of read events use
    /// it. It runs to the end even if the caller goes away, like the batch's own transitions.
    pub(crate) async fn exclusive<T: Send + 'static>(
        &self,
        conn: Arc<std::sync::Mutex<rusqlite::Connection>>,
        work: impl FnOnce(&mut rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let batch = self.batch.clone();
        uncancelled(async move {
            let mut batch = batch.lock_owned().await;
            flush(&mut batch).await;
            let run = tokio::task::spawn_blocking(move || {
                // Held until the work is done: no member begins meanwhile.
                let _batch = batch;
                // A panic while holding it leaves no transaction open (rusqlite's Transaction
                // rolls back on drop), so a poisoned lock is still usable.
                let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                work(&mut conn)
            });
            run.await.map_err(|e| StoreError::Internal(format!("exclusive write failed: {e}")))?
        })
        .await
    }

    /// Commits what the batch holds now.
    pub(crate) async fn flush_now(&self) {
        flush(&mut *self.batch.lock().await).await;
    }
}

impl Drop for GroupCommit {
    /// The last `Db` handle is gone: wakes the flusher so it sees that and ends.
    fn drop(&mut self) {
        self.flush.notify_one();
    }
}

/// The open write transaction, if any. Only the holder of the mutex touches it.
#[derive(Default)]
struct Batch {
    open: Option<OpenBatch>,
}

/// What a member waiting for its batch's COMMIT is told: `Ok` once the COMMIT succeeded.
type Waiter = oneshot::Sender<Result<(), Arc<sqlx::Error>>>;
type Committed = oneshot::Receiver<Result<(), Arc<sqlx::Error>>>;

struct OpenBatch {
    /// Holds the transaction begun with `BEGIN IMMEDIATE`.
    conn: PoolConnection<Any>,
    /// Members whose work is released into the transaction, waiting for its COMMIT.
    pending: Vec<Waiter>,
    state: TxState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxState {
    /// No savepoint open: the next member may begin one.
    Clean,
    /// A member's savepoint is open: the member is working, or was dropped without ending it.
    Member,
    /// A statement that ends a savepoint or the transaction failed: rolled back, its members
    /// told, and the connection must not be used again.
    Broken,
}

impl OpenBatch {
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        sqlx::query(sql).execute(&mut *self.conn).await?;
        Ok(())
    }

    /// Gives the transaction up after `err`: every pending member is answered with it first
    /// (before any await, so a cancelled caller cannot leave one waiting), then `ROLLBACK`,
    /// which fails harmlessly if SQLite already rolled back.
    async fn fail(&mut self, err: sqlx::Error) -> Arc<sqlx::Error> {
        tracing::error!(error = %err, members = self.pending.len(), "SQLite group commit failed; batch rolled back");
        let err = Arc::new(err);
        self.state = TxState::Broken;
        for waiter in self.pending.drain(..) {
            let _ = waiter.send(Err(err.clone()));
        }
        let _ = self.exec("ROLLBACK").await;
        err
    }

    /// Undoes the open member's savepoint, keeping the work of the members before it.
    async fn undo_member(&mut self) -> Result<(), Arc<sqlx::Error>> {
        let undone = match self.exec("ROLLBACK TO w").await {
            Ok(()) => self.exec("RELEASE w").await,
            Err(e) => Err(e),
        };
        match undone {
            Ok(()) => {
                self.state = TxState::Clean;
                Ok(())
            }
            Err(e) => Err(self.fail(e).await),
        }
    }
}

/// Ends the open transaction, if any: a dropped member's savepoint undone, COMMIT (the fsync),
/// every pending member answered, and the connection returned to the pool, or closed if the
/// transaction broke.
async fn flush(batch: &mut Batch) {
    let Some(mut open) = batch.open.take() else { return };
    if open.state == TxState::Member {
        let _ = open.undo_member().await;
    }
    if open.state == TxState::Clean {
        match open.exec("COMMIT").await {
            Ok(()) => {
                tracing::debug!(writes = open.pending.len(), "group commit");
                crate::metrics::group_commit(open.pending.len());
                for waiter in open.pending.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
                return;
            }
            Err(e) => {
                open.fail(e).await;
            }
        }
    }
    let _ = open.conn.close().await;
}

/// Commits whatever the members left, each time one of them ends. Holds the batch only weakly,
/// so it ends once every `Db` handle is gone; a runtime shutting down simply drops it.
async fn run_flusher(batch: Weak<Mutex<Batch>>, wake: Arc<Notify>) {
    loop {
        wake.notified().await;
        let Some(batch) = batch.upgrade() else { return };
        flush(&mut *batch.lock().await).await;
    }
}

/// Makes the holder of `batch` a member: a savepoint in the open transaction, which it first
/// brings to where a member may begin (the savepoint of a member dropped without commit or
/// rollback undone, a broken transaction's connection closed, a transaction open).
async fn join_batch(pool: AnyPool, mut batch: OwnedMutexGuard<Batch>, wake: Wake) -> StoreResult<WriteTx> {
    if let Some(open) = batch.open.as_mut()
        && open.state == TxState::Member
    {
        let _ = open.undo_member().await;
    }
    if let Some(open) = batch.open.take_if(|open| open.state == TxState::Broken) {
        let _ = open.conn.close().await;
    }
    if batch.open.is_none() {
        let mut conn = pool.acquire().await?;
        // Fails without beginning (e.g. another process kept the lock past busy_timeout), so the
        // connection goes back to the pool as it was.
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        batch.open = Some(OpenBatch { conn, pending: Vec::new(), state: TxState::Clean });
    }
    let Ok(mut member) = OwnedMutexGuard::try_map(batch, |batch| batch.open.as_mut()) else {
        return Err(StoreError::Internal("no open write transaction".to_owned()));
    };
    if let Err(e) = member.exec("SAVEPOINT w").await {
        return Err(StoreError::Batch(member.fail(e).await));
    }
    member.state = TxState::Member;
    Ok(WriteTx { inner: Inner::Sqlite { member, wake } })
}

/// Runs `work` in a task of its own and waits for it. Used for the statements that move the
/// batch from one state to the next (BEGIN, SAVEPOINT, RELEASE, ROLLBACK TO): a caller dropped
/// half-way (a client that went away) would otherwise leave a transaction begun on a pooled
/// connection, or a savepoint whose fate nobody knows; the task finishes them, and a member
/// nobody takes is dropped and undone like any other.
async fn uncancelled<T: Send + 'static>(work: impl Future<Output = StoreResult<T>> + Send + 'static) -> StoreResult<T> {
    match tokio::spawn(work).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Internal(format!("write task failed: {e}"))),
    }
}

/// Wakes the flusher when dropped, so however a member ends (commit, rollback, or dropped on an
/// error path) the transaction it leaves open is closed promptly, not held until the next write.
struct Wake(Arc<Notify>);

impl Drop for Wake {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// A write transaction. On SQLite a member of the shared transaction: it holds the batch's
/// mutex until it commits or rolls back (see the module docs).
pub struct WriteTx {
    inner: Inner,
}

enum Inner {
    Postgres(Transaction<'static, Any>),
    // In this order, so a dropped member releases the mutex before it wakes the flusher.
    Sqlite { member: OwnedMappedMutexGuard<Batch, OpenBatch>, wake: Wake },
}

impl WriteTx {
    /// A transaction of its own (PostgreSQL).
    pub(crate) async fn begin_alone(pool: &AnyPool) -> StoreResult<Self> {
        Ok(Self { inner: Inner::Postgres(pool.begin().await?) })
    }

    /// The connection to run this transaction's statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Inner::Postgres(tx) => tx,
            Inner::Sqlite { member, .. } => &mut member.conn,
        }
    }

    /// Commits. On SQLite it returns only once the batch holding this work is committed, so
    /// an `Ok` is durable.
    ///
    /// The audit event of the request this write serves, if any (`crate::audit::scope`), is
    /// appended here, last, in the same transaction: the write and its event commit together
    /// or not at all (see `audit_chain`).
    pub async fn commit(self) -> StoreResult<()> {
        let draft = crate::audit::scope::current();
        let mut event = draft.as_ref().and_then(|draft| draft.take_write());
        match self.inner {
            Inner::Postgres(mut tx) => {
                if let Some(event) = event.as_mut() {
                    audit_chain::append(&mut tx, super::Backend::Postgres, event)
                        .await
                        .inspect_err(|_| crate::metrics::audit_events_failed(1))?;
                }
                tx.commit().await?;
            }
            Inner::Sqlite { mut member, wake } => {
                let (committed, appended) = uncancelled(async move {
                    if let Some(event) = event.as_mut()
                        && let Err(e) = audit_chain::append(&mut member.conn, super::Backend::Sqlite, event).await
                    {
                        crate::metrics::audit_events_failed(1);
                        member.undo_member().await.map_err(StoreError::Batch)?;
                        return Err(e);
                    }
                    if let Err(e) = member.exec("RELEASE w").await {
                        return Err(StoreError::Batch(member.fail(e).await));
                    }
                    member.state = TxState::Clean;
                    Ok((wait_for_commit(member, wake), event))
                })
                .await?;
                outcome(committed).await?;
                event = appended;
            }
        }
        if event.is_some() {
            crate::metrics::audit_events_written(1);
        }
        copy_to_audit_file(draft.as_deref(), event).await;
        Ok(())
    }

    /// Rolls back, keeping nothing of this transaction's work.
    pub async fn rollback(self) -> StoreResult<()> {
        match self.inner {
            Inner::Postgres(tx) => Ok(tx.rollback().await?),
            Inner::Sqlite { mut member, wake } => {
                let committed = uncancelled(async move {
                    member.undo_member().await.map_err(StoreError::Batch)?;
                    // What it read may include uncommitted work of earlier members (a dry run
                    // answers it), so it holds only if that work commits.
                    Ok((!member.pending.is_empty()).then(|| wait_for_commit(member, wake)))
                })
                .await?;
                match committed {
                    Some(committed) => outcome(committed).await,
                    None => Ok(()),
                }
            }
        }
    }
}

/// Joins the batch's waiting members and lets the next writer in; the answer comes after the
/// COMMIT.
fn wait_for_commit(mut member: OwnedMappedMutexGuard<Batch, OpenBatch>, wake: Wake) -> Committed {
    let (waiter, committed) = oneshot::channel();
    member.pending.push(waiter);
    drop(member);
    drop(wake);
    committed
}

async fn outcome(committed: Committed) -> StoreResult<()> {
    match committed.await {
        Ok(result) => result.map_err(StoreError::Batch),
        // Only when the runtime is shutting down: nothing says the batch committed.
        Err(_) => Err(StoreError::Internal("the group commit ended without an answer".to_owned())),
    }
}

/// The committed write's event copied to `SG_AUDIT_FILE`, if configured. The write is committed
/// and its event is in the database (the record `audit verify` checks), so a failing copy is
/// logged, not turned into a failed write.
async fn copy_to_audit_file(draft: Option<&crate::audit::scope::Draft>, event: Option<crate::audit::event::Event>) {
    let (Some(sink), Some(event)) = (draft.and_then(|draft| draft.sink()), event) else { return };
    if let Err(e) = crate::audit::file::write_async(sink.clone(), vec![event]).await {
        tracing::error!(error = %e, file = %sink.path().display(), "cannot copy an audit event to the audit file");
    }
}
