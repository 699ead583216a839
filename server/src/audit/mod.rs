//! The audit trail: who read which secret, who changed what, who was refused.
//!
//! - `event`: an event and its hash (the chain rule `audit verify` recomputes);
//! - `scope`: the draft event of the request being served (task-local), filled by
//!   authentication, handlers and the store;
//! - `capture`: the middleware that opens the scope and appends reads and refusals,
//!   audit-or-refuse;
//! - `appender`: batches those appends into shared transactions;
//! - `file`: the JSON-lines copy for a SIEM (`SG_AUDIT_FILE`);
//! - `admin`: the `audit verify` and `audit prune` commands;
//! - `operator`: the draft event of an operator command (`tokens create`, `keys rotate`, …).
//!
//! Writes append their event inside their own transaction (`crate::store::WriteTx::commit`);
//! storage of events is `crate::store::audit` and `crate::store::audit_chain`. This module only
//! declares the others and holds the state they share; it must not hold a concern of its own.

pub mod admin;
pub mod appender;
pub mod capture;
pub mod event;
pub mod file;
pub mod operator;
pub mod scope;

use std::sync::Arc;

/// The audit trail's part of the application state.
#[derive(Clone, Default)]
pub struct Audit {
    /// `None` with `SG_AUDIT=off`: nothing is recorded.
    pub appender: Option<appender::Appender>,
    /// `SG_AUDIT_FILE`, if set.
    pub file: Option<Arc<file::FileSink>>,
}
