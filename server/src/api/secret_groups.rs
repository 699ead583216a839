//! `/api/svc/v1/secret-groups`: list, create, create-or-update, get, update, delete.

use axum::{Json, extract::State};
use utoipa::IntoParams;

use super::{
    extract::{JsonBody, PathId, QueryPairs},
    responses::{BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, Unauthorized, UnprocessableEntity},
    validate, view,
};
use crate::{
    auth::Caller,
    error::ApiError,
    model::{
        Collaborator, CreateOrUpdateSecretGroupRequest, CreateSecretGroupRequest, DeleteSecretGroupResponse,
        ListSecretGroupsResponse, ManifestType, Pagination, RoleId, SecretGroupManifest, SecretGroupResponse,
        UpdateSecretGroupRequest,
    },
    state::AppState,
    store::groups::{self, GroupFilter, NewGroup},
};

/// Query parameters of the group list (documentation; parsed by [`QueryPairs`] because
/// `attributes` comes both as repeated keys and comma-separated).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListSecretGroupsParams {
    /// Page size, 1 to 1000.
    #[param(minimum = 1, maximum = 1000, default = 100, nullable = false)]
    limit: Option<i64>,
    /// Number of items to skip. Past the end the page is empty.
    #[param(minimum = 0, default = 0, nullable = false)]
    offset: Option<i64>,
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
#[allow(dead_code)]
pub struct ForceDeleteParams {
    /// Accepted for compatibility; the built-in store is always available, so it changes nothing.
    #[param(default = false, nullable = false)]
    force_delete: Option<bool>,
}

/// List secret groups
///
/// Lists the caller's secret groups, oldest first, with their keys (never values).
#[utoipa::path(
    get,
    path = "/api/svc/v1/secret-groups",
    tag = "Secret Groups",
    operation_id = "listSecretGroups",
    params(ListSecretGroupsParams),
    responses(
        (status = 200, description = "One page of groups, with the total number of matches.", body = ListSecretGroupsResponse),
        (status = 401, response = Unauthorized),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn list_secret_groups(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryPairs,
) -> Result<Json<ListSecretGroupsResponse>, ApiError> {
    let limit = query.int("limit", 100, 1, 1000)?;
    let offset = query.int("offset", 0, 0, i64::MAX)?;
    // Validated for its form only: every field is always returned (see the document).
    let _attributes = query.all_split("attributes");
    let mut filter = GroupFilter { name: None, search: query.last("search").map(str::to_owned) };
    if let Some(fqn) = query.last("fqn") {
        match fqn.strip_prefix(&caller.tenant_name).and_then(|rest| rest.strip_prefix(':')) {
            Some(name) => filter.name = Some(name.to_owned()),
            // Another tenant's FQN, or no FQN at all: matches nothing here.
            None => return Ok(Json(empty_page(limit, offset))),
        }
    }
    let (total, rows) = groups::list(&state.db, &caller.tenant_id, &filter, limit, offset).await?;
    let data = rows.into_iter().map(|row| view::group(&caller, &state.integration, row)).collect::<Result<_, _>>()?;
    Ok(Json(ListSecretGroupsResponse { data, pagination: Pagination { total, offset, limit } }))
}

fn empty_page(limit: i64, offset: i64) -> ListSecretGroupsResponse {
    ListSecretGroupsResponse { data: Vec::new(), pagination: Pagination { total: 0, offset, limit } }
}

/// Create a secret group
///
/// Creates a group with its secrets in one transaction; each secret gets version 1.
#[utoipa::path(
    post,
    path = "/api/svc/v1/secret-groups",
    tag = "Secret Groups",
    operation_id = "createSecretGroup",
    request_body = CreateSecretGroupRequest,
    responses(
        (status = 200, description = "The created group.", body = SecretGroupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn create_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateSecretGroupRequest>,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    validate::group_name("name", &body.name)?;
    validate::length("integrationId", &body.integration_id, 1, 512)?;
    if body.integration_id != state.integration.id {
        return Err(ApiError::validation(
            "integrationId",
            format!("is not a known integration; this server's is {}", state.integration.id),
        ));
    }
    validate::secrets(body.secrets.iter().map(|s| (s.key.as_str(), Some(s.value.as_str()))))?;
    // The creator is the group's first admin, as in TrueFoundry.
    let manifest = SecretGroupManifest {
        kind: ManifestType::SecretGroup,
        name: body.name.clone(),
        integration_fqn: state.integration.fqn.clone(),
        collaborators: Some(vec![Collaborator { subject: format!("user:{}", caller.email), role_id: RoleId::Admin }]),
        owned_by: None,
    };
    let new = NewGroup {
        name: body.name,
        integration_id: body.integration_id,
        manifest: manifest_json(&manifest)?,
        secrets: body.secrets.into_iter().map(|s| (s.key, s.value)).collect(),
    };
    let row = groups::create(&state.db, &caller.actor(), new).await?;
    Ok(Json(SecretGroupResponse { data: view::group(&caller, &state.integration, row)? }))
}

/// Create or update a secret group from its manifest
///
/// Matches the group by `manifest.name`; creates it (with no secrets) or replaces its
/// integration, collaborators and owner. `dryRun` validates without storing.
#[utoipa::path(
    put,
    path = "/api/svc/v1/secret-groups",
    tag = "Secret Groups",
    operation_id = "createOrUpdateSecretGroup",
    request_body = CreateOrUpdateSecretGroupRequest,
    responses(
        (status = 200, description = "The group as stored (or, with `dryRun`, as it would be stored).", body = SecretGroupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn create_or_update_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateOrUpdateSecretGroupRequest>,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    let mut manifest = body.manifest;
    validate::group_name("manifest.name", &manifest.name)?;
    validate::length("manifest.integration_fqn", &manifest.integration_fqn, 1, 512)?;
    let collaborators = manifest.collaborators.take().unwrap_or_default();
    if collaborators.len() > 500 {
        return Err(ApiError::validation("manifest.collaborators", "must have at most 500 items"));
    }
    for (index, collaborator) in collaborators.iter().enumerate() {
        if !validate::is_collaborator_subject(&collaborator.subject) {
            return Err(ApiError::validation(
                format!("manifest.collaborators[{index}].subject"),
                "must be user:<email>, team:<name> or virtualaccount:<name>",
            ));
        }
    }
    if let Some(owner) = &manifest.owned_by {
        validate::length("manifest.ownedBy.account", &owner.account, 0, 256)?;
    }
    if manifest.integration_fqn != state.integration.fqn {
        return Err(ApiError::not_found(format!(
            "integration {} not found; this server's is {}",
            manifest.integration_fqn, state.integration.fqn
        )));
    }
    // Stored with `collaborators` always a list, so readers need not tell absent from empty.
    manifest.collaborators = Some(collaborators);
    let dry_run = body.dry_run.unwrap_or(false);
    let row = groups::upsert(
        &state.db,
        &caller.actor(),
        &manifest.name,
        &state.integration.id,
        &manifest_json(&manifest)?,
        dry_run,
    )
    .await?;
    Ok(Json(SecretGroupResponse { data: view::group(&caller, &state.integration, row)? }))
}

/// Get a secret group
///
/// The group with its `associatedSecrets` (keys only, never values).
#[utoipa::path(
    get,
    path = "/api/svc/v1/secret-groups/{id}",
    tag = "Secret Groups",
    operation_id = "getSecretGroup",
    params(("id" = String, Path, description = "The group's id (as in `data.id` of a group).")),
    responses(
        (status = 200, description = "The group.", body = SecretGroupResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    let row = groups::get(&state.db, &caller.tenant_id, &id).await?;
    Ok(Json(SecretGroupResponse { data: view::group(&caller, &state.integration, row)? }))
}

/// Replace the secrets of a group
///
/// `secrets` is the whole desired set: changed values get a new version, entries without a
/// value keep theirs, keys not listed are deleted.
#[utoipa::path(
    put,
    path = "/api/svc/v1/secret-groups/{id}",
    tag = "Secret Groups",
    operation_id = "updateSecretGroup",
    params(("id" = String, Path, description = "The group's id (as in `data.id` of a group).")),
    request_body = UpdateSecretGroupRequest,
    responses(
        (status = 200, description = "The group after the update.", body = SecretGroupResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn update_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    JsonBody(body): JsonBody<UpdateSecretGroupRequest>,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    if body.secrets.is_empty() {
        return Err(ApiError::validation("secrets", "must have at least one item"));
    }
    validate::secrets(body.secrets.iter().map(|s| (s.key.as_str(), s.value.as_deref())))?;
    let entries: Vec<(String, Option<String>)> = body.secrets.into_iter().map(|s| (s.key, s.value)).collect();
    let row = groups::update(&state.db, &caller.actor(), &id, &entries).await?;
    Ok(Json(SecretGroupResponse { data: view::group(&caller, &state.integration, row)? }))
}

/// Delete a secret group
///
/// Deletes the group with all its secrets and their versions. Answers `{}`.
#[utoipa::path(
    delete,
    path = "/api/svc/v1/secret-groups/{id}",
    tag = "Secret Groups",
    operation_id = "deleteSecretGroup",
    params(("id" = String, Path, description = "The group's id (as in `data.id` of a group)."), ForceDeleteParams),
    responses(
        (status = 200, description = "The group is gone.", body = DeleteSecretGroupResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn delete_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    query: QueryPairs,
) -> Result<Json<DeleteSecretGroupResponse>, ApiError> {
    query.flag("forceDelete")?;
    groups::delete(&state.db, &caller.tenant_id, &id).await?;
    Ok(Json(DeleteSecretGroupResponse {}))
}

fn manifest_json(manifest: &SecretGroupManifest) -> Result<String, ApiError> {
    serde_json::to_string(manifest).map_err(|e| ApiError::internal(format!("cannot serialise a manifest: {e}")))
}
