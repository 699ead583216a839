//! The database handle [`Db`]: connecting (URL, pool, SQLite pragmas, the private database
//! file), the schema brought up to date, the synchronous SQLite readers, and the health probes.
//!
//! It owns how connections are made and handed out; it must not hold SQL of any table beyond
//! the health probe: the table modules do, over [`Db::pool`], [`Db::readers`] and
//! [`Db::begin_write`].

use std::{
    str::FromStr,
    sync::Arc,
    time::{Duration, Instant},
};

use sqlx::{
    AnyPool,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::Mutex;

use super::{
    Backend,
    error::StoreResult,
    migrate, now_ms,
    sqlite_read::{self, SqliteReaders},
    write::{GroupCommit, WriteTx},
};

/// The database: a pool plus what the backend needs for safe writes.
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// SQLite only: the shared write transaction (see `store::write`).
    writer: Option<Arc<GroupCommit>>,
    /// SQLite on a file only: connections for point reads on the calling thread.
    readers: Option<Arc<SqliteReaders>>,
    /// SQLite on a file only: a synchronous connection for writes made under
    /// [`GroupCommit::exclusive`] (the audit trail's batches).
    inline_writer: Option<Arc<std::sync::Mutex<rusqlite::Connection>>>,
    /// The last write probe of [`Db::ready`]: when, and whether it succeeded.
    probe: Arc<Mutex<Option<(Instant, bool)>>>,
}

/// How long a write probe's outcome stands: `/readyz` needs no token, so however often it is
/// called, the database sees at most one probe write per this interval.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// A probe write that has not committed by then counts as failed (SQLite waits up to its busy
/// timeout, 10 s, for a lock another process holds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

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
        let writer = (backend == Backend::Sqlite).then(|| Arc::new(GroupCommit::start()));
        let mut db = Self { pool, backend, writer, readers: None, inline_writer: None, probe: Arc::default() };
        migrate::run(backend, db.begin_write().await?).await?;
        if backend == Backend::Sqlite
            && let Some(file) = sqlite_read::database_file(&url)?
        {
            // As many as threads can read inline at once: the runtime's workers, one per core.
            let count = std::thread::available_parallelism().map_or(2, |n| n.get());
            // List pages: as many as the list gate admits at once.
            db.readers = Some(Arc::new(SqliteReaders::open(&file, count, super::long_read_slots())?));
            db.inline_writer = Some(Arc::new(std::sync::Mutex::new(sqlite_read::open_writer(&file)?)));
        }
        Ok(db)
    }

    /// Whether [`Self::exclusive_inline`] has a synchronous connection to run on.
    pub(crate) fn writes_inline(&self) -> bool {
        self.writer.is_some() && self.inline_writer.is_some()
    }

    /// Runs `work` as this process's only writer on a synchronous connection (see
    /// [`GroupCommit::exclusive`]); `None` where there is none (PostgreSQL, in-memory SQLite).
    pub(crate) async fn exclusive_inline<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    ) -> Option<StoreResult<T>> {
        let (Some(writer), Some(conn)) = (&self.writer, &self.inline_writer) else { return None };
        Some(writer.exclusive(conn.clone(), work).await)
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

    /// Starts a transaction that may write: on SQLite, joins the shared one (see
    /// `store::write`).
    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        match &self.writer {
            Some(writer) => writer.begin(&self.pool).await,
            None => WriteTx::begin_alone(&self.pool).await,
        }
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
            writer.flush_now().await;
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
