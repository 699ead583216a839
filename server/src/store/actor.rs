//! [`Actor`]: who makes a change, as the store records it (creator and updater columns, the
//! owner of a new virtual account or team).
//!
//! It owns that record only; it must not decide whether the change is allowed (`crate::authz`)
//! nor know how the caller was authenticated (`crate::auth`).

/// Who is writing, as recorded in `created_by_*` columns.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant_id: String,
    pub user_id: String,
    pub email: String,
}
