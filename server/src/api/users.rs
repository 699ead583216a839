//! `/api/svc/v1/users` and who-am-I. Users are created by the operator (`users create`); tenant
//! admins manage them here.

use axum::{Json, extract::State};

use super::{
    extract::{PathId, PendingJson},
    params::{PageParams, UserFilterParams},
    query::QueryString,
    responses::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, UnprocessableEntity,
    },
};
use crate::{
    auth::{Caller, Principal},
    authz,
    error::ApiError,
    model::{
        EmptyResponse, ListUsersResponse, NamedRef, Pagination, Session, SessionSubjectType, TenantRole, Timestamp,
        UpdateUserRolesRequest, User, UserEmailRequest, UserMetadata, UserResponse,
    },
    state::AppState,
    store::{
        identity::{self, ROLE_TENANT_ADMIN, ROLE_TENANT_MEMBER, UserChange},
        teams,
    },
};

fn view(caller: &Caller, row: identity::User) -> Result<User, ApiError> {
    Ok(User {
        tenant_name: caller.tenant_name.clone(),
        metadata: UserMetadata { display_name: Some(row.email.clone()) },
        roles: vec![row.tenant_role],
        active: row.deactivated_at.is_none(),
        is_editable: authz::may_manage_users(caller),
        created_at: Timestamp::from_millis(row.created_at)?,
        updated_at: Timestamp::from_millis(row.updated_at)?,
        id: row.id,
        email: row.email,
    })
}

/// A `tenantName` in a body must be the caller's own tenant when given.
pub(super) fn check_tenant_name(caller: &Caller, tenant_name: Option<&str>) -> Result<(), ApiError> {
    match tenant_name {
        Some(name) if name != caller.tenant_name => Err(ApiError::not_found("user not found")),
        _ => Ok(()),
    }
}

/// List users
#[utoipa::path(
    get,
    path = "/api/svc/v1/users",
    tag = "Users",
    operation_id = "listUsers",
    params(PageParams, UserFilterParams),
    responses(
        (status = 200, description = "One page of users.", body = ListUsersResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListUsersResponse>, ApiError> {
    authz::require_user(&caller)?;
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let filter: UserFilterParams = query.parse()?;
    let show_invalid = filter.show_invalid_users.unwrap_or(false);
    let (total, rows) =
        identity::list_users(&state.db, &caller.tenant_id, filter.query.as_deref(), show_invalid, limit, offset)
            .await?;
    let data = rows.into_iter().map(|row| view(&caller, row)).collect::<Result<_, _>>()?;
    Ok(Json(ListUsersResponse { data, pagination: Pagination { total, offset, limit } }))
}

/// Get a user
#[utoipa::path(
    get,
    path = "/api/svc/v1/users/{id}",
    tag = "Users",
    operation_id = "getUser",
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user.", body = UserResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<UserResponse>, ApiError> {
    authz::require_user(&caller)?;
    let row = identity::get_user(&state.db, &caller.tenant_id, &id).await?;
    Ok(Json(UserResponse { data: view(&caller, row)? }))
}

/// Delete a user
#[utoipa::path(
    delete,
    path = "/api/svc/v1/users/{id}",
    tag = "Users",
    operation_id = "deleteUser",
    params(("id" = String, Path, description = "The user's id.")),
    responses(
        (status = 200, description = "The user is gone.", body = EmptyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let user = identity::get_user(&state.db, &caller.tenant_id, &id).await?;
    crate::audit::scope::resource_named("user", &user.email);
    identity::change_user(&state.db, &admin, &user.email, UserChange::Delete).await?;
    Ok(Json(EmptyResponse {}))
}

/// Change a user's tenant role
#[utoipa::path(
    patch,
    path = "/api/svc/v1/users/roles",
    tag = "Users",
    operation_id = "updateUserRoles",
    request_body = UpdateUserRolesRequest,
    responses(
        (status = 200, description = "The role is changed.", body = EmptyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn update_user_roles(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<UpdateUserRolesRequest>,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    let role = match body.roles.as_slice() {
        [TenantRole::TenantAdmin] => ROLE_TENANT_ADMIN,
        [TenantRole::TenantMember] => ROLE_TENANT_MEMBER,
        _ => return Err(ApiError::validation("roles", "must be exactly one of tenant-admin, tenant-member")),
    };
    crate::audit::scope::resource_named("user", &body.email);
    crate::audit::scope::change("roles", serde_json::json!(role));
    identity::change_user(&state.db, &admin, &body.email, UserChange::Role(role)).await?;
    Ok(Json(EmptyResponse {}))
}

/// Deactivate a user
#[utoipa::path(
    patch,
    path = "/api/svc/v1/users/deactivate",
    tag = "Users",
    operation_id = "deactivateUser",
    request_body = UserEmailRequest,
    responses(
        (status = 200, description = "The user is deactivated.", body = EmptyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn deactivate_user(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<UserEmailRequest>,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    check_tenant_name(&caller, body.tenant_name.as_deref())?;
    crate::audit::scope::resource_named("user", &body.email);
    identity::change_user(&state.db, &admin, &body.email, UserChange::Deactivate).await?;
    Ok(Json(EmptyResponse {}))
}

/// Activate a user
#[utoipa::path(
    patch,
    path = "/api/svc/v1/users/activate",
    tag = "Users",
    operation_id = "activateUser",
    request_body = UserEmailRequest,
    responses(
        (status = 200, description = "The user is active.", body = EmptyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn activate_user(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<UserEmailRequest>,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    check_tenant_name(&caller, body.tenant_name.as_deref())?;
    crate::audit::scope::resource_named("user", &body.email);
    identity::change_user(&state.db, &admin, &body.email, UserChange::Activate).await?;
    Ok(Json(EmptyResponse {}))
}

/// Who am I
///
/// The caller (user or virtual account), its roles and teams. Not wrapped in `data`.
#[utoipa::path(
    get,
    path = "/api/svc/v1/x/users/info",
    tag = "Users",
    operation_id = "getCurrentUser",
    responses(
        (status = 200, description = "The caller.", body = Session),
        (status = 401, response = Unauthorized),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_current_user(State(state): State<AppState>, caller: Caller) -> Result<Json<Session>, ApiError> {
    let account = NamedRef { id: caller.tenant_id.clone(), name: caller.tenant_name.clone() };
    let session = match &caller.principal {
        Principal::User { id, email } => {
            let teams = teams::teams_of_user(&state.db, id).await?;
            let role = if caller.is_tenant_admin { ROLE_TENANT_ADMIN } else { ROLE_TENANT_MEMBER };
            Session {
                id: id.clone(),
                subject_slug: email.clone(),
                subject_type: SessionSubjectType::User,
                email: Some(email.clone()),
                tenant_name: caller.tenant_name.clone(),
                roles: vec![role.to_owned()],
                teams: teams.into_iter().map(|(id, name)| NamedRef { id, name }).collect(),
                accounts: vec![account],
                effective_user_id: id.clone(),
            }
        }
        Principal::VirtualAccount { id, name } => Session {
            id: id.clone(),
            subject_slug: name.clone(),
            subject_type: SessionSubjectType::Serviceaccount,
            email: None,
            tenant_name: caller.tenant_name.clone(),
            roles: Vec::new(),
            teams: Vec::new(),
            accounts: vec![account],
            effective_user_id: id.clone(),
        },
    };
    Ok(Json(session))
}
