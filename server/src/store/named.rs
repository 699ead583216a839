//! Ids of a tenant's secret groups, teams and virtual accounts by name: the generic manifest
//! operations (`api::apply`) name objects, the type-specific operations take ids.
//!
//! It only finds; it must not decide who may see what (the operation called with the id does).

use super::{Db, StoreResult, is_storable};

/// A kind of object a manifest names, with the table that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SecretGroup,
    Team,
    VirtualAccount,
}

/// The id of the object of `kind` named `name` in the tenant, if there is one.
pub async fn id_of(db: &Db, tenant_id: &str, kind: Kind, name: &str) -> StoreResult<Option<String>> {
    // No stored name holds U+0000 (and PostgreSQL cannot compare with one).
    if !is_storable(name) {
        return Ok(None);
    }
    let query = match kind {
        Kind::SecretGroup => "SELECT id FROM secret_groups WHERE tenant_id = $1 AND name = $2",
        Kind::Team => "SELECT id FROM teams WHERE tenant_id = $1 AND name = $2",
        Kind::VirtualAccount => "SELECT id FROM virtual_accounts WHERE tenant_id = $1 AND name = $2",
    };
    Ok(sqlx::query_scalar(query).bind(tenant_id).bind(name).fetch_optional(db.pool()).await?)
}
