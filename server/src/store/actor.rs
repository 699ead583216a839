//! [`Actor`]: who makes a change, as the store records it (creator and updater columns, the
//! owner of a new virtual account or team).
//!
//! It owns that record only; it must not decide whether the change is allowed (`crate::authz`)
//! nor know how the caller was authenticated (`crate::auth`).

/// Who is writing, as recorded in `created_by_*` columns: a user or a virtual account. The
/// columns are named for users (`created_by_user_id`, `created_by_email`) because users came
/// first; for a virtual account they hold its id and its name.
#[derive(Debug, Clone)]
pub struct Actor {
    pub tenant_id: String,
    /// The user's or the virtual account's id.
    pub subject_id: String,
    /// The readable name: the user's e-mail or the virtual account's name.
    pub slug: String,
}
