//! Wire types of the operations TrueFoundry's own tools call besides the resource APIs: the CLI's
//! discovery calls (`min-cli-version`, `tenant-id`, `session`) and the generic manifest operations
//! the CLI and the SDK share (`apply`, `delete`, `dependency-tree`), as `truefoundry` 0.17.5 and
//! `truefoundry-sdk` 0.6.0 send and read them.
//!
//! Manifests travel as JSON objects here: which typed manifest one is depends on its `type`, and
//! the type-specific operations (`model::SecretGroupManifest`, `TeamManifest`,
//! `VirtualAccountManifest`) parse and validate them, so a rule is never written twice.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::{SessionSubjectType, Subject};
use crate::sensitive::SecretString;

/// A manifest as written in a YAML file: an object with at least `type` and `name`.
pub type ManifestObject = Map<String, Value>;

/// What the CLI checks its own version against before every command.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MinCliVersionResponse {
    /// The oldest `truefoundry` Python package this server was tested with.
    pub min_version: String,
    /// The oldest `tfy` CLI (same package) this server was tested with; an older one refuses to run.
    pub truefoundry_cli_min_version: String,
    /// Always `true`: the CLI then sends its interactive-login calls here (where they find no
    /// route: log in with `--api-key`) instead of to an `auth_server_url`.
    #[serde(rename = "useSFYServerAuthAPIs")]
    pub use_sfy_server_auth_apis: bool,
}

/// The tenant a host name stands for (here: the deployment's default tenant, whatever the host).
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantIdResponse {
    #[serde(rename = "tenantName")]
    pub tenant_name: String,
    /// Always `""`: this server has no OAuth server of its own.
    pub auth_server_url: String,
}

/// The caller's session, as the CLI reads it after `tfy login`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    pub user: SessionUser,
    pub tenant_info: TenantRef,
}

/// The caller: a user or a virtual account.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionUser {
    pub id: String,
    /// The user's e-mail; absent for a virtual account.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// The caller's own tenant (from its token).
    pub tenant_name: String,
    /// The user's e-mail or the virtual account's name.
    pub subject_slug: String,
    #[schema(inline)]
    pub subject_type: SessionSubjectType,
    pub subject: Subject,
}

/// A tenant by name.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantRef {
    pub tenant_name: String,
}

/// Create or update whatever a manifest describes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyRequest {
    /// A `secret-group`, `team` or `virtual-account` manifest, as its type-specific operation
    /// takes it.
    #[schema(value_type = Object)]
    pub manifest: ManifestObject,
    #[serde(default)]
    #[schema(default = false)]
    pub dry_run: Option<bool>,
    /// Accepted and ignored (TrueFoundry uses it for MCP servers only).
    #[serde(default)]
    #[schema(default = false)]
    pub force: Option<bool>,
}

/// What an apply did.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApplyAction {
    Create,
    Update,
}

/// The answer to an apply.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResponse {
    /// The object's manifest before this apply (absent when it is created).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub existing_manifest: Option<Value>,
    #[schema(inline)]
    pub action: ApplyAction,
    /// The object as stored (or, with `dryRun`, as it would be stored).
    #[schema(value_type = Object)]
    pub data: Value,
    /// A virtual account's token, when this apply created the account (shown only here).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, nullable = false)]
    pub token: Option<SecretString>,
}

/// Delete whatever a manifest names.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteManifestRequest {
    /// A `secret-group`, `team` or `virtual-account` manifest; `type` and `name` say what to delete.
    #[schema(value_type = Object)]
    pub manifest: ManifestObject,
}

/// Manifests to order.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DependencyTreeRequest {
    #[schema(value_type = Vec<Object>, max_items = 1000)]
    pub manifests: Vec<ManifestObject>,
}

/// The manifests in the order to apply them, each with those of the others it needs first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DependencyTreeResponse {
    pub data: Vec<ResourceWithDependencies>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceWithDependencies {
    pub resource_type: String,
    pub resource_name: String,
    pub dependencies: Vec<ResourceIdentifier>,
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIdentifier {
    pub resource_type: String,
    pub resource_name: String,
}
