//! Storage: one set of SQL statements for SQLite and PostgreSQL.
//!
//! sqlx's `Any` driver runs the same runtime-checked queries on both backends; the schema sticks
//! to types both share (TEXT, BIGINT; timestamps as epoch milliseconds) so every row decodes the
//! same way. Placeholders are `$1`-style, which SQLite accepts too.
//!
//! Writes go through [`Db::begin_write`]. On SQLite it takes an in-process lock and opens the
//! transaction with `BEGIN IMMEDIATE`: SQLite allows one writer at a time, and a deferred
//! transaction that reads and then writes can fail with `SQLITE_BUSY` instead of waiting. On
//! PostgreSQL transactions run concurrently and rows are locked where a read decides a write.

pub mod access;
pub mod groups;
pub mod identity;
pub mod keys;
mod migrate;
pub mod secrets;
pub mod teams;
pub mod tokens;
pub mod virtual_accounts;

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Any, AnyPool, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
};
use tokio::sync::{Mutex, OwnedMutexGuard};

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
    #[error("corrupt row: {0}")]
    Corrupt(String),
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
    /// SQLite only: serialises this process's writers (see the module docs).
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A write transaction; on SQLite it also holds the writer lock until it ends.
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// The connection to run this transaction's statements on.
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Commits; the SQLite writer lock is released only after the commit is durable.
    pub async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back, keeping nothing of this transaction's work.
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
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
        let options = AnyConnectOptions::from_str(&url)?;
        let pool_options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            Backend::Sqlite => {
                // Each SQLite connection is a thread that queries are handed to. Measured with
                // scripts/bench.sh (get-secret, 2 cores): 2 → 5.1k req/s, 4 → 5.9k, 8 → 7.4k,
                // 16 → 6.1k (and more memory: a page cache per connection).
                pool_options
                    .max_connections(pool_size.unwrap_or(8))
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
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let db = Self { pool, backend, write_lock };
        migrate::run(&db).await?;
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a transaction that may write.
    pub async fn begin_write(&self) -> StoreResult<WriteTx> {
        let guard = match &self.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _guard: guard })
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
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
    pub async fn page<T>(&self, conn: &mut sqlx::AnyConnection, limit: i64, offset: i64) -> StoreResult<(i64, Vec<T>)>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        let count_sql = format!("SELECT COUNT(*) {} WHERE {}", self.from, self.filter);
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(count_sql));
        for bind in self.binds {
            count = count.bind(bind);
        }
        let total = count.fetch_one(&mut *conn).await?;
        if offset >= total {
            return Ok((total, Vec::new()));
        }
        let page_sql = format!(
            "{select} WHERE {key} IN (SELECT {key} {from} WHERE {filter} ORDER BY {order} LIMIT ${limit} OFFSET ${offset})
             ORDER BY {order}",
            select = self.select,
            key = self.key,
            from = self.from,
            filter = self.filter,
            order = self.order,
            limit = self.binds.len() + 1,
            offset = self.binds.len() + 2
        );
        let mut page = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(page_sql));
        for bind in self.binds {
            page = page.bind(bind);
        }
        Ok((total, page.bind(limit).bind(offset).fetch_all(conn).await?))
    }
}
