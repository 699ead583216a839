//! Wire types of the identity operations: tokens, virtual accounts, users, teams. Casing is
//! TrueFoundry's: camelCase bodies, snake_case inside the virtual-account manifest.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{GroupFqn, GroupName, Pagination, Subject, Timestamp, TokenName};
use crate::sensitive::SecretString;

/// Always `{}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct EmptyResponse {}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The token (`tfy_sg_…`); shown only in this answer.
    #[schema(value_type = String)]
    pub token: SecretString,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExistsResponse {
    pub exists: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePersonalAccessTokenRequest {
    #[schema(inline)]
    pub name: TokenName,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expiration_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatePersonalAccessTokenForUserRequest {
    #[schema(inline)]
    pub name: TokenName,
    #[schema(min_length = 1, max_length = 320)]
    pub user_email: String,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expiration_date: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserEmailRequest {
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
    #[serde(default)]
    pub tenant_name: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum PersonalAccessTokenType {
    #[serde(rename = "personal-access-token")]
    PersonalAccessToken,
}

/// A token's metadata (TrueFoundry lists tokens in its `VirtualAccount` shape).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonalAccessToken {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(inline)]
    pub kind: PersonalAccessTokenType,
    pub name: String,
    pub tenant_name: String,
    pub account_id: String,
    pub created_by: String,
    pub created_by_subject: Subject,
    pub is_expired: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime, nullable = false)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListPersonalAccessTokensResponse {
    pub data: Vec<PersonalAccessToken>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum PermissionResourceType {
    #[serde(rename = "secret-group")]
    SecretGroup,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct VirtualAccountPermission {
    // The secret group, as `<tenant>:<group>`. A plain comment: a doc comment would make utoipa
    // wrap the inlined schema in `allOf` to carry it as a description.
    #[schema(inline)]
    pub resource_fqn: GroupFqn,
    #[schema(inline)]
    pub resource_type: PermissionResourceType,
    #[schema(inline)]
    pub role_id: super::RoleId,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum VirtualAccountManifestType {
    #[serde(rename = "virtual-account")]
    VirtualAccount,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VirtualAccountManifest {
    // `type` is optional but not nullable in the document.
    #[serde(rename = "type", default, deserialize_with = "super::present", skip_serializing_if = "Option::is_none")]
    #[schema(inline, nullable = false)]
    pub kind: Option<VirtualAccountManifestType>,
    #[schema(inline)]
    pub name: GroupName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 500)]
    pub permissions: Option<Vec<VirtualAccountPermission>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Date)]
    pub expiration_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub enum VirtualAccountType {
    #[serde(rename = "virtual-account")]
    VirtualAccount,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VirtualAccount {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(inline)]
    pub kind: VirtualAccountType,
    pub name: String,
    pub tenant_name: String,
    pub account_id: String,
    pub manifest: VirtualAccountManifest,
    pub created_by: String,
    pub created_by_subject: Subject,
    pub is_expired: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrUpdateVirtualAccountRequest {
    pub manifest: VirtualAccountManifest,
    #[serde(default)]
    #[schema(default = false)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VirtualAccountResponse {
    pub data: VirtualAccount,
    /// The account's token; only when this answer created the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<String>)]
    pub token: Option<SecretString>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListVirtualAccountsResponse {
    pub data: Vec<VirtualAccount>,
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegenerateTokenRequest {
    #[schema(minimum = 0, maximum = 525600)]
    pub grace_period_in_minutes: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub tenant_name: String,
    pub metadata: UserMetadata,
    /// The tenant role, `tenant-admin` or `tenant-member`.
    pub roles: Vec<String>,
    pub active: bool,
    pub is_editable: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub data: User,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListUsersResponse {
    pub data: Vec<User>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum TenantRole {
    #[serde(rename = "tenant-admin")]
    TenantAdmin,
    #[serde(rename = "tenant-member")]
    TenantMember,
}

/// What a tenant role is on; always the tenant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum RoleResourceType {
    #[serde(rename = "tenant")]
    Tenant,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRolesRequest {
    #[schema(min_length = 1, max_length = 320)]
    pub email: String,
    #[schema(min_items = 1, max_items = 1, inline)]
    pub roles: Vec<TenantRole>,
    #[serde(default)]
    pub resource_type: Option<RoleResourceType>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NamedRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionSubjectType {
    User,
    Serviceaccount,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub id: String,
    pub subject_slug: String,
    #[schema(inline)]
    pub subject_type: SessionSubjectType,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub email: Option<String>,
    pub tenant_name: String,
    pub roles: Vec<String>,
    pub teams: Vec<NamedRef>,
    pub accounts: Vec<NamedRef>,
    pub effective_user_id: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub enum TeamManifestType {
    #[serde(rename = "team")]
    Team,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamManifest {
    // `type` is optional but not nullable in the document.
    #[serde(rename = "type", default, deserialize_with = "super::present", skip_serializing_if = "Option::is_none")]
    #[schema(inline, nullable = false)]
    pub kind: Option<TeamManifestType>,
    #[schema(inline)]
    pub name: GroupName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 1024, pattern = r"^[^\x00]*$")]
    pub description: Option<String>,
    #[schema(max_items = 1000)]
    pub members: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 1000)]
    pub managers: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub name: String,
    pub description: String,
    pub tenant_name: String,
    pub account_id: String,
    pub manifest: TeamManifest,
    pub members: Vec<String>,
    pub is_editable: bool,
    pub created_by: String,
    pub created_by_subject: Subject,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrUpdateTeamRequest {
    pub manifest: TeamManifest,
    #[serde(default)]
    #[schema(default = false)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamResponse {
    pub data: Team,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListTeamsResponse {
    pub data: Vec<Team>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamSubjectType {
    User,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    Member,
    Manager,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamSubjectRow {
    pub subject_id: String,
    pub subject_slug: String,
    #[schema(inline)]
    pub subject_type: TeamSubjectType,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(inline, nullable = false)]
    pub role: Option<TeamRole>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListTeamMembersResponse {
    pub data: Vec<TeamSubjectRow>,
    pub pagination: Pagination,
}
