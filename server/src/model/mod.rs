//! Wire types: the JSON bodies of the API, exactly as `openapi/secret-groups.yaml` describes them.
//!
//! The `ToSchema` derives make utoipa's view of the server, which the contract test compares with
//! the checked-in document; every attribute here (patterns, bounds, nullability) mirrors it.
//! Optional response fields are `#[schema(nullable = false)]` and skipped when absent, because
//! TrueFoundry's SDK rejects `null` where it expects a value.

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use utoipa::ToSchema;

use crate::sensitive::SecretString;

/// For an optional request field whose schema is not nullable, with
/// `#[serde(default, deserialize_with = "present")]`: absent is `None`, and `null` is refused
/// (422) like any other value of the wrong type, where a plain `Option` would take it for absent.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    // Through `Option`: serde_json reports `null` read as an enum as malformed JSON (400).
    match Option::<T>::deserialize(deserializer)? {
        Some(value) => Ok(Some(value)),
        None => Err(serde::de::Error::invalid_type(serde::de::Unexpected::Unit, &"a value, not null")),
    }
}

/// Secret value rule: any text without U+0000, which PostgreSQL's `text` cannot store.
pub const SECRET_VALUE_PATTERN: &str = r"^[^\x00]*$";
/// The longest secret value, in characters (Unicode scalar values), not bytes: the document's
/// `maxLength: 65536`, which JSON Schema counts in characters, and README's "up to 65,536
/// characters". A value can therefore take up to 4 × this in UTF-8; the 4 MiB body limit bounds
/// a request whatever its values.
pub const MAX_VALUE_CHARS: usize = 64 * 1024;
pub const MAX_SECRETS_PER_GROUP: usize = 500;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpError {
    pub status_code: i32,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Vec<Object>)]
    pub details: Option<Vec<Value>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthStatus {
    pub status: String,
}

/// A point in time, written as RFC 3339 UTC with milliseconds (`2026-01-01T00:00:00.000Z`), the
/// form TrueFoundry's docs show and its TypeScript SDK requires. Built only by
/// [`Timestamp::from_millis`], so every value has a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(i64);

/// A stored time (milliseconds since 1970) that no date represents: a broken row, which fails the
/// request as an internal error (500, logged) instead of being shown as some other date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOutOfRange(pub i64);

impl std::fmt::Display for TimestampOutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored timestamp {} ms is out of the representable range", self.0)
    }
}

impl Timestamp {
    pub fn from_millis(millis: i64) -> Result<Self, TimestampOutOfRange> {
        match chrono::DateTime::from_timestamp_millis(millis) {
            Some(_) => Ok(Timestamp(millis)),
            None => Err(TimestampOutOfRange(millis)),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `from_millis` checked the range; the error is unreachable but not a panic.
        let at = chrono::DateTime::from_timestamp_millis(self.0)
            .ok_or_else(|| serde::ser::Error::custom(TimestampOutOfRange(self.0)))?;
        // `2026-01-31T12:00:00.000Z`; the fixed RFC 3339 writer, not a strftime pattern parsed
        // anew for every timestamp of a list.
        serializer.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    User,
    Team,
    Serviceaccount,
}

/// Who did something.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subject {
    pub subject_id: String,
    #[schema(inline)]
    pub subject_type: SubjectType,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub subject_slug: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub subject_display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Pagination {
    pub total: i64,
    pub offset: i64,
    pub limit: i64,
}

/// One value a secret has had.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersion {
    pub id: String,
    pub fqn: String,
    pub secret_id: String,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<String>)]
    pub value: Option<SecretString>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// A key of a group; carries `value` only where the operation says so.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub id: String,
    pub fqn: String,
    pub name: String,
    pub secret_group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<String>)]
    pub value: Option<SecretString>,
    pub created_by: String,
    pub created_by_subject: Subject,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub secret_versions: Option<Vec<SecretVersion>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum RoleId {
    #[serde(rename = "secret-group-admin")]
    Admin,
    #[serde(rename = "secret-group-editor")]
    Editor,
    #[serde(rename = "secret-group-viewer")]
    Viewer,
}

impl RoleId {
    /// The role's id on the wire and in storage.
    pub fn id(self) -> &'static str {
        match self {
            RoleId::Admin => "secret-group-admin",
            RoleId::Editor => "secret-group-editor",
            RoleId::Viewer => "secret-group-viewer",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        [RoleId::Admin, RoleId::Editor, RoleId::Viewer].into_iter().find(|role| role.id() == id)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Collaborator {
    #[schema(pattern = r"^(user|team|virtualaccount):[^:\s]+$", max_length = 320)]
    pub subject: String,
    #[schema(inline)]
    pub role_id: RoleId,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct OwnedBy {
    #[schema(max_length = 256)]
    pub account: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum ManifestType {
    #[serde(rename = "secret-group")]
    SecretGroup,
}

/// The declarative form of a group (TrueFoundry's `secret-group` manifest). Key casing is
/// TrueFoundry's: snake_case except `ownedBy`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SecretGroupManifest {
    #[serde(rename = "type")]
    #[schema(inline)]
    pub kind: ManifestType,
    #[schema(inline)]
    pub name: GroupName,
    #[schema(min_length = 1, max_length = 512)]
    pub integration_fqn: String,
    #[serde(default)]
    #[schema(max_items = 500)]
    pub collaborators: Option<Vec<Collaborator>>,
    #[serde(rename = "ownedBy", default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<OwnedBy>,
}

/// A named set of secrets. Never carries values.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretGroup {
    pub id: String,
    pub fqn: String,
    pub name: String,
    pub tenant_name: String,
    pub account_id: String,
    pub integration_id: String,
    pub manifest: SecretGroupManifest,
    pub created_by: String,
    pub created_by_subject: Subject,
    pub associated_secrets: Vec<Secret>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SecretInput {
    #[schema(inline)]
    pub key: SecretKey,
    #[schema(max_length = 65536, pattern = r"^[^\x00]*$", value_type = String)]
    pub value: SecretString,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateSecretInput {
    #[schema(inline)]
    pub key: SecretKey,
    #[serde(default)]
    #[schema(max_length = 65536, pattern = r"^[^\x00]*$", value_type = Option<String>)]
    pub value: Option<SecretString>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecretGroupRequest {
    #[schema(inline)]
    pub name: GroupName,
    #[schema(min_length = 1, max_length = 512)]
    pub integration_id: String,
    #[schema(max_items = 500)]
    pub secrets: Vec<SecretInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateSecretGroupRequest {
    #[schema(min_items = 1, max_items = 500)]
    pub secrets: Vec<UpdateSecretInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrUpdateSecretGroupRequest {
    pub manifest: SecretGroupManifest,
    #[serde(default)]
    #[schema(default = false)]
    pub dry_run: Option<bool>,
}

/// Every field is optional; `null` counts as absent.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListSecretsRequest {
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000, default = 100)]
    pub limit: Option<i64>,
    #[serde(default)]
    #[schema(minimum = 0, default = 0)]
    pub offset: Option<i64>,
    #[serde(default)]
    #[schema(max_items = 1000)]
    pub secret_fqns: Option<Vec<String>>,
    #[serde(default)]
    pub secret_group_id: Option<String>,
    #[serde(default)]
    #[schema(default = false)]
    pub with_value: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretGroupResponse {
    pub data: SecretGroup,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListSecretGroupsResponse {
    pub data: Vec<SecretGroup>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretResponse {
    pub data: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListSecretsResponse {
    pub data: Vec<Secret>,
    pub pagination: Pagination,
}

/// Always `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteSecretGroupResponse {}

/// The number of deleted secrets, always `1`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteSecretResponse(pub i64);

mod audit;
mod identity;
mod names;
mod tfy;
pub use audit::*;
pub use identity::*;
pub use names::*;
pub use tfy::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_dates_or_refused() {
        let at = Timestamp::from_millis(1_767_225_600_000).expect("2026 is a date");
        assert_eq!(serde_json::to_value(at).ok(), Some(Value::from("2026-01-01T00:00:00.000Z")));
        assert_eq!(Timestamp::from_millis(i64::MAX), Err(TimestampOutOfRange(i64::MAX)));
        assert_eq!(Timestamp::from_millis(i64::MIN), Err(TimestampOutOfRange(i64::MIN)));
    }
}
