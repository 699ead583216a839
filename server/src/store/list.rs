//! The list query: [`ListQuery`] answers one page of a filtered, ordered list and the number of
//! rows the filter matches, on the pool (sqlx) or a synchronous SQLite reader; and the SQL text
//! helpers lists and filters share (`LIKE` patterns, `IN (…)` placeholders).
//!
//! It owns the shape of the SQL of every list; it must not know any table (each table's module
//! hands it its `FROM`, `SELECT` and filter) nor bound a page (`store::page` does).

use super::{
    error::StoreResult,
    page,
    sqlite_read::{FromSqlite, fetch_sqlite, fetch_sqlite_while},
};

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

/// Escapes `%`, `_` and `\` so user text matches literally inside a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_contains(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}
