//! Storage: one set of SQL statements for SQLite and PostgreSQL.
//!
//! sqlx's `Any` driver runs the same runtime-checked queries on both backends; the schema sticks
//! to types both share (TEXT, BIGINT; timestamps as epoch milliseconds) so every row decodes the
//! same way. Placeholders are `$1`-style, which SQLite accepts too.
//!
//! Writes go through [`Db::begin_write`], which hands out a [`WriteTx`]. On PostgreSQL that is a
//! transaction of its own: transactions run concurrently and rows are locked where a read
//! decides a write.
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

pub mod access;
pub mod groups;
pub mod identity;
pub mod keys;
mod migrate;
pub mod page;
pub mod secrets;
mod sqlite_read;
pub mod teams;
pub mod tokens;
pub mod virtual_accounts;

use std::{
    str::FromStr,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use sqlx::{
    Any, AnyConnection, AnyPool, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
    pool::PoolConnection,
};
use tokio::sync::{Mutex, Notify, OwnedMappedMutexGuard, OwnedMutexGuard, oneshot};

use self::sqlite_read::SqliteReaders;

/// An HTTP-agnostic storage failure; `error.rs` maps it to an answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A reference in the request to something that does not exist (404 with this message).
    #[error("{0}")]
    Unknown(String),
    #[error("invalid {field}: {problem}")]
    Invalid { field: String, problem: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From the synchronous SQLite readers (`sqlite_read.rs`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The SQLite transaction this write shared with others failed to commit (or was given up
    /// after a failure): none of its work was kept.
    #[error("group commit failed: {0}")]
    Batch(Arc<sqlx::Error>),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A long read ran past its time limit and was interrupted (see `page::ReadBounds`).
    #[error("the read took longer than {0:?}")]
    TimedOut(Duration),
    /// A sealed value or wrapped key that does not open: tampered with, moved, or under a
    /// master key that is not loaded. Never answered with any value.
    #[error("{row}: {source}")]
    Crypto { row: String, source: crate::crypto::CryptoError },
}

impl From<crate::crypto::CryptoError> for StoreError {
    fn from(source: crate::crypto::CryptoError) -> Self {
        Self::Crypto { row: "data key".to_owned(), source }
    }
}

/// Names the row a crypto failure happened on.
pub(crate) fn sealed_row(row: impl FnOnce() -> String) -> impl FnOnce(crate::crypto::CryptoError) -> StoreError {
    move |source| StoreError::Crypto { row: row(), source }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a pool plus what the backend needs for safe writes.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the shared write transaction (see the module docs).
    writer: Option<Arc<GroupCommit>>,
    /// SQLite on a file only: connections for point reads on the calling thread.
    readers: Option<Arc<SqliteReaders>>,
    /// The last write probe of [`Db::ready`]: when, and whether it succeeded.
    probe: Arc<Mutex<Option<(Instant, bool)>>>,
}

/// How long a write probe's outcome stands: `/readyz` needs no token, so however often it is
/// called, the database sees at most one probe write per this interval.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe write that has not committed by then counts as failed (SQLite waits up to its busy
/// timeout, 10 s, for a lock another process holds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// SQLite's group commit: the batch behind its FIFO mutex, and the flusher's wake-up.
struct GroupCommit {
    batch: Arc<Mutex<Batch>>,
    flush: Arc<Notify>,
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
        return Err(StoreError::Database(sqlx::Error::Protocol("no open write transaction".to_owned())));
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
        Err(e) => Err(StoreError::Database(sqlx::Error::Protocol(format!("write task failed: {e}")))),
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
    /// The connection to run this transaction's statements on.
    pub fn conn(&mut self) -> &mut AnyConnection {
        match &mut self.inner {
            Inner::Postgres(tx) => tx,
            Inner::Sqlite { member, .. } => &mut member.conn,
        }
    }

    /// Commits. On SQLite it returns only once the batch holding this work is committed, so
    /// an `Ok` is durable.
    pub async fn commit(self) -> StoreResult<()> {
        match self.inner {
            Inner::Postgres(tx) => Ok(tx.commit().await?),
            Inner::Sqlite { mut member, wake } => {
                let committed = uncancelled(async move {
                    if let Err(e) = member.exec("RELEASE w").await {
                        return Err(StoreError::Batch(member.fail(e).await));
                    }
                    member.state = TxState::Clean;
                    Ok(wait_for_commit(member, wake))
                })
                .await?;
                outcome(committed).await
            }
        }
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
        Err(_) => Err(StoreError::Batch(Arc::new(sqlx::Error::WorkerCrashed))),
    }
}

impl Db {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file if missing,
    /// and brings the schema up to date. `pool_size` connections at most (default: see below).
    pub async fn connect(url: &str, pool_size: Option<u32>) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL scheme (use sqlite://FILE or postgres://…)");
        };
        let url = match backend {
            // Create the file on first start; sqlx opens read-write without creating by default.
            Backend::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        // Only where SQLite itself would create the file (not with `mode=ro` or `mode=rw`).
        if backend == Backend::Sqlite
            && url.contains("mode=rwc")
            && let Some(file) = sqlite_read::database_file(&url)?
        {
            create_private(&file)?;
        }
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                // Each SQLite connection is a thread that queries are handed to, with a page
                // cache of its own. Secret reads and lists go through the synchronous readers
                // and writes share one connection (group commit), so the pool serves the rest:
                // token checks on a cache miss, single groups, identity routes.
                pool_options
                    .max_connections(pool_size.unwrap_or(4))
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // WAL lets readers run beside the one writer; synchronous=FULL makes
                            // every acknowledged commit durable across power loss, not only
                            // across a crash of this process.
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = FULL",
                                "PRAGMA foreign_keys = ON",
                                "PRAGMA busy_timeout = 10000",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await?
            }
            Backend::Postgres => pool_options.max_connections(pool_size.unwrap_or(16)).connect_with(options).await?,
        };
        let writer = (backend == Backend::Sqlite).then(|| {
            let batch = Arc::new(Mutex::new(Batch::default()));
            let flush = Arc::new(Notify::new());
            tokio::spawn(run_flusher(Arc::downgrade(&batch), flush.clone()));
            Arc::new(GroupCommit { batch, flush })
        });
        let mut db = Self { pool, backend, writer, readers: None, probe: Arc::default() };
        migrate::run(&db).await?;
        if backend == Backend::Sqlite
            && let Some(file) = sqlite_read::database_file(&url)?
        {
            // As many as threads can read inline at once: the runtime's workers, one per core.
            let count = std::thread::available_parallelism().map_or(2, |n| n.get());
            db.readers = Some(Arc::new(SqliteReaders::open(&file, count)?));
        }
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The synchronous point-read connections, on SQLite with a database file.
    pub(crate) fn readers(&self) -> Option<&SqliteReaders> {
        self.readers.as_deref()
    }

    /// Starts a transaction that may write: on SQLite, joins the shared one (see the module
    /// docs).
    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        let Some(writer) = &self.writer else {
            return Ok(WriteTx { inner: Inner::Postgres(self.pool.begin().await?) });
        };
        // Queues on the mutex here (a caller that gives up while queued leaves no trace), then
        // begins in a task of its own.
        let batch = writer.batch.clone().lock_owned().await;
        let wake = Wake(writer.flush.clone());
        uncancelled(join_batch(self.pool.clone(), batch, wake)).await
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// True when the database takes a write: one row of `health_probe` rewritten and committed
    /// (durably, as any write), within [`PROBE_TIMEOUT`]. A database that still answers reads
    /// but not writes (disk full, read-only, a lock held elsewhere) is not ready. The outcome
    /// stands for [`PROBE_EVERY`], and concurrent callers share one probe.
    pub async fn ready(&self) -> bool {
        let mut last = self.probe.lock().await;
        if let Some((at, ok)) = *last
            && at.elapsed() < PROBE_EVERY
        {
            return ok;
        }
        let ok = match tokio::time::timeout(PROBE_TIMEOUT, self.probe_write()).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: the database does not take writes");
                false
            }
            Err(_) => {
                tracing::warn!("readiness: a write did not commit within {PROBE_TIMEOUT:?}");
                false
            }
        };
        *last = Some((Instant::now(), ok));
        ok
    }

    async fn probe_write(&self) -> StoreResult<()> {
        let mut wtx = self.begin_write().await?;
        sqlx::query("UPDATE health_probe SET probed_at = $1 WHERE id = 1").bind(now_ms()).execute(wtx.conn()).await?;
        wtx.commit().await
    }

    /// Commits what the SQLite batch holds, then closes the pool (which waits for every
    /// connection to come back).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            flush(&mut *writer.batch.lock().await).await;
        }
        self.pool.close().await;
    }
}

/// Creates the SQLite database file readable by its owner only (0600), if it does not exist:
/// SQLite would create it with the umask's default (usually 0644), and it holds the wrapped data
/// keys and every sealed value. SQLite gives its `-wal` and `-shm` files the database file's mode.
/// An existing file keeps the mode its operator gave it.
fn create_private(file: &std::path::Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot create {}", file.display()))),
    }
}

/// False for text that no row can hold: PostgreSQL's `text` cannot store U+0000, and a query
/// binding such a string fails (a 500) instead of matching nothing. Ids, names and keys never
/// contain it and values are refused with it (`api::validate::secrets`), so a lookup by such a
/// string finds nothing without asking the database, the same on both backends.
pub fn is_storable(text: &str) -> bool {
    !text.contains('\0')
}

/// Milliseconds since the Unix epoch, the unit of every timestamp column.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A new id: UUIDv7 text, URL-path-safe and ordered by creation time.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Maps a unique-constraint violation to a conflict with `message`; other errors pass through.
pub(crate) fn on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Database(err),
    }
}

/// `$1, $2, …, $n`: the placeholders of an `IN (…)` over `n` binds.
pub(crate) fn placeholders(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A filtered, ordered list query; [`ListQuery::page`] answers one page of it and the number of
/// rows the filter matches in all. Every list of the API goes through it, so `limit`, `offset`
/// and `total` mean the same everywhere.
///
/// The page is found in two steps in one statement: the keys of the page first, filtered,
/// ordered and skipped over the narrow `from` (an index on the filter and order columns serves
/// it without touching the rows), then the full rows of just those keys. Deep pages then cost
/// an index walk, not the assembly (joins, wide columns) of every row skipped.
pub(crate) struct ListQuery<'a> {
    /// The unique key of a row, e.g. `s.id`.
    pub key: &'a str,
    /// `FROM …` that the filter needs (the count and the key step use it).
    pub from: &'a str,
    /// `SELECT … FROM …` of the page's full rows.
    pub select: &'a str,
    /// The `WHERE` condition, with `$1..$n` placeholders for `binds`.
    pub filter: &'a str,
    /// `ORDER BY` columns: a total order, so pages never overlap.
    pub order: &'a str,
    pub binds: &'a [String],
}

impl ListQuery<'_> {
    fn count_sql(&self) -> String {
        format!("SELECT COUNT(*) {} WHERE {}", self.from, self.filter)
    }

    /// The page's rows; `limit` and `offset` are the two binds after [`Self::binds`].
    fn page_sql(&self) -> String {
        format!(
            "{select} WHERE {key} IN (SELECT {key} {from} WHERE {filter} ORDER BY {order} LIMIT ${limit} OFFSET ${offset})
             ORDER BY {order}",
            select = self.select,
            key = self.key,
            from = self.from,
            filter = self.filter,
            order = self.order,
            limit = self.binds.len() + 1,
            offset = self.binds.len() + 2
        )
    }

    pub async fn page<T>(&self, conn: &mut sqlx::AnyConnection, limit: i64, offset: i64) -> StoreResult<(i64, Vec<T>)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let page = self.page_within(conn, limit, offset, |_: &T| true).await?;
        Ok((page.total, page.rows))
    }

    /// [`Self::page`] that stops fetching rows at the first one `fits` refuses (see
    /// [`page::Page::cut_short`]): rows past a page's budget are never held in memory.
    pub async fn page_within<T>(
        &self,
        conn: &mut sqlx::AnyConnection,
        limit: i64,
        offset: i64,
        mut fits: impl FnMut(&T) -> bool + Send,
    ) -> StoreResult<page::Page<T>>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        use futures_util::TryStreamExt as _;
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(self.count_sql()));
        for bind in self.binds {
            count = count.bind(bind);
        }
        let total = count.fetch_one(&mut *conn).await?;
        let mut page = page::Page { total, rows: Vec::new(), cut_short: false };
        if offset >= total {
            return Ok(page);
        }
        let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(self.page_sql()));
        for bind in self.binds {
            query = query.bind(bind);
        }
        let mut rows = query.bind(limit).bind(offset).fetch(conn);
        while let Some(row) = rows.try_next().await? {
            if !fits(&row) {
                page.cut_short = true;
                break;
            }
            page.rows.push(row);
        }
        Ok(page)
    }

    /// [`Self::page`] on a synchronous SQLite reader.
    pub fn page_sqlite<T: FromSqlite>(
        &self,
        conn: &rusqlite::Connection,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(i64, Vec<T>)> {
        let page = self.page_sqlite_within(conn, limit, offset, |_: &T| true)?;
        Ok((page.total, page.rows))
    }

    /// [`Self::page_within`] on a synchronous SQLite reader.
    pub fn page_sqlite_within<T: FromSqlite>(
        &self,
        conn: &rusqlite::Connection,
        limit: i64,
        offset: i64,
        fits: impl FnMut(&T) -> bool,
    ) -> StoreResult<page::Page<T>> {
        let mut binds: Vec<&dyn rusqlite::ToSql> = self.binds.iter().map(|b| b as &dyn rusqlite::ToSql).collect();
        let total = fetch_sqlite::<(i64,)>(conn, &self.count_sql(), &binds)?.first().map_or(0, |(n,)| *n);
        if offset >= total {
            return Ok(page::Page { total, rows: Vec::new(), cut_short: false });
        }
        binds.extend([&limit as &dyn rusqlite::ToSql, &offset]);
        let (rows, cut_short) = fetch_sqlite_while(conn, &self.page_sql(), &binds, fits)?;
        Ok(page::Page { total, rows, cut_short })
    }
}

/// A row type the synchronous SQLite readers can build, reading columns by position in the
/// order of the query it belongs to.
pub(crate) trait FromSqlite: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

/// A single column.
impl<T: rusqlite::types::FromSql> FromSqlite for (T,) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?,))
    }
}

/// Two columns.
impl<A: rusqlite::types::FromSql, B: rusqlite::types::FromSql> FromSqlite for (A, B) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

/// Every row of `sql` on a synchronous SQLite reader; `$N` in `sql` is `binds[N - 1]`.
pub(crate) fn fetch_sqlite<T: FromSqlite>(
    conn: &rusqlite::Connection,
    sql: &str,
    binds: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<T>> {
    Ok(fetch_sqlite_while(conn, sql, binds, |_| true)?.0)
}

/// [`fetch_sqlite`] up to the first row `fits` refuses; true when it stopped there.
pub(crate) fn fetch_sqlite_while<T: FromSqlite>(
    conn: &rusqlite::Connection,
    sql: &str,
    binds: &[&dyn rusqlite::ToSql],
    mut fits: impl FnMut(&T) -> bool,
) -> StoreResult<(Vec<T>, bool)> {
    let mut statement = conn.prepare_cached(sql)?;
    // SQLite numbers `$N` parameters in the order they first appear, not by N (the filters
    // use `$2` before `$1` and some twice), so each is bound by its name, as sqlx does.
    for index in 1..=statement.parameter_count() {
        let name = statement.parameter_name(index).unwrap_or_default().to_owned();
        let bind = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| binds.get(n.checked_sub(1)?))
            .ok_or(rusqlite::Error::InvalidParameterName(name))?;
        statement.raw_bind_parameter(index, bind)?;
    }
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let row = T::from_sqlite(row)?;
        if !fits(&row) {
            return Ok((out, true));
        }
        out.push(row);
    }
    Ok((out, false))
}
