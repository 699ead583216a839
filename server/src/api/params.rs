//! Query parameters, for the document only: handlers parse the query with
//! [`super::extract::QueryPairs`], because TrueFoundry's clients send list parameters both as
//! repeated keys and comma-separated. Each struct here mirrors a `parameters` entry of
//! `openapi/secret-groups.yaml`.
#![allow(dead_code)]

use utoipa::IntoParams;

/// `limit` and `offset` of every list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 100, nullable = false)]
    limit: Option<i64>,
    /// Number of items to skip. Past the end the page is empty.
    #[param(minimum = 0, default = 0, nullable = false)]
    offset: Option<i64>,
}

/// Filters of the group list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilterParams {
    /// Only the group with exactly this FQN (`<tenant>:<group>`).
    #[param(nullable = false)]
    fqn: Option<String>,
    /// Case-insensitive substring of the group name or of a secret key in the group.
    #[param(nullable = false)]
    search: Option<String>,
    /// Accepted for compatibility; all fields are always returned.
    #[param(nullable = false, style = Form, explode)]
    attributes: Option<Vec<String>>,
}

/// `forceDelete` of the delete operations.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ForceDeleteParams {
    /// Accepted for compatibility; the built-in store is always available, so it changes nothing.
    #[param(default = false, nullable = false)]
    force_delete: Option<bool>,
}

/// `nameSearchQuery` of the token list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct NameSearchParams {
    /// Case-insensitive substring of the name.
    #[param(nullable = false)]
    name_search_query: Option<String>,
}

/// Filters of the virtual-account list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct VirtualAccountFilterParams {
    /// Case-insensitive substring of the name.
    #[param(nullable = false)]
    name_search_query: Option<String>,
    /// Only expired (`true`) or only unexpired (`false`) accounts.
    #[param(nullable = false)]
    is_expired: Option<bool>,
}

/// `name` of the existence check.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameParams {
    /// The account's name.
    name: String,
}

/// Filters of the user list.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct UserFilterParams {
    /// Case-insensitive substring of the e-mail.
    #[param(nullable = false)]
    query: Option<String>,
    /// Include deactivated users.
    #[param(default = false, nullable = false)]
    show_invalid_users: Option<bool>,
}
