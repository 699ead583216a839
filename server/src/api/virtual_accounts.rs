//! `/api/svc/v1/virtual-accounts`: service identities, managed by tenant admins.

use axum::{Json, extract::State};

use super::{
    extract::{PathId, PendingJson},
    params::{NameParams, PageParams, VirtualAccountFilterParams},
    query::QueryString,
    responses::{
        BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, TooManyRequests, Unauthorized, UnprocessableEntity,
    },
    view,
};
use crate::{
    auth::{self, Caller},
    authz,
    error::ApiError,
    model::{
        CreateOrUpdateVirtualAccountRequest, EmptyResponse, ExistsResponse, GroupFqn, ListVirtualAccountsResponse,
        Pagination, PermissionResourceType, RegenerateTokenRequest, RoleId, Timestamp, TokenResponse, VirtualAccount,
        VirtualAccountManifest, VirtualAccountManifestType, VirtualAccountPermission, VirtualAccountResponse,
        VirtualAccountType,
    },
    state::AppState,
    store::{
        now_ms,
        virtual_accounts::{self, Account, AccountSpec},
    },
};

fn view(caller: &Caller, account: Account) -> Result<VirtualAccount, ApiError> {
    let Account { row, permissions } = account;
    let mut manifest: VirtualAccountManifest = serde_json::from_str(&row.manifest)
        .map_err(|e| ApiError::internal(format!("stored manifest of virtual account {} is not valid: {e}", row.id)))?;
    // The roles the account holds now (kept when an update omitted them, gone with a deleted
    // group), not what the last manifest said.
    let permissions = permissions
        .into_iter()
        .filter_map(|(group, role)| Some((group, RoleId::from_id(&role)?)))
        .map(|(group, role_id)| {
            // Tenant and group names were checked when stored, so this holds; a row that breaks
            // it is a fault to report, not a permission to hide.
            let resource_fqn = GroupFqn::try_from(format!("{}:{group}", caller.tenant_name)).map_err(|e| {
                ApiError::internal(format!("virtual account {} holds a role on {group}, not an FQN: {e}", row.id))
            })?;
            Ok(VirtualAccountPermission { resource_fqn, resource_type: PermissionResourceType::SecretGroup, role_id })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    manifest.permissions = (!permissions.is_empty()).then_some(permissions);
    Ok(VirtualAccount {
        kind: VirtualAccountType::VirtualAccount,
        tenant_name: caller.tenant_name.clone(),
        account_id: caller.tenant_id.clone(),
        manifest,
        created_by_subject: view::subject(&row.created_by_id, &row.created_by_slug),
        created_by: row.created_by_slug,
        is_expired: row.expires_at.is_some_and(|at| at <= now_ms()),
        created_at: Timestamp::from_millis(row.created_at)?,
        updated_at: Timestamp::from_millis(row.updated_at)?,
        id: row.id,
        name: row.name,
    })
}

/// List virtual accounts
#[utoipa::path(
    get,
    path = "/api/svc/v1/virtual-accounts",
    tag = "Virtual Accounts",
    operation_id = "listVirtualAccounts",
    params(PageParams, VirtualAccountFilterParams),
    responses(
        (status = 200, description = "One page of virtual accounts.", body = ListVirtualAccountsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn list_virtual_accounts(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListVirtualAccountsResponse>, ApiError> {
    authz::require_user(&caller)?;
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let filter: VirtualAccountFilterParams = query.parse()?;
    let (total, rows) = virtual_accounts::list(
        &state.db,
        &caller.tenant_id,
        filter.name_search_query.as_deref(),
        filter.is_expired,
        limit,
        offset,
    )
    .await?;
    let data = rows.into_iter().map(|row| view(&caller, row)).collect::<Result<_, _>>()?;
    Ok(Json(ListVirtualAccountsResponse { data, pagination: Pagination { total, offset, limit } }))
}

/// Create or update a virtual account from its manifest
#[utoipa::path(
    put,
    path = "/api/svc/v1/virtual-accounts",
    tag = "Virtual Accounts",
    operation_id = "createOrUpdateVirtualAccount",
    request_body = CreateOrUpdateVirtualAccountRequest,
    responses(
        (status = 200, description = "The account as stored (and its token when it was created).", body = VirtualAccountResponse),
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
pub async fn create_or_update_virtual_account(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<CreateOrUpdateVirtualAccountRequest>,
) -> Result<Json<VirtualAccountResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    let mut manifest = body.manifest;
    manifest.kind = Some(VirtualAccountManifestType::VirtualAccount);
    let expires_at = match &manifest.expiration_date {
        None => None,
        Some(day) => {
            let day = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|_| ApiError::validation("manifest.expiration_date", "must be a date, YYYY-MM-DD"))?;
            // The account works through the whole of its last day (UTC).
            day.succ_opt().and_then(|next| next.and_hms_opt(0, 0, 0)).map(|at| at.and_utc().timestamp_millis())
        }
    };
    let permissions = match &manifest.permissions {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(ApiError::validation(
                "manifest.permissions",
                "must not be empty; omit it to keep the current ones",
            ));
        }
        Some(list) if list.len() > 500 => {
            return Err(ApiError::validation("manifest.permissions", "must have at most 500 items"));
        }
        Some(list) => {
            let mut rows = Vec::with_capacity(list.len());
            for (index, permission) in list.iter().enumerate() {
                let group = permission
                    .resource_fqn
                    .strip_prefix(&caller.tenant_name)
                    .and_then(|rest| rest.strip_prefix(':'))
                    // The rest is a group name: `GroupFqn` held it to the pattern.
                    .ok_or_else(|| {
                        ApiError::validation(
                            format!("manifest.permissions[{index}].resource_fqn"),
                            format!("must be {}:<group>", caller.tenant_name),
                        )
                    })?;
                if rows.iter().any(|(name, _): &(String, String)| name == group) {
                    return Err(ApiError::validation(
                        format!("manifest.permissions[{index}].resource_fqn"),
                        format!("names {} a second time", permission.resource_fqn),
                    ));
                }
                rows.push((group.to_owned(), permission.role_id.id().to_owned()));
            }
            Some(rows)
        }
    };
    let manifest_json = serde_json::to_string(&manifest)
        .map_err(|e| ApiError::internal(format!("cannot serialise a manifest: {e}")))?;
    let token = auth::generate_token();
    let spec =
        AccountSpec { name: &manifest.name, manifest: &manifest_json, expires_at, permissions: permissions.as_deref() };
    let dry_run = body.dry_run.unwrap_or(false);
    crate::audit::scope::resource_named("virtual-account", &manifest.name);
    for (group, role) in permissions.iter().flatten() {
        let fqn = format!("{}:{group}", caller.tenant_name);
        crate::audit::scope::change("permissions", serde_json::json!({ "resourceFqn": fqn, "role": role }));
    }
    let (row, created) =
        virtual_accounts::upsert(&state.db, &admin, spec, &state.keys.hash_token(&token), dry_run).await?;
    Ok(Json(VirtualAccountResponse { data: view(&caller, row)?, token: (created && !dry_run).then(|| token.into()) }))
}

/// Whether a virtual account exists
#[utoipa::path(
    get,
    path = "/api/svc/v1/virtual-accounts/exists",
    tag = "Virtual Accounts",
    operation_id = "virtualAccountExists",
    params(NameParams),
    responses(
        (status = 200, description = "Whether the tenant has an account of that name.", body = ExistsResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn virtual_account_exists(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ExistsResponse>, ApiError> {
    authz::require_user(&caller)?;
    let NameParams { name } = query.parse()?;
    Ok(Json(ExistsResponse { exists: virtual_accounts::exists(&state.db, &caller.tenant_id, &name).await? }))
}

/// Get a virtual account
#[utoipa::path(
    get,
    path = "/api/svc/v1/virtual-accounts/{id}",
    tag = "Virtual Accounts",
    operation_id = "getVirtualAccount",
    params(("id" = String, Path, description = "The virtual account's id.")),
    responses(
        (status = 200, description = "The account (never its token).", body = VirtualAccountResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_virtual_account(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<VirtualAccountResponse>, ApiError> {
    authz::require_user(&caller)?;
    let row = virtual_accounts::get(&state.db, &caller.tenant_id, &id).await?;
    Ok(Json(VirtualAccountResponse { data: view(&caller, row)?, token: None }))
}

/// Delete a virtual account
#[utoipa::path(
    delete,
    path = "/api/svc/v1/virtual-accounts/{id}",
    tag = "Virtual Accounts",
    operation_id = "deleteVirtualAccount",
    params(("id" = String, Path, description = "The virtual account's id.")),
    responses(
        (status = 200, description = "The account is gone.", body = EmptyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn delete_virtual_account(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    virtual_accounts::delete(&state.db, &admin, &id).await?;
    Ok(Json(EmptyResponse {}))
}

/// Get a virtual account's token (always refused here)
///
/// Deliberate difference from TrueFoundry: only a hash of each token is stored, so none can be
/// shown again; regenerate instead.
#[utoipa::path(
    get,
    path = "/api/svc/v1/virtual-accounts/{id}/token",
    tag = "Virtual Accounts",
    operation_id = "getVirtualAccountToken",
    params(("id" = String, Path, description = "The virtual account's id.")),
    responses(
        (status = 200, description = "Never answered by this server.", body = TokenResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn get_virtual_account_token(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<TokenResponse>, ApiError> {
    authz::require_user(&caller)?;
    virtual_accounts::get(&state.db, &caller.tenant_id, &id).await?;
    Err(ApiError::forbidden(
        "tokens are stored only as hashes and cannot be shown again; \
         use POST /api/svc/v1/virtual-accounts/{id}/regenerate-token for a new one",
    ))
}

/// Regenerate a virtual account's token
#[utoipa::path(
    post,
    path = "/api/svc/v1/virtual-accounts/{id}/regenerate-token",
    tag = "Virtual Accounts",
    operation_id = "regenerateVirtualAccountToken",
    params(("id" = String, Path, description = "The virtual account's id.")),
    request_body = RegenerateTokenRequest,
    responses(
        (status = 200, description = "The new token.", body = TokenResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn regenerate_virtual_account_token(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
    body: PendingJson<RegenerateTokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    let minutes = body.grace_period_in_minutes;
    if !minutes.is_finite() || !(0.0..=525_600.0).contains(&minutes) {
        return Err(ApiError::validation("gracePeriodInMinutes", "must be between 0 and 525600"));
    }
    // Whole milliseconds of a bounded, finite number of minutes: the cast cannot overflow.
    let grace_ms = (minutes * 60_000.0).round() as i64;
    let token = auth::generate_token();
    virtual_accounts::regenerate_token(&state.db, &admin, &id, &state.keys.hash_token(&token), grace_ms).await?;
    Ok(Json(TokenResponse { token: token.into() }))
}
