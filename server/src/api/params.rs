//! Query parameters: each struct mirrors a `parameters` entry of `openapi/secret-groups.yaml`
//! (through `IntoParams`) and is what handlers receive (through [`super::query::Query`], which
//! says how the query string is read). A parameter's rule is written here once, for both.

use std::fmt;

use serde::{Deserialize, Deserializer, de};
use utoipa::IntoParams;

/// `limit` and `offset` of every list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page size, 1 to 1000.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 100, nullable = false)]
    pub limit: Option<Limit>,
    /// Number of items to skip. Past the end the page is empty.
    #[param(value_type = Option<i64>, minimum = 0, default = 0, nullable = false)]
    pub offset: Option<Offset>,
}

impl PageParams {
    /// `(limit, offset)`, with the defaults for what was not given.
    pub fn page(&self) -> (i64, i64) {
        (self.limit.map_or(Limit::DEFAULT, |l| l.0), self.offset.map_or(0, |o| o.0))
    }
}

/// An integer query parameter within `MIN..=MAX`. Only plain decimal digits with an optional `-`
/// are an integer: `i64::from_str` also takes `+5`, and ` 5` used to be trimmed, both of which
/// the document's `type: integer` does not allow.
fn bounded<'de, D: Deserializer<'de>>(deserializer: D, min: i64, max: i64) -> Result<i64, D::Error> {
    struct Text;
    impl de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<String, E> {
            Ok(text.to_owned())
        }
    }
    let text = deserializer.deserialize_str(Text)?;
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(de::Error::custom("must be an integer"));
    }
    match text.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        // Out of range, including past i64.
        _ => Err(de::Error::custom(format!("must be between {min} and {max}"))),
    }
}

/// `limit`: 1 to 1000, 100 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub i64);

impl Limit {
    pub const DEFAULT: i64 = 100;
}

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, 1, 1000).map(Limit)
    }
}

/// `offset`: 0 or more, 0 when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offset(pub i64);

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, 0, i64::MAX).map(Offset)
    }
}

/// Filters of the group list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GroupFilterParams {
    /// Only the group with exactly this FQN (`<tenant>:<group>`).
    #[param(nullable = false)]
    pub fqn: Option<String>,
    /// Case-insensitive substring of the group name or of a secret key in the group.
    #[param(nullable = false)]
    pub search: Option<String>,
    /// Accepted for compatibility; all fields are always returned.
    #[param(nullable = false, style = Form, explode)]
    #[allow(dead_code, reason = "parsed for its form only: every field is always returned")]
    pub attributes: Option<Vec<String>>,
}

/// `forceDelete` of the delete operations.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct ForceDeleteParams {
    /// Accepted for compatibility; the built-in store is always available, so it changes nothing.
    #[param(default = false, nullable = false)]
    #[allow(dead_code, reason = "parsed for its form only: it changes nothing")]
    pub force_delete: Option<bool>,
}

/// `nameSearchQuery` of the token list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct NameSearchParams {
    /// Case-insensitive substring of the name.
    #[param(nullable = false)]
    pub name_search_query: Option<String>,
}

/// Filters of the virtual-account list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct VirtualAccountFilterParams {
    /// Case-insensitive substring of the name.
    #[param(nullable = false)]
    pub name_search_query: Option<String>,
    /// Only expired (`true`) or only unexpired (`false`) accounts.
    #[param(nullable = false)]
    pub is_expired: Option<bool>,
}

/// `name` of the existence check.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameParams {
    /// The account's name.
    pub name: String,
}

/// Filters of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct UserFilterParams {
    /// Case-insensitive substring of the e-mail.
    #[param(nullable = false)]
    pub query: Option<String>,
    /// Include deactivated users.
    #[param(default = false, nullable = false)]
    pub show_invalid_users: Option<bool>,
}

/// Filters of the audit-event list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct AuditEventFilterParams {
    /// Only events of this operation (`operationId`, e.g. `getSecret`).
    #[param(nullable = false)]
    pub action: Option<String>,
    /// Only events of this actor: a user's e-mail or a virtual account's name.
    #[param(nullable = false)]
    pub actor: Option<String>,
    /// Only events that name this secret group or secret FQN.
    #[param(nullable = false)]
    pub resource_fqn: Option<String>,
    /// Only events answered with this HTTP status.
    #[param(value_type = Option<i64>, minimum = 100, maximum = 599, nullable = false)]
    pub status_code: Option<StatusCode>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    pub since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Only events at or before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime, nullable = false)]
    pub until: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// `statusCode`: an HTTP status, 100 to 599.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub i64);

impl<'de> Deserialize<'de> for StatusCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bounded(deserializer, 100, 599).map(StatusCode)
    }
}
