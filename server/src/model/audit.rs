//! The audit trail as the API shows it (`GET /api/svc/v1/audit-events`).

use serde::Serialize;
use utoipa::ToSchema;

use super::{Pagination, Timestamp};

/// Who made the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditActor {
    /// `user`, `virtualaccount`, `token` for a token that did not authenticate, or `operator` for a command run at the console.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user's or account's id; for `token`, a fingerprint of the token (a prefix of its
    /// keyed hash), never the token.
    pub id: String,
    /// The user's e-mail or the account's name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An object the request touched.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResource {
    /// `secret-group`, `secret`, `user`, `team`, `virtual-account`, `personal-access-token`.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqn: Option<String>,
    /// For objects known by name: a user's e-mail, a team's, virtual account's or token's name.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One audited request: a read of values, a write, or a refusal. Never holds a value or a token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The operation's `operationId`, e.g. `getSecret`.
    pub action: String,
    pub actor: AuditActor,
    /// The client's address, as the trusted-proxy rules give it.
    #[schema(nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub resources: Vec<AuditResource>,
    /// The answer's HTTP status.
    pub status_code: i64,
    /// For writes, what changed: lists `added`, `changed` (keys with their new version),
    /// `removed`, `collaborators`, `permissions`, `members`, `roles`. Empty for reads and refusals.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    /// The hash chain this event is in, its place there, its hash and the previous one's
    /// (`secret-groups-server audit verify` recomputes them).
    pub chain: String,
    pub seq: i64,
    pub hash: String,
    pub prev_hash: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListAuditEventsResponse {
    pub data: Vec<AuditEvent>,
    pub pagination: Pagination,
}
