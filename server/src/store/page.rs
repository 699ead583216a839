//! What bounds one page of a list: how long its reads may run and how much it may hold.
//!
//! A page is at most `limit` rows, but rows differ in size by orders of magnitude: a secret's
//! value may be 256 KiB, a group may carry 500 keys. Without a bound in bytes, 1,000 large
//! values (`withValue`) are a 256 MB answer held in memory, and a page of 1,000 groups of 500
//! keys is half a million rows. So a page stops early, after the row that reaches its budget,
//! and says so (`cut_short`); the answer's `pagination.limit` is then the number of rows it
//! holds, and the next page starts at `offset + data.length`, which is how TrueFoundry's SDK
//! pager continues anyway. At least one row is always answered, so paging always advances.
//!
//! It must not build SQL (`list` does) nor know a table.

use std::{
    ops::{Deref, DerefMut},
    time::Duration,
};

use sqlx::{Any, AnyConnection, Transaction, pool::PoolConnection};

use super::{Db, StoreError, StoreResult};

/// Bounds of a list read that may scan (see `list_gate` for who may run one at all).
#[derive(Debug, Clone, Copy)]
pub struct ReadBounds {
    /// How long its statements may run before they are interrupted (`StoreError::TimedOut`).
    pub time_limit: Duration,
}

/// Which page of a list, and the bounds of reading it.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
    pub bounds: ReadBounds,
}

/// A pooled PostgreSQL connection for a list: a point lookup's as it is; a long read's inside a
/// read transaction whose statements PostgreSQL cancels at the time limit
/// (`SET LOCAL statement_timeout`, which ends with the transaction, so the connection goes back
/// to the pool as it came).
pub(crate) enum ListConn {
    Point(PoolConnection<Any>),
    Long(Transaction<'static, Any>),
}

impl ListConn {
    pub async fn open(db: &Db, long: Option<ReadBounds>) -> StoreResult<Self> {
        let Some(bounds) = long else {
            return Ok(Self::Point(db.pool().acquire().await?));
        };
        let mut tx = db.pool().begin().await?;
        let millis = bounds.time_limit.as_millis().max(1);
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL statement_timeout = {millis}"))).execute(&mut *tx).await?;
        Ok(Self::Long(tx))
    }
}

impl Deref for ListConn {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            Self::Point(conn) => conn,
            Self::Long(tx) => tx,
        }
    }
}

impl DerefMut for ListConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            Self::Point(conn) => conn,
            Self::Long(tx) => tx,
        }
    }
}

/// PostgreSQL's "canceling statement due to statement timeout" (SQLSTATE 57014) as
/// [`StoreError::TimedOut`]; other errors pass through.
pub(crate) fn timed_out(bounds: ReadBounds) -> impl Fn(StoreError) -> StoreError {
    move |err| match err {
        StoreError::Database(sqlx::Error::Database(db)) if db.code().as_deref() == Some("57014") => {
            StoreError::TimedOut(bounds.time_limit)
        }
        other => other,
    }
}

/// Values (stored size) one page of `POST /secrets` with `withValue` holds at most.
pub const MAX_PAGE_VALUE_BYTES: usize = 8 * 1024 * 1024;

/// Secrets (keys) the groups of one page of `GET /secret-groups` carry at most.
pub const MAX_PAGE_SECRETS: usize = 10_000;

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    /// Rows the filter matches in all.
    pub total: i64,
    pub rows: Vec<T>,
    /// The page stopped before `limit` rows because its budget was reached.
    pub cut_short: bool,
}

/// Keeps the longest prefix of `rows` whose `size`s fit in `budget`, but at least one row.
/// True when rows were dropped.
pub(crate) fn keep_within<T>(rows: &mut Vec<T>, budget: usize, size: impl Fn(&T) -> usize) -> bool {
    let mut used = 0usize;
    let keep = rows
        .iter()
        .position(|row| {
            used = used.saturating_add(size(row));
            used > budget
        })
        .map_or(rows.len(), |first_over| first_over.max(1));
    let cut = keep < rows.len();
    rows.truncate(keep);
    cut
}

/// Accumulates rows while they fit in a budget; for reads that must stop fetching, not just
/// drop what they fetched.
pub(crate) struct Budget {
    left: usize,
    taken: usize,
}

impl Budget {
    pub fn new(bytes: usize) -> Self {
        Self { left: bytes, taken: 0 }
    }

    /// Whether a row of `size` still fits (the first one always does).
    pub fn take(&mut self, size: usize) -> bool {
        if self.taken > 0 && size > self.left {
            return false;
        }
        self.left = self.left.saturating_sub(size);
        self.taken += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_keeps_what_fits_and_at_least_one_row() {
        let mut rows = vec![3, 3, 3, 3];
        assert!(keep_within(&mut rows, 7, |n| *n));
        assert_eq!(rows, [3, 3]);
        let mut rows = vec![10, 1];
        assert!(keep_within(&mut rows, 5, |n| *n), "the first row alone is over the budget");
        assert_eq!(rows, [10]);
        let mut rows = vec![1, 2];
        assert!(!keep_within(&mut rows, 3, |n| *n), "everything fits exactly");
        assert_eq!(rows, [1, 2]);
    }

    #[test]
    fn a_budget_admits_the_first_row_and_then_what_fits() {
        let mut budget = Budget::new(5);
        assert!(budget.take(9), "the first row, whatever its size");
        assert!(!budget.take(1));
        let mut budget = Budget::new(5);
        assert!(budget.take(2) && budget.take(3));
        assert!(!budget.take(1));
    }
}
