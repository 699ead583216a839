//! `/api/svc/v1/secret-groups`: list, create, create-or-update, get, update, delete.

use axum::{Json, extract::State};

use super::{
    extract::{JsonBody, PathId, PendingJson},
    params::{ForceDeleteParams, GroupFilterParams, PageParams},
    query::QueryString,
    responses::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, ServiceUnavailable, TooManyRequests, Unauthorized,
        UnprocessableEntity,
    },
    validate, view,
};
use crate::{
    auth::Caller,
    authz::{self, Manage, See, WriteSecrets},
    error::ApiError,
    model::{
        Collaborator, CreateOrUpdateSecretGroupRequest, CreateSecretGroupRequest, DeleteSecretGroupResponse,
        ListSecretGroupsResponse, ManifestType, Pagination, RoleId, SecretGroupManifest, SecretGroupResponse,
        UpdateSecretGroupRequest,
    },
    sensitive::SecretString,
    state::AppState,
    store::{
        groups::{self, GroupFilter, NewGroup, UpsertGroup},
        named,
        page::PageRequest,
    },
};

/// List secret groups
///
/// Lists the caller's secret groups, oldest first, with their keys (never values).
#[utoipa::path(
    get,
    path = "/api/svc/v1/secret-groups",
    tag = "Secret Groups",
    operation_id = "listSecretGroups",
    params(PageParams, GroupFilterParams),
    responses(
        (status = 200, description = "One page of groups, with the total number of matches.", body = ListSecretGroupsResponse),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
        (status = 422, response = UnprocessableEntity),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn list_secret_groups(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListSecretGroupsResponse>, ApiError> {
    let (limit, offset) = query.parse::<PageParams>()?.page();
    // `attributes` is read for its form only: every field is always returned (see the document).
    let GroupFilterParams { fqn, search, attributes: _ } = query.parse()?;
    let mut filter = GroupFilter { name: None, search };
    if let Some(fqn) = fqn {
        match fqn.strip_prefix(&caller.tenant_name).and_then(|rest| rest.strip_prefix(':')) {
            Some(name) => filter.name = Some(name.to_owned()),
            // Another tenant's FQN, or no FQN at all: matches nothing here.
            None => return Ok(Json(empty_page(limit, offset))),
        }
    }
    let visible = authz::visibility::<See>(&caller);
    // A list that scans waits for its turn (list_gate.rs); a lookup by name never does.
    let _turn = if filter.is_point() { None } else { Some(state.lists.enter(caller.id()).await?) };
    let request = PageRequest { limit, offset, bounds: state.list_bounds };
    let page = groups::list(&state.db, &visible, &filter, request).await?;
    let pagination = view::pagination(&page, offset, limit);
    let data =
        page.rows.into_iter().map(|row| view::group(&caller, &state.integration, row)).collect::<Result<_, _>>()?;
    Ok(Json(ListSecretGroupsResponse { data, pagination }))
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
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn create_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<CreateSecretGroupRequest>,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    let user = authz::require_user(&caller)?;
    let body = body.read(&state).await?;
    validate::length("integrationId", &body.integration_id, 1, 512)?;
    if body.integration_id != state.integration.id {
        return Err(ApiError::validation(
            "integrationId",
            format!("is not a known integration; this server's is {}", state.integration.id),
        ));
    }
    validate::secrets(body.secrets.iter().map(|s| (s.key.as_str(), Some(s.value.expose()))))?;
    // The creator is the group's first admin, as in TrueFoundry.
    let manifest = SecretGroupManifest {
        kind: ManifestType::SecretGroup,
        name: body.name.clone(),
        integration_fqn: state.integration.fqn.clone(),
        collaborators: Some(vec![Collaborator { subject: caller.subject(), role_id: RoleId::Admin }]),
        owned_by: None,
    };
    let new = NewGroup {
        name: body.name.into_string(),
        integration_id: body.integration_id,
        manifest: manifest_json(&manifest)?,
        collaborators: collaborator_rows(&manifest),
        secrets: body.secrets.into_iter().map(|s| (s.key.into_string(), s.value)).collect(),
    };
    audit_group_write(&caller, &new.name, new.secrets.iter().map(|(key, _)| key.as_str()), &new.collaborators);
    let row = groups::create(&state.db, &*state.keys, &user, new).await?;
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
        (status = 429, response = TooManyRequests),
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
    validate::length("manifest.integration_fqn", &manifest.integration_fqn, 1, 512)?;
    let collaborators = manifest.collaborators.take().unwrap_or_default();
    if collaborators.len() > 500 {
        return Err(ApiError::validation("manifest.collaborators", "must have at most 500 items"));
    }
    let mut subjects = std::collections::HashSet::new();
    for (index, collaborator) in collaborators.iter().enumerate() {
        if !validate::is_collaborator_subject(&collaborator.subject) {
            return Err(ApiError::validation(
                format!("manifest.collaborators[{index}].subject"),
                "must be user:<email>, team:<name> or virtualaccount:<name>",
            ));
        }
        if !subjects.insert(collaborator.subject.as_str()) {
            return Err(ApiError::validation(
                format!("manifest.collaborators[{index}].subject"),
                format!("names {} a second time", collaborator.subject),
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
    let mut collaborators = collaborators;
    if named::id_of(&state.db, &caller.tenant_id, named::Kind::SecretGroup, &manifest.name).await?.is_none() {
        // Creating: only users create groups, and the creator becomes the group's admin.
        authz::require_user(&caller)?;
        if !collaborators.iter().any(|c| c.subject == caller.subject()) {
            collaborators.push(Collaborator { subject: caller.subject(), role_id: RoleId::Admin });
        }
    }
    // Stored with `collaborators` always a list, so readers need not tell absent from empty.
    manifest.collaborators = Some(collaborators);
    let rows = collaborator_rows(&manifest);
    audit_group_write(&caller, &manifest.name, std::iter::empty(), &rows);
    let group = UpsertGroup {
        name: &manifest.name,
        integration_id: &state.integration.id,
        manifest: &manifest_json(&manifest)?,
        collaborators: &rows,
        dry_run: body.dry_run.unwrap_or(false),
    };
    // Whether the caller may change the group found by name (or create it) is decided on the
    // write transaction, by authz's checks.
    let row = groups::upsert(&state.db, &*state.keys, &authz::upsert_group(&caller), group).await?;
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
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
    )
)]
pub async fn get_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    let group = authz::authorize_group::<See>(&state, &caller, &id).await?;
    let row = groups::get(&state.db, &group).await?;
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
        (status = 429, response = TooManyRequests),
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
    body: PendingJson<UpdateSecretGroupRequest>,
) -> Result<Json<SecretGroupResponse>, ApiError> {
    let group = authz::authorize_group::<WriteSecrets>(&state, &caller, &id).await?;
    let body = body.read(&state).await?;
    if body.secrets.is_empty() {
        return Err(ApiError::validation("secrets", "must have at least one item"));
    }
    validate::secrets(body.secrets.iter().map(|s| (s.key.as_str(), s.value.as_ref().map(SecretString::expose))))?;
    let entries: Vec<(String, Option<SecretString>)> =
        body.secrets.into_iter().map(|s| (s.key.into_string(), s.value)).collect();
    let row = groups::update(&state.db, &*state.keys, &group, &entries).await?;
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
        (status = 429, response = TooManyRequests),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, response = UnprocessableEntity),
    )
)]
pub async fn delete_secret_group(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    query: QueryString,
) -> Result<Json<DeleteSecretGroupResponse>, ApiError> {
    // Read for its form only: it changes nothing (see the document).
    query.parse::<ForceDeleteParams>()?;
    let group = authz::authorize_group::<Manage>(&state, &caller, &id).await?;
    groups::delete(&state.db, &group).await?;
    Ok(Json(DeleteSecretGroupResponse {}))
}

/// (subject, role id) rows of a manifest's collaborators, for the authorization tables.
fn collaborator_rows(manifest: &SecretGroupManifest) -> Vec<(String, String)> {
    manifest.collaborators.iter().flatten().map(|c| (c.subject.clone(), c.role_id.id().to_owned())).collect()
}

fn manifest_json(manifest: &SecretGroupManifest) -> Result<String, ApiError> {
    serde_json::to_string(manifest).map_err(|e| ApiError::internal(format!("cannot serialise a manifest: {e}")))
}

/// What a group write names in its audit event (before it commits, which appends the event):
/// the group's FQN, the keys it adds (never values) and the collaborators it sets.
fn audit_group_write<'a>(
    caller: &Caller,
    name: &str,
    keys: impl Iterator<Item = &'a str>,
    collaborators: &[(String, String)],
) {
    use crate::audit::scope;
    scope::resource("secret-group", None, Some(&format!("{}:{name}", caller.tenant_name)));
    for key in keys {
        scope::change("added", serde_json::json!({ "key": key, "version": 1 }));
    }
    for (subject, role) in collaborators {
        scope::change("collaborators", serde_json::json!({ "subject": subject, "role": role }));
    }
}
