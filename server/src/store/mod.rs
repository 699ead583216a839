//! Storage: one set of SQL statements for SQLite and PostgreSQL.
//!
//! sqlx's `Any` driver runs the same runtime-checked queries on both backends; the schema sticks
//! to types both share (TEXT, BIGINT; timestamps as epoch milliseconds) so every row decodes the
//! same way. Placeholders are `$1`-style, which SQLite accepts too.
//!
//! Writes go through [`Db::begin_write`], which hands out a [`WriteTx`]: a transaction of its
//! own on PostgreSQL, a member of a shared one on SQLite (`write`).
//!
//! This module only declares the others and holds what every table uses ([`Backend`]; ids,
//! timestamps, storable text); it must not hold a concern of its own. Each concern has one
//! home: the error type (`error`), connecting (`connect`), write transactions and group commit
//! (`write`), the list query (`list`), page bounds (`page`), mapping a row to a type by column
//! name (`row`), running a read's statements on either kind of connection (`reader`),
//! synchronous SQLite connections (`sqlite_read`), sealing values with unwrapped data keys
//! (`sealing`), the caller of a write (`actor`), the first start (`bootstrap`), and one module
//! per table group (`named`: teams and virtual accounts found by name, for the generic manifest
//! operations).

pub mod access;
pub mod actor;
pub mod audit;
mod audit_chain;
pub mod bootstrap;
mod connect;
mod error;
pub mod groups;
pub mod identity;
pub mod keys;
mod list;
mod migrate;
pub mod named;
pub mod page;
mod reader;
mod row;
mod sealing;
pub mod secrets;
mod sqlite_read;
pub mod teams;
pub mod tokens;
pub mod virtual_accounts;
mod write;

pub use self::{
    connect::Db,
    error::{StoreError, StoreResult},
    write::WriteTx,
};
pub(crate) use self::{
    error::on_unique,
    list::{ListQuery, like_contains, placeholders},
    reader::{Bind, Reader},
    row::{Record, Row, sqlx_from_row},
};

/// Which database the store runs on; the SQL differs only where this is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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

/// Long reads that run at once: one fewer than there are cores, so that scans, which are
/// CPU-bound (more at once only makes each slower), always leave a core to point reads and
/// writes. The list gate admits this many, and SQLite opens this many list-page connections.
pub fn long_read_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()).saturating_sub(1).max(1)
}
