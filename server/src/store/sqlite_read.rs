//! Synchronous SQLite connections for the hottest point reads.
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each query, and each
//! result row, across channels to it. Profiled under load (`GET /secrets/{id}`, 2 cores), half
//! of the server's CPU went to the kernel scheduler waking those threads, not to SQLite. A point
//! read that SQLite answers from its page cache in tens of microseconds is cheaper run right on
//! the calling thread than handed to another one, so the reads that matter most use these
//! connections instead, called inline.
//!
//! Point reads (one secret's versions, a caller's roles) run inline: the caller holds its
//! async worker for the query's tens of microseconds. Pages of lists, which take milliseconds,
//! go through [`SqliteReaders::read_long`], which first moves the worker's other tasks to
//! another thread. Counted on list pages, sqlx's copy of every column into its `Any` rows and
//! the hand-over of every row were most of the CPU (malloc alone a third).
//!
//! The connections are opened read-write so they can take part in WAL bookkeeping (create the
//! shared-memory file, say, after every other connection closed), with `query_only` so nothing
//! written through them can change data. Each statement runs in its own read transaction and
//! sees every commit that finished before it started, as the pool's connections do.
//!
//! Statements run on these connections through `reader::Reader::Inline`, which maps rows as
//! every other read does (`row`). Nothing here may write, and nothing here knows a table: the
//! table modules bring the SQL.

use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex, MutexGuard, TryLockError,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, StoreResult};

/// Two fixed sets of connections: one for point reads, one for list pages. A point read then
/// never waits behind pages, which on a large database take seconds (1M secrets: a page is
/// mostly the count of the tenant's secrets) while it holds its worker thread.
pub struct SqliteReaders {
    points: Connections,
    pages: Connections,
}

impl SqliteReaders {
    /// Opens `count` point-read and `pages` list-page connections to the database file at
    /// `path`, which must exist (the pool created it and set WAL mode, which is a property of
    /// the file).
    pub fn open(path: &Path, count: usize, pages: usize) -> anyhow::Result<Self> {
        Ok(Self {
            points: Connections::open(path, count, POINT_CACHE_KIB)?,
            pages: Connections::open(path, pages, PAGE_CACHE_KIB)?,
        })
    }

    /// Runs `read` inline on a free point-read connection, blocking the calling thread until
    /// one is free.
    pub fn read<T>(&self, read: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        read(&mut self.points.acquire())
    }

    /// For a read that may take milliseconds or more (a page of a list that scans), on the page
    /// connections: on a multi-threaded runtime the worker's other tasks move to another thread
    /// meanwhile. Its statements are interrupted once `time_limit` has passed
    /// ([`StoreError::TimedOut`]); admission (`list_gate`) keeps the callers no more than the
    /// connections, so the wait for one is short.
    pub fn read_long<T>(
        &self,
        time_limit: Duration,
        read: impl FnOnce(&mut Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let run = || {
            let mut conn = self.pages.acquire();
            let deadline = Instant::now() + time_limit;
            // Checked every PROGRESS_STEPS virtual-machine steps (tens of microseconds).
            conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline))?;
            let result = read(&mut conn);
            // Only long reads use these connections and each sets its own deadline first, so a
            // handler that failed to clear is replaced before it could interrupt anyone.
            conn.progress_handler(0, None::<fn() -> bool>).ok();
            result.map_err(|err| match err {
                StoreError::Sqlite(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => {
                    StoreError::TimedOut(time_limit)
                }
                other => other,
            })
        };
        match Handle::try_current().map(|handle| handle.runtime_flavor()) {
            Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(run),
            _ => run(),
        }
    }
}

/// Virtual-machine steps between two checks of a long read's deadline.
const PROGRESS_STEPS: std::ffi::c_int = 10_000;

/// A fixed set of connections, each behind its own lock.
struct Connections {
    conns: Box<[Mutex<Connection>]>,
    /// Where the next search for a free connection starts, so the callers spread out.
    next: AtomicUsize,
}

impl Connections {
    fn open(path: &Path, count: usize, cache_kib: i64) -> anyhow::Result<Self> {
        let conns =
            (0..count.max(1)).map(|_| connect(path, cache_kib).map(Mutex::new)).collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self { conns: conns.into_boxed_slice(), next: AtomicUsize::new(0) })
    }

    fn acquire(&self) -> MutexGuard<'_, Connection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.conns.len();
        for i in 0..n {
            match self.conns[(start + i) % n].try_lock() {
                Ok(conn) => return conn,
                // A panic while reading leaves the connection as sound as SQLite left it; the
                // statement was reset when its handle dropped.
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        // Every connection is busy: more threads are reading than there are connections. Wait
        // for the one this caller was pointed at.
        self.conns[start % n].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Page cache of a point-read connection, in KiB. A page SQLite does not hold is a pread(2)
/// and a copy from the OS's cache: at 2 MiB (SQLite's default) most point reads of the
/// benchmark's 30 MB database missed, about 9 % of the server's CPU. Pages are allocated only
/// as they are read; 4 MiB keeps the hot index pages in memory.
const POINT_CACHE_KIB: i64 = 4 * 1024;

/// Page cache of a list-page connection, in KiB: SQLite's default. Pages sweep wide ranges of
/// the indexes, which a few MiB more would not hold anyway, and the process stays under 64 MiB
/// under list load.
const PAGE_CACHE_KIB: i64 = 2 * 1024;

/// A synchronous connection that may write, with the settings of the pool's writers (WAL,
/// `synchronous = FULL`: an acknowledged commit survives power loss; foreign keys; the same busy
/// timeout). Used only under the group commit's mutex (`write::GroupCommit::exclusive`).
pub(crate) fn open_writer(path: &Path) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

fn connect(path: &Path, cache_kib: i64) -> anyhow::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", true)?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Statements are prepared once per connection and kept; the point reads are few.
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

/// The file a `sqlite:` URL names, or `None` for an in-memory database (which other
/// connections cannot share).
pub fn database_file(url: &str) -> anyhow::Result<Option<PathBuf>> {
    use std::str::FromStr;
    if url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
    Ok(Some(options.get_filename().to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_file_names_the_file_of_a_url_and_none_for_memory() -> anyhow::Result<()> {
        assert_eq!(database_file("sqlite:///var/lib/sg/data.db?mode=rwc")?, Some(PathBuf::from("/var/lib/sg/data.db")));
        assert_eq!(database_file("sqlite://rel/x.db")?, Some(PathBuf::from("rel/x.db")));
        assert_eq!(database_file("sqlite::memory:")?, None);
        assert_eq!(database_file("sqlite://x.db?mode=memory")?, None);
        Ok(())
    }

    #[test]
    fn readers_see_every_commit_and_cannot_write() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("r.db");
        let writer = Connection::open(&path)?;
        writer.pragma_update(None, "journal_mode", "wal")?;
        writer.execute("CREATE TABLE t (v INTEGER)", ())?;
        let readers = SqliteReaders::open(&path, 2, 2)?;
        let count = |readers: &SqliteReaders| {
            readers.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", (), |r| r.get::<_, i64>(0))?))
        };
        assert_eq!(count(&readers)?, 0);
        writer.execute("INSERT INTO t VALUES (1)", ())?;
        // Both connections, whichever is handed out, see the commit.
        assert_eq!(count(&readers)?, 1);
        assert_eq!(count(&readers)?, 1);
        let write = readers.read(|c| Ok(c.execute("INSERT INTO t VALUES (2)", ())?));
        assert!(write.is_err(), "a reader wrote");
        assert_eq!(count(&readers)?, 1);
        Ok(())
    }

    #[test]
    fn a_point_read_never_waits_behind_a_page() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.db");
        Connection::open(&path)?.execute("CREATE TABLE t (v INTEGER)", ())?;
        let readers = SqliteReaders::open(&path, 1, 1)?;
        // The only page connection is held; with one shared set this would wait forever.
        let inner = readers.read_long(Duration::from_secs(10), |_page| {
            readers.read(|c| Ok(c.query_row("SELECT 7", (), |r| r.get::<_, i64>(0))?))
        })?;
        assert_eq!(inner, 7);
        Ok(())
    }

    #[test]
    fn a_long_read_past_its_time_limit_is_interrupted() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("slow.db");
        Connection::open(&path)?.execute("CREATE TABLE t (v INTEGER)", ())?;
        let readers = SqliteReaders::open(&path, 1, 1)?;
        // A query that runs for ever (an unbounded recursive count).
        let forever = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n";
        let started = Instant::now();
        let result =
            readers.read_long(Duration::from_millis(50), |c| Ok(c.query_row(forever, (), |r| r.get::<_, i64>(0))?));
        assert!(matches!(result, Err(StoreError::TimedOut(_))), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "interrupted near its limit: {:?}", started.elapsed());
        // The connection is usable afterwards, without the old deadline.
        std::thread::sleep(Duration::from_millis(60));
        let seven: i64 =
            readers.read_long(Duration::from_secs(10), |c| Ok(c.query_row("SELECT 7", (), |r| r.get(0))?))?;
        assert_eq!(seven, 7_i64);
        Ok(())
    }
}
