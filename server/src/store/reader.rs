//! The reader: one way to run a read's statements, whichever connection it has, so each read is
//! written once. [`Reader::Pooled`] is a sqlx connection from the pool (PostgreSQL, or an
//! in-memory SQLite database); [`Reader::Inline`] is a synchronous SQLite reader
//! (`sqlite_read`), called on the calling thread. Both map rows through [`Record`] (`row`).
//!
//! A read is an `async` function over `&mut Reader`. On an inline reader nothing in it ever
//! waits, so [`read`] runs it to completion with a single poll, inside the SQLite reader's
//! closure: SQLite reads never go back through sqlx's connection threads (see `sqlite_read`).
//!
//! It must not know a table, build SQL, or write: the table modules bring their SQL, and the
//! readers' connections are `query_only`.

use std::future::Future;

use futures_util::{FutureExt as _, TryStreamExt as _};
use sqlx::{AnyConnection, SqlSafeStr};

use super::{
    Db, StoreError, StoreResult,
    page::{self, ListConn, ReadBounds},
    row::{ColumnCache, Record, SqliteRow},
};

/// A value bound to a `$N` placeholder: every read here binds text or integers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bind<'a> {
    Text(&'a str),
    Int(i64),
}

impl<'a> From<&'a str> for Bind<'a> {
    fn from(text: &'a str) -> Self {
        Self::Text(text)
    }
}

impl<'a> From<&'a String> for Bind<'a> {
    fn from(text: &'a String) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Bind<'_> {
    fn from(n: i64) -> Self {
        Self::Int(n)
    }
}

impl rusqlite::ToSql for Bind<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Text(text) => text.to_sql(),
            Self::Int(n) => n.to_sql(),
        }
    }
}

/// The connection a read runs its statements on.
pub(crate) enum Reader<'c> {
    Pooled(&'c mut AnyConnection),
    Inline(&'c mut rusqlite::Connection),
}

impl Reader<'_> {
    /// Every row of `sql`; `$N` in `sql` is `binds[N - 1]`.
    pub async fn fetch_all<T: Record + Send + Unpin>(
        &mut self,
        sql: impl SqlSafeStr,
        binds: &[Bind<'_>],
    ) -> StoreResult<Vec<T>> {
        Ok(self.fetch_while(sql, binds, |_: &T| true).await?.0)
    }

    /// The first row of `sql`, if any.
    pub async fn fetch_optional<T: Record + Send + Unpin>(
        &mut self,
        sql: impl SqlSafeStr,
        binds: &[Bind<'_>],
    ) -> StoreResult<Option<T>> {
        let mut first = true;
        let (mut rows, _) = self.fetch_while(sql, binds, |_: &T| std::mem::take(&mut first)).await?;
        Ok(rows.pop())
    }

    /// [`Self::fetch_all`] up to the first row `fits` refuses, which is not read further (rows
    /// past a page's budget are never held); true when it stopped there.
    pub async fn fetch_while<T: Record + Send + Unpin>(
        &mut self,
        sql: impl SqlSafeStr,
        binds: &[Bind<'_>],
        mut fits: impl FnMut(&T) -> bool + Send,
    ) -> StoreResult<(Vec<T>, bool)> {
        let sql = sql.into_sql_str();
        let conn = match self {
            Self::Inline(conn) => return fetch_inline(conn, sql.as_str(), binds, fits),
            Self::Pooled(conn) => conn,
        };
        let mut query = sqlx::query(sql);
        for bind in binds {
            query = match *bind {
                Bind::Text(text) => query.bind(text),
                Bind::Int(n) => query.bind(n),
            };
        }
        let mut rows = query.fetch(&mut **conn);
        let mut out = Vec::new();
        while let Some(row) = rows.try_next().await? {
            let row = T::from_row(&row)?;
            if !fits(&row) {
                return Ok((out, true));
            }
            out.push(row);
        }
        Ok((out, false))
    }
}

/// [`Reader::fetch_while`] on a synchronous SQLite reader.
fn fetch_inline<T: Record>(
    conn: &rusqlite::Connection,
    sql: &str,
    binds: &[Bind<'_>],
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
    let columns = ColumnCache::with_capacity(statement.column_count());
    let mut rows = statement.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let row = T::from_row(&SqliteRow::new(row, &columns))?;
        if !fits(&row) {
            return Ok((out, true));
        }
        out.push(row);
    }
    Ok((out, false))
}

/// Runs `read` on a reader of `db`: on SQLite with a database file, inline on a synchronous
/// reader (a point read on the calling thread; a `long` one on a list-page connection, see
/// [`super::sqlite_read::SqliteReaders::read_long`]); otherwise on a pooled connection (a `long`
/// one inside a read transaction with a statement timeout, see [`ListConn`]). A long read past
/// its time limit fails with [`StoreError::TimedOut`] on both.
pub(crate) async fn read<T>(
    db: &Db,
    long: Option<ReadBounds>,
    read: impl AsyncFnOnce(&mut Reader<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    if let Some(readers) = db.readers() {
        let run = |conn: &mut rusqlite::Connection| inline(read(&mut Reader::Inline(conn)));
        return match long {
            None => readers.read(run),
            Some(bounds) => readers.read_long(bounds.time_limit, run),
        };
    }
    let result = async {
        let mut conn = ListConn::open(db, long).await?;
        read(&mut Reader::Pooled(&mut conn)).await
    };
    match long {
        None => result.await,
        Some(bounds) => result.await.map_err(page::timed_out(bounds)),
    }
}

/// The result of a read on an inline reader, which is complete after one poll: its statements
/// run synchronously and it awaits nothing else.
pub(crate) fn inline<T>(read: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    read.now_or_never()
        .unwrap_or_else(|| Err(StoreError::Internal("a read on a synchronous SQLite reader waited".to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Text {
        text: String,
    }

    impl Record for Text {
        fn from_row<R: super::super::row::Row>(row: &R) -> Result<Self, R::Error> {
            Ok(Self { text: row.get("text")? })
        }
    }

    #[test]
    fn numbered_parameters_bind_by_number_not_by_order_of_appearance() -> anyhow::Result<()> {
        let mut conn = rusqlite::Connection::open_in_memory()?;
        let mut reader = Reader::Inline(&mut conn);
        let sql = "SELECT $2 || '-' || $1 || '-' || $2 AS text";
        let rows: Vec<Text> = inline(reader.fetch_all(sql, &["one".into(), "two".into()]))?;
        assert_eq!(rows, [Text { text: "two-one-two".to_owned() }]);
        // A placeholder without a bind is an error, not a NULL.
        assert!(inline(reader.fetch_all::<Text>("SELECT $3 AS text", &["one".into()])).is_err());
        Ok(())
    }

    #[test]
    fn a_read_that_waits_on_an_inline_reader_is_an_error_not_a_hang() {
        let result: StoreResult<()> = inline(async {
            futures_util::future::pending::<()>().await;
            Ok(())
        });
        assert!(matches!(result, Err(StoreError::Internal(_))), "{result:?}");
    }

    #[test]
    fn fetch_while_stops_at_the_first_row_that_does_not_fit() -> anyhow::Result<()> {
        let mut conn = rusqlite::Connection::open_in_memory()?;
        let mut reader = Reader::Inline(&mut conn);
        let sql = "SELECT 'a' AS text UNION ALL SELECT 'bb' UNION ALL SELECT 'c'";
        let (rows, cut) = inline(reader.fetch_while(sql, &[], |row: &Text| row.text.len() < 2))?;
        assert_eq!((rows, cut), (vec![Text { text: "a".into() }], true));
        let first: Option<Text> = inline(reader.fetch_optional(sql, &[]))?;
        assert_eq!(first, Some(Text { text: "a".into() }));
        Ok(())
    }
}
