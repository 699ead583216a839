//! The list query: [`ListQuery`] answers one page of a filtered, ordered list and the number of
//! rows the filter matches, on either kind of connection (`reader`); and the SQL text
//! helpers lists and filters share (`LIKE` patterns, `IN (…)` placeholders).
//!
//! It owns the shape of the SQL of every list; it must not know any table (each table's module
//! hands it its `FROM`, `SELECT` and filter) nor bound a page (`store::page` does).

use sqlx::AssertSqlSafe;

use super::{
    error::StoreResult,
    page,
    reader::{Bind, Reader},
    row::{Record, Row},
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
        format!("SELECT COUNT(*) AS total {} WHERE {}", self.from, self.filter)
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

    /// One page of the list on `reader`, with the number of rows the filter matches.
    pub async fn page<T: Record + Send + Unpin>(
        &self,
        reader: &mut Reader<'_>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<(i64, Vec<T>)> {
        let page = self.page_within(reader, limit, offset, |_: &T| true).await?;
        Ok((page.total, page.rows))
    }

    /// [`Self::page`] that stops fetching rows at the first one `fits` refuses (see
    /// [`page::Page::cut_short`]): rows past a page's budget are never held in memory.
    pub async fn page_within<T: Record + Send + Unpin>(
        &self,
        reader: &mut Reader<'_>,
        limit: i64,
        offset: i64,
        fits: impl FnMut(&T) -> bool + Send,
    ) -> StoreResult<page::Page<T>> {
        let mut binds: Vec<Bind<'_>> = self.binds.iter().map(Bind::from).collect();
        let count: Option<Count> = reader.fetch_optional(AssertSqlSafe(self.count_sql()), &binds).await?;
        let total = count.map_or(0, |count| count.total);
        if offset >= total {
            return Ok(page::Page { total, rows: Vec::new(), cut_short: false });
        }
        binds.extend([Bind::Int(limit), Bind::Int(offset)]);
        let (rows, cut_short) = reader.fetch_while(AssertSqlSafe(self.page_sql()), &binds, fits).await?;
        Ok(page::Page { total, rows, cut_short })
    }
}

/// The row of [`ListQuery::count_sql`].
struct Count {
    total: i64,
}

impl Record for Count {
    fn from_row<R: Row>(row: &R) -> Result<Self, R::Error> {
        Ok(Self { total: row.get("total")? })
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
