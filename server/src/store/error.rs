//! The store's one error type, [`StoreError`], and the helpers that build it from a database
//! or crypto failure.
//!
//! It says what went wrong in storage terms (not found, conflict, corrupt row, a broken
//! invariant); it must not know HTTP: `crate::error` maps it to an answer.

use std::{sync::Arc, time::Duration};

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
    /// An invariant of this code that did not hold (a bug, or a task that panicked): not the
    /// database's fault, so not reported as one.
    #[error("internal error: {0}")]
    Internal(String),
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

/// Maps a unique-constraint violation to a conflict with `message`; other errors pass through.
pub(crate) fn on_unique(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Database(err),
    }
}
