//! `/api/svc/v1/personal-access-tokens`: a user's own tokens; admins act for other users.

use axum::{Json, extract::State};

use super::{
    extract::{PathId, PendingJson},
    params::{NameSearchParams, PageParams},
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
        CreatePersonalAccessTokenForUserRequest, CreatePersonalAccessTokenRequest, EmptyResponse,
        ListPersonalAccessTokensResponse, Pagination, PersonalAccessToken, PersonalAccessTokenType, Timestamp,
        TokenName, TokenResponse, UserEmailRequest,
    },
    state::AppState,
    store::{now_ms, tokens},
};

/// List your personal access tokens
#[utoipa::path(
    get,
    path = "/api/svc/v1/personal-access-tokens",
    tag = "Personal Access Tokens",
    operation_id = "listPersonalAccessTokens",
    params(PageParams, NameSearchParams),
    responses(
        (status = 200, description = "One page of tokens.", body = ListPersonalAccessTokensResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn list_personal_access_tokens(
    State(state): State<AppState>,
    caller: Caller,
    query: QueryString,
) -> Result<Json<ListPersonalAccessTokensResponse>, ApiError> {
    let user = authz::require_user(&caller)?;
    let (limit, offset) = query.parse::<PageParams>()?.page();
    let now = now_ms();
    let search = query.parse::<NameSearchParams>()?.name_search_query;
    let (total, rows) = tokens::list_pats(&state.db, &user, search.as_deref(), limit, offset).await?;
    let data = rows
        .into_iter()
        .map(|row| {
            Ok(PersonalAccessToken {
                kind: PersonalAccessTokenType::PersonalAccessToken,
                tenant_name: caller.tenant_name.clone(),
                account_id: caller.tenant_id.clone(),
                created_by_subject: view::subject(&row.user_id, &row.email),
                created_by: row.email,
                is_expired: row.revoked_at.is_some() || row.expires_at.is_some_and(|at| at <= now),
                expires_at: row.expires_at.map(Timestamp::from_millis).transpose()?,
                created_at: Timestamp::from_millis(row.created_at)?,
                updated_at: Timestamp::from_millis(row.revoked_at.unwrap_or(row.created_at))?,
                id: row.id,
                name: row.name,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    Ok(Json(ListPersonalAccessTokensResponse { data, pagination: Pagination { total, offset, limit } }))
}

/// Create a personal access token
#[utoipa::path(
    post,
    path = "/api/svc/v1/personal-access-tokens",
    tag = "Personal Access Tokens",
    operation_id = "createPersonalAccessToken",
    request_body = CreatePersonalAccessTokenRequest,
    responses(
        (status = 200, description = "The new token.", body = TokenResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 409, response = Conflict),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn create_personal_access_token(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<CreatePersonalAccessTokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let grant = authz::issue_own_token(&caller)?;
    let body = body.read(&state).await?;
    issue(&state, &grant, &body.name, body.expiration_date.as_deref()).await
}

/// Create a personal access token for another user
#[utoipa::path(
    post,
    path = "/api/svc/v1/personal-access-tokens/for-user",
    tag = "Personal Access Tokens",
    operation_id = "createPersonalAccessTokenForUser",
    request_body = CreatePersonalAccessTokenForUserRequest,
    responses(
        (status = 200, description = "The new token.", body = TokenResponse),
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
pub async fn create_personal_access_token_for_user(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<CreatePersonalAccessTokenForUserRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    let grant = authz::issue_token_for(&admin, &body.user_email);
    issue(&state, &grant, &body.name, body.expiration_date.as_deref()).await
}

async fn issue(
    state: &AppState,
    grant: &authz::IssueToken,
    name: &TokenName,
    expiration: Option<&str>,
) -> Result<Json<TokenResponse>, ApiError> {
    let expires_at = match expiration {
        None => None,
        Some(text) => {
            // TrueFoundry's SDK documents "ISO format" only, so a bare date is accepted too and
            // means the end of that day (UTC).
            let at = chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| at.timestamp_millis())
                .or_else(|_| {
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|day| {
                        day.and_hms_opt(0, 0, 0).map_or(0, |start| start.and_utc().timestamp_millis()) + 86_400_000
                    })
                })
                .map_err(|_| ApiError::validation("expirationDate", "must be an ISO 8601 date-time or date"))?;
            if at <= now_ms() {
                return Err(ApiError::validation("expirationDate", "must be in the future"));
            }
            Some(at)
        }
    };
    let token = auth::generate_token();
    crate::audit::scope::resource_named("user", grant.email());
    crate::audit::scope::resource_named("personal-access-token", name);
    tokens::create_pat(&state.db, grant, name, &state.keys.hash_token(&token), expires_at).await?;
    Ok(Json(TokenResponse { token: token.into() }))
}

/// Revoke all tokens of a user
#[utoipa::path(
    delete,
    path = "/api/svc/v1/personal-access-tokens/revoke/all",
    tag = "Personal Access Tokens",
    operation_id = "revokeAllPersonalAccessTokens",
    request_body = UserEmailRequest,
    responses(
        (status = 200, description = "The tokens are revoked.", body = EmptyResponse),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 422, response = UnprocessableEntity),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn revoke_all_personal_access_tokens(
    State(state): State<AppState>,
    caller: Caller,
    body: PendingJson<UserEmailRequest>,
) -> Result<Json<EmptyResponse>, ApiError> {
    let admin = authz::require_tenant_admin(&caller)?;
    let body = body.read(&state).await?;
    super::users::check_tenant_name(&caller, body.tenant_name.as_deref())?;
    crate::audit::scope::resource_named("user", &body.email);
    tokens::revoke_all(&state.db, &admin, &body.email).await?;
    Ok(Json(EmptyResponse {}))
}

/// Delete a personal access token
#[utoipa::path(
    delete,
    path = "/api/svc/v1/personal-access-tokens/{id}",
    tag = "Personal Access Tokens",
    operation_id = "deletePersonalAccessToken",
    params(("id" = String, Path, description = "The token's id (as in `data[].id` of the token list).")),
    responses(
        (status = 200, description = "The token is gone.", body = EmptyResponse),
        (status = 401, response = Unauthorized),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 429, response = TooManyRequests),
    )
)]
pub async fn delete_personal_access_token(
    State(state): State<AppState>,
    caller: Caller,
    PathId(id): PathId,
) -> Result<Json<EmptyResponse>, ApiError> {
    let token = authz::authorize_token(&state, &caller, &id).await?;
    tokens::delete_pat(&state.db, &token).await?;
    Ok(Json(EmptyResponse {}))
}
