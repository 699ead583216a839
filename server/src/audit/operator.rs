//! Operator commands in the audit trail: `tokens create`, `users create`, `tenants create`,
//! `keys rotate` and `audit prune` run at the console, outside any request, yet change who may
//! read what (or the trail itself). Each runs inside a draft event of its own, so its first write
//! transaction commits the event with it (`crate::store::WriteTx::commit`), exactly as a request's
//! write does.
//!
//! The actor is `operator`, named by the login that ran the command (`SUDO_USER`, else `USER` or
//! `LOGNAME`): the server has no stronger identity for whoever holds the database and its keys.
//! It must not decide what is recorded (`scope`) or store anything itself.

use std::{future::Future, sync::Arc};

use super::scope::{self, Draft};
use crate::request_id::RequestId;

/// Longest operator name kept (the environment is the operator's own, but events stay bounded).
const MAX_NAME: usize = 64;

/// Runs `work` (one command) with a draft event for `action` (e.g. `cli:tokens create`). Nothing
/// is recorded until the command calls [`acting`]: opening the store may commit (migrations, a
/// first key registration), and the event belongs to the command's own write, not to those.
pub async fn run<F: Future>(action: &'static str, work: F) -> F::Output {
    let draft = Arc::new(Draft::new(RequestId::generate().to_string(), action, "console".to_owned(), true));
    scope::run(draft, work).await
}

/// From here on the command acts, as the operator, in `tenant_id` ('' for none): its next write
/// transaction commits the event.
pub fn acting(tenant_id: &str) {
    let who = operator_name();
    scope::actor(tenant_id, "operator", &who, &who);
}

/// The login behind the command: the one `sudo` was run from, else the current one.
fn operator_name() -> String {
    let name = ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.trim().is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    name.chars().filter(|c| !c.is_control()).take(MAX_NAME).collect()
}
